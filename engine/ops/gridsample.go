package ops

// GridSample(X, grid): samples X (N×C×H×W) at the points of grid
// (N×Ho×Wo×2, x then y, in [−1, 1]) as the ONNX reference does: modes
// bilinear, nearest and bicubic (linear and cubic at opset 20), padding
// zeros, border or reflection, align_corners. A point (x, y) is mapped to
// pixels, u = ((x+1)·W − 1)/2 (or (x+1)/2·(W−1) with align_corners),
// moved inside the image by border (clamp) or reflection when it lies
// outside, and read through the mode's taps: for each axis a few pixels i
// with weights k(u − i) (bilinear: 1 − |d|; bicubic: Keys' kernel, a =
// −0.75; nearest: the pixel at round-half-even u). A tap outside the image
// reads 0 (zeros), the nearest edge (border) or its mirror (reflection).
//
// The backward gives ∂L/∂X (the taps' weights, scattered) and ∂L/∂grid
// (the weights' derivatives, times the pixel values and du/dx).

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("GridSample", func(a Attrs, _ int) (Op, error) {
		g := &gridSampleOp{mode: a.String("mode", "bilinear"), padding: a.String("padding_mode", "zeros"), align: a.Int("align_corners", 0) != 0}
		switch g.mode {
		case "linear":
			g.mode = "bilinear"
		case "cubic":
			g.mode = "bicubic"
		case "bilinear", "nearest", "bicubic":
		default:
			return nil, fmt.Errorf("GridSample: unknown mode %q", g.mode)
		}
		switch g.padding {
		case "zeros", "border", "reflection":
		default:
			return nil, fmt.Errorf("GridSample: unknown padding_mode %q", g.padding)
		}
		return g, nil
	})
}

type gridSampleOp struct {
	mode, padding string
	align         bool
}

func (*gridSampleOp) Type() string { return "GridSample" }

// gsTap is one pixel an output point reads along one axis.
type gsTap struct {
	i     int     // pixel index, already moved inside for border/reflection; −1: reads 0
	w, dw float64 // weight, and its derivative with respect to the grid coordinate
}

// reflect mirrors u into [lo, hi]; the sign is du'/du.
func gsReflect(u, lo, hi float64) (float64, float64) {
	r := hi - lo
	if r <= 0 {
		return lo, 0
	}
	switch {
	case u < lo:
		d := lo - u
		n := math.Floor(d / r)
		rem := d - n*r
		if int(n)%2 == 0 {
			return lo + rem, -1
		}
		return hi - rem, 1
	case u > hi:
		d := u - hi
		n := math.Floor(d / r)
		rem := d - n*r
		if int(n)%2 == 0 {
			return hi - rem, -1
		}
		return lo + rem, 1
	}
	return u, 1
}

// taps places one grid coordinate x on an axis of n pixels.
func (g *gridSampleOp) taps(x float64, n int, buf []gsTap) []gsTap {
	buf = buf[:0]
	var u, du float64
	if g.align {
		u, du = (x+1)/2*float64(n-1), float64(n-1)/2
	} else {
		u, du = ((x+1)*float64(n)-1)/2, float64(n)/2
	}
	if g.mode == "nearest" {
		u = math.RoundToEven(u)
	}
	lo, hi := -0.5, float64(n)-0.5
	if g.align {
		lo, hi = 0, float64(n-1)
	}
	if u < lo || u > hi {
		switch g.padding {
		case "border":
			u, du = math.Max(0, math.Min(float64(n-1), u)), 0
		case "reflection":
			var s float64
			u, s = gsReflect(u, lo, hi)
			du *= s
		}
	}
	pixel := func(i int) int {
		if i >= 0 && i < n {
			return i
		}
		switch g.padding {
		case "border":
			return max(0, min(n-1, i))
		case "reflection":
			r, _ := gsReflect(float64(i), lo, hi)
			return max(0, min(n-1, int(r)))
		}
		return -1
	}
	if g.mode == "nearest" {
		return append(buf, gsTap{i: pixel(int(u)), w: 1})
	}
	base := math.Floor(u)
	t := u - base
	j0, j1 := 0, 1
	if g.mode == "bicubic" {
		j0, j1 = -1, 2
	}
	for j := j0; j <= j1; j++ {
		d := t - float64(j)
		w, dw := gsKernel(g.mode, d)
		buf = append(buf, gsTap{i: pixel(int(base) + j), w: w, dw: dw * du})
	}
	return buf
}

// gsKernel is the interpolation kernel at distance d and its derivative.
func gsKernel(mode string, d float64) (float64, float64) {
	s, a := 1.0, math.Abs(d)
	if d < 0 {
		s = -1
	}
	if mode == "bilinear" {
		if a >= 1 {
			return 0, 0
		}
		return 1 - a, -s
	}
	const A = -0.75
	switch {
	case a <= 1:
		return ((A+2)*a-(A+3))*a*a + 1, s * (3*(A+2)*a*a - 2*(A+3)*a)
	case a < 2:
		return ((A*a-5*A)*a+8*A)*a - 4*A, s * (3*A*a*a - 10*A*a + 8*A)
	}
	return 0, 0
}

func (g *gridSampleOp) dims(in []*tensor.T) (n, c, h, w, ho, wo int, err error) {
	if err := wantInputs("GridSample", in, 2, 2); err != nil {
		return 0, 0, 0, 0, 0, 0, err
	}
	xs, gs := in[0].Shape(), in[1].Shape()
	if in[0].DType() != tensor.Float32 || in[1].DType() != tensor.Float32 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("GridSample supports float32 only")
	}
	if len(xs) != 4 || len(gs) != 4 || gs[0] != xs[0] || gs[3] != 2 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("GridSample: X %v and grid %v must be N×C×H×W and N×Ho×Wo×2", xs, gs)
	}
	return xs[0], xs[1], xs[2], xs[3], gs[1], gs[2], nil
}

// each calls fn for every output point with its taps along y and x.
func (g *gridSampleOp) each(grid []float32, n, h, w, ho, wo int, fn func(b, p int, ty, tx []gsTap)) {
	var by, bx []gsTap
	for b := 0; b < n; b++ {
		for p := 0; p < ho*wo; p++ {
			gx, gy := float64(grid[(b*ho*wo+p)*2]), float64(grid[(b*ho*wo+p)*2+1])
			by, bx = g.taps(gy, h, by), g.taps(gx, w, bx)
			fn(b, p, by, bx)
		}
	}
}

func (g *gridSampleOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	n, c, h, w, ho, wo, err := g.dims(in)
	if err != nil {
		return nil, err
	}
	if err := checkOutSize("GridSample", []int{n, c, ho, wo}); err != nil {
		return nil, err
	}
	x := in[0].F32()
	y := make([]float32, n*c*ho*wo)
	g.each(in[1].F32(), n, h, w, ho, wo, func(b, p int, ty, tx []gsTap) {
		for ch := 0; ch < c; ch++ {
			img := x[(b*c+ch)*h*w : (b*c+ch+1)*h*w]
			var s float64
			for _, a := range ty {
				if a.i < 0 || a.w == 0 {
					continue
				}
				for _, e := range tx {
					if e.i >= 0 {
						s += a.w * e.w * float64(img[a.i*w+e.i])
					}
				}
			}
			y[(b*c+ch)*ho*wo+p] = float32(s)
		}
	})
	return []*tensor.T{tensor.FromF32(y, n, c, ho, wo)}, nil
}

func (g *gridSampleOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	n, c, h, w, ho, wo, err := g.dims(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	x, gy := in[0].F32(), gradOut[0].F32()
	var gx, gg []float32
	if needGrad(need, 0) {
		gx = make([]float32, len(x))
	}
	if needGrad(need, 1) {
		gg = make([]float32, in[1].Len())
	}
	g.each(in[1].F32(), n, h, w, ho, wo, func(b, p int, ty, tx []gsTap) {
		var dx, dy float64
		for ch := 0; ch < c; ch++ {
			gv := float64(gy[(b*c+ch)*ho*wo+p])
			if gv == 0 {
				continue
			}
			off := (b*c + ch) * h * w
			for _, a := range ty {
				if a.i < 0 {
					continue
				}
				for _, e := range tx {
					if e.i < 0 {
						continue
					}
					k := off + a.i*w + e.i
					if gx != nil {
						gx[k] += float32(gv * a.w * e.w)
					}
					v := gv * float64(x[k])
					dx += v * a.w * e.dw
					dy += v * a.dw * e.w
				}
			}
		}
		if gg != nil {
			gg[(b*ho*wo+p)*2] += float32(dx)
			gg[(b*ho*wo+p)*2+1] += float32(dy)
		}
	})
	if gx != nil {
		grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	}
	if gg != nil {
		grads[1] = tensor.FromF32(gg, in[1].Shape()...)
	}
	return grads, nil
}
