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
