package ops

// The other reductions: ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
// ReduceLogSumExp and ReduceProd, with the same axes, keepdims and
// noop_with_empty_axes rules as reduce.go (axes as the second input from
// opset 18). Over each group of reduced elements x_i, accumulated in
// float64:
//
//	L1         Σ|x|            ∂/∂x_i = sign(x_i)
//	L2         √Σx²            ∂/∂x_i = x_i / y  (0 where y = 0)
//	SumSquare  Σx²             ∂/∂x_i = 2x_i
//	LogSum     ln Σx           ∂/∂x_i = 1 / Σx
//	LogSumExp  m + ln Σe^(x−m) ∂/∂x_i = e^(x_i − y),  m = max x
//	Prod       Πx              ∂/∂x_i = Π_(j≠i) x_j

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	for _, name := range []string{"ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd"} {
		Register(name, func(a Attrs, _ int) (Op, error) {
			return &reduceMoreOp{reduceOp{
				name:     name,
				axes:     attrInts(a, "axes"),
				keepDims: a.Int("keepdims", 1) != 0,
				noop:     a.Int("noop_with_empty_axes", 0) != 0,
			}}, nil
		})
	}
}

type reduceMoreOp struct{ reduceOp }

// eachInGroup calls fn(i, g) for every element i of a tensor of the given
// shape and the group g (an index into the kept shape) it reduces into.
func eachInGroup(shape, kept []int, fn func(i, g int)) {
	p := newBcastPlan(shape, kept)
	s, n := p.step(0), p.inner()
	p.rows(func(at int, off []int) {
		for i := 0; i < n; i++ {
			fn(at+i, off[0]+i*s)
		}
	})
}

// stats returns, per group, what the forward and backward need: the
// result y, and for ReduceProd the product of the non-zero elements and
// the number of zeros.
func (r *reduceMoreOp) stats(x []float32, shape, kept []int) (y, nzProd, zeros []float64) {
	n := tensor.Size(kept)
	y = make([]float64, n)
	switch r.name {
	case "ReduceLogSumExp":
		m := make([]float64, n)
		for g := range m {
			m[g] = math.Inf(-1)
		}
		eachInGroup(shape, kept, func(i, g int) { m[g] = math.Max(m[g], float64(x[i])) })
		eachInGroup(shape, kept, func(i, g int) {
			if !math.IsInf(m[g], -1) {
				y[g] += math.Exp(float64(x[i]) - m[g])
			}
		})
		for g := range y {
			if math.IsInf(m[g], -1) {
				y[g] = math.Inf(-1)
			} else {
				y[g] = m[g] + math.Log(y[g])
			}
		}
	case "ReduceProd":
		nzProd, zeros = make([]float64, n), make([]float64, n)
		for g := range nzProd {
			nzProd[g] = 1
		}
		eachInGroup(shape, kept, func(i, g int) {
			if v := float64(x[i]); v == 0 {
				zeros[g]++
			} else {
				nzProd[g] *= v
			}
		})
		for g := range y {
			if zeros[g] == 0 {
				y[g] = nzProd[g]
			}
		}
	default:
		eachInGroup(shape, kept, func(i, g int) {
			v := float64(x[i])
			switch r.name {
			case "ReduceL1":
				y[g] += math.Abs(v)
			case "ReduceL2", "ReduceSumSquare":
				y[g] += v * v
			default: // ReduceLogSum
				y[g] += v
			}
		})
		for g, v := range y {
			switch r.name {
			case "ReduceL2":
				y[g] = math.Sqrt(v)
			case "ReduceLogSum":
				y[g] = math.Log(v)
			}
		}
	}
	return y, nzProd, zeros
}

func (r *reduceMoreOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(r.name, in, 1, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("%s: input must be float32, got %s", r.name, x.DType())
	}
	kept, out, identity, err := r.plan(in)
	if err != nil {
		return nil, err
	}
	if identity {
		return []*tensor.T{x.Clone()}, nil
	}
	y, _, _ := r.stats(x.F32(), x.Shape(), kept)
	o := make([]float32, len(y))
	for g, v := range y {
		o[g] = float32(v)
	}
	return []*tensor.T{tensor.FromF32(o, out...)}, nil
}

func (r *reduceMoreOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	x := in[0]
	if !needGrad(need, 0) || x.DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	kept, _, identity, err := r.plan(in)
	if err != nil {
		return nil, err
	}
	gy := gradOut[0].F32()
	if identity {
		grads[0] = tensor.FromF32(append([]float32(nil), gy...), x.Shape()...)
		return grads, nil
	}
	xs := x.F32()
	y, nzProd, zeros := r.stats(xs, x.Shape(), kept)
	gx := make([]float32, len(xs))
	eachInGroup(x.Shape(), kept, func(i, g int) {
		v, G := float64(xs[i]), float64(gy[g])
		var d float64
		switch r.name {
		case "ReduceL1":
			switch {
			case v > 0:
				d = 1
			case v < 0:
				d = -1
			}
		case "ReduceL2":
			if y[g] != 0 {
				d = v / y[g]
			}
		case "ReduceSumSquare":
			d = 2 * v
		case "ReduceLogSum":
			d = 1 / math.Exp(y[g])
		case "ReduceLogSumExp":
			d = math.Exp(v - y[g])
		case "ReduceProd":
			switch {
			case zeros[g] == 0:
				d = nzProd[g] / v
			case zeros[g] == 1 && v == 0:
				d = nzProd[g]
			}
		}
		gx[i] = float32(G * d)
	})
	grads[0] = tensor.FromF32(gx, x.Shape()...)
	return grads, nil
}
