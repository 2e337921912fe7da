package imgproc

import (
	"math"
	"math/rand"
	"testing"
)

// resizeRef is ResizeBilinear computed pixel by pixel, as it was before
// the rows along x were kept: both source rows interpolated along x again
// for every destination pixel.
func resizeRef(src []float32, sh, sw int, dst []float32, dh, dw int, alignCorners bool) {
	ys0, ys1, yf := axisWeights(sh, dh, alignCorners)
	xs0, xs1, xf := axisWeights(sw, dw, alignCorners)
	for y := 0; y < dh; y++ {
		r0, r1 := src[ys0[y]*sw:][:sw], src[ys1[y]*sw:][:sw]
		for x := 0; x < dw; x++ {
			a0, a1, fx := xs0[x], xs1[x], xf[x]
			top := r0[a0] + (r0[a1]-r0[a0])*fx
			bot := r1[a0] + (r1[a1]-r1[a0])*fx
			dst[y*dw+x] = top + (bot-top)*yf[y]
		}
	}
}

// ResizeBilinear equals the pixel-by-pixel computation bit for bit:
// enlarging, shrinking (source rows skipped), one-pixel sides, both
// conventions, with NaN and infinities among the values. A NaN only has to
// be a NaN: where two NaN meet in a sum, x86 keeps the sign and payload of
// the instruction's first operand, and the compiler may order a sum's
// operands either way; nothing reads them (the maps' post-processing makes
// NaN 0, the pictures draw it black).
func TestResizeMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	sizes := [][4]int{{7, 7, 224, 224}, {1, 1, 5, 3}, {4, 9, 1, 1}, {50, 40, 7, 9}, {300, 20, 17, 20}, {2, 2, 2, 2}, {14, 14, 224, 224}}
	for trial := 0; trial < 80; trial++ {
		var sh, sw, dh, dw int
		if trial < len(sizes) {
			sh, sw, dh, dw = sizes[trial][0], sizes[trial][1], sizes[trial][2], sizes[trial][3]
		} else {
			sh, sw, dh, dw = 1+rng.Intn(40), 1+rng.Intn(40), 1+rng.Intn(60), 1+rng.Intn(60)
		}
		src := make([]float32, sh*sw)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
			switch rng.Intn(50) {
			case 0:
				src[i] = float32(math.NaN())
			case 1:
				src[i] = float32(math.Inf(1 - 2*rng.Intn(2)))
			}
		}
		for _, ac := range []bool{false, true} {
			got, want := make([]float32, dh*dw), make([]float32, dh*dw)
			ResizeBilinear(src, sh, sw, got, dh, dw, ac)
			resizeRef(src, sh, sw, want, dh, dw, ac)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%d×%d → %d×%d (align corners %v): value %d is %v, want %v", sh, sw, dh, dw, ac, i, got[i], want[i])
				}
			}
		}
	}
}
