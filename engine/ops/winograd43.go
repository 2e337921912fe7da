package ops

// Winograd F(4×4, 3×3) (Lavin & Gray 2015, interpolation points 0, ±1, ±2,
// ∞): the output is cut into 4×4 tiles, each read from a 6×6 input patch,
// with
//
//	Bᵀ = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
//	      0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1]
//	G  = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
//	Aᵀ = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
//
// and the same structure as F(2×2, 3×3) (winograd.go): 36 GEMMs
// M_ξ = U_ξ·V_ξ, one per position of the 6×6 transformed tile. That is 36
// multiply-adds per 16 outputs and input channel instead of 144: 4× fewer
// than im2col's GEMM (F(2×2,3×3): 2.25×), for larger transforms and a
// larger rounding error (the transforms' coefficients reach 8 and ¼;
// TestWinogradMatchesIm2col bounds it).

// wg4Weights transforms the weights as wgWeights does, into 36 positions:
// u laid out [G][36][M][C] (or, with backward, the flipped transposed
// kernel, [G][36][C][M]).
func wg4Weights(w, u []float32, groups, M, C int, backward bool) {
	mc := M * C
	rows, cols := M, C
	if backward {
		rows, cols = C, M
	}
	parallelFor(groups*rows, float64(groups*mc)*120, func(lo, hi int) {
		const blk = wgWBlk
		var tmp [36][blk]float32
		for gr := lo; gr < hi; gr++ {
			gi, r := gr/rows, gr%rows
			wg := w[gi*mc*9:][:mc*9]
			ug := u[gi*36*mc:][:36*mc]
			for c0 := 0; c0 < cols; c0 += blk {
				cb := min(blk, cols-c0)
				for j := 0; j < cb; j++ {
					var g [9]float32
					if backward {
						s := wg[((c0+j)*C+r)*9:][:9]
						for i := range g {
							g[i] = s[8-i]
						}
					} else {
						copy(g[:], wg[(r*C+c0+j)*9:][:9])
					}
					// G·g (6×3), column by column.
					var t [6][3]float32
					for k := 0; k < 3; k++ {
						t[0][k], t[1][k], t[2][k], t[3][k], t[4][k], t[5][k] = wg4G(g[k], g[3+k], g[6+k])
					}
					// · Gᵀ, row by row.
					for i := 0; i < 6; i++ {
						a0, a1, a2, a3, a4, a5 := wg4G(t[i][0], t[i][1], t[i][2])
						tmp[6*i][j], tmp[6*i+1][j], tmp[6*i+2][j] = a0, a1, a2
						tmp[6*i+3][j], tmp[6*i+4][j], tmp[6*i+5][j] = a3, a4, a5
					}
				}
				for xi := range tmp {
					copy(ug[xi*mc+r*cols+c0:][:cb], tmp[xi][:cb])
				}
			}
		}
	})
}

// wg4G is G·(g0, g1, g2).
func wg4G(g0, g1, g2 float32) (a0, a1, a2, a3, a4, a5 float32) {
	s := g0 + g2
	a0 = g0 * (1.0 / 4)
	a1 = -(s + g1) * (1.0 / 6)
	a2 = -(s - g1) * (1.0 / 6)
	p := g0*(1.0/24) + g2*(1.0/6)
	q := g1 * (1.0 / 12)
	a3 = p + q
	a4 = p - q
	a5 = g2
	return
}

// wg4B is Bᵀ·(d0, …, d5).
func wg4B(d0, d1, d2, d3, d4, d5 float32) (a0, a1, a2, a3, a4, a5 float32) {
	a0 = 4*d0 - 5*d2 + d4
	a1 = d3 + d4 - 4*(d1+d2)
	a2 = d4 - d3 + 4*(d1-d2)
	a3 = d4 - d2 + 2*(d3-d1)
	a4 = d4 - d2 - 2*(d3-d1)
	a5 = 4*d1 - 5*d3 + d5
	return
}

// wg4A is Aᵀ·(m0, …, m5).
func wg4A(m0, m1, m2, m3, m4, m5 float32) (a0, a1, a2, a3 float32) {
	p, q := m1+m2, m1-m2
	r, s := m3+m4, m3-m4
	a0 = m0 + p + r
	a1 = q + 2*s
	a2 = p + 4*r
	a3 = q + 8*s + m5
	return
}

// wg4Input writes Bᵀ d B of channel c's tiles p0…p0+pb-1 to v[ξ·vs + off + q].
//
// Interior tiles go by runs along a row of tiles to wg4InRow (in wasm
// assembly in wasm: Go's wasm code sends every loop back-edge and taken
// branch through a dispatch table and keeps the window's 36 addresses in
// memory); tiles over the border are copied with their zero padding
// first. The arithmetic is wg4B's in the same order either way:
// TestWgTransformsSameBits compares it bit for bit with the loop it
// replaced.
func wg4Input(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	if pb <= 0 {
		return
	}
	H, W := gm.H, gm.W
	hw := H * W
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	v = v[:35*vs+off+pb]
	// Tiles over the border are transformed from a zero-padded copy of
	// their windows, a run at a time (wg4InPadded).
	var small [6 * 130]float32
	pad := small[:]
	txLo := (gm.padL + 3) / 4     // the first tile whose window starts in the plane
	txHi := (W - 6 + gm.padL) / 4 // the last one whose window ends in it (if ≥ txLo)
	if W-6+gm.padL < 0 {
		txHi = -1
	}
	for q := 0; q < pb; {
		plane := x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
		iy := 4*ty - gm.padT
		cnt := min(pb-q, tw-tx)
		lo, hi := tx+cnt, tx+cnt // the interior run [lo, hi)
		if iy >= 0 && iy+6 <= H {
			lo, hi = max(tx, txLo), min(tx+cnt, txHi+1)
			if lo >= hi {
				lo, hi = tx+cnt, tx+cnt
			}
		}
		if lo > tx {
			pad = wg4InPadded(plane, H, W, iy, 4*tx-gm.padL, lo-tx, v[off+q:], vs, pad)
		}
		if hi > lo {
			wg4InRow(hi-lo, plane[iy*W+4*lo-gm.padL:], W, v[off+q+lo-tx:], vs)
		}
		if tx+cnt > hi {
			pad = wg4InPadded(plane, H, W, iy, 4*hi-gm.padL, tx+cnt-hi, v[off+q+hi-tx:], vs, pad)
		}
		q += cnt
		if tx += cnt; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
			}
		}
	}
}

// wg4InPadded transforms cnt tiles whose windows start at input row iy,
// columns ix, ix+4, … (in part outside the H×W plane) to v[ξ·vs + i], from
// a copy of their 6 rows with the padding's zeros, in buf or a larger
// buffer it returns.
func wg4InPadded(plane []float32, H, W, iy, ix, cnt int, v []float32, vs int, buf []float32) []float32 {
	sw := 4*cnt + 2
	if cap(buf) < 6*sw {
		buf = make([]float32, 6*sw)
	}
	s := buf[:6*sw]
	clear(s)
	if j0, j1 := max(0, -ix), min(sw, W-ix); j0 < j1 {
		for i := max(0, -iy); i < min(6, H-iy); i++ {
			copy(s[i*sw+j0:i*sw+j1], plane[(iy+i)*W+ix+j0:])
		}
	}
	wg4InRow(cnt, s, sw, v, vs)
	return buf
}

// wg4Output adds Aᵀ m A of output channel k's tiles p0…p0+pb-1, read from
// mo[ξ·ms + off + q], to y: interior tiles by runs along a row of tiles
// (wg4OutRow, as wg4Input), tiles over the border through a 4×4 block.
func wg4Output(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	if pb <= 0 {
		return
	}
	OH, OW := gm.OH, gm.OW
	ohw := OH * OW
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	mo = mo[:35*ms+off+pb]
	for q := 0; q < pb; {
		plane := y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
		oy := 4 * ty
		rowIn := oy+4 <= OH
		for end := min(pb, q+tw-tx); q < end; {
			ox := 4 * tx
			if rowIn && ox+4 <= OW {
				k := min(end-q, (OW-4-ox)/4+1)
				wg4OutRow(k, mo[off+q:], ms, plane[oy*OW+ox:], OW)
				q += k
				tx += k
				continue
			}
			var o [16]float32
			wg4OutRow(1, mo[off+q:], ms, o[:], 4)
			for i := 0; i < 4 && oy+i < OH; i++ {
				row := plane[(oy+i)*OW:][:OW]
				for j := 0; j < 4 && ox+j < OW; j++ {
					row[ox+j] += o[4*i+j]
				}
			}
			q++
			tx++
		}
		if tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
			}
		}
	}
}
