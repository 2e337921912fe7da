package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestMVNAndLpNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(30))
	x := randT(rng, -2, 2, 2, 3, 2, 2)
	op := nnOp(t, "MeanVarianceNormalization", nil)
	y := nnForward(t, op, x)[0]
	// Per channel over N, H, W: mean 0, variance 1.
	for c := 0; c < 3; c++ {
		var s, q float64
		for b := 0; b < 2; b++ {
			for p := 0; p < 4; p++ {
				v := float64(y.F32()[(b*3+c)*4+p])
				s += v
				q += v * v
			}
		}
		if math.Abs(s/8) > 1e-6 || math.Abs(q/8-1) > 1e-5 {
			t.Errorf("MVN channel %d: mean %g, variance %g", c, s/8, q/8)
		}
	}
	checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-3, 1e-3)
	for _, p := range []int64{1, 2} {
		op := nnOp(t, "LpNormalization", MapAttrs{"p": p, "axis": int64(1)})
		y := nnForward(t, op, x)[0]
		for b := 0; b < 2; b++ {
			for q := 0; q < 4; q++ {
				var n float64
				for c := 0; c < 3; c++ {
					v := math.Abs(float64(y.F32()[(b*3+c)*4+q]))
					if p == 2 {
						v *= v
					}
					n += v
				}
				if math.Abs(n-1) > 1e-5 {
					t.Errorf("LpNormalization p=%d: norm %g at %d,%d", p, n, b, q)
				}
			}
		}
		checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-3, 1e-3)
	}
}
