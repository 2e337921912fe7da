package inspect

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// poolOps are the pooling layers PoolingBackward shows.
var poolOps = map[string]bool{"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true}

// PoolRoute is how one pooling layer routes the target's gradient for the
// session's first image: the gradient arriving from above (at the pool's
// output) and what the pool's backward passes below (to its input).
type PoolRoute struct {
	Node, Op     string
	Above, Below string // output and input value names
	Class        int
	C            int
	H, W         int       // below (the pool's input)
	OH, OW       int       // above (the pool's output)
	Input        []float32 // C×H×W, the activation entering the pool
	GradAbove    []float32 // C×OH×OW
	GradBelow    []float32 // C×H×W
	// Kernel and Strides are the pooling window (H×W and H×W for the
	// global pools).
	Kernel, Strides []int
	// Channel is the channel with the largest Σ|gradient above|, the one
	// worth showing first.
	Channel int
	// NonzeroAbove and NonzeroBelow count the non-zero gradient values on
	// each side (a max-pool passes each window's gradient to one input).
	NonzeroAbove, NonzeroBelow int
}

// PoolingLayers lists the model's pooling layers' output value names.
func PoolingLayers(m *model.Model) []string {
	var out []string
	for _, n := range m.Graph.Nodes {
		if poolOps[n.OpType] {
			out = append(out, n.Outputs[0])
		}
	}
	return out
}

// PoolingBackward computes a pooling layer's gradient route for target t.
func PoolingBackward(s *cam.Session, layer string, t cam.Target) (*PoolRoute, error) {
	v, err := s.Model.ResolveLayer(layer)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	n := s.Model.Graph.Producer(v)
	if n == nil || !poolOps[n.OpType] {
		what := "a model input"
		if n != nil {
			what = "a " + n.OpType
		}
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: layer %q is %s, not a pooling layer; the pooling layers are: %v", layer, what, PoolingLayers(s.Model))
	}
	below := n.Inputs[0]
	ts, err := s.ResolveTargets([]cam.Target{t})
	if err != nil {
		return nil, err
	}
	g, _, err := s.Gradients(ts, []string{v, below})
	if err != nil {
		return nil, err
	}
	in := s.Run.Value(below)
	out := s.Run.Value(v)
	if in == nil || out == nil || in.Rank() != 4 || out.Rank() != 4 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: pooling layer %q does not have 4-D input and output", n.Name)
	}
	is, os := in.Shape(), out.Shape()
	r := &PoolRoute{Node: n.Name, Op: n.OpType, Above: v, Below: below, Class: ts[0].Class,
		C: is[1], H: is[2], W: is[3], OH: os[2], OW: os[3]}
	switch op := n.Op.(type) {
	case interface{ Window() ([]int, []int) }:
		r.Kernel, r.Strides = op.Window()
	default: // global pools
		r.Kernel, r.Strides = []int{r.H, r.W}, []int{r.H, r.W}
	}
	r.Input = append([]float32(nil), in.F32()[:r.C*r.H*r.W]...)
	r.GradAbove = append([]float32(nil), g[v].F32()[:r.C*r.OH*r.OW]...)
	r.GradBelow = append([]float32(nil), g[below].F32()[:r.C*r.H*r.W]...)
	best := -1.0
	for c := 0; c < r.C; c++ {
		var s float64
		for _, x := range r.GradAbove[c*r.OH*r.OW : (c+1)*r.OH*r.OW] {
			s += math.Abs(float64(x))
		}
		if s > best {
			best, r.Channel = s, c
		}
	}
	r.NonzeroAbove = CountNonzero(r.GradAbove)
	r.NonzeroBelow = CountNonzero(r.GradBelow)
	return r, nil
}

// Planes returns channel c's activation below, gradient above and gradient
// below.
func (r *PoolRoute) Planes(c int) (input, above, below []float32, err error) {
	if c < 0 || c >= r.C {
		return nil, nil, nil, kind.Errorf(ErrBadOption, "inspect: channel %d is out of range: layer %q has %d channels (0–%d)", c, r.Below, r.C, r.C-1)
	}
	hw, ohw := r.H*r.W, r.OH*r.OW
	return r.Input[c*hw : (c+1)*hw], r.GradAbove[c*ohw : (c+1)*ohw], r.GradBelow[c*hw : (c+1)*hw], nil
}

// PoolTiles are channel c's three pictures, uncaptioned: the activation
// entering the pool (viridis, InLo…InHi), the gradient above (enlarged to
// the input's size, each output cell covering the input cells it came
// from) and the gradient below, both RdBu on one scale (±Scale, white at
// 0) so that "spread evenly" looks fainter than "routed to one position".
type PoolTiles struct {
	Input, Above, Below *image.RGBA
	InLo, InHi          float32
	Scale               float32
	Zoom                int // screen pixels a value
}

// Tiles draws channel c's three pictures, each enlarged to about tile
// pixels.
func (r *PoolRoute) Tiles(c, tile int) (*PoolTiles, error) {
	in, above, below, err := r.Planes(c)
	if err != nil {
		return nil, err
	}
	t := &PoolTiles{Zoom: zoomFor(max(r.H, r.W), tile)}
	t.InLo, t.InHi = MinMax(in)
	t.Input = viz.Upscale(viz.MapImage(Normalize(in, t.InLo, t.InHi), r.W, r.H, viz.Viridis), t.Zoom)
	t.Scale = max(AbsMax(above), AbsMax(below))
	up := make([]float32, r.H*r.W)
	for y := 0; y < r.H; y++ {
		for x := 0; x < r.W; x++ {
			up[y*r.W+x] = above[min(y*r.OH/r.H, r.OH-1)*r.OW+min(x*r.OW/r.W, r.OW-1)]
		}
	}
	t.Above = viz.Upscale(signedImage(up, r.W, r.H, t.Scale), t.Zoom)
	t.Below = viz.Upscale(signedImage(below, r.W, r.H, t.Scale), t.Zoom)
	return t, nil
}

// Picture draws channel c's three tiles side by side, captioned.
func (r *PoolRoute) Picture(c, tile int) (*image.RGBA, error) {
	t, err := r.Tiles(c, tile)
	if err != nil {
		return nil, err
	}
	tiles := []image.Image{
		viz.Caption(t.Input, fmt.Sprintf("input ch %d", c)),
		viz.Caption(t.Above, fmt.Sprintf("grad above %dx%d", r.OH, r.OW)),
		viz.Caption(t.Below, fmt.Sprintf("grad below %dx%d", r.H, r.W)),
	}
	return viz.Grid(tiles, 3, 2, color.RGBA{40, 40, 40, 255}), nil
}

// Shape is the pool's input shape C×H×W, for messages.
func (r *PoolRoute) Shape() string { return tensor.ShapeString([]int{r.C, r.H, r.W}) }
