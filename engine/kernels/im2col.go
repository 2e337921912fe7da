package kernels

// ConvGeom describes one 2-D convolution or pooling window over a C×H×W image.
type ConvGeom struct {
	C, H, W          int // input channels (of one group), height, width
	KH, KW           int // kernel size
	PadT, PadL       int // leading padding (trailing padding is implied by OutH/OutW)
	StrideH, StrideW int
	DilH, DilW       int
	OutH, OutW       int
}

// Im2colNeeded reports whether a convolution with geometry g needs the
// im2col matrix at all. It is false for 1×1 kernels with stride 1 and no
// padding, where Im2col would copy x unchanged: the caller can then use x
// (C×(H·W)) directly as the B matrix of the GEMM.
func Im2colNeeded(g ConvGeom) bool {
	return !(g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 &&
		g.PadT == 0 && g.PadL == 0 && g.OutH == g.H && g.OutW == g.W)
}

// outRange returns the range [lo, hi) of output positions o in [0, n) whose
// input coordinate o·stride + off lies in [0, size). stride must be > 0.
func outRange(off, stride, size, n int) (lo, hi int) {
	lo = max(0, ceilDiv(-off, stride))
	hi = min(n, ceilDiv(size-off, stride))
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}

// Im2col unrolls x (C×H×W) into col, a (C·KH·KW)×(OutH·OutW) row-major
// matrix; positions that fall into the padding are 0.
func Im2col(g ConvGeom, x, col []float32) {
	if g.StrideH <= 0 || g.StrideW <= 0 {
		im2colGeneric(g, x, col)
		return
	}
	Im2colRows(g, x, col, 0, g.C*g.KH*g.KW)
}

// Im2colRows writes rows lo…hi-1 of Im2col's matrix (row (c·KH+ki)·KW+kj
// holds tap (ki, kj) of channel c), as Im2col does: rows are independent,
// so separate goroutines may fill separate ranges. It needs positive
// strides.
func Im2colRows(g ConvGeom, x, col []float32, lo, hi int) {
	ohw := g.OutH * g.OutW
	hw := g.H * g.W
	// With unit strides and OutW == W (the usual "same" convolution), the
	// valid rows of one col row are a single shifted run of the image:
	// copy it at once, then zero the padding columns.
	plane := g.StrideH == 1 && g.StrideW == 1 && g.OutW == g.W
	for ri := lo; ri < hi; ri++ {
		c, ki, kj := ri/(g.KH*g.KW), ri/g.KW%g.KH, ri%g.KW
		xc := x[c*hw:][:hw]
		yoff := ki*g.DilH - g.PadT
		oyLo, oyHi := outRange(yoff, g.StrideH, g.H, g.OutH)
		row := col[ri*ohw:][:ohw]
		xoff := kj*g.DilW - g.PadL
		oxLo, oxHi := outRange(xoff, g.StrideW, g.W, g.OutW)
		if oyLo == oyHi || oxLo == oxHi {
			clear(row)
			continue
		}
		// Output rows entirely in the vertical padding.
		zero(row[:oyLo*g.OutW])
		zero(row[oyHi*g.OutW:])
		if plane {
			w := g.W
			dst := row[oyLo*w : oyHi*w]
			shift := (oyLo+yoff)*w + xoff // x index of dst[0]
			lo, hi := max(0, -shift), min(len(dst), hw-shift)
			copy(dst[lo:hi], xc[shift+lo:])
			if oxLo > 0 || oxHi < w {
				for r := 0; r < len(dst); r += w {
					zero(dst[r : r+oxLo])
					zero(dst[r+oxHi : r+w])
				}
			}
			continue
		}
		for oy := oyLo; oy < oyHi; oy++ {
			dst := row[oy*g.OutW:][:g.OutW]
			src := xc[(oy*g.StrideH+yoff)*g.W:][:g.W]
			zero(dst[:oxLo])
			zero(dst[oxHi:])
			d := dst[oxLo:oxHi]
			switch sw := g.StrideW; sw {
			case 1:
				copyShort(d, src[oxLo+xoff:])
			default:
				gatherStrided(d, src[oxLo*sw+xoff:], sw)
			}
		}
	}
}

// Col2im is Im2col's adjoint: it adds every entry of col back into x
// (C×H×W) at the position it was read from. x is accumulated into, not
// overwritten.
func Col2im(g ConvGeom, col, x []float32) {
	if g.StrideH <= 0 || g.StrideW <= 0 {
		col2imGeneric(g, col, x)
		return
	}
	ohw := g.OutH * g.OutW
	hw := g.H * g.W
	for c := 0; c < g.C; c++ {
		xc := x[c*hw:][:hw]
		for ki := 0; ki < g.KH; ki++ {
			yoff := ki*g.DilH - g.PadT
			oyLo, oyHi := outRange(yoff, g.StrideH, g.H, g.OutH)
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				xoff := kj*g.DilW - g.PadL
				oxLo, oxHi := outRange(xoff, g.StrideW, g.W, g.OutW)
				if oxLo == oxHi {
					continue
				}
				for oy := oyLo; oy < oyHi; oy++ {
					s := row[oy*g.OutW+oxLo:][:oxHi-oxLo]
					dst := xc[(oy*g.StrideH+yoff)*g.W:][:g.W]
					switch sw := g.StrideW; sw {
					case 1:
						addTo(dst[oxLo+xoff:][:len(s)], s)
					default:
						scatterAddStrided(dst[oxLo*sw+xoff:], s, sw)
					}
				}
			}
		}
	}
}

// zero clears d; short runs (padding columns) are cleared inline.
func zero(d []float32) {
	if len(d) > 16 {
		clear(d)
		return
	}
	for i := range d {
		d[i] = 0
	}
}

// copyShort copies src into d (len(src) ≥ len(d)); short runs are copied
// inline, avoiding the memmove call.
func copyShort(d, src []float32) {
	if len(d) > 16 {
		copy(d, src)
		return
	}
	src = src[:len(d)]
	for i, v := range src {
		d[i] = v
	}
}

// GatherStrided sets d[i] = s[i·stride] for i < len(d).
func GatherStrided(d, s []float32, stride int) { gatherStrided(d, s, stride) }

// gatherStrided sets d[i] = s[i·stride] for i < len(d).
func gatherStrided(d, s []float32, stride int) {
	if len(d) == 0 {
		return
	}
	s = s[:(len(d)-1)*stride+1]
	i := 0
	if stride == 2 {
		// The common case (stride-2 convolutions, 2×2 pooling), unrolled
		// with fixed-size views so that it needs no per-element checks,
		// sixteen values per iteration (Go's wasm code pays for every
		// iteration: 0.64 against 1.8 ms for four per iteration, a million
		// values in rows of 112 under Node).
		for ; i+16 <= len(d); i += 16 {
			ss := (*[31]float32)(s[2*i : 2*i+31])
			dd := (*[16]float32)(d[i : i+16])
			dd[0], dd[1], dd[2], dd[3] = ss[0], ss[2], ss[4], ss[6]
			dd[4], dd[5], dd[6], dd[7] = ss[8], ss[10], ss[12], ss[14]
			dd[8], dd[9], dd[10], dd[11] = ss[16], ss[18], ss[20], ss[22]
			dd[12], dd[13], dd[14], dd[15] = ss[24], ss[26], ss[28], ss[30]
		}
		for ; i+4 <= len(d); i += 4 {
			ss := (*[7]float32)(s[2*i : 2*i+7])
			dd := (*[4]float32)(d[i : i+4])
			dd[0], dd[1], dd[2], dd[3] = ss[0], ss[2], ss[4], ss[6]
		}
	}
	for ix := i * stride; i < len(d); i, ix = i+1, ix+stride {
		d[i] = s[ix]
	}
}

// scatterAddStrided computes d[i·stride] += s[i] for i < len(s).
func scatterAddStrided(d, s []float32, stride int) {
	if len(s) == 0 {
		return
	}
	d = d[:(len(s)-1)*stride+1]
	i := 0
	if stride == 2 {
		for ; i+8 <= len(s); i += 8 {
			dd := (*[15]float32)(d[2*i : 2*i+15])
			ss := (*[8]float32)(s[i : i+8])
			dd[0] += ss[0]
			dd[2] += ss[1]
			dd[4] += ss[2]
			dd[6] += ss[3]
			dd[8] += ss[4]
			dd[10] += ss[5]
			dd[12] += ss[6]
			dd[14] += ss[7]
		}
		for ; i+4 <= len(s); i += 4 {
			dd := (*[7]float32)(d[2*i : 2*i+7])
			ss := (*[4]float32)(s[i : i+4])
			dd[0] += ss[0]
			dd[2] += ss[1]
			dd[4] += ss[2]
			dd[6] += ss[3]
		}
	}
	for ix := i * stride; i < len(s); i, ix = i+1, ix+stride {
		d[ix] += s[i]
	}
}

// addTo computes d[i] += s[i] for i < len(d) (len(s) ≥ len(d)).
func addTo(d, s []float32) {
	s = s[:len(d)]
	i := 0
	for ; i+4 <= len(d); i += 4 {
		dd, ss := d[i:i+4:i+4], s[i:i+4:i+4]
		dd[0] += ss[0]
		dd[1] += ss[1]
		dd[2] += ss[2]
		dd[3] += ss[3]
	}
	for ; i < len(d); i++ {
		d[i] += s[i]
	}
}

// im2colGeneric is the straightforward Im2col, used for degenerate
// (non-positive) strides.
func im2colGeneric(g ConvGeom, x, col []float32) {
	ohw := g.OutH * g.OutW
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				for oy := 0; oy < g.OutH; oy++ {
					iy := oy*g.StrideH - g.PadT + ki*g.DilH
					for ox := 0; ox < g.OutW; ox++ {
						ix := ox*g.StrideW - g.PadL + kj*g.DilW
						v := float32(0)
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							v = x[(c*g.H+iy)*g.W+ix]
						}
						row[oy*g.OutW+ox] = v
					}
				}
			}
		}
	}
}

// col2imGeneric is the straightforward Col2im, used for degenerate
// (non-positive) strides.
func col2imGeneric(g ConvGeom, col, x []float32) {
	ohw := g.OutH * g.OutW
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				for oy := 0; oy < g.OutH; oy++ {
					iy := oy*g.StrideH - g.PadT + ki*g.DilH
					if iy < 0 || iy >= g.H {
						continue
					}
					for ox := 0; ox < g.OutW; ox++ {
						ix := ox*g.StrideW - g.PadL + kj*g.DilW
						if ix >= 0 && ix < g.W {
							x[(c*g.H+iy)*g.W+ix] += row[oy*g.OutW+ox]
						}
					}
				}
			}
		}
	}
}

// packIm2col packs rows p0…p0+kb-1, columns j0…j0+nb-1 of Im2col's matrix
// of x into gemmNR-column micro-panels, as packB packs a stored matrix
// (dst[q·kb+p][c] = col[p0+p][j0+q·gemmNR+c], zero past nb), without making
// the matrix: each row's nb values are gathered from the image into tmp
// (len ≥ nb, in L1), then cut into the panels.
func packIm2col(g *ConvGeom, x []float32, p0, kb, j0, nb int, dst []bRow, tmp []float32) {
	seg := tmp[:nb]
	full := nb / gemmNR
	for p := 0; p < kb; p++ {
		im2colSegment(g, x, p0+p, j0, seg)
		d := dst[p:]
		q := 0
		// Four panels per iteration (Go's wasm code pays for every
		// iteration, and wasm's panels are three values wide).
		for ; q+4 <= full; q += 4 {
			s := (*[4 * gemmNR]float32)(seg[q*gemmNR:])
			d[q*kb] = bRow(s[:gemmNR])
			d[(q+1)*kb] = bRow(s[gemmNR:])
			d[(q+2)*kb] = bRow(s[2*gemmNR:])
			d[(q+3)*kb] = bRow(s[3*gemmNR:])
		}
		for ; q < full; q++ {
			d[q*kb] = bRow(seg[q*gemmNR:])
		}
		if rest := seg[full*gemmNR:]; len(rest) > 0 {
			var r bRow
			copy(r[:], rest)
			d[full*kb] = r
		}
	}
}

// im2colSegment writes columns j0…j0+len(seg)-1 of row ri of Im2col's
// matrix of x into seg: the same values Im2colRows writes there.
func im2colSegment(g *ConvGeom, x []float32, ri, j0 int, seg []float32) {
	c, ki, kj := ri/(g.KH*g.KW), ri/g.KW%g.KH, ri%g.KW
	xc := x[c*g.H*g.W:][:g.H*g.W]
	yoff := ki*g.DilH - g.PadT
	xoff := kj*g.DilW - g.PadL
	oxLo, oxHi := outRange(xoff, g.StrideW, g.W, g.OutW)
	ow, sw := g.OutW, g.StrideW
	j1 := j0 + len(seg)
	if g.StrideH == 1 && sw == 1 && ow == g.W {
		// As in Im2colRows: the valid output rows are one shifted run of
		// the image; copy its part in the segment, then clear the padding.
		oyLo, oyHi := outRange(yoff, 1, g.H, g.OutH)
		a, b := max(oyLo*ow, j0), min(oyHi*ow, j1)
		if a >= b || oxLo >= oxHi {
			zero(seg)
			return
		}
		zero(seg[:a-j0])
		zero(seg[b-j0:])
		shift := yoff*ow + xoff // x index of column j is j+shift
		lo, hi := max(a, -shift), min(b, len(xc)-shift)
		zero(seg[a-j0 : max(a, lo)-j0])
		zero(seg[min(b, max(hi, a))-j0 : b-j0])
		if lo < hi {
			copyShort(seg[lo-j0:hi-j0], xc[lo+shift:])
		}
		if oxLo > 0 {
			for r := a / ow * ow; r < b; r += ow {
				for j := max(r, a); j < min(r+oxLo, b); j++ {
					seg[j-j0] = 0
				}
			}
		}
		if oxHi < ow {
			for r := a / ow * ow; r < b; r += ow {
				for j := max(r+oxHi, a); j < min(r+ow, b); j++ {
					seg[j-j0] = 0
				}
			}
		}
		return
	}
	for oy := j0 / ow; oy*ow < j1; oy++ {
		a, b := max(oy*ow, j0), min((oy+1)*ow, j1) // columns of this output row
		dst := seg[a-j0 : b-j0]
		iy := oy*g.StrideH + yoff
		if iy < 0 || iy >= g.H || oxLo >= oxHi {
			zero(dst)
			continue
		}
		ox0, ox1 := a-oy*ow, b-oy*ow // output columns ox0…ox1-1
		lo, hi := max(ox0, oxLo), min(ox1, oxHi)
		if lo >= hi {
			zero(dst)
			continue
		}
		zero(dst[:lo-ox0])
		zero(dst[hi-ox0:])
		d := dst[lo-ox0 : hi-ox0]
		src := xc[iy*g.W:][:g.W]
		if sw == 1 {
			copyShort(d, src[lo+xoff:])
		} else {
			gatherStrided(d, src[lo*sw+xoff:], sw)
		}
	}
}
