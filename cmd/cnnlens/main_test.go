package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var tiny = filepath.Join("..", "..", "..", "shared", "oracle", "tinycnn")

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInfo(t *testing.T) {
	code, out, errs := cli(t, "info", "-model", filepath.Join(tiny, "model.onnx"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"input: input 1×3×32×32", "suggested Grad-CAM layer: /relu3/Relu_output_0", "/conv2/Conv", "1×16×16×16", "parameters: 3882"} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
}

func TestPredictAndFeatures(t *testing.T) {
	dir := t.TempDir()
	logits := filepath.Join(dir, "logits.f32")
	code, out, errs := cli(t, "predict", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-json", "-out-logits", logits)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p struct {
		ClassIndex int `json:"class_index"`
		Top5       []struct {
			Class int     `json:"class"`
			Prob  float64 `json:"prob"`
		} `json:"top5"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	ref := readF32File(t, filepath.Join(tiny, "raw", "logits.f32"))
	best := 0
	for i, v := range ref {
		if v > ref[best] {
			best = i
		}
	}
	if p.ClassIndex != best || len(p.Top5) != 5 || p.Top5[0].Prob < p.Top5[1].Prob {
		t.Errorf("predict: %+v, reference top class %d", p, best)
	}
	got := readF32File(t, logits)
	for i := range ref {
		if math.Abs(float64(got[i]-ref[i])) > 1e-5 {
			t.Fatalf("logit %d: %g, want %g", i, got[i], ref[i])
		}
	}
	// A batch of 2 copies of the input gives the same logits twice.
	in, _ := os.ReadFile(filepath.Join(tiny, "raw", "input.f32"))
	two := filepath.Join(dir, "two.f32")
	os.WriteFile(two, append(append([]byte{}, in...), in...), 0o644)
	if code, _, errs := cli(t, "predict", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", two, "-batch", "2", "-out-logits", logits); code != 0 {
		t.Fatalf("batch 2: %s", errs)
	}
	if got := readF32File(t, logits); len(got) != 20 || math.Abs(float64(got[13]-ref[3])) > 1e-5 {
		t.Errorf("batch 2 logits: %v", got)
	}
	// features by node name equals the oracle's feat.relu2.
	feat := filepath.Join(dir, "relu2.f32")
	if code, _, errs := cli(t, "features", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-layer", "/relu2/Relu", "-out", feat); code != 0 {
		t.Fatalf("features: %s", errs)
	}
	want := readF32File(t, filepath.Join(tiny, "raw", "feat.relu2.f32"))
	gotF := readF32File(t, feat)
	if len(gotF) != len(want) {
		t.Fatalf("features: %d values, want %d", len(gotF), len(want))
	}
	for i := range want {
		if math.Abs(float64(gotF[i]-want[i])) > 1e-4 {
			t.Fatalf("feature %d: %g want %g", i, gotF[i], want[i])
		}
	}
	// -image works on a real PNG.
	img := image.NewRGBA(image.Rect(0, 0, 50, 40))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(3, 3, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	png.Encode(&buf, img)
	pngPath := filepath.Join(dir, "x.png")
	os.WriteFile(pngPath, buf.Bytes(), 0o644)
	if code, out, errs := cli(t, "predict", "-model", filepath.Join(tiny, "model.onnx"), "-image", pngPath); code != 0 || !strings.Contains(out, "1. class") {
		t.Errorf("predict -image: %d %s %s", code, out, errs)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(tiny, "model.onnx")
	data, _ := os.ReadFile(model)
	truncated := filepath.Join(dir, "truncated.onnx")
	os.WriteFile(truncated, data[:len(data)/3], 0o644)
	notImage := filepath.Join(dir, "notes.png")
	os.WriteFile(notImage, []byte("this is text"), 0o644)
	shortTensor := filepath.Join(dir, "short.f32")
	os.WriteFile(shortTensor, make([]byte, 12), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", "-model", filepath.Join(dir, "missing.onnx"), "-tensor", shortTensor}, 1, "missing.onnx"},
		{[]string{"predict", "-model", truncated, "-tensor", shortTensor}, 1, "onnx:"},
		{[]string{"predict", "-model", model, "-image", notImage}, 1, "not an image"},
		{[]string{"predict", "-model", model, "-tensor", shortTensor}, 1, "12 bytes"},
		{[]string{"features", "-model", model, "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-layer", "nope", "-out", filepath.Join(dir, "f")}, 1, "no layer named \"nope\""},
		{[]string{"predict", "-model", model}, 2, "exactly one of -image and -tensor"},
		{[]string{"predict", "-bogus"}, 2, "bogus"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, c := range cases {
		code, _, errs := cli(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
		if c.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", c.args, errs)
		}
	}
}

func readF32File(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeF32(b)
}
