package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// gridBilinearRef is PyTorch's grid_sample (bilinear, zeros, align_corners
// false), straight from its definition.
func gridBilinearRef(x, grid *tensor.T) *tensor.T {
	xs, gs := x.Shape(), grid.Shape()
	n, c, h, w, ho, wo := xs[0], xs[1], xs[2], xs[3], gs[1], gs[2]
	y := tensor.New(n, c, ho, wo)
	at := func(b, ch, i, j int) float64 {
		if i < 0 || i >= h || j < 0 || j >= w {
			return 0
		}
		return float64(x.F32()[((b*c+ch)*h+i)*w+j])
	}
	for b := 0; b < n; b++ {
		for p := 0; p < ho*wo; p++ {
			u := ((float64(grid.F32()[(b*ho*wo+p)*2])+1)*float64(w) - 1) / 2
			v := ((float64(grid.F32()[(b*ho*wo+p)*2+1])+1)*float64(h) - 1) / 2
			j0, i0 := int(math.Floor(u)), int(math.Floor(v))
			fu, fv := u-float64(j0), v-float64(i0)
			for ch := 0; ch < c; ch++ {
				s := (1-fv)*((1-fu)*at(b, ch, i0, j0)+fu*at(b, ch, i0, j0+1)) + fv*((1-fu)*at(b, ch, i0+1, j0)+fu*at(b, ch, i0+1, j0+1))
				y.F32()[(b*c+ch)*ho*wo+p] = float32(s)
			}
		}
	}
	return y
}

func TestGridSample(t *testing.T) {
	rng := rand.New(rand.NewSource(26))
	x := randT(rng, -1, 1, 2, 3, 4, 5)
	grid := randT(rng, -1.3, 1.3, 2, 3, 2, 2)
	nnClose(t, "GridSample bilinear", nnForward(t, nnOp(t, "GridSample", nil), x, grid)[0], gridBilinearRef(x, grid), 1e-5)

	// The identity grid with align_corners reads every pixel back.
	id := tensor.New(2, 4, 5, 2)
	for b := 0; b < 2; b++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 5; j++ {
				id.F32()[((b*4+i)*5+j)*2] = float32(j)/2 - 1
				id.F32()[((b*4+i)*5+j)*2+1] = float32(i)*2/3 - 1
			}
		}
	}
	for _, mode := range []string{"bilinear", "nearest", "bicubic"} {
		y := nnForward(t, nnOp(t, "GridSample", MapAttrs{"mode": mode, "align_corners": int64(1)}), x, id)[0]
		nnClose(t, "GridSample identity "+mode, y, x, 1e-5)
	}
	for _, mode := range []string{"bilinear", "bicubic", "nearest"} {
		for _, pad := range []string{"zeros", "border", "reflection"} {
			for _, align := range []int64{0, 1} {
				op := nnOp(t, "GridSample", MapAttrs{"mode": mode, "padding_mode": pad, "align_corners": align})
				wrt := []int{0, 1}
				if mode == "nearest" {
					wrt = []int{0}
				}
				checkGrad(t, op, []*tensor.T{x, grid}, wrt, 1e-3, 1e-3)
			}
		}
	}
	if _, err := New("GridSample", MapAttrs{"padding_mode": "wrap"}, 16); err == nil {
		t.Errorf("an unknown padding_mode must be refused")
	}
}
