package main

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/internal/testmodels"
)

// decodePNG reads a PNG and checks it is w×h (0: at least 16) and not one
// flat colour.
func decodePNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if (w > 0 && b.Dx() != w) || (h > 0 && b.Dy() != h) || b.Dx() < 16 || b.Dy() < 16 {
		t.Errorf("%s: %d×%d, want %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
	if n := testmodels.Colours(img); n < 8 {
		t.Errorf("%s: only %d colours", path, n)
	}
	return img
}

func TestFiltersCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(tiny, "model.onnx")
	// conv1: 8 filters of 3×3×3 as RGB, 3×3 tiles of 30 px with 2 px gaps
	out := filepath.Join(dir, "conv1.png")
	code, stdout, errs := cli(t, "filters", "-model", model, "-layer", "/conv1/Conv_output_0", "-out", out)
	if code != 0 || !strings.Contains(stdout, "8 filters 3×3×3 (rgb") {
		t.Fatalf("exit %d: %s %s", code, stdout, errs)
	}
	decodePNG(t, out, 3*30+4*2, 3*30+4*2)
	// conv2 by node name, per input channel: a row per filter
	out = filepath.Join(dir, "conv2.png")
	code, _, errs = cli(t, "filters", "-model", model, "-layer", "/conv2/Conv", "-mode", "channels", "-per-filter", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	decodePNG(t, out, 8*30+9*2, 16*30+17*2)

	code, _, errs = cli(t, "filters", "-model", model, "-layer", "/relu1/Relu", "-out", out)
	if code != 1 || !strings.Contains(errs, "not a convolution") {
		t.Errorf("relu layer: exit %d, %s", code, errs)
	}
	code, _, errs = cli(t, "filters", "-model", model, "-layer", "/conv2/Conv", "-mode", "rgb", "-out", out)
	if code != 2 || !strings.Contains(errs, "rgb needs 3") {
		t.Errorf("rgb on 8 inputs: exit %d, %s", code, errs)
	}
	if code, _, _ = cli(t, "filters", "-model", model, "-out", out); code != 2 {
		t.Errorf("no -layer: exit %d", code)
	}
}

// featuremaps writes the values it draws; they are PyTorch's activations
// and gradients (the oracle).
func TestFeatureMapsCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(tiny, "model.onnx")
	input := filepath.Join(tiny, "raw", "input.f32")
	for _, c := range []struct {
		args []string
		ref  string
	}{
		{[]string{"-layer", "/relu2/Relu"}, "feat.relu2.f32"},
		{[]string{"-layer", "/pool/MaxPool_output_0", "-sort", "mean", "-numbers"}, "feat.pool.f32"},
		{[]string{"-layer", "/relu2/Relu_output_0", "-grad", "-class", "3", "-shared"}, "mid.grad.f32"},
		{[]string{"-layer", "/relu3/Relu_output_0", "-grad", "-class", "3", "-sort", "weight", "-shared"}, "last.grad.f32"},
	} {
		png, f32 := filepath.Join(dir, "g.png"), filepath.Join(dir, "v.f32")
		args := append([]string{"featuremaps", "-model", model, "-tensor", input, "-out", png, "-out-f32", f32}, c.args...)
		code, _, errs := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		got, want := readF32File(t, f32), readF32File(t, filepath.Join(tiny, "raw", c.ref))
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.ref, len(got), len(want))
		}
		var scale, diff float64
		for i := range want {
			scale = math.Max(scale, math.Abs(float64(want[i])))
			diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		}
		if diff > 1e-4*scale {
			t.Errorf("%s: max difference %g (scale %g)", c.ref, diff, scale)
		}
		decodePNG(t, png, 0, 0)
	}
	// JSON: one entry per channel, sorted by Grad-CAM weight; the weights
	// are pytorch-grad-cam's
	png, bd := filepath.Join(dir, "g.png"), filepath.Join(dir, "bd.png")
	code, stdout, errs := cli(t, "featuremaps", "-model", model, "-tensor", input, "-layer", "/relu2/Relu_output_0",
		"-class", "3", "-sort", "weight", "-out", png, "-breakdown", bd, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Shape    []int `json:"shape"`
		Channels []struct {
			Channel int     `json:"channel"`
			Weight  float32 `json:"weight"`
		} `json:"channels"`
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil || len(js.Channels) != 16 || js.Shape[0] != 16 {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	weights := readF32File(t, filepath.Join(tiny, "raw", "mid.gradcam.weights.f32"))
	for k, c := range js.Channels {
		if math.Abs(float64(c.Weight-weights[c.Channel])) > 1e-5 || (k > 0 && c.Weight > js.Channels[k-1].Weight) {
			t.Fatalf("channel %d: weight %g, want %g (sorted)", c.Channel, c.Weight, weights[c.Channel])
		}
	}
	decodePNG(t, bd, 0, 0)
	code, _, errs = cli(t, "featuremaps", "-model", model, "-tensor", input, "-layer", "/relu9", "-out", png)
	if code != 1 || !strings.Contains(errs, "no layer named") {
		t.Errorf("unknown layer: exit %d, %s", code, errs)
	}
}

func TestPoolingCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pool.png")
	code, stdout, errs := cli(t, "pooling", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"),
		"-layer", "/pool/MaxPool", "-class", "3", "-out", out, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Above        []int `json:"above"`
		Below        []int `json:"below"`
		NonzeroAbove int   `json:"nonzero_above"`
		NonzeroBelow int   `json:"nonzero_below"`
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.Below[1] != 32 || js.Above[1] != 16 || js.NonzeroBelow == 0 || js.NonzeroBelow > js.NonzeroAbove {
		t.Errorf("max-pool route: %+v", js)
	}
	decodePNG(t, out, 0, 0)
	code, _, errs = cli(t, "pooling", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-layer", "/conv1/Conv")
	if code != 1 || !strings.Contains(errs, "not a pooling layer") {
		t.Errorf("conv as pool: exit %d, %s", code, errs)
	}
}

// rotations -json on a model with planted rotated copies lists exactly
// those pairs with their transforms.
func TestRotationsCommand(t *testing.T) {
	dir := t.TempDir()
	transforms := []string{"rot90", "rot180", "rot270", "flip_h", "flip_v", "transpose", "antitranspose"}
	w, planted := testmodels.RotatedFilters(18, 3, 3, transforms, 0.02, 42)
	data, err := testmodels.SmallCNN(w, "MaxPool", 16, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "planted.onnx")
	if err := os.WriteFile(model, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := cli(t, "rotations", "-model", model, "-layer", "/conv/Conv_output_0", "-threshold", "0.9", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var pairs []map[string]any
	if err := json.Unmarshal([]byte(stdout), &pairs); err != nil {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	if len(pairs) != len(planted) {
		t.Fatalf("%d pairs, planted %d: %s", len(pairs), len(planted), stdout)
	}
	want := map[[2]int]string{}
	for _, p := range planted {
		want[[2]int{p.A, p.B}] = p.Transform
	}
	for _, p := range pairs {
		if len(p) != 4 {
			t.Errorf("pair %v: want exactly a, b, transform, score", p)
		}
		a, b := int(p["a"].(float64)), int(p["b"].(float64))
		if want[[2]int{a, b}] != p["transform"] || p["score"].(float64) < 0.9 {
			t.Errorf("pair %v, planted %v", p, want)
		}
	}
	out := filepath.Join(dir, "pairs.png")
	code, stdout, errs = cli(t, "rotations", "-model", model, "-layer", "/conv/Conv", "-out", out)
	if code != 0 || !strings.Contains(stdout, "7 pairs") || !strings.Contains(stdout, "by chance") {
		t.Fatalf("exit %d: %s %s", code, stdout, errs)
	}
	decodePNG(t, out, 0, 0)
	code, _, errs = cli(t, "rotations", "-model", model, "-layer", "/conv/Conv", "-threshold", "2")
	if code != 1 || !strings.Contains(errs, "threshold") {
		t.Errorf("threshold 2: exit %d, %s", code, errs)
	}
}

// maximize raises a channel of the bundled shapes model well above its
// value on the starting noise, and writes the picture enlarged.
func TestMaximizeCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join("..", "..", "models", "shapes.onnx")
	out := filepath.Join(dir, "max.png")
	code, stdout, errs := cli(t, "maximize", "-model", model, "-layer", "/block3/relu/Relu", "-channel", "1",
		"-steps", "64", "-seed", "3", "-zoom", "3", "-out", out, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Start, Final float64
		Steps        int
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	if js.Steps != 64 || !(js.Final > 5*js.Start) || !(js.Final > 0.2) {
		t.Errorf("channel objective: %+v", js)
	}
	decodePNG(t, out, 64*3, 64*3)
	// a class logit, Fourier and decorrelated colours
	code, stdout, errs = cli(t, "maximize", "-model", model, "-class", "2", "-steps", "32", "-fourier", "-decorrelate", "-out", out, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil || !(js.Final > js.Start+1) {
		t.Errorf("class objective: %s %v", stdout, err)
	}
	decodePNG(t, out, 256, 256)
	// -class 0 is class 0's logit, not the default objective
	code, stdout, errs = cli(t, "maximize", "-model", model, "-class", "0", "-steps", "2", "-out", out, "-json")
	var obj struct{ Objective string }
	if code != 0 || json.Unmarshal([]byte(stdout), &obj) != nil || obj.Objective != "logit of class 0" {
		t.Errorf("-class 0: exit %d, %s %s", code, stdout, errs)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-layer", "/block3/relu/Relu", "-channel", "48"}, 1, "out of range"},
		{[]string{"-layer", "/block3/relu/Relu"}, 2, "-channel is required"},
		{[]string{"-layer", "/nope", "-channel", "0"}, 1, "no layer named"},
		{[]string{"-class", "99"}, 1, "class"},
	} {
		args := append([]string{"maximize", "-model", model, "-steps", "2", "-out", out}, c.args...)
		code, _, errs := cli(t, args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, %s", c.args, code, errs)
		}
	}
}
