package main

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCAMMatchesOracle(t *testing.T) {
	dir := t.TempDir()
	camF, rawF, pngF := filepath.Join(dir, "cam.f32"), filepath.Join(dir, "raw.f32"), filepath.Join(dir, "o.png")
	code, out, errs := cli(t, "cam", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"),
		"-layer", "/relu2/Relu_output_0", "-class", "3", "-method", "gradcam", "-out-cam", camF, "-out-raw", rawF, "-out", pngF, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		ClassIndex int     `json:"class_index"`
		Score      float64 `json:"score"`
		MS         float64 `json:"ms"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.ClassIndex != 3 || js.MS <= 0 {
		t.Errorf("JSON %q: %+v %v", out, js, err)
	}
	ref := readF32File(t, filepath.Join(tiny, "raw", "logits.f32"))
	if math.Abs(js.Score-float64(ref[3])) > 1e-5 {
		t.Errorf("score %g, logit[3] %g", js.Score, ref[3])
	}
	for _, c := range []struct {
		file, ref string
		tol       float64
	}{{camF, "mid.gradcam.cam.f32", 2e-3}, {rawF, "mid.gradcam.raw.f32", 1e-5}} {
		got, want := readF32File(t, c.file), readF32File(t, filepath.Join(tiny, "raw", c.ref))
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.ref, len(got), len(want))
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > c.tol {
				t.Fatalf("%s[%d]: %g, want %g", c.ref, i, got[i], want[i])
			}
		}
	}
	fh, err := os.Open(pngF)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(fh)
	fh.Close()
	if err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 32 {
		t.Fatalf("overlay PNG: %v", err)
	}
}

func TestCAMAllMethodsAndGuided(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := cli(t, "cam", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"),
		"-method", "all", "-out-dir", dir, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Methods map[string]struct {
			MS float64 `json:"ms"`
		} `json:"methods"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"gradcam", "scorecam", "guidedbackprop", "integrated-gradients"} {
		if _, ok := js.Methods[m]; !ok {
			t.Errorf("-method all: no entry for %s in %s", m, out)
		}
		if _, err := os.Stat(filepath.Join(dir, m+".png")); err != nil {
			t.Errorf("-method all: %v", err)
		}
	}
	// guided backprop's map is H×W×3 (HWC), the others H×W.
	if n := len(readF32File(t, filepath.Join(dir, "guidedbackprop.f32"))); n != 32*32*3 {
		t.Errorf("guidedbackprop map has %d values, want 32×32×3", n)
	}
	if n := len(readF32File(t, filepath.Join(dir, "gradcam.f32"))); n != 32*32 {
		t.Errorf("gradcam map has %d values, want 32×32", n)
	}
	// With the oracle's class, guided backprop equals pytorch-grad-cam's.
	gbF := filepath.Join(dir, "gb.f32")
	if code, _, errs := cli(t, "cam", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"),
		"-method", "guidedbackprop", "-class", "3", "-out-cam", gbF); code != 0 {
		t.Fatalf("guidedbackprop: %s", errs)
	}
	gb, want := readF32File(t, gbF), readF32File(t, filepath.Join(tiny, "raw", "guidedbackprop.f32"))
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if math.Abs(float64(gb[i]-want[i])) > 1e-4*scale {
			t.Fatalf("guidedbackprop[%d] = %g, want %g", i, gb[i], want[i])
		}
	}
}

func TestCAMErrors(t *testing.T) {
	model := filepath.Join(tiny, "model.onnx")
	input := filepath.Join(tiny, "raw", "input.f32")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-layer", "nope"}, 1, "/relu3/Relu_output_0"},
		{[]string{"-class", "10"}, 1, "0–9"},
		{[]string{"-layer", "logits"}, 1, "not a spatial map"},
		{[]string{"-method", "bogus"}, 1, "unknown method"},
		{[]string{"-method", "all"}, 2, "-out-dir"},
		{[]string{"-alpha", "2"}, 2, "-alpha"},
		{[]string{"-colormap", "nope"}, 2, "nope"},
	}
	for _, c := range cases {
		args := append([]string{"cam", "-model", model, "-tensor", input}, c.args...)
		code, _, errs := cli(t, args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	code, out, errs := cli(t, "metrics", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"),
		"-layer", "/relu3/Relu", "-method", "gradcam", "-class", "3", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Score    float64   `json:"score"`
		Masked   float64   `json:"score_on_masked"`
		Change   float64   `json:"confidence_change"`
		ROADMoRF []float64 `json:"road_morf"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	if math.Abs(js.Masked-js.Score-js.Change) > 1e-5 || len(js.ROADMoRF) != 9 {
		t.Errorf("metrics JSON inconsistent: %s", out)
	}
	code, out, _ = cli(t, "metrics", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-method", "scorecam")
	if code != 0 || !strings.Contains(out, "ROAD") || !strings.Contains(out, "drop in confidence") {
		t.Errorf("metrics text: %d %s", code, out)
	}
}

// ConvNeXt with no -layer: the CLI explains its last block (the default
// layer) as pytorch-grad-cam does.
func TestCAMConvNeXtDefaultLayer(t *testing.T) {
	cnx := filepath.Join(tiny, "..", "convnext-small")
	dir := t.TempDir()
	camF, rawF := filepath.Join(dir, "cam.f32"), filepath.Join(dir, "raw.f32")
	code, _, errs := cli(t, "cam", "-model", filepath.Join(cnx, "model.onnx"), "-tensor", filepath.Join(cnx, "raw", "input.f32"),
		"-class", "3", "-method", "gradcam", "-out-cam", camF, "-out-raw", rawF)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, c := range []struct {
		file, ref string
		tol       float64
	}{{camF, "last.gradcam.cam.f32", 2e-3}, {rawF, "last.gradcam.raw.f32", 1e-4}} {
		got, want := readF32File(t, c.file), readF32File(t, filepath.Join(cnx, "raw", c.ref))
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.ref, len(got), len(want))
		}
		scale := 1.0
		if c.tol < 2e-3 { // raw maps: relative to the largest reference value
			scale = 0
			for _, w := range want {
				scale = math.Max(scale, math.Abs(float64(w)))
			}
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > c.tol*scale {
				t.Fatalf("%s[%d]: %g, want %g", c.ref, i, got[i], want[i])
			}
		}
	}
}

// -fast computes the layer-CAM family at the fast tier: on ResNet-18 other
// bits than the default's (its 56² and 28² convolutions take F(4×4)), both
// within the oracle's tolerances; saliency is the same with or without it.
func TestCAMFast(t *testing.T) {
	r18 := filepath.Join(tiny, "..", "resnet18")
	dir := t.TempDir()
	run := func(method, name string, fast bool) []float32 {
		t.Helper()
		f := filepath.Join(dir, name+".f32")
		args := []string{"cam", "-model", filepath.Join(r18, "model_bn.onnx"), "-tensor", filepath.Join(r18, "raw", "input.f32"),
			"-class", "281", "-method", method, "-out-raw", f}
		if fast {
			args = append(args, "-fast")
		}
		if code, _, errs := cli(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return readF32File(t, f)
	}
	want := readF32File(t, filepath.Join(r18, "raw", "last.gradcam.raw.f32"))
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	ref, fast := run("gradcam", "ref", false), run("gradcam", "fast", true)
	same := true
	for i, w := range want {
		for _, got := range [][]float32{ref, fast} {
			if math.Abs(float64(got[i]-w)) > 1e-4*scale {
				t.Fatalf("raw[%d]: %g, want %g", i, got[i], w)
			}
		}
		same = same && math.Float32bits(ref[i]) == math.Float32bits(fast[i])
	}
	if same {
		t.Error("-fast gave the default's bits for Grad-CAM on ResNet-18")
	}
	a, b := run("saliency", "sal", false), run("saliency", "salfast", true)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("saliency with -fast differs at %d: %g, %g", i, b[i], a[i])
		}
	}
}
