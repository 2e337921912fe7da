package imgproc

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// Builders of small, hand-made image files for the decoding limits: each
// declares a size in its header and carries as much (or as little) pixel
// data as a test wants.

// tiffEntry is one IFD entry: a tag with SHORT (3) or LONG (4) values.
type tiffEntry struct {
	tag, typ uint16
	vals     []uint32
}

// tiffFile writes a little-endian TIFF with one IFD holding entries (sorted
// by the caller), followed by the out-of-line values and then tail, whose
// offset in the file is returned with it.
func tiffFile(entries []tiffEntry, tail []byte) ([]byte, uint32) {
	le := binary.LittleEndian
	ifdLen := 2 + 12*len(entries) + 4
	extraOff := 8 + ifdLen
	var extra []byte
	var ifd []byte
	ifd = le.AppendUint16(ifd, uint16(len(entries)))
	for _, e := range entries {
		size := 2
		if e.typ == 4 {
			size = 4
		}
		var vals []byte
		for _, v := range e.vals {
			if size == 2 {
				vals = le.AppendUint16(vals, uint16(v))
			} else {
				vals = le.AppendUint32(vals, v)
			}
		}
		ifd = le.AppendUint16(ifd, e.tag)
		ifd = le.AppendUint16(ifd, e.typ)
		ifd = le.AppendUint32(ifd, uint32(len(e.vals)))
		if len(vals) <= 4 {
			var inline [4]byte
			copy(inline[:], vals)
			ifd = append(ifd, inline[:]...)
			continue
		}
		ifd = le.AppendUint32(ifd, uint32(extraOff+len(extra)))
		extra = append(extra, vals...)
	}
	ifd = le.AppendUint32(ifd, 0)
	out := []byte("II*\x00\x08\x00\x00\x00")
	out = append(out, ifd...)
	out = append(out, extra...)
	tailOff := uint32(len(out))
	return append(out, tail...), tailOff
}

// TIFF tags and values used below.
const (
	tagWidth        = 256
	tagHeight       = 257
	tagBits         = 258
	tagCompression  = 259
	tagPhotometric  = 262
	tagStripOffsets = 273
	tagSamples      = 277
	tagRowsPerStrip = 278
	tagStripCounts  = 279
	tagTileWidth    = 322
	tagTileLength   = 323
	tagTileOffsets  = 324
	tagTileCounts   = 325
	tagExtraSamples = 338
)

// tiffAt builds a TIFF whose entries may point into tail: entries gets
// the tail's offset in the file (the layout does not depend on the values).
func tiffAt(entries func(tailOff uint32) []tiffEntry, tail []byte) []byte {
	_, off := tiffFile(entries(0), tail)
	b, _ := tiffFile(entries(off), tail)
	return b
}

// rgba64Entries are the entries of a w×h 16-bit RGBA image (8 bytes per
// pixel, the most any TIFF decodes to) with the given compression and
// strips.
func rgba64Entries(w, h, compression, rowsPerStrip uint32, offsets, counts []uint32) []tiffEntry {
	return []tiffEntry{
		{tagWidth, 4, []uint32{w}},
		{tagHeight, 4, []uint32{h}},
		{tagBits, 3, []uint32{16, 16, 16, 16}},
		{tagCompression, 3, []uint32{compression}},
		{tagPhotometric, 3, []uint32{2}},
		{tagStripOffsets, 4, offsets},
		{tagSamples, 3, []uint32{4}},
		{tagRowsPerStrip, 4, []uint32{rowsPerStrip}},
		{tagStripCounts, 4, counts},
		{tagExtraSamples, 3, []uint32{2}},
	}
}

// zlibBytes compresses data with zlib.
func zlibBytes(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// lzwBytes compresses GIF pixels (minimum code size 2).
func lzwBytes(pix []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 2)
	w.Write(pix)
	w.Close()
	return buf.Bytes()
}

// pngChunk appends one PNG chunk.
func pngChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// pngFile is a PNG with the given IHDR fields and an IDAT holding idat
// (already zlib-compressed).
func pngFile(w, h uint32, depth, colorType, interlace byte, idat []byte) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	var ihdr []byte
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colorType, 0, 0, interlace)
	b = pngChunk(b, "IHDR", ihdr)
	b = pngChunk(b, "IDAT", idat)
	return pngChunk(b, "IEND", nil)
}

// jpegSegment appends a marker segment.
func jpegSegment(b []byte, marker byte, payload []byte) []byte {
	b = append(b, 0xff, marker)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)+2))
	return append(b, payload...)
}

// jpegHeaders is a JPEG up to its first scan's data: a quantisation table,
// a frame header (SOF0 baseline or SOF2 progressive) of w×h with nComp
// components sampled 1×1, a DC table whose only code is "0" (difference
// 0) and an AC table whose only code is "0" (end of block), and a scan
// header over all components (progressive: the DC scan).
func jpegHeaders(w, h uint16, nComp int, progressive bool) []byte {
	b := []byte{0xff, 0xd8}
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	b = jpegSegment(b, 0xdb, q)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nComp)}
	for c := 1; c <= nComp; c++ {
		sof = append(sof, byte(c), 0x11, 0)
	}
	marker := byte(0xc0)
	if progressive {
		marker = 0xc2
	}
	b = jpegSegment(b, marker, sof)
	table := func(class byte, symbol byte) []byte {
		t := make([]byte, 18)
		t[0] = class << 4
		t[1] = 1 // one code of length 1
		t[17] = symbol
		return t
	}
	b = jpegSegment(b, 0xc4, append(table(0, 0), table(1, 0)...))
	sos := []byte{byte(nComp)}
	for c := 1; c <= nComp; c++ {
		sos = append(sos, byte(c), 0x00)
	}
	if progressive {
		sos = append(sos, 0, 0, 0)
	} else {
		sos = append(sos, 0, 63, 0)
	}
	return jpegSegment(b, 0xda, sos)
}

// gifFile is a GIF with a w×h logical screen, a 2-colour global palette
// and one frame of fw×fh at (0, 0) whose LZW data is lzw (minimum code
// size 2, in one sub-block).
func gifFile(w, h, fw, fh uint16, lzw []byte) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0) // global table of 2 colours
	b = append(b, 0, 0, 0, 255, 255, 255)
	b = append(b, 0x2c, 0, 0, 0, 0) // image descriptor at (0, 0)
	b = binary.LittleEndian.AppendUint16(b, fw)
	b = binary.LittleEndian.AppendUint16(b, fh)
	b = append(b, 0, 2, byte(len(lzw)))
	b = append(b, lzw...)
	return append(b, 0, 0x3b)
}

// bmpFile is a 32-bit BMP header of w×h followed by pixels.
func bmpFile(w, h int32, pixels []byte) []byte {
	b := []byte("BM")
	b = binary.LittleEndian.AppendUint32(b, uint32(54+len(pixels)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 54)
	b = binary.LittleEndian.AppendUint32(b, 40)
	b = binary.LittleEndian.AppendUint32(b, uint32(w))
	b = binary.LittleEndian.AppendUint32(b, uint32(h))
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 32)
	b = append(b, make([]byte, 24)...)
	return append(b, pixels...)
}

// riffWebP wraps chunks in a RIFF WEBP container.
func riffWebP(chunks ...[]byte) []byte {
	var body []byte
	body = append(body, "WEBP"...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// webpChunk is one RIFF chunk, padded to even length.
func webpChunk(fourcc string, data []byte) []byte {
	b := []byte(fourcc)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// vp8lHeader is the 5-byte header of a VP8L bitstream of w×h, followed by
// rest.
func vp8lHeader(w, h uint32, rest ...byte) []byte {
	v := (w - 1) | (h-1)<<14
	return append([]byte{0x2f, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}, rest...)
}

// vp8xChunk declares a w×h canvas, with the alpha flag if alpha.
func vp8xChunk(w, h uint32, alpha bool) []byte {
	d := make([]byte, 10)
	if alpha {
		d[0] = 1 << 4
	}
	w--
	h--
	d[4], d[5], d[6] = byte(w), byte(w>>8), byte(w>>16)
	d[7], d[8], d[9] = byte(h), byte(h>>8), byte(h>>16)
	return webpChunk("VP8X", d)
}

// jpegBits packs bits MSB first with 0xff byte stuffing.
type jpegBits struct {
	out   []byte
	acc   uint32
	nbits uint
}

func (w *jpegBits) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nbits++
		if w.nbits == 8 {
			b := byte(w.acc)
			w.out = append(w.out, b)
			if b == 0xff {
				w.out = append(w.out, 0)
			}
			w.acc, w.nbits = 0, 0
		}
	}
}

func (w *jpegBits) bytes() []byte {
	for w.nbits != 0 {
		w.put(1, 1)
	}
	return w.out
}

// jpegManyScans is a w×h grey progressive JPEG with one DC scan followed
// by scans AC scans, each of which skips every block with end-of-band runs
// (a few bytes per scan, whatever the size).
func jpegManyScans(w, h uint16, scans int) []byte {
	b := []byte{0xff, 0xd8}
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	b = jpegSegment(b, 0xdb, q)
	b = jpegSegment(b, 0xc2, []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0})
	table := func(class byte, symbol byte) []byte {
		t := make([]byte, 18)
		t[0] = class << 4
		t[1] = 1
		t[17] = symbol
		return t
	}
	// DC: the only code "0" is difference 0; AC: the only code "0" is
	// EOB14, an end-of-band run of 2^14 plus 14 more bits.
	b = jpegSegment(b, 0xc4, append(table(0, 0), table(1, 0xe0)...))
	blocks := ((int(w) + 7) / 8) * ((int(h) + 7) / 8)
	var dc jpegBits
	for range blocks {
		dc.put(0, 1)
	}
	b = jpegSegment(b, 0xda, []byte{1, 1, 0x00, 0, 0, 0})
	b = append(b, dc.bytes()...)
	var ac jpegBits
	for left := blocks; left > 0; left -= 32767 {
		run := min(left, 32767)
		ac.put(0, 1)
		ac.put(uint32(run-1<<14), 14)
	}
	acData := ac.bytes()
	for range scans {
		b = jpegSegment(b, 0xda, []byte{1, 1, 0x00, 1, 63, 0})
		b = append(b, acData...)
	}
	return append(b, 0xff, 0xd9)
}

// lsbBits packs bits least significant first, as VP8L reads them.
type lsbBits struct {
	out   []byte
	nbits uint
}

func (w *lsbBits) put(v uint32, n uint) {
	for i := uint(0); i < n; i++ {
		if w.nbits%8 == 0 {
			w.out = append(w.out, 0)
		}
		w.out[len(w.out)-1] |= byte((v>>i)&1) << (w.nbits % 8)
		w.nbits++
	}
}

// vp8lUniform is a w×h VP8L bitstream whose five Huffman codes each have
// a single symbol, so that every pixel takes no bits: a valid image of
// any size in a few bytes. With palette, it first declares a 2-colour
// colour-indexing transform.
func vp8lUniform(w, h uint32, palette bool) []byte {
	var b lsbBits
	simpleTrees := func() {
		for range 5 {
			b.put(1, 1) // simple code
			b.put(0, 1) // one symbol
			b.put(0, 1) // of 1 bit
			b.put(0, 1) // symbol 0
		}
	}
	if palette {
		b.put(1, 1) // a transform
		b.put(3, 2) // colour indexing
		b.put(1, 8) // two colours
		b.put(0, 1) // no colour cache
		simpleTrees()
	}
	b.put(0, 1) // no (more) transforms
	b.put(0, 1) // no colour cache
	b.put(0, 1) // no meta Huffman image
	simpleTrees()
	return vp8lHeader(w, h, b.out...)
}
