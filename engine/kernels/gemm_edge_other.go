//go:build (!amd64 && !wasm) || purego

package kernels

// edgeKernel sets tmp to the sums of an edge tile (the full block; cols,
// the B panel's valid columns, only matters to the amd64 AVX build).
func edgeKernel(kc int, ap []aRow, bp []bRow, tmp *[gemmMR * gemmNR]float32, cols int) {
	microKernel(kc, ap, bp, tmp[:], gemmNR, 1, 0)
}

// edgeColumns is the amd64 AVX build's column kernel for narrow edge
// tiles; here the tiles compute them.
func edgeColumns(kc, npanA, rows, cols int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) bool {
	return false
}
