//go:build !wasm

package kernels

import (
	"runtime"
	"sync"
)

// parMinFlops is the smallest problem (2·m·n·k) split across goroutines;
// below it the goroutine start-up and the duplicated packing cost more
// than they save.
const parMinFlops = 1 << 23

// sgemmSplit runs the packed GEMM, natively splitting large problems into
// independent bands of C (along the larger of m and n) computed by separate
// goroutines, each with its own pack buffers.
func sgemmSplit(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := runtime.GOMAXPROCS(0)
	if flops := 2 * float64(m) * float64(n) * float64(k); flops < 2*parMinFlops {
		workers = 1
	} else if f := flops / parMinFlops; f < float64(workers) {
		workers = int(f)
	}
	splitN := n >= m
	dim, mult := m, gemmMR
	if splitN {
		dim, mult = n, gemmNR
	}
	workers = min(workers, (dim+mult-1)/mult)
	if workers < 2 {
		sgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	chunk := (dim + workers - 1) / workers
	chunk = (chunk + mult - 1) / mult * mult
	var wg sync.WaitGroup
	for lo := 0; lo < dim; lo += chunk {
		sz := min(chunk, dim-lo)
		wg.Add(1)
		if splitN {
			// Columns lo…lo+sz of op(B) and C.
			bo := lo // !transB: column offset within a row of B
			if transB {
				bo = lo * ldb // transB: op(B) columns are rows of B
			}
			go func() {
				defer wg.Done()
				sgemmSerial(transA, transB, m, sz, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
			}()
		} else {
			// Rows lo…lo+sz of op(A) and C.
			ao := lo * lda // !transA: rows of A
			if transA {
				ao = lo // transA: op(A) rows are columns of A
			}
			go func() {
				defer wg.Done()
				sgemmSerial(transA, transB, sz, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			}()
		}
	}
	wg.Wait()
}

// sgemmPackedSplit runs SgemmPacked's GEMM, natively splitting large
// problems into bands of columns of C computed by separate goroutines
// (each packs its own part of op(B) and reads the shared packed A).
func sgemmPackedSplit(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := runtime.GOMAXPROCS(0)
	if flops := 2 * float64(pa.m) * float64(n) * float64(pa.k); flops < 2*parMinFlops {
		workers = 1
	} else if f := flops / parMinFlops; f < float64(workers) {
		workers = int(f)
	}
	workers = min(workers, (n+gemmNR-1)/gemmNR)
	if workers < 2 {
		sgemmPackedSerial(pa, transB, n, alpha, b, ldb, beta, c, ldc)
		return
	}
	chunk := (n + workers - 1) / workers
	chunk = (chunk + gemmNR - 1) / gemmNR * gemmNR
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		sz := min(chunk, n-lo)
		bo := lo // !transB: column offset within a row of B
		if transB {
			bo = lo * ldb // transB: op(B) columns are rows of B
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sgemmPackedSerial(pa, transB, sz, alpha, b[bo:], ldb, beta, c[lo:], ldc)
		}()
	}
	wg.Wait()
}
