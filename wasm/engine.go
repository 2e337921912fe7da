// Command wasm is cnnlens's WebAssembly entry point (GOOS=js GOARCH=wasm).
// It runs inside a Web Worker (web/worker.js) and answers the page's
// requests: load a model, take an input, compute a map, render it.
//
// This file is the part that does not touch JavaScript: the engine state
// (models, inputs with their forward pass, the last result) and each
// request's work, in plain Go types, so that it builds and is tested
// natively too. js.go turns JavaScript messages into these calls and the
// results back into messages; draw.go puts pictures into canvases.
package main

import (
	"image"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// LayerInfo describes one layer for the layer picker.
type LayerInfo struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Output string `json:"output"`
	Shape  []int  `json:"shape"`
	// Layout is the layout the auto rule gives the layer (nchw for a 4-D
	// value, tokens for a transformer's N×T×C), "" when a CAM cannot use
	// it that way.
	Layout string `json:"layout"`
}

// ModelInfo is what the page learns about a loaded model.
type ModelInfo struct {
	ID             int         `json:"id"`
	Input          string      `json:"input"`
	DeclaredShape  []int       `json:"declaredShape"` // -1 for dynamic dims
	InputShape     []int       `json:"inputShape"`    // 1×C×H×W as used
	Mean           []float32   `json:"mean"`
	Std            []float32   `json:"std"`
	Labels         []string    `json:"labels"`
	Classes        int         `json:"classes"`
	Layers         []LayerInfo `json:"layers"`
	SuggestedLayer string      `json:"suggestedLayer"`
	DefaultLayer   string      `json:"defaultLayer"`
	// LayerLayout is the card's layer_layout ("" when it names none: auto).
	LayerLayout string `json:"layerLayout"`
	// Segmentation is true for a model whose output is 1×K×H×W: Classes
	// is then K.
	Segmentation bool    `json:"segmentation"`
	MACs         int64   `json:"macs"`
	Opset        int     `json:"opset"`
	Producer     string  `json:"producer"`
	LoadMS       float64 `json:"loadMs"`
	// The convolutions with stored weights and the pooling layers, for the
	// "Inside the network" views (inspect.go).
	ConvLayers    []ConvInfo `json:"convLayers"`
	PoolingLayers []PoolInfo `json:"poolingLayers"`
}

// Prediction is one of the top classes.
type Prediction struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float64 `json:"prob"`
	Logit float32 `json:"logit"`
}

// InputInfo is what the page learns when it sets an input.
type InputInfo struct {
	ID        int          `json:"id"`
	Logits    []float32    `json:"logits"`
	Top5      []Prediction `json:"top5"`
	ForwardMS float64      `json:"forwardMs"`
	Width     int          `json:"width"` // the picture overlays are drawn on
	Height    int          `json:"height"`
	// Segmentation, for a segmentation model: the predicted class of each
	// output pixel and the classes present (Top5 then lists those, with
	// the fraction of the pixels as Prob).
	Segmentation *SegInfo `json:"segmentation"`
}

// SegInfo is a segmentation model's prediction for an input.
type SegInfo struct {
	Width   int        `json:"width"` // the output's size
	Height  int        `json:"height"`
	Argmax  []int32    `json:"-"` // H×W class indices (js.go sends an Int32Array)
	Classes []SegClass `json:"classes"`
}

// SegClass is a class predicted at some pixels.
type SegClass struct {
	Index  int    `json:"index"`
	Label  string `json:"label"`
	Pixels int    `json:"pixels"`
}

// CAMRequest asks for one map of one input.
type CAMRequest struct {
	Input       int
	Method      string
	Layer       string // "" for the model's default layer; several separated by commas (refinecam)
	Kind        string // "logit" (default), "probability" or "softmax", "rest", "contrast"
	Class       int    // < 0: the top-1 class (a segmentation model: the class at most pixels)
	Other       int    // contrast: the class to explain against
	Layout      string // the layer's layout ("": the card's layer_layout, else auto)
	AugSmooth   bool
	EigenSmooth bool
	Progress    func(done, total int) bool

	// Method options (cam.Request): FEM's k, FinerCAM's comparison classes
	// and α, RefineCAM's and FinerCAM's base method, RandomCAM's seed.
	FEMK         float64
	FinerCompare []int
	FinerAlpha   *float64
	Base         string
	Seed         int64 // also the input attributions' noise seed
	// Attr holds the input attributions' parameters (zero: defaults).
	Attr AttrParams

	// A segmentation model's target: the class (Class) over Mask, H×W of
	// the output (MaskW×MaskH, resized nearest to the output when the
	// sizes differ; non-zero values count); nil: the class's pixels.
	Mask         []float32
	MaskW, MaskH int
	// Part and Pieces divide a divisible method among engines (cam.Request).
	Part   *cam.Part
	Pieces []float32
}

// AttrParams are the parameters of the input attributions (cam.Request's
// Steps, Samples, NoiseLevel, Window, Stride and Superpixel).
type AttrParams struct {
	Steps, Samples, Window, Stride, Superpixel int
	Noise                                      float64
}

// CAMResult is one computed map.
type CAMResult struct {
	Map        []float32 // H×W in 0..1, or H×W×3 (HWC) for guided methods
	Width      int
	Height     int
	Channels   int
	ClassIndex int
	Score      float32
	Layer      string // value name, "" for whole-input methods
	Layout     string // the layer's layout as used (nchw, nhwc, tokens)
	Raw        []float32
	RawW, RawH int
	// MS, ForwardMS and BackwardMS are the time this request took: the
	// input's own forward pass, run once when the input was set and reused
	// by every map, is not in them but in ReusedForwardMS.
	MS              float64
	ForwardMS       float64
	BackwardMS      float64
	ReusedForwardMS float64
	// Attr is an input attribution (C×H×W like the input, signed) for
	// the input methods; Delta its convergence delta, when it has one.
	Attr  []float32
	Delta []float32
	// A Part request's result: its pieces' data, the request's number of
	// pieces (Map is empty) and the time the pieces themselves took.
	Pieces     []float32
	PieceCount int
	PieceMS    float64
}

// maxBaseSide bounds the picture overlays are drawn on: a big photo is
// shown (and downloaded) at most this large on its longest side.
const maxBaseSide = 768

// maxInputs bounds how many inputs (each with its forward pass) are kept.
const maxInputs = 6

type modelState struct {
	id        int
	m         *model.Model
	info      ModelInfo
	c, h, w   int
	passBytes int // the values of one forward pass (every node's first output)
}

type inputState struct {
	id      int
	model   *modelState
	session *cam.Session
	base    image.Image // the picture to draw overlays on
	last    *cam.Result // the last map computed, for re-rendering
	rgb     *viz.RGB    // base's bytes, made at its first Render
}

// Engine holds the worker's models and inputs. It is used by one goroutine.
type Engine struct {
	models    map[int]*modelState
	inputs    map[int]*inputState
	order     []int // input ids, oldest first
	nextModel int
	nextInput int
	// ReusePictures lets Render draw into the overlay and heatmap it
	// returned last, which the caller must be done with: the worker copies
	// each picture into an ImageBitmap before it handles another request.
	ReusePictures bool
	pictures      [2]*image.RGBA // the last overlay and heatmap
}

// NewEngine returns an empty engine.
func NewEngine() *Engine {
	return &Engine{models: map[int]*modelState{}, inputs: map[int]*inputState{}, nextModel: 1, nextInput: 1}
}

// LoadModel loads an ONNX model with an optional card (labels and
// preprocessing) and returns its id and description. A model that fails to
// load leaves the engine as it was.
func (e *Engine) LoadModel(data []byte, mc *card.Card) (ModelInfo, error) {
	start := time.Now()
	if len(data) == 0 {
		return ModelInfo{}, markf(ErrBadModel, "the model file is empty")
	}
	m, err := model.Load(data)
	if err != nil {
		if strings.Contains(err.Error(), "truncated or corrupt") {
			// Not protobuf at all: most often a file of another kind.
			return ModelInfo{}, markf(ErrBadModel, "not an ONNX model: %w", err)
		}
		return ModelInfo{}, mark(ErrBadModel, err)
	}
	if mc == nil {
		mc = &card.Card{}
	}
	ms := &modelState{id: e.nextModel, m: m}
	if err := ms.configure(mc); err != nil {
		return ModelInfo{}, err
	}
	layers, err := m.Layers()
	if err != nil {
		return ModelInfo{}, markf(ErrBadModel, "the model does not run on a zero image of shape %s: %w", tensor.ShapeString(ms.info.InputShape), err)
	}
	for _, l := range layers {
		if l.Shape != nil {
			ms.passBytes += 4 * tensor.Size(l.Shape)
		}
		layout, _, _ := cam.AutoLayout(l.Shape, ms.h, ms.w)
		ms.info.Layers = append(ms.info.Layers, LayerInfo{Node: l.Node, Op: l.Op, Output: l.Output, Shape: l.Shape, Layout: layout})
	}
	if s, err := m.SuggestedLayer(); err == nil {
		ms.info.SuggestedLayer = s
	}
	ms.info.DefaultLayer = ms.info.SuggestedLayer
	if mc.DefaultLayer != "" {
		v, err := m.ResolveLayer(mc.DefaultLayer)
		if err != nil {
			return ModelInfo{}, markf(card.ErrBadCard, "model card: default_layer: %w", err)
		}
		ms.info.DefaultLayer = v
	}
	if len(layers) > 0 {
		if sh := layers[len(layers)-1].Shape; len(sh) > 0 {
			ms.info.Classes = tensor.Size(sh)
		}
	}
	for _, l := range layers {
		if l.Output == m.Output {
			ms.info.Classes = tensor.Size(l.Shape)
			if s := l.Shape; len(s) == 4 && s[2]*s[3] > 1 {
				ms.info.Segmentation, ms.info.Classes = true, s[1]
			}
		}
	}
	if err := checkLabels(mc.Labels, ms.info.Classes); err != nil {
		return ModelInfo{}, err
	}
	if macs, err := m.MACs(); err == nil {
		ms.info.MACs = macs
	}
	ms.info.Opset, ms.info.Producer, ms.info.Input = m.Opset, m.Producer, m.Input
	ms.info.ConvLayers, ms.info.PoolingLayers = convInfos(m), poolInfos(m)
	ms.info.ID = ms.id
	e.nextModel++
	e.models[ms.id] = ms
	ms.info.LoadMS = msSince(start)
	return ms.info, nil
}

// configure applies a card's input shape, normalisation and labels.
func (ms *modelState) configure(mc *card.Card) error {
	m := ms.m
	declared := append([]int(nil), m.InputShape...)
	shape, err := mc.Shape()
	if err != nil {
		return err
	}
	if shape == nil {
		s, err := m.ConcreteInputShape(1)
		if err != nil {
			return markf(model.ErrDynamicSizes, "the model's input %q has shape %s with dynamic sizes: give the input size (C×H×W) in a model card or the size fields", m.Input, tensor.ShapeString(declared))
		}
		shape = s
	}
	if len(declared) != 4 {
		return markf(ErrBadModel, "the model's input %q has shape %s: cnnlens needs images, N×C×H×W", m.Input, tensor.ShapeString(declared))
	}
	for i := 1; i < 4; i++ {
		if shape[i] <= 0 || shape[i] > 4096 {
			return markf(card.ErrBadCard, "input size %s is not valid", tensor.ShapeString(shape))
		}
		if declared[i] > 0 && declared[i] != shape[i] {
			return markf(card.ErrBadCard, "input size %s does not fit the model's input %q of shape %s", tensor.ShapeString(shape[1:]), m.Input, tensor.ShapeString(declared))
		}
	}
	c := shape[1]
	if c != 1 && c != 3 {
		return markf(ErrBadModel, "the model's input has %d channels: cnnlens feeds images with 1 (grey) or 3 (RGB)", c)
	}
	mean, std, err := mc.Norm(c)
	if err != nil {
		return err
	}
	// Make the model run at that size from now on (Layers, SuggestedLayer).
	if declared[2] < 0 || declared[3] < 0 || declared[1] < 0 {
		m.InputShape = []int{-1, shape[1], shape[2], shape[3]}
	}
	ms.c, ms.h, ms.w = shape[1], shape[2], shape[3]
	ms.info.DeclaredShape = declared
	ms.info.InputShape = shape
	ms.info.Mean, ms.info.Std = mean, std
	ms.info.Labels = mc.Labels
	ms.info.LayerLayout = ""
	if l := mc.LayerLayout; l != "" {
		if !slices.Contains(cam.Layouts(), l) {
			return markf(card.ErrBadCard, "model card: layer_layout %q is not one of %s", l, strings.Join(cam.Layouts(), ", "))
		}
		ms.info.LayerLayout = l
	}
	return nil
}

// Configure changes a loaded model's preprocessing and labels (the page's
// size and normalisation fields). Inputs made before keep theirs.
func (e *Engine) Configure(id int, mc *card.Card) (ModelInfo, error) {
	ms, err := e.model(id)
	if err != nil {
		return ModelInfo{}, err
	}
	saved := *ms
	savedShape := append([]int(nil), ms.m.InputShape...)
	err = ms.configure(mc)
	if err == nil {
		err = checkLabels(mc.Labels, ms.info.Classes)
	}
	if err != nil {
		*ms = saved
		ms.m.InputShape = savedShape
		return ModelInfo{}, err
	}
	if mc.DefaultLayer != "" {
		if v, err := ms.m.ResolveLayer(mc.DefaultLayer); err == nil {
			ms.info.DefaultLayer = v
		}
	}
	return ms.info, nil
}

// checkLabels refuses labels whose count is not the model's number of
// outputs (no labels are fine: classes are then named by number).
func checkLabels(labels []string, classes int) error {
	if len(labels) == 0 || classes <= 0 || len(labels) == classes {
		return nil
	}
	names := "names"
	if len(labels) == 1 {
		names = "name"
	}
	return markf(card.ErrBadCard, "labels: the file has %d %s but the model has %d outputs: give one name a class, in the order of the outputs", len(labels), names, classes)
}

func (e *Engine) model(id int) (*modelState, error) {
	ms, ok := e.models[id]
	if !ok {
		return nil, markf(ErrModelGone, "no model %d is loaded", id)
	}
	return ms, nil
}

// DisposeModel forgets a model and its inputs.
func (e *Engine) DisposeModel(id int) {
	delete(e.models, id)
	for _, in := range e.inputs {
		if in.model.id == id {
			e.DisposeInput(in.id)
		}
	}
}

// DisposeInput forgets an input.
func (e *Engine) DisposeInput(id int) {
	delete(e.inputs, id)
	for i, v := range e.order {
		if v == id {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
}

// InputImage sets an input from a picture: it is resized and normalised
// for the model and its forward pass is run. first, when given, is the
// method the page will compute first: the forward pass runs at the
// precision tier that method's requests run at (cam.RequestTier), so that
// it is not run twice; the other tiers' passes are made when a method
// needs them.
func (e *Engine) InputImage(modelID int, img image.Image, first ...string) (InputInfo, error) {
	ms, err := e.model(modelID)
	if err != nil {
		return InputInfo{}, err
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return InputInfo{}, markf(ErrBadRequest, "the image is empty (%d×%d)", b.Dx(), b.Dy())
	}
	x, err := imgproc.ToTensor(img, ms.c, ms.h, ms.w, ms.info.Mean, ms.info.Std)
	if err != nil {
		return InputInfo{}, err
	}
	return e.newInput(ms, x, displayBase(img), first)
}

// InputEncoded decodes an image file (PNG, JPEG, GIF, BMP, TIFF, WebP) and
// sets it as input (first: as for InputImage).
func (e *Engine) InputEncoded(modelID int, data []byte, first ...string) (InputInfo, error) {
	if len(data) == 0 {
		return InputInfo{}, markf(imgproc.ErrNotImage, "the image file is empty")
	}
	img, err := imgproc.Decode(data)
	if err != nil {
		return InputInfo{}, err
	}
	return e.InputImage(modelID, img, first...)
}

// InputTensor sets an input from the model's input values (1×C×H×W)
// (first: as for InputImage).
func (e *Engine) InputTensor(modelID int, data []float32, first ...string) (InputInfo, error) {
	ms, err := e.model(modelID)
	if err != nil {
		return InputInfo{}, err
	}
	shape := []int{1, ms.c, ms.h, ms.w}
	if len(data) != tensor.Size(shape) {
		return InputInfo{}, markf(ErrBadRequest, "the tensor has %d values, but the model's input %s needs %d", len(data), tensor.ShapeString(shape), tensor.Size(shape))
	}
	x := tensor.FromF32(append([]float32(nil), data...), shape...)
	base := viz.ToRGBAFromPlanes(data, ms.c, ms.h, ms.w, ms.info.Mean, ms.info.Std)
	return e.newInput(ms, x, displayBase(base), first)
}

func (e *Engine) newInput(ms *modelState, x *tensor.T, base image.Image, first []string) (InputInfo, error) {
	tier := ops.TierReference
	if len(first) > 0 && first[0] != "" {
		tier = cam.RequestTier(&cam.Request{Method: first[0], FastTier: true})
	}
	s, err := cam.NewSessionTier(ms.m, x, tier)
	if err != nil {
		return InputInfo{}, err
	}
	in := &inputState{id: e.nextInput, model: ms, session: s, base: base}
	e.nextInput++
	e.inputs[in.id] = in
	e.order = append(e.order, in.id)
	for len(e.order) > maxInputs {
		e.DisposeInput(e.order[0])
	}
	logits := append([]float32(nil), s.Logits(0)...)
	bb := base.Bounds()
	info := InputInfo{ID: in.id, Logits: logits, ForwardMS: ms64(s.ForwardTime), Width: bb.Dx(), Height: bb.Dy()}
	if k, h, w, ok := s.Segmentation(); ok {
		seg := &SegInfo{Width: w, Height: h, Argmax: cam.SegArgmax(logits, k, h*w), Classes: []SegClass{}}
		for c, n := range cam.ClassPixels(seg.Argmax, k) {
			if n > 0 {
				seg.Classes = append(seg.Classes, SegClass{Index: c, Label: label(ms.info.Labels, c), Pixels: n})
			}
		}
		sort.SliceStable(seg.Classes, func(i, j int) bool { return seg.Classes[i].Pixels > seg.Classes[j].Pixels })
		info.Segmentation = seg
		for _, c := range seg.Classes[:min(5, len(seg.Classes))] {
			info.Top5 = append(info.Top5, Prediction{Index: c.Index, Label: c.Label, Prob: float64(c.Pixels) / float64(h*w)})
		}
		return info, nil
	}
	info.Top5 = topK(logits, ms.info.Labels, 5)
	return info, nil
}

func (e *Engine) input(id int) (*inputState, error) {
	in, ok := e.inputs[id]
	if !ok {
		return nil, markf(ErrInputGone, "input %d is gone (set the image again)", id)
	}
	return in, nil
}

// Base returns the picture an input's overlays are drawn on.
func (e *Engine) Base(id int) (image.Image, error) {
	in, err := e.input(id)
	if err != nil {
		return nil, err
	}
	return in.base, nil
}

// CAM computes a map for an input.
func (e *Engine) CAM(r CAMRequest) (*CAMResult, error) {
	in, err := e.input(r.Input)
	if err != nil {
		return nil, err
	}
	req, err := camRequest(in, r)
	if err != nil {
		return nil, err
	}
	res, err := cam.Compute(in.session, req)
	if err != nil {
		return nil, err
	}
	if r.Part != nil {
		return &CAMResult{Pieces: res.Pieces, PieceCount: res.PieceCount, ClassIndex: res.Targets[0].Class,
			MS: ms64(res.Total), PieceMS: ms64(res.PieceTime)}, nil
	}
	in.last = res
	out := &CAMResult{
		Map: res.Map(0), Width: res.Width, Height: res.Height, Channels: max(res.Channels, 1),
		ClassIndex: res.Targets[0].Class, Score: res.Scores[0],
		MS: ms64(res.Total - res.Reused), ForwardMS: ms64(res.Forward - res.Reused), BackwardMS: ms64(res.Backward),
		ReusedForwardMS: ms64(res.Reused),
	}
	if len(res.Layers) > 0 {
		l := res.Layers[0]
		out.Layer, out.Layout, out.RawW, out.RawH = l.Layer, l.Layout, l.W, l.H
		out.Raw = l.Raw[:l.H*l.W]
		if l.Layer == in.session.Model.Input && len(l.Raw) == l.C*l.H*l.W*in.session.Batch() {
			out.Attr = l.Raw[:l.C*l.H*l.W]
		}
	}
	out.Delta = res.Delta
	return out, nil
}

// camRequest is the engine request for a page request.
func camRequest(in *inputState, r CAMRequest) (cam.Request, error) {
	req := cam.Request{Method: r.Method, AugSmooth: r.AugSmooth, EigenSmooth: r.EigenSmooth, Progress: r.Progress,
		FEMK: r.FEMK, FinerCompare: r.FinerCompare, FinerAlpha: r.FinerAlpha, Base: r.Base, Seed: r.Seed,
		Steps: r.Attr.Steps, Samples: r.Attr.Samples, NoiseLevel: r.Attr.Noise,
		Window: r.Attr.Window, Stride: r.Attr.Stride, Superpixel: r.Attr.Superpixel,
		Part: r.Part, Pieces: r.Pieces, FastTier: true}
	if a := r.Attr; min(a.Steps, a.Samples, a.Window, a.Stride, a.Superpixel) < 0 {
		return req, markf(ErrBadRequest, "steps, samples, window, stride and superpixel must not be negative")
	}
	if r.FEMK < 0 || math.IsNaN(r.FEMK) {
		return req, markf(ErrBadRequest, "FEM's k must be positive, got %v", r.FEMK)
	}
	if r.FinerAlpha != nil && (math.IsNaN(*r.FinerAlpha) || math.IsInf(*r.FinerAlpha, 0)) {
		return req, markf(ErrBadRequest, "FinerCAM's alpha must be a number, got %v", *r.FinerAlpha)
	}
	layer := r.Layer
	if layer == "" {
		layer = in.model.info.DefaultLayer
	}
	if layer != "" {
		for _, l := range strings.Split(layer, ",") {
			req.Layers = append(req.Layers, strings.TrimSpace(l))
		}
	}
	req.Layout = r.Layout
	if req.Layout == "" {
		req.Layout = in.model.info.LayerLayout
	}
	t, err := targetOf(r.Kind, r.Class, r.Other)
	if err != nil {
		return req, err
	}
	if r.Mask != nil {
		if t, err = segTarget(in.session, r); err != nil {
			return req, err
		}
	}
	req.Targets = []cam.Target{t}
	return req, nil
}

// segTarget is the segment target of a request with a mask: the class
// over the mask's non-zero pixels (or its weights, when it has the
// output's size).
func segTarget(s *cam.Session, r CAMRequest) (cam.Target, error) {
	_, h, w, ok := s.Segmentation()
	if !ok {
		return cam.Target{}, markf(ErrBadRequest, "a mask is for a segmentation model (output N×K×H×W); this model's output is %s", tensor.ShapeString(s.Output().Shape()))
	}
	mw, mh := r.MaskW, r.MaskH
	if mw <= 0 && mh <= 0 {
		mw, mh = w, h
	}
	if mw <= 0 || mh <= 0 || len(r.Mask) != mw*mh {
		return cam.Target{}, markf(ErrBadRequest, "the mask has %d values for %d×%d", len(r.Mask), mw, mh)
	}
	mask := r.Mask
	if mw != w || mh != h {
		g := image.NewGray(image.Rect(0, 0, mw, mh))
		for i, v := range r.Mask {
			if v != 0 {
				g.Pix[i] = 255
			}
		}
		mask = cam.MaskFromImage(g, h, w)
	}
	return cam.Target{Kind: cam.Segment, Class: r.Class, Mask: mask}, nil
}

// Render draws an input's last map: over the picture (overlay), alone
// (heat) and, for layer methods, the signed map at the layer's resolution.
func (e *Engine) Render(id int, colormap string, alpha float64) (overlay, heat, raw *image.RGBA, err error) {
	in, err := e.input(id)
	if err != nil {
		return nil, nil, nil, err
	}
	if in.last == nil {
		return nil, nil, nil, markf(ErrBadRequest, "no map has been computed for input %d", id)
	}
	if in.rgb == nil {
		in.rgb = viz.NewRGB(in.base)
	}
	if !e.ReusePictures {
		return RenderResult(in.rgb, in.last, colormap, alpha)
	}
	overlay, heat, raw, err = renderInto(e.pictures, in.rgb, in.last, colormap, alpha)
	if err == nil && overlay != heat {
		e.pictures = [2]*image.RGBA{overlay, heat}
	}
	return overlay, heat, raw, err
}

// RenderResult draws a result the way the CLI does (pytorch-grad-cam's
// show_cam_on_image; deprocess_image for guided methods).
func RenderResult(base image.Image, r *cam.Result, colormap string, alpha float64) (overlay, heat, raw *image.RGBA, err error) {
	return renderInto([2]*image.RGBA{}, base, r, colormap, alpha)
}

// renderInto is RenderResult drawing the overlay and heatmap into dst's
// pictures where they fit (viz.ShowCAMOnImageHeatInto).
func renderInto(dst [2]*image.RGBA, base image.Image, r *cam.Result, colormap string, alpha float64) (overlay, heat, raw *image.RGBA, err error) {
	cm, err := colormapOr(colormap, "")
	if err != nil {
		return nil, nil, nil, err
	}
	if alpha < 0 || alpha > 1 || math.IsNaN(alpha) {
		return nil, nil, nil, markf(ErrBadRequest, "opacity must be between 0 and 1, got %v", alpha)
	}
	m := r.Map(0)
	if r.Channels == 3 {
		g := viz.DeprocessImage(m, r.Width, r.Height)
		return g, g, nil, nil
	}
	overlay, heat, err = viz.ShowCAMOnImageHeatInto(dst[0], dst[1], base, m, r.Width, r.Height, cm, float32(1-alpha))
	if err != nil {
		return nil, nil, nil, err
	}
	if len(r.Layers) > 0 {
		l := r.Layers[0]
		raw = viz.SignedMapImage(l.Raw[:l.H*l.W], l.W, l.H, viz.RdBu, 0)
	}
	return overlay, heat, raw, nil
}

// topK returns the k most probable classes (softmax of the logits).
func topK(logits []float32, labels []string, k int) []Prediction {
	ranked := model.TopK(logits, k)
	out := make([]Prediction, len(ranked))
	for i, r := range ranked {
		out[i] = Prediction{Index: r.Class, Label: label(labels, r.Class), Prob: r.Prob, Logit: r.Logit}
	}
	return out
}

func label(labels []string, c int) string {
	if c >= 0 && c < len(labels) {
		return labels[c]
	}
	return "class " + strconv.Itoa(c)
}

// minBaseSide: a smaller picture (a 28×28 Fashion-MNIST item, a 64×64
// scene) is enlarged by an integer factor, nearest neighbour, so that its
// overlay shows the map smoothly over crisp pixels.
const minBaseSide = 128

// displayBase is the picture overlays are drawn on: the input image, made
// smaller when it is big and larger when it is tiny. Only the display
// changes; the model sees the image itself.
func displayBase(img image.Image) image.Image {
	b := img.Bounds()
	side := max(b.Dx(), b.Dy())
	if side < minBaseSide && side > 0 {
		return viz.Upscale(img, 256/side)
	}
	return shrink(img, maxBaseSide)
}

// shrink scales a picture down so that its longest side is at most side
// (bilinear, half-pixel centres); smaller pictures are returned as they are.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	nw, nh := side, int(math.Round(float64(h)*float64(side)/float64(w)))
	if h > w {
		nw, nh = int(math.Round(float64(w)*float64(side)/float64(h))), side
	}
	nw, nh = max(nw, 1), max(nh, 1)
	planes, _, _ := imgproc.Planes(img, 3)
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	plane := make([]float32, nw*nh)
	for c := 0; c < 3; c++ {
		imgproc.ResizeBilinear(planes[c*w*h:(c+1)*w*h], h, w, plane, nh, nw, false)
		for i, v := range plane {
			out.Pix[4*i+c] = uint8(math.Max(0, math.Min(255, math.Round(float64(v)))))
		}
	}
	for i := 0; i < nw*nh; i++ {
		out.Pix[4*i+3] = 255
	}
	return out
}

func ms64(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msSince(t time.Time) float64 { return ms64(time.Since(t)) }

// Garbage collection in the page. With Go's default (GOGC=100) the heap is
// collected each time it doubles, which with the small bundled models means
// several collections while the page starts, each slow while V8 still runs
// its baseline code. While the loaded models are small (their weights and
// the values of one forward pass, which each input keeps for its
// explanations) the engine lets the heap grow to five times what is live;
// with big models it keeps the default, so that they do not make the
// page's memory five times as large. Growing the heap is slow in wasm (V8
// commits the new pages, which are then touched for the first time): a
// MobileNetV2 pass at 224×224 keeps 50 MB, and with GOGC=400 the heap grew
// to 336 MB over its first 20 passes, each growing pass 210–230 ms instead
// of 125 (with GOGC=100: 139 MB after 7 passes).
const (
	gcPercentSmall = 400
	gcSmallBytes   = 16 << 20 // bytes of weights and of one pass's values in all loaded models
)

// gcPercent is the GOGC the engine wants for its loaded models.
func (e *Engine) gcPercent() int {
	var bytes int
	for _, ms := range e.models {
		bytes += ms.passBytes
		for _, c := range ms.m.Graph.Consts {
			bytes += 4 * c.Len()
		}
	}
	if bytes <= gcSmallBytes {
		return gcPercentSmall
	}
	return 100
}
