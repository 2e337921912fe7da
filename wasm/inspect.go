package main

// The "Inside the network" views: convolution kernels, feature maps and
// gradients, the Grad-CAM breakdown, activation maximisation, rotated
// filters and pooling backward. Each request is plain Go (engine/inspect
// does the work), returning numbers and *image.RGBA pictures that js.go
// turns into messages and ImageBitmaps.

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/inspect"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// ConvInfo describes one convolution for the kernel and rotation pickers.
type ConvInfo struct {
	Node   string `json:"node"`
	Output string `json:"output"`
	Shape  []int  `json:"shape"` // O × I/group × kh × kw
	Group  int    `json:"group"`
}

// PoolInfo describes one pooling layer for the pooling picker.
type PoolInfo struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Output string `json:"output"`
	Input  string `json:"input"`
}

func convInfos(m *model.Model) []ConvInfo {
	out := []ConvInfo{}
	for _, c := range inspect.ConvLayers(m) {
		out = append(out, ConvInfo{Node: c.Node, Output: c.Output, Shape: c.Weight.Shape(), Group: c.Group})
	}
	return out
}

func poolInfos(m *model.Model) []PoolInfo {
	out := []PoolInfo{}
	for _, v := range inspect.PoolingLayers(m) {
		p := PoolInfo{Output: v}
		if n := m.Graph.Producer(v); n != nil {
			p.Node, p.Op = n.Name, n.OpType
			if len(n.Inputs) > 0 {
				p.Input = n.Inputs[0]
			}
		}
		out = append(out, p)
	}
	return out
}

// targetOf turns the page's target fields into a cam.Target.
func targetOf(kind string, class, other int) (cam.Target, error) {
	t := cam.Target{Class: class}
	switch strings.ToLower(kind) {
	case "", "logit":
	case "probability", "softmax":
		t.Kind = cam.Probability
	case "rest":
		t.Kind = cam.ReST
	case "contrast":
		if class < 0 {
			return t, markf(ErrBadRequest, "a contrast needs a class to explain (A in \"A vs B\")")
		}
		t.Kind, t.Other = cam.Contrast, other
	default:
		return t, markf(ErrBadRequest, "unknown target kind %q (logit, softmax, rest, contrast)", kind)
	}
	return t, nil
}

func colormapOr(name, def string) (viz.Colormap, error) {
	if name == "" {
		name = def
	}
	cm, err := viz.ColormapByName(name)
	return cm, mark(ErrBadRequest, err)
}

// ---------------------------------------------------------------- kernels

// FiltersRequest asks for a convolution's kernels as a picture.
type FiltersRequest struct {
	Model     int
	Layer     string // conv output or node name; "" for the first convolution
	Mode      string // auto, rgb, channels, magnitude
	PerFilter bool   // each filter on its own scale (default: one scale for the layer)
	Max       int    // at most this many filters (0: all)
	MaxInputs int    // channels mode: input channels a filter (0: 16)
	Tile      int    // tile size in pixels (0: 32)
	Colormap  string // diverging colormap ("" : rdbu)
	Labels    bool   // caption each tile
}

// FilterStat summarises one filter's weights.
type FilterStat struct {
	Filter int     `json:"filter"`
	Min    float32 `json:"min"`
	Max    float32 `json:"max"`
	Norm   float32 `json:"norm"`  // L2 norm over all its weights
	Scale  float32 `json:"scale"` // the |w| drawn at full colour
}

// FiltersResult is the kernel grid: a picture of Tiles tiles, Cols a row,
// each CellW×CellH with Pad pixels between, tile i showing filter
// i / PerFilter (input channel i % PerFilter in channels mode).
type FiltersResult struct {
	Layer, Node  string
	Mode         string
	Filters      int // filters in the layer
	Shown        int // filters drawn
	Inputs       int // input channels a filter
	KH, KW       int
	Group        int
	PerFilter    int // tiles a filter
	Tiles        int
	Cols         int
	CellW, CellH int
	Pad          int
	Scale        float32 // the layer's max |w| (or Σ|w| in magnitude mode)
	Stats        []FilterStat
	Picture      *image.RGBA
}

const gridPad = 2

var gridBG = color.RGBA{40, 40, 40, 255}

// Filters draws a convolution's kernels.
func (e *Engine) Filters(r FiltersRequest) (*FiltersResult, error) {
	ms, err := e.model(r.Model)
	if err != nil {
		return nil, err
	}
	c, err := e.conv(ms, r.Layer)
	if err != nil {
		return nil, err
	}
	mode, err := c.ResolveMode(r.Mode)
	if err != nil {
		return nil, err
	}
	opt := inspect.FilterOptions{Mode: mode, PerFilter: r.PerFilter, Max: r.Max, MaxInputs: r.MaxInputs, Tile: r.Tile, Labels: r.Labels}
	if r.Colormap != "" {
		cm, err := colormapOr(r.Colormap, "")
		if err != nil {
			return nil, err
		}
		opt.Colormap = &cm
	}
	tiles, per, err := c.FilterTiles(opt)
	if err != nil {
		return nil, err
	}
	sh := c.Weight.Shape()
	res := &FiltersResult{
		Layer: c.Output, Node: c.Node, Mode: mode, Filters: sh[0], Inputs: sh[1], KH: sh[2], KW: sh[3],
		Group: c.Group, PerFilter: per, Tiles: len(tiles), Pad: gridPad,
	}
	res.Shown = len(tiles) / max(per, 1)
	res.Cols = per
	if per <= 1 {
		res.Cols = int(math.Ceil(math.Sqrt(float64(len(tiles)))))
	}
	res.Cols = max(1, min(res.Cols, len(tiles)))
	for _, t := range tiles {
		res.CellW = max(res.CellW, t.Bounds().Dx())
		res.CellH = max(res.CellH, t.Bounds().Dy())
	}
	res.Picture = viz.Grid(tiles, res.Cols, gridPad, gridBG)
	w := c.Weight.F32()
	k := sh[1] * sh[2] * sh[3]
	for f := 0; f < sh[0]; f++ {
		st := FilterStat{Filter: f}
		var ss float64
		mag := make([]float64, sh[2]*sh[3])
		for i, v := range w[f*k : (f+1)*k] {
			if i == 0 || v < st.Min {
				st.Min = v
			}
			if i == 0 || v > st.Max {
				st.Max = v
			}
			ss += float64(v) * float64(v)
			mag[i%len(mag)] += math.Abs(float64(v))
		}
		st.Norm = float32(math.Sqrt(ss))
		st.Scale = max(st.Max, -st.Min)
		if mode == "magnitude" {
			var m float64
			for _, v := range mag {
				m = math.Max(m, v)
			}
			st.Scale = float32(m)
		}
		res.Scale = max(res.Scale, st.Scale)
		res.Stats = append(res.Stats, st)
	}
	return res, nil
}

// conv finds a convolution of a model; "" is its first one.
func (e *Engine) conv(ms *modelState, layer string) (*inspect.ConvLayer, error) {
	if layer == "" {
		cs := inspect.ConvLayers(ms.m)
		if len(cs) == 0 {
			return nil, markf(model.ErrBadLayer, "the model has no convolution with stored weights")
		}
		return &cs[0], nil
	}
	return inspect.FindConv(ms.m, layer)
}

// ---------------------------------------------------------------- feature maps

// MapsRequest asks for a layer's feature maps (or their gradients) for an
// input, one picture a channel.
type MapsRequest struct {
	Input int
	Layer string // "" for the model's default layer
	Grad  bool   // d target / d activation instead of the activation
	// Weights computes each channel's Grad-CAM weight (a backward pass) for
	// activations too; gradients always have them.
	Weights bool
	Kind    string // target: logit, probability, contrast
	Class   int    // < 0: the top-1 class
	Other   int
	Order   string // index, mean, max, weight, abs-weight ("" : index)
	Max     int    // at most this many tiles (0: all)
	Tile    int    // tile size in pixels (0: 48)
	Shared  bool   // one colour scale for all tiles
}

// MapsResult is one layer's maps: Tiles[k] draws channel Order[k].
type MapsResult struct {
	Layer   string
	Grad    bool
	Class   int // the target class (gradients and weights), -1 otherwise
	C, H, W int
	Stats   []inspect.ChannelStat // by channel
	Order   []int
	Tiles   []*image.RGBA
	MS      float64
}

func (e *Engine) layerOf(in *inputState, layer string) string {
	if layer == "" {
		return in.model.info.DefaultLayer
	}
	return layer
}

// maps computes the activation or gradient maps (with weights when asked).
func (e *Engine) maps(in *inputState, layer string, grad, weights bool, t cam.Target) (*inspect.Maps, error) {
	layer = e.layerOf(in, layer)
	if layer == "" {
		return nil, markf(model.ErrBadLayer, "the model has no layer with a spatial map: pick a layer")
	}
	if grad {
		return inspect.Gradients(in.session, layer, t)
	}
	a, err := inspect.Activations(in.session, layer)
	if err != nil {
		return nil, err
	}
	if weights {
		g, err := inspect.Gradients(in.session, layer, t)
		if err != nil {
			return nil, err
		}
		if err := a.WithWeights(g); err != nil {
			return nil, err
		}
		a.Class = g.Class
	}
	return a, nil
}

// FeatureMaps draws every channel of a layer for an input.
func (e *Engine) FeatureMaps(r MapsRequest) (*MapsResult, error) {
	start := time.Now()
	in, t, err := e.inputTarget(r.Input, r.Kind, r.Class, r.Other)
	if err != nil {
		return nil, err
	}
	by := r.Order
	if by == "" {
		by = "index"
	}
	weights := r.Weights || by == "weight" || by == "abs-weight"
	m, err := e.maps(in, r.Layer, r.Grad, weights, t)
	if err != nil {
		return nil, err
	}
	order, err := inspect.Order(m.Stats, by)
	if err != nil {
		return nil, err
	}
	if r.Max > 0 && len(order) > r.Max {
		order = order[:r.Max]
	}
	res := &MapsResult{Layer: m.Layer, Grad: m.Grad, Class: m.Class, C: m.C, H: m.H, W: m.W, Stats: m.Stats, Order: order}
	for _, img := range m.Tiles(inspect.GridOptions{Order: order, Tile: r.Tile, Shared: r.Shared}) {
		res.Tiles = append(res.Tiles, toRGBA(img))
	}
	res.MS = msSince(start)
	return res, nil
}

// ChannelRequest asks for one channel of a layer, large.
type ChannelRequest struct {
	Input    int
	Layer    string
	Channel  int
	Grad     bool
	Weights  bool // give an activation channel its Grad-CAM weight too
	Kind     string
	Class    int
	Other    int
	Colormap string  // activations ("" : jet); gradients are drawn with rdbu
	Alpha    float64 // opacity of the map over the picture
}

// ChannelResult is one channel: its numbers, the map over the input
// picture (Overlay) and alone with one block a value (Cells: CellSize
// pixels a value).
type ChannelResult struct {
	Layer    string
	Channel  int
	Grad     bool
	Class    int
	Stat     inspect.ChannelStat
	H, W     int
	Values   []float32 // H×W
	CellSize int
	Overlay  *image.RGBA
	Cells    *image.RGBA
}

// Channel draws one channel of a layer's maps over the input's picture.
func (e *Engine) Channel(r ChannelRequest) (*ChannelResult, error) {
	in, t, err := e.inputTarget(r.Input, r.Kind, r.Class, r.Other)
	if err != nil {
		return nil, err
	}
	if r.Alpha < 0 || r.Alpha > 1 || math.IsNaN(r.Alpha) {
		return nil, markf(ErrBadRequest, "opacity must be between 0 and 1, got %v", r.Alpha)
	}
	m, err := e.maps(in, r.Layer, r.Grad, r.Weights, t)
	if err != nil {
		return nil, err
	}
	if r.Channel < 0 || r.Channel >= m.C {
		return nil, markf(ErrBadRequest, "channel %d is out of range: layer %q has %d channels (0–%d)", r.Channel, m.Layer, m.C, m.C-1)
	}
	v := m.Channel(r.Channel)
	res := &ChannelResult{Layer: m.Layer, Channel: r.Channel, Grad: m.Grad, Class: m.Class, Stat: m.Stats[r.Channel],
		H: m.H, W: m.W, Values: append([]float32(nil), v...)}
	// mask in 0..1: min–max for activations, zero at the centre for gradients
	mask := make([]float32, len(v))
	var cm viz.Colormap
	if m.Grad {
		cm = viz.RdBu
		var s float32
		for _, x := range v {
			s = max(s, x, -x)
		}
		for i, x := range v {
			mask[i] = 0.5
			if s > 0 {
				mask[i] = 0.5 + 0.5*x/s
			}
		}
		res.Cells = viz.SignedMapImage(v, m.W, m.H, cm, 0)
	} else {
		if cm, err = colormapOr(r.Colormap, "jet"); err != nil {
			return nil, err
		}
		lo, hi := res.Stat.Min, res.Stat.Max
		for i, x := range v {
			if hi > lo {
				mask[i] = (x - lo) / (hi - lo)
			}
		}
		res.Cells = viz.MapImage(mask, m.W, m.H, cm)
	}
	res.Overlay, err = viz.ShowCAMOnImage(in.base, mask, m.W, m.H, cm, float32(1-r.Alpha))
	if err != nil {
		return nil, err
	}
	res.CellSize = max(1, 256/max(m.W, m.H))
	res.Cells = viz.Upscale(res.Cells, res.CellSize)
	return res, nil
}

// ---------------------------------------------------------------- breakdown

// BreakdownRequest asks how Grad-CAM builds its heatmap at a layer.
type BreakdownRequest struct {
	Input    int
	Layer    string
	Kind     string
	Class    int
	Other    int
	Top      int // channels shown (0: 8)
	Tile     int // tile size (0: 64)
	Colormap string
	Alpha    float64
}

// BreakdownResult is the breakdown's numbers (inspect.Breakdown without
// the maps) and its pictures: for each channel in Top, its map (Maps) and
// its weighted map (Scaled), then the sum, its ReLU (the heatmap at the
// layer's resolution) and the heatmap over the picture.
type BreakdownResult struct {
	Layer    string
	Class    int
	Score    float32
	C, H, W  int
	Weights  []float32
	Order    []int
	Top      []int
	TopShare float32
	Scale    float32 // the |value| at full colour of Sum and ReLU
	SumMin   float32
	SumMax   float32
	HeatMax  float32 // the largest value of ReLU(Sum): 1 on the overlay's scale
	// Each top channel's tile scales: its map's range, and the |value| at
	// full colour of its gradient and of its weighted map.
	MapLo, MapHi, GradScale, ScaledScale []float32
	// GradMin, GradMax: the range of each top channel's gradient (equal
	// when the gradient is the same at every position).
	GradMin, GradMax []float32
	Maps             []*image.RGBA
	Grads            []*image.RGBA
	Scaled           []*image.RGBA
	Sum              *image.RGBA
	ReLU             *image.RGBA
	Overlay          *image.RGBA
	MS               float64
}

// Breakdown computes the Grad-CAM breakdown for an input.
func (e *Engine) Breakdown(r BreakdownRequest) (*BreakdownResult, error) {
	start := time.Now()
	in, t, err := e.inputTarget(r.Input, r.Kind, r.Class, r.Other)
	if err != nil {
		return nil, err
	}
	layer := e.layerOf(in, r.Layer)
	if layer == "" {
		return nil, markf(model.ErrBadLayer, "the model has no layer with a spatial map: pick a layer")
	}
	cm, err := colormapOr(r.Colormap, "jet")
	if err != nil {
		return nil, err
	}
	if r.Alpha < 0 || r.Alpha > 1 || math.IsNaN(r.Alpha) {
		return nil, markf(ErrBadRequest, "opacity must be between 0 and 1, got %v", r.Alpha)
	}
	b, err := inspect.GradCAMBreakdown(in.session, layer, t, r.Top)
	if err != nil {
		return nil, err
	}
	res := &BreakdownResult{Layer: b.Layer, Class: b.Class, Score: b.Score, C: b.C, H: b.H, W: b.W,
		Weights: b.Weights, Order: b.Order, Top: b.Top, TopShare: b.TopShare}
	tile := r.Tile
	if tile <= 0 {
		tile = 64
	}
	tiles := b.Tiles(tile)
	res.Maps, res.Grads, res.Scaled, res.Sum, res.ReLU, res.Scale = tiles.Maps, tiles.Grads, tiles.Scaled, tiles.Sum, tiles.ReLU, tiles.Scale
	res.MapLo, res.MapHi, res.GradScale, res.ScaledScale = tiles.MapLo, tiles.MapHi, tiles.GradScale, tiles.ScaledScale
	for _, g := range b.Grads {
		lo, hi := inspect.MinMax(g)
		res.GradMin, res.GradMax = append(res.GradMin, lo), append(res.GradMax, hi)
	}
	res.SumMin, res.SumMax = inspect.MinMax(b.Sum)
	// Over the picture, scaled to 0..1 as Grad-CAM's final map is.
	_, hi := inspect.MinMax(b.Heatmap)
	res.HeatMax = hi
	res.Overlay, err = viz.ShowCAMOnImage(in.base, inspect.Normalize(b.Heatmap, 0, hi), b.W, b.H, cm, float32(1-r.Alpha))
	if err != nil {
		return nil, err
	}
	res.MS = msSince(start)
	return res, nil
}

// ---------------------------------------------------------------- maximise

// MaximizeRequest asks for activation maximisation on a model. Options
// follows inspect.MaximizeOptions (zero values pick its defaults; Mean and
// Std are the model's and Progress is set from Progress below).
type MaximizeRequest struct {
	Model   int
	Options inspect.MaximizeOptions
	// Every: the progress report carries the current picture every this
	// many steps (and on the last; 0: 8).
	Every    int
	Progress func(MaxStep) bool
}

// MaxStep is one step's report to the page.
type MaxStep struct {
	Step, Total int
	Objective   float32
	Image       *image.RGBA // every Every steps, else nil
}

// MaximizeResult is the picture found (or the one so far when cancelled).
type MaximizeResult struct {
	Layer        string
	Channel      int
	Class        int
	Image        *image.RGBA
	C, H, W      int
	Objective    []float32
	Start, Final float32
	Steps        int
	Cancelled    bool
	MS           float64
}

// Maximize runs gradient ascent on the model's input.
func (e *Engine) Maximize(r MaximizeRequest) (*MaximizeResult, error) {
	start := time.Now()
	ms, err := e.model(r.Model)
	if err != nil {
		return nil, err
	}
	opt := r.Options
	opt.Mean, opt.Std = ms.info.Mean, ms.info.Std
	res := &MaximizeResult{Class: -1, Channel: -1}
	if opt.Class != nil {
		if c := *opt.Class; c < 0 || c >= ms.info.Classes && ms.info.Classes > 0 {
			return nil, markf(ErrBadRequest, "class %d is out of range: the model has %d classes (0–%d)", c, ms.info.Classes, ms.info.Classes-1)
		}
		res.Class = *opt.Class
	} else {
		if opt.Layer == "" {
			opt.Layer = ms.info.DefaultLayer
		}
		v, err := ms.m.ResolveLayer(opt.Layer)
		if err != nil {
			return nil, err
		}
		opt.Layer, res.Layer, res.Channel = v, v, opt.Channel
	}
	every := r.Every
	if every <= 0 {
		every = 8
	}
	if r.Progress != nil {
		opt.Progress = func(p inspect.MaxProgress) bool {
			s := MaxStep{Step: p.Step, Total: p.Total, Objective: p.Objective}
			if p.Pixels != nil && (p.Step%every == 0 || p.Step == p.Total || p.Step == 1) {
				s.Image = inspect.PixelsImage(p.Pixels, p.C, p.H, p.W)
			}
			return r.Progress(s)
		}
	}
	out, err := inspect.Maximize(ms.m, opt)
	if errors.Is(err, inspect.ErrCancelled) {
		if out == nil {
			return nil, ErrCancelled
		}
		res.Cancelled = true
	} else if err != nil {
		return nil, err
	}
	res.Image = out.Image()
	res.C, res.H, res.W = out.C, out.H, out.W
	res.Objective, res.Start, res.Final, res.Steps = out.Objective, out.Start, out.Final, out.Steps
	res.MS = msSince(start)
	return res, nil
}

// ---------------------------------------------------------------- rotations

// RotationsRequest asks for the rotated or mirrored filter pairs of a
// convolution.
type RotationsRequest struct {
	Model     int
	Layer     string  // "" : the first convolution
	Threshold float64 // cosine similarity (0: 0.8)
	Max       int     // pairs drawn (0: 24); all are listed
	PerFilter bool
	Tile      int // (0: 32)
	// Chance: also count the pairs found when each filter's weights are
	// shuffled, averaged over this many shuffles (0: not computed), the
	// number a layer shows by chance.
	Chance int
}

// RotationsResult lists the pairs (best first) and draws the first Max,
// one picture a pair: A, A transformed, B.
type RotationsResult struct {
	Layer     string
	Filters   int
	KH, KW    int
	Threshold float64
	Pairs     []inspect.RotationPair
	// Tiles: for each pair drawn, filter A, A transformed and filter B, in
	// Mode (rgb or magnitude), each pair on its scale Scales[k] (±, the
	// value at full colour).
	Tiles  [][3]*image.RGBA
	Scales []float32
	Mode   string
	Chance float64 // mean pairs with shuffled weights (-1: not computed)
	MS     float64
}

// Rotations finds filters that are rotations or flips of one another.
func (e *Engine) Rotations(r RotationsRequest) (*RotationsResult, error) {
	start := time.Now()
	ms, err := e.model(r.Model)
	if err != nil {
		return nil, err
	}
	c, err := e.conv(ms, r.Layer)
	if err != nil {
		return nil, err
	}
	th := r.Threshold
	if th == 0 {
		th = 0.8
	}
	pairs, err := inspect.FindRotations(c.Weight, th)
	if err != nil {
		return nil, err
	}
	sh := c.Weight.Shape()
	res := &RotationsResult{Layer: c.Output, Filters: sh[0], KH: sh[2], KW: sh[3], Threshold: th, Pairs: pairs, Chance: -1}
	if r.Chance > 0 {
		if res.Chance, err = inspect.ChanceRotations(c.Weight, th, r.Chance, 1); err != nil {
			return nil, err
		}
	}
	n := r.Max
	if n <= 0 {
		n = 24
	}
	tile := r.Tile
	if tile <= 0 {
		tile = 32
	}
	ts, err := c.RotationTiles(pairs[:min(n, len(pairs))], inspect.FilterOptions{PerFilter: r.PerFilter, Tile: tile})
	if err != nil {
		return nil, err
	}
	if res.Mode, err = c.ResolveMode(""); err != nil {
		return nil, err
	}
	for _, t := range ts {
		res.Tiles = append(res.Tiles, [3]*image.RGBA{toRGBA(t.A), toRGBA(t.TA), toRGBA(t.B)})
		res.Scales = append(res.Scales, t.Scale)
		res.Mode = t.Mode
	}
	if res.Mode == "channels" {
		res.Mode = "magnitude"
	}
	res.MS = msSince(start)
	return res, nil
}

// ---------------------------------------------------------------- pooling

// PoolingRequest asks how a pooling layer routes the target's gradient.
type PoolingRequest struct {
	Input   int
	Layer   string // "" : the first pooling layer
	Channel int    // < 0: the channel with the most gradient above
	Kind    string
	Class   int
	Other   int
	Tile    int // (0: 96)
}

// PoolingResult is a pooling layer's gradient route: counts of non-zero
// gradient values above (at the output) and below (at the input), for the
// whole layer and the channel shown, and the picture of that channel.
type PoolingResult struct {
	Node, Op     string
	Above, Below string
	Class        int
	C, H, W      int // below
	OH, OW       int // above
	Channel      int
	Best         int   // the channel with the most gradient above
	Kernel       []int // the pooling window (H×W for the global pools)
	Strides      []int
	Fan          int // input cells a window covers: the kernel's size
	NonzeroAbove int
	NonzeroBelow int
	// The channel shown: its non-zero counts and gradient sums.
	ChannelAbove, ChannelBelow int
	SumAbove, SumBelow         float64
	// The channel shown, as numbers: the activation entering the pool
	// (H×W), the gradient above (OH×OW) and below (H×W).
	Input, GradAbove, GradBelow []float32
	// Its three pictures (PoolTiles: the input on InLo…InHi, both
	// gradients on ±Scale), Zoom screen pixels a value.
	InputTile, AboveTile, BelowTile *image.RGBA
	InLo, InHi, Scale               float32
	Zoom                            int
}

// Pooling shows a pooling layer's backward pass for an input.
func (e *Engine) Pooling(r PoolingRequest) (*PoolingResult, error) {
	in, t, err := e.inputTarget(r.Input, r.Kind, r.Class, r.Other)
	if err != nil {
		return nil, err
	}
	layer := r.Layer
	if layer == "" {
		ls := inspect.PoolingLayers(in.model.m)
		if len(ls) == 0 {
			return nil, markf(model.ErrBadLayer, "the model has no pooling layer (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool)")
		}
		layer = ls[0]
	}
	route, err := inspect.PoolingBackward(in.session, layer, t)
	if err != nil {
		return nil, err
	}
	c := r.Channel
	if c < 0 {
		c = route.Channel
	}
	input, above, below, err := route.Planes(c)
	if err != nil {
		return nil, err
	}
	tile := r.Tile
	if tile <= 0 {
		tile = 96
	}
	pt, err := route.Tiles(c, tile)
	if err != nil {
		return nil, err
	}
	res := &PoolingResult{
		Node: route.Node, Op: route.Op, Above: route.Above, Below: route.Below, Class: route.Class,
		C: route.C, H: route.H, W: route.W, OH: route.OH, OW: route.OW, Channel: c, Best: route.Channel,
		Kernel: route.Kernel, Strides: route.Strides, Fan: route.Kernel[0] * route.Kernel[len(route.Kernel)-1],
		NonzeroAbove: route.NonzeroAbove, NonzeroBelow: route.NonzeroBelow,
		ChannelAbove: inspect.CountNonzero(above), ChannelBelow: inspect.CountNonzero(below),
		SumAbove: sum64(above), SumBelow: sum64(below),
		Input: append([]float32(nil), input...), GradAbove: append([]float32(nil), above...), GradBelow: append([]float32(nil), below...),
		InputTile: pt.Input, AboveTile: pt.Above, BelowTile: pt.Below, InLo: pt.InLo, InHi: pt.InHi, Scale: pt.Scale, Zoom: pt.Zoom,
	}
	return res, nil
}

// ---------------------------------------------------------------- helpers

// inputTarget finds an input and turns a target kind and classes into a
// target.
func (e *Engine) inputTarget(id int, kind string, class, other int) (*inputState, cam.Target, error) {
	in, err := e.input(id)
	if err != nil {
		return nil, cam.Target{}, err
	}
	t, err := targetOf(kind, class, other)
	return in, t, err
}

func sum64(a []float32) float64 {
	var s float64
	for _, v := range a {
		s += float64(v)
	}
	return s
}

// toRGBA returns img as an *image.RGBA at the origin with a tight stride.
func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) && r.Stride == 4*r.Rect.Dx() {
		return r
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	return out
}
