package cam

import (
	"math"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestLoadedWeightsUntouched: a loaded model's weights are frozen
// (tensor.T.Freeze), so Convs keep them packed without checking them for
// changes; that is right only if no method writes to them. Every method,
// at the model's suggested layer with its defaults (and the aug and eigen
// smoothing), must leave each weight's bits as they were, and every weight
// must be frozen.
func TestLoadedWeightsUntouched(t *testing.T) {
	l := load(t, "tinycnn-ext", "model.onnx")
	before := map[string][]float32{}
	for name, c := range l.m.Graph.Consts {
		if !c.Frozen() {
			t.Errorf("weight %q of a loaded model is not frozen", name)
		}
		if c.DType() == tensor.Float32 {
			before[name] = append([]float32(nil), c.F32()...)
		}
	}
	if len(before) == 0 {
		t.Fatal("the model has no float weights")
	}
	ran := 0
	for _, m := range Methods() {
		for _, req := range []Request{
			{Method: m, Samples: 3, Steps: 4, BatchSize: 4},
			{Method: m, Samples: 3, Steps: 4, BatchSize: 4, AugSmooth: true, EigenSmooth: true, FastTier: true},
		} {
			s, err := NewSession(l.m, l.input)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Compute(s, req); err != nil {
				t.Logf("%s: %v", m, err)
				continue
			}
			ran++
		}
	}
	if ran < len(Methods()) {
		t.Errorf("only %d requests of %d methods ran", ran, len(Methods()))
	}
	for name, want := range before {
		got := l.m.Graph.Consts[name].F32()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("weight %q [%d] changed from %v to %v", name, i, want[i], got[i])
			}
		}
	}
}
