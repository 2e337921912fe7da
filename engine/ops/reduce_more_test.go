package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestReduceMore(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	x := randT(rng, 0.2, 1.5, 2, 3, 4) // positive: LogSum is defined
	for i := range x.F32() {
		if i%3 == 0 {
			x.F32()[i] = -x.F32()[i]
		}
	}
	pos := randT(rng, 0.2, 1.5, 2, 3, 4)
	axes := tensor.FromI64([]int64{1}, 1) // opset 18: axes as an input
	for _, tc := range []struct {
		op  string
		in  *tensor.T
		agg func(v []float64) float64
	}{
		{"ReduceL1", x, func(v []float64) (s float64) {
			for _, a := range v {
				s += math.Abs(a)
			}
			return
		}},
		{"ReduceL2", x, func(v []float64) (s float64) {
			for _, a := range v {
				s += a * a
			}
			return math.Sqrt(s)
		}},
		{"ReduceSumSquare", x, func(v []float64) (s float64) {
			for _, a := range v {
				s += a * a
			}
			return
		}},
		{"ReduceLogSum", pos, func(v []float64) (s float64) {
			for _, a := range v {
				s += a
			}
			return math.Log(s)
		}},
		{"ReduceLogSumExp", x, func(v []float64) (s float64) {
			for _, a := range v {
				s += math.Exp(a)
			}
			return math.Log(s)
		}},
		{"ReduceProd", x, func(v []float64) float64 {
			p := 1.0
			for _, a := range v {
				p *= a
			}
			return p
		}},
	} {
		op := nnOp(t, tc.op, MapAttrs{"keepdims": int64(0)})
		out := nnForward(t, op, tc.in, axes)[0]
		want := tensor.New(2, 4)
		for a := 0; a < 2; a++ {
			for c := 0; c < 4; c++ {
				var v []float64
				for b := 0; b < 3; b++ {
					v = append(v, float64(tc.in.F32()[(a*3+b)*4+c]))
				}
				want.F32()[a*4+c] = float32(tc.agg(v))
			}
		}
		nnClose(t, tc.op, out, want, 1e-6)
		checkGrad(t, op, []*tensor.T{tc.in, axes}, []int{0}, 1e-3, 1e-3)
		// The attribute form over all axes.
		all := nnOp(t, tc.op, nil)
		if y := nnForward(t, all, tc.in)[0]; y.Len() != 1 || y.Rank() != 3 {
			t.Errorf("%s over all axes: shape %v", tc.op, y.Shape())
		}
	}
	// ReduceProd with one zero in a group: the gradient there is the
	// product of the others.
	z := tensor.FromF32([]float32{2, 0, 3, 1, 0, 0}, 2, 3)
	op := nnOp(t, "ReduceProd", MapAttrs{"axes": []int64{1}})
	checkGrad(t, op, []*tensor.T{z}, []int{0}, 1e-3, 1e-3)
	g, err := op.Backward([]*tensor.T{z}, nil, []*tensor.T{tensor.FromF32([]float32{1, 1}, 2, 1)}, []bool{true})
	if err != nil || g[0].F32()[1] != 6 || g[0].F32()[4] != 0 {
		t.Errorf("ReduceProd with zeros: gradient %v (%v)", g[0].F32(), err)
	}
}
