package ops

// Reductions: ReduceSum, ReduceMean, ReduceMax and ReduceMin over a set of
// axes, with keepdims (default 1). The axes come from the attribute (opset
// < 13 for ReduceSum, < 18 for the others) or the optional second input; no
// axes means all of them, or, with noop_with_empty_axes = 1, the identity.
//
// The reduced shape (keepdims form) is a broadcast operand of the input
// shape, so the loops reuse broadcast.go's row plan: a global average pool
// written as ReduceMean over [2, 3] walks rows of H·W, one sum per row.

import (
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	for _, name := range []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"} {
		Register(name, func(a Attrs, _ int) (Op, error) {
			return &reduceOp{
				name:     name,
				axes:     attrInts(a, "axes"),
				keepDims: a.Int("keepdims", 1) != 0,
				noop:     a.Int("noop_with_empty_axes", 0) != 0,
			}, nil
		})
	}
}

// reduceOp is one of ReduceSum, ReduceMean, ReduceMax, ReduceMin.
type reduceOp struct {
	name     string
	axes     []int // attribute; nil when absent
	keepDims bool
	noop     bool
}

func (r *reduceOp) Type() string { return r.name }

// plan returns the reduced shape with kept dims (kept), the output shape,
// and whether the op is the identity (empty axes with noop_with_empty_axes).
func (r *reduceOp) plan(in []*tensor.T) (kept, out []int, identity bool, err error) {
	shape := in[0].Shape()
	axes, _ := axesFrom(r.axes, in, 1)
	if len(axes) == 0 {
		if r.noop {
			return shape, shape, true, nil
		}
		axes = make([]int, len(shape))
		for i := range axes {
			axes[i] = i
		}
	}
	red := make([]bool, len(shape))
	for _, a := range axes {
		i, err := normAxis(r.name, a, len(shape))
		if err != nil {
			return nil, nil, false, err
		}
		red[i] = true
	}
	kept = make([]int, len(shape))
	out = []int{}
	for i, d := range shape {
		if red[i] {
			kept[i] = 1
			if r.keepDims {
				out = append(out, 1)
			}
		} else {
			kept[i] = d
			out = append(out, d)
		}
	}
	return kept, out, false, nil
}

func (r *reduceOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(r.name, in, 1, 2); err != nil {
		return nil, err
	}
	x := in[0]
	kept, out, identity, err := r.plan(in)
	if err != nil {
		return nil, err
	}
	if identity {
		return []*tensor.T{x.Clone()}, nil
	}
	if x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(reduceData(r.name, x.I64(), x.Shape(), kept), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(reduceData(r.name, x.F32(), x.Shape(), kept), out...)}, nil
}

// reduceData reduces x (shape) to the kept shape. Sums and means accumulate
// row by row; an int64 mean truncates. Max and Min of an empty set are the
// type's lowest and highest values (−∞ and +∞ for float32).
func reduceData[E elemType](name string, x []E, shape, kept []int) []E {
	dst := make([]E, tensor.Size(kept))
	isMax, isMin := name == "ReduceMax", name == "ReduceMin"
	if isMax || isMin {
		var lo, hi E
		switch p := any(&lo).(type) {
		case *float32:
			*p = float32(math.Inf(-1))
			*any(&hi).(*float32) = float32(math.Inf(1))
		case *int64:
			*p = math.MinInt64
			*any(&hi).(*int64) = math.MaxInt64
		}
		if isMax {
			fill(dst, lo)
		} else {
			fill(dst, hi)
		}
	}
	p := newBcastPlan(shape, kept)
	s, n := p.step(0), p.inner()
	p.rows(func(at int, off []int) {
		row := x[at : at+n]
		switch {
		case s == 1:
			d := dst[off[0] : off[0]+n]
			for i, v := range row {
				switch {
				case isMax:
					d[i] = max(d[i], v)
				case isMin:
					d[i] = min(d[i], v)
				default:
					d[i] += v
				}
			}
		case isMax:
			m := dst[off[0]]
			for _, v := range row {
				m = max(m, v)
			}
			dst[off[0]] = m
		case isMin:
			m := dst[off[0]]
			for _, v := range row {
				m = min(m, v)
			}
			dst[off[0]] = m
		default:
			dst[off[0]] += sumRow(row)
		}
	})
	if name == "ReduceMean" && len(dst) > 0 {
		cnt := tensor.Size(shape) / len(dst)
		if cnt == 0 {
			// Mean of nothing: NaN for float32 (0/0), 0 for int64.
			if f, ok := any(dst).([]float32); ok {
				fill(f, float32(math.NaN()))
			}
			return dst
		}
		for i := range dst {
			dst[i] /= E(cnt)
		}
	}
	return dst
}

// sumRow sums a row, float32 rows in float64 so that long rows (a global
// average pool over 56×56) keep float32 precision.
func sumRow[E elemType](row []E) E {
	if f, ok := any(row).([]float32); ok {
		var acc float64
		for _, v := range f {
			acc += float64(v)
		}
		return E(acc)
	}
	var acc E
	for _, v := range row {
		acc += v
	}
	return acc
}

// Backward broadcasts the output gradient back over the reduced axes: as is
// for ReduceSum, divided by the count for ReduceMean, and for ReduceMax and
// ReduceMin only to the elements equal to the extreme, shared evenly among
// ties (as PyTorch's amax/amin do).
func (r *reduceOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
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
	switch r.name {
	case "ReduceSum":
		grads[0] = tensor.FromF32(expandToShape(gy, kept, x.Shape(), 1), x.Shape()...)
	case "ReduceMean":
		scale := float32(0)
		if m := tensor.Size(kept); m > 0 && x.Len() > 0 {
			scale = 1 / float32(x.Len()/m)
		}
		grads[0] = tensor.FromF32(expandToShape(gy, kept, x.Shape(), scale), x.Shape()...)
	default:
		// Recompute the extremes from x, so that the backward does not
		// depend on the output value (which hooks may have replaced).
		xs := x.F32()
		y := reduceData(r.name, xs, x.Shape(), kept)
		ties := make([]float32, len(y))
		gx := make([]float32, len(xs))
		p := newBcastPlan(x.Shape(), kept)
		s, n := p.step(0), p.inner()
		p.rows(func(at int, off []int) {
			for i, v := range xs[at : at+n] {
				if v == y[off[0]+i*s] {
					ties[off[0]+i*s]++
				}
			}
		})
		p.rows(func(at int, off []int) {
			for i, v := range xs[at : at+n] {
				if k := off[0] + i*s; v == y[k] {
					gx[at+i] = gy[k] / ties[k]
				}
			}
		})
		grads[0] = tensor.FromF32(gx, x.Shape()...)
	}
	return grads, nil
}
