package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"runtime"
	"sync"
	"testing"
)

// refSgemm is a float64 reference for Sgemm with BLAS semantics (A and B are
// not read when k == 0 or alpha == 0; C is not read when beta == 0). It also
// returns, per element, Σ|alpha·a·b| + |beta·c| for the error bound.
func refSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			if alpha != 0 {
				for p := 0; p < k; p++ {
					var av, bv float32
					if transA {
						av = a[p*lda+i]
					} else {
						av = a[i*lda+p]
					}
					if transB {
						bv = b[j*ldb+p]
					} else {
						bv = b[p*ldb+j]
					}
					s += float64(av) * float64(bv)
					sa += math.Abs(float64(av) * float64(bv))
				}
			}
			w := float64(alpha) * s
			mg := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				mg += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = w
			mag[i*n+j] = mg
		}
	}
	return want, mag
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra leading-dimension padding
	padC           int
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d,%d,%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// runGemmCase runs one case and compares with the reference. It returns an
// error description or "".
func runGemmCase(r *rand.Rand, tc gemmCase) string {
	m, n, k := tc.m, tc.n, tc.k
	aRows, aCols := m, k
	if tc.transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if tc.transB {
		bRows, bCols = n, k
	}
	lda, ldb, ldc := aCols+tc.padA, bCols+tc.padB, n+tc.padC
	a := randSlice(r, max(0, (aRows-1)*lda+aCols))
	b := randSlice(r, max(0, (bRows-1)*ldb+bCols))
	c := randSlice(r, max(0, (m-1)*ldc+n))
	if tc.beta == 0 {
		// beta == 0 must not read C: garbage must not leak through.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want, mag := refSgemm(tc.transA, tc.transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	Sgemm(tc.transA, tc.transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	// float32 accumulation error grows at most ~k·eps relative to Σ|terms|.
	tol := 4 * float64(k+2) * 6e-8
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			got := float64(c[i*ldc+j])
			w := want[i*n+j]
			if math.IsNaN(got) || math.Abs(got-w) > tol*mag[i*n+j]+1e-30 {
				return fmt.Sprintf("C[%d,%d] = %v, want %v (tol %g)", i, j, got, w, tol*mag[i*n+j])
			}
		}
		// Padding columns of C must be untouched.
		for j := n; j < ldc && i*ldc+j < len(c); j++ {
			if math.Float32bits(c[i*ldc+j]) != math.Float32bits(orig[i*ldc+j]) {
				return fmt.Sprintf("C padding [%d,%d] modified", i, j)
			}
		}
	}
	return ""
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	dims := []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33}
	var cases []gemmCase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			// All small shapes, every transpose combination.
			for _, m := range dims {
				for _, n := range dims {
					for _, k := range []int{1, 2, 3, 5, 8, 19} {
						cases = append(cases, gemmCase{transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, beta: 0})
					}
				}
			}
			// alpha/beta variants with padded leading dimensions.
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, 0}, {-2, 0.3}, {1.5, -1}, {0, 0.5}, {0, 0}, {0, 1}} {
				cases = append(cases,
					gemmCase{transA: ta, transB: tb, m: 11, n: 14, k: 37, alpha: ab[0], beta: ab[1], padA: 3, padB: 1, padC: 2},
					gemmCase{transA: ta, transB: tb, m: 1, n: 14, k: 37, alpha: ab[0], beta: ab[1], padA: 2, padB: 5, padC: 1},
					gemmCase{transA: ta, transB: tb, m: 11, n: 1, k: 37, alpha: ab[0], beta: ab[1], padA: 1, padB: 3, padC: 4},
					gemmCase{transA: ta, transB: tb, m: 6, n: 9, k: 0, alpha: ab[0], beta: ab[1], padC: 1},
				)
			}
			// k around the k-block (kcMax = 256) and the micro-kernel unroll.
			for _, k := range []int{4, 6, 7, 255, 256, 257, 300, 511, 513} {
				cases = append(cases, gemmCase{transA: ta, transB: tb, m: 9, n: 10, k: k, alpha: 0.75, beta: 0.5, padA: 1, padB: 2, padC: 3})
			}
			// m and n around the row/column blocks (mcBlk, ncBlk).
			cases = append(cases,
				gemmCase{transA: ta, transB: tb, m: mcBlk + 3, n: 23, k: 40, alpha: 1, beta: 1},
				gemmCase{transA: ta, transB: tb, m: 2*mcBlk + 1, n: 7, k: 9, alpha: 1, beta: 0},
				gemmCase{transA: ta, transB: tb, m: 5, n: ncBlk + 5, k: 17, alpha: 1, beta: 0.25},
				gemmCase{transA: ta, transB: tb, m: 70, n: 200, k: 270, alpha: -1, beta: 2, padA: 1, padB: 1, padC: 1},
			)
			// Vector shapes.
			for _, k := range []int{1, 3, 4, 9, 100} {
				cases = append(cases,
					gemmCase{transA: ta, transB: tb, m: 1, n: 1, k: k, alpha: 1, beta: 0},
					gemmCase{transA: ta, transB: tb, m: 1, n: 50, k: k, alpha: 2, beta: 1},
					gemmCase{transA: ta, transB: tb, m: 50, n: 1, k: k, alpha: 2, beta: 0},
				)
			}
		}
	}
	for _, km := range kernelModes() {
		restore := km.use()
		for _, tc := range cases {
			if msg := runGemmCase(r, tc); msg != "" {
				t.Errorf("%s kernel: %v: %s", km.name, tc, msg)
			}
		}
		restore()
	}
}

// TestSgemmLarge covers problems big enough to be split across goroutines
// natively (and several k/n blocks).
func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	r := rand.New(rand.NewSource(2))
	for _, km := range kernelModes() {
		restore := km.use()
		for _, tc := range []gemmCase{
			{m: 64, n: 1600, k: 300, alpha: 1, beta: 0},
			{transA: true, m: 300, n: 200, k: 130, alpha: 1, beta: 0.5},
			{transB: true, m: 130, n: 290, k: 200, alpha: 0.5, beta: 1},
			{transA: true, transB: true, m: 257, n: 129, k: 260, alpha: 1, beta: 0, padA: 2, padB: 3, padC: 1},
		} {
			if msg := runGemmCase(r, tc); msg != "" {
				t.Errorf("%s kernel: %v: %s", km.name, tc, msg)
			}
		}
		restore()
	}
}

// TestSgemmSumOrder checks that, within one k block (k ≤ kcMax), every
// element of C is the float32 sum of its products taken in order of k, bit
// for bit, for every kernel: the wasm assembly, the plain-Go wasm kernel
// (-tags purego), the plain-Go native ones and the amd64 AVX assembly all
// round each product and each sum and must give the same results (an AVX
// kernel generated with FMA would round each multiply-add once instead, in
// the same order: fused).
func TestSgemmSumOrder(t *testing.T) {
	for _, km := range kernelModes() {
		restore := km.use()
		r := rand.New(rand.NewSource(5))
		for _, sz := range [][3]int{{2, 2, 1}, {7, 11, 5}, {gemmMR * 5, gemmNR * 4, 64}, {gemmMR * 16, gemmNR*5 + 1, 70}, {40, 31, kcMax}, {mcBlk + 2, 17, 99}} {
			m, n, k := sz[0], sz[1], sz[2]
			for _, ab := range [][2]float32{{1, 0}, {-0.75, 0.5}} {
				a, b := randSlice(r, m*k), randSlice(r, k*n)
				c := randSlice(r, m*n)
				want := make([]float32, m*n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var s float32
						for p := 0; p < k; p++ {
							if km.fused {
								s = fma32(a[i*k+p], b[p*n+j], s)
							} else {
								s = float32(s + float32(a[i*k+p]*b[p*n+j]))
							}
						}
						w := float32(ab[0] * s)
						if ab[1] != 0 {
							w = float32(w + float32(ab[1]*c[i*n+j]))
						}
						want[i*n+j] = w
					}
				}
				Sgemm(false, false, m, n, k, ab[0], a, k, b, n, ab[1], c, n)
				for i, w := range want {
					if math.Float32bits(c[i]) != math.Float32bits(w) {
						t.Fatalf("%s kernel: %d×%d×%d alpha %g beta %g: C[%d,%d] = %v, want %v exactly", km.name, m, n, k, ab[0], ab[1], i/n, i%n, c[i], w)
					}
				}
			}
		}
		restore()
	}
}

// fma32 returns x·y + z rounded once to float32 (the product of two
// float32s is exact in float64; the sum is taken exactly in a big.Float).
func fma32(x, y, z float32) float32 {
	s := new(big.Float).SetPrec(512).SetFloat64(float64(x) * float64(y))
	s.Add(s, new(big.Float).SetFloat64(float64(z)))
	f, _ := s.Float32()
	return f
}

// kernelMode is one micro-kernel a build can run: use switches to it and
// returns a function that switches back; fused means it rounds each
// multiply-add once.
type kernelMode struct {
	name  string
	fused bool
	use   func() (restore func())
}

// TestSgemmConcurrent checks that simultaneous calls don't share buffers.
func TestSgemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(10 + g)))
			for i := 0; i < 10; i++ {
				tc := gemmCase{transA: i%2 == 0, transB: i%3 == 0, m: 20 + g + i, n: 30 + 3*i, k: 50 + g, alpha: 1, beta: 0.5}
				if msg := runGemmCase(r, tc); msg != "" {
					errs <- fmt.Sprintf("%v: %s", tc, msg)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSgemmPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	mustPanic("short A", func() { Sgemm(false, false, 3, 4, 5, 1, a, 5, b, 4, 0, c, 4) })
	mustPanic("small lda", func() { Sgemm(false, false, 3, 4, 3, 1, a, 2, b, 4, 0, c, 4) })
	mustPanic("short C", func() { Sgemm(false, false, 4, 4, 1, 1, a, 1, b, 4, 0, c, 4) })
	mustPanic("negative", func() { Sgemm(false, false, -1, 4, 1, 1, a, 1, b, 4, 0, c, 4) })
	// m or n == 0 touches nothing.
	Sgemm(false, false, 0, 4, 3, 1, nil, 3, nil, 4, 0, nil, 4)
}

// reportGFLOPs reports the wall-clock GFLOP/s and, where the process CPU
// time is available, "cpu-GFLOP/s": flops per CPU-second summed over all
// threads. The latter is far less sensitive to other load on a shared
// machine (for a multi-threaded native run it is a per-core figure).
func reportGFLOPs(b *testing.B, flops, cpu0 float64) {
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu0 >= 0 {
		if d := processCPUSeconds() - cpu0; d > 0 {
			b.ReportMetric(flops/d/1e9, "cpu-GFLOP/s")
		}
	}
}

// resnetShapes are ResNet-18's 3×3 convolutions as im2col GEMMs: A = weights
// (Cout×Cin·9), B = im2col matrix (Cin·9×H·W), C = output (Cout×H·W).
var resnetShapes = [][3]int{
	{64, 3136, 576},
	{128, 784, 1152},
	{256, 196, 2304},
	{512, 49, 4608},
}

// BenchmarkSgemm reports GFLOP/s for the forward convolution GEMMs (NN),
// the input gradient dX = Wᵀ·dY (TN) and the weight gradient
// dW = dY·colᵀ (NT) of each ResNet-18 shape.
func BenchmarkSgemm(b *testing.B) {
	type bc struct {
		name           string
		transA, transB bool
		m, n, k        int
	}
	var cases []bc
	for _, s := range resnetShapes {
		co, hw, ck := s[0], s[1], s[2]
		cases = append(cases,
			bc{fmt.Sprintf("NN_%dx%dx%d", co, hw, ck), false, false, co, hw, ck},
			bc{fmt.Sprintf("TN_%dx%dx%d", ck, hw, co), true, false, ck, hw, co},
			bc{fmt.Sprintf("NT_%dx%dx%d", co, ck, hw), false, true, co, ck, hw},
		)
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(3))
			m, n, k := tc.m, tc.n, tc.k
			lda, ldb := k, n
			if tc.transA {
				lda = m
			}
			if tc.transB {
				ldb = k
			}
			a, bm, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
			Sgemm(tc.transA, tc.transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
			b.ResetTimer()
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				Sgemm(tc.transA, tc.transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
			}
			reportGFLOPs(b, 2*float64(m)*float64(n)*float64(k)*float64(b.N), cpu0)
		})
	}
}

// BenchmarkMicroKernel measures the micro-kernel alone (fullTiles: no
// packing, no edge tiles, no blocking): a 64-row packed A block swept over 64 packed B
// micro-panels with a k block of 192, the shape the ResNet-18 GEMMs run.
// Comparing it with BenchmarkSgemm separates kernel speed from driver cost.
func BenchmarkMicroKernel(b *testing.B) {
	const kc, npanA, npanB = 192, 64 / gemmMR, 64
	r := rand.New(rand.NewSource(4))
	ap := make([]aRow, npanA*kc+kcMax+panelPad)
	bp := make([]bRow, npanB*kc+kcMax+panelPad)
	for i := range ap {
		for j := range ap[i] {
			ap[i][j] = r.Float32()
		}
	}
	for i := range bp {
		for j := range bp[i] {
			bp[i][j] = r.Float32()
		}
	}
	ldc := npanB * gemmNR
	c := make([]float32, npanA*gemmMR*ldc)
	sweep := func() { fullTiles(kc, npanA, npanB, ap, bp, c, ldc, 1, 0) }
	for _, km := range kernelModes() {
		b.Run(km.name, func(b *testing.B) {
			defer km.use()()
			// Warm up: under V8 the kernel starts in the baseline compiler
			// (Liftoff) and is only replaced by optimised code after it has
			// run for a while.
			for i := 0; i < 50; i++ {
				sweep()
			}
			b.ResetTimer()
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				sweep()
			}
			reportGFLOPs(b, 2*float64(kc*gemmMR*gemmNR*npanA*npanB)*float64(b.N), cpu0)
		})
	}
}

// TestSgemvSkipsZeros: a row vector with zeros (a one-hot seed, a sparse
// gradient, signed zeros) times a matrix gives, bit for bit, the sum over
// every row in order, zeros included; both axpy forms (m == 1 and n == 1
// with op(A) transposed).
func TestSgemvSkipsZeros(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	const k, n = 1000, 67
	w := make([]float32, k*n)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for _, density := range []float64{0.001, 0.3, 1} {
		x := make([]float32, k)
		for p := range x {
			switch r := rng.Float64(); {
			case r < density:
				x[p] = float32(rng.NormFloat64())
			case r < (1+density)/2:
				x[p] = float32(math.Copysign(0, -1))
			}
		}
		want := make([]float32, n)
		for p, xv := range x {
			for j := range want {
				want[j] += xv * w[p*n+j]
			}
		}
		row := make([]float32, n) // m == 1: xᵀ·W
		Sgemm(false, false, 1, n, k, 1, x, k, w, n, 0, row, n)
		col := make([]float32, n) // n == 1: Wᵀ·x with op(A) = Wᵀ
		Sgemm(true, false, n, 1, k, 1, w, n, x, 1, 0, col, 1)
		for j := range want {
			if math.Float32bits(row[j]) != math.Float32bits(want[j]) || math.Float32bits(col[j]) != math.Float32bits(want[j]) {
				t.Fatalf("density %v, column %d: %v and %v, want %v", density, j, row[j], col[j], want[j])
			}
		}
	}
}
