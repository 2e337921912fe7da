package ops

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestMathUnary(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	x := randT(rng, -3, 3, 4, 5)
	pos := randT(rng, 0.5, 3, 4, 5)
	for _, tc := range []struct {
		op     string
		a      MapAttrs
		in     *tensor.T
		ref    func(float64) float64
		smooth bool // differentiable: finite-difference check
	}{
		{"Reciprocal", nil, pos, func(v float64) float64 { return 1 / v }, true},
		{"Log", nil, pos, math.Log, true},
		{"Sin", nil, x, math.Sin, true},
		{"Cos", nil, x, math.Cos, true},
		{"Softplus", nil, x, func(v float64) float64 { return math.Log(1 + math.Exp(v)) }, true},
		{"Softsign", nil, x, func(v float64) float64 { return v / (1 + math.Abs(v)) }, true},
		{"Mish", nil, x, func(v float64) float64 { return v * math.Tanh(math.Log(1+math.Exp(v))) }, true},
		{"Swish", MapAttrs{"alpha": float32(1.5)}, x, func(v float64) float64 { return v / (1 + math.Exp(-1.5*v)) }, true},
		{"Elu", MapAttrs{"alpha": float32(0.5)}, x, func(v float64) float64 {
			if v > 0 {
				return v
			}
			return 0.5 * (math.Exp(v) - 1)
		}, true},
		{"Selu", nil, x, func(v float64) float64 {
			if v > 0 {
				return 1.0507009873554805 * v
			}
			return 1.0507009873554805 * 1.6732632423543772 * (math.Exp(v) - 1)
		}, true},
		{"Celu", MapAttrs{"alpha": float32(2)}, x, func(v float64) float64 { return math.Max(0, v) + math.Min(0, 2*(math.Exp(v/2)-1)) }, true},
		{"Tan", nil, tensor.FromF32([]float32{-1, -0.3, 0.2, 1.1}, 4), math.Tan, true},
		{"Sinh", nil, x, math.Sinh, true},
		{"Cosh", nil, x, math.Cosh, true},
		{"Asin", nil, tensor.FromF32([]float32{-0.8, -0.3, 0.2, 0.7}, 4), math.Asin, true},
		{"Acos", nil, tensor.FromF32([]float32{-0.8, -0.3, 0.2, 0.7}, 4), math.Acos, true},
		{"Atan", nil, x, math.Atan, true},
		{"Asinh", nil, x, math.Asinh, true},
		{"Acosh", nil, tensor.FromF32([]float32{1.2, 2, 3.5}, 3), math.Acosh, true},
		{"Atanh", nil, tensor.FromF32([]float32{-0.8, -0.3, 0.2, 0.7}, 4), math.Atanh, true},
		{"ThresholdedRelu", MapAttrs{"alpha": float32(0.5)}, x, func(v float64) float64 {
			if v > 0.5 {
				return v
			}
			return 0
		}, true},
		{"Shrink", MapAttrs{"bias": float32(0.25), "lambd": float32(0.7)}, x, func(v float64) float64 {
			switch {
			case v < -0.7:
				return v + 0.25
			case v > 0.7:
				return v - 0.25
			}
			return 0
		}, true},
		{"Floor", nil, x, math.Floor, false},
		{"Ceil", nil, x, math.Ceil, false},
		{"Round", nil, tensor.FromF32([]float32{0.5, 1.5, 2.5, -0.5, -1.7}, 5), math.RoundToEven, false},
		{"Sign", nil, tensor.FromF32([]float32{-2, 0, 3}, 3), func(v float64) float64 {
			if v == 0 {
				return 0
			}
			return math.Copysign(1, v)
		}, false},
	} {
		op := nnOp(t, tc.op, tc.a)
		want := tensor.New(tc.in.Shape()...)
		for i, v := range tc.in.F32() {
			want.F32()[i] = float32(tc.ref(float64(v)))
		}
		nnClose(t, tc.op, nnForward(t, op, tc.in)[0], want, 1e-6)
		if tc.smooth {
			checkGrad(t, op, []*tensor.T{tc.in}, []int{0}, 1e-3, 1e-3)
		} else {
			g, err := op.Backward([]*tensor.T{tc.in}, nil, []*tensor.T{randT(rng, -1, 1, tc.in.Shape()...)}, []bool{true})
			if err != nil || slices.ContainsFunc(g[0].F32(), func(v float32) bool { return v != 0 }) {
				t.Errorf("%s: gradient must be 0 (%v)", tc.op, err)
			}
		}
	}
}

func TestPReluMinMaxSize(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	x, slope := randT(rng, -1, 1, 2, 3, 4), randT(rng, 0, 0.5, 3, 1)
	op := nnOp(t, "PRelu", nil)
	out := nnForward(t, op, x, slope)[0]
	for i, v := range x.F32() {
		want := v
		if v < 0 {
			want = v * slope.F32()[i/4%3]
		}
		if out.F32()[i] != want {
			t.Fatalf("PRelu[%d] = %g, want %g", i, out.F32()[i], want)
		}
	}
	checkGrad(t, op, []*tensor.T{x, slope}, []int{0, 1}, 1e-3, 1e-3)

	a, b, c := randT(rng, -1, 1, 2, 3), randT(rng, -1, 1, 3), randT(rng, -1, 1, 2, 1)
	for _, name := range []string{"Min", "Max"} {
		op := nnOp(t, name, nil)
		out := nnForward(t, op, a, b, c)[0]
		for i, v := range out.F32() {
			vs := []float32{a.F32()[i], b.F32()[i%3], c.F32()[i/3]}
			want := slices.Min(vs)
			if name == "Max" {
				want = slices.Max(vs)
			}
			if v != want {
				t.Fatalf("%s[%d] = %g, want %g", name, i, v, want)
			}
		}
		checkGrad(t, op, []*tensor.T{a, b, c}, []int{0, 1, 2}, 1e-3, 1e-3)
	}
	// Ties share the gradient.
	g, err := nnOp(t, "Max", nil).Backward([]*tensor.T{tensor.Scalar(1), tensor.Scalar(1)}, nil, []*tensor.T{tensor.Scalar(1)}, []bool{true, true})
	if err != nil || g[0].F32()[0] != 0.5 || g[1].F32()[0] != 0.5 {
		t.Errorf("Max tie: gradients %v %v (%v)", g[0], g[1], err)
	}
	if got := nnForward(t, nnOp(t, "Size", nil), x)[0]; got.I64()[0] != 24 || got.Rank() != 0 {
		t.Errorf("Size: %v", got.I64())
	}
}

func TestIsNaNIsInf(t *testing.T) {
	inf := float32(math.Inf(1))
	x := tensor.FromF32([]float32{1, float32(math.NaN()), inf, -inf}, 4)
	for _, tc := range []struct {
		op   string
		a    MapAttrs
		want []int64
	}{
		{"IsNaN", nil, []int64{0, 1, 0, 0}},
		{"IsInf", nil, []int64{0, 0, 1, 1}},
		{"IsInf", MapAttrs{"detect_negative": int64(0)}, []int64{0, 0, 1, 0}},
	} {
		if got := nnForward(t, nnOp(t, tc.op, tc.a), x)[0].I64(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: %v, want %v", tc.op, tc.a, got, tc.want)
		}
	}
}
