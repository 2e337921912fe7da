//go:build !unix && !js

package kernels

// processCPUSeconds is unavailable on this platform.
func processCPUSeconds() float64 { return -1 }
