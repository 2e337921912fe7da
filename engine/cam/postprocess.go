package cam

import (
	"math"

	"gonum.org/v1/gonum/mat"

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
	a := append([]float32(nil), raw...)
	Relu(a)
	MinMax(a)
	out := make([]float32, H*W)
	imgproc.ResizeBilinear(a, h, w, out, H, W, false)
	return out
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
	m := mat.NewDense(n, c, nil)
	for ch := 0; ch < c; ch++ {
		var mean float64
		for i := 0; i < n; i++ {
			v := float64(stack[ch*n+i])
			if math.IsNaN(v) {
				v = 0
			}
			mean += v
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			v := float64(stack[ch*n+i])
			if math.IsNaN(v) {
				v = 0
			}
			m.Set(i, ch, v-mean)
		}
	}
	out := make([]float32, n)
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThinV) {
		return out
	}
	var v mat.Dense
	svd.VTo(&v)
	proj := make([]float64, n)
	var corr float64
	for i := 0; i < n; i++ {
		var s, sum float64
		for ch := 0; ch < c; ch++ {
			s += m.At(i, ch) * v.At(ch, 0)
			sum += float64(stack[ch*n+i])
		}
		proj[i] = s
		corr += s * sum
	}
	sign := 1.0
	if corr < 0 {
		sign = -1
	}
	for i := range out {
		out[i] = float32(sign * proj[i])
	}
	return out
}
