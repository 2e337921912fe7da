package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func readTestdata(t *testing.T, name string) (*tensor.T, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "npy", name))
	if err != nil {
		t.Fatal(err)
	}
	return ReadNpy(bytes.NewReader(data))
}

func seq(n int, f func(i int) float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadNumPyFiles reads the files numpy.save wrote (testdata/npy/make.py)
// and checks shapes and values, which make.py defines exactly.
func TestReadNumPyFiles(t *testing.T) {
	for _, c := range []struct {
		file  string
		shape []int
		want  []float32
	}{
		{"f32_4d.npy", []int{2, 3, 4, 5}, seq(120, func(i int) float32 { return float32(i)/4 - 3 })},
		{"scalar.npy", []int{}, []float32{-2.5}},
		{"f64.npy", []int{3, 4}, seq(12, func(i int) float32 { return float32(i) * 0.125 })},
		{"u8.npy", []int{2, 3}, seq(6, func(i int) float32 { return float32(i * 40) })},
		{"empty.npy", []int{0, 3}, []float32{}},
	} {
		x, err := readTestdata(t, c.file)
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if x.DType() != tensor.Float32 || !tensor.SameShape(x.Shape(), c.shape) || !equalF32(x.F32(), c.want) {
			t.Errorf("%s: %v %v, want shape %v values %v", c.file, x, x.F32(), c.shape, c.want)
		}
	}
}

// TestReadRefused: what gorgonia.org/tensor cannot read is an error that
// names the problem, never wrong values.
func TestReadRefused(t *testing.T) {
	for _, c := range []struct {
		file   string
		target error
		words  []string
	}{
		{"fortran.npy", ErrFortranOrder, []string{"Fortran", "fortran_order: True", "ascontiguousarray"}},
		{"i64.npy", ErrDtype, []string{"int64", "'<i8'", "astype(np.float32)"}},
		{"f32_be.npy", ErrDtype, []string{"big-endian", "float32", "'>f4'"}},
	} {
		_, err := readTestdata(t, c.file)
		if err == nil || !errors.Is(err, c.target) {
			t.Errorf("%s: error %v, want one wrapping %v", c.file, err, c.target)
			continue
		}
		for _, w := range c.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.file, err, w)
			}
		}
	}

	good, err := os.ReadFile(filepath.Join("testdata", "npy", "f32_4d.npy"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := append([]byte{}, good...)
	v2[6] = 2
	bool1 := bytes.Replace(append([]byte{}, good...), []byte("'<f4'"), []byte("'|b1'"), 1)
	half := bytes.Replace(append([]byte{}, good...), []byte("'<f4'"), []byte("'<f2'"), 1)
	structured := bytes.Replace(append([]byte{}, good...), []byte("'<f4'"), []byte("[('a', '<f4')]"), 1)
	for _, c := range []struct {
		name   string
		data   []byte
		target error
		words  string
	}{
		{"empty", nil, ErrNotNpy, "0 bytes"},
		{"text", []byte("this is not numpy at all"), ErrNotNpy, "starts with"},
		{"raw float32", make([]byte, 400), ErrNotNpy, "starts with"},
		{"preamble cut", good[:8], io.ErrUnexpectedEOF, "preamble"},
		{"header cut", good[:40], io.ErrUnexpectedEOF, "header"},
		{"data cut", good[:len(good)-3], io.ErrUnexpectedEOF, "ends inside the data"},
		{"no data", good[:128], io.ErrUnexpectedEOF, "float32 for shape (2, 3, 4, 5)"},
		{"version 2.0", v2, ErrVersion, "2.0"},
		{"bool", bool1, ErrDtype, "bool"},
		{"float16", half, ErrDtype, "float16"},
		{"structured", structured, ErrDtype, "structured"},
	} {
		_, err := ReadNpy(bytes.NewReader(c.data))
		if err == nil || !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%s: error %v, want one wrapping %v and saying %q", c.name, err, c.target, c.words)
		}
	}
}

// TestRoundTrip writes tensors of every rank, zero-size ones included, and
// reads them back, two arrays back to back in one stream: ReadNpy stops at
// the end of each array.
func TestRoundTrip(t *testing.T) {
	cases := []*tensor.T{
		tensor.Scalar(1.5),
		tensor.FromF32([]float32{1, -2, 3.25, 4, 5}, 5),
		tensor.FromF32(seq(6, func(i int) float32 { return float32(i) - 2.5 }), 2, 3),
		tensor.FromF32(seq(48, func(i int) float32 { return float32(i) / 8 }), 1, 3, 4, 4),
		tensor.New(0, 3),
		tensor.New(2, 0, 4),
		tensor.New(0),
	}
	var buf bytes.Buffer
	for _, x := range cases {
		if err := WriteNpy(&buf, x); err != nil {
			t.Fatalf("%v: %v", x, err)
		}
	}
	for _, want := range cases {
		got, err := ReadNpy(&buf)
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if !tensor.SameShape(got.Shape(), want.Shape()) || !equalF32(got.F32(), want.F32()) {
			t.Errorf("read %v %v, wrote %v %v", got, got.F32(), want, want.F32())
		}
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes left unread", buf.Len())
	}
	// The files are aligned as numpy's: the data starts at a multiple of 16.
	buf.Reset()
	WriteNpy(&buf, cases[3])
	if n := buf.Len() - 48*4; n%16 != 0 {
		t.Errorf("the data starts at byte %d", n)
	}
}

// TestWriteReadByNumPy: numpy.load reads what WriteNpy writes, shapes,
// dtypes and values. Debian's python3-numpy is required under
// CNNLENS_REQUIRE_ALL (make test).
func TestWriteReadByNumPy(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("no processes under js/wasm")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		msg := fmt.Sprintf("/usr/bin/python3 with numpy (Debian's python3-numpy) is not available: %v", err)
		if os.Getenv("CNNLENS_REQUIRE_ALL") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	files := []struct {
		name string
		x    *tensor.T
		want string // the Python expression numpy's array must equal
	}{
		{"scalar", tensor.Scalar(-0.75), "np.array(-0.75, dtype=np.float32)"},
		{"vector", tensor.FromF32([]float32{1, 2, 3}, 3), "np.array([1, 2, 3], dtype=np.float32)"},
		{"nchw", tensor.FromF32(seq(2*3*4*5, func(i int) float32 { return float32(i)/4 - 3 }), 2, 3, 4, 5),
			"(np.arange(120, dtype=np.float32) / 4 - 3).reshape(2, 3, 4, 5)"},
		{"empty", tensor.New(0, 3), "np.zeros((0, 3), dtype=np.float32)"},
		{"int64", tensor.FromI64([]int64{-1, 1 << 40, 7, 0}, 2, 2), "np.array([[-1, 1 << 40], [7, 0]], dtype=np.int64)"},
	}
	var script strings.Builder
	script.WriteString("import numpy as np\n")
	for _, f := range files {
		path := filepath.Join(dir, f.name+".npy")
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteNpy(fh, f.x); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		fmt.Fprintf(&script, "a, w = np.load(%q), %s\n", path, f.want)
		fmt.Fprintf(&script, "print(%q, a.dtype == w.dtype and a.shape == w.shape and bool(np.array_equal(a, w)), a.dtype, a.shape)\n", f.name)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(files) {
		t.Fatalf("numpy printed:\n%s", out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "True" {
			t.Errorf("numpy.load disagrees: %s", l)
		}
	}
}

// TestDenseConversion checks when ToDense and FromDense share storage and
// when they copy.
func TestDenseConversion(t *testing.T) {
	x := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	d, err := ToDense(x)
	if err != nil {
		t.Fatal(err)
	}
	if d.Dtype() != gt.Float32 || !d.Shape().Eq(gt.Shape{2, 3}) {
		t.Fatalf("ToDense: %v %v", d.Dtype(), d.Shape())
	}
	// Shared: a write through either side shows in the other.
	if err := d.SetAt(float32(10), 1, 2); err != nil {
		t.Fatal(err)
	}
	x.F32()[0] = -1
	if v, _ := d.At(0, 0); x.F32()[5] != 10 || v.(float32) != -1 {
		t.Fatalf("ToDense does not share the storage: %v, %v", x.F32(), v)
	}
	y, err := FromDense(d)
	if err != nil || &y.F32()[0] != &x.F32()[0] || !tensor.SameShape(y.Shape(), []int{2, 3}) {
		t.Fatalf("FromDense of a plain float32 Dense must share it: %v %v", y, err)
	}

	// A transposed Dense is copied in its own row-major order.
	tr := gt.New(gt.WithShape(2, 3), gt.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	if err := tr.T(); err != nil {
		t.Fatal(err)
	}
	y, err = FromDense(tr)
	if err != nil || !tensor.SameShape(y.Shape(), []int{3, 2}) || !equalF32(y.F32(), []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("transposed: %v %v %v", y, y.F32(), err)
	}
	// So is a slice (a view of the parent's storage).
	parent := gt.New(gt.WithShape(3, 2), gt.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	view, err := parent.Slice(gt.S(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	y, err = FromDense(view.(*gt.Dense))
	if err != nil || !tensor.SameShape(y.Shape(), []int{2, 2}) || !equalF32(y.F32(), []float32{3, 4, 5, 6}) {
		t.Fatalf("view: %v %v", y, err)
	}
	y.F32()[0] = 100
	if parent.Float32s()[2] != 3 {
		t.Error("FromDense of a view must copy")
	}

	// int64 stays int64 and shared; float64 and int32 convert to float32.
	i64 := tensor.FromI64([]int64{7, -8}, 2)
	di, err := ToDense(i64)
	if err != nil || di.Dtype() != gt.Int64 {
		t.Fatalf("int64: %v %v", di, err)
	}
	back, err := FromDense(di)
	if err != nil || back.DType() != tensor.Int64 || &back.I64()[0] != &i64.I64()[0] {
		t.Fatalf("int64 back: %v %v", back, err)
	}
	f64, err := FromDense(gt.New(gt.WithShape(2), gt.WithBacking([]float64{0.5, -1e40})))
	if err != nil || f64.DType() != tensor.Float32 || f64.F32()[0] != 0.5 {
		t.Fatalf("float64: %v %v", f64, err)
	}
	i32, err := FromDense(gt.New(gt.WithShape(1, 2), gt.WithBacking([]int32{3, -4})))
	if err != nil || !equalF32(i32.F32(), []float32{3, -4}) {
		t.Fatalf("int32: %v %v", i32, err)
	}

	// A scalar keeps rank 0 both ways.
	ds, err := ToDense(tensor.Scalar(2.5))
	if err != nil || !ds.IsScalar() {
		t.Fatalf("scalar: %v %v", ds, err)
	}
	s, err := FromDense(ds)
	if err != nil || s.Rank() != 0 || s.F32()[0] != 2.5 {
		t.Fatalf("scalar back: %v %v", s, err)
	}
	s, err = FromDense(gt.New(gt.FromScalar(float32(4))))
	if err != nil || s.Rank() != 0 || s.F32()[0] != 4 {
		t.Fatalf("FromScalar: %v %v", s, err)
	}

	// What cannot convert is an error.
	if _, err := ToDense(tensor.New(0, 3)); err == nil || !strings.Contains(err.Error(), "no elements") {
		t.Errorf("zero-size ToDense: %v", err)
	}
	if _, err := FromDense(gt.New(gt.WithShape(2), gt.WithBacking([]bool{true, false}))); err == nil || !strings.Contains(err.Error(), "bool") {
		t.Errorf("bool FromDense: %v", err)
	}
	masked := gt.New(gt.WithShape(2), gt.WithBacking([]float32{1, 2}, []bool{false, true}))
	if _, err := FromDense(masked); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("masked FromDense: %v", err)
	}
}
