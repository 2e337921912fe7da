// Package viz turns maps and tensors into pictures the way pytorch-grad-cam
// does: OpenCV-exact colormaps, show_cam_on_image, deprocess_image, and the
// small helpers a report needs (grids, nearest-neighbour upscaling,
// captions, PNG encoding).
//
// Every function takes and returns plain image.Image values; maps are
// row-major []float32 planes.
package viz

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"
)

// Colormap maps a value in 0..1 to a colour through a 256-entry table. The
// zero Colormap maps everything to black; use the package variables or
// ColormapByName.
type Colormap struct {
	name string
	lut  *[256]color.RGBA
}

// The built-in colormaps. Jet, Turbo, Viridis and Inferno are bit-identical
// to cv2.applyColorMap with COLORMAP_JET, COLORMAP_TURBO, COLORMAP_VIRIDIS
// and COLORMAP_INFERNO (OpenCV 4.x), the tables pytorch-grad-cam's
// show_cam_on_image uses. RdBu (blue–white–red, matplotlib's "RdBu_r") and
// Seismic (matplotlib's "seismic") are diverging maps for signed data; they
// equal matplotlib's cmap(i, bytes=True) for i in 0..255.
var (
	Jet     = Colormap{"jet", opencvLUT(256, jetControl)}
	Turbo   = Colormap{"turbo", opencvLUT(256, tableControl(&turboData))}
	Viridis = Colormap{"viridis", opencvLUT(256, tableControl(&viridisData))}
	Inferno = Colormap{"inferno", opencvLUT(256, tableControl(&infernoData))}
	Gray    = Colormap{"gray", grayLUT()}
	RdBu    = Colormap{"rdbu", matplotlibLUT(rdbuAnchors, true)}
	Seismic = Colormap{"seismic", matplotlibLUT(seismicAnchors, false)}
)

var colormaps = map[string]Colormap{
	"jet": Jet, "turbo": Turbo, "viridis": Viridis, "inferno": Inferno,
	"gray": Gray, "rdbu": RdBu, "seismic": Seismic,
}

// aliases maps other common spellings to a built-in name.
var aliases = map[string]string{"grey": "gray", "rdbu_r": "rdbu"}

// ColormapByName returns a built-in colormap: "jet", "turbo", "viridis",
// "inferno", "gray" or the diverging "rdbu" and "seismic" (case-insensitive;
// "grey" and "rdbu_r" are accepted too).
func ColormapByName(name string) (Colormap, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[key]; ok {
		key = a
	}
	if cm, ok := colormaps[key]; ok {
		return cm, nil
	}
	return Colormap{}, fmt.Errorf("viz: unknown colormap %q (want one of %s)", name, strings.Join(ColormapNames(), ", "))
}

// ColormapNames lists the names ColormapByName accepts, sorted.
func ColormapNames() []string {
	names := make([]string, 0, len(colormaps))
	for n := range colormaps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Name returns the colormap's name ("" for the zero Colormap).
func (c Colormap) Name() string { return c.name }

// String returns the colormap's name.
func (c Colormap) String() string { return c.name }

// Table returns a copy of the 256-entry lookup table.
func (c Colormap) Table() [256]color.RGBA {
	if c.lut == nil {
		var t [256]color.RGBA
		for i := range t {
			t[i].A = 255
		}
		return t
	}
	return *c.lut
}

// LUTIndex returns the table entry Lookup uses for v: v clamped to 0..1, then
// ⌊255·v⌋ computed in float32, as np.uint8(255*mask) does for a float32
// mask. It returns -1 for NaN.
func LUTIndex(v float32) int {
	switch {
	case v != v:
		return -1
	case v <= 0:
		return 0
	case v >= 1:
		return 255
	}
	return int(float32(255 * v))
}

// Lookup returns the colour for v in 0..1. Values outside are clamped; NaN
// gives opaque black.
func (c Colormap) Lookup(v float32) color.RGBA {
	i := LUTIndex(v)
	if i < 0 || c.lut == nil {
		return color.RGBA{A: 255}
	}
	return c.lut[i]
}

// jetControl returns OpenCV's 256 Jet control points (class Jet in
// modules/imgproc/src/colormap.cpp) as float32. OpenCV spells them out as
// decimal literals; they are the piecewise-linear ramps below (slope 4/255,
// offsets of half a step), and the table built from them equals
// cv2.applyColorMap's entry for entry (see TestTablesMatchReference).
func jetControl(i int) [3]float32 {
	k := float64(i)
	var r, g, b float64
	switch {
	case i < 96:
		r = 0
	case i < 160:
		r = (4*(k-96) + 1.5) / 255
	case i < 224:
		r = 1
	default:
		r = (251.5 - 4*(k-224)) / 255
	}
	switch {
	case i < 32:
		g = 0
	case i < 96:
		g = (4*(k-32) + 0.5) / 255
	case i < 160:
		g = 1
	case i < 224:
		g = (252.5 - 4*(k-160)) / 255
	default:
		g = 0
	}
	switch {
	case i < 32:
		b = (127.5 + 4*k) / 255
	case i < 96:
		b = 1
	case i < 160:
		b = (253.5 - 4*(k-96)) / 255
	default:
		b = 0
	}
	return [3]float32{float32(r), float32(g), float32(b)}
}

// tableControl reads control points from a published 256×3 table.
func tableControl(t *[256][3]float32) func(int) [3]float32 {
	return func(i int) [3]float32 { return t[i] }
}

// cvLinspace is OpenCV's float32 linspace: x0 + i·((x1−x0)/(n−1)).
func cvLinspace(n int) []float32 {
	pts := make([]float32, n)
	step := float32(1) / float32(n-1)
	for i := range pts {
		pts[i] = float32(float32(i) * step)
	}
	return pts
}

// opencvLUT builds a table the way OpenCV's ColorMap::linear_colormap does:
// n control points at linspace(0, 1, n) are interpolated (interp1_, float32
// arithmetic) at linspace(0, 1, 256), then converted with
// convertTo(CV_8U, 255): v·255 in float32, rounded half to even, saturated.
func opencvLUT(n int, ctrl func(int) [3]float32) *[256]color.RGBA {
	x := cvLinspace(n)
	xi := cvLinspace(256)
	var lut [256]color.RGBA
	for i, v := range xi {
		low, high := 0, n-1
		if v < x[low] {
			high = 1
		}
		if v > x[high] {
			low = high - 1
		}
		for high-low > 1 {
			c := low + (high-low)>>1
			if v > x[c] {
				low = c
			} else {
				high = c
			}
		}
		yl, yh := ctrl(low), ctrl(high)
		var rgb [3]uint8
		for ch := 0; ch < 3; ch++ {
			num := float32((v - x[low]) * (yh[ch] - yl[ch]))
			y := yl[ch] + num/(x[high]-x[low])
			rgb[ch] = saturateRound(float32(y * 255))
		}
		lut[i] = color.RGBA{rgb[0], rgb[1], rgb[2], 255}
	}
	return &lut
}

// saturateRound is OpenCV's saturate_cast<uchar>(float): round half to even,
// clamp to 0..255.
func saturateRound(v float32) uint8 {
	r := math.RoundToEven(float64(v))
	switch {
	case r <= 0 || r != r:
		return 0
	case r >= 255:
		return 255
	}
	return uint8(r)
}

func grayLUT() *[256]color.RGBA {
	var lut [256]color.RGBA
	for i := range lut {
		lut[i] = color.RGBA{uint8(i), uint8(i), uint8(i), 255}
	}
	return &lut
}

// rdbuAnchors is ColorBrewer's 11-class RdBu (Cynthia Brewer, Apache-2.0),
// as matplotlib's _RdBu_data lists it: dark red to dark blue.
var rdbuAnchors = [][3]float64{
	{103. / 255, 0. / 255, 31. / 255},
	{178. / 255, 24. / 255, 43. / 255},
	{214. / 255, 96. / 255, 77. / 255},
	{244. / 255, 165. / 255, 130. / 255},
	{253. / 255, 219. / 255, 199. / 255},
	{247. / 255, 247. / 255, 247. / 255},
	{209. / 255, 229. / 255, 240. / 255},
	{146. / 255, 197. / 255, 222. / 255},
	{67. / 255, 147. / 255, 195. / 255},
	{33. / 255, 102. / 255, 172. / 255},
	{5. / 255, 48. / 255, 97. / 255},
}

// seismicAnchors is matplotlib's _seismic_data: dark blue, blue, white,
// red, dark red.
var seismicAnchors = [][3]float64{
	{0, 0, 0.3}, {0, 0, 1}, {1, 1, 1}, {1, 0, 0}, {0.5, 0, 0},
}

// npLinspace is numpy's float64 linspace(0, 1, n): i·(1/(n−1)), the last
// point exactly 1.
func npLinspace(n int) []float64 {
	out := make([]float64, n)
	step := 1 / float64(n-1)
	for i := range out {
		out[i] = float64(i) * step
	}
	out[n-1] = 1
	return out
}

// matplotlibLUT builds a 256-entry table as matplotlib does for
// LinearSegmentedColormap.from_list(anchors) (anchors evenly spaced), or its
// reversed() when reverse is set, followed by cmap(i, bytes=True):
// _create_lookup_table's float64 interpolation on the 0..255 scale, then
// (lut·255) truncated.
func matplotlibLUT(anchors [][3]float64, reverse bool) *[256]color.RGBA {
	k := len(anchors)
	xs := npLinspace(k)
	ys := make([][3]float64, k)
	copy(ys, anchors)
	if reverse {
		rx := make([]float64, k)
		ry := make([][3]float64, k)
		for j := 0; j < k; j++ {
			rx[j] = 1.0 - xs[k-1-j]
			ry[j] = anchors[k-1-j]
		}
		xs, ys = rx, ry
	}
	for j := range xs {
		xs[j] *= 255
	}
	xind := npLinspace(256)
	for j := range xind {
		xind[j] *= 255
	}
	var lut [256]color.RGBA
	for i, v := range xind {
		var rgb [3]float64
		switch i {
		case 0:
			rgb = ys[0]
		case 255:
			rgb = ys[k-1]
		default:
			// np.searchsorted(x, v, side="left"): first index with x ≥ v.
			ind := sort.SearchFloat64s(xs, v)
			dist := float64(v-xs[ind-1]) / float64(xs[ind]-xs[ind-1])
			for ch := 0; ch < 3; ch++ {
				rgb[ch] = float64(dist*(ys[ind][ch]-ys[ind-1][ch])) + ys[ind-1][ch]
			}
		}
		var px [3]uint8
		for ch, f := range rgb {
			f = math.Min(math.Max(f, 0), 1)
			px[ch] = uint8(float64(f * 255))
		}
		lut[i] = color.RGBA{px[0], px[1], px[2], 255}
	}
	return &lut
}
