//go:build !js

// The test starts the go command, so it runs natively only.

package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratedKernelsUpToDate regenerates the micro-kernels with
// mkkernels.go into a temporary folder and compares them with the files in
// the package, so an edit to one without the other fails.
func TestGeneratedKernelsUpToDate(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "mkkernels.go", "-dir", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run mkkernels.go: %v\n%s", err, out)
	}
	for _, f := range []string{"gemm_kernel_wasm.go", "gemm_kernel_wasm.s", "gemm_kernel_wasm_purego.go", "gemm_kernel_amd64.go", "gemm_kernel_amd64.s", "gemm_kernel_other.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what mkkernels.go generates: run go generate in engine/kernels", f)
		}
	}
}
