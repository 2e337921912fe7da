package viz

import (
	"bytes"
	"image"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/imgproc"
)

// showCAMRef is show_cam_on_image written plainly, pixel by pixel, as the
// overlay was computed before its passes were reorganised: the float32
// blend of every channel of every pixel, its maximum, then every value
// scaled by it. The overlays must equal it byte for byte.
func showCAMRef(img image.Image, mask []float32, mw, mh int, cm Colormap, imageWeight float32) *image.RGBA {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if mw != w || mh != h {
		resized := make([]float32, w*h)
		imgproc.ResizeBilinear(mask, mh, mw, resized, h, w, false)
		mask = resized
	}
	hw := float32(1 - float64(imageWeight))
	pix := rgbBytes(img)
	cam := make([]float32, 3*w*h)
	var peak float32
	for i, m := range mask[:w*h] {
		c := cm.Lookup(m)
		for ch, a := range []uint8{c.R, c.G, c.B} {
			v := float32(hw*(float32(a)/255)) + float32(imageWeight*(float32(pix[3*i+ch])/255))
			cam[3*i+ch] = v
			if v > peak {
				peak = v
			}
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		for ch := 0; ch < 3; ch++ {
			if peak > 0 {
				out.Pix[4*i+ch] = uint8(float32(255 * (cam[3*i+ch] / peak)))
			}
		}
		out.Pix[4*i+3] = 255
	}
	return out
}

// The overlay and its heatmap equal the plain computation byte for byte on
// random pictures and masks: every colormap (and the zero one), image
// weights at the ends and between, masks at the picture's size and
// smaller, with values outside 0..1, NaN and infinities, pictures of the
// decoders' types, dark ones (the peak then comes from few pairs) and
// black ones with a black colormap (no positive peak).
func TestShowCAMOnImageMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	cms := []Colormap{Jet, Turbo, Viridis, Inferno, Gray, RdBu, Seismic, {}}
	weights := []float32{0, 1, 0.5, 0.3, float32(rng.Float64()), float32(rng.Float64()), 1e-8, 1 - 1e-7}
	for trial := 0; trial < 60; trial++ {
		w, h := 1+rng.Intn(70), 1+rng.Intn(50)
		var img image.Image
		var bright int
		switch trial % 4 {
		case 0:
			bright = 256
		case 1:
			bright = 1 + rng.Intn(8) // dark: few image bytes
		case 2:
			bright = 1 // black
		default:
			bright = 200
		}
		switch trial % 3 {
		case 0:
			m := image.NewRGBA(image.Rect(3, 2, 3+w, 2+h))
			for i := range m.Pix {
				m.Pix[i] = uint8(rng.Intn(bright))
				if i%4 == 3 {
					m.Pix[i] = 255
				}
			}
			img = m
		case 1:
			m := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i := range m.Pix {
				m.Pix[i] = uint8(rng.Intn(bright))
			}
			img = m
		default:
			m := image.NewGray(image.Rect(0, 0, w, h))
			for i := range m.Pix {
				m.Pix[i] = uint8(rng.Intn(bright))
			}
			img = m
		}
		mw, mh := w, h
		if trial%5 == 4 {
			mw, mh = 1+rng.Intn(9), 1+rng.Intn(9)
		}
		mask := make([]float32, mw*mh)
		lo, span := rng.Float64()*0.5-0.2, rng.Float64()*1.5
		for i := range mask {
			mask[i] = float32(lo + span*rng.Float64())
			switch rng.Intn(40) {
			case 0:
				mask[i] = float32(math.NaN())
			case 1:
				mask[i] = float32(math.Inf(1 - 2*rng.Intn(2)))
			case 2:
				mask[i] = float32(rng.Intn(2)) // exactly 0 or 1
			}
		}
		cm := cms[trial%len(cms)]
		iw := weights[rng.Intn(len(weights))]
		want := showCAMRef(img, mask, mw, mh, cm, iw)
		got, err := ShowCAMOnImage(img, mask, mw, mh, cm, iw)
		if err != nil {
			t.Fatal(err)
		}
		overlay, heat, err := ShowCAMOnImageHeat(img, mask, mw, mh, cm, iw)
		if err != nil {
			t.Fatal(err)
		}
		onRGB, err := ShowCAMOnImage(NewRGB(img), mask, mw, mh, cm, iw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, want.Pix) || !bytes.Equal(overlay.Pix, want.Pix) || !bytes.Equal(onRGB.Pix, want.Pix) {
			t.Errorf("trial %d (%T %d×%d, %d×%d mask, %s, weight %v): the overlay differs from the plain computation", trial, img, w, h, mw, mh, cm.Name(), iw)
		}
		if !bytes.Equal(heat.Pix, MapImage(mask, mw, mh, cm).Pix) && mw == w && mh == h {
			t.Errorf("trial %d: the heatmap differs from MapImage", trial)
		}
	}
}

// Every (colour byte, image byte) pair and image weights across 0..1: the
// peak comes from one pair, every other pair is scaled by it, each equal
// to the plain computation.
func TestShowCAMOnImageAllPairs(t *testing.T) {
	// 256×256 pixels: the grey mask value k/255 picks Gray's entry k, the
	// picture's three channels hold the column's byte (and two shifts of it).
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	mask := make([]float32, 256*256)
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			i := y*256 + x
			mask[i] = float32(y) / 255
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = uint8(x), uint8(x+85), uint8(x+170), 255
		}
	}
	for _, iw := range []float32{0, 0.25, 0.5, 0.7, 0.999, 1} {
		for _, cm := range []Colormap{Gray, Jet} {
			got, err := ShowCAMOnImage(img, mask, 256, 256, cm, iw)
			if err != nil {
				t.Fatal(err)
			}
			if want := showCAMRef(img, mask, 256, 256, cm, iw); !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%s, weight %v: the overlay differs from the plain computation", cm.Name(), iw)
			}
		}
	}
}

// An *RGB is the picture it was made from: the same bounds and, for opaque
// pictures, the same colours; drawn on, the same overlay.
func TestRGB(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	img := image.NewNRGBA(image.Rect(-2, 5, 9, 12))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	p := NewRGB(img)
	if p.Bounds() != img.Bounds() {
		t.Fatalf("bounds %v, want %v", p.Bounds(), img.Bounds())
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := p.At(x, y).RGBA()
			r2, g2, b2, a2 := img.At(x, y).RGBA()
			if r != r2 || g != g2 || bl != b2 || a != a2 {
				t.Fatalf("At(%d, %d) = %v, want %v", x, y, p.At(x, y), img.At(x, y))
			}
		}
	}
	if _, _, _, a := p.At(b.Max.X, b.Min.Y).RGBA(); a != 0 {
		t.Error("a pixel outside the picture is not transparent")
	}
}

// ShowCAMOnImageHeatInto draws into pictures that fit, whatever they held,
// the pictures ShowCAMOnImageHeat draws; pictures that do not fit (another
// size, or one picture given for both) are not drawn into.
func TestShowCAMOnImageHeatInto(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	img := image.NewRGBA(image.Rect(0, 0, 31, 17))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
	}
	mask := make([]float32, 31*17)
	for i := range mask {
		mask[i] = float32(rng.Float64())
	}
	dirty := func(w, h int) *image.RGBA {
		p := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range p.Pix {
			p.Pix[i] = uint8(rng.Intn(256))
		}
		return p
	}
	for _, iw := range []float32{0.5, 1} { // 1 with a black picture: no positive peak
		if iw == 1 {
			clear(img.Pix)
		}
		wantO, wantH, err := ShowCAMOnImageHeat(img, mask, 31, 17, Jet, iw)
		if err != nil {
			t.Fatal(err)
		}
		o, h := dirty(31, 17), dirty(31, 17)
		gotO, gotH, err := ShowCAMOnImageHeatInto(o, h, img, mask, 31, 17, Jet, iw)
		if err != nil {
			t.Fatal(err)
		}
		if gotO != o || gotH != h {
			t.Error("pictures that fit were not drawn into")
		}
		if !bytes.Equal(gotO.Pix, wantO.Pix) || !bytes.Equal(gotH.Pix, wantH.Pix) {
			t.Errorf("weight %v: the pictures drawn into differ from new ones", iw)
		}
		both := dirty(31, 17)
		gotO, gotH, err = ShowCAMOnImageHeatInto(both, both, img, mask, 31, 17, Jet, iw)
		if err != nil {
			t.Fatal(err)
		}
		if gotO == gotH || !bytes.Equal(gotO.Pix, wantO.Pix) || !bytes.Equal(gotH.Pix, wantH.Pix) {
			t.Error("one picture given for both: the overlay and heatmap are not both right")
		}
		small := dirty(30, 17)
		if gotO, _, _ = ShowCAMOnImageHeatInto(small, nil, img, mask, 31, 17, Jet, iw); gotO == small || !bytes.Equal(gotO.Pix, wantO.Pix) {
			t.Error("a picture of another size was drawn into")
		}
	}
}
