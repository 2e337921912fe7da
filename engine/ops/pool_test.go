package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// poolRef is a plain 2-D pooling over x (N×C×H×W) with resolved pads
// [t, l, b, r] and output size oh×ow. Max ignores padding; the average
// divides by the taps inside the input, or inside the padded input when
// includePad.
func poolRef(x *tensor.T, max bool, k, s, d, pads []int, oh, ow int, includePad bool) (*tensor.T, []int64) {
	xs := x.Shape()
	N, C, H, W := xs[0], xs[1], xs[2], xs[3]
	y := tensor.New(N, C, oh, ow)
	idx := make([]int64, N*C*oh*ow)
	for p := 0; p < N*C; p++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, bi := float32(math.Inf(-1)), int64(-1)
				var sum float64
				nIn, nPad := 0, 0
				for ki := 0; ki < k[0]; ki++ {
					for kj := 0; kj < k[1]; kj++ {
						iy := oy*s[0] - pads[0] + ki*d[0]
						ix := ox*s[1] - pads[1] + kj*d[1]
						if iy >= -pads[0] && iy < H+pads[2] && ix >= -pads[1] && ix < W+pads[3] {
							nPad++
						}
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						nIn++
						i := p*H*W + iy*W + ix
						v := x.F32()[i]
						sum += float64(v)
						if bi < 0 || v > best {
							best, bi = v, int64(i)
						}
					}
				}
				o := (p*oh+oy)*ow + ox
				idx[o] = bi
				if max {
					y.F32()[o] = best
				} else if includePad {
					y.F32()[o] = float32(sum / float64(nPad))
				} else {
					y.F32()[o] = float32(sum / float64(nIn))
				}
			}
		}
	}
	return y, idx
}

// distinctT returns a tensor holding a shuffled ramp: values 0.1 apart, so
// max-pooling has no ties near the finite-difference step.
func distinctT(rng *rand.Rand, shape ...int) *tensor.T {
	t := tensor.New(shape...)
	for i, p := range rng.Perm(t.Len()) {
		t.F32()[i] = float32(p)*0.1 - float32(t.Len())*0.05
	}
	return t
}

func i64s(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

type poolCase struct {
	name       string
	N, C, H, W int
	k, s, d    []int
	pads       []int // resolved [t, l, b, r]
	oh, ow     int   // expected output size
	ceil       bool
	autoPad    string
	includePad bool
}

var poolCases = []poolCase{
	{name: "2x2 s2", N: 2, C: 2, H: 6, W: 6, k: []int{2, 2}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{0, 0, 0, 0}, oh: 3, ow: 3},
	{name: "3x3 s2 p1 (resnet)", N: 1, C: 2, H: 8, W: 7, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 1, 1, 1}, oh: 4, ow: 4},
	{name: "asym pads", N: 1, C: 2, H: 5, W: 6, k: []int{3, 2}, s: []int{1, 2}, d: []int{1, 1}, pads: []int{0, 1, 2, 1}, oh: 5, ow: 4},
	{name: "dilation2", N: 1, C: 1, H: 7, W: 7, k: []int{2, 3}, s: []int{1, 1}, d: []int{2, 2}, pads: []int{1, 1, 1, 1}, oh: 7, ow: 5},
	{name: "ceil", N: 1, C: 2, H: 6, W: 7, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{0, 0, 0, 0}, oh: 3, ow: 3, ceil: true},
	{name: "ceil pads", N: 1, C: 1, H: 6, W: 6, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 1, 1, 1}, oh: 4, ow: 4, ceil: true},
	{name: "ceil pads include", N: 1, C: 1, H: 6, W: 6, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 1, 1, 1}, oh: 4, ow: 4, ceil: true, includePad: true},
	// ceil would add a 4th window starting in the right padding: dropped.
	{name: "ceil last window in pad", N: 1, C: 1, H: 5, W: 5, k: []int{2, 2}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 1, 1, 1}, oh: 3, ow: 3, ceil: true, includePad: true},
	{name: "count_include_pad", N: 1, C: 2, H: 5, W: 5, k: []int{3, 3}, s: []int{1, 1}, d: []int{1, 1}, pads: []int{1, 2, 1, 0}, oh: 5, ow: 5, includePad: true},
	{name: "SAME_UPPER", N: 1, C: 1, H: 5, W: 6, k: []int{2, 2}, s: []int{1, 1}, d: []int{1, 1}, pads: []int{0, 0, 1, 1}, oh: 5, ow: 6, autoPad: "SAME_UPPER"},
	{name: "SAME_LOWER s2", N: 1, C: 1, H: 5, W: 6, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 1, 1, 0}, oh: 3, ow: 3, autoPad: "SAME_LOWER"},
	{name: "SAME_UPPER include", N: 1, C: 1, H: 5, W: 6, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{1, 0, 1, 1}, oh: 3, ow: 3, autoPad: "SAME_UPPER", includePad: true},
	{name: "VALID", N: 1, C: 1, H: 7, W: 6, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, pads: []int{0, 0, 0, 0}, oh: 3, ow: 2, autoPad: "VALID"},
}

func (c poolCase) attrs(avg bool) MapAttrs {
	a := MapAttrs{"kernel_shape": i64s(c.k...), "strides": i64s(c.s...), "dilations": i64s(c.d...)}
	if c.autoPad != "" {
		a["auto_pad"] = c.autoPad
	} else {
		a["pads"] = i64s(c.pads...)
	}
	if c.ceil {
		a["ceil_mode"] = int64(1)
	}
	if avg && c.includePad {
		a["count_include_pad"] = int64(1)
	}
	return a
}

func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	for _, c := range poolCases {
		if c.includePad {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			op := nnOp(t, "MaxPool", c.attrs(false))
			x := distinctT(rng, c.N, c.C, c.H, c.W)
			out := nnForward(t, op, x)
			want, idx := poolRef(x, true, c.k, c.s, c.d, c.pads, c.oh, c.ow, false)
			nnClose(t, "Y", out[0], want, 0)
			for i, v := range out[1].I64() {
				if v != idx[i] {
					t.Fatalf("Indices[%d] = %d, want %d", i, v, idx[i])
				}
			}
			checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-2)
			// Backward without the Indices output (a one-output node) agrees.
			gy := randT(rng, -1, 1, out[0].Shape()...)
			g1, _ := op.Backward([]*tensor.T{x}, out, []*tensor.T{gy}, []bool{true})
			g2, _ := op.Backward([]*tensor.T{x}, out[:1], []*tensor.T{gy}, []bool{true})
			nnClose(t, "recomputed argmax", g2[0], g1[0], 0)
			// WindowTaps lists each window's taps: their first maximum is
			// the Indices output, their maximum the output.
			taps, err := op.(*MaxPool).WindowTaps(x.Shape())
			if err != nil || len(taps) != out[0].Len() {
				t.Fatalf("WindowTaps: %d windows, %v; want %d", len(taps), err, out[0].Len())
			}
			for o, win := range taps {
				best := -1
				for _, i := range win {
					if best < 0 || x.F32()[i] > x.F32()[best] {
						best = i
					}
				}
				if int64(best) != idx[o] || len(win) > c.k[0]*c.k[len(c.k)-1] {
					t.Fatalf("window %d: taps %v, first maximum at %d; Indices %d", o, win, best, idx[o])
				}
			}
		})
	}
}

// TestMaxPoolSmallWindows checks the unrolled 2×2 and 3×3 path against a
// window-by-window reference, with many ties and some NaNs: the same maxima
// (bit for bit) and the same indices (the first maximum in scan order; a
// NaN wins, and the last NaN of a window is kept).
func TestMaxPoolSmallWindows(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	for _, k := range []int{2, 3} {
		for _, s := range []int{1, 2, 3} {
			for pad := 0; pad < k; pad++ {
				for _, ceil := range []int64{0, 1} {
					for _, hw := range [][2]int{{5, 8}, {9, 7}, {k, k}, {13, 22}} {
						H, W := hw[0], hw[1]
						x := tensor.New(1, 2, H, W)
						for i := range x.F32() {
							x.F32()[i] = float32(rng.Intn(4))
							if x.F32()[i] == 0 && rng.Intn(2) == 0 {
								x.F32()[i] = float32(math.Copysign(0, -1))
							}
							if rng.Intn(15) == 0 {
								x.F32()[i] = float32(math.NaN())
							}
						}
						op := nnOp(t, "MaxPool", MapAttrs{"kernel_shape": i64s(k, k), "strides": i64s(s, s),
							"pads": i64s(pad, pad, pad, pad), "ceil_mode": ceil})
						out := nnForward(t, op, x)
						OH, OW := out[0].Shape()[2], out[0].Shape()[3]
						for p := 0; p < 2; p++ {
							xp := x.F32()[p*H*W:]
							for oy := 0; oy < OH; oy++ {
								for ox := 0; ox < OW; ox++ {
									best, bi := float32(math.Inf(-1)), -1
									for ki := 0; ki < k; ki++ {
										for kj := 0; kj < k; kj++ {
											iy, ix := oy*s-pad+ki, ox*s-pad+kj
											if iy < 0 || iy >= H || ix < 0 || ix >= W {
												continue
											}
											v := xp[iy*W+ix]
											if bi < 0 || v > best || math.IsNaN(float64(v)) {
												best, bi = v, iy*W+ix
											}
										}
									}
									o := (p*OH+oy)*OW + ox
									want := int64(-1)
									if bi >= 0 {
										want = int64(p*H*W + bi)
									}
									got, gi := out[0].F32()[o], out[1].I64()[o]
									if math.Float32bits(got) != math.Float32bits(best) || gi != want {
										t.Fatalf("k %d s %d pad %d ceil %d %d×%d: output (%d,%d,%d) = %v at %d, want %v at %d",
											k, s, pad, ceil, H, W, p, oy, ox, got, gi, best, want)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestMaxPoolTies(t *testing.T) {
	// All equal: the gradient goes to the first tap of each window.
	x := tensor.FromF32([]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 4, 4)
	op := nnOp(t, "MaxPool", MapAttrs{"kernel_shape": i64s(2, 2), "strides": i64s(2, 2)})
	out := nnForward(t, op, x)
	g, err := op.Backward([]*tensor.T{x}, out[:1], []*tensor.T{tensor.FromF32([]float32{1, 2, 3, 4}, 1, 1, 2, 2)}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.FromF32([]float32{1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0}, 1, 1, 4, 4)
	nnClose(t, "ties", g[0], want, 0)
}

func ramp(n int, shape ...int) *tensor.T {
	t := tensor.New(shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(i + n)
	}
	return t
}

// ONNX conformance cases.
func TestPoolConformance(t *testing.T) {
	x := ramp(1, 1, 1, 4, 4)
	ceil := MapAttrs{"kernel_shape": i64s(3, 3), "strides": i64s(2, 2), "ceil_mode": int64(1)}
	// test_maxpool_2d_ceil
	nnClose(t, "maxpool_2d_ceil", nnForward(t, nnOp(t, "MaxPool", ceil), x)[0], tensor.FromF32([]float32{11, 12, 15, 16}, 1, 1, 2, 2), 0)
	// test_averagepool_2d_ceil
	nnClose(t, "averagepool_2d_ceil", nnForward(t, nnOp(t, "AveragePool", ceil), x)[0], tensor.FromF32([]float32{6, 7.5, 12, 13.5}, 1, 1, 2, 2), 1e-6)

	x5 := ramp(1, 1, 1, 5, 5)
	// test_maxpool_with_argmax_2d_precomputed_pads
	out := nnForward(t, nnOp(t, "MaxPool", MapAttrs{"kernel_shape": i64s(5, 5), "pads": i64s(2, 2, 2, 2)}), x5)
	nnClose(t, "precomputed_pads Y", out[0], tensor.FromF32([]float32{
		13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25}, 1, 1, 5, 5), 0)
	wantIdx := []int64{12, 13, 14, 14, 14, 17, 18, 19, 19, 19, 22, 23, 24, 24, 24, 22, 23, 24, 24, 24, 22, 23, 24, 24, 24}
	for i, v := range out[1].I64() {
		if v != wantIdx[i] {
			t.Fatalf("precomputed_pads Indices %v, want %v", out[1].I64(), wantIdx)
		}
	}
	// test_maxpool_with_argmax_2d_precomputed_strides (storage_order 1)
	out = nnForward(t, nnOp(t, "MaxPool", MapAttrs{"kernel_shape": i64s(2, 2), "strides": i64s(2, 2), "storage_order": int64(1)}), x5)
	nnClose(t, "precomputed_strides Y", out[0], tensor.FromF32([]float32{7, 9, 17, 19}, 1, 1, 2, 2), 0)
	for i, v := range []int64{6, 16, 8, 18} {
		if out[1].I64()[i] != v {
			t.Fatalf("storage_order 1 Indices %v, want [6 16 8 18]", out[1].I64())
		}
	}
	// test_averagepool_2d_pads_count_include_pad (smaller input)
	xr := ramp(0, 1, 1, 3, 3)
	got := nnForward(t, nnOp(t, "AveragePool", MapAttrs{"kernel_shape": i64s(3, 3), "pads": i64s(2, 2, 2, 2), "count_include_pad": int64(1)}), xr)[0]
	if got.Shape()[2] != 5 || math.Abs(float64(got.F32()[0])-0.0) > 1e-6 || math.Abs(float64(got.F32()[12])-36.0/9) > 1e-6 {
		t.Fatalf("count_include_pad: %v %v", got.Shape(), got.F32())
	}

	// 1-D, ceil_mode with count_include_pad: the last window covers only 5
	// and no padding (onnxruntime / onnx.reference / PyTorch: 5).
	x1 := tensor.FromF32([]float32{1, 2, 3, 4, 5}, 1, 1, 5)
	got = nnForward(t, nnOp(t, "AveragePool", MapAttrs{"kernel_shape": i64s(2), "strides": i64s(2), "ceil_mode": int64(1), "count_include_pad": int64(1)}), x1)[0]
	nnClose(t, "1d ceil include_pad", got, tensor.FromF32([]float32{1.5, 3.5, 5}, 1, 1, 3), 1e-6)
	// PyTorch AvgPool1d(7, 3, 3, ceil_mode=True, count_include_pad=True):
	// the last window overhangs the padding by one and divides by 6.
	x2 := tensor.FromF32([]float32{2.0903, 4.6493, 1.6320, -3.2051, 4.6975, 4.7296, 3.3653, -1.5815, -2.3832}, 1, 1, 9)
	got = nnForward(t, nnOp(t, "AveragePool", MapAttrs{"kernel_shape": i64s(7), "strides": i64s(3), "pads": i64s(3, 3), "ceil_mode": int64(1), "count_include_pad": int64(1)}), x2)[0]
	nnClose(t, "pytorch ceil include_pad", got, tensor.FromF32([]float32{0.7381, 2.5656, 0.8032, -0.0999}, 1, 1, 4), 2e-4)
}

func TestAveragePool(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	for _, c := range poolCases {
		t.Run(c.name, func(t *testing.T) {
			op := nnOp(t, "AveragePool", c.attrs(true))
			x := randT(rng, -1, 1, c.N, c.C, c.H, c.W)
			out := nnForward(t, op, x)
			if len(out) != 1 {
				t.Fatalf("%d outputs", len(out))
			}
			want, _ := poolRef(x, false, c.k, c.s, c.d, c.pads, c.oh, c.ow, c.includePad)
			nnClose(t, "Y", out[0], want, 1e-5)
			checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-2)
		})
	}
}

func TestPool1D(t *testing.T) {
	rng := rand.New(rand.NewSource(33))
	for _, typ := range []string{"MaxPool", "AveragePool"} {
		a := MapAttrs{"kernel_shape": i64s(3), "strides": i64s(2), "pads": i64s(1, 0), "ceil_mode": int64(1)}
		op := nnOp(t, typ, a)
		x := distinctT(rng, 2, 2, 8)
		out := nnForward(t, op, x)
		x4, _ := x.Reshape(2, 2, 1, 8)
		want, _ := poolRef(x4, typ == "MaxPool", []int{1, 3}, []int{1, 2}, []int{1, 1}, []int{0, 1, 0, 0}, 1, 4, false)
		w3, _ := want.Reshape(2, 2, 4)
		nnClose(t, typ+" 1d", out[0], w3, 1e-5)
		checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-2)
	}
}

func TestGlobalPool(t *testing.T) {
	rng := rand.New(rand.NewSource(34))
	for _, typ := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		for _, shape := range [][]int{{2, 3, 4, 5}, {2, 3, 7}} {
			t.Run(fmt.Sprint(typ, shape), func(t *testing.T) {
				op := nnOp(t, typ, MapAttrs{})
				x := distinctT(rng, shape...)
				out := nnForward(t, op, x)[0]
				planes, size := shape[0]*shape[1], tensor.Size(shape[2:])
				wantShape := append([]int{shape[0], shape[1]}, make([]int, len(shape)-2)...)
				for k := 2; k < len(wantShape); k++ {
					wantShape[k] = 1
				}
				want := tensor.New(wantShape...)
				for p := 0; p < planes; p++ {
					var s float64
					m := float32(math.Inf(-1))
					for _, v := range x.F32()[p*size : (p+1)*size] {
						s += float64(v)
						m = max(m, v)
					}
					if typ == "GlobalMaxPool" {
						want.F32()[p] = m
					} else {
						want.F32()[p] = float32(s / float64(size))
					}
				}
				nnClose(t, typ, out, want, 1e-5)
				checkGrad(t, op, []*tensor.T{x}, []int{0}, 1e-2, 1e-2)
			})
		}
	}
}

func TestPoolErrors(t *testing.T) {
	if _, err := New("MaxPool", MapAttrs{}, 12); err == nil {
		t.Fatal("MaxPool without kernel_shape accepted")
	}
	op := nnOp(t, "AveragePool", MapAttrs{"kernel_shape": i64s(3, 3)})
	if _, err := op.Forward([]*tensor.T{tensor.New(1, 1, 2, 2)}); err == nil {
		t.Fatal("kernel larger than input accepted")
	}
	op = nnOp(t, "MaxPool", MapAttrs{"kernel_shape": i64s(2, 2, 2)})
	if _, err := op.Forward([]*tensor.T{tensor.New(1, 1, 4, 4, 4)}); err == nil {
		t.Fatal("3-D pooling accepted")
	}
}
