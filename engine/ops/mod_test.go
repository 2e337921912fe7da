package ops

import (
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

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
