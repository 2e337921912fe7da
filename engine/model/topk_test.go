package model

import (
	"math"
	"testing"
)

func TestTopK(t *testing.T) {
	r := TopK([]float32{1, 3, 2, 3}, 3)
	if len(r) != 3 || r[0].Class != 1 || r[1].Class != 3 || r[2].Class != 2 {
		t.Fatalf("order: %+v", r)
	}
	e := math.Exp
	want := e(3) / (e(1) + 2*e(3) + e(2))
	if math.Abs(r[0].Prob-want) > 1e-12 || r[0].Logit != 3 {
		t.Errorf("top prob %g, want %g", r[0].Prob, want)
	}
	if n := len(TopK([]float32{1, 2}, 5)); n != 2 {
		t.Errorf("k larger than the classes: %d", n)
	}
}
