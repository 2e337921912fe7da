package cam

import (
	"fmt"
	"math"
	"strings"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// The layouts a layer's value may have (Request.Layout). The layer methods
// work on N×C×h×w maps; a value laid out otherwise is mapped to one first,
// and its gradient through the same mapping, as pytorch-grad-cam's
// reshape_transform does.
const (
	// LayoutAuto is nchw for a 4-D value and tokens for a 3-D one.
	LayoutAuto = "auto"
	// LayoutNCHW is a convolutional map, N×C×H×W, used as it is.
	LayoutNCHW = "nchw"
	// LayoutNHWC is N×H×W×C (Swin, ConvNeXt blocks), permuted to N×C×H×W.
	LayoutNHWC = "nhwc"
	// LayoutTokens is a transformer's N×T×C tokens: a leading class token
	// is dropped when T−1 is a perfect square, and the other tokens are laid
	// out row by row on a √T×√T grid, channels first (pytorch-grad-cam's
	// vit_reshape_transform). A token count that is not a square is laid
	// out on the grid of the input's aspect ratio when it has one.
	LayoutTokens = "tokens"
)

// Layouts lists the layout names, auto first.
func Layouts() []string { return []string{LayoutAuto, LayoutNCHW, LayoutNHWC, LayoutTokens} }

// AutoLayout is the layout auto gives a layer of the given shape (batch
// first) for an input of inH×inW, with its grid: nchw for a 4-D value,
// tokens for a 3-D one whose tokens make a grid; "" when the layer methods
// cannot use the layer under auto.
func AutoLayout(shape []int, inH, inW int) (layout string, h, w int) {
	// Only 4-D and 3-D values can have one: the others are answered here
	// without building newLayerMap's error (a model's load asks for every
	// layer, and most classifiers end in 2-D ones).
	if len(shape) != 4 && len(shape) != 3 {
		return "", 0, 0
	}
	m, err := newLayerMap(LayoutAuto, "", shape, shape[0], inH, inW)
	if err != nil {
		return "", 0, 0
	}
	return m.layout, m.h, m.w
}

// layerMap maps a layer's value (its raw layout) to the N×C×h×w map the
// methods see.
type layerMap struct {
	layout     string // nchw, nhwc or tokens (resolved)
	n, c, h, w int
	skip       int // tokens before the grid (a class token): 0 or 1
	raw        []int
}

// newLayerMap resolves a layout for a value of the given shape; inH and
// inW are the input's size (for a token grid that is not square).
func newLayerMap(layout, layer string, shape []int, n, inH, inW int) (*layerMap, error) {
	if layout == "" {
		layout = LayoutAuto
	}
	bad := func(format string, a ...any) error {
		return kind.Errorf(model.ErrBadLayer, "cam: layer %q has shape %s: %s", layer, tensor.ShapeString(shape), fmt.Sprintf(format, a...))
	}
	switch layout {
	case LayoutAuto:
		switch len(shape) {
		case 4:
			layout = LayoutNCHW
		case 3:
			layout = LayoutTokens
		default:
			return nil, bad("not a spatial map (N×C×H×W) nor tokens (N×T×C); pick a convolutional layer or a transformer block's output")
		}
	case LayoutNCHW, LayoutNHWC, LayoutTokens:
	default:
		return nil, kind.Errorf(ErrBadRequest, "cam: unknown layout %q; the layouts are %s", layout, strings.Join(Layouts(), ", "))
	}
	m := &layerMap{layout: layout, raw: append([]int(nil), shape...)}
	switch layout {
	case LayoutNCHW, LayoutNHWC:
		if len(shape) != 4 {
			return nil, bad("layout %s needs a 4-D value", layout)
		}
		m.n, m.c, m.h, m.w = shape[0], shape[1], shape[2], shape[3]
		if layout == LayoutNHWC {
			m.h, m.w, m.c = shape[1], shape[2], shape[3]
		}
	case LayoutTokens:
		if len(shape) != 3 {
			return nil, bad("layout tokens needs a 3-D value, N×T×C")
		}
		m.n, m.c = shape[0], shape[2]
		t := shape[1]
		if g := isqrt(t - 1); t > 1 && g*g == t-1 {
			m.skip, m.h, m.w = 1, g, g
		} else if g := isqrt(t); g*g == t {
			m.h, m.w = g, g
		} else if h, w, ok := aspectGrid(t-1, inH, inW); t > 1 && ok {
			m.skip, m.h, m.w = 1, h, w
		} else if h, w, ok := aspectGrid(t, inH, inW); ok {
			m.h, m.w = h, w
		} else {
			return nil, bad("%d tokens neither make a square grid (with or without a leading class token) nor one of the input's aspect ratio %d×%d", t, inH, inW)
		}
	}
	if m.n != n {
		return nil, bad("its first axis is not the batch of %d images", n)
	}
	if m.c == 0 || m.h*m.w == 0 {
		return nil, bad("an empty map")
	}
	return m, nil
}

// isqrt is ⌊√x⌋ for x ≥ 0, −1 for x < 0.
func isqrt(x int) int {
	if x < 0 {
		return -1
	}
	r := int(math.Sqrt(float64(x)))
	for r*r > x {
		r--
	}
	for (r+1)*(r+1) <= x {
		r++
	}
	return r
}

// aspectGrid finds h×w = t with h:w = inH:inW.
func aspectGrid(t, inH, inW int) (h, w int, ok bool) {
	if t <= 0 || inH <= 0 || inW <= 0 {
		return 0, 0, false
	}
	for h = 1; h*h <= t*inH/inW+1 && h <= t; h++ {
		if t%h == 0 && h*inW == (t/h)*inH {
			return h, t / h, true
		}
	}
	return 0, 0, false
}

// index is the raw value's flat index of channel ch at grid position i of
// image b.
func (m *layerMap) index(b, ch, i int) int {
	hw := m.h * m.w
	switch m.layout {
	case LayoutNHWC:
		return (b*hw+i)*m.c + ch
	case LayoutTokens:
		t := hw + m.skip
		return (b*t+m.skip+i)*m.c + ch
	}
	return (b*m.c+ch)*hw + i
}

// toCHW maps a raw value (the activation or its gradient) to N×C×h×w.
func (m *layerMap) toCHW(v *tensor.T) *tensor.T {
	if m.layout == LayoutNCHW {
		return v
	}
	src := v.F32()
	hw := m.h * m.w
	out := tensor.New(m.n, m.c, m.h, m.w)
	dst := out.F32()
	for b := 0; b < m.n; b++ {
		for ch := 0; ch < m.c; ch++ {
			plane := dst[(b*m.c+ch)*hw:][:hw]
			for i := range plane {
				plane[i] = src[m.index(b, ch, i)]
			}
		}
	}
	return out
}

// fillChannel sets channel ch of one image's raw value (the raw shape
// without its batch axis) to v everywhere: every grid position, and a
// class token too, as pytorch-grad-cam's AblationLayer (N×C×H×W) and
// AblationLayerVit (the last axis) ablate.
func (m *layerMap) fillChannel(img []float32, ch int, v float32) {
	if m.layout == LayoutNCHW {
		hw := m.h * m.w
		plane := img[ch*hw : (ch+1)*hw]
		for i := range plane {
			plane[i] = v
		}
		return
	}
	for i := ch; i < len(img); i += m.c {
		img[i] = v
	}
}
