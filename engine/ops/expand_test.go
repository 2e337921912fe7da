package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestExpand(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	x := randT(rng, -1, 1, 3, 1)
	op := nnOp(t, "Expand", nil)
	out := nnForward(t, op, x, tensor.FromI64([]int64{2, 1, 4}, 3))[0]
	if !slices.Equal(out.Shape(), []int{2, 3, 4}) {
		t.Fatalf("Expand shape %v", out.Shape())
	}
	for i, v := range out.F32() {
		if v != x.F32()[i/4%3] {
			t.Fatalf("Expand[%d] = %g", i, v)
		}
	}
	checkGrad(t, op, []*tensor.T{x, tensor.FromI64([]int64{2, 1, 4}, 3)}, []int{0}, 1e-2, 1e-3)
	if _, err := op.Forward([]*tensor.T{x, tensor.FromI64([]int64{2, 4}, 2)}); err == nil {
		t.Errorf("3×1 does not expand to 2×4")
	}
}

func TestRange(t *testing.T) {
	op := nnOp(t, "Range", nil)
	i := func(v int64) *tensor.T { return tensor.FromI64([]int64{v}) }
	for _, tc := range []struct {
		start, limit, delta int64
		want                []int64
	}{{0, 5, 2, []int64{0, 2, 4}}, {10, 4, -3, []int64{10, 7}}, {3, 3, 1, []int64{}}, {5, 1, 1, []int64{}}} {
		got := nnForward(t, op, i(tc.start), i(tc.limit), i(tc.delta))[0]
		if !slices.Equal(got.I64(), tc.want) {
			t.Errorf("Range(%d, %d, %d) = %v, want %v", tc.start, tc.limit, tc.delta, got.I64(), tc.want)
		}
	}
	f := nnForward(t, op, tensor.Scalar(1), tensor.Scalar(2), tensor.Scalar(0.25))[0]
	if !slices.Equal(f.F32(), []float32{1, 1.25, 1.5, 1.75}) {
		t.Errorf("float Range: %v", f.F32())
	}
	if _, err := op.Forward([]*tensor.T{i(0), i(4), i(0)}); err == nil {
		t.Errorf("delta 0 must be refused")
	}
}

func TestMod(t *testing.T) {
	a, b := tensor.FromI64([]int64{7, -7, 7, -7}, 4), tensor.FromI64([]int64{3, 3, -3, -3}, 4)
	if got := nnForward(t, nnOp(t, "Mod", nil), a, b)[0].I64(); !slices.Equal(got, []int64{1, 2, -2, -1}) {
		t.Errorf("Mod: %v", got)
	}
	op := nnOp(t, "Mod", MapAttrs{"fmod": int64(1)})
	if got := nnForward(t, op, a, b)[0].I64(); !slices.Equal(got, []int64{1, -1, 1, -1}) {
		t.Errorf("Mod fmod: %v", got)
	}
	fa, fb := tensor.FromF32([]float32{5.5, -5.5, 2.25}, 3), tensor.FromF32([]float32{2, 2, 0.5}, 3)
	if got := nnForward(t, op, fa, fb)[0].F32(); !slices.Equal(got, []float32{1.5, -1.5, 0.25}) {
		t.Errorf("float fmod: %v", got)
	}
	checkGrad(t, op, []*tensor.T{fa, fb}, []int{0, 1}, 1e-3, 1e-3)
	if _, err := nnOp(t, "Mod", nil).Forward([]*tensor.T{a, tensor.FromI64([]int64{0}, 1)}); err == nil {
		t.Errorf("integer Mod by zero must be refused")
	}
}

func TestScatterND(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	data := randT(rng, -1, 1, 4, 3)
	idx := tensor.FromI64([]int64{2, 0}, 2, 1)
	upd := randT(rng, -1, 1, 2, 3)
	op := nnOp(t, "ScatterND", nil)
	out := nnForward(t, op, data, idx, upd)[0]
	for i, v := range out.F32() {
		want := data.F32()[i]
		switch i / 3 {
		case 2:
			want = upd.F32()[i%3]
		case 0:
			want = upd.F32()[3+i%3]
		}
		if v != want {
			t.Fatalf("ScatterND[%d] = %g, want %g", i, v, want)
		}
	}
	checkGrad(t, op, []*tensor.T{data, idx, upd}, []int{0, 2}, 1e-2, 1e-3)
	add := nnOp(t, "ScatterND", MapAttrs{"reduction": "add"})
	checkGrad(t, add, []*tensor.T{data, tensor.FromI64([]int64{1, 2, 1, 2}, 2, 2), randT(rng, -1, 1, 2)}, []int{0, 2}, 1e-2, 1e-3)
	if _, err := op.Forward([]*tensor.T{data, tensor.FromI64([]int64{4}, 1, 1), randT(rng, 0, 1, 1, 3)}); err == nil {
		t.Errorf("an index out of range must be refused")
	}
}
