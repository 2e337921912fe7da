package ops

import (
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

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
