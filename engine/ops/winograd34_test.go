package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// stemCases are the 7×7 stride-2 convolutions the stem path's tests run:
// taken, whether the path computes them.
var stemCases = []struct {
	N, C, H, W, M int
	pads          []int
	bias, taken   bool
}{
	{1, 3, 64, 64, 64, []int{3, 3, 3, 3}, false, true}, // a ResNet stem, smaller
	{2, 3, 45, 38, 16, []int{3, 3, 3, 3}, true, true},
	{1, 5, 40, 41, 20, []int{0, 1, 2, 3}, true, true},
	{1, 1, 37, 44, 17, []int{2, 0, 3, 1}, false, true},
	{3, 2, 52, 35, 24, []int{1, 3, 0, 2}, true, true},
	{1, 3, 29, 64, 16, []int{3, 3, 3, 3}, false, false}, // 15×32 outputs: im2col
	{1, 3, 64, 64, 8, []int{3, 3, 3, 3}, false, false},  // 8 output channels: im2col
}

// TestStemWinograd checks the F(3×3, 4×4) path of 7×7 stride-2
// convolutions: at TierFast it is taken (FastTierDiffers and
// WinogradUses count it; FastTierDiffers at TierReference too, where the
// path differs) and stays within F(4×4, 3×3)'s tolerance of the
// float64 convolution, over odd and even sizes, symmetric and asymmetric
// pads, batches, bias and several chunks of tiles; at TierReference and
// TierExact, and below stemMinOut, the convolution keeps im2col's bits.
// A second call takes the kept weights and gives the same bits. (The
// path is on in wasm only, stemWinograd; the test turns it on.)
func TestStemWinograd(t *testing.T) {
	old := stemWinograd
	stemWinograd = true // natively too, to test it
	t.Cleanup(func() { stemWinograd = old })
	rng := rand.New(rand.NewSource(34))
	for _, c := range stemCases {
		name := fmt.Sprintf("N%d_C%d_%dx%d_M%d_p%v", c.N, c.C, c.H, c.W, c.M, c.pads)
		cc := convCase{N: c.N, C: c.C, H: c.H, W: c.W, M: c.M, KH: 7, KW: 7, strides: []int{2, 2}, pads: c.pads,
			dils: []int{1, 1}, group: 1, bias: c.bias}
		op, in, err := cc.build(rng)
		if err != nil {
			t.Fatal(err)
		}
		in[1].Freeze()
		var bias *tensor.T
		if c.bias {
			bias = in[2]
		}
		exact := convRef(in[0], in[1], bias, cc.strides, cc.pads, cc.dils, 1).F32()
		ref, dRef, uRef := forwardAtTier(t, TierReference, op, in)
		fast, dFast, uFast := forwardAtTier(t, TierFast, op, in)
		again, _, _ := forwardAtTier(t, TierFast, op, in)
		ex, dEx, uEx := forwardAtTier(t, TierExact, op, in)
		want := int64(0)
		if c.taken {
			want = 1
		}
		if dRef != want || dEx != 0 || uRef != 0 || uEx != 0 || dFast != want || uFast != want {
			t.Errorf("%s: FastTierDiffers grew by %d, %d, %d and WinogradUses by %d, %d, %d (reference, fast, exact), want %d, %d, 0 and 0, %d, 0",
				name, dRef, dFast, dEx, uRef, uFast, uEx, want, want, want)
		}
		if i := firstBitDiff(again, fast); i >= 0 {
			t.Errorf("%s: the second fast pass (kept weights) differs at %d: %v, first %v", name, i, again[i], fast[i])
		}
		if i := firstBitDiff(ex, ref); i >= 0 {
			t.Errorf("%s: the reference tier is not im2col's bits at %d", name, i)
		}
		if i := firstBitDiff(fast, ref); (i < 0) == c.taken {
			t.Errorf("%s: the fast tier's bits are the reference's: %v, want %v", name, i < 0, !c.taken)
		}
		eF, eR := maxRelErr(fast, exact), maxRelErr(ref, exact)
		t.Logf("%s: against float64, fast %.3g, im2col %.3g", name, eF, eR)
		if tol := wgTolerance[wgTile4]; eF > tol {
			t.Errorf("%s: the fast tier differs from float64 by %.3g (allowed %.0e)", name, eF, tol)
		}
	}
}

// TestStemWinogradBackward checks the input gradient of 7×7 stride-2
// convolutions by F(3×3, 4×4) (stemBackwardInput) over stemCases: taken at
// every tier but TierExact where the path fits (WinogradUses counts it),
// within F(4×4, 3×3)'s tolerance of the float64 gradient, the kept weights
// giving the same bits again; where it does not fit, im2col's bits. (On in
// wasm only, stemWinograd; the test turns it on.)
func TestStemWinogradBackward(t *testing.T) {
	rng := rand.New(rand.NewSource(43))
	for _, c := range stemCases {
		name := fmt.Sprintf("N%d_C%d_%dx%d_M%d_p%v", c.N, c.C, c.H, c.W, c.M, c.pads)
		cc := convCase{N: c.N, C: c.C, H: c.H, W: c.W, M: c.M, KH: 7, KW: 7, strides: []int{2, 2}, pads: c.pads,
			dils: []int{1, 1}, group: 1}
		op, in, err := cc.build(rng)
		if err != nil {
			t.Fatal(err)
		}
		in[1].Freeze()
		out, err := op.Forward(in)
		if err != nil {
			t.Fatal(err)
		}
		dy := randT(rng, -1, 1, out[0].Shape()...)
		dx := func(stem bool, tier Tier) ([]float32, int64) {
			old := stemWinograd
			stemWinograd = stem
			defer func() { stemWinograd = old }()
			u0 := WinogradUses()
			var g []*tensor.T
			if err := WithTier(tier, func() (err error) {
				g, err = op.Backward(in, out, []*tensor.T{dy}, []bool{true, false, false})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return g[0].F32(), WinogradUses() - u0
		}
		im2col, _ := dx(false, TierReference)
		ref, uRef := dx(true, TierReference)
		fast, uFast := dx(true, TierFast)
		again, _ := dx(true, TierReference)
		ex, uEx := dx(true, TierExact)
		want := int64(0)
		if c.taken {
			want = 1
		}
		if uRef != want || uFast != want || uEx != 0 {
			t.Errorf("%s: WinogradUses grew by %d, %d, %d (reference, fast, exact), want %d, %d, 0", name, uRef, uFast, uEx, want, want)
		}
		if i := firstBitDiff(fast, ref); i >= 0 {
			t.Errorf("%s: the tiers' input gradients differ at %d", name, i)
		}
		if i := firstBitDiff(again, ref); i >= 0 {
			t.Errorf("%s: the second call (kept weights) differs at %d: %v, first %v", name, i, again[i], ref[i])
		}
		if i := firstBitDiff(ex, im2col); i >= 0 {
			t.Errorf("%s: the exact tier is not im2col's bits at %d", name, i)
		}
		if i := firstBitDiff(ref, im2col); (i < 0) == c.taken {
			t.Errorf("%s: im2col's bits: %v, want %v", name, i < 0, !c.taken)
		}
		exact := convInputGradRef(dy, in[1], c.N, c.C, c.H, c.W, c.pads)
		eS, eI := maxRelErr(ref, exact), maxRelErr(im2col, exact)
		t.Logf("%s: against float64, stem path %.3g, im2col %.3g", name, eS, eI)
		if tol := wgTolerance[wgTile4]; eS > tol {
			t.Errorf("%s: the input gradient differs from float64 by %.3g (allowed %.0e)", name, eS, tol)
		}
	}
}

// convInputGradRef is the input gradient of a 7×7 stride-2 convolution
// (one group, dilation 1), in float64: dx[n][c][iy][ix] = Σ dy[n][m][oy][ox]
// · w[m][c][ky][kx] over iy = 2·oy - padT + ky, ix = 2·ox - padL + kx.
func convInputGradRef(dy, w *tensor.T, N, C, H, W int, pads []int) []float32 {
	ds := dy.Shape()
	M, OH, OW := ds[1], ds[2], ds[3]
	acc := make([]float64, N*C*H*W)
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					g := float64(dy.F32()[((n*M+m)*OH+oy)*OW+ox])
					for c := 0; c < C; c++ {
						for ky := 0; ky < 7; ky++ {
							iy := 2*oy - pads[0] + ky
							if iy < 0 || iy >= H {
								continue
							}
							for kx := 0; kx < 7; kx++ {
								ix := 2*ox - pads[1] + kx
								if ix < 0 || ix >= W {
									continue
								}
								acc[((n*C+c)*H+iy)*W+ix] += g * float64(w.F32()[((m*C+c)*7+ky)*7+kx])
							}
						}
					}
				}
			}
		}
	}
	out := make([]float32, len(acc))
	for i, v := range acc {
		out[i] = float32(v)
	}
	return out
}

// TestWg34Transforms checks F(3×3, 4×4)'s matrices on their own: a 1-D
// correlation of six inputs with four taps, Aᵀ[(G g) ⊙ (Bᵀ d)], against
// the direct sums.
func TestWg34Transforms(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for trial := 0; trial < 100; trial++ {
		var d [6]float32
		var g [4]float64
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		for i := range g {
			g[i] = rng.NormFloat64()
		}
		gg := wg34G(g[0], g[1], g[2], g[3])
		b0, b1, b2, b3, b4, b5 := wg4B(d[0], d[1], d[2], d[3], d[4], d[5])
		bd := [6]float32{b0, b1, b2, b3, b4, b5}
		var m [6]float32
		for i := range m {
			m[i] = float32(gg[i]) * bd[i]
		}
		a0, a1, a2 := wg34A(m[0], m[1], m[2], m[3], m[4], m[5])
		for o, got := range []float32{a0, a1, a2} {
			var want float64
			for k := 0; k < 4; k++ {
				want += g[k] * float64(d[o+k])
			}
			if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("trial %d, output %d: %v, want %v", trial, o, got, want)
			}
		}
	}
}

// BenchmarkStemWinograd times ResNet's stem (1×3×224×224, 64 7×7 stride-2
// filters, pads 3) on im2col (TierReference) and on F(3×3, 4×4)
// (TierFast), alternately, with frozen weights as a loaded model has them
// (ms per convolution).
func BenchmarkStemWinograd(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	cc := convCase{N: 1, C: 3, H: 224, W: 224, M: 64, KH: 7, KW: 7, strides: []int{2, 2}, pads: []int{3, 3, 3, 3},
		dils: []int{1, 1}, group: 1, bias: false}
	op, in, err := cc.build(rng)
	if err != nil {
		b.Fatal(err)
	}
	in[1].Freeze()
	old := stemWinograd
	stemWinograd = true
	defer func() { stemWinograd = old }()
	var ref, fast []float64
	run := func(tier Tier) float64 {
		t0 := time.Now()
		if err := WithTier(tier, func() error { _, err := op.Forward(in); return err }); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0).Seconds() * 1e3
	}
	run(TierReference)
	run(TierFast)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ref = append(ref, run(TierReference))
		fast = append(fast, run(TierFast))
	}
	b.ReportMetric(median(ref), "im2col-ms")
	b.ReportMetric(median(fast), "f34-ms")
}
