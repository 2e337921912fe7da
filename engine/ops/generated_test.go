//go:build !js

// The test starts the go command, so it runs natively only.

package ops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratedLoopsUpToDate regenerates the assembly loops and their
// wrappers with mkops.go into a temporary folder and compares them with the
// files in the package, so an edit to one without the other fails.
func TestGeneratedLoopsUpToDate(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "mkops.go", "-dir", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run mkops.go: %v\n%s", err, out)
	}
	for _, f := range []string{"loops_wasm.s", "loops_wasm.go", "loops_other.go", "loops_go.go", "loops_gen_test.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what mkops.go generates: run go generate in engine/ops", f)
		}
	}
}
