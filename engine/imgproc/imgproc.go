// Package imgproc turns images into model inputs and maps back into images:
// decoding with clear errors, bilinear resizing with both of PyTorch's
// conventions, and per-channel normalisation.
package imgproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG

	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/tiff" // register TIFF
	_ "golang.org/x/image/webp" // register WebP

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// MaxPixels caps the size of an image we agree to decode (64 megapixels).
const MaxPixels = 64 << 20

// Decode's errors are marked with one of these (errors.Is); their text is
// the message.
var (
	// ErrNotImage: the data is empty or in no format Decode reads.
	ErrNotImage = errors.New("image: not an image")
	// ErrCorruptImage: a known format whose data is broken, or that has no
	// pixels.
	ErrCorruptImage = errors.New("image: corrupt image")
	// ErrImageTooLarge: more than MaxPixels pixels, or far more decoding
	// work than the file's size warrants (see checkData).
	ErrImageTooLarge = errors.New("image: too large")
)

// ImageNet normalisation, the default for torchvision classifiers.
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// Decode reads a PNG, JPEG, GIF, BMP, TIFF or WebP image. It checks the
// header first so that a huge image is refused before any pixel memory is
// allocated, and the data against the header (see checkData) so that a
// few bytes cannot make a decoder allocate for more pixels than they hold.
// A panic inside a decoder is returned as an error.
func Decode(data []byte) (image.Image, error) {
	if len(data) == 0 {
		return nil, kind.Errorf(ErrNotImage, "image: the file is empty")
	}
	cfg, format, err := decodeConfig(data)
	if err != nil {
		if err == image.ErrFormat {
			return nil, kind.Errorf(ErrNotImage, "image: not an image file (PNG, JPEG, GIF, BMP, TIFF or WebP expected)")
		}
		return nil, kind.Errorf(ErrCorruptImage, "image: corrupt image header: %w", err)
	}
	name := formatNames[format]
	if name == "" {
		name = format
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, kind.Errorf(ErrCorruptImage, "image: %s image has no pixels (%d×%d)", name, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, kind.Errorf(ErrImageTooLarge, "image: %s image is %d×%d pixels; the limit is %d megapixels", name, cfg.Width, cfg.Height, MaxPixels>>20)
	}
	if err := checkData(format, cfg, data); err != nil {
		if err.(*dataError).workLimit {
			return nil, kind.Mark(ErrImageTooLarge, err)
		}
		return nil, kind.Mark(ErrCorruptImage, err)
	}
	img, err := decodeImage(data)
	if err != nil {
		return nil, kind.Errorf(ErrCorruptImage, "image: corrupt %s image: %w", name, err)
	}
	// The decoders keep to the header's size (a GIF's first frame to its
	// logical screen), but a frame may be empty.
	b := img.Bounds()
	if b.Empty() {
		return nil, kind.Errorf(ErrCorruptImage, "image: %s image has no pixels (%d×%d)", name, b.Dx(), b.Dy())
	}
	if int64(b.Dx())*int64(b.Dy()) > MaxPixels {
		return nil, kind.Errorf(ErrImageTooLarge, "image: %s image is %d×%d pixels; the limit is %d megapixels", name, b.Dx(), b.Dy(), MaxPixels>>20)
	}
	return img, nil
}

// formatNames are the names of the formats in messages.
var formatNames = map[string]string{
	"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "webp": "WebP",
}

// decodeConfig is image.DecodeConfig with a decoder's panic returned as an
// error.
func decodeConfig(data []byte) (cfg image.Config, format string, err error) {
	defer recovered(&err)
	return image.DecodeConfig(bytes.NewReader(data))
}

// decodeImage is image.Decode with a decoder's panic returned as an error.
func decodeImage(data []byte) (img image.Image, err error) {
	defer recovered(&err)
	img, _, err = image.Decode(bytes.NewReader(data))
	if err == nil && img == nil {
		err = errors.New("no image")
	}
	return img, err
}

func recovered(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("decoder panic: %v", r)
	}
}

// Planes returns an image's pixels as float32 planes in 0..255: three
// (R, G, B) planes of h·w values each, or one luminance plane when
// channels == 1.
func Planes(img image.Image, channels int) ([]float32, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]float32, channels*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := y*w + x
			if channels == 1 {
				// ITU-R 601-2 luma, as PIL's convert("L").
				out[i] = (299*float32(c.R) + 587*float32(c.G) + 114*float32(c.B)) / 1000
				continue
			}
			out[i] = float32(c.R)
			out[w*h+i] = float32(c.G)
			out[2*w*h+i] = float32(c.B)
		}
	}
	return out, h, w
}

// ToTensor converts an image into a 1×C×H×W input: resized to h×w with
// bilinear interpolation (half-pixel centres), scaled to 0..1 and
// normalised per channel with (x − mean)/std. C is 1 or 3; mean and std
// have C entries.
func ToTensor(img image.Image, c, h, w int, mean, std []float32) (*tensor.T, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("image: the model wants %d input channels; images give 1 or 3", c)
	}
	if len(mean) != c || len(std) != c {
		return nil, fmt.Errorf("image: mean and std need %d values each, got %d and %d", c, len(mean), len(std))
	}
	planes, sh, sw := Planes(img, c)
	t := tensor.New(1, c, h, w)
	out := t.F32()
	for ch := 0; ch < c; ch++ {
		dst := out[ch*h*w : (ch+1)*h*w]
		ResizeBilinear(planes[ch*sh*sw:(ch+1)*sh*sw], sh, sw, dst, h, w, false)
		for i, v := range dst {
			dst[i] = (v/255 - mean[ch]) / std[ch]
		}
	}
	return t, nil
}

// ResizeBilinear resizes one sh×sw plane into dst (dh×dw). With
// alignCorners false it uses half-pixel centres clamped at the edges (OpenCV
// INTER_LINEAR, torch interpolate align_corners=False); with alignCorners
// true the corner pixels of source and destination coincide (torch
// align_corners=True).
func ResizeBilinear(src []float32, sh, sw int, dst []float32, dh, dw int, alignCorners bool) {
	ys0, ys1, yf := axisWeights(sh, dh, alignCorners)
	xs0, xs1, xf := axisWeights(sw, dw, alignCorners)
	// A destination row is top + (bottom − top)·fy, where top and bottom
	// are two source rows interpolated along x. Those depend on the source
	// row only, so each is computed once and kept while destination rows
	// use it: the source rows a destination row reads never go back up.
	var rows [2][]float32
	keys := [2]int{-1, -1}
	row := func(i, keep int) []float32 {
		for k := range keys {
			if keys[k] == i {
				return rows[k]
			}
		}
		k := 0
		if keys[0] == keep || (keys[1] != keep && keys[1] < keys[0]) {
			k = 1
		}
		if rows[k] == nil {
			rows[k] = make([]float32, dw)
		}
		resizeRow(rows[k], src[i*sw:][:sw], xs0, xs1, xf)
		keys[k] = i
		return rows[k]
	}
	for y := 0; y < dh; y++ {
		top := row(ys0[y], ys1[y])
		bot := row(ys1[y], ys0[y])
		blendRows(dst[y*dw:][:dw], top, bot, yf[y])
	}
}

// resizeRow interpolates a source row r along x into row. It is a function
// of its own so that in wasm V8's optimised code, compiled while the first
// rows run, serves the later ones.
//
//go:noinline
func resizeRow(row, r []float32, xs0, xs1 []int, xf []float32) {
	xs0, xs1, xf = xs0[:len(row)], xs1[:len(row)], xf[:len(row)]
	for x := range row {
		a0, a1 := xs0[x], xs1[x]
		row[x] = r[a0] + (r[a1]-r[a0])*xf[x]
	}
}

// blendRows writes top + (bot − top)·fy.
//
//go:noinline
func blendRows(row, top, bot []float32, fy float32) {
	top, bot = top[:len(row)], bot[:len(row)]
	for x, t := range top {
		row[x] = t + (bot[x]-t)*fy
	}
}

// axisWeights gives, for each destination index, the two source indices and
// the weight of the second.
func axisWeights(sn, dn int, alignCorners bool) (i0, i1 []int, f []float32) {
	i0, i1, f = make([]int, dn), make([]int, dn), make([]float32, dn)
	for d := 0; d < dn; d++ {
		var s float64
		if alignCorners {
			if dn > 1 {
				s = float64(d) * float64(sn-1) / float64(dn-1)
			}
		} else {
			s = (float64(d)+0.5)*float64(sn)/float64(dn) - 0.5
			if s < 0 {
				s = 0
			}
		}
		lo := int(s)
		if lo > sn-1 {
			lo = sn - 1
		}
		hi := lo + 1
		if hi > sn-1 {
			hi = sn - 1
		}
		i0[d], i1[d], f[d] = lo, hi, float32(s-float64(lo))
	}
	return
}
