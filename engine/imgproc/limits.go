package imgproc

import (
	"encoding/binary"
	"fmt"
	"image"
)

// The decoders allocate the whole picture as soon as they have read its
// header, before they read a pixel: a PNG, TIFF or BMP of a few dozen
// bytes that declares 8192×8192 pixels makes them allocate up to 512 MB
// (and Go's progressive JPEG decoder 960 MB, four bytes per pixel of each
// component for its coefficients besides the picture) before they find that
// the data is missing. MaxPixels bounds that; checkData, run before the
// decoder, refuses the files whose bytes cannot hold the pixels their
// header declares, so that only a file of a proportionate size reaches the
// allocation, and the files that would make a decoder work far longer than
// their size warrants (many compressed TIFF tiles, many progressive JPEG
// scans). Each bound is one the decoder would meet anyway (a shorter file
// fails to decode) or one that real files stay far below.
//
// GIF (one byte per pixel of the first frame, which must lie within the
// logical screen that DecodeConfig reports) and WebP (at most about 4.5
// bytes per pixel, checked by the decoder against the VP8X canvas) need no
// check of their own.

// Bounds that checkData applies.
const (
	// maxJPEGScans bounds a JPEG's scans: each progressive scan visits
	// every block of its components, and an end-of-band run codes 32767
	// blocks in a couple of bytes, so a scan costs the decoder the same
	// whatever its size (about 40 ms per scan of 64 megapixels). Encoders
	// write 1 to 3 scans (baseline) or about 10 (progressive).
	maxJPEGScans = 100
	// minTIFFBlockPixels: a compressed TIFF may have at most
	// max(maxTIFFBlocks, pixels/minTIFFBlockPixels) strips or tiles. The
	// decoder makes a decompressor for each (about 45 KB for deflate),
	// and the tiles of a small file may all point at the same few bytes.
	minTIFFBlockPixels = 1024
	maxTIFFBlocks      = 4096
	// maxDeflateRatio is the most that deflate expands: 258 bytes from
	// two bits.
	maxDeflateRatio = 1032
)

// A dataError is checkData's reason to refuse a file. workLimit marks the
// refusals for the work a file asks for, rather than for broken data.
type dataError struct {
	msg       string
	workLimit bool
}

func (e *dataError) Error() string { return e.msg }

func truncated(format string, args ...any) error {
	return &dataError{msg: fmt.Sprintf(format, args...)}
}

// checkData checks, before decoding, that data can hold the pixels of the
// w×h image its header declares (cfg, from DecodeConfig), and that
// decoding it is not far more work than its size warrants. It returns a
// *dataError, or nil when the decoder may run: anything that it cannot
// parse is left to the decoder, which fails on it before allocating.
func checkData(format string, cfg image.Config, data []byte) error {
	w, h := int64(cfg.Width), int64(cfg.Height)
	switch format {
	case "bmp":
		return checkBMP(w, h, data)
	case "png":
		return checkPNG(w, h, data)
	case "tiff":
		return checkTIFF(w, h, data)
	case "jpeg":
		return checkJPEG(w, h, data)
	}
	return nil
}

// checkBMP: the decoder (golang.org/x/image/bmp) reads uncompressed rows
// padded to 4 bytes, right after the headers and palette.
func checkBMP(w, h int64, data []byte) error {
	if len(data) < 30 {
		return nil
	}
	offset := int64(binary.LittleEndian.Uint32(data[10:]))
	bpp := int64(binary.LittleEndian.Uint16(data[28:]))
	var row int64
	switch bpp {
	case 1, 2, 4, 8:
		perByte := 8 / bpp
		row = ((w+perByte-1)/perByte + 3) &^ 3
	case 24:
		row = (3*w + 3) &^ 3
	case 32:
		row = 4 * w
	default:
		return nil
	}
	if need := offset + row*h; int64(len(data)) < need {
		return truncated("image: truncated BMP image: %d bytes, where its %d×%d pixels of %d bits need %d", len(data), w, h, bpp, need)
	}
	return nil
}

// checkPNG: the IDAT chunks must hold at least the image's pixel bytes
// once inflated.
func checkPNG(w, h int64, data []byte) error {
	if len(data) < 33 {
		return nil
	}
	depth, colorType := int64(data[24]), data[25]
	channels := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	if channels == 0 {
		return nil
	}
	need := (w*h*depth*channels + 7) / 8
	var idat int64
	for pos := int64(8); pos+8 <= int64(len(data)); {
		n := int64(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if typ == "IDAT" {
			idat += min(n, int64(len(data))-pos-8)
		}
		if typ == "IEND" {
			break
		}
		pos += 12 + n
	}
	if idat*maxDeflateRatio < need {
		return truncated("image: truncated PNG image: %d bytes of compressed pixels, where its %d×%d pixels need %d bytes (at least %d compressed)", idat, w, h, need, (need+maxDeflateRatio-1)/maxDeflateRatio)
	}
	return nil
}

// TIFF tags and compression schemes.
const (
	tiffBitsPerSample  = 258
	tiffCompression    = 259
	tiffStripOffsets   = 273
	tiffRowsPerStrip   = 278
	tiffStripByteCount = 279
	tiffTileWidth      = 322
	tiffTileLength     = 323
	tiffTileOffsets    = 324
	tiffTileByteCounts = 325
)

// tiffIFD reads the first IFD of a TIFF file as golang.org/x/image/tiff
// does.
type tiffIFD struct {
	data    []byte
	order   binary.ByteOrder
	entries map[int][]byte // tag → its 12-byte entry
}

func parseTIFF(data []byte) (*tiffIFD, bool) {
	if len(data) < 8 {
		return nil, false
	}
	t := &tiffIFD{data: data, entries: map[int][]byte{}}
	switch string(data[:4]) {
	case "II*\x00":
		t.order = binary.LittleEndian
	case "MM\x00*":
		t.order = binary.BigEndian
	default:
		return nil, false
	}
	off := int64(t.order.Uint32(data[4:]))
	if off+2 > int64(len(data)) {
		return nil, false
	}
	n := int64(t.order.Uint16(data[off:]))
	if off+2+12*n > int64(len(data)) {
		return nil, false
	}
	for k := range n {
		e := data[off+2+12*k:][:12]
		t.entries[int(t.order.Uint16(e))] = e
	}
	return t, true
}

// tiffTypeSizes are the sizes of the TIFF field types BYTE (1), SHORT (3)
// and LONG (4).
var tiffTypeSizes = [...]int64{1: 1, 3: 2, 4: 4}

// tiffValues are the first values of an IFD entry of type BYTE, SHORT or
// LONG, read in place.
type tiffValues struct {
	raw   []byte
	size  int64
	order binary.ByteOrder
}

func (v tiffValues) len() int64 { return int64(len(v.raw)) / v.size }

func (v tiffValues) at(k int64) uint64 {
	switch v.size {
	case 1:
		return uint64(v.raw[k])
	case 2:
		return uint64(v.order.Uint16(v.raw[2*k:]))
	}
	return uint64(v.order.Uint32(v.raw[4*k:]))
}

// values returns the first max values of an entry (none when absent),
// false when the decoder would refuse them.
func (t *tiffIFD) values(tag int, max int64) (tiffValues, bool) {
	v := tiffValues{size: 1, order: t.order}
	e, ok := t.entries[tag]
	if !ok {
		return v, true
	}
	typ := int(t.order.Uint16(e[2:]))
	if typ != 1 && typ != 3 && typ != 4 {
		return v, false
	}
	v.size = tiffTypeSizes[typ]
	count := int64(t.order.Uint32(e[4:]))
	n := min(count, max)
	v.raw = e[8 : 8+min(v.size*count, 4)]
	if v.size*count > 4 {
		off := int64(t.order.Uint32(e[8:]))
		if off+v.size*n > int64(len(t.data)) {
			return v, false
		}
		v.raw = t.data[off : off+v.size*n]
	}
	v.raw = v.raw[:v.size*n]
	return v, true
}

func (t *tiffIFD) first(tag int) uint64 {
	v, ok := t.values(tag, 1)
	if !ok || v.len() == 0 {
		return 0
	}
	return v.at(0)
}

// checkTIFF follows the decoder's layout of strips or tiles and checks each
// one's byte count against the bytes its pixels need: all of them when
// uncompressed, and what the scheme's largest expansion allows when
// compressed.
func checkTIFF(w, h int64, data []byte) error {
	t, ok := parseTIFF(data)
	if !ok {
		return nil
	}
	compression := t.first(tiffCompression)
	// The most bytes one compressed byte can give; 0: uncompressed.
	var ratio int64
	switch compression {
	case 0, 1:
	case 3, 4: // CCITT group 3 and 4 fax: a row takes at least a bit.
		ratio = -1
	case 5: // LZW: codes of at least 9 bits, strings of at most 4096 bytes.
		ratio = 4096 * 8 / 9
	case 8, 32946:
		ratio = maxDeflateRatio
	case 32773: // PackBits: 128 bytes from 2.
		ratio = 64
	default:
		return &dataError{msg: fmt.Sprintf("image: TIFF compression %d is not supported", compression)}
	}
	bits, ok := t.values(tiffBitsPerSample, 16)
	if !ok {
		return nil
	}
	bpp := int64(1)
	if bits.len() > 0 {
		bpp = int64(bits.at(0))
	}
	pixelBits := bpp * max(1, bits.len())

	// The layout, as the decoder computes it; what it refuses before
	// allocating is left to it.
	bw, bh := w, h
	across, down := int64(1), int64(1)
	padded := t.first(tiffTileWidth) != 0
	offTag, countTag := tiffStripOffsets, tiffStripByteCount
	if padded {
		bw, bh = int64(t.first(tiffTileWidth)), int64(t.first(tiffTileLength))
		if bw < 8 || bh < 8 || bw > 1<<24 || bh > 1<<24 {
			return nil
		}
		across, down = (w+bw-1)/bw, (h+bh-1)/bh
		offTag, countTag = tiffTileOffsets, tiffTileByteCounts
	} else {
		if v := int64(t.first(tiffRowsPerStrip)); v > 0 && v < h {
			bh = v
		}
		down = (h + bh - 1) / bh
	}
	blocks := across * down
	what := "strip"
	if padded {
		what = "tile"
	}
	if limit := max(maxTIFFBlocks, w*h/minTIFFBlockPixels); ratio != 0 && blocks > limit {
		return &dataError{workLimit: true, msg: fmt.Sprintf("image: TIFF image has %d compressed %ss for %d×%d pixels; the limit is %d (%d pixels each on average)",
			blocks, what, w, h, limit, minTIFFBlockPixels)}
	}
	offsets, ok1 := t.values(offTag, blocks)
	counts, ok2 := t.values(countTag, blocks)
	if !ok1 || !ok2 || offsets.len() < blocks || counts.len() < blocks {
		return nil
	}
	for j := range down {
		for i := range across {
			k := j*across + i
			blkW, blkH := bw, bh
			if !padded && j == down-1 && h%bh != 0 {
				blkH = h % bh
			}
			cols := min(bw, w-i*bw)
			rows := min(blkH, h-j*bh)
			rowBytes := (blkW*pixelBits + 7) / 8
			need := (rows-1)*rowBytes + (cols*pixelBits+7)/8
			off, n := int64(offsets.at(k)), int64(counts.at(k))
			avail := max(0, min(n, int64(len(data))-off))
			switch {
			case ratio == 0 && n > bw*bh*8:
				return truncated("image: corrupt TIFF image: %s %d declares %d bytes, more than its %d×%d pixels can take", what, k, n, bw, bh)
			case ratio == 0 && avail < n:
				return truncated("image: truncated TIFF image: %s %d declares %d bytes, the file has %d", what, k, n, avail)
			case ratio == 0 && n < need:
				return truncated("image: truncated TIFF image: %s %d has %d bytes, where its pixels need %d", what, k, n, need)
			case ratio < 0 && avail*8*((blkW+7)/8+1) < need,
				ratio > 0 && avail*ratio < need:
				return truncated("image: truncated TIFF image: compressed %s %d has %d bytes, too few for the %d bytes of its pixels", what, k, avail, need)
			}
		}
	}
	return nil
}

// checkJPEG walks the markers as the decoder does: it counts the scans,
// and checks that the first scan has at least a bit for each block it
// codes (two for a baseline scan: a DC difference and an end of block),
// since the decoder allocates the picture, and for a progressive image the
// coefficients of the scan's components, when it reaches the first scan.
func checkJPEG(w, h int64, data []byte) error {
	var (
		sof         []byte // the frame header's payload
		progressive bool
		scans       int
	)
	for pos := 2; pos < len(data); {
		if data[pos] != 0xff {
			pos++ // the decoder skips stray bytes between segments
			continue
		}
		for pos < len(data) && data[pos] == 0xff {
			pos++
		}
		if pos >= len(data) {
			break
		}
		marker := data[pos]
		pos++
		if marker == 0xd9 { // EOI
			break
		}
		if marker == 0 || 0xd0 <= marker && marker <= 0xd7 {
			continue
		}
		if pos+2 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		if n < 2 {
			return nil
		}
		seg := data[pos+2 : min(pos+n, len(data))]
		pos += n
		switch marker {
		case 0xc0, 0xc1, 0xc2:
			if sof == nil {
				sof, progressive = seg, marker == 0xc2
			}
		case 0xda: // SOS, then the entropy-coded data up to the next marker
			start := min(pos, len(data))
			for pos < len(data) {
				if data[pos] == 0xff && pos+1 < len(data) {
					if next := data[pos+1]; next == 0 || 0xd0 <= next && next <= 0xd7 {
						pos += 2
						continue
					}
					break
				}
				pos++
			}
			scans++
			if scans > maxJPEGScans {
				return &dataError{workLimit: true, msg: fmt.Sprintf("image: JPEG image has more than %d scans", maxJPEGScans)}
			}
			if scans == 1 && sof != nil {
				if err := checkFirstScan(w, h, sof, progressive, seg, int64(pos-start)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkFirstScan checks the length of a JPEG's first scan against the
// blocks it codes (a lower bound, counting only the blocks inside the
// image).
func checkFirstScan(w, h int64, sof []byte, progressive bool, sos []byte, length int64) error {
	if len(sof) < 6 || len(sos) < 1 {
		return nil
	}
	nf := int(sof[5])
	if len(sof) < 6+3*nf || nf == 0 {
		return nil
	}
	ns := int(sos[0])
	if len(sos) < 1+2*ns+3 {
		return nil
	}
	hmax, vmax := int64(1), int64(1)
	for c := range nf {
		hv := sof[7+3*c]
		hmax, vmax = max(hmax, int64(hv>>4)), max(vmax, int64(hv&15))
	}
	var blocks int64
	for s := range ns {
		id := sos[1+2*s]
		for c := range nf {
			if sof[6+3*c] != id {
				continue
			}
			hc, vc := int64(sof[7+3*c]>>4), int64(sof[7+3*c]&15)
			if nf == 1 {
				hc, vc = hmax, vmax
			}
			blocks += (w * hc / hmax / 8) * (h * vc / vmax / 8)
		}
	}
	bitsPerBlock := int64(2)
	if progressive {
		if sos[1+2*ns] != 0 {
			return truncated("image: corrupt JPEG image: the first scan codes AC coefficients, before any DC scan")
		}
		bitsPerBlock = 1
	}
	if need := (blocks*bitsPerBlock + 7) / 8; length < need {
		return truncated("image: truncated JPEG image: its first scan has %d bytes, where the %d blocks it codes need at least %d", length, blocks, need)
	}
	return nil
}
