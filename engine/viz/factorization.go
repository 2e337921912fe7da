package viz

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/cnnlens/cnnlens/engine/imgproc"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// gistRainbow is matplotlib's gist_rainbow segment data: (x, r, g, b).
var gistRainbow = [][4]float64{
	{0.000, 1.00, 0.00, 0.16}, {0.030, 1.00, 0.00, 0.00}, {0.215, 1.00, 1.00, 0.00},
	{0.400, 0.00, 1.00, 0.00}, {0.586, 0.00, 1.00, 1.00}, {0.770, 0.00, 0.00, 1.00},
	{0.954, 1.00, 0.00, 1.00}, {1.000, 1.00, 0.00, 0.75},
}

// ConceptColor is concept i of k's colour as pytorch-grad-cam's
// show_factorization_on_image picks it: matplotlib's gist_rainbow (a
// 256-entry table) at i/k, each channel in 0..1.
func ConceptColor(i, k int) [3]float64 {
	x := float64(i) / float64(k)
	idx := min(max(int(x*256), 0), 255)
	x = float64(idx) / 255
	for s := 1; s < len(gistRainbow); s++ {
		a, b := gistRainbow[s-1], gistRainbow[s]
		if x <= b[0] {
			t := (x - a[0]) / (b[0] - a[0])
			return [3]float64{a[1] + t*(b[1]-a[1]), a[2] + t*(b[2]-a[2]), a[3] + t*(b[3]-a[3])}
		}
	}
	last := gistRainbow[len(gistRainbow)-1]
	return [3]float64{last[1], last[2], last[3]}
}

// ShowFactorizationOnImage draws k concept maps (k×mh×mw, each in 0..1) over
// an image as pytorch-grad-cam's show_factorization_on_image does: every
// pixel takes the colour of the concept whose map is largest there, at the
// brightness of that map (the colour's HSV value set to the map's), and is
// blended with the image: image·imageWeight + mask·(1 − imageWeight). With
// labels (one per concept) a legend of the same size is added on the right:
// a bar of each concept's colour and its label. (The library converts
// through OpenCV's 8-bit HSV; here the colour is scaled directly, which
// differs from it by rounding only.)
func ShowFactorizationOnImage(img image.Image, maps []float32, k, mw, mh int, imageWeight float32, labels []string) (*image.RGBA, error) {
	if img == nil {
		return nil, fmt.Errorf("viz: no image to draw the concepts on")
	}
	if k <= 0 || mw <= 0 || mh <= 0 || len(maps) != k*mw*mh {
		return nil, fmt.Errorf("viz: %d concept map values; %d maps of %d×%d need %d", len(maps), k, mw, mh, k*mw*mh)
	}
	if !(imageWeight >= 0 && imageWeight <= 1) {
		return nil, fmt.Errorf("viz: image_weight should be in the range [0, 1], got %v", imageWeight)
	}
	if labels != nil && len(labels) != k {
		return nil, fmt.Errorf("viz: %d legend labels for %d concepts", len(labels), k)
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("viz: the image has no pixels (%d×%d)", w, h)
	}
	if mw != w || mh != h {
		resized := make([]float32, k*w*h)
		for j := 0; j < k; j++ {
			imgproc.ResizeBilinear(maps[j*mw*mh:(j+1)*mw*mh], mh, mw, resized[j*w*h:(j+1)*w*h], h, w, false)
		}
		maps = resized
	}
	colors := make([][3]float64, k)
	for j := range colors {
		c := ConceptColor(j, k)
		peak := max(c[0], c[1], c[2])
		for ch := range c {
			c[ch] /= peak // full HSV value: brightness comes from the map
		}
		colors[j] = c
	}
	pix := rgbBytes(img)
	panel := w
	if labels == nil {
		panel = 0
	}
	out := image.NewRGBA(image.Rect(0, 0, w+panel, h))
	iw, mwt := float64(imageWeight), 1-float64(imageWeight)
	for i := 0; i < w*h; i++ {
		best := 0
		for j := 1; j < k; j++ {
			if maps[j*w*h+i] > maps[best*w*h+i] {
				best = j
			}
		}
		v := float64(uint8(255*clamp01(float64(maps[best*w*h+i])))) / 255
		y, x := i/w, i%w
		o := out.PixOffset(x, y)
		for ch := 0; ch < 3; ch++ {
			r := float64(pix[3*i+ch])/255*iw + colors[best][ch]*v*mwt
			out.Pix[o+ch] = uint8(255 * clamp01(r))
		}
		out.Pix[o+3] = 255
	}
	if labels != nil {
		drawLegend(out, image.Rect(w, 0, w+panel, h), labels, k)
	}
	return out, nil
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

// drawLegend writes one line per concept into r: a bar of its colour and
// its label, on white.
func drawLegend(dst *image.RGBA, r image.Rectangle, labels []string, k int) {
	draw.Draw(dst, r, image.White, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	line := max(face.Height+4, 1)
	bar := max(min(r.Dx()/6, 24), 6)
	for j, label := range labels {
		y0 := r.Min.Y + 4 + j*line
		if y0+face.Height > r.Max.Y {
			break
		}
		c := ConceptColor(j, k)
		col := color.RGBA{uint8(255 * c[0]), uint8(255 * c[1]), uint8(255 * c[2]), 255}
		draw.Draw(dst, image.Rect(r.Min.X+4, y0+4, r.Min.X+4+bar, y0+face.Height-3), &image.Uniform{col}, image.Point{}, draw.Src)
		clip := dst.SubImage(image.Rect(r.Min.X, y0, r.Max.X, y0+line)).(*image.RGBA)
		d := font.Drawer{Dst: clip, Src: image.Black, Face: face, Dot: fixed.P(r.Min.X+8+bar, y0+face.Ascent)}
		d.DrawString(label)
	}
}
