package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// setWinogradMode switches the Conv path for the rest of the test.
func setWinogradMode(tb testing.TB, mode int32) {
	old := winogradMode.Swap(mode)
	tb.Cleanup(func() { winogradMode.Store(old) })
}

// maxRelErr returns max|got-want| / max|want|.
func maxRelErr(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

type wgCase struct {
	N, C, H, W, M int
	pads          [4]int // top, left, bottom, right
	group         int
	bias          bool
	autoPad       string
}

func (c wgCase) String() string {
	s := fmt.Sprintf("N%d_C%d_%dx%d_M%d_p%d%d%d%d_g%d", c.N, c.C, c.H, c.W, c.M, c.pads[0], c.pads[1], c.pads[2], c.pads[3], c.group)
	if c.bias {
		s += "_bias"
	}
	if c.autoPad != "" {
		s += "_" + c.autoPad
	}
	return s
}

// build makes the case's 3×3 stride-1 Conv and inputs as conv_test's cases do.
func (c wgCase) build(rng *rand.Rand) (Op, []*tensor.T, error) {
	return convCase{N: c.N, C: c.C, H: c.H, W: c.W, M: c.M, KH: 3, KW: 3, strides: []int{1, 1}, pads: c.pads[:],
		dils: []int{1, 1}, group: c.group, bias: c.bias, autoPad: c.autoPad}.build(rng)
}

func wgCases() []wgCase {
	cases := []wgCase{
		{N: 1, C: 3, H: 1, W: 1, M: 2, pads: [4]int{1, 1, 1, 1}, group: 1},
		{N: 2, C: 5, H: 3, W: 3, M: 3, pads: [4]int{0, 0, 0, 0}, group: 1, bias: true},
		{N: 1, C: 4, H: 4, W: 7, M: 5, pads: [4]int{2, 2, 2, 2}, group: 1},
		{N: 3, C: 17, H: 9, W: 11, M: 19, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
		{N: 2, C: 6, H: 8, W: 5, M: 4, pads: [4]int{0, 1, 2, 0}, group: 2, bias: true},
		{N: 1, C: 9, H: 10, W: 10, M: 6, pads: [4]int{3, 0, 1, 3}, group: 3},
		{N: 2, C: 20, H: 13, W: 6, M: 33, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
		{N: 1, C: 7, H: 12, W: 12, M: 7, group: 1, autoPad: "SAME_UPPER"},
		{N: 1, C: 35, H: 15, W: 15, M: 40, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
		{N: 2, C: 64, H: 7, W: 7, M: 64, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
		// Several chunks of tiles (wgChunkFloats), one boundary inside an image.
		{N: 3, C: 64, H: 23, W: 23, M: 64, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
	}
	rng := rand.New(rand.NewSource(11))
	for i := 0; i < 12; i++ {
		g := 1 + rng.Intn(2)
		c := wgCase{
			N: 1 + rng.Intn(3), C: g * (1 + rng.Intn(24)), H: 2 + rng.Intn(17), W: 2 + rng.Intn(17),
			M: g * (1 + rng.Intn(24)), group: g, bias: rng.Intn(2) == 0,
		}
		for k := range c.pads {
			c.pads[k] = rng.Intn(3)
		}
		cases = append(cases, c)
	}
	return cases
}

// setWinogradTile forces the tile size for the rest of the test.
func setWinogradTile(tb testing.TB, tile int32) {
	old := winogradTile.Swap(tile)
	tb.Cleanup(func() { winogradTile.Store(old) })
}

// wgTolerance is the largest relative difference from im2col allowed for
// each tile size (F(4×4,3×3)'s transforms have coefficients up to 8 and
// round more).
var wgTolerance = map[int32]float64{wgTile2: 2e-6, wgTile4: 2e-5}

// TestWinogradMatchesIm2col runs every case through both paths, forward and
// backward, with both tile sizes, and checks the Winograd results against
// im2col's (and both against the float64 reference).
func TestWinogradMatchesIm2col(t *testing.T) {
	for _, tile := range []int32{wgTile2, wgTile4} {
		t.Run(fmt.Sprintf("F%d", tile), func(t *testing.T) {
			setWinogradTile(t, tile)
			testWinogradMatchesIm2col(t, wgTolerance[tile])
		})
	}
}

func testWinogradMatchesIm2col(t *testing.T, tol float64) {
	rng := rand.New(rand.NewSource(12))
	for _, c := range wgCases() {
		t.Run(c.String(), func(t *testing.T) {
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			p, err := op.(*Conv).plan(in)
			if err != nil {
				t.Fatal(err)
			}
			if !p.winogradFits() {
				t.Fatal("winogradFits is false")
			}
			setWinogradMode(t, wgModeNever)
			ref := nnForward(t, op, in...)[0]
			gy := randT(rng, -1, 1, ref.Shape()...)
			need := []bool{true, true, c.bias}
			refGrads, err := op.Backward(in, []*tensor.T{ref}, []*tensor.T{gy}, need)
			if err != nil {
				t.Fatal(err)
			}
			refDX, err := op.Backward(in, []*tensor.T{ref}, []*tensor.T{gy}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}

			winogradMode.Store(wgModeAlways)
			got := nnForward(t, op, in...)[0]
			var b *tensor.T
			if c.bias {
				b = in[2]
			}
			pads := c.pads[:]
			if c.autoPad != "" {
				pads = []int{p.g.PadT, p.g.PadL, p.g.PadB, p.g.PadR}
			}
			exact := convRef(in[0], in[1], b, []int{1, 1}, pads, []int{1, 1}, c.group)
			eW, eI := maxRelErr(got.F32(), exact.F32()), maxRelErr(ref.F32(), exact.F32())
			t.Logf("forward max relative error vs float64: winograd %.3g, im2col %.3g", eW, eI)
			if e := maxRelErr(got.F32(), ref.F32()); e > tol {
				t.Errorf("forward: winograd vs im2col max relative error %.3g (vs float64: winograd %.3g, im2col %.3g)", e, eW, eI)
			}
			grads, err := op.Backward(in, []*tensor.T{got}, []*tensor.T{gy}, need)
			if err != nil {
				t.Fatal(err)
			}
			for k, g := range grads {
				if g == nil {
					if refGrads[k] != nil {
						t.Fatalf("grad %d missing", k)
					}
					continue
				}
				if e := maxRelErr(g.F32(), refGrads[k].F32()); e > tol {
					t.Errorf("grad %d: winograd vs im2col max relative error %.3g", k, e)
				}
			}
			dx, err := op.Backward(in, []*tensor.T{got}, []*tensor.T{gy}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			if dx[0] == nil || len(dx) != len(in) {
				t.Fatalf("dX only: grads %v", dx)
			}
			if e := maxRelErr(dx[0].F32(), refDX[0].F32()); e > tol {
				t.Errorf("dX only: winograd vs im2col max relative error %.3g", e)
			}
			if e := maxRelErr(dx[0].F32(), grads[0].F32()); e != 0 {
				t.Errorf("dX alone differs from dX with dW by %.3g", e)
			}
		})
	}
}

// TestWinogradGrad is the finite-difference check through the Winograd path
// (forward and input gradient).
func TestWinogradGrad(t *testing.T) {
	setWinogradMode(t, wgModeAlways)
	for _, tile := range []int32{wgTile2, wgTile4} {
		t.Run(fmt.Sprintf("F%d", tile), func(t *testing.T) {
			setWinogradTile(t, tile)
			testWinogradGrad(t)
		})
	}
}

func testWinogradGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, c := range []wgCase{
		{N: 2, C: 3, H: 5, W: 6, M: 4, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true},
		{N: 1, C: 4, H: 6, W: 5, M: 2, pads: [4]int{0, 2, 3, 1}, group: 2, bias: false},
	} {
		t.Run(c.String(), func(t *testing.T) {
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			wrt := []int{0, 1}
			if c.bias {
				wrt = append(wrt, 2)
			}
			checkGrad(t, op, in, wrt, 1e-2, 1e-2)
		})
	}
}

// TestWinogradDispatch checks which convolutions take the path by default.
func TestWinogradDispatch(t *testing.T) {
	setWinogradMode(t, wgModeAuto)
	for _, c := range []struct {
		C, H, M, K, S, group int
		want                 bool
	}{
		{64, 56, 64, 3, 1, 1, winogradAuto},
		{512, 7, 512, 3, 1, 1, winogradAuto},
		{256, 14, 256, 3, 1, 1, winogradAuto},
		{32, 16, 32, 3, 1, 1, winogradAuto},
		{64, 8, 64, 3, 1, 1, winogradAuto},
		{64, 7, 64, 3, 1, 1, winogradAuto},
		{64, 6, 64, 3, 1, 1, false},
		{16, 56, 64, 3, 1, 1, false},
		{64, 56, 16, 3, 1, 1, false},
		{64, 56, 64, 3, 2, 1, false},
		{64, 56, 64, 1, 1, 1, false},
		{64, 56, 64, 3, 1, 64, false},
	} {
		pad := int64(c.K / 2)
		op := nnOp(t, "Conv", MapAttrs{
			"kernel_shape": []int64{int64(c.K), int64(c.K)},
			"strides":      []int64{int64(c.S), int64(c.S)},
			"pads":         []int64{pad, pad, pad, pad},
			"group":        int64(c.group),
		})
		x := tensor.New(1, c.C, c.H, c.H)
		w := tensor.New(c.M, c.C/c.group, c.K, c.K)
		p, err := op.(*Conv).plan([]*tensor.T{x, w})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.useWinograd(); got != c.want {
			t.Errorf("%+v: useWinograd %v, want %v", c, got, c.want)
		}
		if got := p.useWinogradForward(); got != (c.want && winogradAutoForward) {
			t.Errorf("%+v: useWinogradForward %v", c, got)
		}
		// Under WithIm2col nothing takes the path, and WinogradUses counts
		// exactly the convolutions that did.
		n0 := WinogradUses()
		_ = WithIm2col(func() error {
			if p.useWinograd() || p.useWinogradForward() {
				t.Errorf("%+v: Winograd under WithIm2col", c)
			}
			return nil
		})
		if n := WinogradUses() - n0; n != 0 {
			t.Errorf("%+v: WinogradUses grew by %d under WithIm2col", c, n)
		}
		p.useWinogradForward()
		if n, want := WinogradUses()-n0, map[bool]int64{true: 1, false: 0}[c.want && winogradAutoForward]; n != want {
			t.Errorf("%+v: WinogradUses grew by %d for one forward decision, want %d", c, n, want)
		}
	}
}

// TestWinogradPackedWeights checks the cache of transformed weights: a
// second call reuses them, and weights changed in place (as the trainer
// changes them) are transformed again, forward and input gradient.
func TestWinogradPackedWeights(t *testing.T) {
	setWinogradMode(t, wgModeAlways)
	for _, tile := range []int32{wgTile2, wgTile4} {
		t.Run(fmt.Sprintf("F%d", tile), func(t *testing.T) {
			setWinogradTile(t, tile)
			rng := rand.New(rand.NewSource(14))
			c := wgCase{N: 2, C: 8, H: 9, W: 10, M: 6, pads: [4]int{1, 1, 1, 1}, group: 2, bias: true}
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			conv := op.(*Conv)
			check := func(step string) {
				t.Helper()
				got := nnForward(t, op, in...)[0]
				gy := randT(rng, -1, 1, got.Shape()...)
				dx, err := op.Backward(in, []*tensor.T{got}, []*tensor.T{gy}, []bool{true})
				if err != nil {
					t.Fatal(err)
				}
				exact := convRef(in[0], in[1], in[2], []int{1, 1}, c.pads[:], []int{1, 1}, c.group)
				if e := maxRelErr(got.F32(), exact.F32()); e > wgTolerance[tile] {
					t.Errorf("%s: forward differs from float64 by %.3g", step, e)
				}
				winogradMode.Store(wgModeNever)
				refDX, err := op.Backward(in, []*tensor.T{got}, []*tensor.T{gy}, []bool{true})
				winogradMode.Store(wgModeAlways)
				if err != nil {
					t.Fatal(err)
				}
				if e := maxRelErr(dx[0].F32(), refDX[0].F32()); e > wgTolerance[tile] {
					t.Errorf("%s: input gradient differs from im2col's by %.3g", step, e)
				}
			}
			check("first call")
			s0, s1 := wgPackSlot(false, int(tile)), wgPackSlot(true, int(tile))
			e0, e1 := conv.pack.e[s0], conv.pack.e[s1]
			if e0 == nil || e1 == nil {
				t.Fatal("no transformed weights kept")
			}
			check("second call")
			if conv.pack.e[s0] != e0 || conv.pack.e[s1] != e1 {
				t.Error("unchanged weights were transformed again")
			}
			w := in[1].F32()
			for i := range w {
				w[i] *= 0.5 + rng.Float32()
			}
			check("after changing the weights in place")
			if conv.pack.e[s0] == e0 || conv.pack.e[s1] == e1 {
				t.Error("changed weights were not transformed again")
			}
		})
	}
}

// forwardAtTier runs op forward under WithTier(tier), checking
// CurrentTier there, and returns its first output's values with how much
// FastTierDiffers and WinogradUses grew meanwhile.
func forwardAtTier(t *testing.T, tier Tier, op Op, in []*tensor.T) (y []float32, differs, uses int64) {
	t.Helper()
	d0, u0 := FastTierDiffers(), WinogradUses()
	if err := WithTier(tier, func() error {
		if got := CurrentTier(); got != tier {
			t.Errorf("CurrentTier %v under WithTier(%v)", got, tier)
		}
		y = nnForward(t, op, in...)[0].F32()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return y, FastTierDiffers() - d0, WinogradUses() - u0
}

// TestWinogradTiers checks the precision tiers of forward convolutions:
// TierFast takes F(4×4, 3×3) forward wherever TierReference takes F(2×2)
// (other bits, within F(4×4)'s tolerance of float64), nothing below
// wgMinOut, where both take im2col (the same bits), TierExact takes
// im2col; FastTierDiffers counts
// exactly the convolutions whose path the tier changes; WithTier restores
// the tier it found, nested or not.
func TestWinogradTiers(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, c := range []struct {
		H       int
		differs bool // Winograd at all: F(4×4) fast, F(2×2) reference
	}{{16, true}, {23, true}, {8, true}, {15, true}, {wgMinOut, true}, {wgMinOut - 1, false}} {
		wc := wgCase{N: 1, C: 32, H: c.H, W: c.H, M: 32, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true}
		op, in, err := wc.build(rng)
		if err != nil {
			t.Fatal(err)
		}
		exact := convRef(in[0], in[1], in[2], []int{1, 1}, wc.pads[:], []int{1, 1}, 1)
		ref, dRef, uRef := forwardAtTier(t, TierReference, op, in)
		fast, dFast, _ := forwardAtTier(t, TierFast, op, in)
		ex, dEx, uEx := forwardAtTier(t, TierExact, op, in)
		want := int64(0)
		if c.differs {
			want = 1
		}
		if uRef != want || uEx != 0 {
			t.Errorf("%d×%d: Winograd taken %d times at the reference tier and %d exactly, want %d and 0", c.H, c.H, uRef, uEx, want)
		}
		if dRef != want || dFast != want || dEx != 0 {
			t.Errorf("%d×%d: FastTierDiffers grew by %d, %d, %d (reference, fast, exact), want %d, %d, 0", c.H, c.H, dRef, dFast, dEx, want, want)
		}
		same := true
		for i := range ref {
			same = same && math.Float32bits(ref[i]) == math.Float32bits(fast[i])
		}
		if same == c.differs {
			t.Errorf("%d×%d: the fast tier's bits are the reference's: %v, want %v", c.H, c.H, same, !c.differs)
		}
		for tier, y := range map[Tier][]float32{TierReference: ref, TierFast: fast, TierExact: ex} {
			tol := wgTolerance[wgTile2]
			if tier == TierFast {
				tol = wgTolerance[wgTile4]
			}
			if e := maxRelErr(y, exact.F32()); e > tol {
				t.Errorf("%d×%d %v: differs from float64 by %.3g (allowed %.0e)", c.H, c.H, tier, e, tol)
			}
		}
	}
	// Nesting restores the enclosing tier.
	_ = WithTier(TierFast, func() error {
		_ = WithTier(TierReference, func() error {
			if got := CurrentTier(); got != TierReference {
				t.Errorf("nested reference tier: %v", got)
			}
			return nil
		})
		_ = WithTier(TierExact, func() error {
			if got := CurrentTier(); got != TierExact {
				t.Errorf("exact inside fast: %v", got)
			}
			return nil
		})
		if got := CurrentTier(); got != TierFast {
			t.Errorf("after nested tiers: %v, want fast", got)
		}
		return nil
	})
	if got := CurrentTier(); got != TierReference {
		t.Errorf("after WithTier: %v, want reference", got)
	}
	if err := WithTier(Tier(9), func() error { return nil }); err == nil {
		t.Error("an unknown tier was accepted")
	}
}
