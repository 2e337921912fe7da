package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/internal/testenv"
)

// The page's engine on a segmentation model: the prediction (argmax map,
// classes present with pixel counts) and a class explained over its
// pixels or over a mask, as pytorch-grad-cam's SemanticSegmentationTarget.
func TestSegmentationModel(t *testing.T) {
	dir := filepath.Join(sharedOracle, "lraspp-seg")
	e := NewEngine()
	info, err := e.LoadModel(testenv.ReadFile(t, filepath.Join(dir, "model.onnx")), &card.Card{Labels: strings.Fields("bg a b c d")})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Segmentation || info.Classes != 5 {
		t.Fatalf("segmentation %v, %d classes; want true, 5", info.Segmentation, info.Classes)
	}
	if info.SuggestedLayer == "" || info.SuggestedLayer == "logits" {
		t.Errorf("suggested layer %q: want a layer below the segmentation output", info.SuggestedLayer)
	}
	in, err := e.InputTensor(info.ID, readF32(t, filepath.Join(dir, "raw", "input.f32")))
	if err != nil {
		t.Fatal(err)
	}
	seg := in.Segmentation
	if seg == nil || seg.Width != 128 || seg.Height != 128 || len(seg.Argmax) != 128*128 {
		t.Fatalf("segmentation %+v", seg)
	}
	var m struct {
		SegTarget struct {
			ClassPixelCounts []int `json:"class_pixel_counts"`
		} `json:"seg_target"`
	}
	if err := json.Unmarshal(testenv.ReadFile(t, filepath.Join(dir, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	argmax := testenv.ReadFile(t, filepath.Join(dir, "raw", "seg.argmax.u8"))
	for p, c := range seg.Argmax {
		if int(argmax[p]) != int(c) {
			t.Fatalf("pixel %d: class %d, the reference %d", p, c, argmax[p])
		}
	}
	if len(seg.Classes) == 0 || seg.Classes[0].Index != 3 || seg.Classes[0].Label != "c" || in.Top5[0].Index != 3 {
		t.Fatalf("classes %+v, top5 %+v: want class 3 (c) first", seg.Classes, in.Top5)
	}
	for _, c := range seg.Classes {
		if want := m.SegTarget.ClassPixelCounts[c.Index]; c.Pixels != want {
			t.Errorf("class %d: %d pixels, the reference %d", c.Index, c.Pixels, want)
		}
	}
	want := readF32(t, filepath.Join(dir, "raw", "last.gradcam.cam.f32"))
	mask := readF32(t, filepath.Join(dir, "raw", "seg.mask.f32"))
	layer := "/model/backbone/backbone.16/backbone.16.2/HardSwish_output_0"
	for name, req := range map[string]CAMRequest{
		"class":         {Input: in.ID, Method: "gradcam", Layer: layer, Class: 3},
		"top class":     {Input: in.ID, Method: "gradcam", Layer: layer, Class: -1},
		"mask":          {Input: in.ID, Method: "gradcam", Layer: layer, Class: 3, Mask: mask},
		"mask, w and h": {Input: in.ID, Method: "gradcam", Layer: layer, Class: 3, Mask: mask, MaskW: 128, MaskH: 128},
	} {
		r, err := e.CAM(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.ClassIndex != 3 || len(r.Map) != len(want) {
			t.Fatalf("%s: class %d, %d values", name, r.ClassIndex, len(r.Map))
		}
		if d := maxDiff(r.Map, want); d > 2e-3 {
			t.Errorf("%s: max difference from pytorch-grad-cam %g", name, d)
		}
	}
	for _, c := range []struct {
		req  CAMRequest
		want string
	}{
		{CAMRequest{Input: in.ID, Method: "gradcam", Class: 3, Mask: mask[:100]}, "the mask has 100 values for 128×128"},
		{CAMRequest{Input: in.ID, Method: "gradcam", Class: 3, Mask: make([]float32, 16), MaskW: 4, MaskH: 4}, "the mask is empty"},
		{CAMRequest{Input: in.ID, Method: "gradcam", Kind: "contrast", Class: 3, Other: 1}, "explain a class over pixels"},
	} {
		if _, err := e.CAM(c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req.Kind, err, c.want)
		}
	}
}

// A transformer's layer through the auto layout, the card's layer_layout
// and the request's layout.
func TestLayerLayout(t *testing.T) {
	dir := filepath.Join(sharedOracle, "vit-tiny")
	data := testenv.ReadFile(t, filepath.Join(dir, "model.onnx"))
	layer := "/encoder/layers/encoder_layer_1/ln_1/LayerNormalization_output_0"
	want := readF32(t, filepath.Join(dir, "raw", "last.gradcam.cam.f32"))
	for _, c := range []struct {
		card, layout, err string
	}{
		{"", "", ""}, {"", "tokens", ""}, {"tokens", "", ""}, {"nhwc", "auto", ""},
		{"nhwc", "", "layout nhwc needs a 4-D value"}, {"", "rows", `unknown layout "rows"`},
	} {
		e := NewEngine()
		info, err := e.LoadModel(data, &card.Card{LayerLayout: c.card})
		if err != nil {
			t.Fatal(err)
		}
		if info.LayerLayout != c.card {
			t.Errorf("card layer_layout %q: info says %q", c.card, info.LayerLayout)
		}
		layouts := map[string]string{}
		for _, l := range info.Layers {
			layouts[l.Output] = l.Layout
		}
		if layouts[layer] != "tokens" || layouts["/conv_proj/Conv_output_0"] != "nchw" || layouts["logits"] != "" {
			t.Errorf("auto layouts: %s %q, conv_proj %q, logits %q; want tokens, nchw, none", layer, layouts[layer], layouts["/conv_proj/Conv_output_0"], layouts["logits"])
		}
		in, err := e.InputTensor(info.ID, readF32(t, filepath.Join(dir, "raw", "input.f32")))
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Layer: layer, Class: 3, Layout: c.layout})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("card %q, layout %q: error %v, want %q", c.card, c.layout, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("card %q, layout %q: %v", c.card, c.layout, err)
		}
		if r.Layout != "tokens" || r.RawW != 8 || r.RawH != 8 {
			t.Errorf("card %q, layout %q: layout %q, raw %d×%d", c.card, c.layout, r.Layout, r.RawW, r.RawH)
		}
		if d := maxDiff(r.Map, want); d > 2e-3 {
			t.Errorf("card %q, layout %q: max difference from pytorch-grad-cam %g", c.card, c.layout, d)
		}
	}
	_, err := NewEngine().LoadModel(data, &card.Card{LayerLayout: "columns"})
	if err == nil || !strings.Contains(err.Error(), `layer_layout "columns" is not one of auto, nchw, nhwc, tokens`) || !errors.Is(err, card.ErrBadCard) {
		t.Errorf("a card with layer_layout columns: %v", err)
	}
}
