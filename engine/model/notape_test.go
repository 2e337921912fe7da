package model

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Passes without a tape recycle their buffers (package graph); on the
// oracle's models they must give the taped pass's logits and kept layer
// bit for bit, pass after pass, and leave what an earlier pass returned
// untouched.
func TestNoTapeSameBits(t *testing.T) {
	for _, c := range []struct{ name, file string }{{"resnet18", "model_bn.onnx"}, {"tinycnn", "model.onnx"}} {
		t.Run(c.name, func(t *testing.T) {
			o := loadOracle(t, c.name)
			m, err := LoadFile(filepath.Join(o.Dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			shape, err := m.ConcreteInputShape(1)
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.FromF32(ref(t, o, "input"), shape...)
			layer, err := m.SuggestedLayer()
			if err != nil {
				t.Fatal(err)
			}
			taped, err := m.Forward(x, nil)
			if err != nil {
				t.Fatal(err)
			}
			same := func(what string, got, want *tensor.T) {
				t.Helper()
				if got == nil || got.Len() != want.Len() {
					t.Fatalf("%s: got %v, want %v", what, got, want)
				}
				for i, w := range want.F32() {
					if g := got.F32()[i]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s: element %d is %v, the taped pass has %v", what, i, g, w)
					}
				}
			}
			first, err := m.Forward(x, &graph.Options{NoTape: true, Keep: []string{layer}})
			if err != nil {
				t.Fatal(err)
			}
			logits, act := first.Value(m.Output).Clone(), first.Value(layer).Clone()
			for pass := 0; pass < 3; pass++ {
				run, err := m.Forward(x, &graph.Options{NoTape: true, Keep: []string{layer}})
				if err != nil {
					t.Fatal(err)
				}
				same("logits", run.Value(m.Output), taped.Value(m.Output))
				same("kept "+layer, run.Value(layer), taped.Value(layer))
			}
			same("first pass's logits afterwards", first.Value(m.Output), logits)
			same("first pass's "+layer+" afterwards", first.Value(layer), act)
			same("first pass's logits", logits, taped.Value(m.Output))
		})
	}
}
