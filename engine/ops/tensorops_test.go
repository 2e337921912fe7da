package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestTile(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	x := randT(rng, -1, 1, 2, 3)
	reps := tensor.FromI64([]int64{2, 2}, 2)
	op := nnOp(t, "Tile", nil)
	out := nnForward(t, op, x, reps)[0]
	if !slices.Equal(out.Shape(), []int{4, 6}) {
		t.Fatalf("Tile shape %v", out.Shape())
	}
	for i, v := range out.F32() {
		if r, c := i/6, i%6; v != x.F32()[(r%2)*3+c%3] {
			t.Fatalf("Tile[%d] = %g", i, v)
		}
	}
	checkGrad(t, op, []*tensor.T{x, reps}, []int{0}, 1e-2, 1e-3)
}

func TestDepthSpace(t *testing.T) {
	rng := rand.New(rand.NewSource(20))
	x := randT(rng, -1, 1, 2, 8, 3, 2)
	for _, mode := range []string{"DCR", "CRD"} {
		op := nnOp(t, "DepthToSpace", MapAttrs{"blocksize": int64(2), "mode": mode})
		out := nnForward(t, op, x)[0]
		if !slices.Equal(out.Shape(), []int{2, 2, 6, 4}) {
			t.Fatalf("DepthToSpace shape %v", out.Shape())
		}
		// y[n, c, h·2+i, w·2+j] = x[n, channel, h, w] with channel (i·2+j)·2+c (DCR) or c·4+i·2+j (CRD).
		for n := 0; n < 2; n++ {
			for c := 0; c < 2; c++ {
				for h := 0; h < 6; h++ {
					for w := 0; w < 4; w++ {
						i, j := h%2, w%2
						ch := (i*2+j)*2 + c
						if mode == "CRD" {
							ch = c*4 + i*2 + j
						}
						if got, want := out.F32()[((n*2+c)*6+h)*4+w], x.F32()[((n*8+ch)*3+h/2)*2+w/2]; got != want {
							t.Fatalf("DepthToSpace %s [%d,%d,%d,%d] = %g, want %g", mode, n, c, h, w, got, want)
						}
					}
				}
			}
		}
		checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-3)
	}
	// SpaceToDepth undoes DCR DepthToSpace.
	d2s := nnForward(t, nnOp(t, "DepthToSpace", MapAttrs{"blocksize": int64(2)}), x)[0]
	s2d := nnOp(t, "SpaceToDepth", MapAttrs{"blocksize": int64(2)})
	if back := nnForward(t, s2d, d2s)[0]; !slices.Equal(back.F32(), x.F32()) || !slices.Equal(back.Shape(), x.Shape()) {
		t.Errorf("SpaceToDepth(DepthToSpace(x)) is not x")
	}
	checkGrad(t, s2d, []*tensor.T{d2s}, []int{0}, 1e-2, 1e-3)
	if _, err := s2d.Forward([]*tensor.T{randT(rng, 0, 1, 1, 1, 3, 4)}); err == nil {
		t.Errorf("SpaceToDepth of an odd height must be refused")
	}
}

func TestGatherElementsCumSumArg(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	data := randT(rng, -1, 1, 3, 4)
	idx := tensor.FromI64([]int64{0, 2, -1, 1, 1, 0}, 3, 2)
	op := nnOp(t, "GatherElements", MapAttrs{"axis": int64(1)})
	out := nnForward(t, op, data, idx)[0]
	for i, v := range out.F32() {
		k := int(idx.I64()[i])
		if k < 0 {
			k += 4
		}
		if v != data.F32()[i/2*4+k] {
			t.Fatalf("GatherElements[%d] = %g", i, v)
		}
	}
	checkGrad(t, op, []*tensor.T{data, idx}, []int{0}, 1e-2, 1e-3)

	x := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	for _, tc := range []struct {
		a    MapAttrs
		want []float32
	}{
		{nil, []float32{1, 3, 6, 4, 9, 15}},
		{MapAttrs{"exclusive": int64(1)}, []float32{0, 1, 3, 0, 4, 9}},
		{MapAttrs{"reverse": int64(1)}, []float32{6, 5, 3, 15, 11, 6}},
		{MapAttrs{"reverse": int64(1), "exclusive": int64(1)}, []float32{5, 3, 0, 11, 6, 0}},
	} {
		op := nnOp(t, "CumSum", tc.a)
		if got := nnForward(t, op, x, tensor.FromI64([]int64{1}))[0].F32(); !slices.Equal(got, tc.want) {
			t.Errorf("CumSum %v: %v, want %v", tc.a, got, tc.want)
		}
		checkGrad(t, op, []*tensor.T{randT(rng, -1, 1, 2, 3), tensor.FromI64([]int64{-1})}, []int{0}, 1e-2, 1e-3)
	}

	y := tensor.FromF32([]float32{1, 5, 5, 2, 0, 0}, 2, 3)
	for _, tc := range []struct {
		op   string
		a    MapAttrs
		want []int64
	}{
		{"ArgMax", MapAttrs{"axis": int64(1)}, []int64{1, 0}},
		{"ArgMax", MapAttrs{"axis": int64(1), "select_last_index": int64(1)}, []int64{2, 0}},
		{"ArgMin", MapAttrs{"axis": int64(1), "keepdims": int64(0)}, []int64{0, 1}},
		{"ArgMin", MapAttrs{"axis": int64(-1), "select_last_index": int64(1)}, []int64{0, 2}},
	} {
		if got := nnForward(t, nnOp(t, tc.op, tc.a), y)[0].I64(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: %v, want %v", tc.op, tc.a, got, tc.want)
		}
	}
	if c := nnForward(t, nnOp(t, "CastLike", nil), y, tensor.FromI64([]int64{0}))[0]; c.DType() != tensor.Int64 || c.I64()[1] != 5 {
		t.Errorf("CastLike to int64: %v", c.I64())
	}
}
