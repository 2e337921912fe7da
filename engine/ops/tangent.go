package ops

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Forward-mode and second-order rules, for Hessian-vector products
// (ShapleyCAM). Tangent gives an op's Jacobian-vector product; SecondOrder
// the part of a Hessian-vector product that comes from the op's own
// curvature. Both cover the ops of convolutional classifiers; any other op
// gives an error naming it.

// Diagonal reports whether an op's Jacobian in its first input is diagonal
// (elementwise) or symmetric (Softmax along an axis), so that J·t = Jᵀ·t
// and its backward pass gives its tangent.
func Diagonal(op Op) bool {
	switch op.Type() {
	case "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "Exp", "Sqrt", "Abs", "Neg",
		"HardSigmoid", "HardSwish", "Identity", "Softmax":
		return true
	}
	return false
}

// Tangent returns the op's outputs' tangents (directional derivatives)
// given its inputs, outputs and the inputs' tangents tin (nil: zero, the
// input does not depend on the direction). Diagonal ops are handled by the
// caller through Backward.
func Tangent(op Op, in, out, tin []*tensor.T) ([]*tensor.T, error) {
	unsupported := func() ([]*tensor.T, error) {
		return nil, fmt.Errorf("no forward-mode rule for %s with these inputs", op.Type())
	}
	only0 := true
	for k := 1; k < len(tin); k++ {
		if tin[k] != nil {
			only0 = false
		}
	}
	withInputs := func(ins []*tensor.T) ([]*tensor.T, error) { return op.Forward(ins) }
	zeroLike := func(t *tensor.T) *tensor.T { return tensor.New(t.Shape()...) }
	switch op.Type() {
	case "Dropout":
		return []*tensor.T{tin[0]}, nil
	case "MaxPool":
		if !only0 || len(out) == 0 {
			return unsupported()
		}
		p := op.(*MaxPool)
		g, planes, err := poolGeom("MaxPool", p.win, in)
		if err != nil {
			return nil, err
		}
		n := planes * g.OutH * g.OutW
		idx := make([]int64, n)
		maxPoolArgmax(g, planes, in[0].F32(), nil, idx)
		y := tensor.New(out[0].Shape()...)
		t := tin[0].F32()
		for o, i := range idx {
			if i >= 0 {
				y.F32()[o] = t[i]
			}
		}
		return []*tensor.T{y}, nil
	case "GlobalMaxPool":
		if !only0 {
			return unsupported()
		}
		gp := op.(*GlobalPool)
		planes, size, shape, err := gp.dims(in)
		if err != nil {
			return nil, err
		}
		y := tensor.New(shape...)
		x, t := in[0].F32(), tin[0].F32()
		for p := 0; p < planes && size > 0; p++ {
			y.F32()[p] = t[p*size+globalArgmax(x[p*size:(p+1)*size])]
		}
		return []*tensor.T{y}, nil
	case "Conv", "Gemm":
		if tin[0] == nil || !only0 {
			return unsupported()
		}
		ins := append([]*tensor.T(nil), in...)
		ins[0] = tin[0]
		if len(ins) > 2 {
			ins[2] = nil // the bias
		}
		return withInputs(ins)
	case "Div":
		if tin[0] == nil || !only0 {
			return unsupported()
		}
		return withInputs([]*tensor.T{tin[0], in[1]})
	case "Mul", "MatMul":
		// Bilinear: f(t0, x1) + f(x0, t1).
		var sum []*tensor.T
		for k := 0; k < 2; k++ {
			if tin[k] == nil {
				continue
			}
			ins := []*tensor.T{in[0], in[1]}
			ins[k] = tin[k]
			o, err := withInputs(ins)
			if err != nil {
				return nil, err
			}
			if sum == nil {
				sum = o
			} else {
				for i, v := range o[0].F32() {
					sum[0].F32()[i] += v
				}
			}
		}
		return sum, nil
	case "BatchNormalization":
		if bn, ok := op.(*BatchNorm); !ok || bn.Training || tin[0] == nil || !only0 {
			return unsupported()
		}
		// Affine in x: scale/√(var+ε)·t.
		y, err := withInputs([]*tensor.T{tin[0], in[1], zeroLike(in[2]), zeroLike(in[3]), in[4]})
		if err != nil {
			return nil, err
		}
		return y[:1], nil
	case "Add", "Sub", "Sum", "Mean", "Concat":
		// Linear in every input: constants become zeros.
		ins := make([]*tensor.T, len(in))
		for k, x := range in {
			switch {
			case tin[k] != nil:
				ins[k] = tin[k]
			case x != nil && x.DType() == tensor.Float32:
				ins[k] = zeroLike(x)
			default:
				ins[k] = x
			}
		}
		return withInputs(ins)
	case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Split", "Pad",
		"GlobalAveragePool", "AveragePool", "ReduceMean", "ReduceSum":
		// Linear in the first input; the others are shapes, indices, axes
		// or Pad's constant (a zero for the tangent).
		if tin[0] == nil || !only0 {
			return unsupported()
		}
		ins := append([]*tensor.T(nil), in...)
		ins[0] = tin[0]
		if op.Type() == "Pad" && len(ins) > 2 && ins[2] != nil && ins[2].DType() == tensor.Float32 {
			ins[2] = zeroLike(ins[2])
		}
		return withInputs(ins)
	}
	return unsupported()
}

// SecondOrder returns, for each input, the op's own contribution to a
// Hessian-vector product: Σ_o g_o · ∂²out_o/∂in_k∂in · t, with g the
// gradient of the objective with respect to the op's output and t the
// inputs' tangents (nil: zero). Linear and piecewise-linear ops (ReLU,
// max pooling, convolutions, …) have none and return nil; an op whose
// curvature is not implemented gives an error.
func SecondOrder(op Op, in, out, gradOut, tin []*tensor.T) ([]*tensor.T, error) {
	if len(gradOut) == 0 || gradOut[0] == nil {
		return nil, nil
	}
	elementwise := func(f func(x, y float32) float32) ([]*tensor.T, error) {
		if tin[0] == nil {
			return nil, nil
		}
		r := tensor.New(in[0].Shape()...)
		x, y, g, t := in[0].F32(), out[0].F32(), gradOut[0].F32(), tin[0].F32()
		for i := range r.F32() {
			r.F32()[i] = g[i] * f(x[i], y[i]) * t[i]
		}
		return []*tensor.T{r}, nil
	}
	switch op.Type() {
	case "Relu", "LeakyRelu", "Clip", "Abs", "Neg", "HardSigmoid", "Identity", "Dropout",
		"MaxPool", "GlobalMaxPool", "Conv", "Gemm", "BatchNormalization", "Add", "Sub", "Sum", "Mean",
		"Concat", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Split",
		"Pad", "GlobalAveragePool", "AveragePool", "ReduceMean", "ReduceSum":
		if bn, ok := op.(*BatchNorm); ok && bn.Training {
			break
		}
		return nil, nil
	case "Div":
		if len(tin) < 2 || tin[1] == nil {
			return nil, nil
		}
	case "Sigmoid": // σ'' = σ(1−σ)(1−2σ)
		return elementwise(func(_, s float32) float32 { return s * (1 - s) * (1 - 2*s) })
	case "Tanh": // tanh'' = −2 tanh (1 − tanh²)
		return elementwise(func(_, y float32) float32 { return -2 * y * (1 - y*y) })
	case "Exp":
		return elementwise(func(_, y float32) float32 { return y })
	case "HardSwish": // x·(x/6 + ½) on (−3, 3): 1/3 there, 0 outside
		return elementwise(func(x, _ float32) float32 {
			if x > -3 && x < 3 {
				return 1.0 / 3
			}
			return 0
		})
	case "Sqrt": // −1/(4 x^{3/2})
		return elementwise(func(x, _ float32) float32 { return float32(-0.25 / math.Pow(float64(x), 1.5)) })
	case "Mul", "MatMul":
		if tin[0] == nil || len(tin) < 2 || tin[1] == nil {
			return nil, nil // linear in the input that carries the tangent
		}
		// ∂²(a∘b)[t_a, ·] = g·t_b for a, g·t_a for b: the backward pass of
		// the op at (a, t_b) and (t_a, b).
		ga, err := op.Backward([]*tensor.T{in[0], tin[1]}, out, gradOut, []bool{true, false})
		if err != nil {
			return nil, err
		}
		gb, err := op.Backward([]*tensor.T{tin[0], in[1]}, out, gradOut, []bool{false, true})
		if err != nil {
			return nil, err
		}
		return []*tensor.T{ga[0], gb[1]}, nil
	}
	return nil, fmt.Errorf("no second derivative for %s", op.Type())
}
