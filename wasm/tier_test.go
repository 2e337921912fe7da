package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/internal/testenv"
)

// TestInputFirstMethod sets ResNet-18's input with the method to be
// computed first (the page's setInput message does): the forward pass takes
// that method's precision tier, and a map is the same, bit for bit, however
// the input was set; Grad-CAM runs at the fast tier, saliency at the
// reference tier.
func TestInputFirstMethod(t *testing.T) {
	data := testenv.ReadFile(t, filepath.Join(sharedOracle, "resnet18", "model_bn.onnx"))
	x := readF32(t, filepath.Join(sharedOracle, "resnet18", "raw", "input.f32"))
	e := NewEngine()
	info, err := e.LoadModel(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	firsts := []string{"", "gradcam", "saliency", "ablationcam", "no such method"}
	wantTier := []ops.Tier{ops.TierReference, ops.TierFast, ops.TierReference, ops.TierExact, ops.TierReference}
	ids := make([]int, len(firsts))
	for i, f := range firsts {
		in, err := e.InputTensor(info.ID, x, f)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = in.ID
		if got := e.inputs[in.ID].session.Tier; got != wantTier[i] {
			t.Errorf("first method %q: forward pass at the %v tier, want %v", f, got, wantTier[i])
		}
	}
	for _, c := range []struct {
		method string
		tier   ops.Tier
	}{{"gradcam", ops.TierFast}, {"saliency", ops.TierReference}} {
		var want []float32
		for i, id := range ids {
			r, err := e.CAM(CAMRequest{Input: id, Method: c.method, Class: 281})
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = r.Map
				continue
			}
			for k := range want {
				if math.Float32bits(r.Map[k]) != math.Float32bits(want[k]) {
					t.Errorf("%s: the map of an input set for %q differs from one set for %q at %d", c.method, firsts[i], firsts[0], k)
					break
				}
			}
		}
		s, err := e.inputs[ids[0]].session.AtTier(c.tier)
		if err != nil || s.Tier != c.tier {
			t.Errorf("%s: no session at the %v tier (%v)", c.method, c.tier, err)
		}
	}
}
