//go:build wasm

package kernels

// sgemmSplit runs the packed GEMM. wasm is single-threaded, so it never
// splits the work.
func sgemmSplit(transA bool, m, n, k int, alpha float32, a []float32, lda int, b matB, beta float32, c []float32, ldc int) {
	sgemmSerial(transA, m, n, k, alpha, a, lda, b, beta, c, ldc)
}

// splitWorkers is the number of goroutines sgemmSplit uses and the size of
// their bands: one, in wasm.
func splitWorkers(m, n, k int) (workers, chunk int) { return 1, max(m, n) }

// sgemmPackedSplit runs SgemmPacked's GEMM on the one thread.
func sgemmPackedSplit(pa *PackedA, b matB, n int, alpha, beta float32, c []float32, ldc int) {
	sgemmPackedSerial(pa, 0, pa.m, b, n, alpha, beta, c, ldc)
}
