package ops

// Ops that move, select or create data without arithmetic: Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout (views sharing the input's storage),
// Transpose, Concat, Split, Gather, Slice, Pad, Cast, Shape, Constant and
// ConstantOfShape. All of them accept float32 and int64 data, since shape
// computations (Shape → Gather → Unsqueeze → Concat → Reshape) flow int64
// values through them; gradients flow only to float32 data inputs.

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Reshape", func(a Attrs, _ int) (Op, error) {
		return &viewOp{name: "Reshape", shape: reshapeShape(a.Int("allowzero", 0) != 0)}, nil
	})
	Register("Flatten", func(a Attrs, _ int) (Op, error) {
		return &viewOp{name: "Flatten", shape: flattenShape(int(a.Int("axis", 1)))}, nil
	})
	Register("Squeeze", func(a Attrs, _ int) (Op, error) {
		return &viewOp{name: "Squeeze", shape: squeezeShape(attrInts(a, "axes"))}, nil
	})
	Register("Unsqueeze", func(a Attrs, _ int) (Op, error) {
		return &viewOp{name: "Unsqueeze", shape: unsqueezeShape(attrInts(a, "axes"))}, nil
	})
	Register("Identity", func(Attrs, int) (Op, error) {
		return &viewOp{name: "Identity", shape: sameShape}, nil
	})
	Register("Dropout", func(Attrs, int) (Op, error) {
		return &viewOp{name: "Dropout", shape: sameShape, mask: true}, nil
	})
	Register("Transpose", func(a Attrs, _ int) (Op, error) {
		return &transposeOp{perm: attrInts(a, "perm")}, nil
	})
	Register("Concat", func(a Attrs, _ int) (Op, error) {
		if !a.Has("axis") {
			return nil, fmt.Errorf("Concat: missing attribute axis")
		}
		return &concatOp{axis: int(a.Int("axis", 0))}, nil
	})
	Register("Split", func(a Attrs, _ int) (Op, error) {
		return &splitOp{axis: int(a.Int("axis", 0)), split: attrInts(a, "split"), num: int(a.Int("num_outputs", 0))}, nil
	})
	Register("Gather", func(a Attrs, _ int) (Op, error) {
		return &gatherOp{axis: int(a.Int("axis", 0))}, nil
	})
	Register("Slice", func(a Attrs, opset int) (Op, error) {
		s := &sliceOp{}
		if opset < 10 {
			s.attr = true
			s.starts, s.ends, s.axes = attrInts(a, "starts"), attrInts(a, "ends"), attrInts(a, "axes")
		}
		return s, nil
	})
	Register("Pad", newPad)
	Register("Cast", func(a Attrs, _ int) (Op, error) {
		if !a.Has("to") {
			return nil, fmt.Errorf("Cast: missing attribute to")
		}
		to := int(a.Int("to", 1))
		if _, err := castKind(to); err != nil {
			return nil, err
		}
		return &castOp{to: to}, nil
	})
	Register("Shape", func(a Attrs, _ int) (Op, error) {
		s := &shapeOp{start: int(a.Int("start", 0)), end: math.MaxInt}
		if a.Has("end") {
			s.end = int(a.Int("end", 0))
		}
		return s, nil
	})
	Register("Constant", newConstant)
	Register("ConstantOfShape", func(a Attrs, _ int) (Op, error) {
		v := a.Tensor("value")
		if v == nil {
			v = tensor.FromF32([]float32{0}, 1)
		}
		if v.Len() != 1 {
			return nil, fmt.Errorf("ConstantOfShape: value has %d elements, want 1", v.Len())
		}
		return &constantOfShapeOp{value: v}, nil
	})
}

// wantInputs checks that an op got between lo and hi inputs and that the
// first lo of them are present.
func wantInputs(name string, in []*tensor.T, lo, hi int) error {
	if len(in) < lo || len(in) > hi {
		if lo == hi {
			return fmt.Errorf("%s: got %d inputs, want %d", name, len(in), lo)
		}
		return fmt.Errorf("%s: got %d inputs, want %d to %d", name, len(in), lo, hi)
	}
	for k := 0; k < lo; k++ {
		if in[k] == nil {
			return fmt.Errorf("%s: input %d is missing", name, k)
		}
	}
	return nil
}

// optInput returns input k, or nil when it is absent.
func optInput(in []*tensor.T, k int) *tensor.T {
	if k < len(in) {
		return in[k]
	}
	return nil
}

// needGrad reports whether input k's gradient is wanted.
func needGrad(need []bool, k int) bool { return k < len(need) && need[k] }

// zeroGrads returns zero gradients for the wanted float32 inputs: the
// backward of an op whose output gradient is nil (zero).
func zeroGrads(in []*tensor.T, need []bool) []*tensor.T {
	grads := make([]*tensor.T, len(in))
	for k, t := range in {
		if needGrad(need, k) && t != nil && t.DType() == tensor.Float32 {
			grads[k] = tensor.New(t.Shape()...)
		}
	}
	return grads
}

// normAxis maps an axis in [−rank, rank) to [0, rank).
func normAxis(name string, axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("%s: axis %d out of range for rank %d", name, axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// attrInts returns an ints attribute as []int, nil when absent.
func attrInts(a Attrs, name string) []int {
	if !a.Has(name) {
		return nil
	}
	v := a.Ints(name, nil)
	out := make([]int, len(v))
	for k, x := range v {
		out[k] = int(x)
	}
	return out
}

// rowMajorStrides returns the element strides of a row-major shape.
func rowMajorStrides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// newOfType returns a zeroed tensor of the given dtype and shape.
func newOfType(dt tensor.DType, shape []int) *tensor.T {
	if dt == tensor.Int64 {
		return tensor.NewI64(shape...)
	}
	return tensor.New(shape...)
}

// ---------------------------------------------------------------------------
// Views: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout.

// viewOp returns its input with a new shape, sharing storage. Its backward
// reshapes the output gradient back (sharing the gradient's storage).
type viewOp struct {
	name string
	// shape gives the output shape from input 0's shape and the inputs
	// (of which only the others, constants such as Reshape's shape, are read).
	shape func(s []int, in []*tensor.T) ([]int, error)
	mask  bool // Dropout: a second output, the keep-mask (all ones, as int64)
}

func (v *viewOp) Type() string { return v.name }

func (v *viewOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("%s: input 0 is missing", v.name)
	}
	shape, err := v.shape(in[0].Shape(), in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	y, err := in[0].Reshape(shape...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	if v.mask {
		m := tensor.NewI64(shape...)
		for i := range m.I64() {
			m.I64()[i] = 1
		}
		return []*tensor.T{y, m}, nil
	}
	return []*tensor.T{y}, nil
}

func (v *viewOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		grads[0] = tensor.New(in[0].Shape()...)
		return grads, nil
	}
	g, err := gradOut[0].Reshape(in[0].Shape()...)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", v.name, err)
	}
	grads[0] = g
	return grads, nil
}

func sameShape(s []int, _ []*tensor.T) ([]int, error) { return s, nil }

// reshapeShape resolves Reshape's shape input: 0 copies the input's dim
// (unless allowzero), −1 is inferred.
func reshapeShape(allowZero bool) func(s []int, in []*tensor.T) ([]int, error) {
	return func(s []int, in []*tensor.T) ([]int, error) {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("shape input is missing")
		}
		spec, have := in[1].Ints(), s
		out := make([]int, len(spec))
		infer, known := -1, 1
		for i, d := range spec {
			switch {
			case d == -1:
				if infer >= 0 {
					return nil, fmt.Errorf("shape %v has more than one -1", spec)
				}
				infer = i
				continue
			case d == 0 && !allowZero:
				if i >= len(have) {
					return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d input", spec, i, len(have))
				}
				out[i] = have[i]
			case d < 0:
				return nil, fmt.Errorf("invalid dim %d in shape %v", d, spec)
			default:
				out[i] = d
			}
			known *= out[i]
		}
		total := tensor.Size(have)
		if infer >= 0 {
			if known == 0 || total%known != 0 {
				return nil, fmt.Errorf("cannot infer -1 in shape %v for input %v", spec, have)
			}
			out[infer] = total / known
		}
		return out, nil
	}
}

// flattenShape gives [d0·…·d(axis−1), d(axis)·…·d(r−1)].
func flattenShape(axis int) func(s []int, in []*tensor.T) ([]int, error) {
	return func(s []int, in []*tensor.T) ([]int, error) {
		a := axis
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a > len(s) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(s))
		}
		return []int{tensor.Size(s[:a]), tensor.Size(s[a:])}, nil
	}
}

// axesFrom returns the axes attribute when set (opset < 13) or else input k
// (opset ≥ 13); ok is false when neither is given.
func axesFrom(attr []int, in []*tensor.T, k int) (axes []int, ok bool) {
	if attr != nil {
		return attr, true
	}
	if t := optInput(in, k); t != nil {
		return t.Ints(), true
	}
	return nil, false
}

// squeezeShape removes the listed size-1 dims, or all of them without axes.
func squeezeShape(attr []int) func(s []int, in []*tensor.T) ([]int, error) {
	return func(s []int, in []*tensor.T) ([]int, error) {
		drop := make([]bool, len(s))
		axes, _ := axesFrom(attr, in, 1)
		if len(axes) == 0 {
			for i, d := range s {
				drop[i] = d == 1
			}
		}
		for _, a := range axes {
			i, err := normAxis("Squeeze", a, len(s))
			if err != nil {
				return nil, err
			}
			if s[i] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, s[i])
			}
			drop[i] = true
		}
		out := []int{}
		for i, d := range s {
			if !drop[i] {
				out = append(out, d)
			}
		}
		return out, nil
	}
}

// unsqueezeShape inserts size-1 dims at the listed axes of the output.
func unsqueezeShape(attr []int) func(s []int, in []*tensor.T) ([]int, error) {
	return func(s []int, in []*tensor.T) ([]int, error) {
		axes, ok := axesFrom(attr, in, 1)
		if !ok {
			return nil, fmt.Errorf("axes are missing")
		}
		r := len(s) + len(axes)
		ins := make([]bool, r)
		for _, a := range axes {
			i, err := normAxis("Unsqueeze", a, r)
			if err != nil {
				return nil, err
			}
			if ins[i] {
				return nil, fmt.Errorf("axis %d repeated", a)
			}
			ins[i] = true
		}
		out := make([]int, r)
		j := 0
		for i := range out {
			if ins[i] {
				out[i] = 1
			} else {
				out[i] = s[j]
				j++
			}
		}
		return out, nil
	}
}

// ---------------------------------------------------------------------------
// Strided copies, shared by Transpose and Slice.

// stridedRows visits an output of shape count in row-major order, one row of
// the last dim at a time: fn(o, s) gets the row's output offset and its
// source offset, the source advancing by srcStride[d] along dim d from base.
func stridedRows(count, srcStride []int, base int, fn func(o, s int)) {
	r := len(count)
	if r == 0 {
		fn(0, base)
		return
	}
	n := tensor.Size(count)
	inner := count[r-1]
	if n == 0 {
		return
	}
	idx := make([]int, r)
	s := base
	for o := 0; o < n; o += inner {
		fn(o, s)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			s += srcStride[d]
			if idx[d] < count[d] {
				break
			}
			s -= srcStride[d] * count[d]
			idx[d] = 0
		}
	}
}

// gatherStrided copies src[base + Σ i_d·srcStride[d]] into a new row-major
// slice of shape count.
func gatherStrided[E any](src []E, count, srcStride []int, base int) []E {
	dst := make([]E, tensor.Size(count))
	inner, step := 1, 1
	if r := len(count); r > 0 {
		inner, step = count[r-1], srcStride[r-1]
	}
	stridedRows(count, srcStride, base, func(o, s int) {
		d := dst[o : o+inner]
		if step == 1 {
			copy(d, src[s:s+inner])
			return
		}
		for i := range d {
			d[i] = src[s+i*step]
		}
	})
	return dst
}

// scatterStrided is gatherStrided's backward: dst[base + Σ i_d·srcStride[d]]
// += g[i], g having shape count.
func scatterStrided(dst, g []float32, count, srcStride []int, base int) {
	inner, step := 1, 1
	if r := len(count); r > 0 {
		inner, step = count[r-1], srcStride[r-1]
	}
	stridedRows(count, srcStride, base, func(o, s int) {
		for i, v := range g[o : o+inner] {
			dst[s+i*step] += v
		}
	})
}

// ---------------------------------------------------------------------------
// Transpose.

// transposeOp permutes dims: output dim i is input dim perm[i] (default: the
// dims reversed).
type transposeOp struct{ perm []int }

func (t *transposeOp) Type() string { return "Transpose" }

// plan returns the output shape and, per output dim, the input stride it
// walks.
func (t *transposeOp) plan(shape []int) (out, st []int, err error) {
	r := len(shape)
	perm := t.perm
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r {
		return nil, nil, fmt.Errorf("Transpose: perm %v for rank %d", t.perm, r)
	}
	seen := make([]bool, r)
	in := rowMajorStrides(shape)
	out, st = make([]int, r), make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, nil, fmt.Errorf("Transpose: perm %v is not a permutation", t.perm)
		}
		seen[p] = true
		out[i], st[i] = shape[p], in[p]
	}
	return out, st, nil
}

func (t *transposeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Transpose", in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	out, st, err := t.plan(x.Shape())
	if err != nil {
		return nil, err
	}
	if x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(gatherStrided(x.I64(), out, st, 0), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(gatherStrided(x.F32(), out, st, 0), out...)}, nil
}

func (t *transposeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	o, st, err := t.plan(in[0].Shape())
	if err != nil {
		return nil, err
	}
	scatterStrided(gx.F32(), gradOut[0].F32(), o, st, 0)
	return grads, nil
}

// ---------------------------------------------------------------------------
// Concat and Split.

// concatOp joins its inputs along axis (negative counts from the back).
type concatOp struct{ axis int }

func (c *concatOp) Type() string { return "Concat" }

// layout checks the inputs and returns the axis, the output shape, the
// number of outer blocks and each input's block length.
func (c *concatOp) layout(in []*tensor.T) (axis int, out []int, outer int, chunks []int, err error) {
	if len(in) == 0 || in[0] == nil {
		return 0, nil, 0, nil, fmt.Errorf("Concat: no inputs")
	}
	shapes := make([][]int, len(in))
	for k, t := range in {
		if t == nil {
			return 0, nil, 0, nil, fmt.Errorf("Concat: input %d is missing", k)
		}
		if t.DType() != in[0].DType() {
			return 0, nil, 0, nil, fmt.Errorf("Concat: input %d is %s %v, input 0 is %s %v", k, t.DType(), t.Shape(), in[0].DType(), in[0].Shape())
		}
		shapes[k] = t.Shape()
	}
	axis, out, err = c.outShape(shapes)
	if err != nil {
		return 0, nil, 0, nil, err
	}
	s0 := shapes[0]
	inner := tensor.Size(s0[axis+1:])
	chunks = make([]int, len(in))
	for k, sh := range shapes {
		chunks[k] = sh[axis] * inner
	}
	return axis, out, tensor.Size(s0[:axis]), chunks, nil
}

// outShape checks the inputs' shapes against each other and gives the
// concatenation axis and the output shape (shared with shape inference).
func (c *concatOp) outShape(shapes [][]int) (axis int, out []int, err error) {
	s0 := shapes[0]
	axis, err = normAxis("Concat", c.axis, len(s0))
	if err != nil {
		return 0, nil, err
	}
	out = append([]int{}, s0...)
	out[axis] = 0
	for k, s := range shapes {
		if len(s) != len(s0) {
			return 0, nil, fmt.Errorf("Concat: input %d has shape %v, input 0 %v", k, s, s0)
		}
		for i := range s {
			if i != axis && s[i] != s0[i] {
				return 0, nil, fmt.Errorf("Concat: input %d has shape %v, input 0 %v (axis %d)", k, s, s0, axis)
			}
		}
		out[axis] += s[axis]
	}
	return axis, out, nil
}

// concatData interleaves parts: for each outer block, chunks[k] values of
// part k in turn.
func concatData[E any](parts [][]E, outer int, chunks []int) []E {
	total := 0
	for _, c := range chunks {
		total += c
	}
	dst := make([]E, outer*total)
	o := 0
	for b := 0; b < outer; b++ {
		for k, p := range parts {
			c := chunks[k]
			copy(dst[o:o+c], p[b*c:(b+1)*c])
			o += c
		}
	}
	return dst
}

// splitData is concatData's inverse.
func splitData[E any](src []E, outer int, chunks []int) [][]E {
	total := 0
	for _, c := range chunks {
		total += c
	}
	parts := make([][]E, len(chunks))
	for k, c := range chunks {
		p := make([]E, outer*c)
		o := 0
		for k2 := 0; k2 < k; k2++ {
			o += chunks[k2]
		}
		for b := 0; b < outer; b++ {
			copy(p[b*c:(b+1)*c], src[b*total+o:b*total+o+c])
		}
		parts[k] = p
	}
	return parts
}

func (c *concatOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	_, out, outer, chunks, err := c.layout(in)
	if err != nil {
		return nil, err
	}
	if in[0].DType() == tensor.Int64 {
		parts := make([][]int64, len(in))
		for k, t := range in {
			parts[k] = t.I64()
		}
		return []*tensor.T{tensor.FromI64(concatData(parts, outer, chunks), out...)}, nil
	}
	parts := make([][]float32, len(in))
	for k, t := range in {
		parts[k] = t.F32()
	}
	return []*tensor.T{tensor.FromF32(concatData(parts, outer, chunks), out...)}, nil
}

func (c *concatOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	_, _, outer, chunks, err := c.layout(in)
	if err != nil {
		return nil, err
	}
	parts := splitData(gradOut[0].F32(), outer, chunks)
	for k, t := range in {
		if needGrad(need, k) {
			grads[k] = tensor.FromF32(parts[k], t.Shape()...)
		}
	}
	return grads, nil
}

// splitOp splits its input along axis into parts of the sizes given by the
// split input (opset ≥ 13) or attribute (opset < 13); without either, into
// num_outputs parts of equal size (the last smaller when the dim does not
// divide). ONNX before opset 18 takes the number of parts from the node's
// output count, which an op does not see: a loader must then pass it as the
// num_outputs attribute.
type splitOp struct {
	axis  int
	split []int
	num   int
}

func (s *splitOp) Type() string { return "Split" }

// layout returns the axis, the size of each part along it, the number of
// outer blocks and the inner block length.
func (s *splitOp) layout(in []*tensor.T) (axis int, sizes []int, outer, inner int, err error) {
	x := in[0]
	axis, err = normAxis("Split", s.axis, x.Rank())
	if err != nil {
		return 0, nil, 0, 0, err
	}
	d := x.Shape()[axis]
	sizes = s.split
	if t := optInput(in, 1); t != nil && sizes == nil {
		sizes = t.Ints()
	}
	if sizes == nil {
		if s.num <= 0 {
			return 0, nil, 0, 0, fmt.Errorf("Split: neither split sizes nor num_outputs given")
		}
		c := (d + s.num - 1) / s.num
		sizes = make([]int, s.num)
		for k := range sizes {
			sizes[k] = max(0, min(c, d-k*c))
		}
	}
	total := 0
	for _, v := range sizes {
		if v < 0 {
			return 0, nil, 0, 0, fmt.Errorf("Split: negative size in %v", sizes)
		}
		total += v
	}
	if total != d {
		return 0, nil, 0, 0, fmt.Errorf("Split: sizes %v do not add up to dim %d of %v", sizes, d, x.Shape())
	}
	return axis, sizes, tensor.Size(x.Shape()[:axis]), tensor.Size(x.Shape()[axis+1:]), nil
}

func (s *splitOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Split", in, 1, 2); err != nil {
		return nil, err
	}
	x := in[0]
	axis, sizes, outer, inner, err := s.layout(in)
	if err != nil {
		return nil, err
	}
	chunks := make([]int, len(sizes))
	for k, v := range sizes {
		chunks[k] = v * inner
	}
	outs := make([]*tensor.T, len(sizes))
	shape := func(k int) []int {
		sh := append([]int{}, x.Shape()...)
		sh[axis] = sizes[k]
		return sh
	}
	if x.DType() == tensor.Int64 {
		for k, p := range splitData(x.I64(), outer, chunks) {
			outs[k] = tensor.FromI64(p, shape(k)...)
		}
	} else {
		for k, p := range splitData(x.F32(), outer, chunks) {
			outs[k] = tensor.FromF32(p, shape(k)...)
		}
	}
	return outs, nil
}

func (s *splitOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	_, sizes, outer, inner, err := s.layout(in)
	if err != nil {
		return nil, err
	}
	parts := make([][]float32, len(sizes))
	chunks := make([]int, len(sizes))
	for k, v := range sizes {
		chunks[k] = v * inner
		if k < len(gradOut) && gradOut[k] != nil {
			parts[k] = gradOut[k].F32()
		} else {
			parts[k] = make([]float32, outer*chunks[k])
		}
	}
	grads[0] = tensor.FromF32(concatData(parts, outer, chunks), in[0].Shape()...)
	return grads, nil
}

// ---------------------------------------------------------------------------
// Gather.

// gatherOp picks slices of data along axis at the given indices (negative
// indices count from the end): out shape = data[:axis] + indices + data[axis+1:].
type gatherOp struct{ axis int }

func (g *gatherOp) Type() string { return "Gather" }

func (g *gatherOp) layout(in []*tensor.T) (out []int, outer, dim, inner int, idx []int, err error) {
	x, ind := in[0], in[1]
	s := x.Shape()
	axis, err := normAxis("Gather", g.axis, len(s))
	if err != nil {
		return nil, 0, 0, 0, nil, err
	}
	dim = s[axis]
	idx = ind.Ints()
	for k, v := range idx {
		if v < -dim || v >= dim {
			return nil, 0, 0, 0, nil, fmt.Errorf("Gather: index %d out of range for dim %d of %v", v, dim, s)
		}
		if v < 0 {
			idx[k] = v + dim
		}
	}
	out = append(append(append([]int{}, s[:axis]...), ind.Shape()...), s[axis+1:]...)
	return out, tensor.Size(s[:axis]), dim, tensor.Size(s[axis+1:]), idx, nil
}

func gatherData[E any](src []E, outer, dim, inner int, idx []int) []E {
	dst := make([]E, outer*len(idx)*inner)
	o := 0
	for b := 0; b < outer; b++ {
		for _, j := range idx {
			s := (b*dim + j) * inner
			copy(dst[o:o+inner], src[s:s+inner])
			o += inner
		}
	}
	return dst
}

func (g *gatherOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Gather", in, 2, 2); err != nil {
		return nil, err
	}
	out, outer, dim, inner, idx, err := g.layout(in)
	if err != nil {
		return nil, err
	}
	if x := in[0]; x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(gatherData(x.I64(), outer, dim, inner, idx), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(gatherData(in[0].F32(), outer, dim, inner, idx), out...)}, nil
}

// Backward scatter-adds the output gradient into data's shape (repeated
// indices accumulate).
func (g *gatherOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	_, outer, dim, inner, idx, err := g.layout(in)
	if err != nil {
		return nil, err
	}
	dst, gy := gx.F32(), gradOut[0].F32()
	o := 0
	for b := 0; b < outer; b++ {
		for _, j := range idx {
			d := dst[(b*dim+j)*inner:][:inner]
			for i, v := range gy[o : o+inner] {
				d[i] += v
			}
			o += inner
		}
	}
	return grads, nil
}

// ---------------------------------------------------------------------------
// Slice.

// sliceOp is Slice: inputs starts, ends and optional axes and steps (opset
// ≥ 10), or attributes starts, ends, axes (opset < 10), clamped as the ONNX
// spec says (ends may be INT64_MAX; negative steps walk backwards).
type sliceOp struct {
	attr               bool
	starts, ends, axes []int
}

func (s *sliceOp) Type() string { return "Slice" }

// plan returns the output shape, the per-dim input step and the offset of
// the first element.
func (s *sliceOp) plan(in []*tensor.T) (count, srcStride []int, base int, err error) {
	x := in[0]
	shape := x.Shape()
	r := len(shape)
	starts, ends, axes := s.starts, s.ends, s.axes
	var steps []int
	if !s.attr {
		if len(in) < 3 || in[1] == nil || in[2] == nil {
			return nil, nil, 0, fmt.Errorf("Slice: starts and ends are required")
		}
		starts, ends = in[1].Ints(), in[2].Ints()
		if t := optInput(in, 3); t != nil {
			axes = t.Ints()
		}
		if t := optInput(in, 4); t != nil {
			steps = t.Ints()
		}
	}
	if len(ends) != len(starts) {
		return nil, nil, 0, fmt.Errorf("Slice: %d starts and %d ends", len(starts), len(ends))
	}
	if axes == nil {
		axes = make([]int, len(starts))
		for i := range axes {
			axes[i] = i
		}
	}
	if steps == nil {
		steps = make([]int, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, nil, 0, fmt.Errorf("Slice: %d starts, %d axes, %d steps", len(starts), len(axes), len(steps))
	}
	start, step := make([]int, r), make([]int, r)
	count = append([]int{}, shape...)
	for i := range step {
		step[i] = 1
	}
	seen := make([]bool, r)
	for i, a := range axes {
		ax, err := normAxis("Slice", a, r)
		if err != nil {
			return nil, nil, 0, err
		}
		if seen[ax] {
			return nil, nil, 0, fmt.Errorf("Slice: axis %d repeated", a)
		}
		seen[ax] = true
		d, st, b, e := shape[ax], steps[i], starts[i], ends[i]
		if st == 0 {
			return nil, nil, 0, fmt.Errorf("Slice: step 0 on axis %d", a)
		}
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		n := 0
		if st > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
			if e > b {
				n = (e - b + st - 1) / st
			}
		} else {
			b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
			if b > e {
				n = (b - e - st - 1) / -st
			}
		}
		start[ax], step[ax], count[ax] = b, st, n
	}
	in0 := rowMajorStrides(shape)
	srcStride = make([]int, r)
	for i := range srcStride {
		srcStride[i] = in0[i] * step[i]
		if count[i] > 0 {
			base += start[i] * in0[i]
		}
	}
	return count, srcStride, base, nil
}

func (s *sliceOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Slice", in, 1, 5); err != nil {
		return nil, err
	}
	count, st, base, err := s.plan(in)
	if err != nil {
		return nil, err
	}
	if x := in[0]; x.DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(gatherStrided(x.I64(), count, st, base), count...)}, nil
	}
	return []*tensor.T{tensor.FromF32(gatherStrided(in[0].F32(), count, st, base), count...)}, nil
}

func (s *sliceOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	count, st, base, err := s.plan(in)
	if err != nil {
		return nil, err
	}
	scatterStrided(gx.F32(), gradOut[0].F32(), count, st, base)
	return grads, nil
}

// ---------------------------------------------------------------------------
// Pad.

// padOp pads (or, with negative pads, crops) each axis: pads input (opset
// ≥ 11; optional axes input, opset 18) or attribute (opset < 11), laid out
// [x1_begin, x2_begin, …, x1_end, x2_end, …]. Modes: constant (value from the
// constant_value input or the value attribute, default 0), reflect, edge and
// wrap.
type padOp struct {
	mode  string
	pads  []int   // attribute pads (opset < 11)
	value float32 // attribute value (opset < 11)
}

func newPad(a Attrs, opset int) (Op, error) {
	p := &padOp{mode: a.String("mode", "constant")}
	switch p.mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("Pad: unsupported mode %q", p.mode)
	}
	if opset < 11 {
		p.pads = attrInts(a, "pads")
		if p.pads == nil {
			p.pads = []int{}
		}
		p.value = a.Float("value", 0)
	}
	return p, nil
}

func (p *padOp) Type() string { return "Pad" }

// padShape returns the shape of the output for an input of the given shape
// and the pads (of the attribute, or of inputs 1 and 3 in in), and each
// axis's padding before.
func (p *padOp) padShape(shape []int, in []*tensor.T) (out, begin []int, err error) {
	r := len(shape)
	pads := p.pads
	if pads == nil {
		t := optInput(in, 1)
		if t == nil {
			return nil, nil, fmt.Errorf("Pad: pads input is missing")
		}
		pads = t.Ints()
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if t := optInput(in, 3); t != nil && p.pads == nil {
		axes = t.Ints()
	}
	if len(pads) != 2*len(axes) {
		return nil, nil, fmt.Errorf("Pad: %d pads for %d axes", len(pads), len(axes))
	}
	begin, end := make([]int, r), make([]int, r)
	for k, a := range axes {
		ax, err := normAxis("Pad", a, r)
		if err != nil {
			return nil, nil, err
		}
		begin[ax], end[ax] = pads[k], pads[k+len(axes)]
	}
	out = make([]int, r)
	for ax, n := range shape {
		o := n + begin[ax] + end[ax]
		if o < 0 {
			return nil, nil, fmt.Errorf("Pad: pads %v crop axis %d of %v below zero", pads, ax, shape)
		}
		if n == 0 && o > 0 && p.mode != "constant" {
			return nil, nil, fmt.Errorf("Pad: cannot %s-pad an empty axis", p.mode)
		}
		out[ax] = o
	}
	return out, begin, nil
}

// plan returns the output shape and, per axis, the input index each output
// index reads (−1: the constant).
func (p *padOp) plan(in []*tensor.T) (out []int, maps [][]int, err error) {
	shape := in[0].Shape()
	out, begin, err := p.padShape(shape, in)
	if err != nil {
		return nil, nil, err
	}
	maps = make([][]int, len(shape))
	for ax, n := range shape {
		o := out[ax]
		m := make([]int, o)
		for j := range m {
			i := j - begin[ax]
			if i < 0 || i >= n {
				switch p.mode {
				case "constant":
					i = -1
				case "edge":
					i = min(max(i, 0), n-1)
				case "wrap":
					i = ((i % n) + n) % n
				case "reflect":
					if n == 1 {
						i = 0
					} else {
						period := 2 * (n - 1)
						i = ((i % period) + period) % period
						if i >= n {
							i = period - i
						}
					}
				}
			}
			m[j] = i
		}
		maps[ax] = m
	}
	return out, maps, nil
}

// padRows visits the output row by row (last axis): fn(o, base) gets the
// row's output offset and the input offset of its outer indices, base < 0
// when some outer index maps to the constant.
func padRows(shape, out []int, maps [][]int, fn func(o, base int)) {
	r := len(out)
	n := tensor.Size(out)
	if n == 0 {
		return
	}
	inner := out[r-1]
	st := rowMajorStrides(shape)
	idx := make([]int, r)
	for o := 0; o < n; o += inner {
		base := 0
		for d := 0; d < r-1; d++ {
			m := maps[d][idx[d]]
			if m < 0 {
				base = -1
				break
			}
			base += m * st[d]
		}
		fn(o, base)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func padData[E elemType](src []E, shape, out []int, maps [][]int, cv E) []E {
	dst := make([]E, tensor.Size(out))
	if len(out) == 0 {
		copy(dst, src)
		return dst
	}
	last := maps[len(out)-1]
	padRows(shape, out, maps, func(o, base int) {
		d := dst[o : o+len(last)]
		if base < 0 {
			fill(d, cv)
			return
		}
		for j, m := range last {
			if m < 0 {
				d[j] = cv
			} else {
				d[j] = src[base+m]
			}
		}
	})
	return dst
}

func (p *padOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Pad", in, 1, 4); err != nil {
		return nil, err
	}
	x := in[0]
	out, maps, err := p.plan(in)
	if err != nil {
		return nil, err
	}
	cv := optInput(in, 2)
	if cv != nil && cv.Len() == 0 {
		cv = nil
	}
	if x.DType() == tensor.Int64 {
		var v int64
		if cv != nil {
			v = int64(cv.Ints()[0])
		} else if p.pads != nil {
			v = int64(p.value)
		}
		return []*tensor.T{tensor.FromI64(padData(x.I64(), x.Shape(), out, maps, v), out...)}, nil
	}
	v := p.value
	if cv != nil {
		v = cv.AsF32()[0]
	}
	return []*tensor.T{tensor.FromF32(padData(x.F32(), x.Shape(), out, maps, v), out...)}, nil
}

// Backward sums the output gradient into the input positions each output
// element read (several, for reflect/edge/wrap borders); the gradient of a
// float constant_value input is the sum over padded positions.
func (p *padOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	x := in[0]
	if x.DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	o, maps, err := p.plan(in)
	if err != nil {
		return nil, err
	}
	gy := gradOut[0].F32()
	gx := make([]float32, x.Len())
	var gc float32
	if len(o) == 0 {
		copy(gx, gy)
	} else {
		last := maps[len(o)-1]
		padRows(x.Shape(), o, maps, func(at, base int) {
			g := gy[at : at+len(last)]
			if base < 0 {
				for _, v := range g {
					gc += v
				}
				return
			}
			for j, m := range last {
				if m < 0 {
					gc += g[j]
				} else {
					gx[base+m] += g[j]
				}
			}
		})
	}
	if needGrad(need, 0) {
		grads[0] = tensor.FromF32(gx, x.Shape()...)
	}
	if cv := optInput(in, 2); needGrad(need, 2) && cv != nil && cv.Len() == 1 && cv.DType() == tensor.Float32 {
		grads[2] = tensor.FromF32([]float32{gc}, cv.Shape()...)
	}
	return grads, nil
}

// ---------------------------------------------------------------------------
// Cast.

// ONNX TensorProto data types that Cast maps onto the engine's two dtypes.
const (
	onnxFloat    = 1
	onnxUint8    = 2
	onnxInt8     = 3
	onnxUint16   = 4
	onnxInt16    = 5
	onnxInt32    = 6
	onnxInt64    = 7
	onnxBool     = 9
	onnxFloat16  = 10
	onnxDouble   = 11
	onnxUint32   = 12
	onnxUint64   = 13
	onnxBfloat16 = 16
)

// castKind says which engine dtype holds ONNX type to.
func castKind(to int) (tensor.DType, error) {
	switch to {
	case onnxFloat, onnxFloat16, onnxDouble, onnxBfloat16:
		return tensor.Float32, nil
	case onnxUint8, onnxInt8, onnxUint16, onnxInt16, onnxInt32, onnxInt64, onnxBool, onnxUint32, onnxUint64:
		return tensor.Int64, nil
	}
	return 0, fmt.Errorf("Cast: unsupported target type %d", to)
}

// castOp converts to the ONNX type to, held as float32 (FLOAT, DOUBLE, and
// FLOAT16/BFLOAT16 rounded to their precision) or int64 (integer types
// wrapped to their width, BOOL as 0/1; floats truncate toward zero).
type castOp struct{ to int }

func (c *castOp) Type() string { return "Cast" }

func (c *castOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Cast", in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	kind, _ := castKind(c.to)
	if kind == tensor.Float32 {
		var y []float32
		if x.DType() == tensor.Int64 {
			y = x.AsF32() // a new slice
		} else {
			y = append([]float32(nil), x.F32()...)
		}
		switch c.to {
		case onnxFloat16:
			for i, v := range y {
				y[i] = roundToFloat16(v)
			}
		case onnxBfloat16:
			for i, v := range y {
				y[i] = roundToBfloat16(v)
			}
		}
		return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
	}
	y := make([]int64, x.Len())
	if x.DType() == tensor.Int64 {
		copy(y, x.I64())
	} else {
		for i, v := range x.F32() {
			switch {
			case c.to == onnxBool && v != 0:
				y[i] = 1 // 0.5 is true
			case c.to != onnxBool:
				y[i] = int64(v)
			}
		}
	}
	for i, v := range y {
		switch c.to {
		case onnxUint8:
			v = int64(uint8(v))
		case onnxInt8:
			v = int64(int8(v))
		case onnxUint16:
			v = int64(uint16(v))
		case onnxInt16:
			v = int64(int16(v))
		case onnxInt32:
			v = int64(int32(v))
		case onnxUint32:
			v = int64(uint32(v))
		case onnxBool:
			if v != 0 {
				v = 1
			}
		}
		y[i] = v
	}
	return []*tensor.T{tensor.FromI64(y, x.Shape()...)}, nil
}

// Backward passes the gradient through float-to-float casts (straight
// through the float16/bfloat16 rounding); other casts have none.
func (c *castOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if kind, _ := castKind(c.to); !needGrad(need, 0) || in[0].DType() != tensor.Float32 || kind != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		grads[0] = tensor.New(in[0].Shape()...)
	} else {
		grads[0] = gradOut[0].Clone()
	}
	return grads, nil
}

// roundToFloat16 rounds v to the nearest IEEE half-precision value (ties to
// even), returned as float32.
func roundToFloat16(v float32) float32 {
	return roundToPrecision(v, 10, -14, 65504)
}

// roundToBfloat16 rounds v to the nearest bfloat16 value (ties to even).
func roundToBfloat16(v float32) float32 {
	return roundToPrecision(v, 7, -126, math.MaxFloat32)
}

// roundToPrecision rounds to a binary format with mant fraction bits and
// minimum normal exponent emin; magnitudes beyond maxVal become ±Inf.
func roundToPrecision(v float32, mant, emin int, maxVal float64) float32 {
	f := float64(v)
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return v
	}
	_, e := math.Frexp(f) // |f| = m·2^e, m in [0.5, 1)
	e = max(e-1, emin)
	q := math.Ldexp(1, e-mant)
	r := math.RoundToEven(f/q) * q
	if math.Abs(r) > maxVal {
		return float32(math.Copysign(math.Inf(1), f))
	}
	return float32(r)
}

// ---------------------------------------------------------------------------
// Shape, Constant, ConstantOfShape.

// shapeOp returns its input's shape as int64, optionally dims [start, end)
// (opset 15; negative values count from the back, both clamped to the rank).
type shapeOp struct{ start, end int }

func (s *shapeOp) Type() string { return "Shape" }

func (s *shapeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Shape", in, 1, 1); err != nil {
		return nil, err
	}
	sh := in[0].Shape()
	r := len(sh)
	clamp := func(v int) int {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	b, e := clamp(s.start), clamp(s.end)
	out := []int64{}
	for i := b; i < e; i++ {
		out = append(out, int64(sh[i]))
	}
	return []*tensor.T{tensor.FromI64(out, len(out))}, nil
}

func (s *shapeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

// constantOp returns a fixed tensor, from attribute value, value_float,
// value_floats, value_int or value_ints.
type constantOp struct{ value *tensor.T }

func newConstant(a Attrs, _ int) (Op, error) {
	var v *tensor.T
	switch {
	case a.Has("value"):
		v = a.Tensor("value")
		if v == nil {
			return nil, fmt.Errorf("Constant: attribute value is not a tensor")
		}
	case a.Has("value_float"):
		v = tensor.FromF32([]float32{a.Float("value_float", 0)})
	case a.Has("value_floats"):
		f := append([]float32(nil), a.Floats("value_floats", nil)...)
		v = tensor.FromF32(f, len(f))
	case a.Has("value_int"):
		v = tensor.FromI64([]int64{a.Int("value_int", 0)})
	case a.Has("value_ints"):
		n := append([]int64(nil), a.Ints("value_ints", nil)...)
		v = tensor.FromI64(n, len(n))
	default:
		return nil, fmt.Errorf("Constant: no supported value attribute (value, value_float(s), value_int(s))")
	}
	return &constantOp{value: v}, nil
}

func (c *constantOp) Type() string { return "Constant" }

// Forward returns the constant itself, shared between calls: like every op
// output, it must not be modified.
func (c *constantOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	return []*tensor.T{c.value}, nil
}

func (c *constantOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

// constantOfShapeOp fills a tensor of the shape given by its int64 input with
// the one-element value attribute (default float32 0), in value's dtype.
type constantOfShapeOp struct{ value *tensor.T }

func (c *constantOfShapeOp) Type() string { return "ConstantOfShape" }

func (c *constantOfShapeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("ConstantOfShape", in, 1, 1); err != nil {
		return nil, err
	}
	shape := in[0].Ints()
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("ConstantOfShape: negative dim in %v", shape)
		}
	}
	y := newOfType(c.value.DType(), shape)
	if c.value.DType() == tensor.Int64 {
		fill(y.I64(), c.value.I64()[0])
	} else {
		fill(y.F32(), c.value.F32()[0])
	}
	return []*tensor.T{y}, nil
}

func (c *constantOfShapeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}
