package inspect

import "math"

// The picture that activation maximisation optimises is not stored as
// pixels but made from parameters p (C×H×W floats) by three stages:
//
//	picture = sigmoid(colour(basis(p)))   in 0..1, C×H×W
//
//	basis:  identity (pixel parametrisation), or with Fourier the inverse
//	        orthonormal 2-D DCT-II of p scaled per frequency,
//	            z = D_Hᵀ (S ⊙ p) D_W,   S[ky,kx] = 1/max(f, 1/max(H,W)) / 4
//	        where f = √((ky/2H)² + (kx/2W)²) is the basis function's
//	        frequency in cycles per pixel. This is the 1/f spectrum
//	        scaling of Olah et al., "Feature Visualization" (Distill 2017)
//	        and Lucid's fft_image (including its final /4), with a real DCT
//	        instead of a real FFT: it works for any H and W and its
//	        half-sample symmetric extension has no wrap-around seam.
//	colour: with Decorrelate and three channels, each pixel's 3-vector is
//	        multiplied by Lucid's colour-correlation square root divided by
//	        its largest column L2 norm; otherwise the identity.
//	sigmoid squashes into 0..1.
//
// Gradients go back through each stage exactly: sigmoid' = y(1−y), the
// colour matrix transposed, and the basis transposed (S ⊙ D_H g D_Wᵀ; the
// orthonormal DCT's inverse is its transpose).

// colourCorrelationSqrt is the square root of the ImageNet colour
// correlation matrix, as in Lucid (lucid/optvis/param/color.py).
var colourCorrelationSqrt = [9]float64{
	0.26, 0.09, 0.02,
	0.27, 0.00, -0.05,
	0.27, -0.09, 0.03,
}

// fourierDamp is Lucid's final division of the Fourier image by 4.
const fourierDamp = 4

// param holds a parametrisation's constants and scratch buffers.
type param struct {
	c, h, w int
	fourier bool
	decor   bool // c == 3 and Decorrelate

	dctH, dctW []float32 // orthonormal DCT-II matrices, row k = frequency k (N×N)
	scale      []float32 // H×W spectrum scale (Fourier)
	colour     [9]float32

	z   []float32 // C×H×W scratch: the picture before the sigmoid
	tmp []float32 // H×W scratch for the separable DCT
}

func newParam(c, h, w int, fourier, decorrelate bool) *param {
	q := &param{c: c, h: h, w: w, fourier: fourier, decor: decorrelate && c == 3}
	q.z = make([]float32, c*h*w)
	if q.decor {
		var norm float64
		for j := 0; j < 3; j++ {
			var s float64
			for i := 0; i < 3; i++ {
				v := colourCorrelationSqrt[3*i+j]
				s += v * v
			}
			norm = max(norm, math.Sqrt(s))
		}
		for k, v := range colourCorrelationSqrt {
			q.colour[k] = float32(v / norm)
		}
	}
	if fourier {
		q.initDCT()
		q.scale = make([]float32, h*w)
		floor := 1 / float64(max(h, w))
		for ky := 0; ky < h; ky++ {
			for kx := 0; kx < w; kx++ {
				q.scale[ky*w+kx] = float32(1 / max(dctFreq(ky, kx, h, w), floor) / fourierDamp)
			}
		}
	}
	return q
}

// dctFreq is DCT basis function (ky, kx)'s frequency in cycles per pixel.
func dctFreq(ky, kx, h, w int) float64 {
	fy := float64(ky) / float64(2*h)
	fx := float64(kx) / float64(2*w)
	return math.Sqrt(fy*fy + fx*fx)
}

func (q *param) initDCT() {
	if q.dctH != nil {
		return
	}
	q.dctH = dctMatrix(q.h)
	q.dctW = dctMatrix(q.w)
	q.tmp = make([]float32, q.h*q.w)
}

// dctMatrix is the orthonormal DCT-II of size n:
// D[k,i] = α_k cos(π(2i+1)k / 2n), α_0 = √(1/n), α_k = √(2/n).
func dctMatrix(n int) []float32 {
	d := make([]float32, n*n)
	for k := 0; k < n; k++ {
		a := math.Sqrt(2 / float64(n))
		if k == 0 {
			a = math.Sqrt(1 / float64(n))
		}
		for i := 0; i < n; i++ {
			d[k*n+i] = float32(a * math.Cos(math.Pi*float64((2*i+1)*k)/float64(2*n)))
		}
	}
	return d
}

// dct2 is the forward 2-D DCT of one H×W plane: dst = D_H src D_Wᵀ.
func (q *param) dct2(dst, src []float32) {
	h, w, t := q.h, q.w, q.tmp
	// t[y,l] = Σ_x src[y,x] D_W[l,x]
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for l := 0; l < w; l++ {
			t[y*w+l] = dot32(row, q.dctW[l*w:(l+1)*w])
		}
	}
	// dst[k,l] = Σ_y D_H[k,y] t[y,l]
	clear(dst[:h*w])
	for k := 0; k < h; k++ {
		out := dst[k*w : (k+1)*w]
		for y := 0; y < h; y++ {
			axpy32(out, q.dctH[k*h+y], t[y*w:(y+1)*w])
		}
	}
}

// idct2 is the inverse (= transposed) 2-D DCT: dst = D_Hᵀ src D_W.
func (q *param) idct2(dst, src []float32) {
	h, w, t := q.h, q.w, q.tmp
	// t[k,x] = Σ_l src[k,l] D_W[l,x]
	clear(t)
	for k := 0; k < h; k++ {
		out := t[k*w : (k+1)*w]
		for l := 0; l < w; l++ {
			axpy32(out, src[k*w+l], q.dctW[l*w:(l+1)*w])
		}
	}
	// dst[y,x] = Σ_k D_H[k,y] t[k,x]
	clear(dst[:h*w])
	for k := 0; k < h; k++ {
		row := t[k*w : (k+1)*w]
		for y := 0; y < h; y++ {
			axpy32(dst[y*w:(y+1)*w], q.dctH[k*h+y], row)
		}
	}
}

// basis writes z = basis(p), both C×H×W.
func (q *param) basis(z, p []float32) {
	if !q.fourier {
		copy(z, p)
		return
	}
	hw := q.h * q.w
	for c := 0; c < q.c; c++ {
		buf := q.z[c*hw : (c+1)*hw]
		for i, s := range q.scale {
			buf[i] = s * p[c*hw+i]
		}
		q.idct2(z[c*hw:(c+1)*hw], buf)
	}
}

// basisT writes dp = basisᵀ(g), both C×H×W (dp may be g).
func (q *param) basisT(dp, g []float32) {
	if !q.fourier {
		copy(dp, g)
		return
	}
	hw := q.h * q.w
	for c := 0; c < q.c; c++ {
		tmp := q.z[c*hw : (c+1)*hw]
		copy(tmp, g[c*hw:(c+1)*hw])
		out := dp[c*hw : (c+1)*hw]
		q.dct2(out, tmp)
		for i, s := range q.scale {
			out[i] *= s
		}
	}
}

// colourFwd applies the colour matrix in place (C×H×W); colourT its
// transpose.
func (q *param) colourFwd(x []float32) { q.mix(x, false) }
func (q *param) colourT(x []float32)   { q.mix(x, true) }

func (q *param) mix(x []float32, transpose bool) {
	if !q.decor {
		return
	}
	m := q.colour
	if transpose {
		m = [9]float32{m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}
	}
	hw := q.h * q.w
	r, g, b := x[:hw], x[hw:2*hw], x[2*hw:3*hw]
	for i := range r {
		v0, v1, v2 := r[i], g[i], b[i]
		r[i] = m[0]*v0 + m[1]*v1 + m[2]*v2
		g[i] = m[3]*v0 + m[4]*v1 + m[5]*v2
		b[i] = m[6]*v0 + m[7]*v1 + m[8]*v2
	}
}

// picture writes pic = sigmoid(colour(basis(p))).
func (q *param) picture(pic, p []float32) {
	q.basis(pic, p)
	q.colourFwd(pic)
	for i, v := range pic {
		pic[i] = sigmoid32(v)
	}
}

// backward writes dp = ∂/∂p of Σ dpic·picture(p), given pic = picture(p).
// dp may be dpic.
func (q *param) backward(dp, dpic, pic []float32) {
	for i, y := range pic {
		dp[i] = dpic[i] * y * (1 - y)
	}
	q.colourT(dp)
	q.basisT(dp, dp)
}

// blur smooths the picture before the sigmoid with a Gaussian of σ pixels
// (mirrored edges) by changing p: in the DCT domain a Gaussian blur under
// half-sample symmetric extension is the product with its transfer
// function exp(−2π²σ²f²), so Fourier coefficients are multiplied by it and
// pixels go through a DCT, the product and the inverse DCT. The colour
// matrix acts per pixel, so blurring p blurs colour(basis(p)) the same way.
func (q *param) blur(p []float32, sigma float64, gain []float32) {
	hw := q.h * q.w
	if q.fourier {
		for c := 0; c < q.c; c++ {
			pc := p[c*hw : (c+1)*hw]
			for i, g := range gain {
				pc[i] *= g
			}
		}
		return
	}
	q.initDCT()
	for c := 0; c < q.c; c++ {
		pc := p[c*hw : (c+1)*hw]
		buf := q.z[c*hw : (c+1)*hw]
		q.dct2(buf, pc)
		for i, g := range gain {
			buf[i] *= g
		}
		q.idct2(pc, buf)
	}
}

// blurGain is the Gaussian's DCT-domain transfer function, H×W.
func blurGain(h, w int, sigma float64) []float32 {
	g := make([]float32, h*w)
	for ky := 0; ky < h; ky++ {
		for kx := 0; kx < w; kx++ {
			f := dctFreq(ky, kx, h, w)
			g[ky*w+kx] = float32(math.Exp(-2 * math.Pi * math.Pi * sigma * sigma * f * f))
		}
	}
	return g
}

// initNoise fills p with the starting parameters: Gaussian noise such that
// basis(p) has an expected root mean square of initRMS per value. With
// pixels that is white noise N(0, initRMS²) before the colour matrix and the
// sigmoid; with Fourier it is 1/f ("pink") noise, each coefficient
// N(0, sd²) with sd = initRMS·√(H·W / Σ S²).
func (q *param) initNoise(p []float32, normal func() float64) {
	sd := initRMS
	if q.fourier {
		var ss float64
		for _, s := range q.scale {
			ss += float64(s) * float64(s)
		}
		sd = initRMS * math.Sqrt(float64(q.h*q.w)/ss)
	}
	for i := range p {
		p[i] = float32(sd * normal())
	}
}

// initRMS is the starting noise's size before the colour matrix and the
// sigmoid: sigmoid(±0.5) spans about 0.38..0.62.
const initRMS = 0.5

func sigmoid32(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }

func dot32(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy32: y += a·x.
func axpy32(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
