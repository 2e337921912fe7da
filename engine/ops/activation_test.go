package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// awayFrom returns a random tensor in [lo, hi) whose values keep at least
// 0.05 from each kink.
func awayFrom(rng *rand.Rand, lo, hi float32, kinks []float32, shape ...int) *tensor.T {
	x := randT(rng, lo, hi, shape...)
	for i, v := range x.F32() {
		for _, k := range kinks {
			if d := v - k; d > -0.05 && d < 0.05 {
				if d < 0 {
					v = k - 0.1
				} else {
					v = k + 0.1
				}
			}
		}
		x.F32()[i] = v
	}
	return x
}

func TestActivationsForward(t *testing.T) {
	xs := []float32{-4, -2, -0.5, 0, 0.5, 2, 4}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	cases := []struct {
		op    string
		attrs MapAttrs
		f     func(v float64) float64
	}{
		{"Relu", nil, func(v float64) float64 { return math.Max(v, 0) }},
		{"LeakyRelu", nil, func(v float64) float64 {
			if v < 0 {
				return 0.01 * v
			}
			return v
		}},
		{"LeakyRelu", MapAttrs{"alpha": float32(0.2)}, func(v float64) float64 {
			if v < 0 {
				return 0.2 * v
			}
			return v
		}},
		{"Sigmoid", nil, sig},
		{"HardSigmoid", nil, func(v float64) float64 { return math.Max(0, math.Min(1, 0.2*v+0.5)) }},
		{"HardSigmoid", MapAttrs{"alpha": float32(1.0 / 6), "beta": float32(0.5)}, func(v float64) float64 { return math.Max(0, math.Min(1, v/6+0.5)) }},
		{"HardSwish", nil, func(v float64) float64 { return v * math.Max(0, math.Min(1, v/6+0.5)) }},
		{"Tanh", nil, math.Tanh},
		{"Exp", nil, math.Exp},
		{"Neg", nil, func(v float64) float64 { return -v }},
		{"Abs", nil, math.Abs},
	}
	for _, c := range cases {
		op := bcOp(t, c.op, c.attrs, 13)
		want := make([]float32, len(xs))
		for i, v := range xs {
			want[i] = float32(c.f(float64(v)))
		}
		bcWantF(t, bcRun(t, op, bcF(append([]float32(nil), xs...), 7))[0], []int{7}, want)
	}
	sqrt := bcOp(t, "Sqrt", nil, 13)
	bcWantF(t, bcRun(t, sqrt, bcF([]float32{0, 1, 4, 2}, 2, 2))[0], []int{2, 2}, []float32{0, 1, 2, float32(math.Sqrt2)})

	// int64 Neg, Abs.
	bcWantI(t, bcRun(t, bcOp(t, "Neg", nil, 13), bcI([]int64{1, -2}, 2))[0], []int{2}, []int64{-1, 2})
	bcWantI(t, bcRun(t, bcOp(t, "Abs", nil, 13), bcI([]int64{1, -2}, 2))[0], []int{2}, []int64{1, 2})
	bcFails(t, bcOp(t, "Sigmoid", nil, 13), bcI([]int64{1}, 1))
}

func TestActivationsGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	cases := []struct {
		op    string
		attrs MapAttrs
		lo    float32
		hi    float32
		kinks []float32
	}{
		{"Relu", nil, -3, 3, []float32{0}},
		{"LeakyRelu", nil, -3, 3, []float32{0}},
		{"LeakyRelu", MapAttrs{"alpha": float32(0.3)}, -3, 3, []float32{0}},
		{"Sigmoid", nil, -4, 4, nil},
		{"HardSigmoid", nil, -4, 4, []float32{-2.5, 2.5}},
		{"HardSwish", nil, -5, 5, []float32{-3, 3}},
		{"Tanh", nil, -2, 2, nil},
		{"Exp", nil, -2, 2, nil},
		{"Sqrt", nil, 0.5, 4, nil},
		{"Neg", nil, -2, 2, nil},
		{"Abs", nil, -2, 2, []float32{0}},
	}
	for _, c := range cases {
		op := bcOp(t, c.op, c.attrs, 13)
		x := awayFrom(rng, c.lo, c.hi, c.kinks, 2, 3, 4)
		checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-2)
	}
}

func TestReluBackwardUsesInput(t *testing.T) {
	relu := bcOp(t, "Relu", nil, 13)
	x := bcF([]float32{-1, 0, 2}, 3)
	out := bcRun(t, relu, x)
	g, err := relu.Backward([]*tensor.T{x}, out, []*tensor.T{bcF([]float32{5, 6, 7}, 3)}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	bcWantF(t, g[0], []int{3}, []float32{0, 0, 7})
	g, _ = relu.Backward([]*tensor.T{x}, out, []*tensor.T{bcF([]float32{5, 6, 7}, 3)}, []bool{false})
	if g[0] != nil {
		t.Fatal("Relu backward computed an unwanted gradient")
	}
}

func TestClip(t *testing.T) {
	x := bcF([]float32{-3, -1, 0, 2, 5, 7}, 2, 3)
	// Opset ≥ 11: bounds as inputs, either may be absent or empty.
	c11 := bcOp(t, "Clip", nil, 13)
	bcWantF(t, bcRun(t, c11, x, bcF([]float32{0}), bcF([]float32{6}))[0], []int{2, 3}, []float32{0, 0, 0, 2, 5, 6})
	bcWantF(t, bcRun(t, c11, x, nil, bcF([]float32{1}))[0], []int{2, 3}, []float32{-3, -1, 0, 1, 1, 1})
	bcWantF(t, bcRun(t, c11, x, bcF([]float32{-1}))[0], []int{2, 3}, []float32{-1, -1, 0, 2, 5, 7})
	bcWantF(t, bcRun(t, c11, x, bcF(nil, 0), bcF([]float32{2}))[0], []int{2, 3}, []float32{-3, -1, 0, 2, 2, 2})
	bcWantF(t, bcRun(t, c11, x)[0], []int{2, 3}, []float32{-3, -1, 0, 2, 5, 7})
	// min > max: everything becomes max.
	bcWantF(t, bcRun(t, c11, x, bcF([]float32{3}), bcF([]float32{1}))[0], []int{2, 3}, []float32{1, 1, 1, 1, 1, 1})
	// Opset < 11: attributes.
	c6 := bcOp(t, "Clip", MapAttrs{"min": float32(0), "max": float32(6)}, 6)
	bcWantF(t, bcRun(t, c6, x)[0], []int{2, 3}, []float32{0, 0, 0, 2, 5, 6})
	c6 = bcOp(t, "Clip", MapAttrs{"max": float32(1)}, 6)
	bcWantF(t, bcRun(t, c6, x)[0], []int{2, 3}, []float32{-3, -1, 0, 1, 1, 1})
	// int64.
	bcWantI(t, bcRun(t, c11, bcI([]int64{-5, 3, 9}, 3), bcI([]int64{0}), bcI([]int64{4}))[0], []int{3}, []int64{0, 3, 4})

	// Backward: strictly inside (lo, hi) only, like PyTorch's hardtanh (ReLU6).
	lo, hi := bcF([]float32{0}), bcF([]float32{6})
	xb := bcF([]float32{-1, 0, 3, 6, 8}, 5)
	out := bcRun(t, c11, xb, lo, hi)
	g, err := c11.Backward([]*tensor.T{xb, lo, hi}, out, []*tensor.T{bcF([]float32{1, 2, 3, 4, 5}, 5)}, []bool{true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	bcWantF(t, g[0], []int{5}, []float32{0, 0, 3, 0, 0})
	bcWantF(t, g[1], []int{}, []float32{3})
	bcWantF(t, g[2], []int{}, []float32{9})

	rng := rand.New(rand.NewSource(12))
	xr := awayFrom(rng, -2, 8, []float32{0, 6}, 3, 4)
	checkGrad(t, c11, []*tensor.T{xr, bcF([]float32{0}), bcF([]float32{6})}, []int{0, 1, 2}, 1e-2, 1e-2)
	checkGrad(t, c11, []*tensor.T{xr, nil, bcF([]float32{6})}, []int{0, 2}, 1e-2, 1e-2)
	checkGrad(t, c6, []*tensor.T{awayFrom(rng, -2, 3, []float32{1}, 3, 4)}, []int{0}, 1e-2, 1e-2)
}

func TestBackwardWithoutKeptOutput(t *testing.T) {
	// Sigmoid, Tanh, Exp, Sqrt and Softmax use the forward output; when the
	// caller does not pass it, they recompute it.
	rng := rand.New(rand.NewSource(13))
	x := randT(rng, 0.5, 2, 2, 5)
	gy := []*tensor.T{randT(rng, -1, 1, 2, 5)}
	for _, name := range []string{"Sigmoid", "Tanh", "Exp", "Sqrt", "Softmax", "LogSoftmax"} {
		op := bcOp(t, name, nil, 13)
		out := bcRun(t, op, x)
		want, err := op.Backward([]*tensor.T{x}, out, gy, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.Backward([]*tensor.T{x}, nil, gy, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		bcWantF(t, got[0], x.Shape(), want[0].F32())
	}
}

// Relu is max(x, 0) exactly: NaN stays NaN and −0 becomes +0.
func TestReluSpecialValues(t *testing.T) {
	nan, negZero := float32(math.NaN()), float32(math.Copysign(0, -1))
	x := []float32{nan, negZero, -1, 2, float32(math.Inf(1)), float32(math.Inf(-1))}
	// Every length up to three unrolled blocks plus a remainder.
	rng := rand.New(rand.NewSource(8))
	for len(x) < 29 {
		x = append(x, x[rng.Intn(6)], float32(rng.NormFloat64()))
	}
	y := make([]float32, len(x))
	reluF(x, y)
	// The backward pass: the gradient where x > 0, elsewhere 0 (whatever gx held).
	gy, gx := make([]float32, len(x)), make([]float32, len(x))
	for i := range gy {
		gy[i], gx[i] = float32(i+1), -float32(i+1)
	}
	reluB(x, nil, gy, gx)
	for i, v := range x {
		if want := map[bool]float32{true: gy[i], false: 0}[v > 0]; math.Float32bits(gx[i]) != math.Float32bits(want) {
			t.Errorf("relu backward at %v: %v, want %v", v, gx[i], want)
		}
	}
	for i, v := range x {
		want := max(v, 0)
		if math.Float32bits(y[i]) != math.Float32bits(want) && !(want != want && y[i] != y[i]) {
			t.Errorf("relu(%v) = %v (bits %08x), want %v (bits %08x)", v, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
		}
	}
}

// TestClipF32 checks the fast clip against Go's min(max(x, lo), hi) bit for
// bit, on both zeros, NaN, infinities, the bounds themselves and crossed
// bounds.
func TestClipF32(t *testing.T) {
	nz := float32(math.Copysign(0, -1))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	xs := []float32{0, nz, nan, inf, -inf, 1, -1, 6, 6.0000005, 5.9999995, 3, -7, 1e-40, -1e-40}
	for _, b := range [][2]float32{{0, 6}, {nz, 6}, {-1, 1}, {0, 0}, {nz, nz}, {0, nz}, {nz, 0}, {2, 1}, {-inf, inf}, {0, inf}, {nan, 1}, {0, nan}} {
		y := make([]float32, len(xs))
		clipF32(xs, y, b[0], b[1])
		for i, x := range xs {
			want := min(max(x, b[0]), b[1])
			if math.Float32bits(y[i]) != math.Float32bits(want) && !(y[i] != y[i] && want != want) {
				t.Errorf("clip(%v, %v, %v) = %v, want %v", x, b[0], b[1], y[i], want)
			}
		}
	}
}
