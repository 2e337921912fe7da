package ops

// Resize (opsets 10–19) and the older Upsample: nearest, linear and cubic
// interpolation over any axes, with every coordinate_transformation_mode
// (half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners,
// asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize), every
// nearest_mode, cubic_coeff_a, exclude_outside, antialias, axes and
// keep_aspect_ratio_policy, as the ONNX reference implementation defines
// them.
//
// Interpolation is separable: along each resized axis, output index j
// reads a few input indices i with weights w (its taps), and the axes are
// resized one after another. For output coordinate j the input coordinate
// is x = T(j) (the coordinate transformation); then
//
//	nearest  one tap at round(x) (nearest_mode), weight 1
//	linear   taps at ⌊x⌋, ⌊x⌋+1 with weights 1−r, r (r = x − ⌊x⌋)
//	cubic    taps at ⌊x⌋−1 … ⌊x⌋+2, Keys' kernel with a = cubic_coeff_a
//
// indices clamped to the input (the reference pads by repeating the edge).
// With antialias, a downscaling linear or cubic kernel is stretched by
// 1/scale and normalised. The backward pass is the adjoint: each axis's
// taps in reverse order, adding w·∂L/∂y[j] into ∂L/∂x[i].

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Resize", newResize)
	Register("Upsample", func(a Attrs, opset int) (Op, error) {
		r := &resizeOp{name: "Upsample", legacy: true, mode: a.String("mode", "nearest"), coord: "asymmetric", nearest: "floor"}
		if r.mode == "bilinear" {
			r.mode = "linear"
		}
		if r.mode != "nearest" && r.mode != "linear" {
			return nil, fmt.Errorf("Upsample: unknown mode %q", r.mode)
		}
		if opset < 9 {
			r.scalesAttr = a.Floats("scales", nil)
			if r.scalesAttr == nil {
				return nil, fmt.Errorf("Upsample: no scales")
			}
		}
		return r, nil
	})
}

func newResize(a Attrs, opset int) (Op, error) {
	r := &resizeOp{
		name:           "Resize",
		mode:           a.String("mode", "nearest"),
		coord:          a.String("coordinate_transformation_mode", "half_pixel"),
		nearest:        a.String("nearest_mode", "round_prefer_floor"),
		cubicA:         float64(a.Float("cubic_coeff_a", -0.75)),
		excludeOutside: a.Int("exclude_outside", 0) != 0,
		extrapolation:  a.Float("extrapolation_value", 0),
		antialias:      a.Int("antialias", 0) != 0,
		axes:           attrInts(a, "axes"),
		keepAspect:     a.String("keep_aspect_ratio_policy", "stretch"),
	}
	if opset < 11 {
		// Resize-10: inputs X and scales; asymmetric coordinates, and the
		// nearest pixel found by flooring (as Upsample).
		r.legacy, r.coord, r.nearest = true, "asymmetric", "floor"
	}
	switch r.mode {
	case "nearest", "linear", "cubic":
	default:
		return nil, fmt.Errorf("Resize: unknown mode %q", r.mode)
	}
	switch r.coord {
	case "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	default:
		return nil, fmt.Errorf("Resize: unknown coordinate_transformation_mode %q", r.coord)
	}
	switch r.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, fmt.Errorf("Resize: unknown nearest_mode %q", r.nearest)
	}
	switch r.keepAspect {
	case "stretch", "not_larger", "not_smaller":
	default:
		return nil, fmt.Errorf("Resize: unknown keep_aspect_ratio_policy %q", r.keepAspect)
	}
	return r, nil
}

// resizeOp is Resize or Upsample.
type resizeOp struct {
	name           string
	legacy         bool // Upsample, Resize-10: inputs X, scales
	scalesAttr     []float32
	mode           string
	coord          string
	nearest        string
	cubicA         float64
	excludeOutside bool
	extrapolation  float32
	antialias      bool
	axes           []int
	keepAspect     string
}

func (r *resizeOp) Type() string { return r.name }

// resizeTaps are the taps of one resized axis: output index j reads
// idx[off[j]:off[j+1]] with weights w[off[j]:off[j+1]]; outside[j] marks
// a tf_crop_and_resize coordinate outside the input (the output there is
// extrapolation_value).
type resizeTaps struct {
	axis, in, out int
	off           []int
	idx           []int
	w             []float32
	outside       []bool
}

// resizePlan is the output shape and the taps of each axis that changes.
type resizePlan struct {
	out     []int
	axes    []resizeTaps
	outside bool // some output position takes extrapolation_value
}

// nonEmpty returns input k when present with at least one value.
func nonEmpty(in []*tensor.T, k int) *tensor.T {
	if t := optInput(in, k); t != nil && t.Len() > 0 {
		return t
	}
	return nil
}

// sizes resolves the output shape and per-axis scales from the inputs.
func (r *resizeOp) sizes(xs []int, in []*tensor.T) (out []int, scales, roi []float64, err error) {
	rank := len(xs)
	axes := make([]int, rank)
	for i := range axes {
		axes[i] = i
	}
	if r.axes != nil {
		axes = make([]int, len(r.axes))
		seen := map[int]bool{}
		for k, a := range r.axes {
			if axes[k], err = normAxis(r.name, a, rank); err != nil {
				return nil, nil, nil, err
			}
			if seen[axes[k]] {
				return nil, nil, nil, fmt.Errorf("%s: axis %d repeated in %v", r.name, a, r.axes)
			}
			seen[axes[k]] = true
		}
	}
	var scaleT, sizeT, roiT *tensor.T
	if r.legacy {
		if r.scalesAttr != nil {
			scaleT = tensor.FromF32(r.scalesAttr, len(r.scalesAttr))
		} else {
			scaleT = nonEmpty(in, 1)
		}
	} else {
		roiT, scaleT, sizeT = nonEmpty(in, 1), nonEmpty(in, 2), nonEmpty(in, 3)
	}
	if (scaleT == nil) == (sizeT == nil) {
		return nil, nil, nil, fmt.Errorf("%s: give exactly one of scales and sizes", r.name)
	}
	out = append([]int{}, xs...)
	scales = make([]float64, rank)
	for i := range scales {
		scales[i] = 1
	}
	roi = make([]float64, 2*rank)
	for i := 0; i < rank; i++ {
		roi[rank+i] = 1
	}
	if roiT != nil && r.coord == "tf_crop_and_resize" {
		v := roiT.AsF32()
		if len(v) != 2*len(axes) {
			return nil, nil, nil, fmt.Errorf("%s: roi has %d values for %d axes", r.name, len(v), len(axes))
		}
		for k, a := range axes {
			roi[a], roi[rank+a] = float64(v[k]), float64(v[len(axes)+k])
		}
	}
	if scaleT != nil {
		v := scaleT.AsF32()
		if len(v) != len(axes) {
			return nil, nil, nil, fmt.Errorf("%s: %d scales for %d axes", r.name, len(v), len(axes))
		}
		for k, a := range axes {
			s := float64(v[k])
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, nil, nil, fmt.Errorf("%s: scale %g must be positive", r.name, s)
			}
			scales[a] = s
			n := float64(xs[a]) * s
			if r.coord == "tf_crop_and_resize" {
				n *= roi[rank+a] - roi[a]
			}
			out[a] = int(math.Floor(n + 1e-9*math.Abs(n)))
		}
	} else {
		v := sizeT.Ints()
		if len(v) != len(axes) {
			return nil, nil, nil, fmt.Errorf("%s: %d sizes for %d axes", r.name, len(v), len(axes))
		}
		for k, a := range axes {
			if v[k] < 0 {
				return nil, nil, nil, fmt.Errorf("%s: negative size %d", r.name, v[k])
			}
			if xs[a] == 0 {
				return nil, nil, nil, fmt.Errorf("%s: cannot resize an empty axis %d", r.name, a)
			}
			out[a] = v[k]
			scales[a] = float64(v[k]) / float64(xs[a])
		}
		if r.keepAspect != "stretch" {
			s := scales[axes[0]]
			for _, a := range axes {
				if r.keepAspect == "not_larger" {
					s = math.Min(s, scales[a])
				} else {
					s = math.Max(s, scales[a])
				}
			}
			for _, a := range axes {
				scales[a] = s
				out[a] = int(math.Round(s * float64(xs[a])))
			}
		}
	}
	return out, scales, roi, nil
}

func (r *resizeOp) plan(in []*tensor.T) (*resizePlan, error) {
	hi := 4
	if r.legacy {
		hi = 2
	}
	if err := wantInputs(r.name, in, 1, hi); err != nil {
		return nil, err
	}
	if in[0].DType() != tensor.Float32 {
		return nil, fmt.Errorf("%s: input must be float32, got %s", r.name, in[0].DType())
	}
	xs := in[0].Shape()
	out, scales, roi, err := r.sizes(xs, in)
	if err != nil {
		return nil, err
	}
	if err := checkOutSize(r.name, out); err != nil {
		return nil, err
	}
	p := &resizePlan{out: out}
	rank := len(xs)
	for a := range xs {
		t := r.taps(xs[a], out[a], scales[a], roi[a], roi[rank+a])
		t.axis = a
		if t.identity() {
			continue
		}
		for _, o := range t.outside {
			p.outside = p.outside || o
		}
		p.axes = append(p.axes, t)
	}
	return p, nil
}

// identity reports whether the taps copy the axis unchanged.
func (t *resizeTaps) identity() bool {
	if t.in != t.out {
		return false
	}
	for j := 0; j < t.out; j++ {
		if t.off[j+1]-t.off[j] != 1 || t.idx[t.off[j]] != j || t.w[t.off[j]] != 1 || t.outside[j] {
			return false
		}
	}
	return true
}

// coordinate maps output index j to the input coordinate.
func (r *resizeOp) coordinate(j, in, out int, scale, r0, r1 float64) (x float64, outside bool) {
	// As the reference, the resized length in align_corners and
	// tf_crop_and_resize is scale·in, which is not an integer when scales
	// are given (sizes give scale = out/in).
	fj, fin, fout := float64(j), float64(in), scale*float64(in)
	if out > 0 && scale == float64(out)/fin {
		// The scale is out/in (sizes given, or a scale that is exactly
		// that ratio): the coordinates as exact ratios of integers, so
		// that a source coordinate that is an integer (or half of one)
		// comes out as one. j/scale can land just below it, and nearest
		// would then take the pixel before.
		if x, ok := r.ratioCoordinate(j, in, out); ok {
			return x, false
		}
	}
	switch r.coord {
	case "half_pixel":
		x = (fj+0.5)/scale - 0.5
	case "half_pixel_symmetric":
		adj := float64(out) / fout
		center := fin / 2
		x = center*(1-adj) + (fj+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if fout > 1 {
			x = (fj+0.5)/scale - 0.5
		}
	case "align_corners":
		if fout != 1 {
			x = fj * (fin - 1) / (fout - 1)
		}
	case "asymmetric":
		x = fj / scale
	case "tf_half_pixel_for_nn":
		x = (fj + 0.5) / scale
	case "tf_crop_and_resize":
		if fout != 1 {
			x = r0*(fin-1) + fj*(r1-r0)*(fin-1)/(fout-1)
		} else {
			x = 0.5 * (r0 + r1) * (fin - 1)
		}
		outside = x < 0 || x > fin-1
	}
	return x, outside
}

// ratioCoordinate is coordinate for scale = out/in, each formula one
// division of integers (exact below 2⁵³); ok is false for the modes
// whose coordinate is not such a ratio.
func (r *resizeOp) ratioCoordinate(j, in, out int) (x float64, ok bool) {
	switch r.coord {
	case "half_pixel", "half_pixel_symmetric": // (j + ½)·in/out − ½
		return float64((2*j+1)*in-out) / float64(2*out), true
	case "pytorch_half_pixel":
		if out > 1 {
			return float64((2*j+1)*in-out) / float64(2*out), true
		}
		return 0, true
	case "asymmetric": // j·in/out
		return float64(j*in) / float64(out), true
	case "tf_half_pixel_for_nn": // (j + ½)·in/out
		return float64((2*j+1)*in) / float64(2*out), true
	case "align_corners":
		if out > 1 {
			return float64(j*(in-1)) / float64(out-1), true
		}
		return 0, true
	}
	return 0, false
}

// kernel is the interpolation kernel at distance d (in input pixels,
// scaled for antialiasing).
func (r *resizeOp) kernel(d float64) float64 {
	d = math.Abs(d)
	if r.mode == "linear" {
		return math.Max(0, 1-d)
	}
	a := r.cubicA
	switch {
	case d <= 1:
		return ((a+2)*d-(a+3))*d*d + 1
	case d < 2:
		return ((a*d-5*a)*d+8*a)*d - 4*a
	}
	return 0
}

func (r *resizeOp) taps(in, out int, scale, r0, r1 float64) resizeTaps {
	t := resizeTaps{in: in, out: out, off: make([]int, out+1), outside: make([]bool, out)}
	clamp := func(i int) int { return max(0, min(in-1, i)) }
	for j := 0; j < out; j++ {
		t.off[j] = len(t.idx)
		x, outside := r.coordinate(j, in, out, scale, r0, r1)
		if outside {
			t.outside[j] = true
			continue
		}
		if r.mode == "nearest" {
			var i float64
			switch f := math.Floor(x); r.nearest {
			case "floor":
				i = f
			case "ceil":
				i = math.Ceil(x)
			case "round_prefer_ceil":
				i = math.Floor(x + 0.5)
			default: // round_prefer_floor
				i = math.Ceil(x - 0.5)
			}
			t.idx = append(t.idx, clamp(int(i)))
			t.w = append(t.w, 1)
			continue
		}
		// The left neighbour and the distance to it in (0, 1]: on an
		// integer coordinate the pixel itself is the right neighbour.
		base := math.Floor(x)
		if base == x {
			base--
		}
		ratio := x - base
		s := 1.0
		if r.antialias && scale < 1 {
			s = scale
		}
		radius := 1.0
		if r.mode == "cubic" {
			radius = 2
		}
		lo := int(math.Floor(-radius/s)) + 1
		var ws []float64
		var is []int
		var sum float64
		for k := lo; k < 2-lo; k++ {
			w := r.kernel(s * (float64(k) - ratio))
			i := int(base) + k
			if r.excludeOutside && (i < 0 || i >= in) {
				w = 0
			}
			ws, is = append(ws, w), append(is, i)
			sum += w
		}
		norm := r.excludeOutside || s != 1
		for k, w := range ws {
			if norm && sum != 0 {
				w /= sum
			}
			if w == 0 {
				continue
			}
			t.idx = append(t.idx, clamp(is[k]))
			t.w = append(t.w, float32(w))
		}
	}
	t.off[out] = len(t.idx)
	return t
}

// resizeAxis resizes x (shape) along t.axis.
func resizeAxis(x []float32, shape []int, t *resizeTaps) ([]float32, []int) {
	outer, inner := tensor.Size(shape[:t.axis]), tensor.Size(shape[t.axis+1:])
	ns := append([]int{}, shape...)
	ns[t.axis] = t.out
	y := make([]float32, outer*t.out*inner)
	for o := 0; o < outer; o++ {
		src := x[o*t.in*inner : (o+1)*t.in*inner]
		for j := 0; j < t.out; j++ {
			d := y[(o*t.out+j)*inner : (o*t.out+j+1)*inner]
			for k := t.off[j]; k < t.off[j+1]; k++ {
				w, s := t.w[k], src[t.idx[k]*inner:(t.idx[k]+1)*inner]
				if inner == 1 {
					d[0] += w * s[0]
					continue
				}
				for i, v := range s {
					d[i] += w * v
				}
			}
		}
	}
	return y, ns
}

// resizeAxisAdjoint is resizeAxis's transpose: gy has t.out along t.axis,
// the result t.in.
func resizeAxisAdjoint(gy []float32, shape []int, t *resizeTaps) ([]float32, []int) {
	outer, inner := tensor.Size(shape[:t.axis]), tensor.Size(shape[t.axis+1:])
	ns := append([]int{}, shape...)
	ns[t.axis] = t.in
	gx := make([]float32, outer*t.in*inner)
	for o := 0; o < outer; o++ {
		dst := gx[o*t.in*inner : (o+1)*t.in*inner]
		for j := 0; j < t.out; j++ {
			g := gy[(o*t.out+j)*inner : (o*t.out+j+1)*inner]
			for k := t.off[j]; k < t.off[j+1]; k++ {
				w, d := t.w[k], dst[t.idx[k]*inner:(t.idx[k]+1)*inner]
				for i, v := range g {
					d[i] += w * v
				}
			}
		}
	}
	return gx, ns
}

// markOutside calls fn with the flat index of every output position that
// some axis puts outside the input (tf_crop_and_resize).
func (p *resizePlan) markOutside(fn func(i int)) {
	st := rowMajorStrides(p.out)
	for i := 0; i < tensor.Size(p.out); i++ {
		for _, t := range p.axes {
			if t.outside[i/st[t.axis]%p.out[t.axis]] {
				fn(i)
				break
			}
		}
	}
}

func (r *resizeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	p, err := r.plan(in)
	if err != nil {
		return nil, err
	}
	x, shape := in[0].F32(), in[0].Shape()
	if len(p.axes) == 0 {
		x = append([]float32(nil), x...)
	}
	for k := range p.axes {
		x, shape = resizeAxis(x, shape, &p.axes[k])
	}
	if p.outside {
		p.markOutside(func(i int) { x[i] = r.extrapolation })
	}
	return []*tensor.T{tensor.FromF32(x, p.out...)}, nil
}

func (r *resizeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	p, err := r.plan(in)
	if err != nil {
		return nil, err
	}
	g, shape := append([]float32(nil), gradOut[0].F32()...), p.out
	if p.outside {
		p.markOutside(func(i int) { g[i] = 0 })
	}
	for k := len(p.axes) - 1; k >= 0; k-- {
		g, shape = resizeAxisAdjoint(g, shape, &p.axes[k])
	}
	grads[0] = tensor.FromF32(g, in[0].Shape()...)
	return grads, nil
}

// OutShapes needs the scales or sizes (and roi) as constants.
func (r *resizeOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	x, err := input0(r.name, s)
	if err != nil {
		return nil, err
	}
	in := make([]*tensor.T, len(s))
	for k := 1; k < len(s); k++ {
		if s[k] == nil {
			continue
		}
		if k >= len(consts) || consts[k] == nil {
			return nil, fmt.Errorf("%s: input %d is not a constant", r.name, k)
		}
		in[k] = consts[k]
	}
	out, _, _, err := r.sizes(x, in)
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}
