package main

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

var tinyExt = filepath.Join(sharedOracle, "tinycnn-ext")

// The page's requests for the newer methods, targets, metrics and DFF give
// pytorch-grad-cam's numbers (tinycnn-ext).
func TestExplainOracle(t *testing.T) {
	e, info := loadTiny(t, nil)
	in, err := e.InputTensor(info.ID, readF32(t, filepath.Join(tinyExt, "raw", "input.f32")))
	if err != nil {
		t.Fatal(err)
	}
	mid, last := "/relu2/Relu_output_0", "/relu3/Relu_output_0"
	alpha := 1.0
	for _, c := range []struct {
		req CAMRequest
		ref string
	}{
		{CAMRequest{Method: "shapleycam", Kind: "rest", Layer: last}, "last.shapleycam_rest.cam"},
		{CAMRequest{Method: "gradcam", Kind: "rest", Layer: mid}, "mid.gradcam_rest.cam"},
		{CAMRequest{Method: "finercam", Layer: last, FinerCompare: []int{0, 4, 1}, FinerAlpha: &alpha}, "last.finercam.cam"},
		{CAMRequest{Method: "fem", Layer: mid, FEMK: 2}, "mid.fem.cam"},
		{CAMRequest{Method: "refinecam", Layer: mid + "," + last}, "refinecam.cam"},
	} {
		c.req.Input, c.req.Class = in.ID, 3
		r, err := e.CAM(c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		if d := maxDiff(r.Map, readF32(t, filepath.Join(tinyExt, "raw", c.ref+".f32"))); d > 2e-3 {
			t.Errorf("%s: max difference %g", c.ref, d)
		}
	}
	m, err := e.Metrics(MetricsRequest{CAMRequest: CAMRequest{Input: in.ID, Method: "gradcam", Layer: last, Class: 3},
		ROADPercentiles: []float64{20, 40, 60, 80}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		got  float32
		ref  string
	}{{"roadCombined", m.ROADCombined, "road0_combined.score"}, {"complexity", m.Complexity, "arcc.complexity"},
		{"coherency", m.Coherency, "arcc.coherency"}, {"arcc", m.ARCC, "arcc0.score"}} {
		want := readF32(t, filepath.Join(tinyExt, "raw", "metric."+c.ref+".f32"))[0]
		if d := math.Abs(float64(c.got - want)); d > 1e-3*math.Abs(float64(want)) {
			t.Errorf("%s = %g, reference %g", c.what, c.got, want)
		}
	}
	d, err := e.DFF(DFFRequest{Input: in.ID, Layer: last, N: 4})
	if err != nil {
		t.Fatal(err)
	}
	ref := readF32(t, filepath.Join(tinyExt, "raw", "dff.rel_error.f32"))[0]
	if d.RelError > float64(ref)*1.02 || len(d.Concepts) != 4 || len(d.Concepts[0].TopClasses) != 3 || len(d.Concepts[0].Map) != 32*32 {
		t.Errorf("DFF: rel error %g (scikit-learn %g), %d concepts", d.RelError, ref, len(d.Concepts))
	}
	if b := d.Overlay.Bounds(); b.Dx() != 2*b.Dy() {
		t.Errorf("DFF overlay %v: want the legend beside the picture", b)
	}
	for _, bad := range []error{
		func() error { _, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Kind: "odds"}); return err }(),
		func() error { _, err := e.CAM(CAMRequest{Input: in.ID, Method: "fem", FEMK: -1}); return err }(),
		func() error { _, err := e.DFF(DFFRequest{Input: in.ID, N: -1}); return err }(),
		func() error {
			_, err := e.Metrics(MetricsRequest{CAMRequest: CAMRequest{Input: in.ID, Method: "gradcam"}, ROADNoise: -1})
			return err
		}(),
	} {
		if bad == nil || !errors.Is(bad, ErrBadRequest) {
			t.Errorf("bad request: error %v, want ErrBadRequest", bad)
		}
	}
}
