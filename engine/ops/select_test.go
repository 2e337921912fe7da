package ops

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestTopK(t *testing.T) {
	x := tensor.FromF32([]float32{3, 1, 3, 2, 5, 0, 4, 4}, 2, 4)
	op := nnOp(t, "TopK", nil)
	out := nnForward(t, op, x, tensor.FromI64([]int64{2}, 1))
	if !slices.Equal(out[0].F32(), []float32{3, 3, 5, 4}) || !slices.Equal(out[1].I64(), []int64{0, 2, 0, 2}) {
		t.Errorf("TopK: %v %v", out[0].F32(), out[1].I64())
	}
	small := nnOp(t, "TopK", MapAttrs{"largest": int64(0), "axis": int64(0)})
	out = nnForward(t, small, x, tensor.FromI64([]int64{1}, 1))
	if !slices.Equal(out[0].F32(), []float32{3, 0, 3, 2}) || !slices.Equal(out[1].I64(), []int64{0, 1, 0, 0}) {
		t.Errorf("TopK smallest: %v %v", out[0].F32(), out[1].I64())
	}
	rng := rand.New(rand.NewSource(23))
	checkGrad(t, op, []*tensor.T{randT(rng, -1, 1, 3, 5), tensor.FromI64([]int64{3}, 1)}, []int{0}, 1e-3, 1e-3)
	if _, err := op.Forward([]*tensor.T{x, tensor.FromI64([]int64{5}, 1)}); err == nil {
		t.Errorf("k larger than the axis must be refused")
	}
}

func TestHardmaxTriluOneHot(t *testing.T) {
	x := tensor.FromF32([]float32{1, 3, 3, 0, -1, 2}, 2, 3)
	if got := nnForward(t, nnOp(t, "Hardmax", nil), x)[0].F32(); !slices.Equal(got, []float32{0, 1, 0, 0, 0, 1}) {
		t.Errorf("Hardmax: %v", got)
	}
	m := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
	for _, tc := range []struct {
		a    MapAttrs
		k    int64
		want []float32
	}{
		{nil, 0, []float32{1, 2, 3, 0, 5, 6, 0, 0, 9}},
		{nil, 1, []float32{0, 2, 3, 0, 0, 6, 0, 0, 0}},
		{MapAttrs{"upper": int64(0)}, -1, []float32{0, 0, 0, 4, 0, 0, 7, 8, 0}},
	} {
		op := nnOp(t, "Trilu", tc.a)
		if got := nnForward(t, op, m, tensor.FromI64([]int64{tc.k}))[0].F32(); !slices.Equal(got, tc.want) {
			t.Errorf("Trilu %v k=%d: %v", tc.a, tc.k, got)
		}
		rng := rand.New(rand.NewSource(24))
		checkGrad(t, op, []*tensor.T{randT(rng, -1, 1, 2, 3, 3), tensor.FromI64([]int64{tc.k})}, []int{0}, 1e-2, 1e-3)
	}
	oh := nnForward(t, nnOp(t, "OneHot", nil), tensor.FromI64([]int64{0, 2, -1, 5}, 4), tensor.FromI64([]int64{3}), tensor.FromF32([]float32{-1, 1}, 2))[0]
	if !slices.Equal(oh.Shape(), []int{4, 3}) || !slices.Equal(oh.F32(), []float32{1, -1, -1, -1, -1, 1, -1, -1, 1, -1, -1, -1}) {
		t.Errorf("OneHot: %v %v", oh.Shape(), oh.F32())
	}
}

func TestLRN(t *testing.T) {
	rng := rand.New(rand.NewSource(25))
	x := randT(rng, -2, 2, 2, 5, 3, 2)
	op := nnOp(t, "LRN", MapAttrs{"size": int64(3), "alpha": float32(0.1), "beta": float32(0.75), "bias": float32(2)})
	out := nnForward(t, op, x)[0]
	sp := 6
	for i, v := range x.F32() {
		b, c, p := i/(5*sp), i/sp%5, i%sp
		var q float64
		for k := max(0, c-1); k <= min(4, c+1); k++ {
			u := float64(x.F32()[(b*5+k)*sp+p])
			q += u * u
		}
		want := float64(v) / math.Pow(2+0.1/3*q, 0.75)
		if math.Abs(float64(out.F32()[i])-want) > 1e-5 {
			t.Fatalf("LRN[%d] = %g, want %g", i, out.F32()[i], want)
		}
	}
	checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-3, 1e-3)
	checkGrad(t, nnOp(t, "LRN", MapAttrs{"size": int64(4)}), []*tensor.T{x}, []int{0}, 1e-3, 1e-3)
}
