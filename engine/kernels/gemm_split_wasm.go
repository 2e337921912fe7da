//go:build wasm

package kernels

// sgemmSplit runs the packed GEMM. wasm is single-threaded, so it never
// splits the work.
func sgemmSplit(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmPackedSplit runs SgemmPacked's GEMM on the one thread.
func sgemmPackedSplit(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPackedSerial(pa, transB, n, alpha, b, ldb, beta, c, ldc)
}
