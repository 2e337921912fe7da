//go:build !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// kernelModes lists the micro-kernels this build can run: the plain-Go
// twin always, and the AVX assembly when the CPU has it.
func kernelModes() []kernelMode {
	set := func(avx, avx512 bool) func() func() {
		return func() func() {
			old, old512 := useAVX, useAVX512
			useAVX, useAVX512 = avx, avx512
			return func() { useAVX, useAVX512 = old, old512 }
		}
	}
	modes := []kernelMode{{name: "go", use: set(false, false)}}
	if cpuAVX() && (!kernelFMA || cpuFMA()) {
		modes = append(modes, kernelMode{name: "avx", fused: kernelFMA, use: set(true, false)})
		if cpuAVX512() {
			modes = append(modes, kernelMode{name: "avx512", fused: kernelFMA, use: set(true, true)})
		}
	}
	return modes
}

// TestAVXKernelMatchesGo compares the AVX assembly with its plain-Go twin
// and with a float64 reference over many shapes: edge tiles in m and n, k
// around the unroll and the k block, every transpose, alpha and beta cases
// (beta ±0 must not read C), padded leading dimensions. Both must be within
// the float32 error bound of the reference. Without FMA the two round
// alike and must agree bit for bit; with FMA (kernelFMA) they differ in
// the last bits and must be within the bound of each other.
func TestAVXKernelMatchesGo(t *testing.T) {
	if !cpuAVX() || kernelFMA && !cpuFMA() {
		t.Skip("the CPU cannot run the assembly kernel: only the plain-Go one runs (TestSgemm covers it)")
	}
	r := rand.New(rand.NewSource(7))
	var cases []gemmCase
	dims := []int{2, 5, gemmMR, gemmMR + 1, 2*gemmMR - 1, gemmNR - 1, gemmNR, gemmNR + 3, 3*gemmNR + 1, 49}
	ks := []int{1, 2, 3, 4, 5, 7, 9, 31, 64, 127, 255, 256, 257, 577}
	ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.25}, {2, -1}, {1, float32(math.Copysign(0, -1))}}
	i := 0
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range ks {
				i++
				cases = append(cases, gemmCase{
					transA: i%2 == 1, transB: i%3 == 1, m: m, n: n, k: k,
					alpha: ab[i%len(ab)][0], beta: ab[i%len(ab)][1],
					padA: i % 3, padB: i % 5, padC: i % 2,
				})
			}
		}
	}
	cases = append(cases,
		gemmCase{m: mcBlk + gemmMR + 1, n: ncBlk + gemmNR + 1, k: 300, alpha: 1, beta: 0.5},
		gemmCase{transA: true, transB: true, m: 200, n: 100, k: 513, alpha: -1, beta: 0},
	)
	worst := 0.0
	modes := kernelModes() // the plain-Go twin first, then AVX (and AVX-512)
	for _, tc := range cases {
		got := make([][]float32, len(modes))
		var want, mag []float64
		seed := r.Int63() // every run gets the same inputs
		for mi, km := range modes {
			restore := km.use()
			c, w, mg, msg := runGemmCaseC(rand.New(rand.NewSource(seed)), tc)
			restore()
			if msg != "" {
				t.Errorf("%s kernel: %v: %s", km.name, tc, msg)
			}
			got[mi], want, mag = c, w, mg
		}
		tol := 4 * float64(tc.k+2) * 6e-8
		ldc := tc.n + tc.padC
		for mi := 1; mi < len(modes); mi++ {
			for i := 0; i < tc.m; i++ {
				for j := 0; j < tc.n; j++ {
					g, a := float64(got[0][i*ldc+j]), float64(got[mi][i*ldc+j])
					if !kernelFMA && math.Float32bits(got[0][i*ldc+j]) != math.Float32bits(got[mi][i*ldc+j]) {
						t.Fatalf("%v: C[%d,%d]: %s assembly %v, Go %v: not the same bits", tc, i, j, modes[mi].name, a, g)
					}
					if d := math.Abs(g - a); d > tol*mag[i*tc.n+j]+1e-30 {
						t.Errorf("%v: C[%d,%d]: %s assembly %v, Go %v (reference %v)", tc, i, j, modes[mi].name, a, g, want[i*tc.n+j])
					} else if mag[i*tc.n+j] > 0 {
						worst = max(worst, d/(tol*mag[i*tc.n+j]))
					}
				}
			}
		}
	}
	t.Logf("%d cases: the largest |assembly − Go| is %.3g of the error bound", len(cases), worst)
}

// runGemmCaseC is runGemmCase returning C and the reference too.
func runGemmCaseC(r *rand.Rand, tc gemmCase) (c []float32, want, mag []float64, msg string) {
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
	a := randSlice(r, (aRows-1)*lda+aCols)
	b := randSlice(r, (bRows-1)*ldb+bCols)
	c = randSlice(r, (m-1)*ldc+n)
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want, mag = refSgemm(tc.transA, tc.transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	Sgemm(tc.transA, tc.transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	tol := 4 * float64(k+2) * 6e-8
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			got, w := float64(c[i*ldc+j]), want[i*n+j]
			if math.IsNaN(got) || math.Abs(got-w) > tol*mag[i*n+j]+1e-30 {
				return c, want, mag, fmt.Sprintf("C[%d,%d] = %v, want %v (tol %g)", i, j, got, w, tol*mag[i*n+j])
			}
		}
	}
	return c, want, mag, ""
}
