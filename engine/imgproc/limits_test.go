package imgproc

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// allocated returns the bytes that f allocates (runtime.MemStats.TotalAlloc:
// everything, freed or not) and how long it takes.
func allocated(f func()) (uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, d
}

// Files that declare 8192×8192 pixels (the 64-megapixel limit) and hold
// far fewer, each made to make one decoder allocate or work for the
// declared size (up to 960 MB, or minutes) before it finds the data
// missing. Decode refuses each of them before decoding, having allocated
// almost nothing.
func TestDecodeRefusesWhatTheDataCannotHold(t *testing.T) {
	const W, H = 8192, 8192
	z := zlibBytes(make([]byte, 100))
	nTiles := (W / 16) * (H / 16)
	tileOffsets, tileCounts := make([]uint32, nTiles), make([]uint32, nTiles)
	tile := zlibBytes(make([]byte, 16*16*8))
	cases := []struct {
		name, want string
		tooLarge   bool
		data       []byte
	}{
		{"TIFF, an empty strip", "truncated TIFF image: strip 0 has 0 bytes", false,
			tiffAt(func(off uint32) []tiffEntry { return rgba64Entries(W, H, 1, H, []uint32{off}, []uint32{0}) }, nil)},
		{"TIFF, a strip past the end", "strip 0 declares 536870912 bytes, the file has 0", false,
			tiffAt(func(off uint32) []tiffEntry { return rgba64Entries(W, H, 1, H, []uint32{off}, []uint32{W * H * 8}) }, nil)},
		{"TIFF, a strip larger than its pixels", "strip 0 declares 4294967295 bytes", false,
			tiffAt(func(off uint32) []tiffEntry { return rgba64Entries(W, H, 1, H, []uint32{off}, []uint32{1<<32 - 1}) }, nil)},
		{"TIFF, 15 bytes of deflate", "compressed strip 0 has 15 bytes, too few for the 536870912 bytes", false,
			tiffAt(func(off uint32) []tiffEntry {
				return rgba64Entries(W, H, 8, H, []uint32{off}, []uint32{uint32(len(z))})
			}, z)},
		{"TIFF, 15 bytes of LZW", "compressed strip 0", false,
			tiffAt(func(off uint32) []tiffEntry {
				return rgba64Entries(W, H, 5, H, []uint32{off}, []uint32{uint32(len(z))})
			}, z)},
		{"TIFF, JPEG compression", "TIFF compression 7 is not supported", false,
			tiffAt(func(off uint32) []tiffEntry { return rgba64Entries(W, H, 7, H, []uint32{off}, []uint32{1}) }, []byte{0})},
		{"TIFF, 262144 tiles sharing one", "TIFF image has 262144 compressed tiles for 8192×8192 pixels; the limit is 65536", true,
			tiffAt(func(off uint32) []tiffEntry {
				for i := range tileOffsets {
					tileOffsets[i], tileCounts[i] = off, uint32(len(tile))
				}
				return []tiffEntry{
					{tagWidth, 4, []uint32{W}}, {tagHeight, 4, []uint32{H}},
					{tagBits, 3, []uint32{16, 16, 16, 16}}, {tagCompression, 3, []uint32{8}},
					{tagPhotometric, 3, []uint32{2}}, {tagSamples, 3, []uint32{4}},
					{tagTileWidth, 4, []uint32{16}}, {tagTileLength, 4, []uint32{16}},
					{tagTileOffsets, 4, tileOffsets}, {tagTileCounts, 4, tileCounts},
					{tagExtraSamples, 3, []uint32{2}},
				}
			}, tile)},
		{"PNG, 16-bit RGBA", "truncated PNG image: 15 bytes of compressed pixels", false, pngFile(W, H, 16, 6, 0, z)},
		{"PNG, interlaced", "truncated PNG image", false, pngFile(W, H, 16, 6, 1, z)},
		{"JPEG, baseline", "truncated JPEG image: its first scan has 1 bytes, where the 3145728 blocks", false,
			append(jpegHeaders(W, H, 3, false), 0, 0xff, 0xd9)},
		{"JPEG, progressive", "truncated JPEG image", false, append(jpegHeaders(W, H, 3, true), 0, 0xff, 0xd9)},
		{"JPEG, 101 scans", "JPEG image has more than 100 scans", true, jpegManyScans(W, H, 100)},
		{"JPEG, 101 scans of a small image", "JPEG image has more than 100 scans", true, jpegManyScans(64, 64, 100)},
		{"BMP, the header alone", "truncated BMP image: 54 bytes, where its 8192×8192 pixels of 32 bits need 268435510", false, bmpFile(W, H, nil)},
	}
	for _, c := range cases {
		var err error
		bytes, _ := allocated(func() { _, err = Decode(c.data) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
			continue
		}
		wantKind := ErrCorruptImage
		if c.tooLarge {
			wantKind = ErrImageTooLarge
		}
		if !errors.Is(err, wantKind) {
			t.Errorf("%s: %v is not %v", c.name, err, wantKind)
		}
		if bytes > 1<<20 {
			t.Errorf("%s: %d bytes allocated to refuse it", c.name, bytes)
		}
	}
}

// The same kinds of file, when their data is all there, decode.
func TestDecodeAcceptsWhatTheDataHolds(t *testing.T) {
	const W, H = 256, 256
	row := zlibBytes(make([]byte, W*8))
	offs, counts := make([]uint32, H), make([]uint32, H)
	var dc jpegBits
	for range 3 * W * H / 64 {
		dc.put(0, 1)
	}
	for name, data := range map[string][]byte{
		// Strips may share their data.
		"TIFF, 256 strips sharing one row": tiffAt(func(off uint32) []tiffEntry {
			for i := range offs {
				offs[i], counts[i] = off, uint32(len(row))
			}
			return rgba64Entries(W, H, 8, 1, offs, counts)
		}, row),
		"TIFF, uncompressed": tiffAt(func(off uint32) []tiffEntry {
			return rgba64Entries(W, H, 1, H, []uint32{off}, []uint32{W * H * 8})
		}, make([]byte, W*H*8)),
		"JPEG, 100 scans":   jpegManyScans(W, H, 99),
		"JPEG, progressive": append(append(jpegHeaders(W, H, 3, true), dc.bytes()...), 0xff, 0xd9),
		"BMP":               bmpFile(W, H, make([]byte, W*H*4)),
		"PNG":               pngBytes(t, W, H),
	} {
		img, err := Decode(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if img.Bounds() != image.Rect(0, 0, W, H) {
			t.Errorf("%s: bounds %v", name, img.Bounds())
		}
	}
}

// A header that declares a huge image after a valid small one is refused
// by the decoder before it allocates for it.
func TestDecodeSecondHeader(t *testing.T) {
	small := pngBytes(t, 4, 3)
	iend := len(small) - 12
	var ihdr []byte
	ihdr = append(ihdr, 0, 0, 0x20, 0, 0, 0, 0x20, 0, 8, 6, 0, 0, 0)
	second := pngChunk(append([]byte(nil), small[:iend]...), "IHDR", ihdr)
	second = append(second, small[iend:]...)

	jpegSmall := append(jpegHeaders(8, 8, 1, false), 0x00, 0xff, 0xd9)
	jpegSecond := append(jpegHeaders(8, 8, 1, false), 0x00)
	jpegSecond = jpegSegment(jpegSecond, 0xc0, []byte{8, 0x20, 0, 0x20, 0, 1, 1, 0x11, 0})
	jpegSecond = append(jpegSecond, 0xff, 0xd9)
	if _, err := Decode(jpegSmall); err != nil {
		t.Fatalf("small JPEG: %v", err)
	}

	for name, data := range map[string][]byte{
		"PNG, a second IHDR":                      second,
		"JPEG, a second SOF":                      jpegSecond,
		"WebP, a small VP8X canvas and huge VP8L": riffWebP(vp8xChunk(4, 4, false), webpChunk("VP8L", vp8lUniform(8192, 8192, false))),
		"GIF, a frame larger than the screen":     gifFile(4, 4, 8192, 8192, []byte{0x04, 0x01}),
	} {
		var err error
		n, _ := allocated(func() { _, err = Decode(data) })
		if err == nil || !errors.Is(err, ErrCorruptImage) {
			t.Errorf("%s: %v", name, err)
		}
		if n > 1<<20 {
			t.Errorf("%s: %d bytes allocated", name, n)
		}
	}
}

// A GIF's first frame may be empty: Decode refuses it rather than give
// ToTensor an image without pixels.
func TestDecodeEmptyFrame(t *testing.T) {
	_, err := Decode(gifFile(10, 10, 0, 0, []byte{0x2c})) // clear code, end
	if err == nil || !strings.Contains(err.Error(), "image: GIF image has no pixels (0×0)") {
		t.Errorf("got %v", err)
	}
}

// A panic inside a decoder becomes an error naming the format.
func TestDecodeRecoversPanics(t *testing.T) {
	image.RegisterFormat("panicky", "PANIC", func(io.Reader) (image.Image, error) {
		var m map[string]int
		m["x"] = 1
		return nil, nil
	}, func(io.Reader) (image.Config, error) {
		return image.Config{ColorModel: color.GrayModel, Width: 2, Height: 2}, nil
	})
	_, err := Decode([]byte("PANIC!"))
	if err == nil || !strings.HasPrefix(err.Error(), "image: corrupt panicky image: decoder panic: assignment to entry in nil map") || !errors.Is(err, ErrCorruptImage) {
		t.Errorf("got %v", err)
	}
}

// Decode accepts every image its decoders accept (the Go tree's test
// images and files made here with the encoders; more with
// CNNLENS_IMAGE_DIRS=dir1:dir2), and refuses every one they refuse.
func TestDecodeAgreesWithTheDecoders(t *testing.T) {
	files := map[string][]byte{}
	for _, m := range []image.Image{
		image.NewGray(image.Rect(0, 0, 33, 17)), image.NewGray16(image.Rect(0, 0, 33, 17)),
		image.NewNRGBA(image.Rect(0, 0, 33, 17)), image.NewNRGBA64(image.Rect(0, 0, 33, 17)),
		image.NewRGBA(image.Rect(0, 0, 33, 17)),
		image.NewPaletted(image.Rect(0, 0, 33, 17), color.Palette{color.Black, color.White}),
	} {
		name := fmt.Sprintf("%T", m)
		var b bytes.Buffer
		png.Encode(&b, m)
		files[name+".png"] = b.Bytes()
		for _, c := range []tiff.CompressionType{tiff.Uncompressed, tiff.Deflate} {
			for _, p := range []bool{false, true} {
				var b bytes.Buffer
				if err := tiff.Encode(&b, m, &tiff.Options{Compression: c, Predictor: p}); err == nil {
					files[fmt.Sprintf("%s.%d.%v.tiff", name, c, p)] = b.Bytes()
				}
			}
		}
		b.Reset()
		if err := bmp.Encode(&b, m); err == nil {
			files[name+".bmp"] = b.Bytes()
		}
		b.Reset()
		jpeg.Encode(&b, m, nil)
		files[name+".jpeg"] = b.Bytes()
	}
	dirs := filepath.SplitList(os.Getenv("CNNLENS_IMAGE_DIRS"))
	dirs = append(dirs, filepath.Join(runtime.GOROOT(), "src", "image", "testdata"))
	for _, dir := range dirs {
		paths, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				files[p] = data
			}
		}
	}
	decoded, both := 0, 0
	for name, data := range files {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
			continue
		}
		_, _, want := image.Decode(bytes.NewReader(data))
		_, got := Decode(data)
		switch {
		case (want == nil) != (got == nil):
			t.Errorf("%s: the decoder says %v, Decode %v", name, want, got)
		case got == nil:
			decoded++
		default:
			both++
		}
	}
	t.Logf("%d images decoded, %d refused by both", decoded, both)
	if decoded < 20 {
		t.Errorf("only %d images decoded", decoded)
	}
}

var decodeMemory = flag.Bool("decode-memory", false, "TestDecodeMemory: measure what decoding 64-megapixel files allocates")

// TestDecodeMemory prints, for files that declare 8192×8192 pixels, what
// the decoder alone and Decode allocate (TotalAlloc) and how long they
// take:
//
//	go test -run TestDecodeMemory -v ./engine/imgproc/ -args -decode-memory
func TestDecodeMemory(t *testing.T) {
	if !*decodeMemory {
		t.Skip("run with -args -decode-memory")
	}
	const W, H = 8192, 8192
	z := zlibBytes(make([]byte, 100))
	row := zlibBytes(make([]byte, W*8))
	offs, counts := make([]uint32, H), make([]uint32, H)
	vp8 := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, W & 0xff, W >> 8 & 0x3f, H & 0xff, H >> 8 & 0x3f}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"TIFF RGBA64, empty strip", tiffAt(func(off uint32) []tiffEntry { return rgba64Entries(W, H, 1, H, []uint32{off}, []uint32{0}) }, nil)},
		{"TIFF RGBA64, 15 B of deflate", tiffAt(func(off uint32) []tiffEntry {
			return rgba64Entries(W, H, 8, H, []uint32{off}, []uint32{uint32(len(z))})
		}, z)},
		{"TIFF RGBA64, 8192 strips sharing a row (valid)", tiffAt(func(off uint32) []tiffEntry {
			for i := range offs {
				offs[i], counts[i] = off, uint32(len(row))
			}
			return rgba64Entries(W, H, 8, 1, offs, counts)
		}, row)},
		{"TIFF RGBA64, 262144 tiles sharing one (valid)", tiffAt(func(off uint32) []tiffEntry {
			n := (W / 16) * (H / 16)
			tile := zlibBytes(make([]byte, 16*16*8))
			tileOffsets, tileCounts := make([]uint32, n), make([]uint32, n)
			for i := range tileOffsets {
				tileOffsets[i], tileCounts[i] = off, uint32(len(tile))
			}
			return []tiffEntry{
				{tagWidth, 4, []uint32{W}}, {tagHeight, 4, []uint32{H}},
				{tagBits, 3, []uint32{16, 16, 16, 16}}, {tagCompression, 3, []uint32{8}},
				{tagPhotometric, 3, []uint32{2}}, {tagSamples, 3, []uint32{4}},
				{tagTileWidth, 4, []uint32{16}}, {tagTileLength, 4, []uint32{16}},
				{tagTileOffsets, 4, tileOffsets}, {tagTileCounts, 4, tileCounts},
				{tagExtraSamples, 3, []uint32{2}},
			}
		}, zlibBytes(make([]byte, 16*16*8)))},
		{"TIFF RGBA64, deflate, one strip (valid)", func() []byte {
			var b bytes.Buffer
			tiff.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, W, H)), &tiff.Options{Compression: tiff.Deflate})
			return b.Bytes()
		}()},
		{"PNG RGBA64, 15 B of IDAT", pngFile(W, H, 16, 6, 0, z)},
		{"PNG RGBA64 interlaced, 15 B of IDAT", pngFile(W, H, 16, 6, 1, z)},
		{"JPEG baseline YCbCr, no scan data", append(jpegHeaders(W, H, 3, false), 0, 0xff, 0xd9)},
		{"JPEG progressive YCbCr, no scan data", append(jpegHeaders(W, H, 3, true), 0, 0xff, 0xd9)},
		{"JPEG progressive grey, 2 scans (valid)", jpegManyScans(W, H, 1)},
		{"JPEG progressive grey, 101 scans", jpegManyScans(W, H, 100)},
		{"GIF, 2 B of LZW", gifFile(W, H, W, H, []byte{0x04, 0x01})},
		{"BMP 32-bit, header only", bmpFile(W, H, nil)},
		{"WebP VP8L, uniform (valid)", riffWebP(webpChunk("VP8L", vp8lUniform(W, H, false)))},
		{"WebP VP8L, uniform with palette (valid)", riffWebP(webpChunk("VP8L", vp8lUniform(W, H, true)))},
		{"WebP VP8X+ALPH, 4 B of alpha", riffWebP(vp8xChunk(W, H, true), webpChunk("ALPH", []byte{0, 0, 0, 0, 0}))},
		{"WebP VP8, 40 B", riffWebP(webpChunk("VP8 ", append(vp8, make([]byte, 40)...)))},
	} {
		var err error
		raw, rawTime := allocated(func() { _, _, err = image.Decode(bytes.NewReader(c.data)) })
		rawErr := err
		ours, ourTime := allocated(func() { _, err = Decode(c.data) })
		t.Logf("%-46s %8d B | decoder %7.1f MB %6.2f B/px %6v %v | Decode %7.1f MB %6v %v",
			c.name, len(c.data), float64(raw)/(1<<20), float64(raw)/(W*H), rawTime.Round(time.Millisecond), rawErr,
			float64(ours)/(1<<20), ourTime.Round(time.Millisecond), err)
	}
}
