package ops

// Broadcasting element-wise arithmetic: Add, Sub, Mul, Div, Pow and the
// variadic Sum and Mean. Add, Sub, Mul and Div also run on int64 tensors,
// since shape arithmetic (Shape → Gather → Mul → Concat → Reshape) flows
// int64 values through them.

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Add", newBinary("Add"))
	Register("Sub", newBinary("Sub"))
	Register("Mul", newBinary("Mul"))
	Register("Div", newBinary("Div"))
	Register("Pow", func(Attrs, int) (Op, error) { return powOp{}, nil })
	Register("Sum", func(Attrs, int) (Op, error) { return &variadicOp{name: "Sum"}, nil })
	Register("Mean", func(Attrs, int) (Op, error) { return &variadicOp{name: "Mean", mean: true}, nil })
}

// binaryOp is Add, Sub, Mul or Div with numpy broadcasting.
type binaryOp struct{ name string }

func newBinary(name string) Factory {
	return func(Attrs, int) (Op, error) { return binaryOp{name}, nil }
}

func (b binaryOp) Type() string { return b.name }

func (b binaryOp) Forward(in []*tensor.T) ([]*tensor.T, error) { return b.ForwardBufs(in, nil) }

// ForwardBufs is Forward with a float32 output taken from bufs
// (BufForwarder): every row function writes each element.
func (b binaryOp) ForwardBufs(in []*tensor.T, bufs Bufs) ([]*tensor.T, error) {
	if err := wantInputs(b.name, in, 2, 2); err != nil {
		return nil, err
	}
	x, y := in[0], in[1]
	if x.DType() != y.DType() {
		return nil, fmt.Errorf("%s: operands are %s and %s", b.name, x.DType(), y.DType())
	}
	if x.DType() == tensor.Int64 {
		if b.name == "Div" {
			for _, v := range y.I64() {
				if v == 0 {
					return nil, fmt.Errorf("Div: integer division by zero")
				}
			}
		}
		o, shape, err := broadcastBinary(x.I64(), y.I64(), x.Shape(), y.Shape(), binaryRow[int64](b.name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		return []*tensor.T{tensor.FromI64(o, shape...)}, nil
	}
	var mk func(n int) []float32
	if bufs != nil {
		mk = bufs.Floats
	}
	o, shape, err := broadcastBinaryTo(x.F32(), y.F32(), x.Shape(), y.Shape(), binaryRow[float32](b.name), mk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	return []*tensor.T{tensor.FromF32(o, shape...)}, nil
}

func binaryRow[E elemType](name string) rowFunc[E] {
	switch name {
	case "Add":
		return addRow[E]
	case "Sub":
		return subRow[E]
	case "Mul":
		return mulRow[E]
	}
	return divRow[E]
}

func addRow[E elemType](o, a, b []E, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] + b[i]
		}
	case sa == 1:
		a, v := a[:len(o)], b[0]
		for i := range o {
			o[i] = a[i] + v
		}
	case sb == 1:
		v, b := a[0], b[:len(o)]
		for i := range o {
			o[i] = v + b[i]
		}
	default:
		fill(o, a[0]+b[0])
	}
}

func subRow[E elemType](o, a, b []E, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] - b[i]
		}
	case sa == 1:
		a, v := a[:len(o)], b[0]
		for i := range o {
			o[i] = a[i] - v
		}
	case sb == 1:
		v, b := a[0], b[:len(o)]
		for i := range o {
			o[i] = v - b[i]
		}
	default:
		fill(o, a[0]-b[0])
	}
}

func mulRow[E elemType](o, a, b []E, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] * b[i]
		}
	case sa == 1:
		a, v := a[:len(o)], b[0]
		for i := range o {
			o[i] = a[i] * v
		}
	case sb == 1:
		v, b := a[0], b[:len(o)]
		for i := range o {
			o[i] = v * b[i]
		}
	default:
		fill(o, a[0]*b[0])
	}
}

// divRow divides; for int64 it truncates toward zero (as onnxruntime does).
func divRow[E elemType](o, a, b []E, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = a[i] / b[i]
		}
	case sa == 1:
		a, v := a[:len(o)], b[0]
		for i := range o {
			o[i] = a[i] / v
		}
	case sb == 1:
		v, b := a[0], b[:len(o)]
		for i := range o {
			o[i] = v / b[i]
		}
	default:
		fill(o, a[0]/b[0])
	}
}

func fill[E any](o []E, v E) {
	for i := range o {
		o[i] = v
	}
}

func (b binaryOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	x, y := in[0], in[1]
	if x.DType() != tensor.Float32 {
		return grads, nil
	}
	gy := gradOut[0]
	if gy == nil {
		return zeroGrads(in, need), nil
	}
	g, gshape := gy.F32(), gy.Shape()
	switch b.name {
	case "Add", "Sub":
		if needGrad(need, 0) {
			grads[0] = tensor.FromF32(reduceToShape(g, gshape, x.Shape()), x.Shape()...)
		}
		if needGrad(need, 1) {
			r := reduceToShape(g, gshape, y.Shape())
			if b.name == "Sub" {
				for i := range r {
					r[i] = -r[i]
				}
			}
			grads[1] = tensor.FromF32(r, y.Shape()...)
		}
	case "Mul":
		if needGrad(need, 0) {
			grads[0] = tensor.FromF32(mulGrad(g, gshape, x.Shape(), y.F32(), y.Shape()), x.Shape()...)
		}
		if needGrad(need, 1) {
			grads[1] = tensor.FromF32(mulGrad(g, gshape, y.Shape(), x.F32(), x.Shape()), y.Shape()...)
		}
	case "Div":
		if needGrad(need, 0) {
			// d(a/b)/da = 1/b
			inv := make([]float32, y.Len())
			for i, v := range y.F32() {
				inv[i] = 1 / v
			}
			grads[0] = tensor.FromF32(mulGrad(g, gshape, x.Shape(), inv, y.Shape()), x.Shape()...)
		}
		if needGrad(need, 1) {
			grads[1] = tensor.FromF32(divGradB(g, gshape, x, y), y.Shape()...)
		}
	}
	return grads, nil
}

// mulGrad returns Σ_broadcast gy·other, the gradient of out = self·other
// with respect to self (shape self), other having shape oshape.
func mulGrad(gy []float32, gshape, self []int, other []float32, oshape []int) []float32 {
	dst := make([]float32, tensor.Size(self))
	if len(dst) == len(gy) && len(other) == len(gy) {
		other = other[:len(gy)]
		for i, g := range gy {
			dst[i] = g * other[i]
		}
		return dst
	}
	if len(dst) == len(gy) && len(other) == 1 {
		v := other[0]
		for i, g := range gy {
			dst[i] = g * v
		}
		return dst
	}
	p := newBcastPlan(gshape, self, oshape)
	ss, so, n := p.step(0), p.step(1), p.inner()
	p.rows(func(at int, off []int) {
		g := gy[at : at+n]
		d, o := dst[off[0]:], other[off[1]:]
		switch {
		case ss == 1 && so == 1:
			d, o = d[:n], o[:n]
			for i, v := range g {
				d[i] += v * o[i]
			}
		case ss == 1:
			d, w := d[:n], o[0]
			for i, v := range g {
				d[i] += v * w
			}
		case so == 1:
			o = o[:n]
			var s float32
			for i, v := range g {
				s += v * o[i]
			}
			d[0] += s
		default:
			var s float32
			for _, v := range g {
				s += v
			}
			d[0] += s * o[0]
		}
	})
	return dst
}

// divGradB is the gradient of a/b with respect to b: Σ_broadcast −gy·a/b².
func divGradB(gy []float32, gshape []int, a, b *tensor.T) []float32 {
	dst := make([]float32, b.Len())
	av, bv := a.F32(), b.F32()
	p := newBcastPlan(gshape, a.Shape(), b.Shape())
	sa, sb, n := p.step(0), p.step(1), p.inner()
	p.rows(func(at int, off []int) {
		g := gy[at : at+n]
		for i, v := range g {
			q := bv[off[1]+i*sb]
			dst[off[1]+i*sb] -= v * av[off[0]+i*sa] / (q * q)
		}
	})
	return dst
}

// powOp is Pow(X, Y) = X^Y with broadcasting (float32 only).
type powOp struct{}

func (powOp) Type() string { return "Pow" }

func (powOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Pow", in, 2, 2); err != nil {
		return nil, err
	}
	x, y := in[0], in[1]
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("Pow: base must be float32, got %s", x.DType())
	}
	ye := y.AsF32()
	o, shape, err := broadcastBinary(x.F32(), ye, x.Shape(), y.Shape(), powRow)
	if err != nil {
		return nil, fmt.Errorf("Pow: %w", err)
	}
	return []*tensor.T{tensor.FromF32(o, shape...)}, nil
}

func powRow(o, a, b []float32, sa, sb int) {
	if sb == 0 {
		switch e := b[0]; e {
		case 2:
			for i := range o {
				v := a[i*sa]
				o[i] = v * v
			}
			return
		case 1:
			for i := range o {
				o[i] = a[i*sa]
			}
			return
		}
	}
	for i := range o {
		o[i] = float32(math.Pow(float64(a[i*sa]), float64(b[i*sb])))
	}
}

func (powOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	gy := gradOut[0]
	if gy == nil {
		return zeroGrads(in, need), nil
	}
	x, y := in[0], in[1]
	xv, yv := x.F32(), y.AsF32()
	g := gy.F32()
	p := newBcastPlan(gy.Shape(), x.Shape(), y.Shape())
	sa, sb, n := p.step(0), p.step(1), p.inner()
	if needGrad(need, 0) {
		// d/dx x^y = y·x^(y−1), taken as 0 where y = 0 (as PyTorch does).
		dst := make([]float32, x.Len())
		p.rows(func(at int, off []int) {
			for i, v := range g[at : at+n] {
				a, e := float64(xv[off[0]+i*sa]), float64(yv[off[1]+i*sb])
				if e != 0 {
					dst[off[0]+i*sa] += v * float32(e*math.Pow(a, e-1))
				}
			}
		})
		grads[0] = tensor.FromF32(dst, x.Shape()...)
	}
	if needGrad(need, 1) && y.DType() == tensor.Float32 {
		// d/dy x^y = x^y·ln x, taken as 0 where x = 0 and y ≥ 0 (as PyTorch does).
		dst := make([]float32, y.Len())
		p.rows(func(at int, off []int) {
			for i, v := range g[at : at+n] {
				a, e := float64(xv[off[0]+i*sa]), float64(yv[off[1]+i*sb])
				if a == 0 && e >= 0 {
					continue
				}
				dst[off[1]+i*sb] += v * float32(math.Pow(a, e)*math.Log(a))
			}
		})
		grads[1] = tensor.FromF32(dst, y.Shape()...)
	}
	return grads, nil
}

// variadicOp is Sum or Mean of one or more float32 inputs, broadcast together.
type variadicOp struct {
	name string
	mean bool
}

func (v *variadicOp) Type() string { return v.name }

func (v *variadicOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%s: no inputs", v.name)
	}
	for k, t := range in {
		if t == nil || t.DType() != tensor.Float32 {
			return nil, fmt.Errorf("%s: input %d must be a float32 tensor", v.name, k)
		}
	}
	acc, shape := append([]float32(nil), in[0].F32()...), in[0].Shape()
	for _, t := range in[1:] {
		var err error
		acc, shape, err = broadcastBinary(acc, t.F32(), shape, t.Shape(), addRow[float32])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	if v.mean {
		n := float32(len(in))
		for i := range acc {
			acc[i] /= n
		}
	}
	return []*tensor.T{tensor.FromF32(acc, shape...)}, nil
}

func (v *variadicOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	gy := gradOut[0]
	if gy == nil {
		return zeroGrads(in, need), nil
	}
	for k, t := range in {
		if !needGrad(need, k) {
			continue
		}
		g := reduceToShape(gy.F32(), gy.Shape(), t.Shape())
		if v.mean {
			n := float32(len(in))
			for i := range g {
				g[i] /= n
			}
		}
		grads[k] = tensor.FromF32(g, t.Shape()...)
	}
	return grads, nil
}
