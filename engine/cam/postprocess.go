package cam

import (
	"math"

	"github.com/cnnlens/cnnlens/engine/imgproc"
)

// MinMax scales a map to 0..1 in place as pytorch-grad-cam's
// scale_cam_image does: (a − min) / (1e-7 + max(a − min)).
func MinMax(a []float32) {
	if len(a) == 0 {
		return
	}
	lo := a[0]
	for _, v := range a {
		if v < lo {
			lo = v
		}
	}
	var hi float32
	for i, v := range a {
		a[i] = v - lo
		if a[i] > hi {
			hi = a[i]
		}
	}
	d := 1e-7 + hi
	for i := range a {
		a[i] /= d
	}
}

// Relu clamps negative values to 0 in place.
func Relu(a []float32) {
	for i, v := range a {
		if v < 0 {
			a[i] = 0
		}
	}
}

// Finish turns one raw map (h×w, before ReLU) into a displayable map (H×W,
// 0..1) the way pytorch-grad-cam does for one layer:
// minmax(resize(minmax(relu(raw)))), with bilinear half-pixel resizing.
// The raw map is not modified.
func Finish(raw []float32, h, w, H, W int) []float32 {
	out := make([]float32, H*W)
	finishInto(out, raw, h, w, H, W)
	return out
}

// finishInto is Finish writing into out (H·W values).
func finishInto(out, raw []float32, h, w, H, W int) {
	a := append([]float32(nil), raw...)
	Relu(a)
	MinMax(a)
	imgproc.ResizeBilinear(a, h, w, out, H, W, false)
}

// positiveMinMax replaces each value by its positive part (v > 0 ? v :
// +0, so NaN and −0 become +0) and then scales them as MinMax does, in two
// passes instead of four and without branches in wasm (where each is a
// jump through the function's dispatch table). Positive parts are +0,
// positive or +Inf, and such floats order as their bits do: their minimum
// and maximum are integer ones. MinMax's max(a − min) is then
// fl(max(a) − min), as rounding is monotone, or 0 where that is NaN (every
// value +Inf); the values are scaled by the same expressions as MinMax's,
// so they are the same.
func positiveMinMax(a []float32) {
	if len(a) == 0 {
		return
	}
	lo, hi := uint32(math.MaxUint32), uint32(0)
	for i, v := range a {
		// The bits of +0 up to +Inf are 0 … 0x7f800000; NaN's and negative
		// values' are above: clamped to 0x7f800001, then masked to 0.
		u := min(math.Float32bits(v), 0x7f800001)
		u &= uint32(int32(u-0x7f800001) >> 31)
		a[i] = math.Float32frombits(u)
		lo, hi = min(lo, u), max(hi, u)
	}
	flo := math.Float32frombits(lo)
	top := math.Float32frombits(hi) - flo
	if !(top > 0) {
		top = 0
	}
	d := 1e-7 + top
	for i, v := range a {
		a[i] = (v - flo) / d
	}
}

// Project2D is pytorch-grad-cam's get_2d_projection for one image: the
// (h·w)×C matrix of a C×h×w stack, centred per channel, projected onto its
// first right-singular vector. The result is h×w.
//
// The SVD's sign is arbitrary; cnnlens fixes it so that the projection
// correlates positively with the channel-summed stack (the map points where
// the stack is large rather than where it is small). Values compared with
// pytorch-grad-cam therefore agree up to sign.
func Project2D(stack []float32, c, h, w int) []float32 {
	n := h * w
	if n == 0 || c == 0 {
		return make([]float32, n)
	}
	// m: the centred (h·w)×C matrix, row-major.
	m := make([]float64, n*c)
	for ch := 0; ch < c; ch++ {
		var mean float64
		for i := 0; i < n; i++ {
			if v := float64(stack[ch*n+i]); !math.IsNaN(v) {
				mean += v
			}
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			v := float64(stack[ch*n+i])
			if math.IsNaN(v) {
				v = 0
			}
			m[i*c+ch] = v - mean
		}
	}
	// The projection onto the first right-singular vector v of m is m·v =
	// σ·u. Both come from the smaller Gram matrix: with C ≤ h·w, v is the
	// top eigenvector of mᵀm; otherwise u is that of m·mᵀ and σ² its
	// eigenvalue.
	proj := make([]float64, n)
	if c <= n {
		g := make([]float64, c*c)
		for i := 0; i < n; i++ {
			row := m[i*c : (i+1)*c]
			for a, x := range row {
				if x == 0 {
					continue
				}
				ga := g[a*c : (a+1)*c]
				for b := a; b < c; b++ {
					ga[b] += x * row[b]
				}
			}
		}
		for a := 0; a < c; a++ {
			for b := 0; b < a; b++ {
				g[a*c+b] = g[b*c+a]
			}
		}
		_, v, ok := topEigen(g, c)
		if !ok {
			return make([]float32, n)
		}
		for i := 0; i < n; i++ {
			var s float64
			for ch, x := range m[i*c : (i+1)*c] {
				s += x * v[ch]
			}
			proj[i] = s
		}
	} else {
		g := gramRows(m, n, c)
		lambda, u, ok := topEigen(g, n)
		if !ok {
			return make([]float32, n)
		}
		sigma := math.Sqrt(math.Max(lambda, 0))
		for i := range proj {
			proj[i] = sigma * u[i]
		}
	}
	return orient(proj, stack, c, n)
}

// orient returns a projection of a C×n stack as float32, its sign chosen so
// that it correlates positively with the channel-summed stack.
func orient(proj []float64, stack []float32, c, n int) []float32 {
	var corr float64
	for i := 0; i < n; i++ {
		var sum float64
		for ch := 0; ch < c; ch++ {
			sum += float64(stack[ch*n+i])
		}
		corr += proj[i] * sum
	}
	sign := 1.0
	if corr < 0 {
		sign = -1
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(sign * proj[i])
	}
	return out
}

// gramRows is the n×n matrix of the dot products of an n×c matrix's rows
// (row-major), each summed by dotInOrder's order. Four products are taken
// at once, from one pass over row i: the same sums, with a quarter of the
// loads of row i and of the loop's jumps.
func gramRows(m []float64, n, c int) []float64 {
	g := make([]float64, n*n)
	for i := 0; i < n; i++ {
		ri := m[i*c : (i+1)*c]
		j := i
		for ; j+4 <= n; j += 4 {
			s0, s1, s2, s3 := dots4(ri, m[j*c:(j+1)*c], m[(j+1)*c:(j+2)*c], m[(j+2)*c:(j+3)*c], m[(j+3)*c:(j+4)*c])
			for k, s := range [4]float64{s0, s1, s2, s3} {
				g[i*n+j+k], g[(j+k)*n+i] = s, s
			}
		}
		for ; j < n; j++ {
			s := dotInOrder(ri, m[j*c:(j+1)*c])
			g[i*n+j], g[j*n+i] = s, s
		}
	}
	return g
}

// dots4 is dotInOrder(x, y0) … dotInOrder(x, y3), each summed from index 0
// up, one term at a time; the y have x's length.
//
//go:noinline
func dots4(x, y0, y1, y2, y3 []float64) (s0, s1, s2, s3 float64) {
	n := len(x)
	y0, y1, y2, y3 = y0[:n], y1[:n], y2[:n], y3[:n]
	for i, v := range x {
		s0 += v * y0[i]
		s1 += v * y1[i]
		s2 += v * y2[i]
		s3 += v * y3[i]
	}
	return s0, s1, s2, s3
}

// dotInOrder is Σ x[i]·y[i] summed from i = 0 up, one term at a time, four
// terms an iteration (in wasm every loop iteration is a jump through the
// function's dispatch table); len(y) ≥ len(x).
func dotInOrder(x, y []float64) float64 {
	y = y[:len(x)]
	var s float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		s += xs[0] * ys[0]
		s += xs[1] * ys[1]
		s += xs[2] * ys[2]
		s += xs[3] * ys[3]
	}
	for ; i < len(x); i++ {
		s += x[i] * y[i]
	}
	return s
}
