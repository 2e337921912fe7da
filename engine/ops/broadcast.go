package ops

// Numpy-style multidirectional broadcasting, written once for every
// element-wise op (Add, Sub, Mul, Div, Pow, Sum, Mean) and for the
// reductions, whose reduced shape is a broadcast operand of the input shape.
//
// A bcastPlan walks the output in rows: dimensions of size 1 are dropped and
// adjacent dimensions that every operand traverses contiguously are merged,
// so the innermost row is as long as possible and each operand moves through
// it with stride 1 (present) or 0 (broadcast). A residual Add of two equal
// shapes is a single row; a per-channel [1,C,1,1] operand against [N,C,H,W]
// becomes rows of H·W with a constant per-row value.

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// elemType is the set of element types a tensor can hold.
type elemType interface {
	~float32 | ~int64
}

// broadcastShapes returns the numpy broadcast of the given shapes.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				return nil, fmt.Errorf("shapes %s cannot be broadcast together", shapesString(shapes))
			}
		}
	}
	return out, nil
}

func shapesString(shapes [][]int) string {
	s := ""
	for k, sh := range shapes {
		if k > 0 {
			s += " and "
		}
		s += tensor.ShapeString(sh)
	}
	return s
}

// bcastPlan iterates an output shape row by row together with operands
// broadcast to it.
type bcastPlan struct {
	dims    []int   // merged output dims, outer to inner; never empty
	strides [][]int // per operand, per merged dim: element stride, 0 where broadcast
	n       int     // number of output elements
}

// newBcastPlan builds the plan for output shape out and operand shapes that
// broadcast to it (callers check that with broadcastShapes).
func newBcastPlan(out []int, operands ...[]int) *bcastPlan {
	p := &bcastPlan{n: tensor.Size(out), strides: make([][]int, len(operands))}
	// Each operand's row-major strides, aligned to out's trailing dims.
	full := make([][]int, len(operands))
	for k, s := range operands {
		st := make([]int, len(out))
		acc := 1
		off := len(out) - len(s)
		for i := len(s) - 1; i >= 0; i-- {
			if s[i] != 1 {
				st[off+i] = acc
			}
			acc *= s[i]
		}
		full[k] = st
	}
	for i, d := range out {
		if d == 1 {
			continue
		}
		// Merge dim i into the previous one when every operand steps through
		// both contiguously, or broadcasts along both.
		nd := len(p.dims)
		merge := nd > 0
		for k := 0; merge && k < len(operands); k++ {
			merge = p.strides[k][nd-1] == full[k][i]*d
		}
		if merge {
			p.dims[nd-1] *= d
			for k := range operands {
				p.strides[k][nd-1] = full[k][i]
			}
			continue
		}
		p.dims = append(p.dims, d)
		for k := range operands {
			p.strides[k] = append(p.strides[k], full[k][i])
		}
	}
	if len(p.dims) == 0 {
		p.dims = []int{1}
		for k := range operands {
			p.strides[k] = []int{0}
		}
	}
	return p
}

// inner is the length of a row.
func (p *bcastPlan) inner() int { return p.dims[len(p.dims)-1] }

// step is operand k's stride within a row: 1, or 0 when broadcast along it.
func (p *bcastPlan) step(k int) int { return p.strides[k][len(p.dims)-1] }

// rows calls fn for each row with the row's output offset and each operand's
// offset. fn must not keep off.
func (p *bcastPlan) rows(fn func(o int, off []int)) {
	inner := p.inner()
	if p.n == 0 || inner == 0 {
		return
	}
	nd := len(p.dims)
	idx := make([]int, nd)
	off := make([]int, len(p.strides))
	for o := 0; o < p.n; o += inner {
		fn(o, off)
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			for k := range off {
				off[k] += p.strides[k][d]
			}
			if idx[d] < p.dims[d] {
				break
			}
			for k := range off {
				off[k] -= p.strides[k][d] * p.dims[d]
			}
			idx[d] = 0
		}
	}
}

// rowFunc computes one output row o from rows of a and b, each read with
// stride 1 or 0 (a single broadcast value at a[0]).
type rowFunc[E elemType] func(o, a, b []E, sa, sb int)

// broadcastBinary applies row over the broadcast of a (shape ash) and b
// (shape bsh), returning the result and its shape.
func broadcastBinary[E elemType](a, b []E, ash, bsh []int, row rowFunc[E]) ([]E, []int, error) {
	return broadcastBinaryTo(a, b, ash, bsh, row, nil)
}

// broadcastBinaryTo is broadcastBinary with the result's storage from mk
// (contents unspecified: row writes every element), or made when mk is nil.
func broadcastBinaryTo[E elemType](a, b []E, ash, bsh []int, row rowFunc[E], mk func(n int) []E) ([]E, []int, error) {
	if mk == nil {
		mk = func(n int) []E { return make([]E, n) }
	}
	if tensor.SameShape(ash, bsh) {
		o := mk(len(a))
		row(o, a, b, 1, 1)
		return o, append([]int{}, ash...), nil
	}
	out, err := broadcastShapes(ash, bsh)
	if err != nil {
		return nil, nil, err
	}
	o := mk(tensor.Size(out))
	switch {
	case len(b) == 1 && len(a) == len(o):
		row(o, a, b, 1, 0)
	case len(a) == 1 && len(b) == len(o):
		row(o, a, b, 0, 1)
	default:
		p := newBcastPlan(out, ash, bsh)
		sa, sb, n := p.step(0), p.step(1), p.inner()
		p.rows(func(at int, off []int) {
			row(o[at:at+n], a[off[0]:], b[off[1]:], sa, sb)
		})
	}
	return o, out, nil
}

// reduceToShape sums g (shape gshape, the broadcast output) over the axes
// along which an operand of shape target was broadcast, returning a new
// slice of target's size. It is the backward of broadcasting.
func reduceToShape(g []float32, gshape, target []int) []float32 {
	dst := make([]float32, tensor.Size(target))
	if len(dst) == len(g) {
		copy(dst, g)
		return dst
	}
	if len(dst) == 1 {
		var s float32
		for _, v := range g {
			s += v
		}
		dst[0] = s
		return dst
	}
	p := newBcastPlan(gshape, target)
	s, n := p.step(0), p.inner()
	p.rows(func(at int, off []int) {
		row := g[at : at+n]
		if s == 1 {
			d := dst[off[0] : off[0]+n]
			for i, v := range row {
				d[i] += v
			}
			return
		}
		var acc float32
		for _, v := range row {
			acc += v
		}
		dst[off[0]] += acc
	})
	return dst
}

// expandToShape broadcasts x (shape xshape) to shape out, scaled by scale,
// writing a new slice. It is the backward of a sum reduction.
func expandToShape(x []float32, xshape, out []int, scale float32) []float32 {
	dst := make([]float32, tensor.Size(out))
	p := newBcastPlan(out, xshape)
	s, n := p.step(0), p.inner()
	p.rows(func(at int, off []int) {
		d := dst[at : at+n]
		if s == 1 {
			src := x[off[0] : off[0]+n]
			for i, v := range src {
				d[i] = v * scale
			}
			return
		}
		v := x[off[0]] * scale
		for i := range d {
			d[i] = v
		}
	})
	return dst
}
