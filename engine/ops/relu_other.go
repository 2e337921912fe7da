//go:build !wasm

package ops

// relu32 is max(v, 0); natively the builtin is branch-free and faster
// than a comparison (relu_wasm.go has the wasm version).
func relu32(v float32) float32 { return max(v, 0) }
