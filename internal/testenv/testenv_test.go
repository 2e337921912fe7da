package testenv

import "testing"

func TestRequireAll(t *testing.T) {
	for _, c := range []struct {
		ci, all string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"1", "", true},
		{"false", "", false},
		{"0", "0", false},
		{"", "1", true},
		{"false", "yes", true},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("CNNLENS_REQUIRE_ALL", c.all)
		if got := RequireAll(); got != c.want {
			t.Errorf("CI=%q CNNLENS_REQUIRE_ALL=%q: %v, want %v", c.ci, c.all, got, c.want)
		}
	}
}

// Under CI a missing file fails the test; otherwise it skips.
func TestMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		t.Setenv("CNNLENS_REQUIRE_ALL", "")
		r := &recorder{TB: t}
		func() {
			defer func() { recover() }()
			ReadFile(r, "no/such/file")
		}()
		failed, skipped := r.failed, r.skipped
		if ci == "" && (failed || !skipped) || ci != "" && (!failed || skipped) {
			t.Errorf("CI=%q: failed %v, skipped %v", ci, failed, skipped)
		}
	}
}

// recorder notes Fatalf and Skipf instead of ending the test (they panic
// to stop ReadFile, as the real ones stop the goroutine).
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic("fatal")
}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	panic("skip")
}
