package kernels

// WarmUp runs the GEMM's kernels on a small convolution (warmConv): the
// same packing and tile loops as a model's convolutions, edge tiles
// included, about 0.4 M multiply-adds.
//
// V8 first runs a wasm function as quickly compiled code (Liftoff) and
// replaces it with optimised code, compiled on another thread, only after
// it has run a while. Run once while the page's engine waits for its first
// input, this has the kernels optimised before that input's forward pass
// instead of during it (docs/performance.md). Natively it only costs the
// multiply-adds.
func WarmUp() { warmConv() }

// warmConv is a 3×3 convolution of a 32×32 image with 48 filters (padding
// 1), by the packed GEMM; it returns the 48×32×32 output.
func warmConv() []float32 {
	const m, hw = 48, 32
	g := ConvGeom{C: 1, H: hw, W: hw, KH: 3, KW: 3, PadT: 1, PadL: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: hw, OutW: hw}
	a := make([]float32, m*9)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	x := make([]float32, hw*hw)
	for i := range x {
		x[i] = float32(i%5) * 0.25
	}
	c := make([]float32, m*hw*hw)
	SgemmPackedConv(PackA(false, m, 9, a, 9), g, x, 1, 0, c, hw*hw)
	return c
}
