//go:build (!wasm && !amd64) || purego

package kernels

// fullTiles computes C = alpha·A·B + beta·C on the top-left
// npanA·gemmMR × npanB·gemmNR block of C (row-major, stride ldc) from
// npanA packed A micro-panels and npanB packed B micro-panels of kc ≥ 1
// k-steps each (panel q at ap[q·kc:], bp[q·kc:]), one microKernel call per
// tile. (The wasm assembly build has its own, in gemm_kernel_wasm.go, and so
// has amd64, in gemm_kernel_amd64.go.)
func fullTiles(kc, npanA, npanB int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {
	for jr := 0; jr < npanB; jr++ {
		bpan := bp[jr*kc:]
		for ir := 0; ir < npanA; ir++ {
			microKernel(kc, ap[ir*kc:], bpan, c[ir*gemmMR*ldc+jr*gemmNR:], ldc, alpha, beta)
		}
	}
}
