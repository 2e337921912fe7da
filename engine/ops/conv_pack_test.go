package ops

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// convGemmRef is the im2col/GEMM forward pass as it was before the packed
// weights: the bias (or nothing), then per image and group Im2col (skipped
// for 1×1 stride-1 unpadded kernels) and Sgemm with the plain weights.
func convGemmRef(t *testing.T, op *Conv, in []*tensor.T) []float32 {
	t.Helper()
	p, err := op.plan(in)
	if err != nil {
		t.Fatal(err)
	}
	x, w := in[0].F32(), in[1].F32()
	y := make([]float32, p.N*p.M*p.ohw)
	beta := float32(0)
	if len(in) > 2 {
		beta = 1
		for n := 0; n < p.N; n++ {
			for m := 0; m < p.M; m++ {
				for i := range p.ohw {
					y[(n*p.M+m)*p.ohw+i] = in[2].F32()[m]
				}
			}
		}
	}
	kg := p.g.kernels(p.Cg)
	col := make([]float32, p.kk*p.ohw)
	for n := 0; n < p.N; n++ {
		for gi := 0; gi < p.G; gi++ {
			xg := x[(n*p.C+gi*p.Cg)*p.hw:][:p.Cg*p.hw]
			b := xg
			if !p.g.pointwise() {
				kernels.Im2col(kg, xg, col)
				b = col
			}
			kernels.Sgemm(false, false, p.Mg, p.ohw, p.kk, 1, w[gi*p.Mg*p.kk:], p.kk, b, p.ohw, beta, y[(n*p.M+gi*p.Mg)*p.ohw:], p.ohw)
		}
	}
	return y
}

// TestConvPackedWeights checks the im2col/GEMM path with its im2col matrix
// packed straight from the image and its weights packed once (when the
// GEMMs would pack them at least twice per call, as for a batch of 3): the
// same bits as im2col + Sgemm with the plain weights, on the first call and
// the next (which must reuse the packed weights), and after a weight
// changes in place (which must pack them again).
func TestConvPackedWeights(t *testing.T) {
	setWinogradMode(t, wgModeNever)
	cases := append([]convCase(nil), convCases...)
	cases = append(cases,
		convCase{name: "stem", N: 1, C: 3, H: 40, W: 37, M: 16, KH: 7, KW: 7, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, dils: []int{1, 1}, group: 1, bias: false},
		convCase{name: "7x7 stage", N: 2, C: 70, H: 7, W: 7, M: 64, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 1, bias: true},
		convCase{name: "1x1 grouped", N: 1, C: 32, H: 20, W: 20, M: 24, KH: 1, KW: 1, strides: []int{1, 1}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 2, bias: false},
		convCase{name: "wide", N: 1, C: 2, H: 40, W: 45, M: 4, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 1, bias: true},
		convCase{name: "1x1 downsample", N: 1, C: 64, H: 14, W: 14, M: 40, KH: 1, KW: 1, strides: []int{2, 2}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: false},
	)
	rng := rand.New(rand.NewSource(21))
	for _, c := range cases {
		if c.group > 1 && c.group == c.C {
			continue // depthwise: no GEMM
		}
		for _, n := range []int{1, 3} {
			c.N = n
			t.Run(fmt.Sprintf("%s N%d", c.name, n), func(t *testing.T) {
				o, in, err := c.build(rng)
				if err != nil {
					t.Fatal(err)
				}
				op := o.(*Conv)
				check := func(step string) {
					t.Helper()
					got := nnForward(t, op, in...)[0].F32()
					want := convGemmRef(t, op, in)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: y[%d] = %v, im2col + Sgemm gives %v", step, i, got[i], want[i])
						}
					}
				}
				check("first call")
				p, _ := op.plan(in)
				kept := p.Mg >= 2 && p.ohw >= 2 && p.N*kernels.PackCount(p.Mg, p.ohw, p.kk) >= 2
				e := op.gemm.e[0]
				if (e != nil) != kept {
					t.Fatalf("packed weights kept: %v, want %v", e != nil, kept)
				}
				if n == 3 && p.Mg >= 2 && p.ohw >= 2 && !kept {
					t.Fatal("a batch of 3 does not keep its packed weights")
				}
				check("second call")
				if op.gemm.e[0] != e {
					t.Error("unchanged weights were packed again")
				}
				w := in[1].F32()
				w[len(w)/2] = math.Nextafter32(w[len(w)/2], 2)
				check("after changing one weight in place")
				if kept && op.gemm.e[0] == e {
					t.Error("changed weights were not packed again")
				}
			})
		}
	}
}

// TestConvFrozenWeights: frozen weights (a loaded model's) are packed once
// and then used without hashing them, forward (as they are, on the
// im2col/GEMM path, and Winograd-transformed) and for the input gradient
// (transposed), with the same bits as the same Conv with unfrozen weights.
func TestConvFrozenWeights(t *testing.T) {
	cases := append([]convCase(nil), convCases...)
	cases = append(cases,
		convCase{name: "stem", N: 1, C: 3, H: 40, W: 37, M: 16, KH: 7, KW: 7, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, dils: []int{1, 1}, group: 1, bias: false},
		convCase{name: "3x3 stage", N: 1, C: 24, H: 20, W: 20, M: 32, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 1, bias: true},
		convCase{name: "1x1 downsample", N: 1, C: 64, H: 14, W: 14, M: 40, KH: 1, KW: 1, strides: []int{2, 2}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: false},
	)
	rng := rand.New(rand.NewSource(22))
	for _, mode := range []int32{wgModeNever, wgModeAlways} {
		setWinogradMode(t, mode)
		for _, c := range cases {
			if c.group > 1 && c.group == c.C {
				continue // depthwise: nothing packed
			}
			t.Run(fmt.Sprintf("%s winograd %d", c.name, mode), func(t *testing.T) {
				o, in, err := c.build(rng)
				if err != nil {
					t.Fatal(err)
				}
				ref := o.(*Conv)
				o2, _, err := c.build(rng)
				if err != nil {
					t.Fatal(err)
				}
				op := o2.(*Conv)
				fin := append([]*tensor.T(nil), in...)
				fin[1] = in[1].Clone()
				fin[1].Freeze()
				p, _ := op.plan(fin)
				gy := randT(rng, -1, 1, p.N, p.M, p.g.OutH, p.g.OutW)
				same := func(step string, got, want []float32) {
					t.Helper()
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: [%d] = %v, with unfrozen weights %v", step, i, got[i], want[i])
						}
					}
				}
				for call := range 2 {
					h0 := wgHashes.Load()
					got := nnForward(t, op, fin...)[0].F32()
					gx, err := op.Backward(fin, nil, []*tensor.T{gy}, []bool{true})
					if err != nil {
						t.Fatal(err)
					}
					if n := wgHashes.Load() - h0; n != 0 {
						t.Fatalf("call %d hashed frozen weights %d times", call, n)
					}
					same(fmt.Sprintf("call %d forward", call), got, nnForward(t, ref, in...)[0].F32())
					wx, err := ref.Backward(in, nil, []*tensor.T{gy}, []bool{true})
					if err != nil {
						t.Fatal(err)
					}
					same(fmt.Sprintf("call %d input gradient", call), gx[0].F32(), wx[0].F32())
				}
				if p.Mg >= 2 && p.ohw >= 2 && !p.depthwise && !p.useWinogradForward() && op.gemm.e[0] == nil {
					t.Error("frozen weights were not kept packed for the forward GEMM")
				}
			})
		}
	}
}

// TestPackReleasedWithModel: the transformed and packed weights a Conv
// keeps count against wgPackMax only while the Conv lives: once it is
// collected (its model dropped), they are given back, so the next model's
// convolutions can keep theirs.
func TestPackReleasedWithModel(t *testing.T) {
	setWinogradMode(t, wgModeAlways)
	// Let the cleanups of other tests' Convs run first.
	settle := func() int64 {
		last := wgPackUsed.Load()
		for i, same := 0, 0; i < 200 && same < 3; i++ {
			runtime.GC()
			time.Sleep(2 * time.Millisecond)
			if v := wgPackUsed.Load(); v == last {
				same++
			} else {
				last, same = v, 0
			}
		}
		return last
	}
	start := settle()
	run := func() {
		op, err := New("Conv", MapAttrs{"kernel_shape": []int64{3, 3}, "pads": []int64{1, 1, 1, 1}}, 11)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
		x, w := tensor.New(1, 64, 16, 16), tensor.New(64, 64, 3, 3)
		for i := range x.F32() {
			x.F32()[i] = float32(rng.NormFloat64())
		}
		for i := range w.F32() {
			w.F32()[i] = float32(rng.NormFloat64())
		}
		if _, err := op.Forward([]*tensor.T{x, w}); err != nil {
			t.Fatal(err)
		}
		c := op.(*Conv)
		kept := c.pack.held.n.Load()
		if kept <= 0 || wgPackUsed.Load() != start+kept {
			t.Fatalf("the Conv keeps %d floats; %d counted, %d before", kept, wgPackUsed.Load(), start)
		}
	}
	run()
	// The Conv is unreachable now; its cleanup runs some time after a
	// collection.
	for i := 0; i < 200 && wgPackUsed.Load() != start; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if got := wgPackUsed.Load(); got != start {
		t.Errorf("after the Conv was collected, %d floats are still counted (want %d)", got, start)
	}
}
