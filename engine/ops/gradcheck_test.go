package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// randT returns a float32 tensor with values uniform in [lo, hi).
func randT(rng *rand.Rand, lo, hi float32, shape ...int) *tensor.T {
	t := tensor.New(shape...)
	for k := range t.F32() {
		t.F32()[k] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// objective is L = Σ_k Σ_i r_k[i]·out_k[i] over the op's float outputs, with
// fixed random weights r, so that every output element's gradient matters.
func objective(t *testing.T, op Op, in []*tensor.T, r [][]float32) float64 {
	t.Helper()
	out, err := op.Forward(in)
	if err != nil {
		t.Fatalf("%s forward: %v", op.Type(), err)
	}
	var s float64
	for k, o := range out {
		if k >= len(r) || r[k] == nil || o.DType() != tensor.Float32 {
			continue
		}
		for i, v := range o.F32() {
			s += float64(r[k][i]) * float64(v)
		}
	}
	return s
}

// checkGrad compares op.Backward with central finite differences for every
// input listed in wrt. Inputs should keep away from kinks (ReLU at 0, ties in
// max-pooling) by more than eps. tol is relative to the largest gradient.
func checkGrad(t *testing.T, op Op, in []*tensor.T, wrt []int, eps, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewSource(7))
	out, err := op.Forward(in)
	if err != nil {
		t.Fatalf("%s forward: %v", op.Type(), err)
	}
	r := make([][]float32, len(out))
	gradOut := make([]*tensor.T, len(out))
	for k, o := range out {
		if o.DType() != tensor.Float32 {
			continue
		}
		g := randT(rng, -1, 1, o.Shape()...)
		r[k] = g.F32()
		gradOut[k] = g
	}
	need := make([]bool, len(in))
	for _, w := range wrt {
		need[w] = true
	}
	grads, err := op.Backward(in, out, gradOut, need)
	if err != nil {
		t.Fatalf("%s backward: %v", op.Type(), err)
	}
	if len(grads) != len(in) {
		t.Fatalf("%s backward: %d grads for %d inputs", op.Type(), len(grads), len(in))
	}
	for _, w := range wrt {
		g := grads[w]
		if g == nil {
			t.Fatalf("%s backward: no gradient for input %d", op.Type(), w)
		}
		if !tensor.SameShape(g.Shape(), in[w].Shape()) {
			t.Fatalf("%s backward: grad %d shape %v, input %v", op.Type(), w, g.Shape(), in[w].Shape())
		}
		x := in[w].F32()
		num := make([]float64, len(x))
		maxAbs := 1e-6
		for i := range x {
			orig := x[i]
			x[i] = orig + float32(eps)
			lp := objective(t, op, in, r)
			x[i] = orig - float32(eps)
			lm := objective(t, op, in, r)
			x[i] = orig
			num[i] = (lp - lm) / (2 * eps)
			maxAbs = math.Max(maxAbs, math.Abs(num[i]))
		}
		for i := range x {
			if d := math.Abs(float64(g.F32()[i]) - num[i]); d > tol*maxAbs {
				t.Fatalf("%s: d/d input %d [%d]: backward %g, finite difference %g (max %g)", op.Type(), w, i, g.F32()[i], num[i], maxAbs)
			}
		}
	}
}
