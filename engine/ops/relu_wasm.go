//go:build wasm

package ops

// relu32 is max(v, 0) by comparison, with the same results (NaN stays NaN,
// −0 becomes +0): Go's wasm code calls a runtime function for each float
// max, which made ReLU 4× slower (20 → 5 ms per million values under Node).
func relu32(v float32) float32 {
	if v <= 0 {
		return 0
	}
	return v
}
