package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// TestRecycleSessions runs ResNet-18 on a sequence of inputs, each disposed
// of (or evicted) before the next, in an engine that recycles its
// sessions' buffers and in one that does not: the same logits, maps, raw
// maps and attributions bit for bit, at the fast and reference tiers (the
// second tier's session made from the first and released with it), and
// the results handed out for an earlier input unchanged after later inputs
// wrote into its passes' buffers.
func TestRecycleSessions(t *testing.T) {
	data := testenv.ReadFile(t, filepath.Join(sharedOracle, "resnet18", "model_bn.onnx"))
	x := readF32(t, filepath.Join(sharedOracle, "resnet18", "raw", "input.f32"))
	fresh, rec := NewEngine(), NewEngine()
	rec.RecycleSessions = true
	fi, err := fresh.LoadModel(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := rec.LoadModel(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	type held struct {
		what string
		got  []float32 // as handed out
		copy []float32 // its values then
	}
	var earlier []held
	for k := 0; k < 9; k++ {
		xk := append([]float32(nil), x...)
		for i := range xk {
			xk[i] = xk[i]*float32(1+k%3)/2 + float32(k%2)*0.25
		}
		first := []string{"gradcam", "saliency", ""}[k%3]
		fin, err := fresh.InputTensor(fi.ID, xk, first)
		if err != nil {
			t.Fatal(err)
		}
		rin, err := rec.InputTensor(ri.ID, xk, first)
		if err != nil {
			t.Fatal(err)
		}
		same("logits", rin.Logits, fin.Logits)
		if r := rec.inputs[rin.ID].session.Run.Reused(); k%2 == 1 && r == 0 {
			t.Fatalf("input %d: the forward pass reused no buffer of the input disposed of before it", k)
		}
		for _, method := range []string{"gradcam", "saliency"} {
			fr, err := fresh.CAM(CAMRequest{Input: fin.ID, Method: method, Class: 281})
			if err != nil {
				t.Fatal(err)
			}
			rr, err := rec.CAM(CAMRequest{Input: rin.ID, Method: method, Class: 281})
			if err != nil {
				t.Fatal(err)
			}
			same(method+" map", rr.Map, fr.Map)
			same(method+" raw map", rr.Raw, fr.Raw)
			same(method+" attribution", rr.Attr, fr.Attr)
			for _, s := range [][]float32{rr.Map, rr.Raw, rr.Attr} {
				earlier = append(earlier, held{method, s, append([]float32(nil), s...)})
			}
		}
		fresh.DisposeInput(fin.ID)
		if k%2 == 0 { // else the engine evicts it later, past its sixth input
			rec.DisposeInput(rin.ID)
		}
		for _, h := range earlier {
			same("a "+h.what+" result handed out earlier", h.got, h.copy)
		}
	}
}
