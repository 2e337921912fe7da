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

// touchPackedA makes SgemmPacked read each block of a packed A once, a
// value per cache line (touchRows), before multiplying with it. A layer's
// weights are packed once and then read once per pass: in a ResNet-18
// pass about 80 MB of them, far more than the caches hold, so each block
// comes from memory while the first B panel sweeps it. There the
// micro-kernel asks for a new line of A only every five k-steps (about 125
// instructions) and, with no prefetch instruction in wasm, the reorder
// buffer holds only a few such misses at a time. The touch loop has one
// read per line and nothing to wait on, so many lines are in flight.
// Measured under Node (products of 512×512 packed A matrices and 512×N B,
// cycling through 64 MB of different A matrices; in GMAC/s): N = 16 (a
// Winograd product on a 7×7 plane) 3.3 → 4.0, N = 4 1.8 → 2.9, N = 49
// 4.4 → 4.7; with A in cache 1–3 % slower. In the whole engine, three
// rounds alternating with the build before: ResNet-18 Grad-CAM 249 → 232
// ms, saliency 529 → 509 ms, forward 285 → 272 ms. It only reads, so the
// products keep their bits.
var touchPackedA = true
