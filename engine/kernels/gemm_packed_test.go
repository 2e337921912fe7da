package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestSgemmPacked checks that SgemmPacked gives Sgemm's results bit for bit
// (the same blocks, the same sums) over shapes around the blocks and edge
// tiles, every transpose and alpha/beta case, for every kernel, and that
// n = 1 (no matrix-vector shortcut) is within the float32 bound of the
// float64 reference.
func TestSgemmPacked(t *testing.T) {
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
					name := fmt.Sprintf("%s kernel: transA %v transB %v %d×%d×%d", km.name, transA, transB, m, n, k)
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
