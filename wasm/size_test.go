//go:build !(js && wasm)

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkerKeepsOnlyUsedMethods builds the engine for the browser and
// checks that nothing reachable in it calls a method by a name the linker
// cannot see (reflect's Method/MethodByName with a name that is not a
// constant). One such call makes the linker keep every exported method of
// every type, which tripled the binary (27 MB instead of 8 MB, through
// gorgonia.org/tensor's protobuf registration, which the engine no longer
// links).
func TestLinkerKeepsOnlyUsedMethods(t *testing.T) {
	goCmd := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	out := filepath.Join(t.TempDir(), "cnnlens.wasm")
	cmd := exec.Command(goCmd, "build", "-trimpath", "-ldflags=-s -w -dumpdep", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	dump, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, tail(dump))
	}
	var reflective []string
	for _, line := range strings.Split(string(dump), "\n") {
		if strings.Contains(line, "<ReflectMethod>") {
			reflective = append(reflective, line)
		}
	}
	if len(reflective) > 0 {
		if len(reflective) > 10 {
			reflective = reflective[:10]
		}
		t.Errorf("the wasm engine reaches methods called by reflection, so the linker keeps every exported method:\n%s", strings.Join(reflective, "\n"))
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cnnlens.wasm: %d bytes", fi.Size())
}

// TestWasmModules lists the modules the page's engine links (go version -m
// cannot read a wasm file's build information, so this asks go list for
// the packages the build compiles) and checks that gorgonia.org/tensor,
// which only the CLI and Go callers need for .npy files and conversions
// (engine/interop), is not among them, nor anything it brought.
func TestWasmModules(t *testing.T) {
	goCmd := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, tail(out))
	}
	mods := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		mods[m] = true
	}
	if !mods["github.com/cnnlens/cnnlens"] || !mods["golang.org/x/image"] {
		t.Fatalf("go list found no modules of the engine: %q", out)
	}
	for _, bad := range []string{"gorgonia.org/tensor", "gorgonia.org/vecf32", "github.com/apache/arrow/go/arrow", "github.com/golang/protobuf", "github.com/gogo/protobuf", "gonum.org/v1/gonum"} {
		if mods[bad] {
			t.Errorf("the wasm engine links %s", bad)
		}
	}
	t.Logf("modules linked: %v", mods)

	// Nor encoding/json: the page reads model cards field by field
	// (engine/card/cardfile, which uses json, is the CLI's).
	cmd = exec.Command(goCmd, "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err = cmd.CombinedOutput(); err != nil {
		t.Fatalf("go list: %v\n%s", err, tail(out))
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "encoding/json" {
			t.Errorf("the wasm engine links encoding/json")
		}
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
