package ops

// DequantizeLinear: y = (x − zero_point)·scale, the weights of a model
// quantized to 8 bits (or fewer) turned back into float32. The scale and
// zero point are per tensor (scalars), per axis (1-D, one per index of
// axis) or, from opset 21, per block of block_size along axis. x holds
// integers (as int64 in the engine), so there is no gradient to it.

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("DequantizeLinear", func(a Attrs, _ int) (Op, error) {
		d := &dequantizeOp{axis: int(a.Int("axis", 1)), block: int(a.Int("block_size", 0))}
		if d.block < 0 {
			return nil, fmt.Errorf("DequantizeLinear: negative block_size %d", d.block)
		}
		return d, nil
	})
}

type dequantizeOp struct{ axis, block int }

func (*dequantizeOp) Type() string { return "DequantizeLinear" }

// index returns, for each element of x, the index of its scale.
func (d *dequantizeOp) index(xs, ss []int) (func(i int) int, error) {
	n := tensor.Size(ss)
	if n == 1 && d.block == 0 {
		return func(int) int { return 0 }, nil
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("DequantizeLinear: scale %v for a scalar input", ss)
	}
	axis, err := normAxis("DequantizeLinear", d.axis, len(xs))
	if err != nil {
		return nil, err
	}
	inner := tensor.Size(xs[axis+1:])
	if d.block == 0 {
		if len(ss) != 1 || ss[0] != xs[axis] {
			return nil, fmt.Errorf("DequantizeLinear: scale %v does not fit axis %d of %v", ss, axis, xs)
		}
		return func(i int) int { return i / inner % xs[axis] }, nil
	}
	// Blocked: scale has x's shape with axis divided into blocks.
	want := append([]int{}, xs...)
	want[axis] = (xs[axis] + d.block - 1) / d.block
	if !tensor.SameShape(ss, want) {
		return nil, fmt.Errorf("DequantizeLinear: scale %v, want %v for blocks of %d along axis %d of %v", ss, want, d.block, axis, xs)
	}
	nb := want[axis]
	return func(i int) int {
		o, k, r := i/(inner*xs[axis]), i/inner%xs[axis], i%inner
		return (o*nb+k/d.block)*inner + r
	}, nil
}

func (d *dequantizeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("DequantizeLinear", in, 2, 3); err != nil {
		return nil, err
	}
	x, scale := in[0], in[1]
	if scale.DType() != tensor.Float32 {
		return nil, fmt.Errorf("DequantizeLinear: scale must be float, got %s", scale.DType())
	}
	zp := optInput(in, 2)
	if zp != nil && !tensor.SameShape(zp.Shape(), scale.Shape()) && !(zp.Len() == 1 && scale.Len() == 1) {
		return nil, fmt.Errorf("DequantizeLinear: zero point %v and scale %v differ in shape", zp.Shape(), scale.Shape())
	}
	at, err := d.index(x.Shape(), scale.Shape())
	if err != nil {
		return nil, err
	}
	xv, sv := x.AsF32(), scale.F32()
	var zv []float32
	if zp != nil {
		zv = zp.AsF32()
	}
	y := make([]float32, len(xv))
	for i, v := range xv {
		k := at(i)
		if zv != nil {
			v -= zv[k]
		}
		y[i] = v * sv[k]
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

func (d *dequantizeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

func (d *dequantizeOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("DequantizeLinear", s)
}
