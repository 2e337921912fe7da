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

func TestQuantizeLinear(t *testing.T) {
	x := tensor.FromF32([]float32{-300, -1.25, -0.75, 0, 0.25, 0.75, 1.25, 300}, 8)
	scale := tensor.FromF32([]float32{0.5})
	for _, tc := range []struct {
		typ  int64
		zp   int64
		want []float32
	}{
		{onnxUint8, 128, []float32{0, 126, 126, 128, 128, 130, 130, 255}}, // −2.5 → −2, −1.5 → −2, 0.5 → 0, 1.5 → 2, 2.5 → 2
		{onnxInt8, 0, []float32{-128, -2, -2, 0, 0, 2, 2, 127}},
		{onnxInt4, 1, []float32{-8, -1, -1, 1, 1, 3, 3, 7}},
	} {
		op := nnOp(t, "QuantizeLinear", MapAttrs{QuantizeOutputType: tc.typ})
		in := []*tensor.T{x, scale, tensor.FromI64([]int64{tc.zp})}
		y := nnForward(t, op, in...)[0]
		if !slices.Equal(y.F32(), tc.want) {
			t.Errorf("type %d: %v, want %v", tc.typ, y.F32(), tc.want)
		}
		// Straight through: 1/scale inside the range, 0 where clamped.
		g, err := op.Backward(in, nil, []*tensor.T{tensor.FromF32([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 8)}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range g[0].F32() {
			want := float32(2)
			if i == 0 || i == 7 { // ±300 are clamped
				want = 0
			}
			if v != want {
				t.Errorf("type %d: gradient[%d] = %g, want %g", tc.typ, i, v, want)
			}
		}
	}
	// Without a zero point the output is uint8.
	if y := nnForward(t, nnOp(t, "QuantizeLinear", nil), x, scale)[0]; y.F32()[1] != 0 || y.F32()[6] != 2 {
		t.Errorf("default uint8: %v", y.F32())
	}
	if _, err := New("QuantizeLinear", MapAttrs{QuantizeOutputType: int64(17)}, 19); err == nil {
		t.Errorf("a float8 output must be refused")
	}
	// Dequantizing a float (a QuantizeLinear's output) has a gradient.
	dq := nnOp(t, "DequantizeLinear", MapAttrs{"axis": int64(0)})
	checkGrad(t, dq, []*tensor.T{tensor.FromF32([]float32{3, -2, 7, 1}, 2, 2), tensor.FromF32([]float32{0.5, 2}, 2), tensor.FromF32([]float32{1, -1}, 2)}, []int{0}, 1e-2, 1e-3)
}
