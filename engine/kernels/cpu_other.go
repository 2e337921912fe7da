//go:build !amd64 || purego

package kernels

// vectorShortcut reports whether Sgemm computes matrix-vector shapes with
// its scalar loops (sgemv) instead of packing them: always, with the
// plain-Go kernels.
func vectorShortcut() bool { return true }
