package ops

// QuantizeLinear and DequantizeLinear, the pair a quantized model (the
// "QDQ" form) writes around each quantized tensor:
//
//	QuantizeLinear    q = clamp(round(x/scale) + zero_point, qmin, qmax)
//	DequantizeLinear  y = (q − zero_point)·scale
//
// rounding half to even, [qmin, qmax] the range of the output type (the
// zero point's: uint8 by default, int8, uint16, int16, uint4, int4). The
// scale and zero point are per tensor (scalars), per axis (1-D, one per
// index of axis) or, from opset 21, per block of block_size along axis.
//
// The quantized values are kept as float32 integers between the two, so
// that gradients pass: QuantizeLinear's backward is the straight-through
// estimator (∂q/∂x = 1/scale inside the range, 0 where clamped), as
// PyTorch's fake quantization; DequantizeLinear's is ∂y/∂q = scale.
// Integer weights (int64 in the engine) get no gradient.

import (
	"fmt"
	"math"

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
	Register("QuantizeLinear", func(a Attrs, _ int) (Op, error) {
		q := &quantizeOp{dequantizeOp{axis: int(a.Int("axis", 1)), block: int(a.Int("block_size", 0))}, 0, 0}
		if q.block < 0 {
			return nil, fmt.Errorf("QuantizeLinear: negative block_size %d", q.block)
		}
		// The output type: the output_dtype attribute (opset 21), else
		// the zero point's type, which the loader passes as
		// QuantizeOutputType; uint8 without a zero point.
		t := a.Int("output_dtype", 0)
		if t == 0 {
			t = a.Int(QuantizeOutputType, onnxUint8)
		}
		switch t {
		case onnxUint8:
			q.lo, q.hi = 0, 255
		case onnxInt8:
			q.lo, q.hi = -128, 127
		case onnxUint16:
			q.lo, q.hi = 0, 65535
		case onnxInt16:
			q.lo, q.hi = -32768, 32767
		case onnxUint4:
			q.lo, q.hi = 0, 15
		case onnxInt4:
			q.lo, q.hi = -8, 7
		default:
			return nil, fmt.Errorf("QuantizeLinear: output type %d is not supported (8-, 16- and 4-bit integers are)", t)
		}
		return q, nil
	})
}

// QuantizeOutputType is the attribute through which the loader tells
// QuantizeLinear its output type (its zero point's ONNX data type), which
// the engine's int64 tensors do not keep.
const QuantizeOutputType = "cnnlens_output_type"

const (
	onnxUint4 = 21
	onnxInt4  = 22
)

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

// params checks the inputs and returns the scale index of each element,
// the scales and the zero points (nil when absent).
func (d *dequantizeOp) params(name string, in []*tensor.T) (at func(int) int, sv, zv []float32, err error) {
	if err := wantInputs(name, in, 2, 3); err != nil {
		return nil, nil, nil, err
	}
	x, scale := in[0], in[1]
	if scale.DType() != tensor.Float32 {
		return nil, nil, nil, fmt.Errorf("%s: scale must be float, got %s", name, scale.DType())
	}
	zp := optInput(in, 2)
	if zp != nil && !tensor.SameShape(zp.Shape(), scale.Shape()) && !(zp.Len() == 1 && scale.Len() == 1) {
		return nil, nil, nil, fmt.Errorf("%s: zero point %v and scale %v differ in shape", name, zp.Shape(), scale.Shape())
	}
	if at, err = d.index(x.Shape(), scale.Shape()); err != nil {
		return nil, nil, nil, fmt.Errorf("%s%s", name, err.Error()[len("DequantizeLinear"):])
	}
	if zp != nil {
		zv = zp.AsF32()
	}
	return at, scale.F32(), zv, nil
}

func (d *dequantizeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	at, sv, zv, err := d.params("DequantizeLinear", in)
	if err != nil {
		return nil, err
	}
	xv := in[0].AsF32()
	y := make([]float32, len(xv))
	for i, v := range xv {
		k := at(i)
		if zv != nil {
			v -= zv[k]
		}
		y[i] = v * sv[k]
	}
	return []*tensor.T{tensor.FromF32(y, in[0].Shape()...)}, nil
}

// Backward gives ∂L/∂q = ∂L/∂y·scale when q is float32 (a QuantizeLinear's
// output); integer weights get none.
func (d *dequantizeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	at, sv, _, err := d.params("DequantizeLinear", in)
	if err != nil {
		return nil, err
	}
	g := gradOut[0].F32()
	gx := make([]float32, len(g))
	for i, v := range g {
		gx[i] = v * sv[at(i)]
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}

// quantizeOp is QuantizeLinear with output range [lo, hi].
type quantizeOp struct {
	dequantizeOp
	lo, hi float64
}

func (*quantizeOp) Type() string { return "QuantizeLinear" }

// quantize returns q and whether each element fell inside the range.
func (q *quantizeOp) quantize(in []*tensor.T) ([]float32, []bool, error) {
	if len(in) > 0 && in[0] != nil && in[0].DType() != tensor.Float32 {
		return nil, nil, fmt.Errorf("QuantizeLinear: input must be float, got %s", in[0].DType())
	}
	at, sv, zv, err := q.params("QuantizeLinear", in)
	if err != nil {
		return nil, nil, err
	}
	xv := in[0].F32()
	y, inside := make([]float32, len(xv)), make([]bool, len(xv))
	for i, v := range xv {
		k := at(i)
		r := math.RoundToEven(float64(v / sv[k])) // divided in float32, as runtimes do
		if zv != nil {
			r += float64(zv[k])
		}
		inside[i] = r >= q.lo && r <= q.hi
		y[i] = float32(math.Max(q.lo, math.Min(q.hi, r)))
	}
	return y, inside, nil
}

func (q *quantizeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	y, _, err := q.quantize(in)
	if err != nil {
		return nil, err
	}
	return []*tensor.T{tensor.FromF32(y, in[0].Shape()...)}, nil
}

// Backward is the straight-through estimator: ∂L/∂x = ∂L/∂q / scale
// where x was inside the range, 0 where it was clamped.
func (q *quantizeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	_, inside, err := q.quantize(in)
	if err != nil {
		return nil, err
	}
	at, sv, _, _ := q.params("QuantizeLinear", in)
	g := gradOut[0].F32()
	gx := make([]float32, len(g))
	for i, v := range g {
		if inside[i] {
			gx[i] = v / sv[at(i)]
		}
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}

func (d *dequantizeOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("DequantizeLinear", s)
}
