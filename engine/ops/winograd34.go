package ops

import (
	"runtime"

	"github.com/cnnlens/cnnlens/engine/kernels"
)

// Winograd F(3×3, 4×4) for 7×7 stride-2 convolutions (the stem of ResNets
// and their kin) in forward passes at TierFast.
//
// A 7×7 stride-2 convolution is a 4×4 stride-1 convolution of its input's
// space-to-depth rearrangement. With the input padded, its four phases
// x_ab[i][j] = x[2i+a][2j+b] (a, b ∈ {0, 1}) make 4C channels, and the
// kernel's matching taps g_ab[u][v] = g[2u+a][2v+b] (zero where 2u+a or
// 2v+b is 7) a 4×4 kernel over them:
//
//	y[oy][ox] = Σ_{c,a,b} Σ_{u,v<4} g_cab[u][v] · x_cab[oy+u][ox+v].
//
// That convolution runs as F(3×3, 4×4): 3×3 output tiles read from 6×6
// windows, with F(4×4, 3×3)'s interpolation points (0, ±1, ±2, ∞), so the
// input transform is F(4×4, 3×3)'s Bᵀ (wg4B) and
//
//	G  = [¼ 0 0 0; -⅙ -⅙ -⅙ -⅙; -⅙ ⅙ -⅙ ⅙; 1/24 1/12 ⅙ ⅓; 1/24 -1/12 ⅙ -⅓; 0 0 0 1]
//	Aᵀ = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 1]
//
// (G's rows are the points' powers scaled as F(4×4, 3×3)'s, Aᵀ's columns
// the points' powers up to 2). That is 36 multiply-adds per 9 outputs and
// phase channel, 16 per output and input channel against im2col's 49:
// for ResNet's stem (3 → 64 channels, 112×112 outputs) 40 M multiply-adds
// instead of 118 M, as 36 GEMMs of 64×12 by 12×tiles, plus the transforms.
//
// The rounding differs from im2col's (about that of F(4×4, 3×3) forward
// passes, TestStemWinograd), so only TierFast takes it forward, as it takes
// F(4×4, 3×3) forward. The input gradient takes it at every tier, as input
// gradients take F(4×4, 3×3): it is linear in dY, so its rounding moves no
// gate (stemBackwardInput).

// stemMinOut is the least output height and width that take the stem
// path (smaller planes waste more of the 3×3 tiles on padding).
const stemMinOut = 16

// stemWinograd turns the stem path on (at TierFast). It is on in wasm
// only, whose GEMM is scalar and whose transforms are assembly: there ResNet's
// stem takes 15 ms instead of 25 (BenchmarkStemWinograd); natively the
// AVX2 GEMM does im2col's 118 M multiply-adds in 2.4 ms and the stem path
// took 4.6.
var stemWinograd = runtime.GOARCH == "wasm"

// stemFits reports whether the convolution is a 7×7 stride-2 one the stem
// path computes: one group, dilation 1, large enough outputs.
func (p *convPlan) stemFits() bool {
	g := p.g
	return p.rank == 4 && p.G == 1 && g.KH == 7 && g.KW == 7 && g.StrideH == 2 && g.StrideW == 2 &&
		g.DilH == 1 && g.DilW == 1 && g.OutH >= stemMinOut && g.OutW >= stemMinOut && p.M >= 16
}

// useStemForward reports whether Forward takes the stem path: at TierFast
// (not under WithIm2col), where the Winograd thresholds are on. At
// TierReference the same convolution is counted in FastTierDiffers (its
// path depends on the tier), as stemForward counts it at TierFast.
func (p *convPlan) useStemForward() bool {
	if !p.stemAllowed(true) {
		return false
	}
	if !fastTier.Load() {
		fastDiffers.Add(1)
		return false
	}
	winogradUses.Add(1)
	return true
}

// useStemBackward reports whether the input gradient takes the stem path:
// at every tier (not under WithIm2col), where the Winograd thresholds are
// on.
func (p *convPlan) useStemBackward() bool {
	if !p.stemAllowed(false) {
		return false
	}
	winogradUses.Add(1)
	return true
}

// stemAllowed reports whether the stem path may compute the convolution
// (forward, or its input gradient).
func (p *convPlan) stemAllowed(forward bool) bool {
	if !stemWinograd || !p.stemFits() {
		return false
	}
	on, _ := winogradOn(forward)
	return on
}

// stemForward accumulates the 7×7 stride-2 convolution of x into y (which
// holds the bias or zeros) by F(3×3, 4×4) on the input's space-to-depth
// phases. pk, when not nil, keeps the transformed weights.
func stemForward(p *convPlan, pk *wgPack, x, w, y []float32, frozen bool) {
	fastDiffers.Add(1)
	g := p.g
	H2, W2 := g.OutH+3, g.OutW+3 // the rows and columns of each phase the 4×4 taps read
	C4 := 4 * p.C
	xp := scratchGet(p.N * C4 * H2 * W2)
	defer scratchPut(xp)
	xs := (*xp)[:p.N*C4*H2*W2]
	stemPhases(x, p.N*p.C, g.H, g.W, g.PadT, g.PadL, xs, H2, W2)
	u, pa, release := pk.weights(w, frozen, 1, p.M, C4, 3, false)
	defer release()
	gm := wgGeom{N: p.N, G: 1, Cin: C4, Cout: p.M, H: H2, W: W2, OH: g.OutH, OW: g.OutW}
	wgConv(gm, xs, u, pa, y, 3)
}

// stemBackwardInput sets dx to the input gradient of the 7×7 stride-2
// convolution given dy, stemForward's computation transposed: the
// gradient of the phases, dxs[k][i][j] = Σ_{m,u,v} g'[m][k][u][v] ·
// dy[m][i-u][j-v], is the 4×4 stride-1 convolution of dy (padded by 3)
// with the space-to-depth kernel flipped and transposed, by F(3×3, 4×4);
// stemUnphase then puts each phase's values back in their places. For
// ResNet's stem (64 → 12 phase channels, 115×115 outputs) that is 36 GEMMs
// of 12×64 by 64×tiles: 38 M multiply-adds instead of im2col's 118 M.
func stemBackwardInput(p *convPlan, pk *wgPack, w, dy, dx []float32, frozen bool) {
	g := p.g
	H2, W2 := g.OutH+3, g.OutW+3
	C4 := 4 * p.C
	xp := scratchGet(p.N * C4 * H2 * W2)
	defer scratchPut(xp)
	dxs := (*xp)[:p.N*C4*H2*W2]
	clear(dxs)
	u, pa, release := pk.weights(w, frozen, 1, p.M, C4, 3, true)
	defer release()
	gm := wgGeom{N: p.N, G: 1, Cin: p.M, Cout: C4, H: g.OutH, W: g.OutW, OH: H2, OW: W2, padT: 3, padL: 3}
	wgConv(gm, dy, u, pa, dxs, 3)
	stemUnphase(dxs, p.N*p.C, g.H, g.W, g.PadT, g.PadL, dx, H2, W2)
}

// stemUnphase is stemPhases backwards: it sets each value of the planes
// x (H×W, padded by padT rows and padL columns) to its phase's value in
// xs (plane q's phase (a, b) is plane 4q+2a+b, H2×W2).
func stemUnphase(xs []float32, planes, H, W, padT, padL int, x []float32, H2, W2 int) {
	hw, hw2 := H*W, H2*W2
	parallelFor(planes, float64(len(x)), func(lo, hi int) {
		for q := lo; q < hi; q++ {
			plane := x[q*hw:][:hw]
			for yy := 0; yy < H; yy++ {
				i, a := (yy+padT)/2, (yy+padT)%2
				row := plane[yy*W:][:W]
				for b := 0; b < 2; b++ {
					// The columns xx ≡ b - padL (mod 2), from j = (xx+padL)/2.
					xx0 := ((b-padL)%2 + 2) % 2
					if xx0 >= W {
						continue
					}
					src := xs[(4*q+2*a+b)*hw2+i*W2+(xx0+padL)/2:]
					n := (W - xx0 + 1) / 2
					src = src[:n]
					for k, v := range src {
						row[xx0+2*k] = v
					}
				}
			}
		}
	})
}

// stemPhases writes the space-to-depth phases of the planes x (planes of
// H×W, padded by padT rows and padL columns) to xs: plane q's phase
// (a, b) is plane 4q+2a+b of xs, H2×W2, its value [i][j] the padded
// plane's [2i+a][2j+b] (zero in the padding and beyond).
func stemPhases(x []float32, planes, H, W, padT, padL int, xs []float32, H2, W2 int) {
	hw, hw2 := H*W, H2*W2
	parallelFor(4*planes, float64(len(xs)), func(lo, hi int) {
		for q := lo; q < hi; q++ {
			a, b := q/2%2, q%2
			plane := x[q/4*hw:][:hw]
			dst := xs[q*hw2:][:hw2]
			// The columns j with 0 ≤ 2j+b-padL < W: j0 ≤ j < j1.
			j0 := max(0, (padL-b+1)/2)
			j1 := min(W2, (W+padL-b+1)/2)
			for i := 0; i < H2; i++ {
				row := dst[i*W2:][:W2]
				yy := 2*i + a - padT
				if yy < 0 || yy >= H || j0 >= j1 {
					clear(row)
					continue
				}
				clear(row[:j0])
				kernels.GatherStrided(row[j0:j1], plane[yy*W+2*j0+b-padL:], 2)
				clear(row[j1:])
			}
		}
	})
}

// wg34Weights transforms the 7×7 weights w (M × C × 7 × 7) into u, laid
// out [36][M][4C]: U_ξ = G g' Gᵀ at position ξ for the space-to-depth
// kernel g' (M × 4C × 4 × 4, channel 4c+2a+b holding g[m][c]'s taps
// [2u+a][2v+b]), in float64, rounded once. With backward, it transforms
// the flipped, transposed kernel g”[k][m][u][v] = g'[m][k][3-u][3-v] (the
// input gradient's, stemBackwardInput) instead, laid out [36][4C][M].
func wg34Weights(w, u []float32, M, C int, backward bool) {
	C4 := 4 * C
	mc := M * C4
	parallelFor(M, float64(mc)*150, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			for c := 0; c < C; c++ {
				k := w[(m*C+c)*49:][:49]
				for ab := 0; ab < 4; ab++ {
					a, b := ab/2, ab%2
					var gp [4][4]float64
					for uu := 0; uu < 4; uu++ {
						for vv := 0; vv < 4; vv++ {
							su, sv := uu, vv
							if backward {
								su, sv = 3-uu, 3-vv
							}
							if ky, kx := 2*su+a, 2*sv+b; ky < 7 && kx < 7 {
								gp[uu][vv] = float64(k[ky*7+kx])
							}
						}
					}
					// G·g' (6×4), then · Gᵀ (6×6).
					var t [6][4]float64
					for j := 0; j < 4; j++ {
						col := wg34G(gp[0][j], gp[1][j], gp[2][j], gp[3][j])
						for i := range col {
							t[i][j] = col[i]
						}
					}
					o := m*C4 + 4*c + ab
					if backward {
						o = (4*c+ab)*M + m
					}
					for i := 0; i < 6; i++ {
						row := wg34G(t[i][0], t[i][1], t[i][2], t[i][3])
						for j, v := range row {
							u[(6*i+j)*mc+o] = float32(v)
						}
					}
				}
			}
		}
	})
}

// wg34G is G·(g0, g1, g2, g3) for F(3×3, 4×4).
func wg34G(g0, g1, g2, g3 float64) [6]float64 {
	return [6]float64{
		g0 / 4,
		-(g0 + g1 + g2 + g3) / 6,
		-(g0 - g1 + g2 - g3) / 6,
		(g0 + 2*g1 + 4*g2 + 8*g3) / 24,
		(g0 - 2*g1 + 4*g2 - 8*g3) / 24,
		g3,
	}
}

// wg34A is Aᵀ·(m0, …, m5) for F(3×3, 4×4).
func wg34A(m0, m1, m2, m3, m4, m5 float32) (a0, a1, a2 float32) {
	p, q := m1+m2, m1-m2
	r, s := m3+m4, m3-m4
	a0 = m0 + p + r
	a1 = q + 2*s
	a2 = p + 4*r + m5
	return
}
