package ops

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// bilinearRef is PyTorch's bilinear interpolation with align_corners=False
// (half-pixel centres, source coordinates clamped at 0), computed directly
// in two dimensions.
func bilinearRef(x []float32, n, h, w, oh, ow int) []float32 {
	y := make([]float32, n*oh*ow)
	src := func(o, in, out int) (int, int, float64) {
		s := math.Max(0, (float64(o)+0.5)*float64(in)/float64(out)-0.5)
		i0 := int(s)
		i1 := min(i0+1, in-1)
		return i0, i1, s - float64(i0)
	}
	for p := 0; p < n; p++ {
		for i := 0; i < oh; i++ {
			y0, y1, ly := src(i, h, oh)
			for j := 0; j < ow; j++ {
				x0, x1, lx := src(j, w, ow)
				at := func(a, b int) float64 { return float64(x[(p*h+a)*w+b]) }
				v := (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
				y[(p*oh+i)*ow+j] = float32(v)
			}
		}
	}
	return y
}

func resizeOpFor(t *testing.T, a MapAttrs) Op {
	t.Helper()
	op, err := New("Resize", a, 19)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func TestResizeBilinearMatchesPyTorch(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	x := randT(rng, -1, 1, 2, 3, 5, 7)
	for _, size := range [][2]int{{16, 9}, {3, 4}, {5, 7}, {11, 2}} {
		for _, mode := range []string{"half_pixel", "pytorch_half_pixel"} {
			op := resizeOpFor(t, MapAttrs{"mode": "linear", "coordinate_transformation_mode": mode})
			sizes := tensor.FromI64([]int64{2, 3, int64(size[0]), int64(size[1])}, 4)
			out := nnForward(t, op, x, nil, nil, sizes)[0]
			want := bilinearRef(x.F32(), 6, 5, 7, size[0], size[1])
			nnClose(t, "Resize linear "+mode, out, tensor.FromF32(want, 2, 3, size[0], size[1]), 1e-6)
		}
	}
}

func TestResizeModes(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	x := randT(rng, -1, 1, 1, 2, 4, 5)
	scales := tensor.FromF32([]float32{1, 1, 1.75, 0.6}, 4)
	for _, a := range []MapAttrs{
		{"mode": "nearest"},
		{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
		{"mode": "nearest", "coordinate_transformation_mode": "align_corners", "nearest_mode": "round_prefer_ceil"},
		{"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "ceil"},
		{"mode": "linear"},
		{"mode": "linear", "coordinate_transformation_mode": "align_corners"},
		{"mode": "linear", "coordinate_transformation_mode": "asymmetric"},
		{"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
		{"mode": "linear", "antialias": int64(1)},
		{"mode": "cubic"},
		{"mode": "cubic", "exclude_outside": int64(1), "cubic_coeff_a": float32(-0.5)},
		{"mode": "cubic", "antialias": int64(1)},
	} {
		op := resizeOpFor(t, a)
		out := nnForward(t, op, x, nil, scales)[0]
		if !slices.Equal(out.Shape(), []int{1, 2, 7, 3}) {
			t.Fatalf("%v: shape %v", a, out.Shape())
		}
		// Interpolation weights sum to 1: a constant image stays constant.
		c := tensor.New(x.Shape()...)
		fill(c.F32(), 0.5)
		for i, v := range nnForward(t, op, c, nil, scales)[0].F32() {
			if math.Abs(float64(v)-0.5) > 1e-6 {
				t.Fatalf("%v: constant image gives %g at %d", a, v, i)
			}
		}
		checkGrad(t, op, []*tensor.T{x, nil, scales}, []int{0}, 1e-2, 1e-3)
	}
	// Nearest, asymmetric, floor doubles every pixel.
	op := resizeOpFor(t, MapAttrs{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
	y := nnForward(t, op, x, nil, tensor.FromF32([]float32{1, 1, 2, 2}, 4))[0]
	for i, v := range y.F32() {
		c, h, w := i/80, i/10%8, i%10
		if v != x.F32()[c*20+h/2*5+w/2] {
			t.Fatalf("nearest ×2 [%d] = %g", i, v)
		}
	}
}

func TestResizeSizesAxesAndErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	x := randT(rng, -1, 1, 1, 1, 4, 6)
	// keep_aspect_ratio_policy not_larger over axes 2, 3: scale min(3/4, 6/6).
	op := resizeOpFor(t, MapAttrs{"mode": "linear", "axes": []int64{2, 3}, "keep_aspect_ratio_policy": "not_larger"})
	out := nnForward(t, op, x, nil, nil, tensor.FromI64([]int64{3, 6}, 2))[0]
	if !slices.Equal(out.Shape(), []int{1, 1, 3, 5}) {
		t.Errorf("not_larger: shape %v, want 1×1×3×5", out.Shape())
	}
	// tf_crop_and_resize: outside the roi, extrapolation_value.
	op = resizeOpFor(t, MapAttrs{"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": float32(7)})
	roi := tensor.FromF32([]float32{0, 0, 0, -0.5, 1, 1, 1, 1.5}, 8)
	out = nnForward(t, op, x, roi, nil, tensor.FromI64([]int64{1, 1, 4, 5}, 4))[0]
	if out.F32()[0] != 7 || out.F32()[4] != 7 || out.F32()[2] == 7 {
		t.Errorf("tf_crop_and_resize: first row %v", out.F32()[:5])
	}
	checkGrad(t, op, []*tensor.T{x, roi, nil, tensor.FromI64([]int64{1, 1, 4, 5}, 4)}, []int{0}, 1e-2, 1e-3)
	for _, in := range [][]*tensor.T{
		{x, nil, nil, nil},
		{x, nil, tensor.FromF32([]float32{1, 2}, 2)},
		{x, nil, tensor.FromF32([]float32{1, 1, -2, 2}, 4)},
		{x, nil, tensor.FromF32([]float32{1, 1, 2, 2}, 4), tensor.FromI64([]int64{1, 1, 8, 12}, 4)},
	} {
		if _, err := resizeOpFor(t, MapAttrs{}).Forward(in); err == nil {
			t.Errorf("bad scales/sizes %v must be refused", in)
		}
	}
	if _, err := New("Resize", MapAttrs{"coordinate_transformation_mode": "diagonal"}, 19); err == nil {
		t.Errorf("an unknown coordinate_transformation_mode must be refused")
	}
}

// With sizes, nearest picks the pixel exact arithmetic picks: ⌊j·in/out⌋
// for asymmetric/floor (PyTorch's nearest), and (j + ½)·in/out − ½ rounded
// half down for half_pixel/round_prefer_floor, also where that ratio is an
// integer and j/(out/in) in floating point falls just below it.
func TestResizeNearestIndicesExact(t *testing.T) {
	floor := resizeOpFor(t, MapAttrs{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
	half := resizeOpFor(t, MapAttrs{"mode": "nearest"})
	for in := 1; in <= 40; in++ {
		x := tensor.New(1, 1, 1, in)
		for i := range x.F32() {
			x.F32()[i] = float32(i)
		}
		for out := 1; out <= 40; out++ {
			sizes := tensor.FromI64([]int64{1, 1, 1, int64(out)}, 4)
			yf := nnForward(t, floor, x, nil, nil, sizes)[0].F32()
			yh := nnForward(t, half, x, nil, nil, sizes)[0].F32()
			for j := 0; j < out; j++ {
				if want := j * in / out; int(yf[j]) != want {
					t.Fatalf("asymmetric floor, %d → %d: index %d reads %g, want %d", in, out, j, yf[j], want)
				}
				// (2j+1)·in − out over 2·out, rounded half down, clamped.
				num, den := (2*j+1)*in-out, 2*out
				want := (2*num + den - 1) / (2 * den) // ⌈num/den − ½⌉ for num ≥ 0
				if num < 0 {
					want = 0
				}
				want = min(want, in-1)
				if int(yh[j]) != want {
					t.Fatalf("half_pixel round_prefer_floor, %d → %d: index %d reads %g, want %d", in, out, j, yh[j], want)
				}
			}
		}
	}
}
