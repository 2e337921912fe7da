package inspect

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// FilterModes names the ways filters are drawn.
var FilterModes = []string{"auto", "rgb", "channels", "magnitude"}

// FilterOptions says how to draw a convolution's filters.
type FilterOptions struct {
	// Mode: "rgb" draws each filter's three input channels as one colour
	// picture (grey is zero); "channels" draws a row per filter with one
	// tile per input channel; "magnitude" draws Σ_i |w_i| per filter;
	// "auto" (default) is rgb for a layer with 3 input channels, channels
	// for 1, magnitude otherwise.
	Mode string
	// PerFilter scales each filter to its own max |w|; by default every
	// filter shares the layer's max |w|, so magnitudes compare.
	PerFilter bool
	Max       int           // at most this many filters (0: all)
	MaxInputs int           // "channels" mode: at most this many input channels a filter (0: 16)
	Cols      int           // tiles a row (0: about square; "channels": the input channels)
	Tile      int           // target tile size in pixels (0: 32)
	Colormap  *viz.Colormap // diverging, centred on zero (nil: RdBu)
	Labels    bool          // caption each filter with its number
}

// ResolveMode turns "auto" (or "") into the mode used for this layer.
func (c *ConvLayer) ResolveMode(mode string) (string, error) {
	in := c.Weight.Shape()[1]
	switch mode {
	case "", "auto":
		switch in {
		case 3:
			return "rgb", nil
		case 1:
			return "channels", nil
		}
		return "magnitude", nil
	case "rgb":
		if in != 3 {
			return "", kind.Errorf(ErrBadOption, "inspect: layer %q has %d input channels a filter; rgb needs 3 (use channels or magnitude)", c.Output, in)
		}
		return mode, nil
	case "channels", "magnitude":
		return mode, nil
	}
	return "", kind.Errorf(ErrBadOption, "inspect: unknown filter mode %q (%v)", mode, FilterModes)
}

// FilterTiles draws each filter (up to opt.Max) as one picture; in
// "channels" mode each filter gives one tile per input channel, row after
// row, and the second result is the number of tiles a filter.
func (c *ConvLayer) FilterTiles(opt FilterOptions) ([]image.Image, int, error) {
	mode, err := c.ResolveMode(opt.Mode)
	if err != nil {
		return nil, 0, err
	}
	sh := c.Weight.Shape()
	o, in, kh, kw := sh[0], sh[1], sh[2], sh[3]
	w := c.Weight.F32()
	if opt.Max > 0 {
		o = min(o, opt.Max)
	}
	cm := viz.RdBu
	if opt.Colormap != nil {
		cm = *opt.Colormap
	}
	tile := opt.Tile
	if tile <= 0 {
		tile = 32
	}
	zoom := zoomFor(max(kh, kw), tile)
	k := kh * kw
	filter := func(f int) []float32 { return w[f*in*k : (f+1)*in*k] }
	mag := func(f int) []float32 {
		out := make([]float32, k)
		src := filter(f)
		for i := 0; i < in; i++ {
			for j := 0; j < k; j++ {
				out[j] += float32(math.Abs(float64(src[i*k+j])))
			}
		}
		return out
	}
	// scale of filter f
	var shared float32
	scaleOf := func(f int) float32 {
		if mode == "magnitude" {
			_, m := MinMax(mag(f))
			return m
		}
		m := AbsMax(filter(f))
		return m
	}
	for f := 0; f < sh[0]; f++ {
		shared = max(shared, scaleOf(f))
	}
	var tiles []image.Image
	per := 1
	for f := 0; f < o; f++ {
		s := shared
		if opt.PerFilter {
			s = scaleOf(f)
		}
		var imgs []*image.RGBA
		switch mode {
		case "rgb":
			imgs = append(imgs, rgbFilter(filter(f), kh, kw, s))
		case "magnitude":
			imgs = append(imgs, viz.SignedMapImage(mag(f), kw, kh, cm, s))
		case "channels":
			n := in
			if mx := opt.MaxInputs; mx > 0 {
				n = min(n, mx)
			} else {
				n = min(n, 16)
			}
			per = n
			for i := 0; i < n; i++ {
				imgs = append(imgs, viz.SignedMapImage(filter(f)[i*k:(i+1)*k], kw, kh, cm, s))
			}
		}
		for i, img := range imgs {
			var t image.Image = viz.Upscale(img, zoom)
			if opt.Labels {
				label := fmt.Sprint(f)
				if mode == "channels" {
					label = fmt.Sprintf("%d:%d", f, i)
				}
				t = viz.Caption(t, label)
			}
			tiles = append(tiles, t)
		}
	}
	return tiles, per, nil
}

// FilterPicture draws the filters as one grid.
func (c *ConvLayer) FilterPicture(opt FilterOptions) (*image.RGBA, error) {
	tiles, per, err := c.FilterTiles(opt)
	if err != nil {
		return nil, err
	}
	cols := opt.Cols
	if per > 1 {
		cols = per
	}
	return viz.Grid(tiles, cols, 2, color.RGBA{40, 40, 40, 255}), nil
}

// rgbFilter draws a 3×kh×kw filter as colour: 0 is mid grey, ±scale the
// channel's extremes.
func rgbFilter(w []float32, kh, kw int, scale float32) *image.RGBA {
	k := kh * kw
	img := image.NewRGBA(image.Rect(0, 0, kw, kh))
	for j := 0; j < k; j++ {
		for ch := 0; ch < 3; ch++ {
			v := float32(0.5)
			if scale > 0 {
				v = 0.5 + 0.5*w[ch*k+j]/scale
			}
			img.Pix[4*j+ch] = uint8(min(max(v*255+0.5, 0), 255))
		}
		img.Pix[4*j+3] = 255
	}
	return img
}
