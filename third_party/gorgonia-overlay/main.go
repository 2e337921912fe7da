// Command gorgonia-overlay writes a copy of gorgonia.org/tensor that starts
// faster, for the page's WebAssembly engine (see third_party/README.md):
//
//   - ReadNpy's three regular expressions, which package init compiled, are
//     replaced by plain matchers (npyheader.go, tested against them), so
//     package regexp is not linked;
//   - encoding/gob (used only by Dense/CS GobEncode/GobDecode, which cnnlens
//     never calls) is replaced by a stand-in whose encoders and decoders
//     return an error;
//   - FromArrowArray/FromArrowTensor are left out, so that Apache Arrow,
//     whose package initialisation registers every array type, is not
//     linked.
//
// Nothing else changes. Every edit must find its text exactly once, so a
// different gorgonia version fails here instead of building something else.
//
//	go run ./third_party/gorgonia-overlay -module DIR -out OUT
//
// writes the edited copy to OUT/tensor, and OUT/go.mod and OUT/go.sum: the
// project's with gorgonia.org/tensor replaced by the copy, for
// go build -modfile=OUT/go.mod. (go build -overlay would be lighter, but it
// refuses to replace files in the module cache.)
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// edit replaces old with new (new == toEnd: old and all that follows it
// are cut).
type edit struct{ old, new string }

const toEnd = "\x00(to the end)"

var edits = map[string][]edit{
	"tensor.go": {
		{"\t\"encoding/gob\"\n", ""},
		{"\tgob.GobEncoder\n\tgob.GobDecoder\n", "\tGobEncode() ([]byte, error)\n\tGobDecode([]byte) error\n"},
	},
	"dense_io.go": {
		{"\t\"encoding/gob\"\n", ""},
		{"\t\"regexp\"\n", ""},
		// (npyheader.go defines them instead)
		{"var npyDescRE = regexp.MustCompile(`'descr':\\s*'([^']*)'`)\n", ""},
		{"var rowOrderRE = regexp.MustCompile(`'fortran_order':\\s*(False|True)`)\n", ""},
		{"var shapeRE = regexp.MustCompile(`'shape':\\s*\\(([^\\(]*)\\)`)\n", ""},
	},
	"sparse_io.go": {
		{"\t\"encoding/gob\"\n", ""},
	},
	// FromArrowArray and FromArrowTensor, the file's last two functions,
	// and with them Apache Arrow, whose package initialisation registers
	// every array type.
	"dense_compat.go": {
		{"\tarrow \"github.com/apache/arrow/go/arrow\"\n\tarrowArray \"github.com/apache/arrow/go/arrow/array\"\n\t\"github.com/apache/arrow/go/arrow/bitutil\"\n\tarrowTensor \"github.com/apache/arrow/go/arrow/tensor\"\n", ""},
		{"// FromArrowArray converts", toEnd},
	},
}

// added is a new file of the package.
const added = `// Added by cnnlens's gorgonia-overlay (third_party/README.md).

package tensor

import (
	"errors"
	"io"
)

// gob stands in for encoding/gob.
var gob gobStandIn

type gobStandIn struct{}

func (gobStandIn) Register(any)                    {}
func (gobStandIn) NewEncoder(io.Writer) gobStandIn { return gobStandIn{} }
func (gobStandIn) NewDecoder(io.Reader) gobStandIn { return gobStandIn{} }
func (gobStandIn) Encode(any) error                { return errNoGob }
func (gobStandIn) Decode(any) error                { return errNoGob }

var errNoGob = errors.New("tensor: gob encoding is left out of this build (cnnlens's WebAssembly engine)")
`

// npyHeader is npyheader.go, the matchers that replace ReadNpy's regular
// expressions (tested against them in npyheader_test.go).
//
//go:embed npyheader.go
var npyHeader string

func main() {
	module := flag.String("module", "", "gorgonia.org/tensor's directory (go list -m -f '{{.Dir}}' gorgonia.org/tensor)")
	out := flag.String("out", "", "where to write the copy, go.mod and go.sum")
	flag.Parse()
	if err := run(*module, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gorgonia-overlay:", err)
		os.Exit(1)
	}
}

func run(module, out string) error {
	if module == "" || out == "" {
		return fmt.Errorf("give -module and -out")
	}
	module, err := filepath.Abs(module)
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	dir := filepath.Join(out, "tensor")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The module without its tests and test data.
	err = filepath.WalkDir(module, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(module, path)
		if d.IsDir() {
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		return err
	}
	for name, list := range edits {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		text := string(src)
		for _, e := range list {
			if n := strings.Count(text, e.old); n != 1 {
				return fmt.Errorf("%s: %q found %d times, want once (not gorgonia.org/tensor v0.9.24?)", name, e.old, n)
			}
			if e.new == toEnd {
				text = text[:strings.Index(text, e.old)]
				continue
			}
			text = strings.Replace(text, e.old, e.new, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	src, err := format.Source([]byte(added))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "zz_cnnlens_overlay.go"), src, 0o644); err != nil {
		return err
	}
	npy := strings.Replace(npyHeader, "\npackage main\n", "\npackage tensor\n", 1)
	if npy == npyHeader {
		return fmt.Errorf("npyheader.go: no package clause to replace")
	}
	if err := os.WriteFile(filepath.Join(dir, "zz_cnnlens_npyheader.go"), []byte(npy), 0o644); err != nil {
		return err
	}
	// The project's go.mod and go.sum with the copy in place.
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return fmt.Errorf("run it from the project's root: %v", err)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return err
	}
	mod = append(mod, "\nreplace gorgonia.org/tensor => "+dir+"\n"...)
	if err := os.WriteFile(filepath.Join(out, "go.mod"), mod, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "go.sum"), sum, 0o644)
}
