package imgproc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// fuzzSeeds are small images of every format: written here by the Go
// encoders and the builders of craft_test.go, and by other encoders in
// testdata/seeds.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	encode := func(f func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	r := image.Rect(0, 0, 5, 3)
	pal := color.Palette{color.Black, color.White, color.NRGBA{200, 40, 0, 128}}
	paletted := image.NewPaletted(r, pal)
	paletted.Pix[4] = 2
	for _, m := range []image.Image{
		image.NewGray(r), image.NewGray16(r), image.NewNRGBA(r), image.NewNRGBA64(r), image.NewRGBA(r), paletted,
	} {
		encode(func(b *bytes.Buffer) error { return png.Encode(b, m) })
		encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, m, &jpeg.Options{Quality: 50}) })
		encode(func(b *bytes.Buffer) error {
			return tiff.Encode(b, m, &tiff.Options{Compression: tiff.Deflate, Predictor: true})
		})
		encode(func(b *bytes.Buffer) error { return tiff.Encode(b, m, nil) })
		encode(func(b *bytes.Buffer) error { return gif.Encode(b, m, nil) })
		if _, ok := m.(*image.Gray16); !ok {
			encode(func(b *bytes.Buffer) error { return bmp.Encode(b, m) })
		}
	}
	const w, h = 24, 16
	var dc jpegBits
	for range 3 * w * h / 64 {
		dc.put(0, 1)
	}
	row := zlibBytes(make([]byte, w*8))
	offs, counts := make([]uint32, h), make([]uint32, h)
	seeds = append(seeds,
		jpegManyScans(w, h, 3),
		append(append(jpegHeaders(w, h, 3, true), dc.bytes()...), 0xff, 0xd9),
		tiffAt(func(off uint32) []tiffEntry {
			for i := range offs {
				offs[i], counts[i] = off, uint32(len(row))
			}
			return rgba64Entries(w, h, 8, 1, offs, counts)
		}, row),
		pngFile(4, 4, 8, 0, 1, zlibBytes(make([]byte, 23))),
		gifFile(4, 4, 2, 2, lzwBytes(make([]byte, 4))),
		riffWebP(webpChunk("VP8L", vp8lUniform(w, h, false))),
		riffWebP(webpChunk("VP8L", vp8lUniform(w, h, true))),
	)
	files, err := filepath.Glob(filepath.Join("testdata", "seeds", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

// FuzzDecode feeds Decode and then ToTensor, as the page and the CLI call
// them, with any bytes: no panic, an error of one of Decode's kinds, and
// an image within the limit.
//
//	go test -run XXX -fuzz '^FuzzDecode$' -fuzztime 10m -parallel 1 ./engine/imgproc/
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "image: ") {
				t.Fatalf("error without the image: prefix: %v", err)
			}
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrCorruptImage) && !errors.Is(err, ErrImageTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > MaxPixels {
			t.Fatalf("decoded bounds %v", b)
		}
		// ToTensor reads every pixel; past a few megapixels (a handful of
		// bytes can code a uniform picture of 64) it only makes the
		// fuzzing slower.
		if b.Dx()*b.Dy() > 4<<20 {
			return
		}
		x, err := ToTensor(img, 3, 7, 5, ImageNetMean, ImageNetStd)
		if err != nil || x.Len() != 3*7*5 {
			t.Fatalf("ToTensor: %v", err)
		}
		if _, err := ToTensor(img, 1, 4, 4, []float32{0.5}, []float32{0.25}); err != nil {
			t.Fatalf("ToTensor grey: %v", err)
		}
	})
}

// The seeds decode, but for the few files of testdata/seeds that the
// decoders refuse (CCITT group 3 TIFF, 2-bit TIFF, 1-bit BMP).
func TestFuzzSeedsDecode(t *testing.T) {
	seeds := fuzzSeeds(t)
	decoded := 0
	for k, s := range seeds {
		_, err := Decode(s)
		if err == nil {
			decoded++
		} else {
			t.Logf("seed %d: %v", k, err)
		}
	}
	if decoded < len(seeds)-3 {
		t.Errorf("%d of %d seeds decode", decoded, len(seeds))
	}
}
