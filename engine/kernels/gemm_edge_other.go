//go:build (!amd64 && !wasm) || purego

package kernels

// edgeKernel sets tmp to the sums of an edge tile (the full block; rows and cols,
// the valid rows and columns, only matter to the wasm and amd64 AVX builds).
func edgeKernel(kc int, ap []aRow, bp []bRow, tmp *[gemmMR * gemmNR]float32, rows, cols int) {
	microKernel(kc, ap, bp, tmp[:], gemmNR, 1, 0)
}

// edgeColumns is the amd64 AVX build's column kernel for narrow edge
// tiles; here the tiles compute them.
func edgeColumns(kc, npanA, rows, cols int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) bool {
	return false
}
