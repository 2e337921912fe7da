package viz

import (
	"encoding/binary"
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
	return showCAM(nil, img, mask, mw, mh, cm, imageWeight, nil)
}

// ShowCAMOnImageHeat is ShowCAMOnImage and MapImage(mask, mw, mh, cm) at
// once: when the mask has the image's size, the heatmap's colours are
// written in the overlay's first pass instead of being looked up again.
func ShowCAMOnImageHeat(img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32) (overlay, heat *image.RGBA, err error) {
	return ShowCAMOnImageHeatInto(nil, nil, img, mask, mw, mh, cm, imageWeight)
}

// ShowCAMOnImageHeatInto is ShowCAMOnImageHeat drawing into dstOverlay and
// dstHeat, two different pictures, where they have the image's size with
// their origin at (0, 0) (every pixel is written), and into new pictures
// otherwise (nil, another size). It returns the pictures drawn.
func ShowCAMOnImageHeatInto(dstOverlay, dstHeat *image.RGBA, img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32) (overlay, heat *image.RGBA, err error) {
	if img != nil && len(mask) == mw*mh && mw == img.Bounds().Dx() && mh == img.Bounds().Dy() {
		heat = dstHeat
		if !fits(heat, mw, mh) || heat == dstOverlay {
			heat = image.NewRGBA(image.Rect(0, 0, mw, mh))
		}
		overlay, err = showCAM(dstOverlay, img, mask, mw, mh, cm, imageWeight, heat)
		if err != nil {
			return nil, nil, err
		}
		return overlay, heat, nil
	}
	overlay, err = showCAM(dstOverlay, img, mask, mw, mh, cm, imageWeight, nil)
	if err != nil {
		return nil, nil, err
	}
	return overlay, MapImage(mask, mw, mh, cm), nil
}

// fits reports whether p is a w×h picture at (0, 0) with rows w pixels
// apart.
func fits(p *image.RGBA, w, h int) bool {
	return p != nil && p.Rect == image.Rect(0, 0, w, h) && p.Stride == 4*w && len(p.Pix) == 4*w*h
}

// showCAM is ShowCAMOnImage, drawing into dst when it fits the image;
// heat, when not nil, receives the mask's colours (the mask then has the
// image's size).
func showCAM(dst *image.RGBA, img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32, heat *image.RGBA) (*image.RGBA, error) {
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
	out := dst
	if !fits(out, w, h) || out == heat {
		out = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	// Pass 1 colours the mask (into the heatmap, or into the overlay's own
	// pixels, which pass 2 then overwrites) and notes, for each colour
	// byte a, the largest image byte b any channel of a pixel pairs with
	// it. A channel's blended value depends on (a, b) only, as
	// fl(heat[a] + img[b]), which does not decrease as b grows (img[b] =
	// fl(iw·b/255) does not, and neither does a float32 sum in one of its
	// terms): the largest blended value over the picture, max(cam), is the
	// largest over the colour bytes of fl(heat[a] + img[top[a]]). Pass 2
	// then needs each (a, b) pair's scaled byte, uint8(255·cam/max(cam)),
	// which a table over the pairs that occur gives: at most 256·256
	// entries and most often far fewer than the picture's values. Both
	// passes run a row at a time in their own functions: V8 compiles a
	// wasm function's faster code only for its later calls, so a loop over
	// the whole picture in one call would run in the baseline tier to the
	// end the first time.
	cols := out.Pix
	if heat != nil {
		cols = heat.Pix
	}
	var lut [512]uint32 // little-endian RGBA words; 256…511: NaN's black
	for i, c := range cm.Table() {
		lut[i] = uint32(c.R) | uint32(c.G)<<8 | uint32(c.B)<<16 | uint32(c.A)<<24
	}
	for i := 256; i < len(lut); i++ {
		lut[i] = 0xff000000
	}
	var top [256]uint16 // the largest image byte + 1; 0: none
	for y := 0; y < h; y++ {
		colourRow(cols[4*y*w:4*(y+1)*w], mask[y*w:(y+1)*w], pix[3*y*w:3*(y+1)*w], &lut, &top)
	}
	var peak float32
	for a, b := range top {
		if b > 0 {
			if v := bt.heat[a] + bt.img[b-1]; v > peak {
				peak = v
			}
		}
	}
	if !(peak > 0) {
		for i := range out.Pix {
			out.Pix[i] = 0
			if i%4 == 3 {
				out.Pix[i] = 255
			}
		}
		return out, nil
	}
	scaled := new([256 * 256]uint8)
	for a, b := range top {
		if b > 0 {
			scaleRow((*[256]uint8)(scaled[a*256:(a+1)*256]), bt.heat[a], &bt.img, int(b)-1, peak)
		}
	}
	for y := 0; y < h; y++ {
		blendRow(out.Pix[4*y*w:4*(y+1)*w], cols[4*y*w:4*(y+1)*w], pix[3*y*w:3*(y+1)*w], scaled)
	}
	return out, nil
}

// blendTables hold float32(hw·k/255) and float32(iw·k/255) for each byte
// value k: the two terms of show_cam_on_image's blend.
type blendTables struct{ heat, img [256]float32 }

// colourRow writes the colours of a row of the mask into cols (RGBA, one
// 32-bit word a pixel, as lut holds them) and raises top[a], for each
// colour byte a, above the largest image byte that a channel of the row
// pairs with a (top holds that byte + 1; 0: none).
//
// The loop has no branches: compiled to wasm by Go, every branch is a jump
// through the function's dispatch table. The table index is LUTIndex's,
// computed on the value's bits: a negative value (or −0) gives 0; a
// positive one is first clamped to 1 (positive floats order as their bits
// do, +Inf and NaN above 1.0), then ⌊255·v⌋ in float32; lut's entries 256
// to 511, black, are NaN's.
//
//go:noinline
func colourRow(cols []uint8, mask []float32, pix []uint8, lut *[512]uint32, top *[256]uint16) {
	cols, pix = cols[:4*len(mask)], pix[:3*len(mask)]
	for i, m := range mask {
		u := math.Float32bits(m)
		k := uint32(int32(float32(255*math.Float32frombits(min(u, 0x3f800000))))) & (u>>31 - 1)
		nan := (0x7f800000 - u&0x7fffffff) >> 31
		c := lut[(k|nan<<8)&511]
		binary.LittleEndian.PutUint32(cols[4*i:4*i+4:4*i+4], c)
		p := pix[3*i : 3*i+3 : 3*i+3]
		top[uint8(c)] = max(top[uint8(c)], uint16(p[0])+1)
		top[uint8(c>>8)] = max(top[uint8(c>>8)], uint16(p[1])+1)
		top[uint8(c>>16)] = max(top[uint8(c>>16)], uint16(p[2])+1)
	}
}

// scaleRow fills row[b] for b = 0…n with show_cam_on_image's scaled byte
// for a channel whose colour term is heat and image term img[b]:
// uint8(255·(heat + img[b])/peak), truncated. Each value is at most peak
// (peak is the largest such sum over the picture), so in 0..255.
//
//go:noinline
func scaleRow(row *[256]uint8, heat float32, img *[256]float32, n int, peak float32) {
	for b := 0; b <= n; b++ {
		row[b] = uint8(float32(255 * ((heat + img[b]) / peak)))
	}
}

// blendRow writes a row of the overlay, opaque, from its colours (RGBA,
// which may be the overlay's own row) and the picture's bytes, each
// channel's value read from the table of scaled pairs.
//
//go:noinline
func blendRow(out, cols, pix []uint8, scaled *[256 * 256]uint8) {
	n := len(pix) / 3
	out, cols, pix = out[:4*n], cols[:4*n], pix[:3*n]
	for i := 0; i < n; i++ {
		c := cols[4*i : 4*i+4 : 4*i+4]
		p := pix[3*i : 3*i+3 : 3*i+3]
		o := out[4*i : 4*i+4 : 4*i+4]
		r := scaled[uint16(c[0])<<8|uint16(p[0])]
		g := scaled[uint16(c[1])<<8|uint16(p[1])]
		b := scaled[uint16(c[2])<<8|uint16(p[2])]
		o[0], o[1], o[2], o[3] = r, g, b, 255
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
		pix := out.Pix[:4*len(plane)]
		for i, x := range plane {
			// Clamped to [0, 1], NaN to 0, by comparisons: Go's wasm code
			// calls a runtime function for each float min and max.
			v := float32(x*sd) + mu
			if !(v > 0) {
				v = 0
			} else if v > 1 {
				v = 1
			}
			q := uint8(math.RoundToEven(float64(v * 255)))
			px := (*[4]uint8)(pix[4*i : 4*i+4])
			if c == 1 {
				px[0], px[1], px[2] = q, q, q
			} else {
				px[ch] = q
			}
			px[3] = 255
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

// RGB is a picture held as its 8-bit RGB bytes, row by row (unpremultiplied,
// no alpha): the form show_cam_on_image blends. An overlay drawn on an *RGB
// reads its bytes; one drawn on another image converts the image first, so
// converting a picture once with NewRGB saves that at every overlay drawn
// on it. Its bytes must not change while overlays use them.
type RGB struct {
	Pix  []uint8 // 3 bytes a pixel, row after row
	Rect image.Rectangle
}

// NewRGB converts a picture to RGB bytes (transparent pixels give their
// unpremultiplied colour).
func NewRGB(img image.Image) *RGB {
	return &RGB{Pix: rgbBytes(img), Rect: img.Bounds()}
}

// ColorModel returns color.RGBAModel.
func (p *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds returns the picture's rectangle.
func (p *RGB) Bounds() image.Rectangle { return p.Rect }

// At returns the opaque colour at (x, y), transparent black outside.
func (p *RGB) At(x, y int) color.Color {
	if !(image.Point{x, y}.In(p.Rect)) {
		return color.RGBA{}
	}
	i := 3 * ((y-p.Rect.Min.Y)*p.Rect.Dx() + x - p.Rect.Min.X)
	return color.RGBA{p.Pix[i], p.Pix[i+1], p.Pix[i+2], 255}
}

// rgbBytes returns an image's pixels as unpremultiplied 8-bit RGB, row by
// row, with fast paths for the types the decoders return; an *RGB's own
// bytes, which the caller must not change.
func rgbBytes(img image.Image) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if m, ok := img.(*RGB); ok {
		return m.Pix[:3*w*h]
	}
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
