package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// camFlags are the flags of cam and metrics.
type camFlags struct {
	modelFlags
	layer, method    string
	class, contrast  int
	augSmooth, eigen bool
	target           string
	femK, finerAlpha float64
	finerCompare     string
	base             string
	seed             int64
	layout           string
	segClass         int
	segMask          string
	fast             bool
}

func (f *camFlags) register(fs *flag.FlagSet) {
	f.modelFlags.register(fs, true)
	fs.StringVar(&f.layer, "layer", "", "target layer(s): ONNX value or node names, comma separated (default: the model's last convolutional block)")
	fs.StringVar(&f.method, "method", "gradcam", "method: "+strings.Join(cam.Methods(), ", ")+", or all")
	fs.IntVar(&f.class, "class", -1, "class to explain (default: the top-1 class)")
	fs.IntVar(&f.contrast, "contrast", -1, "explain -class rather than this class (logit difference)")
	fs.BoolVar(&f.augSmooth, "aug-smooth", false, "average over flips and brightness changes (aug_smooth)")
	fs.BoolVar(&f.eigen, "eigen-smooth", false, "first principal component of the weighted maps (eigen_smooth)")
	fs.StringVar(&f.target, "target", "logit", "what gradient methods explain: logit, softmax (the class probability) or rest (logit − cross-entropy)")
	fs.Float64Var(&f.femK, "fem-k", 2, "fem: a position stands out above mean + k·std of its channel")
	fs.StringVar(&f.finerCompare, "finer-compare", "", "finercam: comparison classes, comma separated (default: the 2nd–4th closest logits)")
	fs.Float64Var(&f.finerAlpha, "finer-alpha", 1, "finercam: weight α of the comparison classes' logits")
	fs.StringVar(&f.base, "base", "", "refinecam's per-layer method (default gradcampp); finercam's (default gradcam)")
	fs.Int64Var(&f.seed, "seed", 0, "random seed (randomcam's weights; the noise of smoothgrad, smoothgrad-sq, vargrad and gradientshap)")
	fs.StringVar(&f.layout, "layout", "", "how the layer's value is laid out: "+strings.Join(cam.Layouts(), ", ")+" (default: the model card's layer_layout, else auto: nchw for N×C×H×W values, tokens for a transformer's N×T×C)")
	fs.BoolVar(&f.fast, "fast", false, "run the layer-CAM family (gradcam, gradcampp, xgradcam, hirescam, layercam, eigencam, …) on a forward pass with F(4×4, 3×3) Winograd convolutions, as the page does: faster, within the oracle's tolerances, not the default's bits; the other methods are unaffected")
	fs.IntVar(&f.segClass, "seg-class", -1, "segmentation model: the class to explain, its scores summed over the mask (default: the class predicted at most pixels)")
	fs.StringVar(&f.segMask, "seg-mask", "", "segmentation model: a PNG whose non-zero pixels are the mask, resized (nearest) to the output's size (default: the pixels predicted as -seg-class)")
}

// request builds the engine request from the flags, for the session s of
// model l.
func (f *camFlags) request(method string, l *loaded, s *cam.Session) (cam.Request, error) {
	alpha := f.finerAlpha
	req := cam.Request{Method: method, AugSmooth: f.augSmooth, EigenSmooth: f.eigen,
		FEMK: f.femK, FinerAlpha: &alpha, Base: f.base, Seed: f.seed, Layout: f.layout, FastTier: f.fast}
	if req.Layout == "" {
		req.Layout = l.card.LayerLayout
	}
	if f.layer != "" {
		req.Layers = strings.Split(f.layer, ",")
	}
	if !(f.femK > 0) {
		return req, fmt.Errorf("%w: -fem-k must be positive, got %v", errUsage, f.femK)
	}
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return req, fmt.Errorf("%w: -finer-alpha must be a number, got %v", errUsage, alpha)
	}
	if f.finerCompare != "" {
		for _, p := range strings.Split(f.finerCompare, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || k < 0 {
				return req, fmt.Errorf("%w: -finer-compare: %q is not a class index", errUsage, p)
			}
			req.FinerCompare = append(req.FinerCompare, k)
		}
	}
	kind, err := cam.ParseTargetKind(f.target)
	if err != nil {
		return req, fmt.Errorf("%w: -target: %q is not logit, softmax or rest", errUsage, f.target)
	}
	t := cam.Target{Class: f.class, Kind: kind}
	if f.contrast >= 0 {
		if f.class < 0 {
			return req, fmt.Errorf("%w: -contrast needs -class", errUsage)
		}
		if kind != cam.Logit {
			return req, fmt.Errorf("%w: -contrast explains a logit difference; it does not combine with -target %s", errUsage, f.target)
		}
		t.Kind, t.Other = cam.Contrast, f.contrast
	}
	if f.segClass >= 0 || f.segMask != "" {
		if f.class >= 0 || f.contrast >= 0 || kind != cam.Logit {
			return req, fmt.Errorf("%w: -seg-class and -seg-mask do not go with -class, -contrast or -target %s", errUsage, f.target)
		}
		_, h, w, ok := s.Segmentation()
		if !ok {
			return req, fmt.Errorf("%w: -seg-class and -seg-mask are for segmentation models (output N×K×H×W); this model's output is %s", errUsage, tensor.ShapeString(s.Output().Shape()))
		}
		t = cam.Target{Kind: cam.Segment, Class: f.segClass}
		if f.segMask != "" {
			data, err := os.ReadFile(f.segMask)
			if err != nil {
				return req, err
			}
			img, err := imgproc.Decode(data)
			if err != nil {
				return req, fmt.Errorf("-seg-mask %s: %w", f.segMask, err)
			}
			t.Mask = cam.MaskFromImage(img, h, w)
		}
	}
	req.Targets = []cam.Target{t}
	return req, nil
}

func runCAM(args []string, stdout io.Writer) error {
	var f camFlags
	fs := newFlags("cam")
	f.register(fs)
	var af attrFlags
	af.register(fs)
	out := fs.String("out", "", "write the heatmap over the image as PNG")
	outCAM := fs.String("out-cam", "", "write the final maps, N×H×W (N×H×W×3 HWC for guidedbackprop and guided-gradcam): a .npy file with that shape, else raw little-endian float32")
	outRaw := fs.String("out-raw", "", "write the raw map at the layer's resolution (before ReLU): a .npy file of shape N×h×w (N×C×H×W for saliency, smoothgrad, integrated-gradients; L×… for L layers of one shape), else raw little-endian float32 (layer after layer)")
	outDir := fs.String("out-dir", "", "with -method all: folder for one METHOD.png and METHOD.f32 per method")
	colormap := fs.String("colormap", "jet", "colormap: jet, turbo, viridis, inferno, gray")
	alpha := fs.Float64("alpha", 0.5, "heatmap opacity over the image, 0..1")
	asJSON := fs.Bool("json", false, "print class_index, label, score and ms as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *alpha < 0 || *alpha > 1 {
		return fmt.Errorf("%w: -alpha must be between 0 and 1", errUsage)
	}
	cm, err := viz.ColormapByName(*colormap)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	methods := []string{f.method}
	if f.method == "all" {
		if *outDir == "" {
			return fmt.Errorf("%w: -method all needs -out-dir", errUsage)
		}
		methods = cam.Methods()
		if af.outAttr != "" {
			return fmt.Errorf("%w: -out-attr writes one method's attribution, not -method all's", errUsage)
		}
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	x, err := f.input(l)
	if err != nil {
		return err
	}
	start := time.Now()
	// The forward pass at the precision tier of the (first) method.
	first := cam.Request{Method: strings.Split(f.method, ",")[0], FastTier: f.fast, Base: f.base}
	s, err := cam.NewSessionTier(l.m, x, cam.RequestTier(&first))
	if err != nil {
		return err
	}
	type methodOut struct {
		MS         float64 `json:"ms"`
		ForwardMS  float64 `json:"forward_ms"`
		BackwardMS float64 `json:"backward_ms"`
		File       string  `json:"file,omitempty"`
	}
	summary := struct {
		ClassIndex int                  `json:"class_index"`
		Label      string               `json:"label,omitempty"`
		Score      float32              `json:"score"`
		MS         float64              `json:"ms"`
		Method     string               `json:"method,omitempty"`
		Layout     string               `json:"layout,omitempty"` // the first layer's, as used
		Methods    map[string]methodOut `json:"methods,omitempty"`
		Delta      []float32            `json:"delta,omitempty"` // convergence deltas (deeplift, lrp, integrated-gradients, gradientshap)
	}{}
	if f.method == "all" {
		summary.Methods = map[string]methodOut{}
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
	}
	for _, method := range methods {
		req, err := f.request(method, l, s)
		if err != nil {
			return err
		}
		if err := af.apply(&req); err != nil {
			return err
		}
		r, err := cam.Compute(s, req)
		if err != nil {
			return err
		}
		if f.method != "all" {
			if err := af.writeAttr(r, l.m.Input, x.Shape()); err != nil {
				return err
			}
			summary.Delta = r.Delta
		}
		summary.ClassIndex, summary.Score = r.Targets[0].Class, r.Scores[0]
		if len(r.Layers) > 0 && r.Layers[0].Layout != "" {
			summary.Layout = r.Layers[0].Layout
		}
		if summary.ClassIndex < len(l.card.Labels) {
			summary.Label = l.card.Labels[summary.ClassIndex]
		}
		camPath, pngPath, rawPath := *outCAM, *out, *outRaw
		if f.method == "all" {
			camPath = filepath.Join(*outDir, method+".f32")
			pngPath = filepath.Join(*outDir, method+".png")
			rawPath = ""
		}
		if camPath != "" {
			if err := writeTensor(camPath, r.Maps, mapsShape(r)...); err != nil {
				return err
			}
		}
		if rawPath != "" {
			var raw []float32
			for _, lr := range r.Layers {
				raw = append(raw, lr.Raw...)
			}
			if raw == nil {
				return fmt.Errorf("method %s has no layer map to write with -out-raw", method)
			}
			shape, err := rawShape(r, l.m.Input)
			if err != nil && isNpy(rawPath) {
				return fmt.Errorf("%s: %w", rawPath, err)
			}
			if err := writeTensor(rawPath, raw, shape...); err != nil {
				return err
			}
		}
		if pngPath != "" {
			img, err := f.overlay(l, x, r, cm, float32(*alpha))
			if err != nil {
				return err
			}
			if err := writePNG(pngPath, img); err != nil {
				return err
			}
		}
		mo := methodOut{MS: ms(r.Total), ForwardMS: ms(r.Forward), BackwardMS: ms(r.Backward), File: pngPath}
		if summary.Methods != nil {
			summary.Methods[method] = mo
		} else {
			summary.Method = method
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "%s: class %d %s score %.4f  %.1f ms (forward %.1f, backward %.1f)\n",
				method, summary.ClassIndex, summary.Label, summary.Score, mo.MS, mo.ForwardMS, mo.BackwardMS)
		}
	}
	summary.MS = ms(time.Since(start))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(summary)
	}
	return nil
}

// mapsShape is the shape of a result's final maps: N×H×W, or N×H×W×C for
// guided backprop's C-channel maps.
func mapsShape(r *cam.Result) []int {
	per := r.Height * r.Width * max(r.Channels, 1)
	shape := []int{len(r.Maps) / max(per, 1), r.Height, r.Width}
	if r.Channels > 1 {
		shape = append(shape, r.Channels)
	}
	return shape
}

// rawShape is the shape of a result's raw maps as -out-raw writes them
// (layer after layer): N×h×w per layer, N×C×H×W for the input
// attributions (saliency and its kind), and L×… for L layers of one shape.
func rawShape(r *cam.Result, input string) ([]int, error) {
	var shape []int
	for k, lr := range r.Layers {
		n := len(r.Targets)
		s := []int{n, lr.H, lr.W}
		if lr.Layer == input && lr.C > 1 && len(lr.Raw) == n*lr.C*lr.H*lr.W {
			s = []int{n, lr.C, lr.H, lr.W}
		}
		if tensor.Size(s) != len(lr.Raw) {
			return nil, fmt.Errorf("layer %s: %d raw values, not %s", lr.Layer, len(lr.Raw), tensor.ShapeString(s))
		}
		if k > 0 && !tensor.SameShape(s, shape) {
			return nil, fmt.Errorf("the layers' raw maps differ in shape (%s, %s): write one layer per file, or raw float32", tensor.ShapeString(shape), tensor.ShapeString(s))
		}
		shape = s
	}
	if len(r.Layers) > 1 {
		shape = append([]int{len(r.Layers)}, shape...)
	}
	return shape, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// overlay draws the first image's map over the image (the input file, or
// the input tensor un-normalised). RGB maps (guided backprop) are drawn as
// pytorch-grad-cam's deprocess_image does.
func (f *camFlags) overlay(l *loaded, x *tensor.T, r *cam.Result, cm viz.Colormap, alpha float32) (image.Image, error) {
	if r.Channels == 3 {
		return viz.DeprocessImage(r.Map(0), r.Width, r.Height), nil
	}
	base, err := f.baseImage(l, x)
	if err != nil {
		return nil, err
	}
	return viz.ShowCAMOnImage(base, r.Map(0), r.Width, r.Height, cm, 1-alpha)
}

// baseImage is the picture maps are drawn over: the first input image
// file, or the first input tensor un-normalised.
func (f *modelFlags) baseImage(l *loaded, x *tensor.T) (image.Image, error) {
	if f.image != "" {
		data, err := os.ReadFile(strings.Split(f.image, ",")[0])
		if err != nil {
			return nil, err
		}
		return imgproc.Decode(data)
	}
	sh := x.Shape()
	mean, std, err := f.norm(l, sh[1])
	if err != nil {
		return nil, err
	}
	return viz.ToRGBAFromPlanes(x.F32()[:sh[1]*sh[2]*sh[3]], sh[1], sh[2], sh[3], mean, std), nil
}

func writePNG(path string, img image.Image) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := viz.EncodePNG(fh, img); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
