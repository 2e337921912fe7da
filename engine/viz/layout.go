package viz

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Grid lays tiles out row by row, cols to a row (cols ≤ 0 picks
// ⌈√n⌉), in cells as large as the largest tile, with pad pixels around and
// between cells. Each tile is centred in its cell and drawn over bg (nil
// leaves the background transparent); nil tiles leave their cell empty. No
// tiles give an empty image.
func Grid(tiles []image.Image, cols int, pad int, bg color.Color) *image.RGBA {
	n := len(tiles)
	if n == 0 {
		return image.NewRGBA(image.Rectangle{})
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	pad = max(pad, 0)
	cw, ch := 0, 0
	for _, t := range tiles {
		if t != nil {
			cw = max(cw, t.Bounds().Dx())
			ch = max(ch, t.Bounds().Dy())
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*cw+(cols+1)*pad, rows*ch+(rows+1)*pad))
	if bg != nil {
		draw.Draw(out, out.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	}
	for i, t := range tiles {
		if t == nil {
			continue
		}
		tb := t.Bounds()
		x := pad + (i%cols)*(cw+pad) + (cw-tb.Dx())/2
		y := pad + (i/cols)*(ch+pad) + (ch-tb.Dy())/2
		draw.Draw(out, image.Rect(x, y, x+tb.Dx(), y+tb.Dy()), t, tb.Min, draw.Over)
	}
	return out
}

// Upscale enlarges an image by an integer factor with nearest-neighbour
// sampling, so that tiny feature maps and filters stay crisp. A factor
// below 1 counts as 1 (a plain copy).
func Upscale(img image.Image, factor int) *image.RGBA {
	factor = max(factor, 1)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w*factor, h*factor))
	row := make([]uint8, 4*w*factor)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			for k := 0; k < factor; k++ {
				setPix(row, x*factor+k, c)
			}
		}
		for k := 0; k < factor; k++ {
			copy(out.Pix[(y*factor+k)*out.Stride:], row)
		}
	}
	return out
}

// captionHeight is the height of the strip Caption adds: the 13-pixel
// basicfont line plus one pixel above and below.
const captionHeight = 15

// Caption returns the image with a 15-pixel white strip underneath holding
// text in black, centred, in the 7×13 fixed font (ASCII; other characters
// show as U+FFFD, line breaks as spaces). When the text is wider than the
// image the result widens to fit it, with the image centred.
func Caption(img image.Image, text string) *image.RGBA {
	text = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(text)
	face := basicfont.Face7x13
	tw := utf8.RuneCountInString(text) * face.Advance
	b := img.Bounds()
	w := max(b.Dx(), tw+2)
	h := b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h+captionHeight))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	x0 := (w - b.Dx()) / 2
	draw.Draw(out, image.Rect(x0, 0, x0+b.Dx(), h), img, b.Min, draw.Src)
	d := font.Drawer{
		Dst:  out,
		Src:  image.Black,
		Face: face,
		Dot:  fixed.P((w-tw)/2, h+1+face.Ascent),
	}
	d.DrawString(text)
	return out
}

// EncodePNG writes img as a PNG.
func EncodePNG(w io.Writer, img image.Image) error {
	if img == nil {
		return fmt.Errorf("viz: no image to encode")
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("viz: encoding PNG: %w", err)
	}
	return nil
}
