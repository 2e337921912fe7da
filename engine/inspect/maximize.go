package inspect

import (
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"math/rand/v2"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Activation maximisation (Erhan et al. 2009; Olah et al., "Feature
// Visualization", Distill 2017, and its library Lucid): gradient ascent on
// the model's input for a picture that makes one channel of a layer, or one
// class's logit, as large as possible.
//
// The picture is made from parameters p (see param.go): pixels or 1/f-scaled
// DCT coefficients, optionally through a colour-decorrelation matrix, then a
// sigmoid into 0..1. Each step:
//
//  1. picture = sigmoid(colour(basis(p)))
//  2. a random transformation of the picture: a shift of up to ±Jitter
//     whole pixels, a rotation of up to ±Rotate degrees and a scaling by
//     1±Scale, all about the centre and uniformly drawn, applied as one
//     affine bilinear resampling with clamped edges (pixels outside take
//     the nearest edge pixel's value)
//  3. normalised, (value − Mean)/Std per channel, into the model's input
//  4. forward pass, objective, backward pass to the input
//  5. the gradient goes back exactly through the normalisation, the
//     resampling (its adjoint: each output pixel's gradient scattered to
//     the four source pixels with the same weights), the sigmoid, the
//     colour matrix and the basis
//  6. regularisers: the gradient of −TV·tv(picture) (see tvPenalty) and of
//     −L2/2·‖p‖² are added
//  7. one Adam step uphill (β1 0.9, β2 0.999, ε 1e-8) with rate LR
//  8. every BlurEvery steps, with Blur > 0, the picture before the sigmoid
//     is blurred by a Gaussian of σ = Blur pixels (mirrored edges; done on
//     p, see param.blur), the periodic blurring of Yosinski et al. 2015
//
// All randomness (the starting noise and the transformations) comes from
// one math/rand/v2 PCG stream seeded with Seed, so a result is reproducible.

// MaximizeOptions says what to maximise and how. Zero values pick the
// defaults noted; the zero value of Class is a channel objective.
type MaximizeOptions struct {
	// Layer and Channel: maximise the mean over spatial positions of that
	// channel of the layer's output (value or node name; N×C×H×W, or N×C
	// where the channel's single value is used).
	Layer   string
	Channel int
	// Class, when set (Class: new(c)), maximises that class's logit (the
	// model's output) instead, and Layer and Channel are ignored. Nil: the
	// channel objective above.
	Class *int

	Steps  int     // gradient-ascent steps (256)
	LR     float64 // Adam learning rate (0.05)
	Jitter int     // random translation of up to ±Jitter whole pixels a step (8; negative: none)
	Rotate float64 // random rotation of up to ±Rotate degrees a step (5; negative: none)
	Scale  float64 // random scaling by 1±Scale a step (0.05; negative: none; below 1)
	// TV weighs the total-variation penalty (tvPenalty): the smoothed
	// absolute differences between horizontal and vertical neighbours of
	// the 0..1 picture, summed and divided by C·H·W so that the weight does
	// not depend on the picture's size. Default 1; negative: none.
	TV float64
	// Blur: every BlurEvery steps (default 4), blur the picture (before
	// the sigmoid) with a Gaussian of this σ in pixels (0: none).
	Blur      float64
	BlurEvery int
	L2        float64 // weight of an L2 penalty L2/2·‖p‖² on the parameters (0: none)

	Decorrelate bool // colours through the ImageNet colour-correlation square root (3 channels; ignored for others)
	Fourier     bool // 1/f-scaled frequency (DCT) parametrisation instead of pixels

	Seed int64

	// Mean and Std normalise the 0..1 picture into the model's input (the
	// model card's; one value per channel, or one for all; default
	// ImageNet for 3 channels, 0.5 otherwise).
	Mean, Std []float32

	// Progress, when set, is called after every step; returning false
	// stops (Maximize then returns ErrCancelled with the result so far).
	Progress func(p MaxProgress) bool
}

// MaxProgress is one step's report.
type MaxProgress struct {
	Step, Total int       // Step steps of Total are done (1 after the first)
	Objective   float32   // the objective at this step (under the step's transforms)
	Pixels      []float32 // the current picture (after the step), C×H×W in 0..1 (valid during the call only)
	C, H, W     int
}

// MaximizeResult is the picture found.
type MaximizeResult struct {
	Pixels    []float32 // C×H×W in 0..1
	C, H, W   int
	Objective []float32 // per step, under the step's transforms
	// Start and Final are the objective (channel mean or logit) on the
	// starting noise and on the result, both without transforms.
	Start, Final float32
	Steps        int // steps done (fewer than asked when cancelled)
}

// ErrCancelled is returned when Progress asked to stop.
var ErrCancelled = fmt.Errorf("inspect: cancelled")

// ErrBadOption marks the errors of an option that is not valid (an
// unknown mode or order, a channel or class out of range, a negative
// strength, …); errors.Is finds it, the text is the message.
var ErrBadOption = errors.New("inspect: bad option")

// Image is the result as a picture (grey for one channel).
func (r *MaximizeResult) Image() *image.RGBA { return PixelsImage(r.Pixels, r.C, r.H, r.W) }

// Defaults.
const (
	defaultSteps     = 256
	defaultLR        = 0.05
	defaultJitter    = 8
	defaultRotate    = 5.0
	defaultScale     = 0.05
	defaultTV        = 1
	defaultBlurEvery = 4
)

// maxSettings are the options with defaults filled in and checked.
type maxSettings struct {
	steps     int
	lr        float64
	jitter    int
	rotate    float64 // radians
	scale     float64
	tv        float64
	blur      float64
	blurEvery int
	l2        float64
	mean, std []float32 // one per channel
}

func (opt *MaximizeOptions) settings(c int) (maxSettings, error) {
	s := maxSettings{steps: opt.Steps, lr: opt.LR, jitter: opt.Jitter, rotate: opt.Rotate, scale: opt.Scale,
		tv: opt.TV, blur: opt.Blur, blurEvery: opt.BlurEvery, l2: opt.L2}
	for _, f := range []struct {
		name string
		v    float64
	}{{"LR", s.lr}, {"Rotate", s.rotate}, {"Scale", s.scale}, {"TV", s.tv}, {"Blur", s.blur}, {"L2", s.l2}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return s, kind.Errorf(ErrBadOption, "inspect: maximize: %s must be a finite number, got %v", f.name, f.v)
		}
	}
	switch {
	case s.steps < 0:
		return s, kind.Errorf(ErrBadOption, "inspect: maximize: the number of steps must not be negative, got %d", s.steps)
	case s.steps == 0:
		s.steps = defaultSteps
	}
	switch {
	case s.lr < 0:
		return s, kind.Errorf(ErrBadOption, "inspect: maximize: the learning rate must not be negative, got %v", s.lr)
	case s.lr == 0:
		s.lr = defaultLR
	}
	switch {
	case s.jitter < 0:
		s.jitter = 0
	case s.jitter == 0:
		s.jitter = defaultJitter
	}
	switch {
	case s.rotate < 0:
		s.rotate = 0
	case s.rotate == 0:
		s.rotate = defaultRotate
	}
	s.rotate *= math.Pi / 180
	switch {
	case s.scale < 0:
		s.scale = 0
	case s.scale == 0:
		s.scale = defaultScale
	case s.scale >= 1:
		return s, kind.Errorf(ErrBadOption, "inspect: maximize: Scale must be below 1 (a scaling by 1±Scale), got %v", s.scale)
	}
	switch {
	case s.tv < 0:
		s.tv = 0
	case s.tv == 0:
		s.tv = defaultTV
	}
	if s.blur < 0 {
		return s, kind.Errorf(ErrBadOption, "inspect: maximize: Blur (a Gaussian's σ in pixels) must not be negative, got %v", s.blur)
	}
	if s.blurEvery <= 0 {
		s.blurEvery = defaultBlurEvery
	}
	if s.l2 < 0 {
		return s, kind.Errorf(ErrBadOption, "inspect: maximize: L2 must not be negative, got %v", s.l2)
	}
	defMean, defStd := []float32{0.5}, []float32{0.5}
	if c == 3 {
		defMean, defStd = imgproc.ImageNetMean, imgproc.ImageNetStd
	}
	var err error
	if s.mean, err = perChannel("Mean", opt.Mean, defMean, c); err != nil {
		return s, err
	}
	if s.std, err = perChannel("Std", opt.Std, defStd, c); err != nil {
		return s, err
	}
	for k, v := range s.std {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return s, kind.Errorf(ErrBadOption, "inspect: maximize: Std[%d] must be positive, got %v", k, v)
		}
	}
	for k, v := range s.mean {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return s, kind.Errorf(ErrBadOption, "inspect: maximize: Mean[%d] must be finite, got %v", k, v)
		}
	}
	return s, nil
}

// perChannel expands v (one value per channel, one for all, or none for
// def) to c values.
func perChannel(name string, v, def []float32, c int) ([]float32, error) {
	if len(v) == 0 {
		v = def
	}
	out := make([]float32, c)
	switch len(v) {
	case c:
		copy(out, v)
	case 1:
		for k := range out {
			out[k] = v[0]
		}
	default:
		return nil, kind.Errorf(ErrBadOption, "inspect: maximize: %s has %d values for a %d-channel input", name, len(v), c)
	}
	return out, nil
}

// objective is what Maximize makes large: a channel's mean or a logit.
type objective struct {
	value string // the value seeded
	class int    // ≥ 0: a class objective
	layer string // as given, for messages
	ch    int
	size  int // values per channel (H·W, or 1 for N×C)
	seed  *tensor.T
}

func newObjective(m *model.Model, opt *MaximizeOptions) (*objective, error) {
	if opt.Class != nil {
		if c := *opt.Class; c < 0 {
			return nil, kind.Errorf(ErrBadOption, "inspect: maximize: class %d is out of range: classes are numbered from 0", c)
		}
		return &objective{value: m.Output, class: *opt.Class}, nil
	}
	if opt.Layer == "" {
		return nil, kind.Errorf(ErrBadOption, "inspect: maximize: no layer given (or give a class to maximise a logit)")
	}
	v, err := m.ResolveLayer(opt.Layer)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	return &objective{value: v, class: -1, layer: opt.Layer, ch: opt.Channel}, nil
}

// prepare checks the objective against a forward pass's values and makes
// its seed (the objective's gradient with respect to the seeded value).
func (o *objective) prepare(run *graph.Run) error {
	v := run.Value(o.value)
	if v == nil {
		return fmt.Errorf("inspect: maximize: value %q was not computed", o.value)
	}
	if v.DType() != tensor.Float32 {
		return fmt.Errorf("inspect: maximize: %q holds %s values, not float32", o.value, v.DType())
	}
	sh := v.Shape()
	o.seed = tensor.New(sh...)
	if o.class >= 0 {
		if v.Len() == 0 || (len(sh) > 0 && sh[0] != 1) {
			return fmt.Errorf("inspect: maximize: the model's output %q has shape %s, not one row of class scores", o.value, tensor.ShapeString(sh))
		}
		if o.class >= v.Len() {
			return kind.Errorf(ErrBadOption, "inspect: maximize: class %d is out of range: the model has %d classes (0..%d)", o.class, v.Len(), v.Len()-1)
		}
		o.seed.F32()[o.class] = 1
		return nil
	}
	if (len(sh) != 4 && len(sh) != 2) || sh[0] != 1 {
		return kind.Errorf(model.ErrBadLayer, "inspect: maximize: layer %q has shape %s; activation maximisation needs an N×C×H×W or N×C layer", o.layer, tensor.ShapeString(sh))
	}
	if o.ch < 0 || o.ch >= sh[1] {
		return kind.Errorf(ErrBadOption, "inspect: maximize: channel %d is out of range: layer %q has %d channels (0..%d)", o.ch, o.layer, sh[1], sh[1]-1)
	}
	o.size = v.Len() / sh[1]
	if o.size == 0 {
		return kind.Errorf(model.ErrBadLayer, "inspect: maximize: layer %q has shape %s, no values", o.layer, tensor.ShapeString(sh))
	}
	g := o.seed.F32()[o.ch*o.size : (o.ch+1)*o.size]
	for i := range g {
		g[i] = 1 / float32(o.size)
	}
	return nil
}

// eval is the objective's value in a forward pass.
func (o *objective) eval(run *graph.Run) float32 {
	v := run.Value(o.value).F32()
	if o.class >= 0 {
		return v[o.class]
	}
	var s float64
	for _, a := range v[o.ch*o.size : (o.ch+1)*o.size] {
		s += float64(a)
	}
	return float32(s / float64(o.size))
}

// resetSeed restores the seed's values (in case a backward pass wrote to
// it) so that it can be used again.
func (o *objective) resetSeed() {
	g := o.seed.F32()
	clear(g)
	if o.class >= 0 {
		g[o.class] = 1
		return
	}
	for i := o.ch * o.size; i < (o.ch+1)*o.size; i++ {
		g[i] = 1 / float32(o.size)
	}
}

// maximizer holds one run's state and buffers.
type maximizer struct {
	m         *model.Model
	g         *graph.Graph // the part of m's graph that computes the objective
	s         maxSettings
	obj       *objective
	q         *param
	wp        *warp
	c, h, w   int
	x         *tensor.T // the model's input, 1×C×H×W
	p, m1, m2 []float32 // parameters and Adam moments
	pic, tpic []float32 // picture and transformed picture
	grad      []float32 // gradient scratch, C×H×W
	gp        []float32 // gradient with respect to p
	gain      []float32 // blur transfer function
}

// normalise writes (pic − mean)/std into the model's input.
func (z *maximizer) normalise(pic []float32) {
	hw := z.h * z.w
	x := z.x.F32()
	for c := 0; c < z.c; c++ {
		mu, inv := z.s.mean[c], 1/z.s.std[c]
		for i, v := range pic[c*hw : (c+1)*hw] {
			x[c*hw+i] = (v - mu) * inv
		}
	}
}

// evaluate is the objective on a picture without transforms.
func (z *maximizer) evaluate(pic []float32, prepare bool) (float32, error) {
	z.normalise(pic)
	run, err := z.g.Forward(map[string]*tensor.T{z.m.Input: z.x}, &graph.Options{NoTape: true, Keep: []string{z.obj.value}})
	if err != nil {
		return 0, err
	}
	if prepare {
		if err := z.obj.prepare(run); err != nil {
			return 0, err
		}
	}
	return z.obj.eval(run), nil
}

// step does one gradient-ascent step (t counts from 1) and returns the
// objective under the step's transforms.
func (z *maximizer) step(t int, rng *rand.Rand) (float32, error) {
	s := &z.s
	var tx, ty float64
	if s.jitter > 0 {
		tx = float64(rng.IntN(2*s.jitter+1) - s.jitter)
		ty = float64(rng.IntN(2*s.jitter+1) - s.jitter)
	}
	theta, scale := 0.0, 1.0
	if s.rotate > 0 {
		theta = (2*rng.Float64() - 1) * s.rotate
	}
	if s.scale > 0 {
		scale = 1 + (2*rng.Float64()-1)*s.scale
	}
	z.wp.set(theta, scale, tx, ty)
	z.wp.apply(z.tpic, z.pic, z.c)
	z.normalise(z.tpic)
	run, err := z.g.Forward(map[string]*tensor.T{z.m.Input: z.x}, nil)
	if err != nil {
		return 0, err
	}
	val := z.obj.eval(run)
	z.obj.resetSeed()
	grads, err := run.Backward(map[string]*tensor.T{z.obj.value: z.obj.seed}, graph.BackwardOptions{Wrt: []string{z.m.Input}})
	if err != nil {
		return 0, err
	}
	gx := grads[z.m.Input].F32()
	hw := z.h * z.w
	for c := 0; c < z.c; c++ {
		inv := 1 / s.std[c]
		for i, g := range gx[c*hw : (c+1)*hw] {
			z.grad[c*hw+i] = g * inv
		}
	}
	// grad now holds ∂obj/∂(transformed picture); tpic is free for ∂obj/∂picture.
	z.wp.adjoint(z.tpic, z.grad, z.c)
	if s.tv > 0 {
		tvPenalty(z.pic, z.c, z.h, z.w, float32(s.tv), z.tpic)
	}
	z.q.backward(z.gp, z.tpic, z.pic)
	// Adam, uphill.
	const b1, b2, eps = 0.9, 0.999, 1e-8
	c1 := float32(1 - math.Pow(b1, float64(t)))
	c2 := float32(1 - math.Pow(b2, float64(t)))
	lr, l2 := float32(s.lr), float32(s.l2)
	for i, g := range z.gp {
		g -= l2 * z.p[i]
		z.m1[i] = b1*z.m1[i] + (1-b1)*g
		z.m2[i] = b2*z.m2[i] + (1-b2)*g*g
		mh, vh := z.m1[i]/c1, z.m2[i]/c2
		z.p[i] += lr * mh / (float32(math.Sqrt(float64(vh))) + eps)
	}
	if s.blur > 0 && t%s.blurEvery == 0 {
		z.q.blur(z.p, s.blur, z.gain)
	}
	z.q.picture(z.pic, z.p)
	return val, nil
}

// Maximize runs gradient ascent on the input of m to find a picture that
// maximises the objective (see the description at the top of this file).
// When Progress stops it, the result so far (with Final measured on it) is
// returned together with ErrCancelled.
//
// A channel that is zero everywhere on the starting noise (a ReLU the noise
// never switches on) has no gradient and stays where it started (Start and
// Final 0); another Seed, the Fourier parametrisation or the layer before
// the ReLU may get it going.
func Maximize(m *model.Model, opt MaximizeOptions) (*MaximizeResult, error) {
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	c, h, w := shape[1], shape[2], shape[3]
	s, err := opt.settings(c)
	if err != nil {
		return nil, err
	}
	obj, err := newObjective(m, &opt)
	if err != nil {
		return nil, err
	}
	g, err := subgraph(m.Graph, obj.value)
	if err != nil {
		return nil, fmt.Errorf("inspect: maximize: %w", err)
	}
	n := c * h * w
	z := &maximizer{
		m: m, g: g, s: s, obj: obj, c: c, h: h, w: w,
		q:  newParam(c, h, w, opt.Fourier, opt.Decorrelate),
		wp: newWarp(h, w),
		x:  tensor.New(shape...),
		p:  make([]float32, n), m1: make([]float32, n), m2: make([]float32, n),
		pic: make([]float32, n), tpic: make([]float32, n), grad: make([]float32, n), gp: make([]float32, n),
	}
	if s.blur > 0 {
		z.gain = blurGain(h, w, s.blur)
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x9E3779B97F4A7C15))
	z.q.initNoise(z.p, rng.NormFloat64)
	z.q.picture(z.pic, z.p)
	res := &MaximizeResult{C: c, H: h, W: w, Objective: make([]float32, 0, s.steps)}
	if res.Start, err = z.evaluate(z.pic, true); err != nil {
		return nil, err
	}
	var stop error
	for t := 1; t <= s.steps; t++ {
		val, err := z.step(t, rng)
		if err != nil {
			return nil, err
		}
		res.Objective = append(res.Objective, val)
		res.Steps = t
		if opt.Progress != nil && !opt.Progress(MaxProgress{Step: t, Total: s.steps, Objective: val, Pixels: z.pic, C: c, H: h, W: w}) {
			stop = ErrCancelled
			break
		}
	}
	res.Pixels = append([]float32(nil), z.pic...)
	if res.Final, err = z.evaluate(z.pic, false); err != nil {
		return nil, err
	}
	return res, stop
}

// subgraph is the part of g that computes value: the nodes it depends on,
// with value as the only output, so that the layers above the objective's
// are neither run nor taped. The nodes (and their ops) are shared with g.
func subgraph(g *graph.Graph, value string) (*graph.Graph, error) {
	need := map[string]bool{value: true}
	keep := make([]bool, len(g.Nodes))
	count := 0
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if o != "" && need[o] {
				keep[i] = true
				break
			}
		}
		if !keep[i] {
			continue
		}
		count++
		for _, in := range n.Inputs {
			if in != "" {
				need[in] = true
			}
		}
	}
	if count == len(g.Nodes) && len(g.Outputs) == 1 && g.Outputs[0] == value {
		return g, nil
	}
	nodes := make([]*graph.Node, 0, count)
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	return graph.New(nodes, g.Inputs, []string{value}, maps.Clone(g.Consts), nil)
}

// warp is an affine bilinear resampling of H×W planes with clamped edges:
// output pixel o is Σ_k wt[4o+k]·src[idx[4o+k]].
type warp struct {
	h, w int
	idx  []int32
	wt   []float32
}

func newWarp(h, w int) *warp {
	return &warp{h: h, w: w, idx: make([]int32, 4*h*w), wt: make([]float32, 4*h*w)}
}

// set makes the warp show the picture turned by theta radians, scaled by s
// and then shifted by (tx, ty) pixels, about the centre c: output pixel q
// samples the picture at T⁻¹(q) for T(p) = s·R(θ)(p − c) + c + t.
func (a *warp) set(theta, s, tx, ty float64) {
	h, w := a.h, a.w
	cx, cy := float64(w-1)/2, float64(h-1)/2
	cos, sin := math.Cos(theta)/s, math.Sin(theta)/s
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx-tx, float64(y)-cy-ty
			u := cos*dx + sin*dy + cx
			v := -sin*dx + cos*dy + cy
			x0, y0 := math.Floor(u), math.Floor(v)
			fx, fy := float32(u-x0), float32(v-y0)
			xa, xb := clampIndex(int(x0), w), clampIndex(int(x0)+1, w)
			ya, yb := clampIndex(int(y0), h), clampIndex(int(y0)+1, h)
			o := 4 * (y*w + x)
			a.idx[o], a.idx[o+1] = int32(ya*w+xa), int32(ya*w+xb)
			a.idx[o+2], a.idx[o+3] = int32(yb*w+xa), int32(yb*w+xb)
			a.wt[o], a.wt[o+1] = (1-fx)*(1-fy), fx*(1-fy)
			a.wt[o+2], a.wt[o+3] = (1-fx)*fy, fx*fy
		}
	}
}

func clampIndex(i, n int) int { return min(max(i, 0), n-1) }

// apply resamples c planes of src into dst.
func (a *warp) apply(dst, src []float32, c int) {
	hw := a.h * a.w
	for ch := 0; ch < c; ch++ {
		s, d := src[ch*hw:(ch+1)*hw], dst[ch*hw:(ch+1)*hw]
		for o := range d {
			k := 4 * o
			d[o] = a.wt[k]*s[a.idx[k]] + a.wt[k+1]*s[a.idx[k+1]] + a.wt[k+2]*s[a.idx[k+2]] + a.wt[k+3]*s[a.idx[k+3]]
		}
	}
}

// adjoint writes dst = applyᵀ(src): each output pixel's value scattered
// back to its four source pixels with the same weights.
func (a *warp) adjoint(dst, src []float32, c int) {
	hw := a.h * a.w
	clear(dst[:c*hw])
	for ch := 0; ch < c; ch++ {
		s, d := src[ch*hw:(ch+1)*hw], dst[ch*hw:(ch+1)*hw]
		for o, g := range s {
			k := 4 * o
			d[a.idx[k]] += a.wt[k] * g
			d[a.idx[k+1]] += a.wt[k+1] * g
			d[a.idx[k+2]] += a.wt[k+2] * g
			d[a.idx[k+3]] += a.wt[k+3] * g
		}
	}
}

// tvEps smooths the total variation's absolute value near zero.
const tvEps = 0.01

// tvPenalty returns the smoothed total variation of a C×H×W picture,
//
//	tv = 1/(C·H·W) Σ_c Σ_{neighbouring pairs a,b} (√((a−b)² + ε²) − ε),  ε = 0.01,
//
// the pairs being horizontal and vertical neighbours (an anisotropic TV
// whose absolute value is rounded off below ε, so that it has a gradient
// everywhere), and, when grad is not nil, subtracts weight·∂tv/∂picture
// from grad.
func tvPenalty(pic []float32, c, h, w int, weight float32, grad []float32) float64 {
	hw := h * w
	norm := 1 / float64(c*hw)
	wn := weight * float32(norm)
	var sum float64
	pair := func(i, j int) {
		d := pic[i] - pic[j]
		r := float32(math.Sqrt(float64(d*d + tvEps*tvEps)))
		sum += float64(r - tvEps)
		if grad != nil {
			g := wn * d / r
			grad[i] -= g
			grad[j] += g
		}
	}
	for ch := 0; ch < c; ch++ {
		base := ch * hw
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := base + y*w + x
				if x+1 < w {
					pair(i+1, i)
				}
				if y+1 < h {
					pair(i+w, i)
				}
			}
		}
	}
	return sum * norm
}

// PixelsImage draws C×H×W values in 0..1 (C = 1 or 3; with another count
// the first three channels, or the last one repeated).
func PixelsImage(p []float32, c, h, w int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	hw := h * w
	for i := 0; i < hw; i++ {
		for k := 0; k < 3; k++ {
			ch := min(k, c-1)
			if c == 1 {
				ch = 0
			}
			v := p[ch*hw+i]
			img.Pix[4*i+k] = uint8(min(max(v*255+0.5, 0), 255))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}
