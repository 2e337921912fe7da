package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestScatterElements(t *testing.T) {
	rng := rand.New(rand.NewSource(27))
	data := randT(rng, -1, 1, 3, 4)
	idx := tensor.FromI64([]int64{1, 3, 0, -1, 2, 2}, 3, 2)
	upd := randT(rng, -1, 1, 3, 2)
	op := nnOp(t, "ScatterElements", MapAttrs{"axis": int64(1)})
	out := nnForward(t, op, data, idx, upd)[0]
	want := append([]float32(nil), data.F32()...)
	for i, k := range idx.I64() {
		if k < 0 {
			k += 4
		}
		want[i/2*4+int(k)] = upd.F32()[i]
	}
	if !slices.Equal(out.F32(), want) {
		t.Fatalf("ScatterElements: %v, want %v", out.F32(), want)
	}
	// Distinct targets per row for reduction none (duplicates keep the last).
	distinct := tensor.FromI64([]int64{1, 3, 0, 2, 2, 1}, 3, 2)
	checkGrad(t, op, []*tensor.T{data, distinct, upd}, []int{0, 2}, 1e-2, 1e-3)
	add := nnOp(t, "ScatterElements", MapAttrs{"axis": int64(1), "reduction": "add"})
	checkGrad(t, add, []*tensor.T{data, idx, upd}, []int{0, 2}, 1e-2, 1e-3)
}

func TestMaxUnpoolUndoesMaxPool(t *testing.T) {
	rng := rand.New(rand.NewSource(28))
	x := randT(rng, -1, 1, 2, 3, 4, 6)
	pool := nnOp(t, "MaxPool", MapAttrs{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}})
	pooled := nnForward(t, pool, x)
	if len(pooled) < 2 {
		t.Fatalf("MaxPool gave no indices")
	}
	op := nnOp(t, "MaxUnpool", MapAttrs{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}})
	out := nnForward(t, op, pooled[0], pooled[1])[0]
	if !slices.Equal(out.Shape(), x.Shape()) {
		t.Fatalf("MaxUnpool shape %v", out.Shape())
	}
	kept := 0
	for i, v := range out.F32() {
		if v != 0 {
			kept++
			if v != x.F32()[i] {
				t.Fatalf("MaxUnpool[%d] = %g, the input there is %g", i, v, x.F32()[i])
			}
		}
	}
	if kept != pooled[0].Len() {
		t.Errorf("MaxUnpool placed %d values, want %d", kept, pooled[0].Len())
	}
	checkGrad(t, op, []*tensor.T{pooled[0], pooled[1]}, []int{0}, 1e-2, 1e-3)
}

func TestNonZeroCompress(t *testing.T) {
	x := tensor.FromF32([]float32{0, 2, 0, 3, 0, 4}, 2, 3)
	nz := nnForward(t, nnOp(t, "NonZero", nil), x)[0]
	if !slices.Equal(nz.Shape(), []int{2, 3}) || !slices.Equal(nz.I64(), []int64{0, 1, 1, 1, 0, 2}) {
		t.Errorf("NonZero: %v %v", nz.Shape(), nz.I64())
	}
	cond := tensor.FromI64([]int64{1, 0, 1}, 3)
	op := nnOp(t, "Compress", MapAttrs{"axis": int64(1)})
	c := nnForward(t, op, x, cond)[0]
	if !slices.Equal(c.Shape(), []int{2, 2}) || !slices.Equal(c.F32(), []float32{0, 0, 3, 4}) {
		t.Errorf("Compress axis 1: %v %v", c.Shape(), c.F32())
	}
	flat := nnForward(t, nnOp(t, "Compress", nil), x, tensor.FromI64([]int64{0, 1, 0, 1}, 4))[0]
	if !slices.Equal(flat.F32(), []float32{2, 3}) {
		t.Errorf("Compress flattened: %v", flat.F32())
	}
	rng := rand.New(rand.NewSource(29))
	checkGrad(t, op, []*tensor.T{randT(rng, -1, 1, 2, 3), cond}, []int{0}, 1e-2, 1e-3)
}
