package ops

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// normRef normalises x viewed as rows of d values in float64, then
// multiplies by scale[c(i)] and adds bias[c(i)], c(i) mapping a flat index
// to its affine parameter.
func normRef(x []float32, d int, eps float64, scale, bias []float32, c func(i int) int) []float32 {
	y := make([]float32, len(x))
	for r := 0; r < len(x)/d; r++ {
		var s, q float64
		for _, v := range x[r*d : (r+1)*d] {
			s += float64(v)
		}
		mu := s / float64(d)
		for _, v := range x[r*d : (r+1)*d] {
			q += (float64(v) - mu) * (float64(v) - mu)
		}
		sd := math.Sqrt(q/float64(d) + eps)
		for i := r * d; i < (r+1)*d; i++ {
			y[i] = float32((float64(x[i])-mu)/sd*float64(scale[c(i)]) + float64(bias[c(i)]))
		}
	}
	return y
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, tc := range []struct {
		shape []int
		axis  int
	}{{[]int{2, 3, 4}, -1}, {[]int{2, 3, 4}, 1}, {[]int{5, 6}, 0}} {
		op := nnOp(t, "LayerNormalization", MapAttrs{"axis": int64(tc.axis), "epsilon": float32(1e-3)})
		a := tc.axis
		if a < 0 {
			a += len(tc.shape)
		}
		d := tensor.Size(tc.shape[a:])
		x := randT(rng, -2, 2, tc.shape...)
		scale, bias := randT(rng, 0.5, 1.5, tc.shape[a:]...), randT(rng, -0.5, 0.5, tc.shape[a:]...)
		out := nnForward(t, op, x, scale, bias)
		want := normRef(x.F32(), d, 1e-3, scale.F32(), bias.F32(), func(i int) int { return i % d })
		nnClose(t, "LayerNormalization", out[0], tensor.FromF32(want, tc.shape...), 1e-5)
		if len(out) != 3 || out[1].Len() != x.Len()/d || out[2].Rank() != len(tc.shape) {
			t.Fatalf("LayerNormalization statistics: %d outputs", len(out))
		}
		checkGrad(t, op, []*tensor.T{x, scale, bias}, []int{0, 1, 2}, 1e-2, 1e-2)
	}
	// A scale broadcast along the normalised axes, and no bias.
	op := nnOp(t, "LayerNormalization", MapAttrs{"axis": int64(1)})
	x, scale := randT(rng, -2, 2, 2, 3, 4), randT(rng, 0.5, 1.5, 1, 4)
	checkGrad(t, op, []*tensor.T{x, scale}, []int{0, 1}, 1e-2, 1e-2)
	if _, err := op.Forward([]*tensor.T{x, randT(rng, 0, 1, 5)}); err == nil {
		t.Errorf("a scale of the wrong size must be refused")
	}
}

func TestInstanceAndGroupNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	x := randT(rng, -2, 2, 2, 4, 3, 3)
	sc, bi := randT(rng, 0.5, 1.5, 4), randT(rng, -0.5, 0.5, 4)
	op := nnOp(t, "InstanceNormalization", MapAttrs{"epsilon": float32(1e-4)})
	want := normRef(x.F32(), 9, 1e-4, sc.F32(), bi.F32(), func(i int) int { return i / 9 % 4 })
	nnClose(t, "InstanceNormalization", nnForward(t, op, x, sc, bi)[0], tensor.FromF32(want, x.Shape()...), 1e-5)
	checkGrad(t, op, []*tensor.T{x, sc, bi}, []int{0, 1, 2}, 1e-2, 1e-2)

	// Opset 21: two groups of two channels, scale and bias per channel.
	op, err := New("GroupNormalization", MapAttrs{"num_groups": int64(2)}, 21)
	if err != nil {
		t.Fatal(err)
	}
	want = normRef(x.F32(), 18, 1e-5, sc.F32(), bi.F32(), func(i int) int { return i / 9 % 4 })
	nnClose(t, "GroupNormalization", nnForward(t, op, x, sc, bi)[0], tensor.FromF32(want, x.Shape()...), 1e-5)
	checkGrad(t, op, []*tensor.T{x, sc, bi}, []int{0, 1, 2}, 1e-2, 1e-2)

	// Opset 18: scale and bias per group.
	op, err = New("GroupNormalization", MapAttrs{"num_groups": int64(2)}, 18)
	if err != nil {
		t.Fatal(err)
	}
	sg, bg := randT(rng, 0.5, 1.5, 2), randT(rng, -0.5, 0.5, 2)
	want = normRef(x.F32(), 18, 1e-5, sg.F32(), bg.F32(), func(i int) int { return i / 18 % 2 })
	nnClose(t, "GroupNormalization-18", nnForward(t, op, x, sg, bg)[0], tensor.FromF32(want, x.Shape()...), 1e-5)
	checkGrad(t, op, []*tensor.T{x, sg, bg}, []int{0, 1, 2}, 1e-2, 1e-2)
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 1, 3, 2, 2), sg, bg}); err == nil {
		t.Errorf("3 channels in 2 groups must be refused")
	}
}

func TestRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	x, scale := randT(rng, -2, 2, 2, 3, 4), randT(rng, 0.5, 1.5, 3, 4)
	op := nnOp(t, "RMSNormalization", MapAttrs{"axis": int64(1), "epsilon": float32(1e-3)})
	y := nnForward(t, op, x, scale)[0]
	for r := 0; r < 2; r++ {
		var q float64
		for i := 0; i < 12; i++ {
			v := float64(x.F32()[r*12+i])
			q += v * v
		}
		rms := math.Sqrt(q/12 + 1e-3)
		for i := 0; i < 12; i++ {
			want := float64(x.F32()[r*12+i]) / rms * float64(scale.F32()[i])
			if math.Abs(float64(y.F32()[r*12+i])-want) > 1e-5 {
				t.Fatalf("RMSNormalization[%d] = %g, want %g", r*12+i, y.F32()[r*12+i], want)
			}
		}
	}
	checkGrad(t, op, []*tensor.T{x, scale}, []int{0, 1}, 1e-2, 1e-2)
	if _, err := op.Forward([]*tensor.T{x, randT(rng, 0, 1, 5)}); err == nil || !strings.Contains(err.Error(), "RMSNormalization") {
		t.Errorf("a scale of the wrong size: %v", err)
	}
}
