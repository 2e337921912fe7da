package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestErfGelu(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	x := randT(rng, -3, 3, 3, 7)
	for _, tc := range []struct {
		op  string
		a   MapAttrs
		ref func(float64) float64
	}{
		{"Erf", nil, math.Erf},
		{"Gelu", nil, func(v float64) float64 { return v * 0.5 * (1 + math.Erf(v/math.Sqrt2)) }},
		{"Gelu", MapAttrs{"approximate": "tanh"}, func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		}},
	} {
		op := nnOp(t, tc.op, tc.a)
		want := tensor.New(x.Shape()...)
		for i, v := range x.F32() {
			want.F32()[i] = float32(tc.ref(float64(v)))
		}
		nnClose(t, tc.op, nnForward(t, op, x)[0], want, 1e-6)
		checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-3, 1e-3)
	}
	if _, err := New("Gelu", MapAttrs{"approximate": "fast"}, 20); err == nil {
		t.Errorf("an unknown approximation must be refused")
	}
}
