package ops

// Selection ops: TopK, Hardmax, Trilu and OneHot, and LRN (the local
// response normalisation of AlexNet-era networks).
//
//	TopK      the k largest (or smallest) values along an axis and their
//	          indices, ties to the lower index; ∂L/∂x goes back to the
//	          selected positions
//	Trilu     the upper (or lower) triangle of the last two axes,
//	          shifted by k; ∂L/∂x is the gradient masked the same way
//	LRN       y_c = x_c / (bias + α/size · Σ_{c' near c} x_c'²)^β

import (
	"fmt"
	"math"
	"sort"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("TopK", func(a Attrs, opset int) (Op, error) {
		t := &topKOp{axis: int(a.Int("axis", -1)), largest: a.Int("largest", 1) != 0, k: -1}
		if opset < 10 {
			t.k = int(a.Int("k", 0))
		}
		return t, nil
	})
	Register("Hardmax", func(a Attrs, opset int) (Op, error) {
		h := &hardmaxOp{legacy: opset < 13, axis: -1}
		if h.legacy {
			h.axis = 1
		}
		h.axis = int(a.Int("axis", int64(h.axis)))
		return h, nil
	})
	Register("Trilu", func(a Attrs, _ int) (Op, error) { return &triluOp{upper: a.Int("upper", 1) != 0}, nil })
	Register("OneHot", func(a Attrs, _ int) (Op, error) { return &oneHotOp{axis: int(a.Int("axis", -1))}, nil })
	Register("LRN", func(a Attrs, _ int) (Op, error) {
		size := int(a.Int("size", 0))
		if size <= 0 {
			return nil, fmt.Errorf("LRN: size must be positive, got %d", size)
		}
		return &lrnOp{size: size, alpha: float64(a.Float("alpha", 1e-4)), beta: float64(a.Float("beta", 0.75)), bias: float64(a.Float("bias", 1))}, nil
	})
}

// topKOp is TopK: outputs Values and Indices (int64).
type topKOp struct {
	axis    int
	largest bool
	k       int // the attribute (opset < 10); -1: the input
}

func (*topKOp) Type() string { return "TopK" }

// plan returns, per output element, the flat input index it takes.
func (t *topKOp) plan(in []*tensor.T) (src []int, idx []int64, shape []int, err error) {
	hi := 2
	if t.k >= 0 {
		hi = 1
	}
	if err := wantInputs("TopK", in, hi, hi); err != nil {
		return nil, nil, nil, err
	}
	x := in[0]
	xs := x.Shape()
	axis, err := normAxis("TopK", t.axis, len(xs))
	if err != nil {
		return nil, nil, nil, err
	}
	k := t.k
	if k < 0 {
		if in[1].Len() != 1 {
			return nil, nil, nil, fmt.Errorf("TopK: K must have one value, got shape %v", in[1].Shape())
		}
		k = in[1].Ints()[0]
	}
	if k < 0 || k > xs[axis] {
		return nil, nil, nil, fmt.Errorf("TopK: k = %d for an axis of %d", k, xs[axis])
	}
	v := x.AsF32()
	outer, n, inner := tensor.Size(xs[:axis]), xs[axis], tensor.Size(xs[axis+1:])
	shape = append([]int{}, xs...)
	shape[axis] = k
	src, idx = make([]int, outer*k*inner), make([]int64, outer*k*inner)
	order := make([]int, n)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			at := func(j int) float32 { return v[(o*n+j)*inner+i] }
			for j := range order {
				order[j] = j
			}
			sort.SliceStable(order, func(a, b int) bool {
				va, vb := at(order[a]), at(order[b])
				if t.largest {
					return va > vb
				}
				return va < vb
			})
			for j := 0; j < k; j++ {
				src[(o*k+j)*inner+i] = (o*n+order[j])*inner + i
				idx[(o*k+j)*inner+i] = int64(order[j])
			}
		}
	}
	return src, idx, shape, nil
}

func (t *topKOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	src, idx, shape, err := t.plan(in)
	if err != nil {
		return nil, err
	}
	indices := tensor.FromI64(idx, shape...)
	if in[0].DType() == tensor.Int64 {
		xv, y := in[0].I64(), make([]int64, len(src))
		for i, s := range src {
			y[i] = xv[s]
		}
		return []*tensor.T{tensor.FromI64(y, shape...), indices}, nil
	}
	xv, y := in[0].F32(), make([]float32, len(src))
	for i, s := range src {
		y[i] = xv[s]
	}
	return []*tensor.T{tensor.FromF32(y, shape...), indices}, nil
}

func (t *topKOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	gx := tensor.New(in[0].Shape()...)
	grads[0] = gx
	if gradOut[0] == nil {
		return grads, nil
	}
	src, _, _, err := t.plan(in)
	if err != nil {
		return nil, err
	}
	for i, g := range gradOut[0].F32() {
		gx.F32()[src[i]] += g
	}
	return grads, nil
}

// hardmaxOp is Hardmax: 1 at the first maximum along the axis, else 0
// (before opset 13, of the input flattened to 2-D at the axis). Its
// gradient is 0.
type hardmaxOp struct {
	legacy bool
	axis   int
}

func (*hardmaxOp) Type() string { return "Hardmax" }

func (h *hardmaxOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Hardmax", in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("Hardmax: input must be float32, got %s", x.DType())
	}
	outer, n, inner, err := (&softmaxOp{legacy: h.legacy, axis: h.axis}).layout(x.Shape())
	if err != nil {
		return nil, fmt.Errorf("Hardmax: %w", err)
	}
	y := make([]float32, x.Len())
	if n > 0 {
		for k, j := range argData(x.F32(), outer, n, inner, true, false) {
			o, i := k/inner, k%inner
			y[(o*n+int(j))*inner+i] = 1
		}
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

func (h *hardmaxOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return zeroGrads(in, need), nil
}

// triluOp is Trilu(x, k): the upper triangle (column − row ≥ k) or lower
// (column − row ≤ k) of the last two axes, zero elsewhere.
type triluOp struct{ upper bool }

func (*triluOp) Type() string { return "Trilu" }

func (t *triluOp) mask(in []*tensor.T) ([]bool, error) {
	if err := wantInputs("Trilu", in, 1, 2); err != nil {
		return nil, err
	}
	xs := in[0].Shape()
	if len(xs) < 2 {
		return nil, fmt.Errorf("Trilu: input %v has fewer than 2 axes", xs)
	}
	k := 0
	if kt := optInput(in, 1); kt != nil {
		if kt.Len() != 1 {
			return nil, fmt.Errorf("Trilu: k must be a scalar, got shape %v", kt.Shape())
		}
		k = kt.Ints()[0]
	}
	r, c := xs[len(xs)-2], xs[len(xs)-1]
	keep := make([]bool, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			keep[i*c+j] = (t.upper && j-i >= k) || (!t.upper && j-i <= k)
		}
	}
	return keep, nil
}

func (t *triluOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	keep, err := t.mask(in)
	if err != nil {
		return nil, err
	}
	y := in[0].Clone()
	if y.DType() == tensor.Int64 {
		for i := range y.I64() {
			if len(keep) > 0 && !keep[i%len(keep)] {
				y.I64()[i] = 0
			}
		}
	} else {
		for i := range y.F32() {
			if len(keep) > 0 && !keep[i%len(keep)] {
				y.F32()[i] = 0
			}
		}
	}
	return []*tensor.T{y}, nil
}

func (t *triluOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) || in[0].DType() != tensor.Float32 {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	keep, err := t.mask(in)
	if err != nil {
		return nil, err
	}
	g := gradOut[0].Clone()
	for i := range g.F32() {
		if len(keep) > 0 && !keep[i%len(keep)] {
			g.F32()[i] = 0
		}
	}
	grads[0] = g
	return grads, nil
}

// oneHotOp is OneHot(indices, depth, values): a new axis of length depth
// with values[1] at each index and values[0] elsewhere (indices outside
// [−depth, depth) give a row of values[0]).
type oneHotOp struct{ axis int }

func (*oneHotOp) Type() string { return "OneHot" }

func (o *oneHotOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("OneHot", in, 3, 3); err != nil {
		return nil, err
	}
	if in[1].Len() != 1 || in[2].Len() != 2 {
		return nil, fmt.Errorf("OneHot: depth %v must be one value and values %v two", in[1].Shape(), in[2].Shape())
	}
	depth := int(in[1].AsF32()[0])
	if depth <= 0 {
		return nil, fmt.Errorf("OneHot: depth %d must be positive", depth)
	}
	is := in[0].Shape()
	axis := o.axis
	if axis < 0 {
		axis += len(is) + 1
	}
	if axis < 0 || axis > len(is) {
		return nil, fmt.Errorf("OneHot: axis %d out of range for rank %d", o.axis, len(is)+1)
	}
	shape := append(append(append([]int{}, is[:axis]...), depth), is[axis:]...)
	if err := checkOutSize("OneHot", shape); err != nil {
		return nil, err
	}
	outer, inner := tensor.Size(is[:axis]), tensor.Size(is[axis:])
	idx := in[0].AsF32()
	on := func(set func(at int)) {
		for a := 0; a < outer; a++ {
			for i := 0; i < inner; i++ {
				v := int(idx[a*inner+i])
				if v < 0 {
					v += depth
				}
				if v >= 0 && v < depth {
					set((a*depth+v)*inner + i)
				}
			}
		}
	}
	if in[2].DType() == tensor.Int64 {
		vals, y := in[2].I64(), make([]int64, tensor.Size(shape))
		fill(y, vals[0])
		on(func(at int) { y[at] = vals[1] })
		return []*tensor.T{tensor.FromI64(y, shape...)}, nil
	}
	vals, y := in[2].F32(), make([]float32, tensor.Size(shape))
	fill(y, vals[0])
	on(func(at int) { y[at] = vals[1] })
	return []*tensor.T{tensor.FromF32(y, shape...)}, nil
}

func (o *oneHotOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

// lrnOp is LRN over the channels of N×C×… inputs.
type lrnOp struct {
	size              int
	alpha, beta, bias float64
}

func (*lrnOp) Type() string { return "LRN" }

// scales returns s = bias + α/size · Σ x² over each position's window.
func (l *lrnOp) scales(x []float32, n, c, sp int) []float64 {
	s := make([]float64, len(x))
	lo, hi := (l.size-1)/2, l.size-1-(l.size-1)/2
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < sp; p++ {
				var q float64
				for k := max(0, ch-lo); k <= min(c-1, ch+hi); k++ {
					v := float64(x[(b*c+k)*sp+p])
					q += v * v
				}
				s[(b*c+ch)*sp+p] = l.bias + l.alpha/float64(l.size)*q
			}
		}
	}
	return s
}

func (l *lrnOp) dims(in []*tensor.T) (n, c, sp int, err error) {
	if err := wantInputs("LRN", in, 1, 1); err != nil {
		return 0, 0, 0, err
	}
	xs := in[0].Shape()
	if len(xs) < 2 || in[0].DType() != tensor.Float32 {
		return 0, 0, 0, fmt.Errorf("LRN: input must be a float32 N×C×… tensor, got %s %v", in[0].DType(), xs)
	}
	return xs[0], xs[1], tensor.Size(xs[2:]), nil
}

func (l *lrnOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	n, c, sp, err := l.dims(in)
	if err != nil {
		return nil, err
	}
	x := in[0].F32()
	s := l.scales(x, n, c, sp)
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(float64(v) * math.Pow(s[i], -l.beta))
	}
	return []*tensor.T{tensor.FromF32(y, in[0].Shape()...)}, nil
}

// Backward: ∂L/∂x_j = g_j·s_j^−β − 2αβ/size · x_j · Σ_{c ∋ j} g_c·x_c·s_c^(−β−1).
func (l *lrnOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	n, c, sp, err := l.dims(in)
	if err != nil {
		return nil, err
	}
	x, g := in[0].F32(), gradOut[0].F32()
	s := l.scales(x, n, c, sp)
	t := make([]float64, len(x)) // g_c·x_c·s_c^(−β−1)
	for i := range x {
		t[i] = float64(g[i]) * float64(x[i]) * math.Pow(s[i], -l.beta-1)
	}
	gx := make([]float32, len(x))
	lo, hi := (l.size-1)/2, l.size-1-(l.size-1)/2
	for b := 0; b < n; b++ {
		for j := 0; j < c; j++ {
			for p := 0; p < sp; p++ {
				i := (b*c+j)*sp + p
				// channel j is in the window of channels j−hi … j+lo
				var acc float64
				for k := max(0, j-hi); k <= min(c-1, j+lo); k++ {
					acc += t[(b*c+k)*sp+p]
				}
				gx[i] = float32(float64(g[i])*math.Pow(s[i], -l.beta) - 2*l.alpha*l.beta/float64(l.size)*float64(x[i])*acc)
			}
		}
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}
