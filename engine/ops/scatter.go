package ops

// ScatterElements (and its old name Scatter), MaxUnpool, NonZero and
// Compress.
//
//	ScatterElements  a copy of data with data[i with its axis coordinate
//	                 replaced by indices[i]] = updates[i] (or combined with
//	                 it: reduction add, mul, max, min)
//	MaxUnpool        zeros with X placed at the flat positions MaxPool's
//	                 indices give
//	NonZero          the coordinates of the non-zero elements (no gradient)
//	Compress         the slices along an axis whose condition holds

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	for _, name := range []string{"ScatterElements", "Scatter"} {
		Register(name, func(a Attrs, _ int) (Op, error) {
			r := a.String("reduction", "none")
			switch r {
			case "none", "add", "mul", "max", "min":
			default:
				return nil, fmt.Errorf("%s: unknown reduction %q", name, r)
			}
			return &scatterElementsOp{name: name, axis: int(a.Int("axis", 0)), reduction: r}, nil
		})
	}
	Register("MaxUnpool", func(a Attrs, _ int) (Op, error) {
		w, err := readWindowAttrs(a)
		if err != nil {
			return nil, fmt.Errorf("MaxUnpool: %w", err)
		}
		if w.kernel == nil {
			return nil, fmt.Errorf("MaxUnpool: no kernel_shape")
		}
		return &maxUnpoolOp{win: w}, nil
	})
	Register("NonZero", func(Attrs, int) (Op, error) { return nonZeroOp{}, nil })
	Register("Compress", func(a Attrs, _ int) (Op, error) {
		c := &compressOp{axis: int(a.Int("axis", 0)), hasAxis: a.Has("axis")}
		return c, nil
	})
}

type scatterElementsOp struct {
	name      string
	axis      int
	reduction string
}

func (s *scatterElementsOp) Type() string { return s.name }

// targets returns each update's flat index into data.
func (s *scatterElementsOp) targets(in []*tensor.T) ([]int, error) {
	if err := wantInputs(s.name, in, 3, 3); err != nil {
		return nil, err
	}
	if !tensor.SameShape(in[1].Shape(), in[2].Shape()) {
		return nil, fmt.Errorf("%s: indices %v and updates %v differ in shape", s.name, in[1].Shape(), in[2].Shape())
	}
	if in[0].DType() != in[2].DType() {
		return nil, fmt.Errorf("%s: data is %s and updates %s", s.name, in[0].DType(), in[2].DType())
	}
	t, err := (&gatherElementsOp{axis: s.axis}).sources(in[:2])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return t, nil
}

func scatterElems[E elemType](dst, upd []E, at []int, reduction string) {
	for i, k := range at {
		switch u := upd[i]; reduction {
		case "add":
			dst[k] += u
		case "mul":
			dst[k] *= u
		case "max":
			dst[k] = max(dst[k], u)
		case "min":
			dst[k] = min(dst[k], u)
		default:
			dst[k] = u
		}
	}
}

func (s *scatterElementsOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	at, err := s.targets(in)
	if err != nil {
		return nil, err
	}
	y := in[0].Clone()
	if y.DType() == tensor.Int64 {
		scatterElems(y.I64(), in[2].I64(), at, s.reduction)
	} else {
		scatterElems(y.F32(), in[2].F32(), at, s.reduction)
	}
	return []*tensor.T{y}, nil
}

// Backward (reduction none or add): updates get the output gradient at
// their targets; data gets it, zeroed where overwritten (none).
func (s *scatterElementsOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[0].DType() != tensor.Float32 || (!needGrad(need, 0) && !needGrad(need, 2)) {
		return grads, nil
	}
	if s.reduction != "none" && s.reduction != "add" {
		return nil, fmt.Errorf("%s: no gradient for reduction %q", s.name, s.reduction)
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	at, err := s.targets(in)
	if err != nil {
		return nil, err
	}
	g := gradOut[0].F32()
	if needGrad(need, 2) {
		gu := make([]float32, len(at))
		for i, k := range at {
			gu[i] = g[k]
		}
		grads[2] = tensor.FromF32(gu, in[2].Shape()...)
	}
	if needGrad(need, 0) {
		gd := append([]float32(nil), g...)
		if s.reduction == "none" {
			for _, k := range at {
				gd[k] = 0
			}
		}
		grads[0] = tensor.FromF32(gd, in[0].Shape()...)
	}
	return grads, nil
}

func (s *scatterElementsOp) OutShapes(sh [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0(s.name, sh)
}

// maxUnpoolOp is MaxUnpool(X, I, output_shape).
type maxUnpoolOp struct{ win windowAttrs }

func (*maxUnpoolOp) Type() string { return "MaxUnpool" }

func (m *maxUnpoolOp) plan(in []*tensor.T) (out []int, idx []int, err error) {
	if err := wantInputs("MaxUnpool", in, 2, 3); err != nil {
		return nil, nil, err
	}
	x, it := in[0], in[1]
	xs := x.Shape()
	nd := len(xs) - 2
	if nd < 1 || len(m.win.kernel) != nd || !tensor.SameShape(it.Shape(), xs) || x.DType() != tensor.Float32 {
		return nil, nil, fmt.Errorf("MaxUnpool: X %v, indices %v and kernel_shape %v do not fit", xs, it.Shape(), m.win.kernel)
	}
	// The indices are flat positions in the inferred output; a given
	// output_shape only pads it (the coordinates stay).
	inferred := append([]int{}, xs[:2]...)
	for i := 0; i < nd; i++ {
		s, pb, pe := 1, 0, 0
		if m.win.strides != nil && len(m.win.strides) == nd {
			s = m.win.strides[i]
		}
		if m.win.pads != nil && len(m.win.pads) == 2*nd {
			pb, pe = m.win.pads[i], m.win.pads[nd+i]
		}
		inferred = append(inferred, (xs[2+i]-1)*s+m.win.kernel[i]-pb-pe)
	}
	out = inferred
	if os := optInput(in, 2); os != nil {
		out = os.Ints()
		if len(out) != len(xs) {
			return nil, nil, fmt.Errorf("MaxUnpool: output_shape %v for an input of rank %d", out, len(xs))
		}
	}
	if err := checkOutSize("MaxUnpool", out); err != nil {
		return nil, nil, err
	}
	if err := checkOutSize("MaxUnpool", inferred); err != nil {
		return nil, nil, err
	}
	n := tensor.Size(inferred)
	idx = it.Ints()
	ist, ost := rowMajorStrides(inferred), rowMajorStrides(out)
	for i, k := range idx {
		if k < 0 || k >= n {
			return nil, nil, fmt.Errorf("MaxUnpool: index %d outside the output %v", k, inferred)
		}
		o := 0
		for d := range inferred {
			c := k / ist[d] % inferred[d]
			if c >= out[d] {
				return nil, nil, fmt.Errorf("MaxUnpool: index %d outside output_shape %v", k, out)
			}
			o += c * ost[d]
		}
		idx[i] = o
	}
	return out, idx, nil
}

func (m *maxUnpoolOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	out, idx, err := m.plan(in)
	if err != nil {
		return nil, err
	}
	y := tensor.New(out...)
	for i, v := range in[0].F32() {
		y.F32()[idx[i]] = v
	}
	return []*tensor.T{y}, nil
}

func (m *maxUnpoolOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	_, idx, err := m.plan(in)
	if err != nil {
		return nil, err
	}
	g := gradOut[0].F32()
	gx := make([]float32, len(idx))
	for i, k := range idx {
		gx[i] = g[k]
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}

// nonZeroOp is NonZero: a rank × count int64 tensor of the coordinates of
// the non-zero elements, in row-major order.
type nonZeroOp struct{}

func (nonZeroOp) Type() string { return "NonZero" }

func (nonZeroOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("NonZero", in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	v := x.AsF32()
	var at []int
	for i, e := range v {
		if e != 0 {
			at = append(at, i)
		}
	}
	shape := x.Shape()
	st := rowMajorStrides(shape)
	y := make([]int64, len(shape)*len(at))
	for j, i := range at {
		for d := range shape {
			y[d*len(at)+j] = int64(i / st[d] % shape[d])
		}
	}
	return []*tensor.T{tensor.FromI64(y, len(shape), len(at))}, nil
}

func (nonZeroOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

// compressOp is Compress(input, condition): the slices along axis (or the
// elements of the flattened input) whose condition is non-zero.
type compressOp struct {
	axis    int
	hasAxis bool
}

func (*compressOp) Type() string { return "Compress" }

// plan views the input as [outer, n, inner] and lists the kept positions
// along n.
func (c *compressOp) plan(in []*tensor.T) (outer, n, inner int, keep []int, out []int, err error) {
	if err := wantInputs("Compress", in, 2, 2); err != nil {
		return 0, 0, 0, nil, nil, err
	}
	xs := in[0].Shape()
	if c.hasAxis {
		a, err := normAxis("Compress", c.axis, len(xs))
		if err != nil {
			return 0, 0, 0, nil, nil, err
		}
		outer, n, inner = tensor.Size(xs[:a]), xs[a], tensor.Size(xs[a+1:])
		out = append([]int{}, xs...)
		defer func() { out[a] = len(keep) }()
	} else {
		outer, n, inner = 1, in[0].Len(), 1
		defer func() { out = []int{len(keep)} }()
	}
	cond := in[1].AsF32()
	if len(cond) > n {
		return 0, 0, 0, nil, nil, fmt.Errorf("Compress: %d conditions for %d slices", len(cond), n)
	}
	for i, v := range cond {
		if v != 0 {
			keep = append(keep, i)
		}
	}
	return outer, n, inner, keep, out, nil
}

func compressData[E any](x []E, outer, n, inner int, keep []int) []E {
	y := make([]E, 0, outer*len(keep)*inner)
	for o := 0; o < outer; o++ {
		for _, k := range keep {
			y = append(y, x[(o*n+k)*inner:(o*n+k+1)*inner]...)
		}
	}
	return y
}

func (c *compressOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	outer, n, inner, keep, out, err := c.plan(in)
	if err != nil {
		return nil, err
	}
	if in[0].DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(compressData(in[0].I64(), outer, n, inner, keep), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(compressData(in[0].F32(), outer, n, inner, keep), out...)}, nil
}

func (c *compressOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	outer, n, inner, keep, _, err := c.plan(in)
	if err != nil {
		return nil, err
	}
	g, gx := gradOut[0].F32(), make([]float32, in[0].Len())
	j := 0
	for o := 0; o < outer; o++ {
		for _, k := range keep {
			copy(gx[(o*n+k)*inner:(o*n+k+1)*inner], g[j:j+inner])
			j += inner
		}
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}
