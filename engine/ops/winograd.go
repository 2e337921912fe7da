package ops

import (
	"fmt"
	"sync/atomic"

	"github.com/cnnlens/cnnlens/engine/kernels"
)

// Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2015) for 3×3, stride-1, dilation-1 convolutions, in
// two tile sizes: F(2×2, 3×3), below, and F(4×4, 3×3) (winograd43.go) for
// the input gradient with outputs of at least wg4MinOut×wg4MinOut, where its
// 4× fewer GEMM flops (against 2.25×) outweigh its larger transforms and
// padded tiles (see wgTile for why forward passes keep F(2×2, 3×3)).
//
// The output is cut into 2×2 tiles; tile t reads the 4×4 input patch d_t
// (zero outside the image). With the transforms
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// the 2×2 output of channel k is Aᵀ [Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_ct B)] A. The sum
// over c of the element-wise products is, for each of the 16 positions ξ
// of the 4×4 transformed tile, a matrix product
//
//	M_ξ (K×tiles) = U_ξ (K×C) · V_ξ (C×tiles)
//
// done by kernels.Sgemm. That is 16 multiply-adds per 2×2 outputs and input
// channel instead of 36: 2.25× fewer GEMM flops, paid for by the transforms
// (linear in the channel count, not quadratic) and some extra rounding
// (well within 1e-5 relative for the tested shapes).
//
// The forward pass and the gradient with respect to the input use it; the
// latter, for stride 1, is the 3×3 convolution of dY with the spatially
// flipped, transposed kernel and "complementary" padding 2-pad. The weight
// gradient stays on im2col.
//
// Each Conv keeps its transformed weights while the weights do not change
// (winograd_pack.go).

// Dispatch thresholds: Winograd only where benchmarks showed it faster than
// im2col + GEMM (BenchmarkConvWinograd).
const (
	wgMinChannels = 32 // per group, input and output (the GEMMs' k)
	// wgMinOut is the least output height and width: F(2×2) is faster
	// than im2col from 7×7 (ResNet-18's layer4, 512 channels, in wasm:
	// forward 1.14×, input gradient 1.10× for one image; 1.48× and 1.62×
	// in batches of 16), not at 4×4 and below.
	wgMinOut = 7
)

// winogradAuto enables the Winograd path, for the input gradient and (with
// winogradAutoForward) the forward pass, wherever the thresholds above say
// it is faster. Per layer (BenchmarkConvWinograd*, wasm under Node, with
// the assembly GEMM's tile loop, 2026-11-27): forward 1.37–1.46× on ResNet-18's 56²,
// 28² and 14² layers, input gradient 1.16–1.67×. Its rounding error is no
// larger than im2col's (TestWinogradMatchesIm2col logs both against
// float64) but different; every oracle test passes with it but one:
// AblationCAM's raw map, built from differences of nearly equal scores,
// moves from 5.6e-5 to 1.8e-4 of PyTorch's on ResNet-18's mid layer. So
// AblationCAM runs under WithIm2col. F(4×4, 3×3) rounds more (about 5e-6 of
// the largest output against 2e-7, TestWinogradMatchesIm2col): too much for
// forward passes (wgTile).
var (
	winogradAuto        = true
	winogradAutoForward = true
)

// exactConv counts the WithIm2col calls in progress.
var exactConv atomic.Int32

// WithIm2col runs f with every convolution that would take the Winograd
// path computed by im2col + GEMM instead, for computations that need the
// usual summation order (differences of nearly equal results). While it
// runs, convolutions elsewhere (other goroutines) take im2col too.
func WithIm2col(f func() error) error {
	exactConv.Add(1)
	defer exactConv.Add(-1)
	return f()
}

// Tier is the precision tier of a computation's forward convolutions.
// Every tier stays within the oracle's tolerances for the methods that use
// it; they differ in rounding, so a computation that needs the bits of one
// tier runs under it (WithTier).
type Tier int32

const (
	// TierReference: Winograd F(2×2, 3×3) forward where it pays (the
	// thresholds above), F(4×4, 3×3) input gradients from wg4MinOut. The
	// default.
	TierReference Tier = iota
	// TierFast: F(4×4, 3×3) forward passes too, from wg4MinOut: 4× fewer
	// GEMM flops than im2col instead of 2.25×, for a larger rounding error
	// (about 5e-6 of the largest output) that can move a ReLU input lying
	// within rounding of zero to its other side. For the methods whose
	// result does not hinge on such gates (see wgTile).
	TierFast
	// TierExact: im2col + GEMM everywhere (WithIm2col).
	TierExact
)

func (t Tier) String() string {
	switch t {
	case TierReference:
		return "reference"
	case TierFast:
		return "fast"
	case TierExact:
		return "exact"
	}
	return fmt.Sprintf("Tier(%d)", int32(t))
}

// fastTier is set while WithTier(TierFast) runs (and cleared by a nested
// WithTier(TierReference)).
var fastTier atomic.Bool

// WithTier runs f with the forward convolutions computed at a tier:
// TierExact is WithIm2col; TierFast and TierReference set which tile size
// forward passes take, restoring the previous one afterwards. The tier is
// the process's, not the goroutine's: computations at different tiers must
// not run at the same time (TierExact, a counter, is the exception: while
// it runs, every convolution takes im2col).
func WithTier(t Tier, f func() error) error {
	switch t {
	case TierExact:
		return WithIm2col(f)
	case TierFast, TierReference:
		old := fastTier.Swap(t == TierFast)
		defer fastTier.Store(old)
		return f()
	}
	return fmt.Errorf("ops: unknown precision tier %d", int32(t))
}

// CurrentTier is the tier convolutions take now.
func CurrentTier() Tier {
	if exactConv.Load() > 0 {
		return TierExact
	}
	if fastTier.Load() {
		return TierFast
	}
	return TierReference
}

// fastDiffers counts the forward convolutions whose path depends on the
// tier between TierReference and TierFast (Winograd with outputs of at
// least wg4MinOut), at whichever of the two tiers they ran.
var fastDiffers atomic.Int64

// FastTierDiffers is the number of forward convolutions so far in this
// process whose result would differ between TierReference and TierFast: a
// caller tells from it whether a forward pass at one of the two tiers is
// also the other's, bit for bit.
func FastTierDiffers() int64 { return fastDiffers.Load() }

// Winograd modes, for tests and benchmarks.
const (
	wgModeAuto   = iota // winogradAuto and the thresholds decide
	wgModeNever         // always im2col
	wgModeAlways        // Winograd for every convolution it can compute
)

var winogradMode atomic.Int32

// winogradFits reports whether Winograd F(2,3) can compute the convolution.
func (p *convPlan) winogradFits() bool {
	g := p.g
	return p.rank == 4 && !p.depthwise && g.KH == 3 && g.KW == 3 &&
		g.StrideH == 1 && g.StrideW == 1 && g.DilH == 1 && g.DilW == 1
}

// useWinograd reports whether the input gradient should take the Winograd
// path.
func (p *convPlan) useWinograd() bool { return p.useWinogradFor(false) }

// useWinogradForward reports whether Forward should take the Winograd path.
func (p *convPlan) useWinogradForward() bool { return p.useWinogradFor(true) }

func (p *convPlan) useWinogradFor(forward bool) bool {
	if p.pickWinograd(forward) {
		winogradUses.Add(1)
		return true
	}
	return false
}

func (p *convPlan) pickWinograd(forward bool) bool {
	if !p.winogradFits() || exactConv.Load() > 0 {
		return false
	}
	switch winogradMode.Load() {
	case wgModeNever:
		return false
	case wgModeAlways:
		return true
	}
	if forward && !winogradAutoForward {
		return false
	}
	return winogradAuto && p.Cg >= wgMinChannels && p.Mg >= wgMinChannels &&
		p.g.OutH >= wgMinOut && p.g.OutW >= wgMinOut
}

// winogradUses counts the convolutions (forward or input gradient) that
// took the Winograd path.
var winogradUses atomic.Int64

// WinogradUses is the number of convolutions, forward or input gradient,
// that have taken the Winograd path so far in this process: a caller can
// tell whether a computation used it (or, with other goroutines running
// convolutions, may have).
func WinogradUses() int64 { return winogradUses.Load() }

// wgGeom is one Winograd convolution: per image, G groups of Cin input
// channels (planes H×W) mapped to Cout output channels (planes OH×OW), the
// 3×3 window at output (oy, ox) starting at input (oy-padT, ox-padL).
// Pads may be negative (the input gradient of a convolution padded by more
// than 2).
type wgGeom struct {
	N, G       int
	Cin, Cout  int
	H, W       int
	OH, OW     int
	padT, padL int
}

// winogradForward accumulates the convolution into y (which holds the bias
// or zeros). pk, when not nil, keeps the transformed weights; frozen: the
// weights never change (tensor.T.Frozen).
func winogradForward(p *convPlan, pk *wgPack, x, w, y []float32, frozen bool) {
	gm := wgGeom{N: p.N, G: p.G, Cin: p.Cg, Cout: p.Mg, H: p.g.H, W: p.g.W,
		OH: p.g.OutH, OW: p.g.OutW, padT: p.g.PadT, padL: p.g.PadL}
	if gm.OH >= wg4MinOut && gm.OW >= wg4MinOut {
		fastDiffers.Add(1)
	}
	wgRun(gm, pk, w, x, y, false, frozen)
}

// winogradBackwardInput accumulates dX (zeroed by the caller) given dY:
// dX = conv(dY, flip(W)ᵀ) with pads 2-pad.
func winogradBackwardInput(p *convPlan, pk *wgPack, w, dy, dx []float32, frozen bool) {
	gm := wgGeom{N: p.N, G: p.G, Cin: p.Mg, Cout: p.Cg, H: p.g.OutH, W: p.g.OutW,
		OH: p.g.H, OW: p.g.W, padT: 2 - p.g.PadT, padL: 2 - p.g.PadL}
	wgRun(gm, pk, w, dy, dx, true, frozen)
}

// wgRun transforms the weights w (laid out as the Conv's, G·M × C × 3 × 3;
// backward: the kernel flipped and transposed), or takes them from pk, and
// accumulates the convolution of x into y with the tile size wgTile picks.
func wgRun(gm wgGeom, pk *wgPack, w, x, y []float32, backward, frozen bool) {
	m := wgTile(gm.OH, gm.OW, backward)
	M, C := gm.Cout, gm.Cin // of the Conv's weights
	if backward {
		M, C = C, M
	}
	u, pa, release := pk.weights(w, frozen, gm.G, M, C, m, backward)
	defer release()
	wgConv(gm, x, u, pa, y, m)
}

// wg4MinOut is the least output height and width that take F(4×4, 3×3):
// smaller planes waste more of its 4×4 tiles on padding.
const wg4MinOut = 16

// Tile modes, for tests and benchmarks.
const (
	wgTileAuto = 0 // wg4MinOut decides
	wgTile2    = 2 // always F(2×2, 3×3)
	wgTile4    = 4 // always F(4×4, 3×3)
)

var winogradTile atomic.Int32

// wgTile is the output tile size (2 or 4) for a convolution with an
// OH×OW output; backward: the input gradient's.
//
// Forward passes keep F(2×2, 3×3) but at TierFast: F(4×4, 3×3)'s larger
// rounding (about 5e-6 of the largest output) moves ReLU inputs that lie
// within rounding of zero to the other side, and one such flip changed
// Captum's input × gradient on ResNet-18 by 1.7e-2 of its largest value
// (the oracle allows 1e-3; guided backprop by 1.5e-4, allowed 1e-4), where
// F(2×2) stays at 1.3e-6. The input gradient is linear in dY (no gate
// depends on its rounding), so it takes F(4×4) from wg4MinOut on.
func wgTile(OH, OW int, backward bool) int {
	switch winogradTile.Load() {
	case wgTile2:
		return 2
	case wgTile4:
		return 4
	}
	if (backward || fastTier.Load()) && OH >= wg4MinOut && OW >= wg4MinOut {
		return 4
	}
	return 2
}

// wgWBlk is the block of weights transformed before being copied out.
const wgWBlk = 32

// wgWeights transforms the weights w (G·M × C × 3 × 3) into u, laid out
// [G][16][M][C] (U_ξ = G g Gᵀ at position ξ, one M×C matrix per group and
// ξ). With backward, it transforms the flipped, transposed kernel
// g'_cm = flip(g_mc) instead, laid out [G][16][C][M].
func wgWeights(w, u []float32, groups, M, C int, backward bool) {
	mc := M * C
	rows, cols := M, C // of each U_ξ
	if backward {
		rows, cols = C, M
	}
	parallelFor(groups*rows, float64(groups*mc)*50, func(lo, hi int) {
		// A block of one row of the 16 matrices is built in tmp, then
		// copied out as 16 runs: scattering single values to 16 rows that
		// lie M·C floats apart (often a power of two) thrashes the cache.
		const blk = wgWBlk
		var tmp [16][blk]float32
		for gr := lo; gr < hi; gr++ {
			gi, r := gr/rows, gr%rows
			wg := w[gi*mc*9:][:mc*9]
			ug := u[gi*16*mc:][:16*mc]
			for c0 := 0; c0 < cols; c0 += blk {
				cb := min(blk, cols-c0)
				for j := 0; j < cb; j++ {
					var g0, g1, g2, g3, g4, g5, g6, g7, g8 float32
					if backward {
						g := wg[((c0+j)*C+r)*9:][:9] // w[m = c0+j][c = r], flipped
						g0, g1, g2, g3, g4, g5, g6, g7, g8 = g[8], g[7], g[6], g[5], g[4], g[3], g[2], g[1], g[0]
					} else {
						g := wg[(r*C+c0+j)*9:][:9]
						g0, g1, g2, g3, g4, g5, g6, g7, g8 = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8]
					}
					// Rows of G·g (4×3): g row 0, ½(r0+r1+r2), ½(r0-r1+r2), row 2.
					s0, s1, s2 := g0+g6, g1+g7, g2+g8
					p0, p1, p2 := 0.5*(s0+g3), 0.5*(s1+g4), 0.5*(s2+g5)
					q0, q1, q2 := 0.5*(s0-g3), 0.5*(s1-g4), 0.5*(s2-g5)
					// · Gᵀ, row by row: x0, ½(x0+x1+x2), ½(x0-x1+x2), x2.
					wgRowGT(&tmp, 0, j, g0, g1, g2)
					wgRowGT(&tmp, 4, j, p0, p1, p2)
					wgRowGT(&tmp, 8, j, q0, q1, q2)
					wgRowGT(&tmp, 12, j, g6, g7, g8)
				}
				for xi := range tmp {
					copy(ug[xi*mc+r*cols+c0:][:cb], tmp[xi][:cb])
				}
			}
		}
	})
}

// wgRowGT stores x·Gᵀ (x one row of G·g) at tmp[i…i+3][j].
func wgRowGT(tmp *[16][wgWBlk]float32, i, j int, x0, x1, x2 float32) {
	s := x0 + x2
	tmp[i][j] = x0
	tmp[i+1][j] = 0.5 * (s + x1)
	tmp[i+2][j] = 0.5 * (s - x1)
	tmp[i+3][j] = x2
}

// wgChunkFloats bounds the transformed input and output of one chunk of
// tiles (16·(Cin+Cout)·tiles floats), so they stay in cache between the
// transforms and the GEMMs.
const wgChunkFloats = 1 << 19

// wgConv accumulates the convolution of x (N × G·Cin × H × W) with the
// transformed weights u ([G][a][Cout][Cin], a = (m+2)² positions), or the
// same packed (pa[g·a+ξ], when not nil), into y
// (N × G·Cout × OH × OW), in m×m output tiles (m = 2 or 4).
func wgConv(gm wgGeom, x, u []float32, pa []*kernels.PackedA, y []float32, m int) {
	a := (m + 2) * (m + 2)
	input, output := wgInput, wgOutput
	if m == 4 {
		input, output = wg4Input, wg4Output
	}
	th, tw := (gm.OH+m-1)/m, (gm.OW+m-1)/m
	total := gm.N * th * tw
	per := a * (gm.Cin + gm.Cout)
	maxChunk := max(1, wgChunkFloats/per)
	nchunks := (total + maxChunk - 1) / maxChunk
	chunk := (total + nchunks - 1) / nchunks
	vp := scratchGet(a * gm.Cin * chunk)
	defer scratchPut(vp)
	mp := scratchGet(a * gm.Cout * chunk)
	defer scratchPut(mp)
	v, mo := *vp, *mp
	uStride := gm.Cout * gm.Cin
	for gi := 0; gi < gm.G; gi++ {
		var ug []float32
		if pa == nil {
			ug = u[gi*a*uStride:][:a*uStride]
		}
		for p0 := 0; p0 < total; p0 += chunk {
			pb := min(chunk, total-p0)
			vs, ms := gm.Cin*pb, gm.Cout*pb
			parallelFor(gm.Cin, float64(gm.Cin*pb)*3*float64(a), func(lo, hi int) {
				for c := lo; c < hi; c++ {
					input(gm, x, gi, c, p0, pb, th, tw, v[:a*vs], vs, c*pb)
				}
			})
			parallelFor(a, 2*float64(a*gm.Cout*gm.Cin*pb), func(lo, hi int) {
				for xi := lo; xi < hi; xi++ {
					if pa != nil {
						kernels.SgemmPacked(pa[gi*a+xi], false, pb, 1, v[xi*vs:], pb, 0, mo[xi*ms:], pb)
						continue
					}
					kernels.Sgemm(false, false, gm.Cout, pb, gm.Cin, 1,
						ug[xi*uStride:], gm.Cin, v[xi*vs:], pb, 0, mo[xi*ms:], pb)
				}
			})
			parallelFor(gm.Cout, float64(gm.Cout*pb)*2.5*float64(a), func(lo, hi int) {
				for k := lo; k < hi; k++ {
					output(gm, y, gi, k, p0, pb, th, tw, mo[:a*ms], ms, k*pb)
				}
			})
		}
	}
}

// wgInput writes Bᵀ d B of channel c's tiles p0…p0+pb-1 to v[ξ·vs + off + q].
func wgInput(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	H, W := gm.H, gm.W
	hw := H * W
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var vx [16][]float32
	for xi := range vx {
		vx[xi] = v[xi*vs+off:][:pb]
	}
	var plane []float32
	loadPlane := func() {
		plane = x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
	}
	loadPlane()
	for q := 0; q < pb; q++ {
		iy, ix := 2*ty-gm.padT, 2*tx-gm.padL
		var d [16]float32
		if iy >= 0 && iy+4 <= H && ix >= 0 && ix+4 <= W {
			r0 := plane[iy*W+ix:][:4]
			r1 := plane[(iy+1)*W+ix:][:4]
			r2 := plane[(iy+2)*W+ix:][:4]
			r3 := plane[(iy+3)*W+ix:][:4]
			d = [16]float32{r0[0], r0[1], r0[2], r0[3], r1[0], r1[1], r1[2], r1[3],
				r2[0], r2[1], r2[2], r2[3], r3[0], r3[1], r3[2], r3[3]}
		} else {
			for i := 0; i < 4; i++ {
				yy := iy + i
				if yy < 0 || yy >= H {
					continue
				}
				row := plane[yy*W:][:W]
				for j := 0; j < 4; j++ {
					if xx := ix + j; xx >= 0 && xx < W {
						d[4*i+j] = row[xx]
					}
				}
			}
		}
		// Bᵀ d (rows), then · B (columns).
		var t [16]float32
		for j := 0; j < 4; j++ {
			d0, d1, d2, d3 := d[j], d[4+j], d[8+j], d[12+j]
			t[j] = d0 - d2
			t[4+j] = d1 + d2
			t[8+j] = d2 - d1
			t[12+j] = d1 - d3
		}
		for i := 0; i < 4; i++ {
			t0, t1, t2, t3 := t[4*i], t[4*i+1], t[4*i+2], t[4*i+3]
			vx[4*i][q] = t0 - t2
			vx[4*i+1][q] = t1 + t2
			vx[4*i+2][q] = t2 - t1
			vx[4*i+3][q] = t1 - t3
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					loadPlane()
				}
			}
		}
	}
}

// wgOutput adds Aᵀ m A of output channel k's tiles p0…p0+pb-1, read from
// mo[ξ·ms + off + q], to y.
func wgOutput(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	OH, OW := gm.OH, gm.OW
	ohw := OH * OW
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var mx [16][]float32
	for xi := range mx {
		mx[xi] = mo[xi*ms+off:][:pb]
	}
	var plane []float32
	loadPlane := func() {
		plane = y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
	}
	loadPlane()
	for q := 0; q < pb; q++ {
		// Aᵀ m (rows 0…3 → 2), then · A (columns).
		var s [8]float32
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := mx[j][q], mx[4+j][q], mx[8+j][q], mx[12+j][q]
			s[j] = m0 + m1 + m2
			s[4+j] = m1 - m2 - m3
		}
		y00 := s[0] + s[1] + s[2]
		y01 := s[1] - s[2] - s[3]
		y10 := s[4] + s[5] + s[6]
		y11 := s[5] - s[6] - s[7]
		oy, ox := 2*ty, 2*tx
		if oy+2 <= OH && ox+2 <= OW {
			r0 := plane[oy*OW+ox:][:2]
			r1 := plane[(oy+1)*OW+ox:][:2]
			r0[0] += y00
			r0[1] += y01
			r1[0] += y10
			r1[1] += y11
		} else {
			plane[oy*OW+ox] += y00
			if ox+1 < OW {
				plane[oy*OW+ox+1] += y01
			}
			if oy+1 < OH {
				plane[(oy+1)*OW+ox] += y10
				if ox+1 < OW {
					plane[(oy+1)*OW+ox+1] += y11
				}
			}
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					loadPlane()
				}
			}
		}
	}
}
