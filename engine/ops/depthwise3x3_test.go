package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestDepthwise3x3 checks the fused 3×3 depthwise path against the
// tap-by-tap sweep bit for bit: sizes down to 1 pixel, strides 1 and 2
// (mixed), symmetric and lopsided padding, channel multipliers, batches,
// and a starting value (a bias) in the output.
func TestDepthwise3x3(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	cases := 0
	for _, hw := range [][2]int{{1, 1}, {1, 6}, {2, 3}, {3, 3}, {5, 4}, {8, 8}, {13, 7}} {
		for _, st := range [][2]int{{1, 1}, {2, 2}, {1, 2}, {2, 1}} {
			for _, pads := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 1, 0}, {2, 2, 2, 2}, {1, 0, 2, 1}} {
				for _, mg := range []int{1, 2} {
					h, w := hw[0], hw[1]
					if (h+pads[0]+pads[2]-3)/st[0]+1 < 1 || (w+pads[1]+pads[3]-3)/st[1]+1 < 1 || h+pads[0]+pads[2] < 3 || w+pads[1]+pads[3] < 3 {
						continue
					}
					n, c := 2, 3
					op, err := New("Conv", MapAttrs{
						"strides": []int64{int64(st[0]), int64(st[1])}, "dilations": []int64{1, 1}, "group": int64(c),
						"kernel_shape": []int64{3, 3}, "pads": []int64{int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])},
					}, 11)
					if err != nil {
						t.Fatal(err)
					}
					x, wt := randT(rng, -1, 1, n, c, h, w), randT(rng, -1, 1, c*mg, 1, 3, 3)
					p, err := op.(*Conv).plan([]*tensor.T{x, wt})
					if err != nil {
						t.Fatalf("%v %v %v: %v", hw, st, pads, err)
					}
					size := p.N * p.M * p.ohw
					start := make([]float32, size)
					for i := range start {
						start[i] = float32(rng.NormFloat64())
					}
					got, want := append([]float32(nil), start...), append([]float32(nil), start...)
					depthwise3x3(p, x.F32(), wt.F32(), got)
					depthwiseTaps(p, x.F32(), wt.F32(), want)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("size %v stride %v pads %v ×%d: element %d is %v, tap by tap %v", hw, st, pads, mg, i, got[i], want[i])
						}
					}
					cases++
				}
			}
		}
	}
	if cases < 100 {
		t.Fatalf("only %d geometries", cases)
	}
}

// TestDepthwise3x3Dx checks the fused input gradient of 3×3 stride-1
// depthwise convolutions against the tap-by-tap sweep bit for bit: sizes
// down to 1 pixel, symmetric and lopsided padding, channel multipliers,
// batches, and a starting value in the gradient; other geometries must be
// left to the sweep.
func TestDepthwise3x3Dx(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	cases := 0
	for _, hw := range [][2]int{{1, 1}, {1, 6}, {2, 3}, {3, 3}, {5, 4}, {8, 8}, {13, 7}} {
		for _, st := range [][2]int{{1, 1}, {2, 2}, {1, 2}} {
			for _, pads := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 1, 0}, {2, 2, 2, 2}, {1, 0, 2, 1}} {
				for _, mg := range []int{1, 2} {
					h, w := hw[0], hw[1]
					if h+pads[0]+pads[2] < 3 || w+pads[1]+pads[3] < 3 {
						continue
					}
					n, c := 2, 3
					op, err := New("Conv", MapAttrs{
						"strides": []int64{int64(st[0]), int64(st[1])}, "dilations": []int64{1, 1}, "group": int64(c),
						"kernel_shape": []int64{3, 3}, "pads": []int64{int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])},
					}, 11)
					if err != nil {
						t.Fatal(err)
					}
					x, wt := randT(rng, -1, 1, n, c, h, w), randT(rng, -1, 1, c*mg, 1, 3, 3)
					p, err := op.(*Conv).plan([]*tensor.T{x, wt})
					if err != nil {
						t.Fatalf("%v %v %v: %v", hw, st, pads, err)
					}
					dy := randT(rng, -1, 1, p.N*p.M*p.ohw).F32()
					start := make([]float32, x.Len())
					for i := range start {
						start[i] = float32(rng.NormFloat64())
					}
					got, want := append([]float32(nil), start...), append([]float32(nil), start...)
					fused := depthwise3x3Dx(p, wt.F32(), dy, got)
					if fused != (st == [2]int{1, 1}) {
						t.Fatalf("stride %v: fused %v", st, fused)
					}
					if !fused {
						continue
					}
					depthwiseBackwardTaps(p, x.F32(), wt.F32(), dy, want, nil)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("size %v pads %v ×%d: element %d is %v, tap by tap %v", hw, pads, mg, i, got[i], want[i])
						}
					}
					cases++
				}
			}
		}
	}
	if cases < 50 {
		t.Fatalf("only %d geometries", cases)
	}
}
