package viz

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/cnnlens/cnnlens/engine/imgproc"
)

// ShowCAMOnImage overlays a class activation map on an image, as
// pytorch-grad-cam's show_cam_on_image(img, mask, use_rgb=True, colormap,
// image_weight) does with img = RGB/255 in float32:
//
//	heatmap = colormap(uint8(255·mask)) / 255
//	cam     = (1 − image_weight)·heatmap + image_weight·img
//	out     = uint8(255 · cam / max(cam))
//
// all in float32 with truncating conversions, so the result matches the
// reference byte for byte. mask is mh×mw, row-major, in 0..1 (values
// outside are clamped, NaN shows black); when its size differs from the
// image's it is first resized bilinearly with half-pixel centres
// (cv2.resize). Transparent pixels use their unpremultiplied colour. The
// result is opaque and has its origin at (0, 0).
func ShowCAMOnImage(img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32) (*image.RGBA, error) {
	return showCAM(img, mask, mw, mh, cm, imageWeight, nil)
}

// ShowCAMOnImageHeat is ShowCAMOnImage and MapImage(mask, mw, mh, cm) at
// once: when the mask has the image's size, the heatmap's colours are
// written in the overlay's first pass instead of being looked up again.
func ShowCAMOnImageHeat(img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32) (overlay, heat *image.RGBA, err error) {
	if img != nil && len(mask) == mw*mh && mw == img.Bounds().Dx() && mh == img.Bounds().Dy() {
		heat = image.NewRGBA(image.Rect(0, 0, mw, mh))
		overlay, err = showCAM(img, mask, mw, mh, cm, imageWeight, heat)
		if err != nil {
			return nil, nil, err
		}
		return overlay, heat, nil
	}
	overlay, err = showCAM(img, mask, mw, mh, cm, imageWeight, nil)
	if err != nil {
		return nil, nil, err
	}
	return overlay, MapImage(mask, mw, mh, cm), nil
}

// showCAM is ShowCAMOnImage; heat, when not nil, receives the mask's
// colours (the mask then has the image's size).
func showCAM(img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32, heat *image.RGBA) (*image.RGBA, error) {
	if img == nil {
		return nil, fmt.Errorf("viz: no image to draw the CAM on")
	}
	if mw <= 0 || mh <= 0 || len(mask) != mw*mh {
		return nil, fmt.Errorf("viz: the mask has %d values; a %d×%d mask needs %d", len(mask), mw, mh, mw*mh)
	}
	if !(imageWeight >= 0 && imageWeight <= 1) {
		return nil, fmt.Errorf("viz: image_weight should be in the range [0, 1], got %v", imageWeight)
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("viz: the image has no pixels (%d×%d)", w, h)
	}
	if mw != w || mh != h {
		resized := make([]float32, w*h)
		imgproc.ResizeBilinear(mask, mh, mw, resized, h, w, false)
		mask = resized
	}

	// (1 - image_weight) is a Python float before numpy casts it to float32.
	hw := float32(1 - float64(imageWeight))
	iw := imageWeight
	// The two products of each channel's blend, by byte value.
	var bt blendTables
	for v := range bt.heat {
		bt.heat[v] = float32(hw * div255[v])
		bt.img[v] = float32(iw * div255[v])
	}
	pix := rgbBytes(img)
	mask = mask[:w*h]
	// Two passes over the same float32 expressions (so the same values):
	// the first finds max(cam), the second writes 255·cam/max(cam). This
	// keeps no float copy of the picture, which in wasm costs more than
	// computing the blend twice. Each pass runs a row at a time in its own
	// function: V8 compiles a wasm function's faster code only for its later
	// calls, so a loop over the whole picture in one call would run in the
	// baseline tier to the end the first time.
	var peak float32
	for y := 0; y < h; y++ {
		var hrow []uint8
		if heat != nil {
			hrow = heat.Pix[4*y*w : 4*(y+1)*w]
		}
		if v := blendRowPeak(mask[y*w:(y+1)*w], pix[3*y*w:3*(y+1)*w], cm, &bt, hrow); v > peak {
			peak = v
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		blendRow(out.Pix[4*y*w:4*(y+1)*w], mask[y*w:(y+1)*w], pix[3*y*w:3*(y+1)*w], cm, &bt, peak)
	}
	return out, nil
}

// blendTables hold float32(hw·k/255) and float32(iw·k/255) for each byte
// value k: the two terms of show_cam_on_image's blend.
type blendTables struct{ heat, img [256]float32 }

// blend is show_cam_on_image's (1 − image_weight)·heatmap + image_weight·img
// for one pixel, in float32.
func blend(hc color.RGBA, p []uint8, t *blendTables) (r, g, b float32) {
	r = t.heat[hc.R] + t.img[p[0]]
	g = t.heat[hc.G] + t.img[p[1]]
	b = t.heat[hc.B] + t.img[p[2]]
	return r, g, b
}

// blendRowPeak is the largest blended value of a row (0 for none above 0);
// it writes the row's colours into heat unless heat is nil.
//
//go:noinline
func blendRowPeak(mask []float32, pix []uint8, cm Colormap, t *blendTables, heat []uint8) float32 {
	var peak float32
	for i, m := range mask {
		hc := cm.Lookup(m)
		if heat != nil {
			setPix(heat, i, hc)
		}
		r, g, b := blend(hc, pix[3*i:3*i+3:3*i+3], t)
		if r > peak {
			peak = r
		}
		if g > peak {
			peak = g
		}
		if b > peak {
			peak = b
		}
	}
	return peak
}

// blendRow writes a row of the overlay, scaled so that peak is 255 (black
// when peak is not positive), opaque.
//
//go:noinline
func blendRow(out []uint8, mask []float32, pix []uint8, cm Colormap, t *blendTables, peak float32) {
	if !(peak > 0) {
		for i := range mask {
			out[4*i+3] = 255
		}
		return
	}
	for i, m := range mask {
		r, g, b := blend(cm.Lookup(m), pix[3*i:3*i+3:3*i+3], t)
		o := out[4*i : 4*i+4 : 4*i+4]
		// 0 ≤ r, g, b ≤ peak (the blend's terms are not negative and peak
		// is their largest sum), so each scaled value is in 0..255 and the
		// conversion truncates as truncU8 does.
		o[0] = uint8(float32(255 * (r / peak)))
		o[1] = uint8(float32(255 * (g / peak)))
		o[2] = uint8(float32(255 * (b / peak)))
		o[3] = 255
	}
}

// MapImage colours an h×w map of values in 0..1 (row-major) with cm; values
// outside are clamped and NaN is black. It panics if m is shorter than w·h.
func MapImage(m []float32, w, h int, cm Colormap) *image.RGBA {
	checkPlane("MapImage", len(m), w, h)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range m[:w*h] {
		setPix(out.Pix, i, cm.Lookup(v))
	}
	return out
}

// SignedMapImage colours an h×w map of signed values (kernel weights,
// gradients) with a diverging colormap: −scale maps to the table's first
// entry, 0 to its centre and +scale to its last, with values beyond
// clamped. A scale ≤ 0 means max |m| (an all-zero map shows the centre
// colour). It panics if m is shorter than w·h.
func SignedMapImage(m []float32, w, h int, cm Colormap, scale float32) *image.RGBA {
	checkPlane("SignedMapImage", len(m), w, h)
	m = m[:w*h]
	if !(scale > 0) {
		scale = 0
		for _, v := range m {
			if a := float32(math.Abs(float64(v))); a > scale {
				scale = a
			}
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range m {
		u := float32(0.5)
		if scale > 0 && !math.IsInf(float64(scale), 0) {
			u = float32(0.5) + float32(0.5*(v/scale))
		}
		if v != v {
			u = v
		}
		setPix(out.Pix, i, cm.Lookup(u))
	}
	return out
}

// DeprocessImage turns a guided-backprop gradient (h×w×c, channels last,
// c = 3 for RGB or 1 for grey) into a picture with pytorch-grad-cam's
// deprocess_image:
//
//	img = (img − mean) / (std + 1e-5) · 0.1 + 0.5, clipped to 0..1
//	out = uint8(255 · img)
//
// with mean and std over every value, computed as numpy does for float32
// (pairwise sums in blocks of 8192, float32 throughout, NumPy 2 scalar
// rules). It panics if len(hwc) is not w·h·1 or w·h·3.
func DeprocessImage(hwc []float32, w, h int) *image.RGBA {
	c := channelsOf("DeprocessImage", len(hwc), w, h)
	n := len(hwc)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	if n == 0 {
		return out
	}
	mean := npSum32(hwc) / float32(n)
	centred := make([]float32, n)
	for i, v := range hwc {
		centred[i] = v - mean
	}
	// np.std of the centred values: its own mean, squared deviations.
	mean2 := npSum32(centred) / float32(n)
	sq := make([]float32, n)
	for i, v := range centred {
		d := v - mean2
		sq[i] = float32(d * d)
	}
	std := float32(math.Sqrt(float64(npSum32(sq) / float32(n))))
	den := std + float32(1e-5)
	for i, v := range centred {
		u := float32(float32(v/den)*float32(0.1)) + 0.5
		u = min(max(u, 0), 1)
		q := truncU8(float32(u * 255))
		p := i / c
		o := out.Pix[4*p : 4*p+4 : 4*p+4]
		if c == 1 {
			o[0], o[1], o[2] = q, q, q
		} else {
			o[i%c] = q
		}
		o[3] = 255
	}
	return out
}

// ToRGBAFromPlanes turns an N=1 C×H×W input tensor's data back into an
// image: x·std + mean per channel, clipped to 0..1, times 255, rounded to
// the nearest byte (so it inverts imgproc.ToTensor exactly). C = 1 gives
// grey, C = 3 RGB. Nil mean and std mean 0 and 1. It panics if planes is
// shorter than c·h·w, if c is not 1 or 3, or if mean or std has a length
// other than c.
func ToRGBAFromPlanes(planes []float32, c, h, w int, mean, std []float32) *image.RGBA {
	if c != 1 && c != 3 {
		panic(fmt.Sprintf("viz: ToRGBAFromPlanes: %d channels; want 1 or 3", c))
	}
	if w < 0 || h < 0 || len(planes) < c*h*w {
		panic(fmt.Sprintf("viz: ToRGBAFromPlanes: %d values for a %d×%d×%d tensor", len(planes), c, h, w))
	}
	if (mean != nil && len(mean) != c) || (std != nil && len(std) != c) {
		panic(fmt.Sprintf("viz: ToRGBAFromPlanes: mean and std need %d values each, got %d and %d", c, len(mean), len(std)))
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for ch := 0; ch < c; ch++ {
		mu, sd := float32(0), float32(1)
		if mean != nil {
			mu = mean[ch]
		}
		if std != nil {
			sd = std[ch]
		}
		plane := planes[ch*h*w : (ch+1)*h*w]
		for i, x := range plane {
			v := float32(x*sd) + mu
			if v != v {
				v = 0
			}
			v = min(max(v, 0), 1)
			q := uint8(math.RoundToEven(float64(v * 255)))
			if c == 1 {
				out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2] = q, q, q
			} else {
				out.Pix[4*i+ch] = q
			}
			out.Pix[4*i+3] = 255
		}
	}
	return out
}

// npSum32 sums float32 values as numpy's add.reduce does for a contiguous
// float32 array: pairwise summation (8-way unrolled leaves of at most 128)
// over consecutive blocks of 8192 values, the block sums added in order.
func npSum32(a []float32) float32 {
	const block = 8192
	var s float32
	for len(a) > 0 {
		n := min(len(a), block)
		s += pairwiseSum32(a[:n])
		a = a[n:]
	}
	return s
}

// pairwiseSum32 is numpy's pairwise_sum_FLOAT.
func pairwiseSum32(a []float32) float32 {
	n := len(a)
	switch {
	case n < 8:
		var s float32
		for _, v := range a {
			s += v
		}
		return s
	case n <= 128:
		var r [8]float32
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum32(a[:n2]) + pairwiseSum32(a[n2:])
	}
}

// div255 holds float32(k)/255, as np.float32(u8)/255 computes it.
var div255 = func() (t [256]float32) {
	for k := range t {
		t[k] = float32(k) / 255
	}
	return t
}()

// truncU8 converts like np.uint8 on a value already in 0..255: truncation.
func truncU8(v float32) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

// rgbBytes returns an image's pixels as unpremultiplied 8-bit RGB, row by
// row, with fast paths for the types the decoders return.
func rgbBytes(img image.Image) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, 0, 3*w*h)
	switch m := img.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:4*w]
			for x := 0; x < 4*w; x += 4 {
				out = append(out, row[x], row[x+1], row[x+2])
			}
		}
		return out
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:4*w]
			for x := 0; x < 4*w; x += 4 {
				if row[x+3] == 255 {
					out = append(out, row[x], row[x+1], row[x+2])
					continue
				}
				c := color.NRGBAModel.Convert(color.RGBA{row[x], row[x+1], row[x+2], row[x+3]}).(color.NRGBA)
				out = append(out, c.R, c.G, c.B)
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var c color.NRGBA
			if m, ok := img.(*image.YCbCr); ok {
				r, g, bl, _ := m.YCbCrAt(x, y).RGBA()
				c = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
			} else {
				c = color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			}
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// checkPlane panics unless a plane of n values covers w×h.
func checkPlane(fn string, n, w, h int) {
	if w < 0 || h < 0 || n < w*h {
		panic(fmt.Sprintf("viz: %s: %d values for a %d×%d map", fn, n, w, h))
	}
}

// channelsOf returns 1 or 3 for an h×w×c buffer of n values, or panics.
func channelsOf(fn string, n, w, h int) int {
	switch {
	case w < 0 || h < 0:
	case n == w*h:
		return 1
	case n == 3*w*h:
		return 3
	}
	panic(fmt.Sprintf("viz: %s: %d values for a %d×%d image (want %d grey or %d RGB)", fn, n, w, h, w*h, 3*w*h))
}

// setPix stores c as the i-th pixel of an RGBA buffer.
func setPix(pix []uint8, i int, c color.RGBA) {
	p := pix[4*i : 4*i+4 : 4*i+4]
	p[0], p[1], p[2], p[3] = c.R, c.G, c.B, c.A
}
