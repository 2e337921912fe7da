package ops

// More element-wise math: Reciprocal, Log, the trigonometric and
// hyperbolic functions and their inverses, Floor, Ceil, Round, Sign,
// Softplus, Softsign, Elu, Selu, Celu, Mish, Swish, ThresholdedRelu, Shrink
// and PRelu, IsNaN and IsInf, the variadic Min and Max, and Size. Floor, Ceil,
// Round and Sign are piecewise constant: their gradient is 0 (as
// PyTorch's).

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Reciprocal", unary("Reciprocal", mapF(func(v float64) float64 { return 1 / v }),
		func(_, y, gy, gx []float32) {
			for i, g := range gy {
				gx[i] = -g * y[i] * y[i]
			}
		}))
	Register("Log", unary("Log", mapF(math.Log), func(x, _, gy, gx []float32) {
		for i, g := range gy {
			gx[i] = g / x[i]
		}
	}))
	Register("Sin", unary("Sin", mapF(math.Sin), derivB(math.Cos)))
	Register("Cos", unary("Cos", mapF(math.Cos), derivB(func(v float64) float64 { return -math.Sin(v) })))
	Register("Floor", unary("Floor", mapF(math.Floor), zeroB))
	Register("Ceil", unary("Ceil", mapF(math.Ceil), zeroB))
	Register("Round", unary("Round", mapF(math.RoundToEven), zeroB))
	Register("Sign", unary("Sign", mapF(func(v float64) float64 {
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return v
	}), zeroB))
	Register("Softplus", unary("Softplus", mapF(softplus), derivB(sigmoid64)))
	Register("Softsign", unary("Softsign", mapF(func(v float64) float64 { return v / (1 + math.Abs(v)) }),
		derivB(func(v float64) float64 { d := 1 + math.Abs(v); return 1 / (d * d) })))
	Register("Mish", unary("Mish", mapF(func(v float64) float64 { return v * math.Tanh(softplus(v)) }),
		derivB(func(v float64) float64 {
			t := math.Tanh(softplus(v))
			return t + v*(1-t*t)*sigmoid64(v)
		})))
	Register("Elu", func(a Attrs, _ int) (Op, error) {
		alpha := float64(a.Float("alpha", 1))
		return eluOp("Elu", 1, alpha), nil
	})
	Register("Selu", func(a Attrs, _ int) (Op, error) {
		return eluOp("Selu", float64(a.Float("gamma", 1.05070102214813232421875)), float64(a.Float("alpha", 1.67326319217681884765625))), nil
	})
	Register("Celu", func(a Attrs, _ int) (Op, error) {
		alpha := float64(a.Float("alpha", 1))
		if alpha == 0 {
			return nil, fmt.Errorf("Celu: alpha must not be 0")
		}
		return &unaryOp{name: "Celu",
			fwd: mapF(func(v float64) float64 { return math.Max(0, v) + math.Min(0, alpha*(math.Exp(v/alpha)-1)) }),
			bwd: derivB(func(v float64) float64 {
				if v > 0 {
					return 1
				}
				return math.Exp(v / alpha)
			})}, nil
	})
	for _, f := range []struct {
		name string
		f, d func(float64) float64
	}{
		{"Tan", math.Tan, func(v float64) float64 { c := math.Cos(v); return 1 / (c * c) }},
		{"Sinh", math.Sinh, math.Cosh},
		{"Cosh", math.Cosh, math.Sinh},
		{"Asin", math.Asin, func(v float64) float64 { return 1 / math.Sqrt(1-v*v) }},
		{"Acos", math.Acos, func(v float64) float64 { return -1 / math.Sqrt(1-v*v) }},
		{"Atan", math.Atan, func(v float64) float64 { return 1 / (1 + v*v) }},
		{"Asinh", math.Asinh, func(v float64) float64 { return 1 / math.Sqrt(v*v+1) }},
		{"Acosh", math.Acosh, func(v float64) float64 { return 1 / math.Sqrt(v*v-1) }},
		{"Atanh", math.Atanh, func(v float64) float64 { return 1 / (1 - v*v) }},
	} {
		Register(f.name, unary(f.name, mapF(f.f), derivB(f.d)))
	}
	Register("ThresholdedRelu", func(a Attrs, _ int) (Op, error) {
		alpha := float64(a.Float("alpha", 1))
		return &unaryOp{name: "ThresholdedRelu",
			fwd: mapF(func(v float64) float64 {
				if v > alpha {
					return v
				}
				return 0
			}),
			bwd: derivB(func(v float64) float64 {
				if v > alpha {
					return 1
				}
				return 0
			})}, nil
	})
	Register("Shrink", func(a Attrs, _ int) (Op, error) {
		bias, lambd := float64(a.Float("bias", 0)), float64(a.Float("lambd", 0.5))
		return &unaryOp{name: "Shrink",
			fwd: mapF(func(v float64) float64 {
				switch {
				case v < -lambd:
					return v + bias
				case v > lambd:
					return v - bias
				}
				return 0
			}),
			bwd: derivB(func(v float64) float64 {
				if v < -lambd || v > lambd {
					return 1
				}
				return 0
			})}, nil
	})
	Register("IsNaN", func(Attrs, int) (Op, error) {
		return &predicateOp{name: "IsNaN", f: func(v float64) bool { return math.IsNaN(v) }}, nil
	})
	Register("IsInf", func(a Attrs, _ int) (Op, error) {
		neg, pos := a.Int("detect_negative", 1) != 0, a.Int("detect_positive", 1) != 0
		return &predicateOp{name: "IsInf", f: func(v float64) bool { return neg && math.IsInf(v, -1) || pos && math.IsInf(v, 1) }}, nil
	})
	Register("Swish", func(a Attrs, _ int) (Op, error) {
		alpha := float64(a.Float("alpha", 1))
		return &unaryOp{name: "Swish",
			fwd: mapF(func(v float64) float64 { return v * sigmoid64(alpha*v) }),
			bwd: derivB(func(v float64) float64 { s := sigmoid64(alpha * v); return s + alpha*v*s*(1-s) })}, nil
	})
	Register("PRelu", func(_ Attrs, opset int) (Op, error) { return preluOp{legacy: opset < 7}, nil })
	Register("Min", func(Attrs, int) (Op, error) { return &minMaxOp{name: "Min"}, nil })
	Register("Max", func(Attrs, int) (Op, error) { return &minMaxOp{name: "Max", max: true}, nil })
	Register("Size", func(Attrs, int) (Op, error) { return sizeOp{}, nil })
}

// mapF is the forward loop of y = f(x), computed in float64.
func mapF(f func(float64) float64) func(x, y []float32) {
	return func(x, y []float32) {
		for i, v := range x {
			y[i] = float32(f(float64(v)))
		}
	}
}

// derivB is the backward loop of y = f(x) given f'.
func derivB(df func(float64) float64) func(x, y, gy, gx []float32) {
	return func(x, _, gy, gx []float32) {
		x = x[:len(gy)]
		for i, g := range gy {
			gx[i] = g * float32(df(float64(x[i])))
		}
	}
}

func zeroB(_, _, gy, gx []float32) { clear(gx[:len(gy)]) }

// softplus is ln(1 + eˣ) without overflow.
func softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

func sigmoid64(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// eluOp is γ·(x > 0 ? x : α(eˣ − 1)): Elu (γ = 1) or Selu.
func eluOp(name string, gamma, alpha float64) *unaryOp {
	return &unaryOp{name: name,
		fwd: mapF(func(v float64) float64 {
			if v > 0 {
				return gamma * v
			}
			return gamma * alpha * (math.Exp(v) - 1)
		}),
		bwd: derivB(func(v float64) float64 {
			if v > 0 {
				return gamma
			}
			return gamma * alpha * math.Exp(v)
		})}
}

// preluOp is PRelu(X, slope) = X where X ≥ 0, slope·X elsewhere, slope
// broadcast to X. Before opset 7 a 1-D slope of C values is per channel
// (axis 1).
type preluOp struct{ legacy bool }

func (preluOp) Type() string { return "PRelu" }

// slope returns the slope input, laid out per channel for the old form.
func (p preluOp) slope(x, s *tensor.T) *tensor.T {
	if p.legacy && s.Rank() == 1 && x.Rank() > 2 && s.Len() == x.Shape()[1] && s.Len() != 1 {
		shape := make([]int, x.Rank()-1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = s.Len()
		v, _ := s.Reshape(shape...)
		return v
	}
	return s
}

func (p preluOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("PRelu", in, 2, 2); err != nil {
		return nil, err
	}
	x, s := in[0], p.slope(in[0], in[1])
	if x.DType() != tensor.Float32 || s.DType() != tensor.Float32 {
		return nil, fmt.Errorf("PRelu supports float32 only")
	}
	o, shape, err := broadcastBinary(x.F32(), s.F32(), x.Shape(), s.Shape(), func(o, a, b []float32, sa, sb int) {
		for i := range o {
			v := a[i*sa]
			if v < 0 {
				v *= b[i*sb]
			}
			o[i] = v
		}
	})
	if err != nil {
		return nil, fmt.Errorf("PRelu: %w", err)
	}
	if !tensor.SameShape(shape, x.Shape()) {
		return nil, fmt.Errorf("PRelu: slope %v does not broadcast to X %v", s.Shape(), x.Shape())
	}
	return []*tensor.T{tensor.FromF32(o, shape...)}, nil
}

func (p preluOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	grads := make([]*tensor.T, len(in))
	x, s := in[0], p.slope(in[0], in[1])
	g, xs, sv := gradOut[0].F32(), x.F32(), s.F32()
	bp := newBcastPlan(x.Shape(), x.Shape(), s.Shape())
	ss, n := bp.step(1), bp.inner()
	var gx, gs []float32
	if needGrad(need, 0) {
		gx = make([]float32, len(xs))
	}
	if needGrad(need, 1) {
		gs = make([]float32, len(sv))
	}
	bp.rows(func(at int, off []int) {
		for i := 0; i < n; i++ {
			k, j := at+i, off[1]+i*ss
			if xs[k] < 0 {
				if gx != nil {
					gx[k] = g[k] * sv[j]
				}
				if gs != nil {
					gs[j] += g[k] * xs[k]
				}
			} else if gx != nil {
				gx[k] = g[k]
			}
		}
	})
	if gx != nil {
		grads[0] = tensor.FromF32(gx, x.Shape()...)
	}
	if gs != nil {
		grads[1] = tensor.FromF32(gs, in[1].Shape()...)
	}
	return grads, nil
}

func (preluOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) { return sameAsInput0("PRelu", s) }

// minMaxOp is the element-wise Min or Max of one or more inputs, broadcast
// together. The gradient goes to the input that holds the extreme, shared
// evenly among ties.
type minMaxOp struct {
	name string
	max  bool
}

func (m *minMaxOp) Type() string { return m.name }

func minMaxRow[E elemType](isMax bool) rowFunc[E] {
	return func(o, a, b []E, sa, sb int) {
		for i := range o {
			if isMax {
				o[i] = max(a[i*sa], b[i*sb])
			} else {
				o[i] = min(a[i*sa], b[i*sb])
			}
		}
	}
}

func (m *minMaxOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("%s: no inputs", m.name)
	}
	dt := in[0].DType()
	for k, t := range in {
		if t == nil || t.DType() != dt {
			return nil, fmt.Errorf("%s: input %d is missing or not %s", m.name, k, dt)
		}
	}
	var err error
	shape := in[0].Shape()
	if dt == tensor.Int64 {
		acc := append([]int64(nil), in[0].I64()...)
		for _, t := range in[1:] {
			if acc, shape, err = broadcastBinary(acc, t.I64(), shape, t.Shape(), minMaxRow[int64](m.max)); err != nil {
				return nil, fmt.Errorf("%s: %w", m.name, err)
			}
		}
		return []*tensor.T{tensor.FromI64(acc, shape...)}, nil
	}
	acc := append([]float32(nil), in[0].F32()...)
	for _, t := range in[1:] {
		if acc, shape, err = broadcastBinary(acc, t.F32(), shape, t.Shape(), minMaxRow[float32](m.max)); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return []*tensor.T{tensor.FromF32(acc, shape...)}, nil
}

func (m *minMaxOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	y, err := m.Forward(in) // recomputed: hooks may have replaced the output
	if err != nil {
		return nil, err
	}
	ys, shape := y[0].F32(), y[0].Shape()
	g := gradOut[0].F32()
	// ties[i]: how many inputs attain the extreme at output i.
	ties := make([]float32, len(ys))
	hit := func(t *tensor.T, fn func(o, j int)) {
		p := newBcastPlan(shape, shape, t.Shape())
		st, n := p.step(1), p.inner()
		v := t.F32()
		p.rows(func(at int, off []int) {
			for i := 0; i < n; i++ {
				if v[off[1]+i*st] == ys[at+i] {
					fn(at+i, off[1]+i*st)
				}
			}
		})
	}
	for _, t := range in {
		hit(t, func(o, _ int) { ties[o]++ })
	}
	for k, t := range in {
		if !needGrad(need, k) {
			continue
		}
		gk := make([]float32, t.Len())
		hit(t, func(o, j int) { gk[j] += g[o] / ties[o] })
		grads[k] = tensor.FromF32(gk, t.Shape()...)
	}
	return grads, nil
}

func (m *minMaxOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut(m.name, s, 1)
}

// sizeOp is Size: the number of elements, as an int64 scalar.
type sizeOp struct{}

func (sizeOp) Type() string { return "Size" }

func (sizeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Size", in, 1, 1); err != nil {
		return nil, err
	}
	return []*tensor.T{tensor.FromI64([]int64{int64(in[0].Len())})}, nil
}

func (sizeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

func (sizeOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) { return [][]int{{}}, nil }

// predicateOp is an element-wise test with a BOOL (int64 0/1) output and
// no gradient.
type predicateOp struct {
	name string
	f    func(float64) bool
}

func (p *predicateOp) Type() string { return p.name }

func (p *predicateOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(p.name, in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	y := make([]int64, x.Len())
	for i, v := range x.AsF32() {
		if p.f(float64(v)) {
			y[i] = 1
		}
	}
	return []*tensor.T{tensor.FromI64(y, x.Shape()...)}, nil
}

func (p *predicateOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

func (p *predicateOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0(p.name, s)
}
