package inspect

import (
	"fmt"
	"image"
	"image/color"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// Breakdown is how Grad-CAM builds its heatmap at one layer for the
// session's first image: per-channel weights w_c (the spatial mean of
// d target / dA_c), the weighted maps w_c·A_c, their sum over all channels
// and the ReLU of that sum, which is the heatmap before resizing.
type Breakdown struct {
	Layer   string
	Class   int
	Score   float32
	C, H, W int
	Weights []float32   // C
	Order   []int       // channels by weight, largest first
	Top     []int       // the channels shown (the Top largest weights)
	Maps    [][]float32 // A_c for Top, H×W each
	Grads   [][]float32 // d target / dA_c for Top (their means are the weights)
	Scaled  [][]float32 // w_c·A_c for Top
	Sum     []float32   // Σ_c w_c·A_c over every channel, H×W
	Heatmap []float32   // ReLU(Sum)
	// TopShare is the fraction of Σ_c |w_c·A_c| (summed over positions)
	// that the Top channels carry.
	TopShare float32
}

// GradCAMBreakdown computes the breakdown with the top channels by weight.
func GradCAMBreakdown(s *cam.Session, layer string, t cam.Target, top int) (*Breakdown, error) {
	act, err := Activations(s, layer)
	if err != nil {
		return nil, err
	}
	if act.H*act.W == 1 && act.C > 0 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: layer %q has no spatial extent (1×1); Grad-CAM needs a map", act.Layer)
	}
	grad, err := Gradients(s, layer, t)
	if err != nil {
		return nil, err
	}
	b := &Breakdown{Layer: act.Layer, Class: grad.Class, C: act.C, H: act.H, W: act.W}
	b.Score = cam.Target{Kind: t.Kind, Class: grad.Class, Other: t.Other, Weights: t.Weights}.Score(s.Logits(0))
	b.Weights = make([]float32, act.C)
	for c := range b.Weights {
		b.Weights[c] = grad.Stats[c].Weight
	}
	act.WithWeights(grad)
	b.Order, _ = Order(act.Stats, "weight")
	if top <= 0 || top > act.C {
		top = min(act.C, 8)
	}
	b.Top = b.Order[:top]
	hw := act.H * act.W
	b.Sum = make([]float32, hw)
	var total, shown float64
	inTop := map[int]bool{}
	for _, c := range b.Top {
		inTop[c] = true
	}
	for c := 0; c < act.C; c++ {
		w := b.Weights[c]
		for i, a := range act.Channel(c) {
			v := w * a
			b.Sum[i] += v
			if v < 0 {
				v = -v
			}
			total += float64(v)
			if inTop[c] {
				shown += float64(v)
			}
		}
	}
	if total > 0 {
		b.TopShare = float32(shown / total)
	}
	for _, c := range b.Top {
		a := act.Channel(c)
		sc := make([]float32, hw)
		for i, v := range a {
			sc[i] = b.Weights[c] * v
		}
		b.Maps = append(b.Maps, append([]float32(nil), a...))
		b.Grads = append(b.Grads, append([]float32(nil), grad.Channel(c)...))
		b.Scaled = append(b.Scaled, sc)
	}
	b.Heatmap = make([]float32, hw)
	for i, v := range b.Sum {
		b.Heatmap[i] = max(v, 0)
	}
	return b, nil
}

// BreakdownTiles are the breakdown's pictures, uncaptioned, each on its
// own colour scale so that every tile is legible: each top channel's map
// (viridis, MapLo[k]…MapHi[k]), its gradient and its weighted map (RdBu,
// ±GradScale[k] and ±ScaledScale[k], white at 0), then the sum and its
// ReLU (RdBu, both ±Scale so that the ReLU shows what the sum lost).
type BreakdownTiles struct {
	Maps, Grads, Scaled []*image.RGBA // one per channel in Top
	Sum, ReLU           *image.RGBA
	MapLo, MapHi        []float32
	GradScale           []float32
	ScaledScale         []float32
	Scale               float32 // the |value| drawn at full colour in Sum and ReLU
}

// Tiles draws the breakdown's pictures, each map enlarged to about tile
// pixels.
func (b *Breakdown) Tiles(tile int) BreakdownTiles {
	zoom := zoomFor(max(b.H, b.W), tile)
	t := BreakdownTiles{Scale: AbsMax(b.Sum)}
	for k := range b.Top {
		lo, hi := MinMax(b.Maps[k])
		gs, ss := AbsMax(b.Grads[k]), AbsMax(b.Scaled[k])
		t.MapLo, t.MapHi = append(t.MapLo, lo), append(t.MapHi, hi)
		t.GradScale, t.ScaledScale = append(t.GradScale, gs), append(t.ScaledScale, ss)
		t.Maps = append(t.Maps, viz.Upscale(viz.MapImage(Normalize(b.Maps[k], lo, hi), b.W, b.H, viz.Viridis), zoom))
		t.Grads = append(t.Grads, viz.Upscale(signedImage(b.Grads[k], b.W, b.H, gs), zoom))
		t.Scaled = append(t.Scaled, viz.Upscale(signedImage(b.Scaled[k], b.W, b.H, ss), zoom))
	}
	t.Sum = viz.Upscale(signedImage(b.Sum, b.W, b.H, t.Scale), zoom)
	t.ReLU = viz.Upscale(signedImage(b.Heatmap, b.W, b.H, t.Scale), zoom)
	return t
}

// signedImage draws a map with RdBu, ±scale at full colour; an all-zero map
// (scale 0) is white, its zero colour, rather than a range of its own.
func signedImage(m []float32, w, h int, scale float32) *image.RGBA {
	if !(scale > 0) {
		scale = 1
	}
	return viz.SignedMapImage(m, w, h, viz.RdBu, scale)
}

// Picture draws the breakdown in three rows: the top channels' maps, the
// same maps times their weights (captioned with the weight), then the sum
// over all channels and its ReLU.
func (b *Breakdown) Picture(tile int) *image.RGBA {
	t := b.Tiles(tile)
	n := len(b.Top)
	cols := max(n, 2)
	tiles := make([]image.Image, 3*cols)
	for k, c := range b.Top {
		tiles[k] = viz.Caption(t.Maps[k], fmt.Sprintf("A%d", c))
		tiles[cols+k] = viz.Caption(t.Scaled[k], fmt.Sprintf("w=%.3g", b.Weights[c]))
	}
	tiles[2*cols] = viz.Caption(t.Sum, "sum")
	tiles[2*cols+1] = viz.Caption(t.ReLU, "ReLU")
	return viz.Grid(tiles, cols, 2, color.RGBA{40, 40, 40, 255})
}
