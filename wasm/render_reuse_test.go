package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// With ReusePictures the engine draws each overlay into the previous one
// and gives the same pictures as an engine that draws new ones.
func TestRenderReusePictures(t *testing.T) {
	fresh, info := loadTiny(t, nil)
	reuse, _ := loadTiny(t, nil)
	reuse.ReusePictures = true
	x := readF32(t, filepath.Join(tiny, "raw", "input.f32"))
	a, err := fresh.InputTensor(info.ID, x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := reuse.InputTensor(info.ID, x)
	if err != nil {
		t.Fatal(err)
	}
	var last []uint8
	for i, req := range []CAMRequest{
		{Method: "gradcam", Class: 3}, {Method: "hirescam", Class: 5}, {Method: "eigencam", Class: 5}, {Method: "gradcampp", Class: 1},
	} {
		req.Layer = "/relu3/Relu_output_0"
		cm := []string{"jet", "turbo"}[i%2]
		req.Input = a.ID
		if _, err := fresh.CAM(req); err != nil {
			t.Fatal(err)
		}
		req.Input = b.ID
		if _, err := reuse.CAM(req); err != nil {
			t.Fatal(err)
		}
		wo, wh, wr, err := fresh.Render(a.ID, cm, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		o, h, r, err := reuse.Render(b.ID, cm, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(o.Pix, wo.Pix) || !bytes.Equal(h.Pix, wh.Pix) || !bytes.Equal(r.Pix, wr.Pix) {
			t.Errorf("%s: the pictures differ from new ones", req.Method)
		}
		if last != nil && &o.Pix[0] != &last[0] {
			t.Errorf("%s: the overlay was not drawn into the previous one", req.Method)
		}
		last = o.Pix
	}
}
