//go:build !wasm

package kernels

import (
	"runtime"
	"sync"
)

// touchPackedA: natively, reading each packed block of A ahead (as the
// wasm build does, gemm_split_wasm.go) gave no steady gain on the same
// products (from 10 % slower to 11 % faster), so it is off.
var touchPackedA = false

// parMinFlops is the smallest problem (2·m·n·k) split across goroutines;
// below it the goroutine start-up and the duplicated packing cost more
// than they save.
const parMinFlops = 1 << 23

// splitWorkers is the number of goroutines sgemmSplit and
// sgemmPackedSplit use for an m×n×k product, and the size of their bands
// (along n when n ≥ m, else along m).
func splitWorkers(m, n, k int) (workers, chunk int) {
	workers = runtime.GOMAXPROCS(0)
	if flops := 2 * float64(m) * float64(n) * float64(k); flops < 2*parMinFlops {
		workers = 1
	} else if f := flops / parMinFlops; f < float64(workers) {
		workers = int(f)
	}
	dim, mult := m, gemmMR
	if n >= m {
		dim, mult = n, gemmNR
	}
	workers = min(workers, (dim+mult-1)/mult)
	if workers < 2 {
		return 1, dim
	}
	chunk = (dim + workers - 1) / workers
	return workers, (chunk + mult - 1) / mult * mult
}

// sgemmSplit runs the packed GEMM, natively splitting large problems into
// independent bands of C (along the larger of m and n) computed by separate
// goroutines, each with its own pack buffers.
func sgemmSplit(transA bool, m, n, k int, alpha float32, a []float32, lda int, b matB, beta float32, c []float32, ldc int) {
	workers, chunk := splitWorkers(m, n, k)
	if workers < 2 {
		sgemmSerial(transA, m, n, k, alpha, a, lda, b, beta, c, ldc)
		return
	}
	splitN := n >= m
	dim := m
	if splitN {
		dim = n
	}
	var wg sync.WaitGroup
	for lo := 0; lo < dim; lo += chunk {
		sz := min(chunk, dim-lo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if splitN {
				// Columns lo…lo+sz of op(B) and C.
				sgemmSerial(transA, m, sz, k, alpha, a, lda, b.from(lo), beta, c[lo:], ldc)
				return
			}
			// Rows lo…lo+sz of op(A) and C.
			ao := lo * lda // !transA: rows of A
			if transA {
				ao = lo // transA: op(A) rows are columns of A
			}
			sgemmSerial(transA, sz, n, k, alpha, a[ao:], lda, b, beta, c[lo*ldc:], ldc)
		}()
	}
	wg.Wait()
}

// sgemmPackedSplit runs SgemmPacked's GEMM, natively split as sgemmSplit
// splits: into bands of columns (each goroutine packs its own part of
// op(B)) or bands of whole micro-panels of rows (each reads its part of the
// shared packed A and packs all of op(B)).
func sgemmPackedSplit(pa *PackedA, b matB, n int, alpha, beta float32, c []float32, ldc int) {
	m := pa.m
	workers, chunk := splitWorkers(m, n, pa.k)
	if workers < 2 {
		sgemmPackedSerial(pa, 0, m, b, n, alpha, beta, c, ldc)
		return
	}
	splitN := n >= m
	dim := m
	if splitN {
		dim = n
	}
	var wg sync.WaitGroup
	for lo := 0; lo < dim; lo += chunk {
		sz := min(chunk, dim-lo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if splitN {
				sgemmPackedSerial(pa, 0, m, b.from(lo), sz, alpha, beta, c[lo:], ldc)
			} else {
				sgemmPackedSerial(pa, lo, lo+sz, b, n, alpha, beta, c, ldc)
			}
		}()
	}
	wg.Wait()
}
