package ops

// LayerNormalization, InstanceNormalization and GroupNormalization: each
// views its input as rows, normalises every row to zero mean and unit
// variance (x̂ = (x − μ)/√(σ² + ε)), then applies a per-element affine map
// y = x̂·scale + bias, scale and bias broadcast against the row view.
//
//	LayerNormalization     rows = the leading axes before axis, a row = the rest;
//	                       scale/bias broadcast against the trailing axes
//	InstanceNormalization  rows = N·C, a row = one channel's spatial map;
//	                       scale/bias per channel
//	GroupNormalization     rows = N·G, a row = C/G channels' maps; scale/bias
//	                       per channel (opset 21) or per group (opset 18)
//
// The statistics are accumulated in float64. The backward of the
// normalisation is the usual one:
//
//	∂L/∂x = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε),  g = ∂L/∂x̂.

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("LayerNormalization", func(a Attrs, _ int) (Op, error) {
		return &layerNormOp{axis: int(a.Int("axis", -1)), eps: a.Float("epsilon", 1e-5)}, nil
	})
	Register("InstanceNormalization", func(a Attrs, _ int) (Op, error) {
		return &groupNormOp{name: "InstanceNormalization", eps: a.Float("epsilon", 1e-5)}, nil
	})
	Register("GroupNormalization", func(a Attrs, opset int) (Op, error) {
		g := int(a.Int("num_groups", 0))
		if g <= 0 {
			return nil, fmt.Errorf("GroupNormalization: num_groups must be positive, got %d", g)
		}
		return &groupNormOp{name: "GroupNormalization", groups: g, eps: a.Float("epsilon", 1e-5), perGroup: opset < 21}, nil
	})
}

// normRows normalises x viewed as rows of length d: it returns x̂ and each
// row's 1/√(σ² + ε) (and mean). An empty row's mean is NaN.
func normRows(x []float32, rows, d int, eps float32) (xhat, mean, inv []float32) {
	xhat = make([]float32, len(x))
	mean, inv = make([]float32, rows), make([]float32, rows)
	for r := 0; r < rows; r++ {
		row := x[r*d : (r+1)*d]
		var s float64
		for _, v := range row {
			s += float64(v)
		}
		mu := s / float64(d)
		var q float64
		for _, v := range row {
			e := float64(v) - mu
			q += e * e
		}
		iv := 1 / math.Sqrt(q/float64(d)+float64(eps))
		o := xhat[r*d : (r+1)*d]
		for i, v := range row {
			o[i] = float32((float64(v) - mu) * iv)
		}
		mean[r], inv[r] = float32(mu), float32(iv)
	}
	return xhat, mean, inv
}

// normRowsBackward turns g = ∂L/∂x̂ into ∂L/∂x, in place; gMean and gInv
// (nil, or one per row) are the gradients of the mean and 1/√(σ² + ε)
// outputs, which LayerNormalization may expose.
func normRowsBackward(g, xhat, inv []float32, d int, gMean, gInv []float32) {
	if d == 0 {
		return
	}
	for r := range inv {
		gr, xr := g[r*d:(r+1)*d], xhat[r*d:(r+1)*d]
		var sg, sgx float64
		for i, v := range gr {
			sg += float64(v)
			sgx += float64(v) * float64(xr[i])
		}
		mg, mgx := sg/float64(d), sgx/float64(d)
		iv := float64(inv[r])
		// ∂μ/∂x_i = 1/d and ∂iv/∂x_i = −iv²·x̂_i/d.
		var cm, ci float64
		if gMean != nil {
			cm = float64(gMean[r]) / float64(d)
		}
		if gInv != nil {
			ci = -float64(gInv[r]) * iv * iv / float64(d)
		}
		for i, v := range gr {
			x := float64(xr[i])
			gr[i] = float32((float64(v)-mg-x*mgx)*iv + cm + ci*x)
		}
	}
}

// affine returns x̂·scale + bias (view shape vs; scale, bias broadcast
// against it; either may be nil).
func affine(xhat []float32, vs []int, scale, bias *tensor.T, ss, bs []int) ([]float32, error) {
	y := xhat
	var err error
	if scale != nil {
		if y, _, err = broadcastBinary(y, scale.F32(), vs, ss, mulRow[float32]); err != nil {
			return nil, err
		}
	} else {
		y = append([]float32(nil), y...)
	}
	if bias != nil {
		if y, _, err = broadcastBinary(y, bias.F32(), vs, bs, addRow[float32]); err != nil {
			return nil, err
		}
	}
	if len(y) != len(xhat) {
		return nil, fmt.Errorf("scale %v or bias %v is larger than the input %v", ss, bs, vs)
	}
	return y, nil
}

// affineBackward returns ∂L/∂x̂, ∂L/∂scale and ∂L/∂bias (the latter two
// only when wanted) from gy.
func affineBackward(gy, xhat []float32, vs []int, scale *tensor.T, ss, bs []int, needScale, needBias bool) (gxhat, gscale, gbias []float32) {
	if scale != nil {
		gxhat = mulGrad(gy, vs, vs, scale.F32(), ss)
		if needScale {
			gscale = mulGrad(gy, vs, ss, xhat, vs)
		}
	} else {
		gxhat = append([]float32(nil), gy...)
	}
	if needBias {
		gbias = reduceToShape(gy, vs, bs)
	}
	return gxhat, gscale, gbias
}

// layerNormOp is LayerNormalization (opset 17): outputs Y and, when the
// node asks for them, Mean and InvStdDev (shaped like X with the
// normalised axes set to 1).
type layerNormOp struct {
	axis int
	eps  float32
}

func (*layerNormOp) Type() string { return "LayerNormalization" }

// plan returns the row length, the statistics' shape, and the scale's and
// bias's shapes aligned to X (nil when absent).
func (l *layerNormOp) plan(in []*tensor.T) (d int, stat, ss, bs []int, err error) {
	if err := wantInputs("LayerNormalization", in, 2, 3); err != nil {
		return 0, nil, nil, nil, err
	}
	x := in[0]
	for k, t := range in {
		if t != nil && t.DType() != tensor.Float32 {
			return 0, nil, nil, nil, fmt.Errorf("LayerNormalization: input %d must be float32, got %s", k, t.DType())
		}
	}
	xs := x.Shape()
	axis, err := normAxis("LayerNormalization", l.axis, len(xs))
	if err != nil {
		return 0, nil, nil, nil, err
	}
	d = tensor.Size(xs[axis:])
	stat = append([]int{}, xs...)
	for i := axis; i < len(stat); i++ {
		stat[i] = 1
	}
	check := func(t *tensor.T, what string) ([]int, error) {
		if t == nil {
			return nil, nil
		}
		s := t.Shape()
		if len(s) > len(xs)-axis {
			return nil, fmt.Errorf("LayerNormalization: %s %v has more axes than the normalised %v", what, s, xs[axis:])
		}
		if b, err := broadcastShapes(xs[axis:], s); err != nil || !tensor.SameShape(b[len(b)-len(xs)+axis:], xs[axis:]) {
			return nil, fmt.Errorf("LayerNormalization: %s %v does not broadcast to %v", what, s, xs[axis:])
		}
		return s, nil
	}
	if ss, err = check(in[1], "scale"); err != nil {
		return 0, nil, nil, nil, err
	}
	if bs, err = check(optInput(in, 2), "bias"); err != nil {
		return 0, nil, nil, nil, err
	}
	return d, stat, ss, bs, nil
}

func (l *layerNormOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	d, stat, ss, bs, err := l.plan(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	xhat, mean, inv := normRows(x.F32(), tensor.Size(stat), d, l.eps)
	y, err := affine(xhat, x.Shape(), in[1], optInput(in, 2), ss, bs)
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization: %w", err)
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...), tensor.FromF32(mean, stat...), tensor.FromF32(inv, stat...)}, nil
}

func (l *layerNormOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	d, stat, ss, bs, err := l.plan(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	x := in[0]
	g := func(k int) []float32 {
		if k < len(gradOut) && gradOut[k] != nil {
			return gradOut[k].F32()
		}
		return nil
	}
	gy := g(0)
	if gy == nil {
		gy = make([]float32, x.Len())
	}
	xhat, _, inv := normRows(x.F32(), tensor.Size(stat), d, l.eps)
	gxhat, gscale, gbias := affineBackward(gy, xhat, x.Shape(), in[1], ss, bs, needGrad(need, 1), needGrad(need, 2) && optInput(in, 2) != nil)
	if needGrad(need, 0) {
		normRowsBackward(gxhat, xhat, inv, d, g(1), g(2))
		grads[0] = tensor.FromF32(gxhat, x.Shape()...)
	}
	if gscale != nil {
		grads[1] = tensor.FromF32(gscale, in[1].Shape()...)
	}
	if gbias != nil {
		grads[2] = tensor.FromF32(gbias, in[2].Shape()...)
	}
	return grads, nil
}

func (l *layerNormOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	x, err := input0("LayerNormalization", s)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis("LayerNormalization", l.axis, len(x))
	if err != nil {
		return nil, err
	}
	stat := append([]int{}, x...)
	for i := axis; i < len(stat); i++ {
		stat[i] = 1
	}
	return [][]int{x, stat, stat}, nil
}

// groupNormOp is InstanceNormalization (groups = 0: one group per channel)
// or GroupNormalization.
type groupNormOp struct {
	name     string
	groups   int
	eps      float32
	perGroup bool // GroupNormalization before opset 21: scale and bias per group
}

func (op *groupNormOp) Type() string { return op.name }

// plan returns the row view of X (N × G × C/G·spatial, flattened as
// N×C×spatial for the per-channel affine) and the scale's view shape.
func (op *groupNormOp) plan(in []*tensor.T) (d int, vs, ss []int, err error) {
	if err := wantInputs(op.name, in, 3, 3); err != nil {
		return 0, nil, nil, err
	}
	for k, t := range in {
		if t.DType() != tensor.Float32 {
			return 0, nil, nil, fmt.Errorf("%s: input %d must be float32, got %s", op.name, k, t.DType())
		}
	}
	xs := in[0].Shape()
	if len(xs) < 2 {
		return 0, nil, nil, fmt.Errorf("%s: input %v must be N×C×…", op.name, xs)
	}
	n, c, sp := xs[0], xs[1], tensor.Size(xs[2:])
	g := op.groups
	if g == 0 {
		g = c
	}
	if g <= 0 || c%g != 0 {
		return 0, nil, nil, fmt.Errorf("%s: %d channels do not split into %d groups", op.name, c, g)
	}
	want := c
	if op.perGroup {
		want = g
	}
	if in[1].Len() != want || in[2].Len() != want {
		return 0, nil, nil, fmt.Errorf("%s: scale %v and bias %v must have %d values", op.name, in[1].Shape(), in[2].Shape(), want)
	}
	if op.perGroup {
		return c / g * sp, []int{n, g, c / g * sp}, []int{g, 1}, nil
	}
	return c / g * sp, []int{n, c, sp}, []int{c, 1}, nil
}

func (op *groupNormOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	d, vs, ss, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	xhat, _, _ := normRows(x.F32(), tensor.Size(vs)/max(d, 1), d, op.eps)
	y, err := affine(xhat, vs, in[1], in[2], ss, ss)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

func (op *groupNormOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	d, vs, ss, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	x := in[0]
	xhat, _, inv := normRows(x.F32(), tensor.Size(vs)/max(d, 1), d, op.eps)
	gxhat, gscale, gbias := affineBackward(gradOut[0].F32(), xhat, vs, in[1], ss, ss, needGrad(need, 1), needGrad(need, 2))
	if needGrad(need, 0) {
		normRowsBackward(gxhat, xhat, inv, d, nil, nil)
		grads[0] = tensor.FromF32(gxhat, x.Shape()...)
	}
	if gscale != nil {
		grads[1] = tensor.FromF32(gscale, in[1].Shape()...)
	}
	if gbias != nil {
		grads[2] = tensor.FromF32(gbias, in[2].Shape()...)
	}
	return grads, nil
}

func (op *groupNormOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0(op.name, s)
}
