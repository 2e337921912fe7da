//go:build wasm

package ops

import "math"

// relu32 is max(v, 0) with the same results (NaN stays NaN, −0 becomes +0).
// Go's wasm code calls a runtime function for each float max (ReLU was 4×
// slower), and branches on a float (a jump through the function's dispatch
// table, mispredicted on random signs: twice as slow again), so it chooses
// between the bits, which the compiler turns into a wasm select.
func relu32(v float32) float32 {
	r := math.Float32bits(v)
	if v <= 0 {
		r = 0
	}
	return math.Float32frombits(r)
}
