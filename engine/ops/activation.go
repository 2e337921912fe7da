package ops

// Element-wise activations and unary math: Relu, LeakyRelu, Sigmoid,
// HardSigmoid, HardSwish, Clip, Tanh, Exp, Sqrt, Neg, Abs. Each forward is a
// flat loop over the input; each backward a flat loop over the gradient,
// using the forward input (or, for Sigmoid, Tanh, Exp and Sqrt, the forward
// output).

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Relu", unary("Relu", reluF, reluB))
	Register("Sigmoid", unary("Sigmoid", sigmoidF, sigmoidB))
	Register("HardSwish", unary("HardSwish", hardSwishF, hardSwishB))
	Register("Tanh", unary("Tanh", tanhF, tanhB))
	Register("Exp", unary("Exp", expF, expB))
	Register("Sqrt", unary("Sqrt", sqrtF, sqrtB))
	Register("Neg", unary("Neg", negF, negB))
	Register("Abs", unary("Abs", absF, absB))
	Register("LeakyRelu", func(a Attrs, _ int) (Op, error) {
		alpha := a.Float("alpha", 0.01)
		return &unaryOp{name: "LeakyRelu",
			fwd: func(x, y []float32) {
				for i, v := range x {
					if v < 0 {
						v *= alpha
					}
					y[i] = v
				}
			},
			bwd: func(x, _, gy, gx []float32) {
				x = x[:len(gy)]
				for i, g := range gy {
					if x[i] <= 0 {
						g *= alpha
					}
					gx[i] = g
				}
			}}, nil
	})
	Register("HardSigmoid", func(a Attrs, _ int) (Op, error) {
		alpha, beta := a.Float("alpha", 0.2), a.Float("beta", 0.5)
		return &unaryOp{name: "HardSigmoid",
			fwd: func(x, y []float32) {
				for i, v := range x {
					y[i] = max(0, min(1, alpha*v+beta))
				}
			},
			bwd: func(x, _, gy, gx []float32) {
				x = x[:len(gy)]
				for i, g := range gy {
					if t := alpha*x[i] + beta; t > 0 && t < 1 {
						gx[i] = g * alpha
					} else {
						gx[i] = 0
					}
				}
			}}, nil
	})
	Register("Clip", newClip)
}

// unaryOp is a float32 element-wise op given by a forward loop fwd(x, y) and
// a backward loop bwd(x, y, gy, gx). Relu, Neg and Abs also run on int64.
type unaryOp struct {
	name string
	fwd  func(x, y []float32)
	bwd  func(x, y, gy, gx []float32)
}

func unary(name string, fwd func(x, y []float32), bwd func(x, y, gy, gx []float32)) Factory {
	return func(Attrs, int) (Op, error) { return &unaryOp{name: name, fwd: fwd, bwd: bwd}, nil }
}

func (u *unaryOp) Type() string { return u.name }

func (u *unaryOp) Forward(in []*tensor.T) ([]*tensor.T, error) { return u.ForwardBufs(in, nil) }

// ForwardBufs is Forward with a float32 output taken from bufs
// (BufForwarder): every fwd loop writes each element.
// unaryBlock is the granule of a unary op's values split across goroutines.
const unaryBlock = 1024

func (u *unaryOp) ForwardBufs(in []*tensor.T, bufs Bufs) ([]*tensor.T, error) {
	if err := wantInputs(u.name, in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() == tensor.Int64 {
		y := make([]int64, x.Len())
		switch u.name {
		case "Neg":
			for i, v := range x.I64() {
				y[i] = -v
			}
		case "Abs":
			for i, v := range x.I64() {
				if v < 0 {
					v = -v
				}
				y[i] = v
			}
		case "Relu":
			for i, v := range x.I64() {
				y[i] = max(v, 0)
			}
		default:
			return nil, fmt.Errorf("%s: int64 input is not supported", u.name)
		}
		return []*tensor.T{tensor.FromI64(y, x.Shape()...)}, nil
	}
	y := newOut(bufs, x.Shape()...)
	xf, yf := x.F32(), y.F32()
	// Element-wise: split in blocks of unaryBlock values.
	blocks := (len(xf) + unaryBlock - 1) / unaryBlock
	parallelFor(blocks, float64(len(xf))*8, func(lo, hi int) {
		lo, hi = lo*unaryBlock, min(hi*unaryBlock, len(xf))
		u.fwd(xf[lo:hi], yf[lo:hi])
	})
	return []*tensor.T{y}, nil
}

func (u *unaryOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gy := gradOut[0]
	if gy == nil {
		return zeroGrads(in, need), nil
	}
	gx := make([]float32, gy.Len())
	var y []float32
	if len(out) > 0 && out[0] != nil && out[0].Len() == in[0].Len() {
		y = out[0].F32()
	} else {
		y = make([]float32, in[0].Len()) // output not kept: recompute it
		u.fwd(in[0].F32(), y)
	}
	u.bwd(in[0].F32(), y, gy.F32(), gx)
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}

// reluF and reluB take eight values per loop iteration: Go's wasm code pays
// for every iteration (a jump through the function's dispatch table), and
// unrolled they run 2–3× faster under Node. In wasm the whole groups of
// eight go to generated assembly (reluBulk, reluMaskBulk: another 2–3×,
// BenchmarkElemLoops), the same bits.
func reluF(x, y []float32) {
	y = y[:len(x)]
	i := reluBulk(x, y) // wasm: the assembly loop's part
	for ; i+8 <= len(x); i += 8 {
		xs, ys := (*[8]float32)(x[i:i+8]), (*[8]float32)(y[i:i+8])
		ys[0], ys[1], ys[2], ys[3] = relu32(xs[0]), relu32(xs[1]), relu32(xs[2]), relu32(xs[3])
		ys[4], ys[5], ys[6], ys[7] = relu32(xs[4]), relu32(xs[5]), relu32(xs[6]), relu32(xs[7])
	}
	for ; i < len(x); i++ {
		y[i] = relu32(x[i])
	}
}

// reluB sets gx to the gradient where the forward input is positive and
// to 0 elsewhere.
func reluB(x, _, gy, gx []float32) {
	x, gx = x[:len(gy)], gx[:len(gy)]
	i := reluMaskBulk(x, gy, gx) // wasm: the assembly loop's part
	for ; i+8 <= len(gy); i += 8 {
		xs, gs, ds := (*[8]float32)(x[i:i+8]), (*[8]float32)(gy[i:i+8]), (*[8]float32)(gx[i:i+8])
		ds[0], ds[1], ds[2], ds[3] = reluGrad(xs[0], gs[0]), reluGrad(xs[1], gs[1]), reluGrad(xs[2], gs[2]), reluGrad(xs[3], gs[3])
		ds[4], ds[5], ds[6], ds[7] = reluGrad(xs[4], gs[4]), reluGrad(xs[5], gs[5]), reluGrad(xs[6], gs[6]), reluGrad(xs[7], gs[7])
	}
	for ; i < len(gy); i++ {
		gx[i] = reluGrad(x[i], gy[i])
	}
}

// reluGrad is g where x > 0, else 0, by masking g's bits: Go's compiler
// turns an integer choice into a wasm select, while a branch on a float is
// a jump through the function's dispatch table, mispredicted on random
// signs (2–3× slower under Node).
func reluGrad(x, g float32) float32 {
	m := uint32(0)
	if x > 0 {
		m = ^uint32(0)
	}
	return math.Float32frombits(math.Float32bits(g) & m)
}

func sigmoidF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

func sigmoidB(_, y, gy, gx []float32) {
	y = y[:len(gy)]
	for i, g := range gy {
		gx[i] = g * y[i] * (1 - y[i])
	}
}

// hardSwishF is x·max(0, min(1, x/6 + 1/2)).
func hardSwishF(x, y []float32) {
	for i, v := range x {
		y[i] = v * max(0, min(1, v/6+0.5))
	}
}

// hardSwishB follows PyTorch: 0 below −3, x/3 + 1/2 up to 3, 1 above.
func hardSwishB(x, _, gy, gx []float32) {
	x = x[:len(gy)]
	for i, g := range gy {
		switch v := x[i]; {
		case v < -3:
			gx[i] = 0
		case v <= 3:
			gx[i] = g * (v/3 + 0.5)
		default:
			gx[i] = g
		}
	}
}

func tanhF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(math.Tanh(float64(v)))
	}
}

func tanhB(_, y, gy, gx []float32) {
	y = y[:len(gy)]
	for i, g := range gy {
		gx[i] = g * (1 - y[i]*y[i])
	}
}

func expF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(math.Exp(float64(v)))
	}
}

func expB(_, y, gy, gx []float32) {
	y = y[:len(gy)]
	for i, g := range gy {
		gx[i] = g * y[i]
	}
}

func sqrtF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(math.Sqrt(float64(v)))
	}
}

func sqrtB(_, y, gy, gx []float32) {
	y = y[:len(gy)]
	for i, g := range gy {
		gx[i] = g / (2 * y[i])
	}
}

func negF(x, y []float32) {
	for i, v := range x {
		y[i] = -v
	}
}

func negB(_, _, gy, gx []float32) {
	for i, g := range gy {
		gx[i] = -g
	}
}

func absF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(math.Abs(float64(v)))
	}
}

// absB uses sign(x), 0 at 0.
func absB(x, _, gy, gx []float32) {
	x = x[:len(gy)]
	for i, g := range gy {
		switch {
		case x[i] > 0:
			gx[i] = g
		case x[i] < 0:
			gx[i] = -g
		}
	}
}

// clipOp is Clip(x, min, max) = min(max(x, lo), hi). From opset 11 the bounds
// are optional scalar inputs; before that, attributes. Missing bounds are ±∞.
type clipOp struct {
	lo, hi float32 // attribute bounds (opset < 11)
}

func newClip(a Attrs, opset int) (Op, error) {
	c := &clipOp{lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	if opset < 11 {
		c.lo = a.Float("min", -math.MaxFloat32)
		c.hi = a.Float("max", math.MaxFloat32)
	}
	return c, nil
}

func (c *clipOp) Type() string { return "Clip" }

// bounds returns the clip bounds: inputs 1 and 2 when given (opset ≥ 11),
// else the attributes.
func (c *clipOp) bounds(in []*tensor.T) (lo, hi float32, err error) {
	lo, hi = c.lo, c.hi
	for k, p := range []*float32{&lo, &hi} {
		if len(in) <= k+1 || in[k+1] == nil || in[k+1].Len() == 0 {
			continue
		}
		if in[k+1].Len() != 1 {
			return 0, 0, fmt.Errorf("Clip: bound %d has shape %v, want a scalar", k+1, in[k+1].Shape())
		}
		*p = in[k+1].AsF32()[0]
	}
	return lo, hi, nil
}

func (c *clipOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Clip", in, 1, 3); err != nil {
		return nil, err
	}
	lo, hi, err := c.bounds(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() == tensor.Int64 {
		l, h := int64(math.MinInt64), int64(math.MaxInt64)
		if len(in) > 1 && in[1] != nil && in[1].Len() == 1 {
			l = in[1].I64()[0]
		}
		if len(in) > 2 && in[2] != nil && in[2].Len() == 1 {
			h = in[2].I64()[0]
		}
		y := make([]int64, x.Len())
		for i, v := range x.I64() {
			y[i] = min(max(v, l), h)
		}
		return []*tensor.T{tensor.FromI64(y, x.Shape()...)}, nil
	}
	y := make([]float32, x.Len())
	clipF32(x.F32(), y, lo, hi)
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

// clipF32 sets y[i] = min(max(x[i], lo), hi), with Go's min and max (a NaN
// stays NaN; at a bound, max takes +0 over −0 and min −0 over +0). With
// numbers for bounds it is clipFinite: wasm assembly with f32.min and
// f32.max in wasm (loops_wasm.s), clipGo elsewhere.
func clipF32(x, y []float32, lo, hi float32) {
	y = y[:len(x)]
	if lo != lo || hi != hi { // a NaN bound: every output is NaN
		for i, v := range x {
			y[i] = min(max(v, lo), hi)
		}
		return
	}
	clipFinite(x, y, lo, hi)
}

// clipGo is clipF32 for bounds that are numbers, calling Go's min and max
// only for values equal to a bound: for float32 they are function calls
// (runtime.fmax32 in wasm, a NaN- and zero-aware sequence natively), which
// made ReLU6 a third of MobileNetV2's forward pass in wasm. A NaN value
// compares false both times and is kept as it is, as min and max keep it.
func clipGo(x, y []float32, lo, hi float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v <= lo {
			if v < lo {
				v = lo
			} else {
				v = max(v, lo) // equal: +0 wins over −0
			}
		}
		if v >= hi {
			if v > hi {
				v = hi
			} else {
				v = min(v, hi) // equal: −0 wins over +0
			}
		}
		y[i] = v
	}
}

// clipMaskGo sets gx[i] = gy[i] where lo < x[i] < hi or x[i] is NaN, and
// +0 elsewhere: Clip's backward for numbers lo < hi when the bounds need no
// gradient. It chooses between the bits (a wasm select, not a branch);
// clipMask is this, in wasm assembly in wasm (loops_wasm.s).
func clipMaskGo(x, gy, gx []float32, lo, hi float32) {
	gy, gx = gy[:len(x)], gx[:len(x)]
	for i, v := range x {
		r := math.Float32bits(gy[i])
		if v <= lo || v >= hi {
			r = 0
		}
		gx[i] = math.Float32frombits(r)
	}
}

// Backward passes the gradient to x strictly inside (lo, hi), as PyTorch's
// hardtanh does (ReLU6 exports as Clip); elsewhere it goes to the bound that
// produced the output, when that bound is an input.
func (c *clipOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gy := gradOut[0]
	if gy == nil {
		return zeroGrads(in, need), nil
	}
	lo, hi, err := c.bounds(in)
	if err != nil {
		return nil, err
	}
	var gx []float32
	if needGrad(need, 0) {
		gx = make([]float32, in[0].Len())
	}
	x := in[0].F32()
	needBounds := false
	for k := 1; k <= 2; k++ {
		needBounds = needBounds || needGrad(need, k) && len(in) > k && in[k] != nil && in[k].Len() == 1 && in[k].DType() == tensor.Float32
	}
	if !needBounds && lo < hi { // the usual case: only x's gradient, bounds in order
		if gx != nil {
			clipMask(x, gy.F32(), gx, lo, hi)
			grads[0] = tensor.FromF32(gx, in[0].Shape()...)
		}
		return grads, nil
	}
	var glo, ghi float32
	for i, g := range gy.F32() {
		v := x[i]
		switch m := max(v, lo); {
		case m >= hi:
			ghi += g
		case v <= lo:
			glo += g
		default:
			if gx != nil {
				gx[i] = g
			}
		}
	}
	if gx != nil {
		grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	}
	for k, s := range []float32{glo, ghi} {
		if needGrad(need, k+1) && in[k+1] != nil && in[k+1].Len() == 1 && in[k+1].DType() == tensor.Float32 {
			grads[k+1] = tensor.FromF32([]float32{s}, in[k+1].Shape()...)
		}
	}
	return grads, nil
}
