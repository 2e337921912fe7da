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
	// TierFast: F(4×4, 3×3) forward passes too, wherever Winograd pays
	// (7×7 up): 4× fewer GEMM flops than im2col instead of 2.25×, for a
	// larger rounding error (about 5e-6 of the largest output) that can
	// move a ReLU input lying within rounding of zero to its other side.
	// For the methods whose result does not hinge on such gates (see
	// wgTile).
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
	if !p.winogradFits() {
		return false
	}
	on, auto := winogradOn(forward)
	if !on || !auto {
		return on
	}
	return p.Cg >= wgMinChannels && p.Mg >= wgMinChannels && p.g.OutH >= wgMinOut && p.g.OutW >= wgMinOut
}

// winogradOn reports whether the Winograd paths may compute a convolution
// that fits one (forward, or its input gradient): not under WithIm2col,
// and as the mode (tests, benchmarks) or the switches say; auto: the
// thresholds decide.
func winogradOn(forward bool) (on, auto bool) {
	if exactConv.Load() > 0 {
		return false, false
	}
	switch winogradMode.Load() {
	case wgModeNever:
		return false, false
	case wgModeAlways:
		return true, false
	}
	return winogradAuto && (winogradAutoForward || !forward), true
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
	fastDiffers.Add(1) // F(4×4) at TierFast, F(2×2) at TierReference
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

// wg4MinOut is the least output height and width whose input gradient
// takes F(4×4, 3×3): smaller planes waste more of its 4×4 tiles on
// padding. (Forward passes at TierFast take it on every Winograd plane,
// from wgMinOut: see wgTile.)
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
//
// At TierFast every Winograd forward pass takes F(4×4), down to wgMinOut:
// its 7×7 planes pad to 8×8 (4 tiles of 36 positions against F(2×2)'s 16
// of 16), and in wasm (BenchmarkConvWinogradTiles, 2026-12-07) ResNet-18's
// layer4 (512 channels, 7×7) took 13.1 against 16.4 ms, layer3 (256,
// 14×14) 9.2 against 10.6; ResNet-18's Grad-CAM 7 % less in alternating
// runs (docs/performance.md). Its transformed weights take 2.25× the
// memory (36 positions against 16): layer4's 113 MB against 50.
func wgTile(OH, OW int, backward bool) int {
	switch winogradTile.Load() {
	case wgTile2:
		return 2
	case wgTile4:
		return 4
	}
	if !backward && fastTier.Load() {
		return 4
	}
	if backward && OH >= wg4MinOut && OW >= wg4MinOut {
		return 4
	}
	return 2
}

// wgWindow is the side of the input window of an m×m output tile: m+2
// for a 3×3 kernel (F(2×2, 3×3), F(4×4, 3×3)), 6 for F(3×3, 4×4).
func wgWindow(m int) int {
	if m == 3 {
		return 6
	}
	return m + 2
}

// wgRows are the row loops of the input and output transforms, by tile
// size m.
var wgRows = [5]struct {
	in  func(n int, x []float32, w int, v []float32, vs int)
	out func(n int, mo []float32, ms int, y []float32, ow int)
}{2: {wgInRow, wgOutRow}, 3: {wg34InRow, wg34OutRow}, 4: {wg4InRow, wg4OutRow}}

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
// transformed weights u ([G][a][Cout][Cin], a = wgWindow(m)² positions), or
// the same packed (pa[g·a+ξ], when not nil), into y
// (N × G·Cout × OH × OW), in m×m output tiles: m = 2 or 4 for a 3×3
// kernel, 3 for a 4×4 one (winograd34.go).
func wgConv(gm wgGeom, x, u []float32, pa []*kernels.PackedA, y []float32, m int) {
	a := wgWindow(m) * wgWindow(m)
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
				var buf []float32
				for c := lo; c < hi; c++ {
					buf = wgInputTiles(m, gm, x, gi, c, p0, pb, th, tw, v[:a*vs], vs, c*pb, buf)
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
				var buf []float32
				for k := lo; k < hi; k++ {
					buf = wgOutputTiles(m, gm, y, gi, k, p0, pb, th, tw, mo[:a*ms], ms, k*pb, buf)
				}
			})
		}
	}
}

// wgInputTiles writes Bᵀ d B of channel c's tiles p0…p0+pb-1, m×m output
// tiles (m = 2, 3 or 4, windows of a = wgWindow(m)), to v[ξ·vs + off + q].
//
// The rows of tiles of each plane go to wgInRow, wg34InRow or wg4InRow a row at a
// time (in wasm assembly in wasm: Go's wasm code sends every loop
// back-edge and taken branch through a dispatch table and keeps a window's
// addresses in memory), from a copy of the plane's rows they read with
// the padding's zeros around them (wgPadBand), so that no tile is a
// special case. The arithmetic is the same as the loops' these replaced:
// TestWgTransformsSameBits compares them bit for bit. buf, if large
// enough, holds the copy; the buffer used is returned for the next call.
func wgInputTiles(m int, gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int, buf []float32) []float32 {
	if pb <= 0 {
		return buf
	}
	row, a := wgRows[m].in, wgWindow(m)
	H, W := gm.H, gm.W
	hw := H * W
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	v = v[:(a*a-1)*vs+off+pb]
	pw := m*tw + a - m
	if need := (min(th, (pb+tx+tw-1)/tw+1)*m + a - m) * pw; cap(buf) < need {
		buf = make([]float32, need)
	}
	for q := 0; q < pb; {
		plane := x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
		last := ty*tw + tx + min(pb-q, tiles-ty*tw-tx) - 1 // the run's last tile in this plane
		ty1 := last / tw
		band := wgPadBand(buf, plane, H, W, m*ty-gm.padT, gm.padL, (ty1-ty+1)*m+a-m, pw)
		for t := ty; t <= ty1; t++ {
			xb := tw
			if t == ty1 {
				xb = last%tw + 1
			}
			row(xb-tx, band[(t-ty)*m*pw+m*tx:], pw, v[off+q:], vs)
			q += xb - tx
			tx = 0
		}
		if ty, tx = ty1+1, (last+1)%tw; tx != 0 {
			ty = ty1
		}
		if ty == th {
			ty = 0
			n++
		}
	}
	return buf
}

// wgPadBand copies rows iy…iy+rows-1 of the H×W plane, their columns
// -padL…pw-1-padL, to buf (pw values a row), with zeros for what lies
// outside the plane, and returns the copy.
func wgPadBand(buf, plane []float32, H, W, iy, padL, rows, pw int) []float32 {
	band := buf[:rows*pw]
	j0, j1 := max(0, padL), min(pw, W+padL) // the columns inside the plane
	for i := 0; i < rows; i++ {
		dst := band[i*pw:][:pw]
		yy := iy + i
		if yy < 0 || yy >= H || j0 >= j1 {
			clear(dst)
			continue
		}
		for j := range dst[:j0] {
			dst[j] = 0
		}
		copy(dst[j0:j1], plane[yy*W+j0-padL:])
		for j := j1; j < pw; j++ {
			dst[j] = 0
		}
	}
	return band
}

// wgOutputTiles adds Aᵀ m A of output channel k's m×m tiles p0…p0+pb-1,
// read from mo[ξ·ms + off + q], to y, a row of tiles at a time (wgOutRow,
// wg34OutRow or wg4OutRow, as wgInputTiles). Where the tiles overhang the plane (its
// size not a multiple of m), the rows of the plane they cover are added
// to in a copy as wide and high as the tiles (in buf if large enough),
// copied back after; the buffer used is returned for the next call.
func wgOutputTiles(m int, gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int, buf []float32) []float32 {
	if pb <= 0 {
		return buf
	}
	row, a := wgRows[m].out, wgWindow(m)
	OH, OW := gm.OH, gm.OW
	ohw := OH * OW
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	mo = mo[:(a*a-1)*ms+off+pb]
	pw := m * tw
	padded := pw != OW || th*m != OH
	if need := min(th, (pb+tx+tw-1)/tw+1) * m * pw; padded && cap(buf) < need {
		buf = make([]float32, need)
	}
	for q := 0; q < pb; {
		plane := y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
		last := ty*tw + tx + min(pb-q, tiles-ty*tw-tx) - 1
		ty1 := last / tw
		band, stride := plane[m*ty*OW:], OW
		rows := min((ty1-ty+1)*m, OH-m*ty) // the plane's rows the tiles cover
		if padded {
			band, stride = buf[:(ty1-ty+1)*m*pw], pw
			for i := 0; i < rows; i++ {
				copy(band[i*pw:][:OW], plane[(m*ty+i)*OW:][:OW])
			}
		}
		for t := ty; t <= ty1; t++ {
			xb := tw
			if t == ty1 {
				xb = last%tw + 1
			}
			row(xb-tx, mo[off+q:], ms, band[(t-ty)*m*stride+m*tx:], stride)
			q += xb - tx
			tx = 0
		}
		if padded {
			for i := 0; i < rows; i++ {
				copy(plane[(m*ty+i)*OW:][:OW], band[i*pw:])
			}
		}
		if ty, tx = ty1+1, (last+1)%tw; tx != 0 {
			ty = ty1
		}
		if ty == th {
			ty = 0
			n++
		}
	}
	return buf
}
