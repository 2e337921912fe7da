package inspect

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// Maps is one layer's feature maps (or their gradients) for the first image
// of a session.
type Maps struct {
	Layer   string // value name
	C, H, W int    // a 2-D output (N×C) counts as C maps of 1×1
	Values  []float32
	// Grad marks d target / d activation; Class is then the target class.
	Grad  bool
	Class int
	Stats []ChannelStat
}

// Channel returns channel c's H×W values.
func (m *Maps) Channel(c int) []float32 { return m.Values[c*m.H*m.W : (c+1)*m.H*m.W] }

// ChannelStat summarises one channel.
type ChannelStat struct {
	Channel int     `json:"channel"`
	Mean    float32 `json:"mean"`
	Min     float32 `json:"min"`
	Max     float32 `json:"max"`
	// Weight is the channel's Grad-CAM weight (the spatial mean of the
	// target's gradient), when gradients were computed.
	Weight float32 `json:"weight"`
}

// Activations returns a layer's output for the session's first image.
func Activations(s *cam.Session, layer string) (*Maps, error) {
	a, v, err := s.Activation(layer)
	if err != nil {
		return nil, err
	}
	return newMaps(v, a, false, -1)
}

// Gradients returns d target / d layer output for the session's first
// image, with each channel's Grad-CAM weight in Stats.
func Gradients(s *cam.Session, layer string, t cam.Target) (*Maps, error) {
	_, v, err := s.Activation(layer)
	if err != nil {
		return nil, err
	}
	ts, err := s.ResolveTargets([]cam.Target{t})
	if err != nil {
		return nil, err
	}
	g, _, err := s.Gradients(ts, []string{v})
	if err != nil {
		return nil, err
	}
	m, err := newMaps(v, g[v], true, ts[0].Class)
	if err != nil {
		return nil, err
	}
	for i := range m.Stats {
		m.Stats[i].Weight = m.Stats[i].Mean
	}
	return m, nil
}

// WithWeights copies Grad-CAM weights from gradient maps into activation
// maps' stats (so activations can be sorted by weight).
func (m *Maps) WithWeights(g *Maps) error {
	if g.C != m.C {
		return fmt.Errorf("inspect: %d gradient channels for %d activation channels", g.C, m.C)
	}
	for i := range m.Stats {
		m.Stats[i].Weight = g.Stats[i].Weight
	}
	return nil
}

func newMaps(v string, t *tensor.T, grad bool, class int) (*Maps, error) {
	sh := t.Shape()
	m := &Maps{Layer: v, Grad: grad, Class: class}
	switch len(sh) {
	case 4:
		m.C, m.H, m.W = sh[1], sh[2], sh[3]
	case 2:
		m.C, m.H, m.W = sh[1], 1, 1
	default:
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: layer %q has shape %s; feature maps need N×C×H×W (or N×C)", v, tensor.ShapeString(sh))
	}
	if t.DType() != tensor.Float32 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: layer %q holds %s values, not float32", v, t.DType())
	}
	n := m.C * m.H * m.W
	m.Values = append([]float32(nil), t.F32()[:n]...)
	m.Stats = make([]ChannelStat, m.C)
	for c := range m.Stats {
		ch := m.Channel(c)
		st := ChannelStat{Channel: c, Min: ch[0], Max: ch[0]}
		var sum float64
		for _, x := range ch {
			sum += float64(x)
			st.Min = min(st.Min, x)
			st.Max = max(st.Max, x)
		}
		st.Mean = float32(sum / float64(len(ch)))
		m.Stats[c] = st
	}
	return m, nil
}

// OrderBy names the channel orders Order accepts.
var OrderBy = []string{"index", "mean", "max", "weight", "abs-weight"}

// Order returns channel indices sorted by a statistic, largest first
// ("index" keeps 0, 1, 2, …).
func Order(stats []ChannelStat, by string) ([]int, error) {
	key := map[string]func(ChannelStat) float32{
		"index":      func(s ChannelStat) float32 { return -float32(s.Channel) },
		"mean":       func(s ChannelStat) float32 { return s.Mean },
		"max":        func(s ChannelStat) float32 { return s.Max },
		"weight":     func(s ChannelStat) float32 { return s.Weight },
		"abs-weight": func(s ChannelStat) float32 { return float32(math.Abs(float64(s.Weight))) },
	}[by]
	if key == nil {
		return nil, kind.Errorf(ErrBadOption, "inspect: unknown channel order %q (%v)", by, OrderBy)
	}
	idx := make([]int, len(stats))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return key(stats[idx[i]]) > key(stats[idx[j]]) })
	return idx, nil
}

// GridOptions controls a grid picture of channels or filters.
type GridOptions struct {
	Order    []int         // channels to draw, in order (nil: all, by index)
	Max      int           // at most this many tiles (0: all)
	Cols     int           // tiles a row (0: about square)
	Tile     int           // target tile size in pixels (0: 48); maps are enlarged by an integer factor
	Colormap *viz.Colormap // nil: viridis for activations, RdBu for gradients and weights
	// Shared uses one scale for every tile (comparable magnitudes); false
	// scales each tile to its own range.
	Shared bool
	Labels bool // caption each tile with its channel number
}

// Picture draws the maps as a grid: activations with a sequential colormap
// (each tile min-max scaled, or one scale for all with Shared), gradients
// with a diverging one centred on zero.
func (m *Maps) Picture(opt GridOptions) *image.RGBA {
	tiles := m.Tiles(opt)
	return viz.Grid(tiles, opt.Cols, 2, color.RGBA{40, 40, 40, 255})
}

// Tiles draws each channel in opt.Order as its own picture.
func (m *Maps) Tiles(opt GridOptions) []image.Image {
	order := opt.Order
	if order == nil {
		order = make([]int, m.C)
		for i := range order {
			order[i] = i
		}
	}
	if opt.Max > 0 && len(order) > opt.Max {
		order = order[:opt.Max]
	}
	signed := m.Grad
	cm := viz.Viridis
	if signed {
		cm = viz.RdBu
	}
	if opt.Colormap != nil {
		cm = *opt.Colormap
	}
	var lo, hi, absMax float32
	if opt.Shared {
		lo, hi = MinMax(m.Values)
		absMax = max(-lo, hi)
	}
	zoom := zoomFor(max(m.H, m.W), opt.Tile)
	tiles := make([]image.Image, 0, len(order))
	for _, c := range order {
		ch := m.Channel(c)
		var img *image.RGBA
		if signed {
			img = viz.SignedMapImage(ch, m.W, m.H, cm, absMax)
		} else {
			l, h := lo, hi
			if !opt.Shared {
				l, h = MinMax(ch)
			}
			img = viz.MapImage(Normalize(ch, l, h), m.W, m.H, cm)
		}
		var t image.Image = viz.Upscale(img, zoom)
		if opt.Labels {
			t = viz.Caption(t, fmt.Sprint(c))
		}
		tiles = append(tiles, t)
	}
	return tiles
}

// zoomFor is the integer enlargement that brings side pixels near tile.
func zoomFor(side, tile int) int {
	if tile <= 0 {
		tile = 48
	}
	return max(1, tile/max(side, 1))
}
