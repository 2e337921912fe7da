package ops

// Rearranging and indexing ops: Tile, DepthToSpace, SpaceToDepth,
// GatherElements, CumSum, ArgMax, ArgMin and CastLike. Tile and the
// depth/space rearrangements are strided copies (as Transpose), their
// backward the matching strided sums.

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Tile", func(Attrs, int) (Op, error) { return &stridedOp{name: "Tile", inputs: 2, plan: tilePlan}, nil })
	Register("DepthToSpace", func(a Attrs, _ int) (Op, error) {
		b, mode := int(a.Int("blocksize", 0)), a.String("mode", "DCR")
		if b <= 0 || (mode != "DCR" && mode != "CRD") {
			return nil, fmt.Errorf("DepthToSpace: blocksize %d, mode %q", b, mode)
		}
		return &stridedOp{name: "DepthToSpace", inputs: 1, plan: func(xs []int, _ []*tensor.T) ([]int, []int, []int, error) {
			return depthToSpace(xs, b, mode == "CRD")
		}}, nil
	})
	Register("SpaceToDepth", func(a Attrs, _ int) (Op, error) {
		b := int(a.Int("blocksize", 0))
		if b <= 0 {
			return nil, fmt.Errorf("SpaceToDepth: blocksize %d", b)
		}
		return &stridedOp{name: "SpaceToDepth", inputs: 1, plan: func(xs []int, _ []*tensor.T) ([]int, []int, []int, error) {
			return spaceToDepth(xs, b)
		}}, nil
	})
	Register("GatherElements", func(a Attrs, _ int) (Op, error) { return &gatherElementsOp{axis: int(a.Int("axis", 0))}, nil })
	Register("CumSum", func(a Attrs, _ int) (Op, error) {
		return &cumSumOp{exclusive: a.Int("exclusive", 0) != 0, reverse: a.Int("reverse", 0) != 0}, nil
	})
	for _, name := range []string{"ArgMax", "ArgMin"} {
		Register(name, func(a Attrs, _ int) (Op, error) {
			return &argOp{name: name, axis: int(a.Int("axis", 0)), keepDims: a.Int("keepdims", 1) != 0, last: a.Int("select_last_index", 0) != 0}, nil
		})
	}
	Register("CastLike", func(Attrs, int) (Op, error) { return castLikeOp{}, nil })
}

// stridedOp is an op whose output is a strided view of its input: plan
// gives the output shape, and the iteration shape and source strides that
// gatherStrided walks (their row-major order is the output's).
type stridedOp struct {
	name   string
	inputs int
	plan   func(xs []int, in []*tensor.T) (out, count, stride []int, err error)
}

func (s *stridedOp) Type() string { return s.name }

func (s *stridedOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(s.name, in, s.inputs, s.inputs); err != nil {
		return nil, err
	}
	x := in[0]
	out, count, st, err := s.plan(x.Shape(), in)
	if err != nil {
		return nil, err
	}
	if err := checkOutSize(s.name, out); err != nil {
		return nil, err
	}
	if x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(gatherStrided(x.I64(), count, st, 0), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(gatherStrided(x.F32(), count, st, 0), out...)}, nil
}

func (s *stridedOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	_, count, st, err := s.plan(in[0].Shape(), in)
	if err != nil {
		return nil, err
	}
	scatterStrided(gx.F32(), gradOut[0].F32(), count, st, 0)
	return grads, nil
}

// tilePlan views Tile's output as [r0, d0, r1, d1, …]: repeat k of dim i
// reads the whole dim again (stride 0 along r_i).
func tilePlan(xs []int, in []*tensor.T) (out, count, stride []int, err error) {
	if in[1].Rank() != 1 || in[1].Len() != len(xs) {
		return nil, nil, nil, fmt.Errorf("Tile: repeats %v for an input of rank %d", in[1].Shape(), len(xs))
	}
	reps := in[1].Ints()
	st := rowMajorStrides(xs)
	for i, r := range reps {
		if r < 0 {
			return nil, nil, nil, fmt.Errorf("Tile: negative repeat in %v", reps)
		}
		out = append(out, r*xs[i])
		count = append(count, r, xs[i])
		stride = append(stride, 0, st[i])
	}
	return out, count, stride, nil
}

// permuted returns the row-major iteration over a view of shape v of the
// input taken in the order perm.
func permuted(v, perm []int) (count, stride []int) {
	st := rowMajorStrides(v)
	for _, p := range perm {
		count = append(count, v[p])
		stride = append(stride, st[p])
	}
	return count, stride
}

// depthToSpace moves blocks of b² channels into b×b spatial blocks:
// DCR views X as [N, b, b, C/b², H, W] and reads it as [0, 3, 4, 1, 5, 2];
// CRD as [N, C/b², b, b, H, W] read as [0, 1, 4, 2, 5, 3].
func depthToSpace(xs []int, b int, crd bool) (out, count, stride []int, err error) {
	if len(xs) != 4 || xs[1]%(b*b) != 0 {
		return nil, nil, nil, fmt.Errorf("DepthToSpace: input %v is not N×C×H×W with C a multiple of %d", xs, b*b)
	}
	n, c, h, w := xs[0], xs[1]/(b*b), xs[2], xs[3]
	out = []int{n, c, h * b, w * b}
	if crd {
		count, stride = permuted([]int{n, c, b, b, h, w}, []int{0, 1, 4, 2, 5, 3})
	} else {
		count, stride = permuted([]int{n, b, b, c, h, w}, []int{0, 3, 4, 1, 5, 2})
	}
	return out, count, stride, nil
}

// spaceToDepth is depthToSpace's inverse (DCR): X viewed as
// [N, C, H/b, b, W/b, b] read as [0, 3, 5, 1, 2, 4].
func spaceToDepth(xs []int, b int) (out, count, stride []int, err error) {
	if len(xs) != 4 || xs[2]%b != 0 || xs[3]%b != 0 {
		return nil, nil, nil, fmt.Errorf("SpaceToDepth: input %v is not N×C×H×W with H and W multiples of %d", xs, b)
	}
	n, c, h, w := xs[0], xs[1], xs[2]/b, xs[3]/b
	out = []int{n, c * b * b, h, w}
	count, stride = permuted([]int{n, c, h, b, w, b}, []int{0, 3, 5, 1, 2, 4})
	return out, count, stride, nil
}

// gatherElementsOp is GatherElements(data, indices): out[i] = data[i with
// its axis coordinate replaced by indices[i]]. The backward adds the
// output gradient back at the gathered positions.
type gatherElementsOp struct{ axis int }

func (*gatherElementsOp) Type() string { return "GatherElements" }

// sources returns, per output element, its flat index into data.
func (g *gatherElementsOp) sources(in []*tensor.T) ([]int, error) {
	if err := wantInputs("GatherElements", in, 2, 2); err != nil {
		return nil, err
	}
	ds, is := in[0].Shape(), in[1].Shape()
	if len(ds) != len(is) || len(ds) == 0 {
		return nil, fmt.Errorf("GatherElements: indices %v and data %v differ in rank", is, ds)
	}
	axis, err := normAxis("GatherElements", g.axis, len(ds))
	if err != nil {
		return nil, err
	}
	for d := range ds {
		if d != axis && is[d] > ds[d] {
			return nil, fmt.Errorf("GatherElements: indices %v exceed data %v", is, ds)
		}
	}
	dst, ist := rowMajorStrides(ds), rowMajorStrides(is)
	idx := in[1].Ints()
	src := make([]int, len(idx))
	for i, v := range idx {
		if v < -ds[axis] || v >= ds[axis] {
			return nil, fmt.Errorf("GatherElements: index %d out of range for dim %d of %v", v, ds[axis], ds)
		}
		if v < 0 {
			v += ds[axis]
		}
		o := 0
		for d := range is {
			c := i / ist[d] % is[d]
			if d == axis {
				c = v
			}
			o += c * dst[d]
		}
		src[i] = o
	}
	return src, nil
}

func (g *gatherElementsOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	src, err := g.sources(in)
	if err != nil {
		return nil, err
	}
	shape := in[1].Shape()
	if in[0].DType() == tensor.Int64 {
		d, y := in[0].I64(), make([]int64, len(src))
		for i, s := range src {
			y[i] = d[s]
		}
		return []*tensor.T{tensor.FromI64(y, shape...)}, nil
	}
	d, y := in[0].F32(), make([]float32, len(src))
	for i, s := range src {
		y[i] = d[s]
	}
	return []*tensor.T{tensor.FromF32(y, shape...)}, nil
}

func (g *gatherElementsOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	src, err := g.sources(in)
	if err != nil {
		return nil, err
	}
	for i, v := range gradOut[0].F32() {
		gx.F32()[src[i]] += v
	}
	return grads, nil
}

// cumSumOp is CumSum(x, axis): running sums along an axis, optionally
// exclusive (each sum leaves out its own element) and reversed. The
// backward is the running sum of the gradient in the other direction.
type cumSumOp struct{ exclusive, reverse bool }

func (*cumSumOp) Type() string { return "CumSum" }

func cumSum[E elemType](x []E, shape []int, axis int, exclusive, reverse bool) []E {
	outer, n, inner := tensor.Size(shape[:axis]), shape[axis], tensor.Size(shape[axis+1:])
	y := make([]E, len(x))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var acc E
			for k := 0; k < n; k++ {
				j := k
				if reverse {
					j = n - 1 - k
				}
				at := (o*n+j)*inner + i
				if exclusive {
					y[at] = acc
					acc += x[at]
				} else {
					acc += x[at]
					y[at] = acc
				}
			}
		}
	}
	return y
}

func (c *cumSumOp) axis(in []*tensor.T) (int, error) {
	if err := wantInputs("CumSum", in, 2, 2); err != nil {
		return 0, err
	}
	if in[1].Len() != 1 {
		return 0, fmt.Errorf("CumSum: axis must be a scalar, got shape %v", in[1].Shape())
	}
	return normAxis("CumSum", in[1].Ints()[0], in[0].Rank())
}

func (c *cumSumOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	axis, err := c.axis(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(cumSum(x.I64(), x.Shape(), axis, c.exclusive, c.reverse), x.Shape()...)}, nil
	}
	return []*tensor.T{tensor.FromF32(cumSum(x.F32(), x.Shape(), axis, c.exclusive, c.reverse), x.Shape()...)}, nil
}

func (c *cumSumOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	axis, err := c.axis(in)
	if err != nil {
		return nil, err
	}
	grads[0] = tensor.FromF32(cumSum(gradOut[0].F32(), in[0].Shape(), axis, c.exclusive, !c.reverse), in[0].Shape()...)
	return grads, nil
}

// argOp is ArgMax or ArgMin along an axis: the first (or, with
// select_last_index, the last) index of the extreme, as int64. It has no
// gradient.
type argOp struct {
	name           string
	axis           int
	keepDims, last bool
}

func (a *argOp) Type() string { return a.name }

func argData[E elemType](x []E, outer, n, inner int, isMax, last bool) []int64 {
	y := make([]int64, outer*inner)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			best, bi := x[o*n*inner+i], 0
			for k := 1; k < n; k++ {
				v := x[(o*n+k)*inner+i]
				better := v > best
				if !isMax {
					better = v < best
				}
				if better || (last && v == best) {
					best, bi = v, k
				}
			}
			y[o*inner+i] = int64(bi)
		}
	}
	return y
}

func (a *argOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(a.name, in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.Shape()
	axis, err := normAxis(a.name, a.axis, len(xs))
	if err != nil {
		return nil, err
	}
	if xs[axis] == 0 {
		return nil, fmt.Errorf("%s: axis %d of %v is empty", a.name, a.axis, xs)
	}
	outer, n, inner := tensor.Size(xs[:axis]), xs[axis], tensor.Size(xs[axis+1:])
	var y []int64
	if x.DType() == tensor.Int64 {
		y = argData(x.I64(), outer, n, inner, a.name == "ArgMax", a.last)
	} else {
		y = argData(x.F32(), outer, n, inner, a.name == "ArgMax", a.last)
	}
	shape := append([]int{}, xs...)
	if a.keepDims {
		shape[axis] = 1
	} else {
		shape = append(shape[:axis], shape[axis+1:]...)
	}
	return []*tensor.T{tensor.FromI64(y, shape...)}, nil
}

func (a *argOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

// castLikeOp is CastLike(x, like): x cast to like's element type.
type castLikeOp struct{}

func (castLikeOp) Type() string { return "CastLike" }

func (castLikeOp) cast(in []*tensor.T) (*castOp, error) {
	if err := wantInputs("CastLike", in, 2, 2); err != nil {
		return nil, err
	}
	if in[1].DType() == tensor.Int64 {
		return &castOp{to: onnxInt64}, nil
	}
	return &castOp{to: onnxFloat}, nil
}

func (c castLikeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	op, err := c.cast(in)
	if err != nil {
		return nil, err
	}
	return op.Forward(in[:1])
}

func (c castLikeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	op, err := c.cast(in)
	if err != nil {
		return nil, err
	}
	g, err := op.Backward(in[:1], out, gradOut, need[:min(1, len(need))])
	if err != nil {
		return nil, err
	}
	grads[0] = g[0]
	return grads, nil
}
