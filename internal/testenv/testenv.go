// Package testenv decides what a test does when something it reads from
// outside the repository is missing (the oracle in ../shared, a file of the
// committed oracle copy in testdata/oracle): a plain `go test` skips, but
// under CI (CI set, as CI services do) or with CNNLENS_REQUIRE_ALL set (as
// `make test` does) the test fails, so that a run cannot pass by skipping
// the checks that matter. Only tests import it.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// RequireAll reports whether missing inputs are failures: CI or
// CNNLENS_REQUIRE_ALL is set (to anything but "", "0" or "false").
func RequireAll() bool {
	return set("CI") || set("CNNLENS_REQUIRE_ALL")
}

func set(name string) bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(name))) {
	case "", "0", "false":
		return false
	}
	return true
}

// Missing reports that something the test needs is missing: it fails the
// test under RequireAll and skips it otherwise.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireAll() {
		t.Fatalf(format+" (required: CI or CNNLENS_REQUIRE_ALL is set)", args...)
	}
	t.Skipf(format, args...)
}

// ReadFile reads a file the test needs, calling Missing when it cannot.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		Missing(t, "%v", err)
	}
	return b
}
