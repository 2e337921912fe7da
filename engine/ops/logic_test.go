package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestCompareAndNot(t *testing.T) {
	a := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.FromF32([]float32{2, 2, 4}, 3)
	for op, want := range map[string][]int64{
		"Equal":          {0, 1, 0, 0, 0, 0},
		"Less":           {1, 0, 1, 0, 0, 0},
		"LessOrEqual":    {1, 1, 1, 0, 0, 0},
		"Greater":        {0, 0, 0, 1, 1, 1},
		"GreaterOrEqual": {0, 1, 0, 1, 1, 1},
	} {
		out := nnForward(t, nnOp(t, op, nil), a, b)[0]
		if out.DType() != tensor.Int64 || !slices.Equal(out.I64(), want) || !slices.Equal(out.Shape(), []int{2, 3}) {
			t.Errorf("%s: %v %v, want %v", op, out.Shape(), out.I64(), want)
		}
	}
	p, q := tensor.FromI64([]int64{0, 0, 1, 1}, 4), tensor.FromI64([]int64{0, 1, 0, 1}, 4)
	for op, want := range map[string][]int64{"And": {0, 0, 0, 1}, "Or": {0, 1, 1, 1}, "Xor": {0, 1, 1, 0}, "Equal": {1, 0, 0, 1}} {
		if got := nnForward(t, nnOp(t, op, nil), p, q)[0].I64(); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", op, got, want)
		}
	}
	if got := nnForward(t, nnOp(t, "Not", nil), p)[0].I64(); !slices.Equal(got, []int64{1, 1, 0, 0}) {
		t.Errorf("Not: %v", got)
	}
	if _, err := nnOp(t, "Equal", nil).Forward([]*tensor.T{a, p}); err == nil {
		t.Errorf("Equal of float32 and int64 must be refused")
	}
}

func TestWhere(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	cond := tensor.FromI64([]int64{1, 0, 0, 1}, 1, 4)
	x, y := randT(rng, -1, 1, 3, 1), randT(rng, -1, 1, 3, 4)
	op := nnOp(t, "Where", nil)
	out := nnForward(t, op, cond, x, y)[0]
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			want := y.F32()[r*4+c]
			if cond.I64()[c] != 0 {
				want = x.F32()[r]
			}
			if got := out.F32()[r*4+c]; got != want {
				t.Fatalf("Where[%d,%d] = %g, want %g", r, c, got, want)
			}
		}
	}
	checkGrad(t, op, []*tensor.T{cond, x, y}, []int{1, 2}, 1e-2, 1e-3)
	iy := nnForward(t, op, cond, tensor.FromI64([]int64{7}), tensor.FromI64([]int64{1, 2, 3, 4}, 4))[0]
	if !slices.Equal(iy.I64(), []int64{7, 2, 3, 7}) {
		t.Errorf("int64 Where: %v", iy.I64())
	}
}
