// Package cam computes class activation maps and gradient attributions the
// way pytorch-grad-cam and Captum do, number for number: CAM, Grad-CAM and
// its family, ScoreCAM, AblationCAM, FullGrad, guided backprop, saliency,
// SmoothGrad, Integrated Gradients and Captum's other input attributions
// (occlusion, feature ablation, Input × Gradient, deconvolution, DeepLIFT,
// LRP, GradientSHAP, NoiseTunnel's SmoothGrad² and VarGrad).
//
// A method is one small file: layer methods give a raw map per image at the
// layer's resolution (and their per-channel weights); the shared pipeline
// here applies targets, several layers, aug_smooth and eigen_smooth, and the
// reference's post-processing. Whole-input methods (FullGrad, guided
// backprop, saliency, …) produce the final map themselves.
package cam

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Request says what to explain and how. Zero values select defaults.
type Request struct {
	Method string   // a name from Methods()
	Layers []string // value or node names; default: the model's suggested layer
	// Layout is how the layers' values are laid out: LayoutAuto (""),
	// LayoutNCHW, LayoutNHWC or LayoutTokens (layout.go).
	Layout string
	// Targets: one per image, or one for every image; none means each
	// image's top-1 class logit.
	Targets     []Target
	AugSmooth   bool // average over horizontal flip × brightness 0.9/1/1.1
	EigenSmooth bool // first principal component of the weighted maps

	// BatchSize is the number of images per forward pass for the methods
	// that run many (ScoreCAM 16, AblationCAM 32, SmoothGrad, Integrated
	// Gradients and ROAD up to 8, capped by memory).
	BatchSize int
	// Progress, when set, is told how much of a long computation is done;
	// returning false cancels it (Compute then returns ErrCancelled).
	Progress func(done, total int) bool

	// Input-gradient methods.
	NoiseLevel float64   // SmoothGrad: noise σ as a fraction of the input's range (0: default 0.15; negative: no noise)
	Samples    int       // SmoothGrad: noisy samples (default 25)
	Steps      int       // Integrated Gradients: path steps (default 50)
	Baseline   *tensor.T // Integrated Gradients, DeepLift, GradientSHAP: baseline input (default zeros)
	Seed       int64     // SmoothGrad, NoiseTunnel and GradientSHAP noise seed; RandomCAM's weights

	// Layer-method options.
	FEMK         float64  // FEM: threshold mean + k·std (0: default 2)
	FinerCompare []int    // FinerCAM: comparison classes (default: the 2nd–4th closest logits)
	FinerAlpha   *float64 // FinerCAM: α (nil: default 1)
	Base         string   // RefineCAM's per-layer method (default gradcampp); FinerCAM's (default gradcam)

	// Captum's perturbation methods.
	Window     int // occlusion: side of the square window (default: an eighth of the smaller side)
	Stride     int // occlusion: step between windows (default: half the window)
	Superpixel int // featureablation: side of the square features (default: an eighth of the smaller side)

	// Part and Pieces divide a method whose work is independent pieces
	// (SmoothGrad: one per noisy sample of each image; ScoreCAM: one per
	// masked input, image by image) among several engines. With Part set,
	// Compute computes only pieces [Lo, Hi) and returns their data in
	// Result.Pieces, without maps. With Pieces set (the data of every piece,
	// in order, as Part requests returned them), it computes no piece and
	// finishes the explanation from them: the same numbers as one Compute
	// without either. Divisible tells which methods can.
	Part   *Part
	Pieces []float32

	// FastTier runs the methods filed under ops.TierFast (MethodTier: the
	// layer-CAM family) on the input's forward pass at that tier, with
	// F(4×4, 3×3) convolutions, within the oracle's tolerances but not with
	// the reference tier's bits. Without it every method but the exact
	// tier's runs at ops.TierReference.
	FastTier bool
}

// Part is the range [Lo, Hi) of a divisible method's pieces.
type Part struct{ Lo, Hi int }

// divisible lists the methods that take Request.Part and Request.Pieces.
var divisible = map[string]bool{}

// Divisible reports whether a method can be divided among engines
// (Request.Part, Request.Pieces).
func Divisible(method string) bool { return divisible[method] }

// partDone carries a Part request's pieces out of a method. spent is the
// time the pieces took when the method first does work that every engine
// must do whatever its part (Ablation-CAM's im2col forward pass); zero
// means the whole request.
type partDone struct {
	pieces []float32
	total  int
	spent  time.Duration
}

func (*partDone) Error() string { return "cam: part computed" }

// partRange checks a request's Part against the method's total pieces and
// returns the range to compute, and whether the pieces are given instead
// (then their data, checked to hold per floats per piece).
func partRange(req *Request, total, per int) (lo, hi int, given []float32, err error) {
	if req.Pieces != nil {
		if len(req.Pieces) != total*per {
			return 0, 0, nil, kind.Errorf(ErrBadRequest, "cam: %s: %d values given for %d pieces of %d", req.Method, len(req.Pieces), total, per)
		}
		return 0, total, req.Pieces, nil
	}
	if req.Part == nil {
		return 0, total, nil, nil
	}
	lo, hi = req.Part.Lo, req.Part.Hi
	if lo < 0 || hi > total || lo >= hi {
		return 0, 0, nil, kind.Errorf(ErrBadRequest, "cam: %s: part [%d, %d) is not within its %d pieces", req.Method, lo, hi, total)
	}
	return lo, hi, nil, nil
}

// ErrCancelled is returned when Progress asked to stop.
var ErrCancelled = fmt.Errorf("cam: cancelled")

// ErrBadRequest marks the errors of a request that is not valid (an
// unknown method, a class out of range, …); errors.Is finds it, the text
// is the message.
var ErrBadRequest = errors.New("cam: bad request")

// LayerResult is what a layer method produced for one target layer.
type LayerResult struct {
	Layer   string    // value name
	Layout  string    // the layer's layout as used: nchw, nhwc or tokens
	Raw     []float32 // N×h×w, before ReLU, at the layer's resolution (N×C×H×W input attributions for saliency, smoothgrad, integrated-gradients)
	H, W    int
	Weights []float32 // N×C per-channel weights, for methods that have them
	C       int
}

// Result is a computed explanation for a batch.
type Result struct {
	Method string
	// Maps holds the final maps, N×H×W with values in 0..1 (N×H×W×3, HWC,
	// not normalised, for guided backprop and Guided Grad-CAM: Channels 3).
	Maps          []float32
	Height, Width int
	Channels      int
	Layers        []LayerResult
	Targets       []Target  // resolved, one per image
	Scores        []float32 // each image's target score
	Forward       time.Duration
	Backward      time.Duration
	Total         time.Duration
	// Reused is the part of Forward and Total that is the session's
	// forward pass, made before the request (zero when the request made
	// the pass of its tier itself).
	Reused time.Duration

	// Delta is each image's convergence delta, for the attributions that
	// have one (deeplift, lrp, integrated-gradients, gradientshap).
	Delta []float32
	// A Part request's result: its pieces' data (Maps is empty), the
	// method's number of pieces for the whole request, and the time the
	// pieces took (Total but for the work any part needs first).
	Pieces     []float32
	PieceCount int
	PieceTime  time.Duration
}

// Map returns image b's final map.
func (r *Result) Map(b int) []float32 {
	n := r.Height * r.Width * r.Channels
	return r.Maps[b*n : (b+1)*n]
}

// LayerContext is what a layer method sees: one layer's activations for the
// batch, and their gradients when the method declared it needs them.
type LayerContext struct {
	S       *Session
	Req     *Request
	Targets []Target
	Layer   string    // value name
	Act     *tensor.T // N×C×h×w
	Grad    *tensor.T // N×C×h×w, nil unless the method needs gradients
	N, C    int
	H, W    int

	// Value is the layer's value as computed (Act is it mapped by the
	// request's layout), and lmap that mapping.
	Value *tensor.T
	lmap  *layerMap
}

// Combine is Σ_c weights[b,c]·A[b,c] per image (N×h×w), or with
// eigen_smooth the 2-D projection of the weighted stack.
func (c *LayerContext) Combine(weights []float32) []float32 {
	hw := c.H * c.W
	a := c.Act.F32()
	if c.Req.EigenSmooth {
		stack := make([]float32, len(a))
		for b := 0; b < c.N; b++ {
			for ch := 0; ch < c.C; ch++ {
				w := weights[b*c.C+ch]
				off := (b*c.C + ch) * hw
				for i := 0; i < hw; i++ {
					stack[off+i] = w * a[off+i]
				}
			}
		}
		return c.Reduce(stack)
	}
	out := make([]float32, c.N*hw)
	for b := 0; b < c.N; b++ {
		dst := out[b*hw : (b+1)*hw]
		for ch := 0; ch < c.C; ch++ {
			w := weights[b*c.C+ch]
			src := a[(b*c.C+ch)*hw:][:hw]
			for i, v := range src {
				dst[i] += w * v
			}
		}
	}
	return out
}

// Reduce sums an N×C×h×w stack over channels, or with eigen_smooth
// projects it onto its first principal component.
func (c *LayerContext) Reduce(stack []float32) []float32 {
	hw := c.H * c.W
	out := make([]float32, c.N*hw)
	for b := 0; b < c.N; b++ {
		img := stack[b*c.C*hw : (b+1)*c.C*hw]
		if c.Req.EigenSmooth {
			copy(out[b*hw:], Project2D(img, c.C, c.H, c.W))
			continue
		}
		dst := out[b*hw : (b+1)*hw]
		for ch := 0; ch < c.C; ch++ {
			for i, v := range img[ch*hw : (ch+1)*hw] {
				dst[i] += v
			}
		}
	}
	return out
}

// layerFunc computes a raw map (N×h×w) and optional weights (N×C).
type layerFunc func(c *LayerContext) (raw, weights []float32, err error)

// wholeFunc computes a whole result (final maps and any raw data).
type wholeFunc func(s *Session, req *Request, targets []Target) (*Result, error)

type method struct {
	name      string
	needsGrad bool
	layer     layerFunc
	whole     wholeFunc
}

var methods = map[string]method{}

func registerLayer(name string, needsGrad bool, f layerFunc) {
	methods[name] = method{name: name, needsGrad: needsGrad, layer: f}
}

func registerWhole(name string, f wholeFunc) {
	methods[name] = method{name: name, whole: f}
}

// Methods lists the method names, sorted.
func Methods() []string {
	out := make([]string, 0, len(methods))
	for n := range methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Compute explains the session's batch with one method.
func Compute(s *Session, req Request) (*Result, error) {
	start := time.Now()
	m, ok := methods[req.Method]
	if !ok {
		return nil, kind.Errorf(ErrBadRequest, "cam: unknown method %q; the methods are %s", req.Method, strings.Join(Methods(), ", "))
	}
	// The method's precision tier: its session is the input's forward pass
	// at that tier (made now when this is the input's first method to need
	// it), and it runs under that tier. The methods of the exact tier take
	// the session's Exact pass themselves, for the parts that need it.
	tier := RequestTier(&req)
	fresh := false // the session's forward pass ran within this request
	if tier != ops.TierExact {
		had := s.tiers[tier] != nil
		ts, err := s.AtTier(tier)
		if err != nil {
			return nil, err
		}
		fresh = !had && ts != s
		ts.BackwardReplace = s.BackwardReplace
		s = ts
	}
	targets, err := s.ResolveTargets(req.Targets)
	if err != nil {
		return nil, err
	}
	if req.Part != nil || req.Pieces != nil {
		if !divisible[req.Method] {
			return nil, kind.Errorf(ErrBadRequest, "cam: %s cannot be divided into parts", req.Method)
		}
		if req.Part != nil && req.Pieces != nil {
			return nil, kind.Errorf(ErrBadRequest, "cam: a request takes a part or the pieces, not both")
		}
		if req.AugSmooth || len(req.Layers) > 1 {
			return nil, kind.Errorf(ErrBadRequest, "cam: %s in parts takes one layer and no aug_smooth", req.Method)
		}
	}
	var res *Result
	run := func() error {
		var err error
		if req.AugSmooth {
			res, err = augSmooth(s, &req, m, targets)
		} else {
			res, err = compute(s, &req, m, targets)
		}
		return err
	}
	if tier == ops.TierExact {
		err = run()
	} else {
		err = ops.WithTier(tier, run)
	}
	var part *partDone
	if errors.As(err, &part) {
		r := &Result{Method: req.Method, Pieces: part.pieces, PieceCount: part.total, Targets: targets,
			Total: time.Since(start), PieceTime: part.spent}
		if r.PieceTime == 0 {
			r.PieceTime = r.Total
		}
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	res.Method = req.Method
	res.Targets = targets
	res.Scores = make([]float32, s.Batch())
	for b, t := range targets {
		res.Scores[b] = t.Score(s.Logits(b))
	}
	res.Forward += s.ForwardTime
	res.Total = time.Since(start)
	if !fresh {
		res.Total += s.ForwardTime
		res.Reused = s.ForwardTime
	}
	return res, nil
}

// methodTiers is the precision tier (ops.Tier) each method's forward passes
// run at; a method not listed runs at ops.TierReference. A method files
// itself under ops.TierFast when every oracle check of it passes with
// F(4×4, 3×3) forward convolutions (the layer-CAM family: the gradient
// from the target layer to the output does not hinge on a ReLU input
// within rounding of zero), under ops.TierExact when it takes the
// session's im2col pass (Session.Exact) for differences of nearly equal
// scores.
var methodTiers = map[string]ops.Tier{}

// runsFast files a method under ops.TierFast; runsExact under ops.TierExact.
func runsFast(name string)  { methodTiers[name] = ops.TierFast }
func runsExact(name string) { methodTiers[name] = ops.TierExact }

// MethodTier is the precision tier a method is filed under (an unknown
// method: ops.TierReference); RequestTier says which one a request runs at.
func MethodTier(method string) ops.Tier { return methodTiers[method] }

// RequestTier is the precision tier a request runs at: its method's, but
// ops.TierReference for a method of ops.TierFast without Request.FastTier
// or with a base method (Request.Base) that is not of that tier. A caller
// that knows the first request it will compute for an input makes the
// input's session at this tier (NewSessionTier), so that its forward pass
// is not run twice.
func RequestTier(req *Request) ops.Tier {
	t := methodTiers[req.Method]
	if t == ops.TierFast && (!req.FastTier || req.Base != "" && methodTiers[req.Base] != ops.TierFast) {
		return ops.TierReference
	}
	return t
}

func compute(s *Session, req *Request, m method, targets []Target) (*Result, error) {
	if m.whole != nil {
		return m.whole(s, req, targets)
	}
	layers := req.Layers
	if len(layers) == 0 {
		l, err := s.Model.SuggestedLayer()
		if err != nil {
			return nil, fmt.Errorf("cam: %w", err)
		}
		layers = []string{l}
	}
	res := &Result{Channels: 1}
	in := s.Input.Shape()
	res.Height, res.Width = in[2], in[3]
	n := s.Batch()
	var ctxs []*LayerContext
	var values []string
	for _, l := range layers {
		act, v, err := s.Activation(l)
		if err != nil {
			return nil, err
		}
		sh := act.Shape()
		if act.DType() != tensor.Float32 {
			return nil, kind.Errorf(model.ErrBadLayer, "cam: layer %q holds %s values, not float32 features", l, act.DType())
		}
		lm, err := newLayerMap(req.Layout, l, sh, n, res.Height, res.Width)
		if err != nil {
			return nil, err
		}
		ctxs = append(ctxs, &LayerContext{S: s, Req: req, Targets: targets, Layer: v, Act: lm.toCHW(act),
			N: n, C: lm.c, H: lm.h, W: lm.w, Value: act, lmap: lm})
		values = append(values, v)
	}
	if m.needsGrad {
		grads, dt, err := s.Gradients(targets, values)
		if err != nil {
			return nil, err
		}
		res.Backward = dt
		for _, c := range ctxs {
			c.Grad = c.lmap.toCHW(grads[c.Layer])
		}
	}
	perLayer := make([][]float32, len(ctxs))
	for i, c := range ctxs {
		raw, weights, err := m.layer(c)
		if err != nil {
			return nil, err
		}
		res.Layers = append(res.Layers, LayerResult{Layer: c.Layer, Layout: c.lmap.layout, Raw: raw, H: c.H, W: c.W, Weights: weights, C: c.C})
		hw, HW := c.H*c.W, res.Height*res.Width
		maps := make([]float32, n*HW)
		for b := 0; b < n; b++ {
			finishInto(maps[b*HW:(b+1)*HW], raw[b*hw:(b+1)*hw], c.H, c.W, res.Height, res.Width)
		}
		perLayer[i] = maps
	}
	res.Maps = aggregate(perLayer, n, res.Height*res.Width)
	return res, nil
}

// aggregate is pytorch-grad-cam's aggregate_multi_layers: the mean over
// layers of the (non-negative) maps, min-max scaled per image. With one
// layer it scales that layer's maps in place and returns them.
func aggregate(perLayer [][]float32, n, hw int) []float32 {
	var out []float32
	if len(perLayer) == 1 { // x/1 is x
		out = perLayer[0][:n*hw]
	} else {
		out = make([]float32, n*hw)
		for _, maps := range perLayer {
			for i, v := range maps {
				if v > 0 {
					out[i] += v
				}
			}
		}
		for i := range out {
			out[i] /= float32(len(perLayer))
		}
	}
	for b := 0; b < n; b++ {
		positiveMinMax(out[b*hw : (b+1)*hw])
	}
	return out
}

// augSmooth averages the method's final maps over six versions of the
// input (horizontal flip × multiplied by 0.9, 1, 1.1), flipping the maps
// back, as pytorch-grad-cam's aug_smooth does. The raw layer maps returned
// are the unaugmented ones.
func augSmooth(s *Session, req *Request, m method, targets []Target) (*Result, error) {
	var sum *Result
	count := 0
	for _, flip := range []bool{false, true} {
		for _, factor := range []float32{0.9, 1, 1.1} {
			x := s.Input.Clone()
			sh := x.Shape()
			if flip {
				flipW(x.F32(), sh[0]*sh[1], sh[2], sh[3], 1)
			}
			for i := range x.F32() {
				x.F32()[i] *= factor
			}
			as, err := NewSession(s.Model, x)
			if err != nil {
				return nil, err
			}
			as.BackwardReplace = s.BackwardReplace
			r, err := compute(as, req, m, targets)
			if err != nil {
				return nil, err
			}
			r.Forward += as.ForwardTime
			if flip {
				flipW(r.Maps, s.Batch(), r.Height, r.Width, r.Channels)
			}
			if sum == nil {
				sum = r
				sum.Maps = append([]float32(nil), r.Maps...)
			} else {
				for i, v := range r.Maps {
					sum.Maps[i] += v
				}
				sum.Forward += r.Forward
				sum.Backward += r.Backward
			}
			if !flip && factor == 1 {
				sum.Layers = r.Layers
			}
			count++
		}
	}
	for i := range sum.Maps {
		sum.Maps[i] /= float32(count)
	}
	return sum, nil
}

// flipW mirrors n images of h×w×ch (HWC when ch > 1, planes when ch == 1)
// left to right in place.
func flipW(a []float32, n, h, w, ch int) {
	for img := 0; img < n; img++ {
		for y := 0; y < h; y++ {
			row := a[(img*h+y)*w*ch:][:w*ch]
			for x := 0; x < w/2; x++ {
				for k := 0; k < ch; k++ {
					i, j := x*ch+k, (w-1-x)*ch+k
					row[i], row[j] = row[j], row[i]
				}
			}
		}
	}
}
