package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// naiveSoftmax normalises x (viewed as [outer, n, inner]) along n in float64.
func naiveSoftmax(x []float32, outer, n, inner int, log bool) []float32 {
	y := make([]float32, len(x))
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			var s float64
			for k := 0; k < n; k++ {
				s += math.Exp(float64(x[(o*n+k)*inner+j]))
			}
			for k := 0; k < n; k++ {
				i := (o*n+k)*inner + j
				if log {
					y[i] = float32(float64(x[i]) - math.Log(s))
				} else {
					y[i] = float32(math.Exp(float64(x[i])) / s)
				}
			}
		}
	}
	return y
}

func TestSoftmaxForward(t *testing.T) {
	rng := rand.New(rand.NewSource(41))
	x := randT(rng, -3, 3, 2, 3, 4)
	for _, log := range []bool{false, true} {
		name := "Softmax"
		if log {
			name = "LogSoftmax"
		}
		// Opset 13: one axis, default −1.
		bcWantF(t, bcRun(t, bcOp(t, name, nil, 13), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 6, 4, 1, log))
		bcWantF(t, bcRun(t, bcOp(t, name, MapAttrs{"axis": int64(1)}, 13), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 2, 3, 4, log))
		bcWantF(t, bcRun(t, bcOp(t, name, MapAttrs{"axis": int64(-3)}, 13), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 1, 2, 12, log))
		// Opset 11: coerced to 2-D at axis, default 1: rows of 3·4.
		bcWantF(t, bcRun(t, bcOp(t, name, nil, 11), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 2, 12, 1, log))
		bcWantF(t, bcRun(t, bcOp(t, name, MapAttrs{"axis": int64(2)}, 11), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 6, 4, 1, log))
		bcWantF(t, bcRun(t, bcOp(t, name, MapAttrs{"axis": int64(0)}, 11), x)[0], []int{2, 3, 4}, naiveSoftmax(x.F32(), 1, 24, 1, log))
		bcFails(t, bcOp(t, name, MapAttrs{"axis": int64(3)}, 13), x)
	}
	// Large logits do not overflow.
	y := bcRun(t, bcOp(t, "Softmax", nil, 13), bcF([]float32{1000, 1000}, 2))[0]
	bcWantF(t, y, []int{2}, []float32{0.5, 0.5})
	bcWantF(t, bcRun(t, bcOp(t, "Softmax", nil, 13), bcF([]float32{1, 2, 3}, 1, 3))[0], []int{1, 3},
		[]float32{0.09003057, 0.24472847, 0.66524096})
}

func TestSoftmaxGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for _, name := range []string{"Softmax", "LogSoftmax"} {
		for _, c := range []struct {
			attrs MapAttrs
			opset int
		}{{nil, 13}, {MapAttrs{"axis": int64(1)}, 13}, {nil, 11}, {MapAttrs{"axis": int64(0)}, 11}} {
			op := bcOp(t, name, c.attrs, c.opset)
			checkGrad(t, op, []*tensor.T{randT(rng, -2, 2, 2, 3, 4)}, []int{0}, 1e-2, 1e-2)
		}
	}
}
