package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Test helpers shared by the element-wise, shape, softmax and reduce tests.

func bcF(data []float32, shape ...int) *tensor.T { return tensor.FromF32(data, shape...) }
func bcI(data []int64, shape ...int) *tensor.T   { return tensor.FromI64(data, shape...) }

// bcOp builds an op, failing the test on error.
func bcOp(t *testing.T, typ string, a MapAttrs, opset int) Op {
	t.Helper()
	if a == nil {
		a = MapAttrs{}
	}
	op, err := New(typ, a, opset)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return op
}

// bcRun runs a forward pass, failing the test on error, and checks that the
// inputs were not modified.
func bcRun(t *testing.T, op Op, in ...*tensor.T) []*tensor.T {
	t.Helper()
	before := make([]*tensor.T, len(in))
	for k, x := range in {
		if x != nil {
			before[k] = x.Clone()
		}
	}
	out, err := op.Forward(in)
	if err != nil {
		t.Fatalf("%s forward: %v", op.Type(), err)
	}
	for k, x := range in {
		if x == nil {
			continue
		}
		if !tensor.SameShape(x.Shape(), before[k].Shape()) {
			t.Fatalf("%s modified the shape of input %d", op.Type(), k)
		}
		for i := range x.F32() {
			if x.F32()[i] != before[k].F32()[i] && !math.IsNaN(float64(x.F32()[i])) {
				t.Fatalf("%s modified input %d", op.Type(), k)
			}
		}
		for i := range x.I64() {
			if x.I64()[i] != before[k].I64()[i] {
				t.Fatalf("%s modified input %d", op.Type(), k)
			}
		}
	}
	return out
}

// bcFails checks that a forward pass returns an error.
func bcFails(t *testing.T, op Op, in ...*tensor.T) {
	t.Helper()
	if _, err := op.Forward(in); err == nil {
		t.Fatalf("%s: forward succeeded, want an error", op.Type())
	}
}

// bcWantF checks a float32 tensor's shape and values (to 1e-5 relative).
func bcWantF(t *testing.T, got *tensor.T, shape []int, want []float32) {
	t.Helper()
	if got.DType() != tensor.Float32 {
		t.Fatalf("got %s, want float32", got.DType())
	}
	if !tensor.SameShape(got.Shape(), shape) {
		t.Fatalf("shape %v, want %v", got.Shape(), shape)
	}
	for i, w := range want {
		g := got.F32()[i]
		if math.IsNaN(float64(w)) && math.IsNaN(float64(g)) || g == w {
			continue
		}
		if d := math.Abs(float64(g - w)); d > 1e-5*math.Max(1, math.Abs(float64(w))) {
			t.Fatalf("value %d = %g, want %g (all: %v)", i, g, w, got.F32())
		}
	}
}

// bcWantI checks an int64 tensor's shape and values.
func bcWantI(t *testing.T, got *tensor.T, shape []int, want []int64) {
	t.Helper()
	if got.DType() != tensor.Int64 {
		t.Fatalf("got %s, want int64", got.DType())
	}
	if !tensor.SameShape(got.Shape(), shape) {
		t.Fatalf("shape %v, want %v", got.Shape(), shape)
	}
	for i, w := range want {
		if got.I64()[i] != w {
			t.Fatalf("values %v, want %v", got.I64(), want)
		}
	}
}

// naiveBinary computes f over the broadcast of a and b with explicit
// multi-index arithmetic, as a reference for the row plan.
func naiveBinary(a, b *tensor.T, f func(x, y float32) float32) ([]float32, []int) {
	out, err := broadcastShapes(a.Shape(), b.Shape())
	if err != nil {
		panic(err)
	}
	n := tensor.Size(out)
	res := make([]float32, n)
	idx := make([]int, len(out))
	src := func(t *tensor.T) int {
		s := t.Shape()
		off, st := 0, 1
		for i := len(s) - 1; i >= 0; i-- {
			j := idx[len(out)-len(s)+i]
			if s[i] == 1 {
				j = 0
			}
			off += j * st
			st *= s[i]
		}
		return off
	}
	for o := 0; o < n; o++ {
		r := o
		for d := len(out) - 1; d >= 0; d-- {
			idx[d] = r % out[d]
			r /= out[d]
		}
		res[o] = f(a.F32()[src(a)], b.F32()[src(b)])
	}
	return res, out
}

var bcShapePairs = [][2][]int{
	{{2, 3, 4}, {2, 3, 4}},
	{{2, 3, 4}, {4}},
	{{4}, {2, 3, 4}},
	{{2, 1, 4}, {3, 1}},
	{{}, {2, 3}},
	{{2, 3}, {}},
	{{1}, {2, 3}},
	{{2, 3, 5, 5}, {1, 3, 1, 1}},
	{{1, 3, 1, 1}, {2, 3, 5, 5}},
	{{2, 3, 5, 5}, {2, 3, 1, 1}},
	{{2, 3, 5, 5}, {3, 1, 1}},
	{{3, 1, 5}, {1, 4, 1}},
	{{2, 1, 3, 1}, {1, 4, 1, 5}},
	{{2, 3, 1, 1}, {2, 3, 1, 1}},
	{{1, 1}, {1}},
	{{0, 3}, {3}},
	{{2, 3, 4}, {2, 1, 4}},
	{{5, 1}, {5, 6}},
}

func TestBroadcastShapes(t *testing.T) {
	cases := []struct {
		a, b, want []int
		fail       bool
	}{
		{a: []int{2, 3, 4}, b: []int{4}, want: []int{2, 3, 4}},
		{a: []int{2, 1, 4}, b: []int{3, 1}, want: []int{2, 3, 4}},
		{a: []int{}, b: []int{2, 3}, want: []int{2, 3}},
		{a: []int{0, 3}, b: []int{1}, want: []int{0, 3}},
		{a: []int{1, 0}, b: []int{5, 1}, want: []int{5, 0}},
		{a: []int{2, 3}, b: []int{3, 2}, fail: true},
		{a: []int{0}, b: []int{2}, fail: true},
	}
	for _, c := range cases {
		got, err := broadcastShapes(c.a, c.b)
		if c.fail {
			if err == nil {
				t.Errorf("broadcastShapes(%v, %v) = %v, want an error", c.a, c.b, got)
			}
			continue
		}
		if err != nil || !tensor.SameShape(got, c.want) {
			t.Errorf("broadcastShapes(%v, %v) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
}

func TestBroadcastPlanMerges(t *testing.T) {
	// Per-channel: [N,C,H,W] against [1,C,1,1] walks rows of H·W with the
	// operand constant along each row.
	p := newBcastPlan([]int{2, 3, 5, 5}, []int{2, 3, 5, 5}, []int{1, 3, 1, 1})
	if p.inner() != 25 || p.step(0) != 1 || p.step(1) != 0 {
		t.Fatalf("per-channel plan dims %v strides %v", p.dims, p.strides)
	}
	// Same shapes collapse to one row.
	p = newBcastPlan([]int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4})
	if len(p.dims) != 1 || p.inner() != 24 {
		t.Fatalf("same-shape plan dims %v", p.dims)
	}
	// Trailing vector: rows of 4, both operands moving.
	p = newBcastPlan([]int{2, 3, 4}, []int{2, 3, 4}, []int{4})
	if len(p.dims) != 2 || p.dims[0] != 6 || p.inner() != 4 || p.step(1) != 1 {
		t.Fatalf("[4] plan dims %v strides %v", p.dims, p.strides)
	}
}

func TestBroadcastBinaryMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ops := map[string]func(x, y float32) float32{
		"Add": func(x, y float32) float32 { return x + y },
		"Sub": func(x, y float32) float32 { return x - y },
		"Mul": func(x, y float32) float32 { return x * y },
		"Div": func(x, y float32) float32 { return x / y },
	}
	for name, f := range ops {
		op := bcOp(t, name, nil, 17)
		for _, sh := range bcShapePairs {
			a := randT(rng, 0.5, 2, sh[0]...)
			b := randT(rng, 0.5, 2, sh[1]...)
			want, shape := naiveBinary(a, b, f)
			got := bcRun(t, op, a, b)[0]
			bcWantF(t, got, shape, want)
		}
	}
}

func TestReduceToShape(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, sh := range bcShapePairs {
		out, _ := broadcastShapes(sh[0], sh[1])
		g := randT(rng, -1, 1, out...)
		for _, target := range sh {
			got := reduceToShape(g.F32(), out, target)
			// Reference: Σ over output positions of the naive source index.
			ones := tensor.New(target...)
			for i := range ones.F32() {
				ones.F32()[i] = float32(i)
			}
			idx, _ := naiveBinary(ones, tensor.New(out...), func(x, _ float32) float32 { return x })
			want := make([]float32, tensor.Size(target))
			for o, i := range idx {
				want[int(i)] += g.F32()[o]
			}
			bcWantF(t, bcF(got, target...), target, want)
			// And expandToShape is its transpose: <expand(x), g> = <x, reduce(g)>.
			x := randT(rng, -1, 1, target...)
			e := expandToShape(x.F32(), target, out, 1)
			var lhs, rhs float64
			for i := range e {
				lhs += float64(e[i]) * float64(g.F32()[i])
			}
			for i := range got {
				rhs += float64(got[i]) * float64(x.F32()[i])
			}
			if math.Abs(lhs-rhs) > 1e-4*math.Max(1, math.Abs(lhs)) {
				t.Fatalf("%v → %v: <expand x, g> = %g, <x, reduce g> = %g", target, out, lhs, rhs)
			}
		}
	}
}

// The hot broadcasting patterns of CNNs: a residual Add of equal shapes, a
// squeeze-excite per-channel Mul and its backward, a global average pool.

func BenchmarkBroadcastAddResidual(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, y := randT(rng, -1, 1, 1, 64, 56, 56), randT(rng, -1, 1, 1, 64, 56, 56)
	op := bcOp(&testing.T{}, "Add", nil, 13)
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		if _, err := op.Forward([]*tensor.T{x, y}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBroadcastMulPerChannel(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, s := randT(rng, -1, 1, 1, 256, 28, 28), randT(rng, 0, 1, 1, 256, 1, 1)
	op := bcOp(&testing.T{}, "Mul", nil, 13)
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		if _, err := op.Forward([]*tensor.T{x, s}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBroadcastMulPerChannelBackward(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, s := randT(rng, -1, 1, 1, 256, 28, 28), randT(rng, 0, 1, 1, 256, 1, 1)
	op := bcOp(&testing.T{}, "Mul", nil, 13)
	in := []*tensor.T{x, s}
	out, _ := op.Forward(in)
	gy := []*tensor.T{randT(rng, -1, 1, out[0].Shape()...)}
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		if _, err := op.Backward(in, out, gy, []bool{true, true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBroadcastReduceMeanGAP(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x := randT(rng, -1, 1, 1, 512, 14, 14)
	op := bcOp(&testing.T{}, "ReduceMean", MapAttrs{"axes": []int64{2, 3}}, 13)
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		if _, err := op.Forward([]*tensor.T{x}); err != nil {
			b.Fatal(err)
		}
	}
}
