package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// bcRange returns 0, 1, … as a float32 tensor of the given shape.
func bcRange(shape ...int) *tensor.T {
	t := tensor.New(shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(i)
	}
	return t
}

// bcShapeOf runs op and returns the output shape, for view ops.
func bcShapeOf(t *testing.T, op Op, in ...*tensor.T) []int {
	t.Helper()
	return bcRun(t, op, in...)[0].Shape()
}

func bcWantShape(t *testing.T, got, want []int) {
	t.Helper()
	if !tensor.SameShape(got, want) {
		t.Fatalf("shape %v, want %v", got, want)
	}
}

func TestReshape(t *testing.T) {
	x := bcRange(2, 3, 4)
	op := bcOp(t, "Reshape", nil, 14)
	shape := func(v ...int64) *tensor.T { return bcI(v, len(v)) }
	bcWantShape(t, bcShapeOf(t, op, x, shape(4, -1)), []int{4, 6})
	bcWantShape(t, bcShapeOf(t, op, x, shape(0, -1)), []int{2, 12})
	bcWantShape(t, bcShapeOf(t, op, x, shape(0, 0, 2, 2)), []int{2, 3, 2, 2})
	bcWantShape(t, bcShapeOf(t, op, x, shape(-1)), []int{24})
	bcWantShape(t, bcShapeOf(t, op, x, shape(2, -1, 0)), []int{2, 3, 4})
	bcFails(t, op, x, shape(5, -1))
	bcFails(t, op, x, shape(-1, -1))
	bcFails(t, op, x, shape(7, 0))
	// allowzero = 1: 0 is a real zero dim.
	z := bcOp(t, "Reshape", MapAttrs{"allowzero": int64(1)}, 14)
	bcWantShape(t, bcShapeOf(t, z, tensor.New(0, 3), shape(3, 0)), []int{3, 0})
	bcFails(t, z, x, shape(0, -1))
	// int64 data (shape chains) and shared storage.
	y := bcRun(t, op, bcI([]int64{1, 2, 3, 4}, 4), shape(2, 2))[0]
	bcWantI(t, y, []int{2, 2}, []int64{1, 2, 3, 4})
	out := bcRun(t, op, x, shape(6, 4))
	bcWantF(t, out[0], []int{6, 4}, x.F32())
	// Backward reshapes the gradient.
	rng := rand.New(rand.NewSource(21))
	checkGrad(t, op, []*tensor.T{randT(rng, -1, 1, 2, 3, 4), shape(0, -1)}, []int{0}, 1e-2, 1e-2)
}

func TestFlatten(t *testing.T) {
	x := bcRange(2, 3, 4, 5)
	for _, c := range []struct {
		axis int64
		want []int
	}{{0, []int{1, 120}}, {1, []int{2, 60}}, {2, []int{6, 20}}, {4, []int{120, 1}}, {-1, []int{24, 5}}, {-4, []int{1, 120}}} {
		bcWantShape(t, bcShapeOf(t, bcOp(t, "Flatten", MapAttrs{"axis": c.axis}, 13), x), c.want)
	}
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Flatten", nil, 13), x), []int{2, 60})
	bcFails(t, bcOp(t, "Flatten", MapAttrs{"axis": int64(5)}, 13), x)
	rng := rand.New(rand.NewSource(22))
	checkGrad(t, bcOp(t, "Flatten", nil, 13), []*tensor.T{randT(rng, -1, 1, 2, 3, 2)}, []int{0}, 1e-2, 1e-2)
}

func TestSqueezeUnsqueeze(t *testing.T) {
	x := bcRange(1, 3, 1, 2)
	// Opset ≤ 12: axes attribute.
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Squeeze", MapAttrs{"axes": []int64{0}}, 11), x), []int{3, 1, 2})
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Squeeze", MapAttrs{"axes": []int64{-2, 0}}, 11), x), []int{3, 2})
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Squeeze", nil, 11), x), []int{3, 2})
	bcFails(t, bcOp(t, "Squeeze", MapAttrs{"axes": []int64{1}}, 11), x)
	// Opset ≥ 13: axes input, optional.
	sq := bcOp(t, "Squeeze", nil, 13)
	bcWantShape(t, bcShapeOf(t, sq, x, bcI([]int64{2}, 1)), []int{1, 3, 2})
	bcWantShape(t, bcShapeOf(t, sq, x), []int{3, 2})
	bcWantShape(t, bcShapeOf(t, sq, x, nil), []int{3, 2})

	y := bcRange(3, 2)
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Unsqueeze", MapAttrs{"axes": []int64{0, 3}}, 11), y), []int{1, 3, 2, 1})
	bcWantShape(t, bcShapeOf(t, bcOp(t, "Unsqueeze", MapAttrs{"axes": []int64{-1}}, 11), y), []int{3, 2, 1})
	un := bcOp(t, "Unsqueeze", nil, 13)
	bcWantShape(t, bcShapeOf(t, un, y, bcI([]int64{1, -1}, 2)), []int{3, 1, 2, 1})
	bcWantShape(t, bcShapeOf(t, un, bcI([]int64{7}), bcI([]int64{0}, 1)), []int{1})
	bcFails(t, un, y)
	bcFails(t, un, y, bcI([]int64{1, 1}, 2))
	bcFails(t, un, y, bcI([]int64{4}, 1))

	rng := rand.New(rand.NewSource(23))
	checkGrad(t, sq, []*tensor.T{randT(rng, -1, 1, 1, 3, 1, 2), bcI([]int64{0}, 1)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, un, []*tensor.T{randT(rng, -1, 1, 3, 2), bcI([]int64{0}, 1)}, []int{0}, 1e-2, 1e-2)
}

func TestIdentityDropout(t *testing.T) {
	x := bcRange(2, 3)
	bcWantF(t, bcRun(t, bcOp(t, "Identity", nil, 13), x)[0], []int{2, 3}, x.F32())
	d := bcOp(t, "Dropout", MapAttrs{"ratio": float32(0.5)}, 13)
	out := bcRun(t, d, x, bcF([]float32{0.3}), nil)
	bcWantF(t, out[0], []int{2, 3}, x.F32())
	bcWantI(t, out[1], []int{2, 3}, []int64{1, 1, 1, 1, 1, 1})
	rng := rand.New(rand.NewSource(24))
	checkGrad(t, d, []*tensor.T{randT(rng, -1, 1, 2, 3)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, bcOp(t, "Identity", nil, 13), []*tensor.T{randT(rng, -1, 1, 2, 3)}, []int{0}, 1e-2, 1e-2)
}

func TestTranspose(t *testing.T) {
	x := bcRange(2, 3, 4)
	tr := bcOp(t, "Transpose", MapAttrs{"perm": []int64{1, 2, 0}}, 13)
	got := bcRun(t, tr, x)[0]
	want := make([]float32, 24)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				want[(j*4+k)*2+i] = float32((i*3+j)*4 + k)
			}
		}
	}
	bcWantF(t, got, []int{3, 4, 2}, want)
	// Default: reverse.
	rev := bcOp(t, "Transpose", nil, 13)
	bcWantF(t, bcRun(t, rev, bcRange(2, 3))[0], []int{3, 2}, []float32{0, 3, 1, 4, 2, 5})
	bcWantI(t, bcRun(t, rev, bcI([]int64{1, 2, 3, 4}, 1, 4))[0], []int{4, 1}, []int64{1, 2, 3, 4})
	bcFails(t, bcOp(t, "Transpose", MapAttrs{"perm": []int64{0, 0, 1}}, 13), x)
	rng := rand.New(rand.NewSource(25))
	checkGrad(t, tr, []*tensor.T{randT(rng, -1, 1, 2, 3, 4)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, bcOp(t, "Transpose", MapAttrs{"perm": []int64{0, 2, 3, 1}}, 13), []*tensor.T{randT(rng, -1, 1, 2, 3, 2, 2)}, []int{0}, 1e-2, 1e-2)
}

func TestConcat(t *testing.T) {
	a := bcRange(2, 2)
	b := bcF([]float32{10, 11, 12, 13, 14, 15}, 2, 3)
	c := bcOp(t, "Concat", MapAttrs{"axis": int64(-1)}, 13)
	bcWantF(t, bcRun(t, c, a, b)[0], []int{2, 5}, []float32{0, 1, 10, 11, 12, 2, 3, 13, 14, 15})
	c0 := bcOp(t, "Concat", MapAttrs{"axis": int64(0)}, 13)
	bcWantF(t, bcRun(t, c0, a, bcF([]float32{7, 8}, 1, 2))[0], []int{3, 2}, []float32{0, 1, 2, 3, 7, 8})
	// Shape chains: int64 1-D pieces, one of them empty.
	bcWantI(t, bcRun(t, c0, bcI([]int64{1}, 1), bcI(nil, 0), bcI([]int64{-1, 3}, 2))[0], []int{3}, []int64{1, -1, 3})
	bcFails(t, c0, a, b)
	bcFails(t, c, a, bcI([]int64{1, 2}, 2, 1))
	if _, err := New("Concat", MapAttrs{}, 13); err == nil {
		t.Fatal("Concat without axis accepted")
	}
	rng := rand.New(rand.NewSource(26))
	checkGrad(t, c, []*tensor.T{randT(rng, -1, 1, 2, 2), randT(rng, -1, 1, 2, 3), randT(rng, -1, 1, 2, 1)}, []int{0, 1, 2}, 1e-2, 1e-2)
	c1 := bcOp(t, "Concat", MapAttrs{"axis": int64(1)}, 13)
	checkGrad(t, c1, []*tensor.T{randT(rng, -1, 1, 2, 2, 3), randT(rng, -1, 1, 2, 1, 3)}, []int{0, 1}, 1e-2, 1e-2)
}

func TestSplit(t *testing.T) {
	x := bcRange(2, 6)
	// Opset 11: split attribute.
	s11 := bcOp(t, "Split", MapAttrs{"axis": int64(1), "split": []int64{1, 2, 3}}, 11)
	out := bcRun(t, s11, x)
	bcWantF(t, out[0], []int{2, 1}, []float32{0, 6})
	bcWantF(t, out[1], []int{2, 2}, []float32{1, 2, 7, 8})
	bcWantF(t, out[2], []int{2, 3}, []float32{3, 4, 5, 9, 10, 11})
	// Opset 13: split input; negative axis.
	s13 := bcOp(t, "Split", MapAttrs{"axis": int64(-1)}, 13)
	out = bcRun(t, s13, x, bcI([]int64{4, 2}, 2))
	bcWantF(t, out[0], []int{2, 4}, []float32{0, 1, 2, 3, 6, 7, 8, 9})
	bcWantF(t, out[1], []int{2, 2}, []float32{4, 5, 10, 11})
	bcFails(t, s13, x, bcI([]int64{4, 3}, 2))
	// Equal split, from num_outputs (opset 18, or set by the loader).
	eq := bcOp(t, "Split", MapAttrs{"axis": int64(1), "num_outputs": int64(3)}, 13)
	out = bcRun(t, eq, x)
	bcWantF(t, out[2], []int{2, 2}, []float32{4, 5, 10, 11})
	uneven := bcOp(t, "Split", MapAttrs{"num_outputs": int64(3)}, 18)
	out = bcRun(t, uneven, bcRange(7))
	bcWantF(t, out[0], []int{3}, []float32{0, 1, 2})
	bcWantF(t, out[2], []int{1}, []float32{6})
	bcFails(t, bcOp(t, "Split", nil, 13), x)
	// int64 data.
	out = bcRun(t, eq, bcI([]int64{1, 2, 3, 4, 5, 6}, 1, 6))
	bcWantI(t, out[1], []int{1, 2}, []int64{3, 4})

	rng := rand.New(rand.NewSource(27))
	checkGrad(t, s11, []*tensor.T{randT(rng, -1, 1, 2, 6)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, s13, []*tensor.T{randT(rng, -1, 1, 3, 6), bcI([]int64{1, 5}, 2)}, []int{0}, 1e-2, 1e-2)
	// A missing output gradient counts as zero.
	in := []*tensor.T{bcRange(2, 6)}
	out = bcRun(t, s11, in...)
	g, err := s11.Backward(in, out, []*tensor.T{nil, bcF([]float32{1, 2, 3, 4}, 2, 2), nil}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	bcWantF(t, g[0], []int{2, 6}, []float32{0, 1, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0})
}

func TestGather(t *testing.T) {
	x := bcRange(3, 4)
	g0 := bcOp(t, "Gather", nil, 13)
	bcWantF(t, bcRun(t, g0, x, bcI([]int64{2, -3}, 2))[0], []int{2, 4}, []float32{8, 9, 10, 11, 0, 1, 2, 3})
	g1 := bcOp(t, "Gather", MapAttrs{"axis": int64(-1)}, 13)
	bcWantF(t, bcRun(t, g1, x, bcI([]int64{3, 0, 3, 1}, 2, 2))[0], []int{3, 2, 2}, []float32{3, 0, 3, 1, 7, 4, 7, 5, 11, 8, 11, 9})
	// Scalar index drops the axis: the Shape → Gather(0) pattern on int64.
	shape := bcI([]int64{1, 512, 7, 7}, 4)
	bcWantI(t, bcRun(t, g0, shape, bcI([]int64{0}))[0], []int{}, []int64{1})
	bcWantI(t, bcRun(t, g0, shape, bcI([]int64{-1}))[0], []int{}, []int64{7})
	bcFails(t, g0, x, bcI([]int64{3}))
	bcFails(t, g0, x, bcI([]int64{-4}))

	// Backward scatter-adds, repeated indices included.
	rng := rand.New(rand.NewSource(28))
	checkGrad(t, g1, []*tensor.T{randT(rng, -1, 1, 2, 3, 4), bcI([]int64{3, 0, -1, 1, 1}, 5)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, g0, []*tensor.T{randT(rng, -1, 1, 3, 2), bcI([]int64{1})}, []int{0}, 1e-2, 1e-2)
	g2 := bcOp(t, "Gather", MapAttrs{"axis": int64(1)}, 13)
	checkGrad(t, g2, []*tensor.T{randT(rng, -1, 1, 2, 3, 4), bcI([]int64{2, 2, 0, 1}, 2, 2)}, []int{0}, 1e-2, 1e-2)
}

func TestSlice(t *testing.T) {
	x := bcRange(3, 4)
	s := bcOp(t, "Slice", nil, 13)
	v := func(n ...int64) *tensor.T { return bcI(n, len(n)) }
	const big = math.MaxInt64
	bcWantF(t, bcRun(t, s, x, v(1, 1), v(3, 3))[0], []int{2, 2}, []float32{5, 6, 9, 10})
	// Axes (negative), ends INT64_MAX, steps.
	bcWantF(t, bcRun(t, s, x, v(1), v(big), v(-1), v(2))[0], []int{3, 2}, []float32{1, 3, 5, 7, 9, 11})
	// Negative steps: reverse, with INT64_MIN end meaning "through index 0".
	bcWantF(t, bcRun(t, s, x, v(-1), v(math.MinInt64), v(1), v(-1))[0], []int{3, 4}, []float32{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8})
	bcWantF(t, bcRun(t, s, x, v(big, 3), v(0, -5), v(0, 1), v(-2, -3))[0], []int{1, 2}, []float32{11, 8})
	// Clamping: out-of-range starts, empty results.
	bcWantF(t, bcRun(t, s, x, v(-10), v(2), v(0))[0], []int{2, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7})
	bcWantShape(t, bcShapeOf(t, s, x, v(3), v(1), v(1)), []int{3, 0})
	bcWantShape(t, bcShapeOf(t, s, x, v(5), v(9), v(0)), []int{0, 4})
	bcFails(t, s, x, v(0), v(1), v(0), v(0))
	bcFails(t, s, x, v(0, 0), v(1, 1), v(1, 1))
	// Slicing a shape vector (int64 data).
	bcWantI(t, bcRun(t, s, bcI([]int64{1, 3, 224, 224}, 4), v(2), v(big))[0], []int{2}, []int64{224, 224})
	// Opset < 10: attributes.
	s9 := bcOp(t, "Slice", MapAttrs{"starts": []int64{1}, "ends": []int64{-1}, "axes": []int64{1}}, 9)
	bcWantF(t, bcRun(t, s9, x)[0], []int{3, 2}, []float32{1, 2, 5, 6, 9, 10})

	rng := rand.New(rand.NewSource(29))
	checkGrad(t, s, []*tensor.T{randT(rng, -1, 1, 3, 4, 5), v(1, -1), v(3, 0), v(0, 2), v(1, -2)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, s, []*tensor.T{randT(rng, -1, 1, 4, 5), v(0, 1), v(big, 4)}, []int{0}, 1e-2, 1e-2)
	checkGrad(t, s9, []*tensor.T{randT(rng, -1, 1, 2, 4)}, []int{0}, 1e-2, 1e-2)
}

func TestPad(t *testing.T) {
	x := bcF([]float32{1, 2, 3}, 3)
	pads := bcI([]int64{2, 3}, 2)
	for _, c := range []struct {
		mode string
		want []float32
	}{
		{"constant", []float32{0, 0, 1, 2, 3, 0, 0, 0}},
		{"reflect", []float32{3, 2, 1, 2, 3, 2, 1, 2}},
		{"edge", []float32{1, 1, 1, 2, 3, 3, 3, 3}},
		{"wrap", []float32{2, 3, 1, 2, 3, 1, 2, 3}},
	} {
		op := bcOp(t, "Pad", MapAttrs{"mode": c.mode}, 13)
		bcWantF(t, bcRun(t, op, x, pads)[0], []int{8}, c.want)
	}
	// 2-D, constant value input, negative (cropping) pads.
	p := bcOp(t, "Pad", nil, 13)
	y := bcRange(2, 3)
	bcWantF(t, bcRun(t, p, y, bcI([]int64{1, 0, 0, -1}, 4), bcF([]float32{9}))[0], []int{3, 2},
		[]float32{9, 9, 0, 1, 3, 4})
	// Axes input (opset 18).
	bcWantF(t, bcRun(t, p, y, bcI([]int64{1, 1}, 2), nil, bcI([]int64{-1}, 1))[0], []int{2, 5},
		[]float32{0, 0, 1, 2, 0, 0, 3, 4, 5, 0})
	// Opset < 11: attributes.
	p2 := bcOp(t, "Pad", MapAttrs{"pads": []int64{0, 1, 1, 0}, "value": float32(-1)}, 2)
	bcWantF(t, bcRun(t, p2, y)[0], []int{3, 4}, []float32{-1, 0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1})
	// int64.
	bcWantI(t, bcRun(t, p, bcI([]int64{5, 6}, 2), bcI([]int64{1, 0}, 2), bcI([]int64{7}))[0], []int{3}, []int64{7, 5, 6})
	bcFails(t, p, x, bcI([]int64{1}, 1))
	bcFails(t, p, x, bcI([]int64{-2, -2}, 2))

	rng := rand.New(rand.NewSource(30))
	for _, mode := range []string{"constant", "reflect", "edge", "wrap"} {
		op := bcOp(t, "Pad", MapAttrs{"mode": mode}, 13)
		in := []*tensor.T{randT(rng, -1, 1, 2, 3, 4), bcI([]int64{0, 1, 2, 0, 2, -1}, 6), bcF([]float32{0.5})}
		wrt := []int{0}
		if mode == "constant" {
			wrt = []int{0, 2}
		}
		checkGrad(t, op, in, wrt, 1e-2, 1e-2)
	}
	checkGrad(t, p2, []*tensor.T{randT(rng, -1, 1, 2, 3)}, []int{0}, 1e-2, 1e-2)
}

func TestCast(t *testing.T) {
	x := bcF([]float32{-2.7, -0.5, 0, 0.5, 2.7, 300}, 6)
	cast := func(to int64) Op { return bcOp(t, "Cast", MapAttrs{"to": to}, 13) }
	bcWantI(t, bcRun(t, cast(7), x)[0], []int{6}, []int64{-2, 0, 0, 0, 2, 300})
	bcWantI(t, bcRun(t, cast(6), x)[0], []int{6}, []int64{-2, 0, 0, 0, 2, 300})
	bcWantI(t, bcRun(t, cast(9), x)[0], []int{6}, []int64{1, 1, 0, 1, 1, 1})
	bcWantI(t, bcRun(t, cast(3), bcI([]int64{127, 128, -129}, 3))[0], []int{3}, []int64{127, -128, 127})
	bcWantI(t, bcRun(t, cast(2), bcI([]int64{255, 256, -1}, 3))[0], []int{3}, []int64{255, 0, 255})
	bcWantF(t, bcRun(t, cast(1), bcI([]int64{3, -4}, 2))[0], []int{2}, []float32{3, -4})
	bcWantF(t, bcRun(t, cast(11), x)[0], []int{6}, x.F32())
	// float16 rounds to 11 significant bits; overflow becomes Inf.
	h := bcRun(t, cast(10), bcF([]float32{1 + 1.0/4096, 2049, 65504, 70000, 1e-8, -3.14159}, 6))[0]
	bcWantF(t, h, []int{6}, []float32{1, 2048, 65504, float32(math.Inf(1)), 0, -3.140625})
	b := bcRun(t, cast(16), bcF([]float32{1 + 1.0/256, 3.14159}, 2))[0]
	bcWantF(t, b, []int{2}, []float32{1, 3.140625})
	if _, err := New("Cast", MapAttrs{"to": int64(8)}, 13); err == nil {
		t.Fatal("Cast to STRING accepted")
	}
	rng := rand.New(rand.NewSource(31))
	checkGrad(t, cast(1), []*tensor.T{randT(rng, -1, 1, 2, 3)}, []int{0}, 1e-2, 1e-2)
	c7 := cast(7)
	g, err := c7.Backward([]*tensor.T{x}, bcRun(t, c7, x), []*tensor.T{nil}, []bool{true})
	if err != nil || g[0] != nil {
		t.Fatalf("Cast to int64 backward: %v, %v; want no gradient", g, err)
	}
}

func TestShape(t *testing.T) {
	x := tensor.New(1, 3, 224, 224)
	bcWantI(t, bcRun(t, bcOp(t, "Shape", nil, 13), x)[0], []int{4}, []int64{1, 3, 224, 224})
	bcWantI(t, bcRun(t, bcOp(t, "Shape", MapAttrs{"start": int64(2)}, 15), x)[0], []int{2}, []int64{224, 224})
	bcWantI(t, bcRun(t, bcOp(t, "Shape", MapAttrs{"start": int64(-3), "end": int64(-1)}, 15), x)[0], []int{2}, []int64{3, 224})
	bcWantI(t, bcRun(t, bcOp(t, "Shape", MapAttrs{"start": int64(-10), "end": int64(10)}, 15), x)[0], []int{4}, []int64{1, 3, 224, 224})
	bcWantI(t, bcRun(t, bcOp(t, "Shape", MapAttrs{"start": int64(3), "end": int64(1)}, 15), x)[0], []int{0}, nil)
	bcWantI(t, bcRun(t, bcOp(t, "Shape", nil, 13), bcI([]int64{4}))[0], []int{0}, nil)
	bcWantI(t, bcRun(t, bcOp(t, "Shape", nil, 13), bcI([]int64{4, 5}, 2))[0], []int{1}, []int64{2})
}

func TestConstants(t *testing.T) {
	v := bcF([]float32{1, 2, 3, 4}, 2, 2)
	bcWantF(t, bcRun(t, bcOp(t, "Constant", MapAttrs{"value": v}, 13))[0], []int{2, 2}, v.F32())
	bcWantF(t, bcRun(t, bcOp(t, "Constant", MapAttrs{"value_float": float32(2.5)}, 13))[0], []int{}, []float32{2.5})
	bcWantF(t, bcRun(t, bcOp(t, "Constant", MapAttrs{"value_floats": []float32{1, 2}}, 13))[0], []int{2}, []float32{1, 2})
	bcWantI(t, bcRun(t, bcOp(t, "Constant", MapAttrs{"value_int": int64(-1)}, 13))[0], []int{}, []int64{-1})
	bcWantI(t, bcRun(t, bcOp(t, "Constant", MapAttrs{"value_ints": []int64{0, -1}}, 13))[0], []int{2}, []int64{0, -1})
	if _, err := New("Constant", MapAttrs{"value_string": "x"}, 13); err == nil {
		t.Fatal("Constant value_string accepted")
	}

	cos := bcOp(t, "ConstantOfShape", nil, 13)
	bcWantF(t, bcRun(t, cos, bcI([]int64{2, 3}, 2))[0], []int{2, 3}, []float32{0, 0, 0, 0, 0, 0})
	bcWantF(t, bcRun(t, cos, bcI(nil, 0))[0], []int{}, []float32{0})
	ci := bcOp(t, "ConstantOfShape", MapAttrs{"value": bcI([]int64{1}, 1)}, 13)
	bcWantI(t, bcRun(t, ci, bcI([]int64{3}, 1))[0], []int{3}, []int64{1, 1, 1})
	cf := bcOp(t, "ConstantOfShape", MapAttrs{"value": bcF([]float32{0.5}, 1)}, 13)
	bcWantF(t, bcRun(t, cf, bcI([]int64{1, 2}, 2))[0], []int{1, 2}, []float32{0.5, 0.5})
	bcWantShape(t, bcShapeOf(t, cf, bcI([]int64{0, 2}, 2)), []int{0, 2})
	bcFails(t, cf, bcI([]int64{-1}, 1))
}

func TestViewBackwardIsSafe(t *testing.T) {
	// The view ops share storage forward; their gradients reshape the output
	// gradient and leave the input untouched.
	x := bcRange(2, 3)
	op := bcOp(t, "Flatten", MapAttrs{"axis": int64(0)}, 13)
	out := bcRun(t, op, x)
	gy := bcF([]float32{1, 2, 3, 4, 5, 6}, 1, 6)
	g, err := op.Backward([]*tensor.T{x}, out, []*tensor.T{gy}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	bcWantF(t, g[0], []int{2, 3}, gy.F32())
	bcWantF(t, x, []int{2, 3}, []float32{0, 1, 2, 3, 4, 5})
	g, _ = op.Backward([]*tensor.T{x}, out, []*tensor.T{nil}, []bool{true})
	bcWantF(t, g[0], []int{2, 3}, make([]float32, 6))
}
