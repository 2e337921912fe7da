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
