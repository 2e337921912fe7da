package kernels

import "testing"

// TestWarmUp: the warm-up's convolution is a real one, its outputs the
// direct sums over the kernel's taps (small integers and quarters, so
// every sum is exact whatever the order).
func TestWarmUp(t *testing.T) {
	const m, hw = 48, 32
	c := warmConv()
	if len(c) != m*hw*hw {
		t.Fatalf("%d outputs, want %d", len(c), m*hw*hw)
	}
	for f := 0; f < m; f++ {
		for y := 0; y < hw; y++ {
			for x := 0; x < hw; x++ {
				var want float32
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						iy, ix := y+ky-1, x+kx-1
						if iy < 0 || iy >= hw || ix < 0 || ix >= hw {
							continue
						}
						want += (float32((f*9+ky*3+kx)%7) - 3) * float32((iy*hw+ix)%5) * 0.25
					}
				}
				if got := c[(f*hw+y)*hw+x]; got != want {
					t.Fatalf("filter %d at (%d,%d): %v, want %v", f, y, x, got, want)
				}
			}
		}
	}
}
