package ops

import (
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestDequantizeLinear(t *testing.T) {
	x := tensor.FromI64([]int64{0, 10, 20, 30, -4, 4}, 2, 3)
	for _, tc := range []struct {
		name      string
		a         MapAttrs
		scale, zp *tensor.T
		want      []float32
	}{
		{"per tensor", nil, tensor.FromF32([]float32{0.5}), tensor.FromI64([]int64{10}), []float32{-5, 0, 5, 10, -7, -3}},
		{"per axis 1", nil, tensor.FromF32([]float32{1, 2, 4}, 3), tensor.FromI64([]int64{0, 10, 20}, 3), []float32{0, 0, 0, 30, -28, -64}},
		{"per axis 0", MapAttrs{"axis": int64(0)}, tensor.FromF32([]float32{1, 0.25}, 2), nil, []float32{0, 10, 20, 7.5, -1, 1}},
		{"blocks of 2", MapAttrs{"block_size": int64(2)}, tensor.FromF32([]float32{1, 2, 0.5, 4}, 2, 2), nil, []float32{0, 10, 40, 15, -2, 16}},
	} {
		in := []*tensor.T{x, tc.scale}
		if tc.zp != nil {
			in = append(in, tc.zp)
		}
		y := nnForward(t, nnOp(t, "DequantizeLinear", tc.a), in...)[0]
		if y.DType() != tensor.Float32 || !slices.Equal(y.F32(), tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, y.F32(), tc.want)
		}
	}
	if _, err := nnOp(t, "DequantizeLinear", nil).Forward([]*tensor.T{x, tensor.FromF32([]float32{1, 2}, 2)}); err == nil {
		t.Errorf("a scale per axis of the wrong length must be refused")
	}
}
