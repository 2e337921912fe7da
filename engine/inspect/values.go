package inspect

// Small summaries of value planes, shared by the pictures here and the
// page's worker.

// MinMax returns the smallest and largest value (0, 0 for none).
func MinMax(a []float32) (lo, hi float32) {
	if len(a) == 0 {
		return 0, 0
	}
	lo, hi = a[0], a[0]
	for _, v := range a {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// AbsMax returns the largest |value| (0 for none).
func AbsMax(a []float32) float32 {
	var m float32
	for _, v := range a {
		m = max(m, v, -v)
	}
	return m
}

// Normalize maps [lo, hi] to [0, 1] in a new slice; when hi ≤ lo (a
// constant map) every value becomes 0.
func Normalize(a []float32, lo, hi float32) []float32 {
	out := make([]float32, len(a))
	if hi > lo {
		for i, v := range a {
			out[i] = (v - lo) / (hi - lo)
		}
	}
	return out
}

// CountNonzero counts the values that are not zero.
func CountNonzero(a []float32) int {
	n := 0
	for _, v := range a {
		if v != 0 {
			n++
		}
	}
	return n
}
