package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// The worker's engine passes the attribution parameters through and
// returns the attribution (C×H×W) and the convergence delta: Captum's
// numbers on the oracle's tinycnn-ext.
func TestCAMCaptum(t *testing.T) {
	ext := filepath.Join(sharedOracle, "tinycnn-ext")
	e := NewEngine()
	info, err := e.LoadModel(testenv.ReadFile(t, filepath.Join(ext, "model.onnx")), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.InputTensor(info.ID, readF32(t, filepath.Join(ext, "raw", "input.f32")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, key string
		attr        AttrParams
	}{
		{"occlusion", "captum.occlusion", AttrParams{Window: 4, Stride: 2}},
		{"featureablation", "captum.feature_ablation", AttrParams{Superpixel: 4}},
		{"integrated-gradients", "captum.integrated_gradients", AttrParams{Steps: 32}},
		{"deeplift", "captum.deeplift", AttrParams{}},
		{"lrp", "captum.lrp", AttrParams{}},
	} {
		r, err := e.CAM(CAMRequest{Input: in.ID, Method: c.method, Class: 3, Attr: c.attr})
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		want := readF32(t, filepath.Join(ext, "raw", c.key+".f32"))
		var scale float64
		for _, v := range want {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		if len(r.Attr) != len(want) {
			t.Fatalf("%s: attribution of %d values, want %d", c.method, len(r.Attr), len(want))
		}
		if d := maxDiff(r.Attr, want) / scale; d > 1e-3 {
			t.Errorf("%s: max difference %.3g of the largest value", c.method, d)
		}
		if (c.method == "occlusion" || c.method == "featureablation") != (r.Delta == nil) {
			t.Errorf("%s: delta %v", c.method, r.Delta)
		}
		if len(r.Map) != 32*32 {
			t.Errorf("%s: map of %d values", c.method, len(r.Map))
		}
	}
	if _, err := e.CAM(CAMRequest{Input: in.ID, Method: "occlusion", Attr: AttrParams{Window: -1}}); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("negative window: %v", err)
	}
	// Layer methods give no attribution.
	if r, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: 3}); err != nil || r.Attr != nil {
		t.Errorf("gradcam: attribution %d values, error %v", len(r.Attr), err)
	}
}
