package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/interop"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func writeNpyFile(t *testing.T, path string, x *tensor.T) {
	t.Helper()
	var buf bytes.Buffer
	if err := interop.WriteNpy(&buf, x); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readNpyFile(t *testing.T, path string) *tensor.T {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	x, err := interop.ReadNpy(fh)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// closeTo compares with the oracle's tolerances: maps absolutely (2e-3),
// everything else relative to the reference's max |value| (1e-4).
func closeTo(t *testing.T, what string, got, want []float32, isMap bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	tol := 2e-3
	if !isMap {
		big := 0.0
		for _, v := range want {
			big = math.Max(big, math.Abs(float64(v)))
		}
		tol = 1e-4 * big
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(d) {
			t.Fatalf("%s[%d]: %g, want %g (tolerance %.3g)", what, i, got[i], want[i], tol)
		}
	}
}

func oracleInput(t *testing.T) *tensor.T {
	return tensor.FromF32(readF32File(t, filepath.Join(tiny, "raw", "input.f32")), 1, 3, 32, 32)
}

// TestNpyMatchesOracle runs predict, cam, features and featuremaps on the
// tinycnn oracle's input given as .npy, writing .npy, and compares the
// arrays (shapes: the engine's, with the batch dimension) with the oracle.
func TestNpyMatchesOracle(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(tiny, "model.onnx")
	input := filepath.Join(dir, "input.npy")
	writeNpyFile(t, input, oracleInput(t))
	ref := func(key string) []float32 { return readF32File(t, filepath.Join(tiny, "raw", key+".f32")) }
	run := func(args ...string) {
		t.Helper()
		if code, _, errs := cli(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	check := func(path string, shape []int, key string, isMap bool) *tensor.T {
		t.Helper()
		x := readNpyFile(t, path)
		if !tensor.SameShape(x.Shape(), shape) {
			t.Fatalf("%s: shape %v, want %v", filepath.Base(path), x.Shape(), shape)
		}
		closeTo(t, key, x.F32(), ref(key), isMap)
		return x
	}

	l, c, r := filepath.Join(dir, "l.npy"), filepath.Join(dir, "c.npy"), filepath.Join(dir, "r.npy")
	run("predict", "-model", model, "-tensor", input, "-out-logits", l)
	logits := check(l, []int{1, 10}, "logits", false)
	run("cam", "-model", model, "-tensor", input, "-class", "3", "-method", "gradcam", "-out-cam", c, "-out-raw", r)
	check(c, []int{1, 32, 32}, "last.gradcam.cam", true)
	check(r, []int{1, 16, 16}, "last.gradcam.raw", false)
	f := filepath.Join(dir, "f.npy")
	run("features", "-model", model, "-tensor", input, "-layer", "/relu2/Relu", "-out", f)
	check(f, []int{1, 16, 16, 16}, "feat.relu2", false)
	a := filepath.Join(dir, "a.npy")
	run("featuremaps", "-model", model, "-tensor", input, "-layer", "/relu3/Relu_output_0", "-out", filepath.Join(dir, "g.png"), "-out-f32", a)
	check(a, []int{16, 16, 16}, "last.act", false)

	// The raw route gives the same numbers, bit for bit.
	lf := filepath.Join(dir, "l.f32")
	run("predict", "-model", model, "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-out-logits", lf)
	if raw := readF32File(t, lf); !equalBits(raw, logits.F32()) {
		t.Errorf("raw logits %v, .npy logits %v", raw, logits.F32())
	}

	// One input without its batch dimension, and a batch of two whose size
	// comes from the array.
	chw := filepath.Join(dir, "chw.npy")
	writeNpyFile(t, chw, tensor.FromF32(oracleInput(t).F32(), 3, 32, 32))
	run("predict", "-model", model, "-tensor", chw, "-out-logits", l)
	if x := readNpyFile(t, l); !tensor.SameShape(x.Shape(), []int{1, 10}) || !equalBits(x.F32(), logits.F32()) {
		t.Errorf("C×H×W input: logits %v %v", x.Shape(), x.F32())
	}
	two := filepath.Join(dir, "two.npy")
	in := oracleInput(t).F32()
	writeNpyFile(t, two, tensor.FromF32(append(append([]float32{}, in...), in...), 2, 3, 32, 32))
	run("predict", "-model", model, "-tensor", two, "-out-logits", l)
	if x := readNpyFile(t, l); !tensor.SameShape(x.Shape(), []int{2, 10}) {
		t.Errorf("batch of 2: logits of shape %v", x.Shape())
	} else {
		closeTo(t, "batch of 2: logits[0]", x.F32()[:10], ref("logits"), false)
		closeTo(t, "batch of 2: logits[1]", x.F32()[10:], ref("logits"), false)
	}
	run("cam", "-model", model, "-tensor", two, "-class", "3", "-method", "gradcam", "-out-cam", c, "-out-raw", r)
	if x := readNpyFile(t, c); !tensor.SameShape(x.Shape(), []int{2, 32, 32}) {
		t.Errorf("batch of 2: cam shape %v", x.Shape())
	}
	// Saliency's raw map is the input attribution, N×C×H×W; guided
	// backprop's final map is H×W×3 per image.
	run("cam", "-model", model, "-tensor", input, "-class", "3", "-method", "saliency", "-out-raw", r)
	if x := readNpyFile(t, r); !tensor.SameShape(x.Shape(), []int{1, 3, 32, 32}) {
		t.Errorf("saliency raw shape %v", x.Shape())
	}
	run("cam", "-model", model, "-tensor", input, "-class", "3", "-method", "guidedbackprop", "-out-cam", c)
	check(c, []int{1, 32, 32, 3}, "guidedbackprop", false)
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestNpyWithNumPy: numpy writes the CLI's input (float32 and float64) and
// reads its outputs, compared in Python with the oracle's arrays. Debian's
// python3-numpy is required under CNNLENS_REQUIRE_ALL (make test).
func TestNpyWithNumPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		msg := fmt.Sprintf("/usr/bin/python3 with numpy (Debian's python3-numpy, make deps) is not available: %v", err)
		if os.Getenv("CNNLENS_REQUIRE_ALL") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	python := func(script string) string {
		t.Helper()
		out, err := exec.Command("/usr/bin/python3", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	raw, err := filepath.Abs(filepath.Join(tiny, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	python(fmt.Sprintf(`import numpy as np
x = np.fromfile(%q, dtype='<f4').reshape(1, 3, 32, 32)
np.save(%q, x)
np.save(%q, x.astype(np.float64))
`, filepath.Join(raw, "input.f32"), filepath.Join(dir, "in32.npy"), filepath.Join(dir, "in64.npy")))

	model := filepath.Join(tiny, "model.onnx")
	for _, in := range []string{"in32", "in64"} {
		input := filepath.Join(dir, in+".npy")
		l, c, r := filepath.Join(dir, in+"-l.npy"), filepath.Join(dir, in+"-c.npy"), filepath.Join(dir, in+"-r.npy")
		if code, _, errs := cli(t, "predict", "-model", model, "-tensor", input, "-out-logits", l); code != 0 {
			t.Fatalf("predict %s: %s", in, errs)
		}
		if code, _, errs := cli(t, "cam", "-model", model, "-tensor", input, "-class", "3", "-method", "gradcam", "-out-cam", c, "-out-raw", r); code != 0 {
			t.Fatalf("cam %s: %s", in, errs)
		}
		// Each line: name, shape as numpy reads it, whether it is within
		// the oracle's tolerance, the largest difference.
		out := python(fmt.Sprintf(`import numpy as np
def check(name, path, key, shape, is_map):
    a = np.load(path)
    ref = np.fromfile(%q + "/" + key + ".f32", dtype='<f4').reshape(shape[1:])
    tol = 2e-3 if is_map else 1e-4 * float(np.abs(ref).max())
    d = float(np.abs(a[0].astype(np.float64) - ref).max())
    ok = a.dtype == np.float32 and a.shape == shape and d <= tol
    print(name, "x".join(map(str, a.shape)), ok, d)
check("logits", %q, "logits", (1, 10), False)
check("cam", %q, "last.gradcam.cam", (1, 32, 32), True)
check("raw", %q, "last.gradcam.raw", (1, 16, 16), False)
`, raw, l, c, r))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: numpy printed:\n%s", in, out)
		}
		for _, line := range lines {
			if f := strings.Fields(line); len(f) != 4 || f[2] != "True" {
				t.Errorf("%s: numpy reads the CLI's output as: %s", in, line)
			}
		}
	}
}

// TestNpyErrors: a .npy input of the wrong shape, in Fortran order or
// disagreeing with -batch is an error naming the problem.
func TestNpyErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(tiny, "model.onnx")
	small := filepath.Join(dir, "small.npy")
	writeNpyFile(t, small, tensor.New(1, 3, 16, 16))
	flat := filepath.Join(dir, "flat.npy")
	writeNpyFile(t, flat, tensor.New(3072))
	fortran := filepath.Join(dir, "fortran.npy")
	writeNpyFile(t, fortran, tensor.New(1, 3, 32, 32))
	data, _ := os.ReadFile(fortran)
	os.WriteFile(fortran, bytes.Replace(data, []byte("'fortran_order': False"), []byte("'fortran_order': True "), 1), 0o644)
	one := filepath.Join(dir, "one.npy")
	writeNpyFile(t, one, tensor.New(1, 3, 32, 32))
	none := filepath.Join(dir, "none.npy")
	writeNpyFile(t, none, tensor.New(0, 3, 32, 32))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", "-model", model, "-tensor", small}, 1, "array of shape 1×3×16×16, but the model's input \"input\" is N×3×32×32"},
		{[]string{"predict", "-model", model, "-tensor", flat}, 1, "array of shape 3072"},
		{[]string{"predict", "-model", model, "-tensor", fortran}, 1, "Fortran-order"},
		{[]string{"predict", "-model", model, "-tensor", one, "-batch", "2"}, 2, "-batch 2 but"},
		{[]string{"predict", "-model", model, "-tensor", none}, 1, "holds no input"},
		{[]string{"predict", "-model", model, "-tensor", filepath.Join(dir, "missing.npy")}, 1, "missing.npy"},
		{[]string{"predict", "-model", model, "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-out-logits", filepath.Join(dir, "no", "such", "l.npy")}, 1, "l.npy"},
	} {
		code, _, errs := cli(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", c.args, errs)
		}
	}
}
