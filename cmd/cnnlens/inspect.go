package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/inspect"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// Inside the network: filters, featuremaps, pooling, maximize, rotations.

func required(name, v string) error {
	if v == "" {
		return fmt.Errorf("%w: -%s is required", errUsage, name)
	}
	return nil
}

// session loads the model and the input and runs the forward pass.
func (f *modelFlags) session() (*loaded, *cam.Session, error) {
	l, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	x, err := f.input(l)
	if err != nil {
		return nil, nil, err
	}
	s, err := cam.NewSession(l.m, x)
	return l, s, err
}

func runFilters(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("filters")
	f.register(fs, false)
	layer := fs.String("layer", "", "convolution: its output value name or node name (required)")
	out := fs.String("out", "", "write the filter grid as PNG (required)")
	mode := fs.String("mode", "auto", "how to draw a filter: "+strings.Join(inspect.FilterModes, ", ")+" (auto: rgb for 3 input channels, channels for 1, else magnitude)")
	perFilter := fs.Bool("per-filter", false, "scale each filter to its own max |w| (default: one scale for the layer)")
	maxN := fs.Int("max", 0, "draw at most this many filters (0: all)")
	maxIn := fs.Int("max-inputs", 16, "channels mode: input channels drawn per filter")
	tile := fs.Int("tile", 32, "tile size in pixels (weights are enlarged by an integer factor)")
	numbers := fs.Bool("numbers", false, "caption each filter with its number")
	cmap := fs.String("colormap", "rdbu", "diverging colormap centred on zero: rdbu, seismic")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required("layer", *layer); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	cm, err := viz.ColormapByName(*cmap)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	c, err := inspect.FindConv(l.m, *layer)
	if err != nil {
		return err
	}
	opt := inspect.FilterOptions{Mode: *mode, PerFilter: *perFilter, Max: *maxN, MaxInputs: *maxIn, Tile: *tile, Labels: *numbers, Colormap: &cm}
	m, err := c.ResolveMode(*mode)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	img, err := c.FilterPicture(opt)
	if err != nil {
		return err
	}
	if err := writePNG(*out, img); err != nil {
		return err
	}
	lo, hi := minMaxF(c.Weight.F32())
	scale := "shared scale"
	if *perFilter {
		scale = "per-filter scale"
	}
	fmt.Fprintf(stdout, "%s: %d filters %s (%s, %s; weights %.4g..%.4g) → %s (%d×%d)\n", c.Node, c.Filters(),
		tensor.ShapeString(c.Weight.Shape()[1:]), m, scale, lo, hi, *out, img.Bounds().Dx(), img.Bounds().Dy())
	return nil
}

func minMaxF(a []float32) (lo, hi float32) {
	for i, v := range a {
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func runFeatureMaps(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("featuremaps")
	f.register(fs, true)
	layer := fs.String("layer", "", "layer: a value or node name (required)")
	out := fs.String("out", "", "write the grid of channels as PNG (required)")
	grad := fs.Bool("grad", false, "draw d target / d activation instead of the activations")
	class := fs.Int("class", -1, "target class for -grad, -sort weight and -breakdown (default: the top-1 class)")
	sortBy := fs.String("sort", "index", "channel order: "+strings.Join(inspect.OrderBy, ", ")+" (largest first; weight = Grad-CAM weight)")
	maxN := fs.Int("max", 0, "draw at most this many channels (0: all)")
	shared := fs.Bool("shared", false, "one colour scale for every channel (default: each channel its own)")
	tile := fs.Int("tile", 48, "tile size in pixels")
	numbers := fs.Bool("numbers", false, "caption each tile with its channel number")
	breakdown := fs.String("breakdown", "", "also write how Grad-CAM builds its heatmap at this layer as PNG")
	top := fs.Int("top", 6, "channels shown in -breakdown")
	outF32 := fs.String("out-f32", "", "also write the drawn values (C×H×W, all channels in index order): a .npy file with that shape, else raw little-endian float32")
	asJSON := fs.Bool("json", false, "print each channel's statistics as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required("layer", *layer); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	_, s, err := f.session()
	if err != nil {
		return err
	}
	target := cam.Target{Class: *class}
	maps, err := inspect.Activations(s, *layer)
	if err != nil {
		return err
	}
	needGrad := *grad || *sortBy == "weight" || *sortBy == "abs-weight"
	if needGrad {
		g, err := inspect.Gradients(s, *layer, target)
		if err != nil {
			return err
		}
		if err := maps.WithWeights(g); err != nil {
			return err
		}
		if *grad {
			maps = g
		}
	}
	order, err := inspect.Order(maps.Stats, *sortBy)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	img := maps.Picture(inspect.GridOptions{Order: order, Max: *maxN, Shared: *shared, Tile: *tile, Labels: *numbers})
	if err := writePNG(*out, img); err != nil {
		return err
	}
	if *outF32 != "" {
		if err := writeTensor(*outF32, maps.Values, maps.C, maps.H, maps.W); err != nil {
			return err
		}
	}
	if *breakdown != "" {
		b, err := inspect.GradCAMBreakdown(s, *layer, target, *top)
		if err != nil {
			return err
		}
		if err := writePNG(*breakdown, b.Picture(*tile)); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "breakdown: class %d, top %d channels carry %.0f%% of Σ|w·A| → %s\n", b.Class, len(b.Top), 100*b.TopShare, *breakdown)
		}
	}
	if *asJSON {
		sorted := make([]inspect.ChannelStat, len(order))
		for i, c := range order {
			sorted[i] = maps.Stats[c]
		}
		return json.NewEncoder(stdout).Encode(struct {
			Layer    string                `json:"layer"`
			Shape    []int                 `json:"shape"`
			Grad     bool                  `json:"grad"`
			Class    int                   `json:"class,omitempty"`
			Channels []inspect.ChannelStat `json:"channels"`
		}{maps.Layer, []int{maps.C, maps.H, maps.W}, maps.Grad, maps.Class, sorted})
	}
	what := "activations"
	if maps.Grad {
		what = fmt.Sprintf("gradients of class %d", maps.Class)
	}
	fmt.Fprintf(stdout, "%s: %s, %d channels of %d×%d, sorted by %s → %s (%d×%d)\n", maps.Layer, what, maps.C, maps.H, maps.W,
		*sortBy, *out, img.Bounds().Dx(), img.Bounds().Dy())
	return nil
}

func runPooling(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("pooling")
	f.register(fs, true)
	layer := fs.String("layer", "", "pooling layer (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool): value or node name (required)")
	class := fs.Int("class", -1, "target class (default: the top-1 class)")
	channel := fs.Int("channel", -1, "channel to draw (default: the one with the largest gradient)")
	out := fs.String("out", "", "write input | gradient above | gradient below as PNG")
	tile := fs.Int("tile", 160, "panel size in pixels")
	asJSON := fs.Bool("json", false, "print the counts as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required("layer", *layer); err != nil {
		return err
	}
	_, s, err := f.session()
	if err != nil {
		return err
	}
	r, err := inspect.PoolingBackward(s, *layer, cam.Target{Class: *class})
	if err != nil {
		return err
	}
	ch := r.Channel
	if *channel >= 0 {
		ch = *channel
	}
	if *out != "" {
		img, err := r.Picture(ch, *tile)
		if err != nil {
			return err
		}
		if err := writePNG(*out, img); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"node": r.Node, "op": r.Op, "class": r.Class, "channel": ch,
			"above": []int{r.C, r.OH, r.OW}, "below": []int{r.C, r.H, r.W},
			"nonzero_above": r.NonzeroAbove, "nonzero_below": r.NonzeroBelow,
		})
	}
	fmt.Fprintf(stdout, "%s (%s), class %d: gradient above %d×%d×%d has %d non-zero values; below %s has %d\n",
		r.Node, r.Op, r.Class, r.C, r.OH, r.OW, r.NonzeroAbove, r.Shape(), r.NonzeroBelow)
	return nil
}

func runRotations(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("rotations")
	f.register(fs, false)
	layer := fs.String("layer", "", "convolution: its output value name or node name (required)")
	threshold := fs.Float64("threshold", 0.9, "minimum cosine similarity of transformed filter A and filter B")
	asJSON := fs.Bool("json", false, `print a JSON list of {"a", "b", "transform", "score"}`)
	out := fs.String("out", "", "draw the pairs side by side (A, A transformed, B) as PNG")
	maxPairs := fs.Int("max", 32, "with -out: at most this many pairs")
	chance := fs.Int("chance", 20, "text output: also count pairs found in this many shuffles of each filter's weights (0: skip)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required("layer", *layer); err != nil {
		return err
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	c, err := inspect.FindConv(l.m, *layer)
	if err != nil {
		return err
	}
	pairs, err := inspect.FindRotations(c.Weight, *threshold)
	if err != nil {
		return err
	}
	if *out != "" {
		img, err := c.RotationPicture(pairs, *maxPairs, inspect.FilterOptions{Tile: 60})
		if err != nil {
			return err
		}
		if err := writePNG(*out, img); err != nil {
			return err
		}
	}
	if *asJSON {
		type pair struct {
			A         int     `json:"a"`
			B         int     `json:"b"`
			Transform string  `json:"transform"`
			Score     float64 `json:"score"`
		}
		list := make([]pair, len(pairs))
		for i, p := range pairs {
			list[i] = pair{p.A, p.B, p.Transform, p.Score}
		}
		return json.NewEncoder(stdout).Encode(list)
	}
	fmt.Fprintf(stdout, "%s: %d filters %s, threshold %.2f: %d pairs\n", c.Node, c.Filters(), tensor.ShapeString(c.Weight.Shape()[1:]), *threshold, len(pairs))
	if len(pairs) > 0 {
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "a\tb\ttransform\tscore\tuntransformed")
		for _, p := range pairs {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%.4f\t%.4f\n", p.A, p.B, p.Transform, p.Score, p.Identity)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if *chance > 0 {
		mean, err := inspect.ChanceRotations(c.Weight, *threshold, *chance, 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "by chance (each filter's weights shuffled, mean of %d draws): %.2f pairs\n", *chance, mean)
	}
	return nil
}

func runMaximize(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("maximize")
	f.register(fs, false)
	layer := fs.String("layer", "", "layer whose channel to maximise: value or node name (required unless -class)")
	channel := fs.Int("channel", -1, "channel of -layer to maximise (its mean over positions)")
	class := fs.Int("class", -1, "maximise this class's logit instead of a channel")
	out := fs.String("out", "", "write the picture as PNG (required)")
	steps := fs.Int("steps", 256, "gradient-ascent steps")
	lr := fs.Float64("lr", 0.05, "Adam learning rate")
	jitter := fs.Int("jitter", 8, "random shift of up to ± this many pixels each step (0: none)")
	rotate := fs.Float64("rotate", 5, "random rotation of up to ± this many degrees each step (0: none)")
	scale := fs.Float64("scale", 0.05, "random scaling by 1 ± this each step (0: none)")
	tv := fs.Float64("tv", 1, "total-variation penalty weight (0: none)")
	blur := fs.Float64("blur", 0, "blur the picture every few steps with a Gaussian of this σ in pixels (0: none)")
	l2 := fs.Float64("l2", 0, "L2 decay weight on the parameters")
	decorrelate := fs.Bool("decorrelate", false, "decorrelated-colour parametrisation (RGB models)")
	fourier := fs.Bool("fourier", false, "1/f-scaled frequency (DCT) parametrisation")
	seed := fs.Int64("seed", 0, "random seed (noise and transformations)")
	zoom := fs.Int("zoom", 0, "enlarge the saved picture by this integer factor (0: to at least 256 px)")
	asJSON := fs.Bool("json", false, "print the objective on the starting noise and the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	if *class < 0 {
		if err := required("layer", *layer); err != nil {
			return err
		}
		if *channel < 0 {
			return fmt.Errorf("%w: -channel is required with -layer (or give -class)", errUsage)
		}
	}
	if *steps < 1 {
		return fmt.Errorf("%w: -steps must be at least 1", errUsage)
	}
	if !(*lr > 0) {
		return fmt.Errorf("%w: -lr must be positive", errUsage)
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	shape, err := l.m.ConcreteInputShape(1)
	if err != nil {
		return err
	}
	mean, std, err := f.norm(l, shape[1])
	if err != nil {
		return err
	}
	off := func(v float64) float64 { // the engine reads 0 as "default"
		if v == 0 {
			return -1
		}
		return v
	}
	jit := *jitter
	if jit == 0 {
		jit = -1
	}
	opt := inspect.MaximizeOptions{
		Layer: *layer, Channel: *channel, Steps: *steps, LR: *lr,
		Jitter: jit, Rotate: off(*rotate), Scale: off(*scale), TV: off(*tv), Blur: *blur, L2: *l2,
		Decorrelate: *decorrelate, Fourier: *fourier, Seed: *seed, Mean: mean, Std: std,
	}
	if *class >= 0 {
		opt.Class = class
	}
	r, err := inspect.Maximize(l.m, opt)
	if err != nil {
		return err
	}
	img := r.Image()
	z := *zoom
	if z <= 0 {
		z = max(1, (256+max(r.W, r.H)-1)/max(r.W, r.H))
	}
	if err := writePNG(*out, viz.Upscale(img, z)); err != nil {
		return err
	}
	what := fmt.Sprintf("%s channel %d (mean)", *layer, *channel)
	if *class >= 0 {
		what = fmt.Sprintf("logit of class %d", *class)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"objective": what, "start": r.Start, "final": r.Final, "steps": r.Steps, "out": *out,
		})
	}
	fmt.Fprintf(stdout, "%s: %.4g on the starting noise → %.4g after %d steps → %s\n", what, r.Start, r.Final, r.Steps, *out)
	return nil
}
