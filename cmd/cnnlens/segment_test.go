package main

import (
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	segCase = filepath.Join("..", "..", "..", "shared", "oracle", "lraspp-seg")
	vitCase = filepath.Join("..", "..", "..", "shared", "oracle", "vit-tiny")
)

// predict on a segmentation model lists the classes present with their
// pixel counts (the reference's counts), and -out-logits writes the whole
// N×K×H×W output.
func TestPredictSegmentation(t *testing.T) {
	var m struct {
		SegTarget struct {
			ClassPixelCounts []int `json:"class_pixel_counts"`
		} `json:"seg_target"`
	}
	data, err := os.ReadFile(filepath.Join(segCase, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	npy := filepath.Join(dir, "out.npy")
	code, out, errs := cli(t, "predict", "-model", filepath.Join(segCase, "model.onnx"), "-tensor", filepath.Join(segCase, "raw", "input.f32"), "-json", "-out-logits", npy)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p segPrediction
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if p.Height != 128 || p.Width != 128 {
		t.Errorf("segmentation %d×%d, want 128×128", p.Height, p.Width)
	}
	got := make([]int, len(m.SegTarget.ClassPixelCounts))
	for i, c := range p.Classes {
		if c.Class >= len(got) || c.Pixels <= 0 || i > 0 && c.Pixels > p.Classes[i-1].Pixels {
			t.Fatalf("classes %+v: not the present classes, most pixels first", p.Classes)
		}
		got[c.Class] = c.Pixels
	}
	for c, want := range m.SegTarget.ClassPixelCounts {
		if got[c] != want {
			t.Errorf("class %d: %d pixels, the reference %d", c, got[c], want)
		}
	}
	if p.ClassIndex != p.Classes[0].Class {
		t.Errorf("class_index %d, want the class at most pixels (%d)", p.ClassIndex, p.Classes[0].Class)
	}
	x := readNpyFile(t, npy)
	if s := x.Shape(); len(s) != 4 || s[0] != 1 || s[1] != 5 || s[2] != 128 || s[3] != 128 {
		t.Fatalf("-out-logits shape %v, want 1×5×128×128", s)
	}
	closeTo(t, "logits", x.F32(), readF32File(t, filepath.Join(segCase, "raw", "logits.f32")), false)

	code, out, errs = cli(t, "predict", "-model", filepath.Join(segCase, "model.onnx"), "-tensor", filepath.Join(segCase, "raw", "input.f32"))
	if code != 0 || !strings.Contains(out, "classes present") || !strings.Contains(out, "7294 pixels") {
		t.Errorf("predict (text): exit %d %s\n%s", code, errs, out)
	}
}

// cam -seg-class explains a class over its predicted pixels, or over a
// mask given as a PNG: both are the reference's SemanticSegmentationTarget.
func TestCAMSegmentation(t *testing.T) {
	dir := t.TempDir()
	mask := readF32File(t, filepath.Join(segCase, "raw", "seg.mask.f32"))
	// The mask as a PNG, and a half-size PNG with its upsampled copy
	// (nearest, each pixel a 2×2 block): the two must explain the same
	// pixels.
	full := image.NewGray(image.Rect(0, 0, 128, 128))
	small := image.NewGray(image.Rect(0, 0, 64, 64))
	up := image.NewGray(image.Rect(0, 0, 128, 128))
	for i, v := range mask {
		if v != 0 {
			full.Pix[i] = 1
		}
	}
	for y := 0; y < 128; y++ {
		for x := 0; x < 128; x++ {
			if mask[(y/2*2)*128+x/2*2] != 0 {
				small.Pix[y/2*64+x/2] = 255
				up.Pix[y*128+x] = 255
			}
		}
	}
	fullPNG, smallPNG, upPNG := filepath.Join(dir, "mask.png"), filepath.Join(dir, "small.png"), filepath.Join(dir, "up.png")
	for p, img := range map[string]image.Image{fullPNG: full, smallPNG: small, upPNG: up} {
		if err := writePNG(p, img); err != nil {
			t.Fatal(err)
		}
	}
	args := func(method, camF string, extra ...string) []string {
		return append([]string{"cam", "-model", filepath.Join(segCase, "model.onnx"), "-tensor", filepath.Join(segCase, "raw", "input.f32"),
			"-layer", "/model/backbone/backbone.16/backbone.16.2/HardSwish_output_0", "-method", method, "-out-cam", camF, "-json"}, extra...)
	}
	for _, method := range []string{"gradcam", "segeigencam"} {
		want := readF32File(t, filepath.Join(segCase, "raw", "last."+method+".cam.f32"))
		cases := [][]string{{"-seg-class", "3"}, {"-seg-class", "3", "-seg-mask", fullPNG}}
		for _, extra := range cases {
			camF := filepath.Join(dir, method+".f32")
			code, out, errs := cli(t, args(method, camF, extra...)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d: %s", method, extra, code, errs)
			}
			var js struct {
				ClassIndex int `json:"class_index"`
			}
			if err := json.Unmarshal([]byte(out), &js); err != nil || js.ClassIndex != 3 {
				t.Errorf("%s %v: JSON %s", method, extra, out)
			}
			closeTo(t, method+" "+strings.Join(extra, " "), readF32File(t, camF), want, true)
		}
	}
	halfF, upF := filepath.Join(dir, "half.f32"), filepath.Join(dir, "up.f32")
	for f, png := range map[string]string{halfF: smallPNG, upF: upPNG} {
		if code, _, errs := cli(t, args("gradcam", f, "-seg-class", "3", "-seg-mask", png)...); code != 0 {
			t.Fatalf("-seg-mask %s: exit %d: %s", png, code, errs)
		}
	}
	half, upsampled := readF32File(t, halfF), readF32File(t, upF)
	for i := range half {
		if half[i] != upsampled[i] {
			t.Fatalf("a half-size mask is not resized nearest: map differs at %d (%g, %g)", i, half[i], upsampled[i])
		}
	}
	// Bad requests.
	for _, c := range []struct {
		extra []string
		want  string
	}{
		{[]string{"-seg-class", "9"}, "class 9 is out of range"},
		{[]string{"-seg-class", "3", "-class", "2"}, "do not go with -class"},
		{[]string{"-seg-class", "3", "-seg-mask", filepath.Join(segCase, "manifest.json")}, "-seg-mask"},
	} {
		code, _, errs := cli(t, args("gradcam", filepath.Join(dir, "x.f32"), c.extra...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want an error saying %q", c.extra, code, errs, c.want)
		}
	}
	code, _, errs := cli(t, "cam", "-model", filepath.Join(tiny, "model.onnx"), "-tensor", filepath.Join(tiny, "raw", "input.f32"), "-seg-class", "1")
	if code == 0 || !strings.Contains(errs, "for segmentation models") {
		t.Errorf("-seg-class on a classifier: exit %d, %q", code, errs)
	}
}

// cam -layout on a vision transformer: auto and tokens give the
// reference's map; nhwc is refused for a 3-D value.
func TestCAMLayout(t *testing.T) {
	dir := t.TempDir()
	layer := "/encoder/layers/encoder_layer_1/ln_1/LayerNormalization_output_0"
	want := readF32File(t, filepath.Join(vitCase, "raw", "last.gradcam.cam.f32"))
	for _, layout := range []string{"", "auto", "tokens"} {
		camF := filepath.Join(dir, "cam.f32")
		args := []string{"cam", "-model", filepath.Join(vitCase, "model.onnx"), "-tensor", filepath.Join(vitCase, "raw", "input.f32"),
			"-layer", layer, "-class", "3", "-out-cam", camF}
		if layout != "" {
			args = append(args, "-layout", layout)
		}
		code, out, errs := cli(t, append(args, "-json")...)
		if code != 0 {
			t.Fatalf("-layout %q: exit %d: %s", layout, code, errs)
		}
		if !strings.Contains(out, `"layout":"tokens"`) {
			t.Errorf("-layout %q: JSON %s does not say the layout used (tokens)", layout, out)
		}
		closeTo(t, "gradcam -layout "+layout, readF32File(t, camF), want, true)
	}
	for _, c := range []struct{ layout, want string }{{"nhwc", "layout nhwc needs a 4-D value"}, {"rows", `unknown layout "rows"`}} {
		code, _, errs := cli(t, "cam", "-model", filepath.Join(vitCase, "model.onnx"), "-tensor", filepath.Join(vitCase, "raw", "input.f32"),
			"-layer", layer, "-layout", c.layout)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("-layout %s: exit %d, %q; want an error saying %q", c.layout, code, errs, c.want)
		}
	}
	// The card's layer_layout is the default; -layout overrides it.
	model := filepath.Join(dir, "vit.onnx")
	data, err := os.ReadFile(filepath.Join(vitCase, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vit.json"), []byte(`{"layer_layout": "nhwc"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"cam", "-model", model, "-tensor", filepath.Join(vitCase, "raw", "input.f32"), "-layer", layer}
	if code, _, errs := cli(t, base...); code == 0 || !strings.Contains(errs, "layout nhwc") {
		t.Errorf("card layer_layout nhwc: exit %d, %q; want the nhwc error", code, errs)
	}
	if code, _, errs := cli(t, append(base, "-layout", "tokens")...); code != 0 {
		t.Errorf("-layout tokens over the card's nhwc: exit %d, %s", code, errs)
	}
}
