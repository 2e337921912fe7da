package ops

// Mod: the remainder of a broadcast division. With fmod = 0 (integers
// only) its sign follows the divisor, as Python's %; with fmod = 1 the
// dividend, as C's fmod.
//
//	fmod:  y = a − b·trunc(a/b),  ∂y/∂a = 1, ∂y/∂b = −trunc(a/b)

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Mod", func(a Attrs, _ int) (Op, error) { return modOp{fmod: a.Int("fmod", 0) != 0}, nil })
}

type modOp struct{ fmod bool }

func (modOp) Type() string { return "Mod" }

func modI64(fmod bool) rowFunc[int64] {
	return func(o, a, b []int64, sa, sb int) {
		for i := range o {
			x, y := a[i*sa], b[i*sb]
			r := x % y
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			o[i] = r
		}
	}
}

func modF32(fmod bool) rowFunc[float32] {
	return func(o, a, b []float32, sa, sb int) {
		for i := range o {
			x, y := float64(a[i*sa]), float64(b[i*sb])
			r := math.Mod(x, y)
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			o[i] = float32(r)
		}
	}
}

func (m modOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Mod", in, 2, 2); err != nil {
		return nil, err
	}
	x, y := in[0], in[1]
	if x.DType() != y.DType() {
		return nil, fmt.Errorf("Mod: operands are %s and %s", x.DType(), y.DType())
	}
	if x.DType() == tensor.Int64 {
		for _, v := range y.I64() {
			if v == 0 {
				return nil, fmt.Errorf("Mod: integer division by zero")
			}
		}
		o, shape, err := broadcastBinary(x.I64(), y.I64(), x.Shape(), y.Shape(), modI64(m.fmod))
		if err != nil {
			return nil, fmt.Errorf("Mod: %w", err)
		}
		return []*tensor.T{tensor.FromI64(o, shape...)}, nil
	}
	o, shape, err := broadcastBinary(x.F32(), y.F32(), x.Shape(), y.Shape(), modF32(m.fmod))
	if err != nil {
		return nil, fmt.Errorf("Mod: %w", err)
	}
	return []*tensor.T{tensor.FromF32(o, shape...)}, nil
}

func (m modOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	x, y := in[0], in[1]
	if x.DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	g, gs := gradOut[0].F32(), gradOut[0].Shape()
	if needGrad(need, 0) {
		grads[0] = tensor.FromF32(reduceToShape(g, gs, x.Shape()), x.Shape()...)
	}
	if needGrad(need, 1) {
		// −q·g with q = (a − y)/b, the quotient the forward used.
		q, _, err := broadcastBinary(x.F32(), y.F32(), x.Shape(), y.Shape(), func(o, a, b []float32, sa, sb int) {
			for i := range o {
				p, d := float64(a[i*sa]), float64(b[i*sb])
				r := math.Mod(p, d)
				if !m.fmod && r != 0 && (r < 0) != (d < 0) {
					r += d
				}
				o[i] = float32(-math.Round((p - r) / d))
			}
		})
		if err != nil {
			return nil, err
		}
		for i := range q {
			q[i] *= g[i]
		}
		grads[1] = tensor.FromF32(reduceToShape(q, gs, y.Shape()), y.Shape()...)
	}
	return grads, nil
}

func (modOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) { return broadcastOut("Mod", s, 2) }
