package ops

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// ResNet-18 convolution shapes (batch 1), plus a pointwise and a depthwise
// layer for the two special paths.
var benchConvs = []struct {
	name          string
	C, H, M, K, S int
	group         int
}{
	{"conv1_3to64_k7s2_224", 3, 224, 64, 7, 2, 1},
	{"64to64_k3_56", 64, 56, 64, 3, 1, 1},
	{"128to128_k3_28", 128, 28, 128, 3, 1, 1},
	{"256to256_k3_14", 256, 14, 256, 3, 1, 1},
	{"512to512_k3_7", 512, 7, 512, 3, 1, 1},
	{"pointwise_256to256_k1_14", 256, 14, 256, 1, 1, 1},
	{"depthwise_64_k3_56", 64, 56, 64, 3, 1, 64},
}

func benchConvSetup(b *testing.B, C, H, M, K, S, group int) (Op, []*tensor.T, float64) {
	rng := rand.New(rand.NewSource(1))
	pad := int64(K / 2)
	op, err := New("Conv", MapAttrs{
		"kernel_shape": []int64{int64(K), int64(K)},
		"strides":      []int64{int64(S), int64(S)},
		"pads":         []int64{pad, pad, pad, pad},
		"group":        int64(group),
	}, 13)
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.T{
		randT(rng, -1, 1, 1, C, H, H),
		randT(rng, -1, 1, M, C/group, K, K),
		randT(rng, -1, 1, M),
	}
	oh := (H+2*int(pad)-K)/S + 1
	flops := 2 * float64(M) * float64(C/group*K*K) * float64(oh*oh)
	return op, in, flops
}

func BenchmarkConvForward(b *testing.B) {
	for _, c := range benchConvs {
		b.Run(c.name, func(b *testing.B) {
			op, in, flops := benchConvSetup(b, c.C, c.H, c.M, c.K, c.S, c.group)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := op.Forward(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvBackward computes dX and dW (twice the forward's FLOPs) and dB.
func BenchmarkConvBackward(b *testing.B) {
	for _, c := range benchConvs {
		b.Run(c.name, func(b *testing.B) {
			op, in, flops := benchConvSetup(b, c.C, c.H, c.M, c.K, c.S, c.group)
			out, err := op.Forward(in)
			if err != nil {
				b.Fatal(err)
			}
			gy := randT(rand.New(rand.NewSource(2)), -1, 1, out[0].Shape()...)
			need := []bool{true, true, true}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := op.Backward(in, out, []*tensor.T{gy}, need); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvBackwardInput is the Grad-CAM/saliency case: dX only.
func BenchmarkConvBackwardInput(b *testing.B) {
	for _, c := range benchConvs[1:3] {
		b.Run(c.name, func(b *testing.B) {
			op, in, flops := benchConvSetup(b, c.C, c.H, c.M, c.K, c.S, c.group)
			out, err := op.Forward(in)
			if err != nil {
				b.Fatal(err)
			}
			gy := randT(rand.New(rand.NewSource(2)), -1, 1, out[0].Shape()...)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := op.Backward(in, out, []*tensor.T{gy}, []bool{true, false, false}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkPoolBN(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	x := randT(rng, -1, 1, 1, 64, 112, 112)
	mp, _ := New("MaxPool", MapAttrs{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}, 13)
	bn, _ := New("BatchNormalization", MapAttrs{}, 15)
	relu, _ := New("Relu", MapAttrs{}, 14)
	bnIn := []*tensor.T{x, randT(rng, 0.5, 1.5, 64), randT(rng, -1, 1, 64), randT(rng, -1, 1, 64), randT(rng, 0.5, 2, 64)}
	for _, c := range []struct {
		name string
		op   Op
		in   []*tensor.T
	}{{"maxpool_64_112", mp, []*tensor.T{x}}, {"batchnorm_64_112", bn, bnIn}, {"relu_64_112", relu, []*tensor.T{x}}} {
		b.Run(fmt.Sprint(c.name), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.op.Forward(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Winograd F(2×2,3×3) against im2col + GEMM on 3×3 stride-1 convolutions:
// ResNet-18's four shapes plus smaller ones near the dispatch thresholds.
var benchWinogradConvs = []struct {
	name    string
	C, H, M int
}{
	{"64to64_56", 64, 56, 64},
	{"128to128_28", 128, 28, 128},
	{"256to256_14", 256, 14, 256},
	{"512to512_7", 512, 7, 512},
	{"16to16_32", 16, 32, 16},
	{"32to32_28", 32, 28, 32},
	{"32to32_16", 32, 16, 32},
	{"64to64_14", 64, 14, 64},
	{"64to64_8", 64, 8, 64},
	{"128to128_12", 128, 12, 128},
	{"512to512_14", 512, 14, 512},
}

// benchInterleaved runs im2col and Winograd alternately (ABBA order) in the
// same benchmark loop, timing every call, and reports the median time of
// each, their ratio and the effective GFLOP/s (direct-convolution flops
// divided by the time; Winograd does fewer real flops).
func benchInterleaved(b *testing.B, flops float64, run func()) {
	setWinogradMode(b, wgModeNever)
	run()
	winogradMode.Store(wgModeAlways)
	run()
	var ti, tw []float64
	timeOne := func(mode int32) float64 {
		winogradMode.Store(mode)
		t0 := time.Now()
		run()
		return time.Since(t0).Seconds()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ti = append(ti, timeOne(wgModeNever))
			tw = append(tw, timeOne(wgModeAlways))
		} else {
			tw = append(tw, timeOne(wgModeAlways))
			ti = append(ti, timeOne(wgModeNever))
		}
	}
	mi, mw := median(ti), median(tw)
	b.ReportMetric(mi*1e3, "im2col-ms")
	b.ReportMetric(mw*1e3, "wino-ms")
	b.ReportMetric(mi/mw, "speedup")
	b.ReportMetric(flops/mi/1e9, "im2col-effGFLOP/s")
	b.ReportMetric(flops/mw/1e9, "wino-effGFLOP/s")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// BenchmarkConvWinograd compares the forward passes (batch 1, pad 1, bias).
func BenchmarkConvWinograd(b *testing.B) {
	for _, c := range benchWinogradConvs {
		b.Run(c.name, func(b *testing.B) {
			op, in, flops := benchConvSetup(b, c.C, c.H, c.M, 3, 1, 1)
			benchInterleaved(b, flops, func() {
				if _, err := op.Forward(in); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkConvWinogradBackwardInput compares the input gradients (dX only,
// the saliency case).
func BenchmarkConvWinogradBackwardInput(b *testing.B) {
	for _, c := range benchWinogradConvs {
		b.Run(c.name, func(b *testing.B) {
			op, in, flops := benchConvSetup(b, c.C, c.H, c.M, 3, 1, 1)
			out, err := op.Forward(in)
			if err != nil {
				b.Fatal(err)
			}
			gy := []*tensor.T{randT(rand.New(rand.NewSource(2)), -1, 1, out[0].Shape()...)}
			need := []bool{true, false, false}
			benchInterleaved(b, flops, func() {
				if _, err := op.Backward(in, out, gy, need); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkConvWinogradTiles compares Winograd F(2×2,3×3) with F(4×4,3×3)
// (alternately, ABBA), forward and input gradient, on the shapes above.
func BenchmarkConvWinogradTiles(b *testing.B) {
	for _, dir := range []string{"fwd", "dx"} {
		for _, c := range benchWinogradConvs {
			b.Run(dir+"_"+c.name, func(b *testing.B) {
				op, in, _ := benchConvSetup(b, c.C, c.H, c.M, 3, 1, 1)
				out, err := op.Forward(in)
				if err != nil {
					b.Fatal(err)
				}
				gy := []*tensor.T{randT(rand.New(rand.NewSource(2)), -1, 1, out[0].Shape()...)}
				run := func() {
					var err error
					if dir == "fwd" {
						_, err = op.Forward(in)
					} else {
						_, err = op.Backward(in, out, gy, []bool{true, false, false})
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				setWinogradMode(b, wgModeAlways)
				setWinogradTile(b, wgTile2)
				run()
				winogradTile.Store(wgTile4)
				run()
				var t2, t4 []float64
				timeOne := func(tile int32) float64 {
					winogradTile.Store(tile)
					t0 := time.Now()
					run()
					return time.Since(t0).Seconds()
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i%2 == 0 {
						t2 = append(t2, timeOne(wgTile2))
						t4 = append(t4, timeOne(wgTile4))
					} else {
						t4 = append(t4, timeOne(wgTile4))
						t2 = append(t2, timeOne(wgTile2))
					}
				}
				m2, m4 := median(t2), median(t4)
				b.ReportMetric(m2*1e3, "F2-ms")
				b.ReportMetric(m4*1e3, "F4-ms")
				b.ReportMetric(m2/m4, "speedup")
			})
		}
	}
}

// BenchmarkConvWinogradBatch compares im2col with Winograd on batches of 8
// and 16 (the input-gradient methods' and Score-CAM's passes), where the
// Winograd GEMMs span the batch: forward and input gradient. (On 7×7
// outputs Winograd wins in a batch but not alone; the path does not depend
// on the batch size all the same, so that an image's numbers never depend
// on the batch it is computed in: divided methods rely on it.)
func BenchmarkConvWinogradBatch(b *testing.B) {
	for _, dir := range []string{"fwd", "dx"} {
		for _, c := range []struct {
			name    string
			C, H, M int
		}{{"512to512_7", 512, 7, 512}, {"256to256_14", 256, 14, 256}} {
			for _, n := range []int{8, 16} {
				for _, tile := range []int32{wgTile2, wgTile4} {
					b.Run(fmt.Sprintf("%s_N%d_F%d_%s", dir, n, tile, c.name), func(b *testing.B) {
						setWinogradTile(b, tile)
						op, in, flops := benchConvSetup(b, c.C, c.H, c.M, 3, 1, 1)
						in[0] = randT(rand.New(rand.NewSource(3)), -1, 1, n, c.C, c.H, c.H)
						out, err := op.Forward(in)
						if err != nil {
							b.Fatal(err)
						}
						gy := []*tensor.T{randT(rand.New(rand.NewSource(2)), -1, 1, out[0].Shape()...)}
						benchInterleaved(b, float64(n)*flops, func() {
							var err error
							if dir == "fwd" {
								_, err = op.Forward(in)
							} else {
								_, err = op.Backward(in, out, gy, []bool{true, false, false})
							}
							if err != nil {
								b.Fatal(err)
							}
						})
					})
				}
			}
		}
	}
}
