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
	// The element-wise functions, each one case of mathValue and
	// mathDeriv (one switch for all keeps the page's engine small: Go's
	// wasm code pays a few kilobytes for every function).
	for _, e := range []struct {
		name  string
		fn    mathFn
		attrs []string
		defs  []float32
	}{
		{"Reciprocal", fnReciprocal, nil, nil}, {"Log", fnLog, nil, nil},
		{"Sin", fnSin, nil, nil}, {"Cos", fnCos, nil, nil}, {"Tan", fnTan, nil, nil},
		{"Sinh", fnSinh, nil, nil}, {"Cosh", fnCosh, nil, nil},
		{"Asin", fnAsin, nil, nil}, {"Acos", fnAcos, nil, nil}, {"Atan", fnAtan, nil, nil},
		{"Asinh", fnAsinh, nil, nil}, {"Acosh", fnAcosh, nil, nil}, {"Atanh", fnAtanh, nil, nil},
		{"Floor", fnFloor, nil, nil}, {"Ceil", fnCeil, nil, nil}, {"Round", fnRound, nil, nil}, {"Sign", fnSign, nil, nil},
		{"Softplus", fnSoftplus, nil, nil}, {"Softsign", fnSoftsign, nil, nil}, {"Mish", fnMish, nil, nil},
		{"Elu", fnElu, []string{"alpha"}, []float32{1}},
		{"Selu", fnElu, []string{"alpha", "gamma"}, []float32{1.67326319217681884765625, 1.05070102214813232421875}},
		{"Celu", fnCelu, []string{"alpha"}, []float32{1}},
		{"Swish", fnSwish, []string{"alpha"}, []float32{1}},
		{"ThresholdedRelu", fnThresholdedRelu, []string{"alpha"}, []float32{1}},
		{"Shrink", fnShrink, []string{"bias", "lambd"}, []float32{0, 0.5}},
	} {
		Register(e.name, func(a Attrs, _ int) (Op, error) {
			m := mathParams{fn: e.fn, p: [2]float64{0, 1}} // Elu's γ is 1
			for k, n := range e.attrs {
				m.p[k] = float64(a.Float(n, e.defs[k]))
			}
			if e.fn == fnCelu && m.p[0] == 0 {
				return nil, fmt.Errorf("Celu: alpha must not be 0")
			}
			return &unaryOp{name: e.name,
				fwd: func(x, y []float32) {
					for i, v := range x {
						y[i] = float32(m.value(float64(v)))
					}
				},
				bwd: func(x, _, gy, gx []float32) {
					x = x[:len(gy)]
					for i, g := range gy {
						gx[i] = g * float32(m.deriv(float64(x[i])))
					}
				}}, nil
		})
	}
	Register("IsNaN", func(Attrs, int) (Op, error) {
		return &predicateOp{name: "IsNaN", f: func(v float64) bool { return math.IsNaN(v) }}, nil
	})
	Register("IsInf", func(a Attrs, _ int) (Op, error) {
		neg, pos := a.Int("detect_negative", 1) != 0, a.Int("detect_positive", 1) != 0
		return &predicateOp{name: "IsInf", f: func(v float64) bool { return neg && math.IsInf(v, -1) || pos && math.IsInf(v, 1) }}, nil
	})
	Register("PRelu", func(_ Attrs, opset int) (Op, error) { return preluOp{legacy: opset < 7}, nil })
	Register("Min", func(Attrs, int) (Op, error) { return &minMaxOp{name: "Min"}, nil })
	Register("Max", func(Attrs, int) (Op, error) { return &minMaxOp{name: "Max", max: true}, nil })
	Register("Size", func(Attrs, int) (Op, error) { return sizeOp{}, nil })
}

// mathFn names one element-wise function; mathParams is it with its
// attributes (p[0] is alpha or bias, p[1] gamma or lambd).
type mathFn uint8

const (
	fnReciprocal mathFn = iota
	fnLog
	fnSin
	fnCos
	fnTan
	fnSinh
	fnCosh
	fnAsin
	fnAcos
	fnAtan
	fnAsinh
	fnAcosh
	fnAtanh
	fnFloor
	fnCeil
	fnRound
	fnSign
	fnSoftplus
	fnSoftsign
	fnMish
	fnElu // γ·(x > 0 ? x : α(eˣ − 1)): Elu (γ = 1) and Selu
	fnCelu
	fnSwish
	fnThresholdedRelu
	fnShrink
)

type mathParams struct {
	fn mathFn
	p  [2]float64
}

// value is the function at v.
func (m mathParams) value(v float64) float64 {
	a, b := m.p[0], m.p[1]
	switch m.fn {
	case fnReciprocal:
		return 1 / v
	case fnLog:
		return math.Log(v)
	case fnSin:
		return math.Sin(v)
	case fnCos:
		return math.Cos(v)
	case fnTan:
		return math.Tan(v)
	case fnSinh:
		return math.Sinh(v)
	case fnCosh:
		return math.Cosh(v)
	case fnAsin:
		return math.Asin(v)
	case fnAcos:
		return math.Acos(v)
	case fnAtan:
		return math.Atan(v)
	case fnAsinh:
		return math.Asinh(v)
	case fnAcosh:
		return math.Acosh(v)
	case fnAtanh:
		return math.Atanh(v)
	case fnFloor:
		return math.Floor(v)
	case fnCeil:
		return math.Ceil(v)
	case fnRound:
		return math.RoundToEven(v)
	case fnSign:
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return v
	case fnSoftplus:
		return softplus(v)
	case fnSoftsign:
		return v / (1 + math.Abs(v))
	case fnMish:
		return v * math.Tanh(softplus(v))
	case fnElu:
		if v > 0 {
			return b * v
		}
		return b * a * (math.Exp(v) - 1)
	case fnCelu:
		return math.Max(0, v) + math.Min(0, a*(math.Exp(v/a)-1))
	case fnSwish:
		return v * sigmoid64(a*v)
	case fnThresholdedRelu:
		if v > a {
			return v
		}
		return 0
	case fnShrink:
		switch {
		case v < -b:
			return v + a
		case v > b:
			return v - a
		}
		return 0
	}
	return math.NaN()
}

// deriv is the function's derivative at v (0 for the piecewise constant
// Floor, Ceil, Round and Sign, as PyTorch's).
func (m mathParams) deriv(v float64) float64 {
	a, b := m.p[0], m.p[1]
	switch m.fn {
	case fnReciprocal:
		return -1 / (v * v)
	case fnLog:
		return 1 / v
	case fnSin:
		return math.Cos(v)
	case fnCos:
		return -math.Sin(v)
	case fnTan:
		c := math.Cos(v)
		return 1 / (c * c)
	case fnSinh:
		return math.Cosh(v)
	case fnCosh:
		return math.Sinh(v)
	case fnAsin:
		return 1 / math.Sqrt(1-v*v)
	case fnAcos:
		return -1 / math.Sqrt(1-v*v)
	case fnAtan:
		return 1 / (1 + v*v)
	case fnAsinh:
		return 1 / math.Sqrt(v*v+1)
	case fnAcosh:
		return 1 / math.Sqrt(v*v-1)
	case fnAtanh:
		return 1 / (1 - v*v)
	case fnSoftplus:
		return sigmoid64(v)
	case fnSoftsign:
		d := 1 + math.Abs(v)
		return 1 / (d * d)
	case fnMish:
		t := math.Tanh(softplus(v))
		return t + v*(1-t*t)*sigmoid64(v)
	case fnElu:
		if v > 0 {
			return b
		}
		return b * a * math.Exp(v)
	case fnCelu:
		if v > 0 {
			return 1
		}
		return math.Exp(v / a)
	case fnSwish:
		s := sigmoid64(a * v)
		return s + a*v*s*(1-s)
	case fnThresholdedRelu:
		if v > a {
			return 1
		}
	case fnShrink:
		if v < -b || v > b {
			return 1
		}
	}
	return 0
}

// softplus is ln(1 + eˣ) without overflow.
func softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

func sigmoid64(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

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
