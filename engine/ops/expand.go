package ops

// Expand (broadcast to a shape) and Range (an arithmetic sequence): the
// tensor builders that attention masks and relative-position tables are
// made of.

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Expand", func(Attrs, int) (Op, error) { return expandOp{}, nil })
	Register("Range", func(Attrs, int) (Op, error) { return rangeOp{}, nil })
}

// expandOp is Expand(X, shape): X broadcast with shape (numpy rules; the
// output may be larger than shape where X has more axes or dims).
type expandOp struct{}

func (expandOp) Type() string { return "Expand" }

func (expandOp) outShape(xs []int, shape *tensor.T) ([]int, error) {
	if shape.Rank() > 1 {
		return nil, fmt.Errorf("Expand: shape must be 1-D, got %v", shape.Shape())
	}
	s := shape.Ints()
	for _, d := range s {
		if d < 0 {
			return nil, fmt.Errorf("Expand: negative dim in shape %v", s)
		}
	}
	out, err := broadcastShapes(xs, s)
	if err != nil {
		return nil, fmt.Errorf("Expand: %w", err)
	}
	return out, nil
}

// maxOutElements bounds the output of an op whose size comes from values
// (Expand's shape, Resize's sizes, ConvTranspose's strides): 2²⁸ elements,
// 1 GiB of float32.
const maxOutElements = 1 << 28

// checkOutSize refuses an output shape larger than maxOutElements. Run
// time only: the shape rules (OutShapes) give the shape, so that folding
// at load refuses it with its own limit.
func checkOutSize(op string, shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("%s: negative dim in output shape %v", op, shape)
		}
		if d > 0 && n > maxOutElements/d {
			return fmt.Errorf("%s: output shape %v is too large (more than %d elements)", op, shape, maxOutElements)
		}
		n *= d
	}
	return nil
}

func expandData[E elemType](x []E, xs, out []int) []E {
	dst := make([]E, tensor.Size(out))
	p := newBcastPlan(out, xs)
	s, n := p.step(0), p.inner()
	p.rows(func(at int, off []int) {
		d := dst[at : at+n]
		if s == 1 {
			copy(d, x[off[0]:off[0]+n])
			return
		}
		fill(d, x[off[0]])
	})
	return dst
}

func (e expandOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Expand", in, 2, 2); err != nil {
		return nil, err
	}
	x := in[0]
	out, err := e.outShape(x.Shape(), in[1])
	if err != nil {
		return nil, err
	}
	if err := checkOutSize("Expand", out); err != nil {
		return nil, err
	}
	if x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(expandData(x.I64(), x.Shape(), out), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(expandData(x.F32(), x.Shape(), out), out...)}, nil
}

// Backward sums the gradient over the broadcast axes.
func (expandOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	x := in[0]
	if !needGrad(need, 0) || x.DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	g := gradOut[0]
	grads[0] = tensor.FromF32(reduceToShape(g.F32(), g.Shape(), x.Shape()), x.Shape()...)
	return grads, nil
}

// OutShapes needs the shape input as a constant.
func (e expandOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	x, err := input0("Expand", s)
	if err != nil {
		return nil, err
	}
	if len(consts) < 2 || consts[1] == nil {
		return nil, fmt.Errorf("Expand: the shape is not a constant")
	}
	out, err := e.outShape(x, consts[1])
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}

// rangeOp is Range(start, limit, delta): start, start+delta, … up to (not
// including) limit, max(⌈(limit − start)/delta⌉, 0) values.
type rangeOp struct{}

func (rangeOp) Type() string { return "Range" }

// maxRange caps Range's length (a corrupt model must not allocate forever).
const maxRange = 1 << 28

// rangeLen checks Range's inputs and returns the number of values.
func rangeLen(in []*tensor.T) (int, error) {
	if err := wantInputs("Range", in, 3, 3); err != nil {
		return 0, err
	}
	for k, t := range in {
		if t.Len() != 1 {
			return 0, fmt.Errorf("Range: input %d must be a scalar, got shape %v", k, t.Shape())
		}
	}
	if in[0].DType() == tensor.Int64 {
		start, limit, delta := in[0].I64()[0], int64(in[1].Ints()[0]), int64(in[2].Ints()[0])
		if delta == 0 {
			return 0, fmt.Errorf("Range: delta is 0")
		}
		n := int64(0)
		if d := limit - start; d != 0 && (d > 0) == (delta > 0) {
			n = (d + delta - sign64(delta)) / delta
		}
		if n > maxRange {
			return 0, fmt.Errorf("Range: %d values are too many", n)
		}
		return int(n), nil
	}
	start, limit, delta := in[0].F32()[0], in[1].AsF32()[0], in[2].AsF32()[0]
	if delta == 0 {
		return 0, fmt.Errorf("Range: delta is 0")
	}
	nf := math.Ceil(float64(limit-start) / float64(delta))
	if math.IsNaN(nf) || nf > maxRange {
		return 0, fmt.Errorf("Range: %g values are too many", nf)
	}
	return max(int(nf), 0), nil
}

func (rangeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	n, err := rangeLen(in)
	if err != nil {
		return nil, err
	}
	if in[0].DType() == tensor.Int64 {
		start, delta := in[0].I64()[0], int64(in[2].Ints()[0])
		y := make([]int64, n)
		for i := range y {
			y[i] = start + int64(i)*delta
		}
		return []*tensor.T{tensor.FromI64(y, n)}, nil
	}
	start, delta := in[0].F32()[0], in[2].AsF32()[0]
	y := make([]float32, n)
	for i := range y {
		y[i] = start + float32(i)*delta
	}
	return []*tensor.T{tensor.FromF32(y, n)}, nil
}

// OutShapes needs the three inputs as constants.
func (rangeOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	if len(consts) < 3 || consts[0] == nil || consts[1] == nil || consts[2] == nil {
		return nil, fmt.Errorf("Range: the inputs are not constants")
	}
	n, err := rangeLen(consts)
	if err != nil {
		return nil, err
	}
	return [][]int{{n}}, nil
}

func sign64(v int64) int64 {
	if v < 0 {
		return -1
	}
	return 1
}

// Backward: Range's output depends on its inputs only through the length,
// which is not differentiable, and the start and step, which torch's
// exports never differentiate; it has no gradient.
func (rangeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}
