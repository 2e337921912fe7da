package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"
)

// TestSgemmPacked checks that SgemmPacked gives Sgemm's results bit for bit
// (the same blocks, the same sums) over shapes around the blocks and edge
// tiles, every transpose and alpha/beta case, for every kernel, with and
// without reading A's blocks ahead (touchPackedA), and that n = 1 (no
// matrix-vector shortcut) is within the float32 bound of the float64
// reference.
func TestSgemmPacked(t *testing.T) {
	old := touchPackedA
	defer func() { touchPackedA = old }()
	for _, touch := range []bool{false, true} {
		touchPackedA = touch
		testSgemmPacked(t)
	}
}

func testSgemmPacked(t *testing.T) {
	for _, km := range kernelModes() {
		restore := km.use()
		r := rand.New(rand.NewSource(11))
		i := 0
		for _, m := range []int{1, 2, gemmMR + 1, 37, mcBlk + gemmMR + 1} {
			for _, n := range []int{1, 2, gemmNR - 1, 49, 2*ncBlk/3 + 5} {
				for _, k := range []int{1, 5, 256, 300} {
					i++
					transA, transB := i%2 == 0, i%3 == 0
					alpha, beta := float32(1), float32(0)
					if i%4 == 1 {
						alpha, beta = -0.5, 0.75
					}
					lda, ldb := k+1, n+2
					if transA {
						lda = m + 1
					}
					if transB {
						ldb = k + 2
					}
					a, b := randSlice(r, max(m, k)*lda), randSlice(r, max(n, k)*ldb)
					c0 := randSlice(r, m*(n+1))
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					name := fmt.Sprintf("%s kernel, touch %v: transA %v transB %v %d×%d×%d", km.name, touchPackedA, transA, transB, m, n, k)
					pa := PackA(transA, m, k, a, lda)
					if pa.Rows() != m || pa.Cols() != k {
						t.Fatalf("%s: packed %d×%d", name, pa.Rows(), pa.Cols())
					}
					SgemmPacked(pa, transB, n, alpha, b, ldb, beta, got, n+1)
					if m == 1 || n == 1 {
						ref, mag := refSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c0, n+1)
						tol := 4 * float64(k+2) * 6e-8
						for x := 0; x < m; x++ {
							for y := 0; y < n; y++ {
								if d := math.Abs(float64(got[x*(n+1)+y]) - ref[x*n+y]); d > tol*mag[x*n+y]+1e-30 {
									t.Fatalf("%s: C[%d,%d] = %v, want %v", name, x, y, got[x*(n+1)+y], ref[x*n+y])
								}
							}
						}
						continue
					}
					Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, want, n+1)
					for x := range want {
						if math.Float32bits(got[x]) != math.Float32bits(want[x]) {
							t.Fatalf("%s: C[%d] = %v, Sgemm gives %v", name, x, got[x], want[x])
						}
					}
				}
			}
		}
		restore()
	}
}

// TestTouchRows checks that touchRows reads the first value of rows 0,
// step, 2·step, … (at most 64 bytes apart, so every line of the block),
// whatever the length: with small integers as values, its sum is exact.
func TestTouchRows(t *testing.T) {
	const step = 64 / (4 * gemmMR)
	if step*4*gemmMR > 64 || step < 1 {
		t.Fatalf("step %d rows of %d bytes", step, 4*gemmMR)
	}
	for n := 0; n < 12*step+5; n++ {
		p := make([]aRow, n)
		want := float32(0)
		for i := range p {
			p[i][0] = float32(i%7 + 1)
			if i%step == 0 {
				want += p[i][0]
			}
		}
		if got := touchRows(p); got != want {
			t.Fatalf("%d rows: read %v, want the sum %v of every %d-th row's first value", n, got, want, step)
		}
	}
}

func TestPackAPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"zero rows": func() { PackA(false, 0, 3, nil, 3) },
		"short A":   func() { PackA(false, 3, 4, make([]float32, 11), 4) },
		"short B": func() {
			SgemmPacked(PackA(false, 2, 3, make([]float32, 6), 3), false, 4, 1, make([]float32, 11), 4, 0, make([]float32, 8), 4)
		},
		"short C": func() {
			SgemmPacked(PackA(false, 2, 3, make([]float32, 6), 3), false, 4, 1, make([]float32, 12), 4, 0, make([]float32, 7), 4)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestSgemmPackedConv checks that SgemmPackedConv and SgemmConv, which pack
// the im2col matrix's micro-panels straight from the image, give Im2col followed by
// SgemmPacked on one thread bit for bit, on every kernel, over the im2col
// test geometries (with at least two output positions) and larger ones that
// the native GEMM splits across goroutines (along n, and along m), on 1 and
// 3 threads.
func TestSgemmPackedConv(t *testing.T) {
	gs := testGeoms()
	gs = append(gs,
		geom(3, 40, 52, 7, 7, 3, 3, 3, 3, 2, 2, 1, 1),  // a stem: n ≫ m, split along n
		geom(70, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),   // k > kcMax, split along m
		geom(5, 30, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), // n > ncBlk
	)
	for _, km := range kernelModes() {
		restore := km.use()
		r := rand.New(rand.NewSource(12))
		for gi, g := range gs {
			n := g.OutH * g.OutW
			if n < 2 || g.StrideH <= 0 || g.StrideW <= 0 {
				continue
			}
			k := g.C * g.KH * g.KW
			for _, m := range []int{2, gemmMR + 1, 37, 300} {
				if m == 300 && gi < len(testGeoms()) {
					continue
				}
				alpha, beta := float32(1), float32(0)
				if (gi+m)%3 == 0 {
					alpha, beta = -0.5, 0.75
				}
				x := randSlice(r, g.C*g.H*g.W)
				a := randSlice(r, m*k)
				c0 := randSlice(r, m*(n+1))
				col := make([]float32, k*n)
				Im2col(g, x, col)
				at := make([]float32, k*m) // Aᵀ
				for i := 0; i < m; i++ {
					for p := 0; p < k; p++ {
						at[p*m+i] = a[i*k+p]
					}
				}
				pa := PackA(false, m, k, a, k)
				want := append([]float32(nil), c0...)
				prev := runtime.GOMAXPROCS(1)
				SgemmPacked(pa, false, n, alpha, col, n, beta, want, n+1)
				runtime.GOMAXPROCS(prev)
				for _, procs := range []int{1, 3} {
					prev := runtime.GOMAXPROCS(procs)
					got := append([]float32(nil), c0...)
					SgemmPackedConv(pa, g, x, alpha, beta, got, n+1)
					// SgemmConv with A as it is, and with A stored transposed.
					got2 := append([]float32(nil), c0...)
					SgemmConv(false, m, alpha, a, k, g, x, beta, got2, n+1)
					got3 := append([]float32(nil), c0...)
					SgemmConv(true, m, alpha, at, m, g, x, beta, got3, n+1)
					runtime.GOMAXPROCS(prev)
					for i := range want {
						for f, gv := range [][]float32{got, got2, got3} {
							if math.Float32bits(gv[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s kernel, %s, m %d, %d threads, product %d: C[%d] = %v, want %v", km.name, geomString(g), m, procs, f, i, gv[i], want[i])
							}
						}
					}
				}
			}
		}
		restore()
	}
}

// TestPackCount checks the count of A packings on one thread: one per block
// of ncBlk columns, none for matrix-vector shapes.
func TestPackCount(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, c := range []struct{ m, n, k, want int }{
		{64, 49, 4608, 1}, {64, 1, 10, 0}, {1, 100, 10, 0}, {8, ncBlk, 3, 1}, {8, ncBlk + 1, 3, 2}, {64, 12544, 147, (12544 + ncBlk - 1) / ncBlk},
	} {
		if got := PackCount(c.m, c.n, c.k); got != c.want {
			t.Errorf("PackCount(%d, %d, %d) = %d, want %d", c.m, c.n, c.k, got, c.want)
		}
	}
}

// BenchmarkSgemmConv compares a convolution's GEMM with the im2col matrix
// made first (Im2col, then Sgemm) against SgemmConv, which packs the
// matrix's panels straight from the image, on ResNet-18's first layer and
// a 7×7-stage layer.
func BenchmarkSgemmConv(b *testing.B) {
	for _, c := range []struct {
		name string
		m    int
		g    ConvGeom
	}{
		{"stem_64x3x224_k7s2", 64, geom(3, 224, 224, 7, 7, 3, 3, 3, 3, 2, 2, 1, 1)},
		{"512x512x7_k3", 512, geom(512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)},
	} {
		r := rand.New(rand.NewSource(5))
		g := c.g
		n, k := g.OutH*g.OutW, g.C*g.KH*g.KW
		x, a, y := randSlice(r, g.C*g.H*g.W), randSlice(r, c.m*k), make([]float32, c.m*n)
		col := make([]float32, k*n)
		flops := 2 * float64(c.m) * float64(n) * float64(k)
		b.Run(c.name+"/im2col", func(b *testing.B) {
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				Im2col(g, x, col)
				Sgemm(false, false, c.m, n, k, 1, a, k, col, n, 0, y, n)
			}
			reportGFLOPs(b, flops*float64(b.N), cpu0)
		})
		b.Run(c.name+"/fused", func(b *testing.B) {
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				SgemmConv(false, c.m, 1, a, k, g, x, 0, y, n)
			}
			reportGFLOPs(b, flops*float64(b.N), cpu0)
		})
	}
}
