package main

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/card/cardfile"
	"github.com/cnnlens/cnnlens/engine/inspect"
	"github.com/cnnlens/cnnlens/models/shapes"
)

// loadShapes loads the bundled shapes model with its card and sets a
// held-out scene as input.
func loadShapes(t *testing.T) (*Engine, ModelInfo, InputInfo) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "models", "shapes.onnx"))
	if err != nil {
		t.Fatalf("bundled model: %v", err)
	}
	cardJSON, err := os.ReadFile(filepath.Join("..", "models", "shapes.json"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := cardfile.Parse(cardJSON)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine()
	info, err := e.LoadModel(data, mc)
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.InputImage(info.ID, shapes.Generate(1000000, 64).Image())
	if err != nil {
		t.Fatal(err)
	}
	return e, info, in
}

// colours counts the distinct colours of a picture.
func colours(img *image.RGBA) int {
	seen := map[[3]uint8]bool{}
	for i := 0; i+3 < len(img.Pix); i += 4 {
		seen[[3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}] = true
	}
	return len(seen)
}

func TestInspectLayerLists(t *testing.T) {
	_, info, _ := loadShapes(t)
	var convs []string
	for _, c := range info.ConvLayers {
		convs = append(convs, c.Output)
	}
	if len(info.ConvLayers) != 4 || info.ConvLayers[0].Output != "/block1/conv/Conv_output_0" {
		t.Fatalf("conv layers: %v", convs)
	}
	if s := info.ConvLayers[1].Shape; len(s) != 4 || s[0] != 24 || s[1] != 16 || s[2] != 3 || s[3] != 3 {
		t.Errorf("block2 conv weight shape %v, want 24×16×3×3", s)
	}
	var ops []string
	for _, p := range info.PoolingLayers {
		ops = append(ops, p.Op)
	}
	if strings.Join(ops, ",") != "MaxPool,MaxPool,MaxPool,GlobalAveragePool" {
		t.Errorf("pooling layers: %v", ops)
	}
	if p := info.PoolingLayers[0]; p.Input != "/block1/relu/Relu_output_0" || p.Output != "/block1/pool/MaxPool_output_0" {
		t.Errorf("first pooling layer %+v", p)
	}
}

func TestFilters(t *testing.T) {
	e, info, _ := loadShapes(t)
	// First layer: one RGB tile a filter, laid out as the result says.
	r, err := e.Filters(FiltersRequest{Model: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "rgb" || r.Filters != 16 || r.Tiles != 16 || r.PerFilter != 1 || r.Inputs != 3 || r.KH != 3 {
		t.Fatalf("first conv: %+v", r)
	}
	b := r.Picture.Bounds()
	if b.Dx() != r.Cols*r.CellW+(r.Cols+1)*r.Pad || b.Dy() != 4*r.CellH+5*r.Pad {
		t.Errorf("picture %v does not fit %d cols of %d×%d", b, r.Cols, r.CellW, r.CellH)
	}
	if colours(r.Picture) < 30 {
		t.Errorf("kernel picture has %d colours", colours(r.Picture))
	}
	if len(r.Stats) != 16 || r.Scale <= 0 {
		t.Fatalf("stats %d, scale %v", len(r.Stats), r.Scale)
	}
	var big float32
	for _, s := range r.Stats {
		if s.Min > s.Max || s.Norm <= 0 || s.Scale != max(s.Max, -s.Min) {
			t.Errorf("filter stat %+v", s)
		}
		big = max(big, s.Scale)
	}
	if big != r.Scale {
		t.Errorf("layer scale %v, largest filter scale %v", r.Scale, big)
	}
	// Per-filter scale draws a different picture of the same size.
	p, err := e.Filters(FiltersRequest{Model: info.ID, PerFilter: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Picture.Bounds() != r.Picture.Bounds() || string(p.Picture.Pix) == string(r.Picture.Pix) {
		t.Errorf("per-filter scale: same picture")
	}
	// A deeper layer: per input channel, or the channel-summed magnitude.
	c, err := e.Filters(FiltersRequest{Model: info.ID, Layer: "/block2/conv/Conv", Mode: "channels"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PerFilter != 16 || c.Tiles != 24*16 || c.Cols != 16 {
		t.Errorf("channels mode: %d a filter, %d tiles, %d cols", c.PerFilter, c.Tiles, c.Cols)
	}
	m, err := e.Filters(FiltersRequest{Model: info.ID, Layer: "/block2/conv/Conv_output_0"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != "magnitude" || m.Tiles != 24 {
		t.Errorf("auto on block2: %s, %d tiles", m.Mode, m.Tiles)
	}
	for _, c := range []struct {
		req  FiltersRequest
		want string
	}{
		{FiltersRequest{Model: info.ID, Layer: "/block1/relu/Relu_output_0"}, "not a convolution"},
		{FiltersRequest{Model: info.ID, Layer: "/block2/conv/Conv", Mode: "rgb"}, "rgb needs 3"},
		{FiltersRequest{Model: info.ID, Mode: "nope"}, "unknown filter mode"},
		{FiltersRequest{Model: 99}, "no model 99"},
	} {
		if _, err := e.Filters(c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req, err, c.want)
		}
	}
}

func TestFeatureMaps(t *testing.T) {
	e, info, in := loadShapes(t)
	// The default layer, by mean activation.
	r, err := e.FeatureMaps(MapsRequest{Input: in.ID, Class: -1, Order: "mean"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Layer != info.DefaultLayer || r.C != 64 || r.H != 8 || len(r.Tiles) != 64 || len(r.Stats) != 64 {
		t.Fatalf("%s: %d channels %d×%d, %d tiles", r.Layer, r.C, r.H, r.W, len(r.Tiles))
	}
	for k := 1; k < len(r.Order); k++ {
		if r.Stats[r.Order[k]].Mean > r.Stats[r.Order[k-1]].Mean {
			t.Fatalf("order by mean: %v", r.Order)
		}
	}
	if r.Tiles[0].Bounds().Dx() != 48 {
		t.Errorf("tile %v, want 48 wide (8×8 enlarged 6×)", r.Tiles[0].Bounds())
	}
	// Gradients: each channel's weight is the mean of its gradient, and the
	// top-1 class is the target.
	g, err := e.FeatureMaps(MapsRequest{Input: in.ID, Grad: true, Class: -1, Order: "weight"})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Grad || g.Class != in.Top5[0].Index {
		t.Errorf("gradients of class %d, top-1 is %d", g.Class, in.Top5[0].Index)
	}
	nz := 0
	for _, s := range g.Stats {
		if s.Weight != s.Mean {
			t.Errorf("channel %d: weight %v, mean gradient %v", s.Channel, s.Weight, s.Mean)
		}
		if s.Weight != 0 {
			nz++
		}
	}
	if nz == 0 {
		t.Errorf("every weight is zero")
	}
	// Activations sorted by Grad-CAM weight get the gradients' weights.
	a, err := e.FeatureMaps(MapsRequest{Input: in.ID, Class: -1, Order: "weight"})
	if err != nil {
		t.Fatal(err)
	}
	for c := range a.Stats {
		if a.Stats[c].Weight != g.Stats[c].Weight {
			t.Fatalf("channel %d: activation weight %v, gradient weight %v", c, a.Stats[c].Weight, g.Stats[c].Weight)
		}
	}
	if a.Order[0] != g.Order[0] {
		t.Errorf("largest weight: channel %d by activations, %d by gradients", a.Order[0], g.Order[0])
	}
	// Another layer and class; Max limits the tiles.
	o, err := e.FeatureMaps(MapsRequest{Input: in.ID, Layer: "/block1/relu/Relu", Grad: true, Class: 3, Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if o.C != 16 || o.H != 64 || len(o.Tiles) != 5 || o.Class != 3 {
		t.Errorf("block1 gradients of class 3: %d channels, %d×%d, %d tiles, class %d", o.C, o.H, o.W, len(o.Tiles), o.Class)
	}
	for _, c := range []struct {
		req  MapsRequest
		want string
	}{
		{MapsRequest{Input: in.ID, Layer: "nope"}, "nope"},
		{MapsRequest{Input: in.ID, Order: "colour"}, "unknown channel order"},
		{MapsRequest{Input: in.ID, Grad: true, Class: 99}, "out of range"},
		{MapsRequest{Input: 999}, "gone"},
	} {
		if _, err := e.FeatureMaps(c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req, err, c.want)
		}
	}
}

func TestChannel(t *testing.T) {
	e, _, in := loadShapes(t)
	maps, err := e.FeatureMaps(MapsRequest{Input: in.ID, Class: -1, Weights: true})
	if err != nil {
		t.Fatal(err)
	}
	c := maps.Order[len(maps.Order)-1]
	r, err := e.Channel(ChannelRequest{Input: in.ID, Channel: c, Class: -1, Weights: true, Alpha: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stat != maps.Stats[c] || len(r.Values) != 64 || r.H != 8 {
		t.Errorf("channel %d: stat %+v, want %+v; %d values", c, r.Stat, maps.Stats[c], len(r.Values))
	}
	if r.Stat.Weight == 0 {
		t.Errorf("no weight")
	}
	if r.Overlay.Bounds().Dx() != in.Width || r.Overlay.Bounds().Dy() != in.Height {
		t.Errorf("overlay %v on a %d×%d picture", r.Overlay.Bounds(), in.Width, in.Height)
	}
	if r.Cells.Bounds().Dx() != 8*r.CellSize || r.CellSize != 32 {
		t.Errorf("cells %v, cell size %d", r.Cells.Bounds(), r.CellSize)
	}
	lo, hi := inspect.MinMax(r.Values)
	if lo != r.Stat.Min || hi != r.Stat.Max {
		t.Errorf("values %v..%v, stats %v..%v", lo, hi, r.Stat.Min, r.Stat.Max)
	}
	g, err := e.Channel(ChannelRequest{Input: in.ID, Channel: c, Grad: true, Class: -1, Alpha: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Grad || g.Stat.Weight != r.Stat.Weight || g.Cells == nil {
		t.Errorf("gradient channel: %+v", g.Stat)
	}
	// Global average pooling then a linear layer: the gradient is the same
	// at every position, its mean the weight.
	for _, v := range g.Values {
		if math.Abs(float64(v-g.Stat.Weight)) > 1e-6 {
			t.Fatalf("gradient %v at a cell, weight %v", v, g.Stat.Weight)
		}
	}
	if _, err := e.Channel(ChannelRequest{Input: in.ID, Channel: 64, Alpha: 0.5}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("channel 64: %v", err)
	}
}

// The breakdown's sum is Grad-CAM's map before ReLU.
func TestBreakdown(t *testing.T) {
	e, info, in := loadShapes(t)
	b, err := e.Breakdown(BreakdownRequest{Input: in.ID, Class: 2, Alpha: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if b.C != 64 || len(b.Weights) != 64 || len(b.Top) != 8 || len(b.Maps) != 8 || len(b.Scaled) != 8 || b.Class != 2 {
		t.Fatalf("breakdown: %d channels, %d weights, top %v", b.C, len(b.Weights), b.Top)
	}
	for k := 1; k < len(b.Top); k++ {
		if b.Weights[b.Top[k]] > b.Weights[b.Top[k-1]] {
			t.Errorf("top channels not by weight: %v", b.Top)
		}
	}
	if b.Score != in.Logits[2] {
		t.Errorf("score %v, logit %v", b.Score, in.Logits[2])
	}
	if !(b.TopShare > 0 && b.TopShare <= 1) {
		t.Errorf("top share %v", b.TopShare)
	}
	r, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: 2})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := inspect.MinMax(r.Raw)
	if math.Abs(float64(lo-b.SumMin)) > 1e-4*float64(hi-lo) || math.Abs(float64(hi-b.SumMax)) > 1e-4*float64(hi-lo) {
		t.Errorf("sum %v..%v, Grad-CAM's raw map %v..%v", b.SumMin, b.SumMax, lo, hi)
	}
	if b.Overlay.Bounds().Dx() != in.Width || b.Sum.Bounds() != b.ReLU.Bounds() || b.Maps[0].Bounds().Dx() != 64 {
		t.Errorf("picture sizes: overlay %v, sum %v, relu %v, map %v", b.Overlay.Bounds(), b.Sum.Bounds(), b.ReLU.Bounds(), b.Maps[0].Bounds())
	}
	// Each tile on its own scale; the default layer feeds global average
	// pooling, so each channel's gradient is the same everywhere: its weight.
	if len(b.Grads) != 8 || len(b.GradScale) != 8 || len(b.ScaledScale) != 8 || len(b.MapLo) != 8 {
		t.Fatalf("breakdown tiles: %d gradients, %d scales", len(b.Grads), len(b.GradScale))
	}
	for k, c := range b.Top {
		w := b.Weights[c]
		if d := math.Abs(float64(b.GradMin[k] - b.GradMax[k])); d > 1e-6*math.Abs(float64(w)) || math.Abs(float64(b.GradMax[k]-w)) > 1e-6*math.Abs(float64(w)) {
			t.Errorf("channel %d: gradient %v..%v, weight %v", c, b.GradMin[k], b.GradMax[k], w)
		}
		if b.GradScale[k] != max(b.GradMax[k], -b.GradMin[k]) {
			t.Errorf("channel %d: gradient drawn on ±%v, its range %v..%v", c, b.GradScale[k], b.GradMin[k], b.GradMax[k])
		}
		want := max(b.MapHi[k]*w, -b.MapHi[k]*w, b.MapLo[k]*w, -b.MapLo[k]*w)
		if math.Abs(float64(b.ScaledScale[k]-want)) > 1e-6*float64(want) {
			t.Errorf("channel %d: w·A drawn on ±%v, want %v", c, b.ScaledScale[k], want)
		}
	}
	if b.HeatMax != max(b.SumMax, 0) {
		t.Errorf("largest ReLU value %v, largest sum %v", b.HeatMax, b.SumMax)
	}
	if _, err := e.Breakdown(BreakdownRequest{Input: in.ID, Layer: "/flatten/Flatten_output_0", Class: -1}); err == nil || !strings.Contains(err.Error(), "spatial") {
		t.Errorf("breakdown of a 1×1 layer: %v", err)
	}
	_ = info
}

func TestRotations(t *testing.T) {
	e, info, _ := loadShapes(t)
	r, err := e.Rotations(RotationsRequest{Model: info.ID, Threshold: 0.3, Max: 5, Chance: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Layer != "/block1/conv/Conv_output_0" || r.Filters != 16 || r.Threshold != 0.3 {
		t.Errorf("rotations: %s, %d filters, threshold %v", r.Layer, r.Filters, r.Threshold)
	}
	if len(r.Pairs) == 0 {
		t.Fatalf("no pair of first-layer filters matches under a transform at 0.3")
	}
	if r.Chance < 0 {
		t.Errorf("chance baseline not computed")
	}
	t.Logf("first layer at 0.3: %d pairs, %.1f by chance", len(r.Pairs), r.Chance)
	if len(r.Tiles) != min(5, len(r.Pairs)) || len(r.Scales) != len(r.Tiles) || r.Mode != "rgb" {
		t.Errorf("%d tile triples, %d scales (%s) for %d pairs (max 5)", len(r.Tiles), len(r.Scales), r.Mode, len(r.Pairs))
	}
	// One scale for the layer: its largest |w|.
	var big float32
	for _, v := range inspect.ConvLayers(e.models[info.ID].m)[0].Weight.F32() {
		big = max(big, v, -v)
	}
	for k, tr := range r.Tiles {
		if r.Scales[k] != big {
			t.Errorf("pair %d drawn on ±%v, the layer's largest |w| is %v", k, r.Scales[k], big)
		}
		for i, img := range tr {
			if img.Bounds() != tr[0].Bounds() || colours(img) < 2 {
				t.Errorf("pair %d tile %d: %v, %d colours", k, i, img.Bounds(), colours(img))
			}
		}
	}
	if !sort.SliceIsSorted(r.Pairs, func(i, j int) bool { return r.Pairs[i].Score > r.Pairs[j].Score }) {
		t.Errorf("pairs not sorted by score")
	}
	for _, p := range r.Pairs {
		if p.Score < 0.3 || p.Score < p.Identity+inspect.MinGain-1e-6 || p.A >= p.B {
			t.Errorf("pair %+v", p)
		}
	}
	strict, err := e.Rotations(RotationsRequest{Model: info.ID, Layer: "/block3/conv/Conv", Threshold: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	if strict.Chance != -1 {
		t.Errorf("chance computed without asking: %v", strict.Chance)
	}
	if _, err := e.Rotations(RotationsRequest{Model: info.ID, Threshold: 1.5}); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("threshold 1.5: %v", err)
	}
}

// A max-pool sends each window's gradient to one input: the non-zero
// gradients below are no more than above; global average pooling spreads
// each over the whole map. Both keep the gradient's sum.
func TestPooling(t *testing.T) {
	e, info, in := loadShapes(t)
	mp, err := e.Pooling(PoolingRequest{Input: in.ID, Channel: -1, Class: -1})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Op != "MaxPool" || mp.C != 16 || mp.H != 64 || mp.OH != 32 || mp.Fan != 4 {
		t.Fatalf("first pooling layer: %s %d×%d×%d → %d×%d, fan %v", mp.Op, mp.C, mp.H, mp.W, mp.OH, mp.OW, mp.Fan)
	}
	if mp.NonzeroAbove == 0 || mp.NonzeroBelow == 0 || mp.NonzeroBelow > mp.NonzeroAbove {
		t.Errorf("max-pool: %d non-zero above, %d below", mp.NonzeroAbove, mp.NonzeroBelow)
	}
	if mp.Channel != mp.Best || mp.ChannelAbove == 0 || mp.ChannelBelow > mp.ChannelAbove {
		t.Errorf("max-pool channel %d (best %d): %d above, %d below", mp.Channel, mp.Best, mp.ChannelAbove, mp.ChannelBelow)
	}
	if d := math.Abs(mp.SumAbove - mp.SumBelow); d > 1e-4*math.Max(1e-6, math.Abs(mp.SumAbove)) {
		t.Errorf("max-pool: gradient sum above %v, below %v", mp.SumAbove, mp.SumBelow)
	}
	for i, img := range []*image.RGBA{mp.InputTile, mp.AboveTile, mp.BelowTile} {
		if img.Bounds().Dx() != mp.W*mp.Zoom || img.Bounds().Dy() != mp.H*mp.Zoom || colours(img) < 3 {
			t.Errorf("pooling tile %d: %v (zoom %d), %d colours", i, img.Bounds(), mp.Zoom, colours(img))
		}
	}
	if len(mp.Input) != mp.H*mp.W || len(mp.GradAbove) != mp.OH*mp.OW || len(mp.GradBelow) != mp.H*mp.W ||
		inspect.CountNonzero(mp.GradBelow) != mp.ChannelBelow || sum64(mp.GradAbove) != mp.SumAbove {
		t.Errorf("pooling values: %d, %d, %d for %d×%d → %d×%d", len(mp.Input), len(mp.GradAbove), len(mp.GradBelow), mp.H, mp.W, mp.OH, mp.OW)
	}
	if lo, hi := inspect.MinMax(mp.Input); lo != mp.InLo || hi != mp.InHi || mp.Scale != max(inspect.AbsMax(mp.GradAbove), inspect.AbsMax(mp.GradBelow)) {
		t.Errorf("pooling scales: input %v..%v (reported %v..%v), gradient ±%v", lo, hi, mp.InLo, mp.InHi, mp.Scale)
	}
	gap := info.PoolingLayers[len(info.PoolingLayers)-1].Output
	g, err := e.Pooling(PoolingRequest{Input: in.ID, Layer: gap, Channel: 5, Class: -1})
	if err != nil {
		t.Fatal(err)
	}
	if g.Op != "GlobalAveragePool" || g.OH != 1 || g.Fan != 64 || g.Channel != 5 {
		t.Fatalf("GAP: %+v", g)
	}
	if g.ChannelAbove == 1 && g.ChannelBelow != 64 {
		t.Errorf("GAP spreads one gradient over %d of 64 cells", g.ChannelBelow)
	}
	if d := math.Abs(g.SumAbove - g.SumBelow); d > 1e-4*math.Max(1e-6, math.Abs(g.SumAbove)) {
		t.Errorf("GAP: gradient sum above %v, below %v", g.SumAbove, g.SumBelow)
	}
	for _, c := range []struct {
		req  PoolingRequest
		want string
	}{
		{PoolingRequest{Input: in.ID, Layer: "/block1/conv/Conv", Channel: -1}, "not a pooling layer"},
		{PoolingRequest{Input: in.ID, Channel: 16}, "out of range"},
	} {
		if _, err := e.Pooling(c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req, err, c.want)
		}
	}
}

func TestMaximize(t *testing.T) {
	e, info, _ := loadShapes(t)
	var steps, pictures int
	var last float32
	res, err := e.Maximize(MaximizeRequest{
		Model:   info.ID,
		Options: inspect.MaximizeOptions{Layer: "/block3/relu/Relu", Channel: 3, Steps: 12, Seed: 1},
		Every:   4,
		Progress: func(s MaxStep) bool {
			steps++
			if s.Image != nil {
				pictures++
				if b := s.Image.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
					t.Errorf("progress picture %v", b)
				}
			}
			if s.Total != 12 {
				t.Errorf("total %d", s.Total)
			}
			last = s.Objective
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if steps != 12 || pictures < 3 || res.Steps != 12 || len(res.Objective) != 12 || res.Cancelled {
		t.Errorf("%d progress reports, %d pictures, %d steps, %d objectives", steps, pictures, res.Steps, len(res.Objective))
	}
	if res.Layer != "/block3/relu/Relu_output_0" || res.Channel != 3 || res.Class != -1 || res.W != 64 || res.C != 3 {
		t.Errorf("result: layer %q channel %d class %d, %d×%d×%d", res.Layer, res.Channel, res.Class, res.C, res.H, res.W)
	}
	if last != res.Objective[11] {
		t.Errorf("last progress objective %v, result %v", last, res.Objective[11])
	}
	if !(res.Final > res.Start) {
		t.Errorf("objective did not grow: %v → %v", res.Start, res.Final)
	}
	if colours(res.Image) < 50 {
		t.Errorf("picture has %d colours", colours(res.Image))
	}
	// A class's logit, class 0 (set, unlike the zero value): the picture
	// found is taken for that class when given back as an input.
	cl, err := e.Maximize(MaximizeRequest{Model: info.ID, Options: inspect.MaximizeOptions{Class: new(0), Steps: 48, Seed: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Class != 0 || cl.Layer != "" || cl.Channel != -1 || !(cl.Final > cl.Start+5) {
		t.Errorf("class 0: class %d, layer %q, channel %d, logit %v → %v", cl.Class, cl.Layer, cl.Channel, cl.Start, cl.Final)
	}
	back, err := e.InputImage(info.ID, cl.Image)
	if err != nil {
		t.Fatal(err)
	}
	if back.Top5[0].Index != 0 {
		t.Errorf("the picture maximising class 0 is classified as %+v", back.Top5[0])
	}
	// Cancelled after 3 steps: the picture so far.
	n := 0
	c, err := e.Maximize(MaximizeRequest{
		Model:    info.ID,
		Options:  inspect.MaximizeOptions{Class: new(2), Steps: 50, Seed: 2},
		Progress: func(s MaxStep) bool { n++; return n < 3 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cancelled || c.Steps > 3 || c.Class != 2 || c.Image == nil {
		t.Errorf("cancelled: %v after %d steps, class %d", c.Cancelled, c.Steps, c.Class)
	}
	for _, class := range []int{8, -1} {
		if _, err := e.Maximize(MaximizeRequest{Model: info.ID, Options: inspect.MaximizeOptions{Class: new(class)}}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("class %d: %v", class, err)
		}
	}
	// The zero value maximises a channel of the model's default layer.
	z, err := e.Maximize(MaximizeRequest{Model: info.ID, Options: inspect.MaximizeOptions{Steps: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if z.Class != -1 || z.Channel != 0 || z.Layer != info.DefaultLayer {
		t.Errorf("zero options: class %d, channel %d of %q; want channel 0 of %q", z.Class, z.Channel, z.Layer, info.DefaultLayer)
	}
}
