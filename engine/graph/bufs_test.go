package graph

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// viewGraph has values that views keep alive past their producer's last
// consumer (Reshape, Flatten) and same-sized values that would take a
// wrongly recycled buffer:
//
//	c1 = Conv(x, w1); r1 = Relu(c1); v1 = Reshape(r1)
//	c2 = Conv(x, w2); r2 = Relu(c2); s = Sigmoid(r2)
//	y = Flatten(Add(v1, s))
func viewGraph(t *testing.T) *Graph {
	t.Helper()
	op := func(typ string, a ops.MapAttrs) ops.Op {
		o, err := ops.New(typ, a, 13)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	pads := ops.MapAttrs{"pads": []int64{1, 1, 1, 1}}
	node := func(name, typ string, o ops.Op, in ...string) *Node {
		return &Node{Name: name, OpType: typ, Op: o, Inputs: in, Outputs: []string{name}}
	}
	rng := rand.New(rand.NewSource(5))
	rnd := func(shape ...int) *tensor.T {
		v := tensor.New(shape...)
		for i := range v.F32() {
			v.F32()[i] = rng.Float32()*2 - 1
		}
		return v
	}
	consts := map[string]*tensor.T{
		"w1": rnd(3, 2, 3, 3), "w2": rnd(3, 2, 3, 3),
		"shape": tensor.FromI64([]int64{1, 3, 6, 6}, 4),
	}
	nodes := []*Node{
		node("c1", "Conv", op("Conv", pads), "x", "w1"),
		node("r1", "Relu", op("Relu", nil), "c1"),
		node("v1", "Reshape", op("Reshape", nil), "r1", "shape"),
		node("c2", "Conv", op("Conv", pads), "x", "w2"),
		node("r2", "Relu", op("Relu", nil), "c2"),
		node("s", "Sigmoid", op("Sigmoid", nil), "r2"),
		node("a", "Add", op("Add", nil), "v1", "s"),
		node("y", "Flatten", op("Flatten", nil), "a"),
	}
	g, err := New(nodes, []Input{{Name: "x", Shape: []int{1, 2, 6, 6}}}, []string{"y"}, consts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func bitsEqual(t *testing.T, what string, got, want *tensor.T) {
	t.Helper()
	if got == nil || want == nil || got.Len() != want.Len() {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i, w := range want.F32() {
		if g := got.F32()[i]; math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, g, w)
		}
	}
}

// Passes without a tape recycle buffers, within a pass and across passes,
// and give the taped pass's values bit for bit; what a caller holds (the
// outputs, the kept values) is never handed out again.
func TestNoTapeRecycles(t *testing.T) {
	g := viewGraph(t)
	x := tensor.New(1, 2, 6, 6)
	for i := range x.F32() {
		x.F32()[i] = float32(i%7)/3 - 1
	}
	in := map[string]*tensor.T{"x": x}
	taped, err := g.Forward(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.free.floats != 0 {
		t.Fatalf("a taped pass released %d floats", g.free.floats)
	}
	r1, err := g.Forward(in, &Options{NoTape: true, Keep: []string{"r2"}})
	if err != nil {
		t.Fatal(err)
	}
	if g.free.floats == 0 {
		t.Fatal("a pass without a tape released nothing")
	}
	y1, k1 := r1.Output(0).Clone(), r1.Value("r2").Clone()
	bitsEqual(t, "output", r1.Output(0), taped.Output(0))
	bitsEqual(t, "kept r2", r1.Value("r2"), taped.Value("r2"))
	for pass := 0; pass < 3; pass++ {
		r2, err := g.Forward(in, &Options{NoTape: true})
		if err != nil {
			t.Fatal(err)
		}
		bitsEqual(t, "output, next pass", r2.Output(0), taped.Output(0))
	}
	bitsEqual(t, "first pass's output after later passes", r1.Output(0), y1)
	bitsEqual(t, "first pass's kept r2 after later passes", r1.Value("r2"), k1)
	if r1.Value("c1") != nil || r1.Value("r1") != nil {
		t.Fatal("a pass without a tape kept intermediate values")
	}
}

// A pass with an Override (the caller sees every value) recycles nothing.
func TestNoTapeOverrideKeepsBuffers(t *testing.T) {
	g := viewGraph(t)
	seen := map[string]*tensor.T{}
	opt := &Options{NoTape: true, Override: func(name string, v *tensor.T) *tensor.T {
		seen[name] = v
		return v
	}}
	if _, err := g.Forward(map[string]*tensor.T{"x": tensor.New(1, 2, 6, 6)}, opt); err != nil {
		t.Fatal(err)
	}
	if g.free.floats != 0 {
		t.Fatalf("a pass with an Override released %d floats", g.free.floats)
	}
	if len(seen) != len(g.Nodes) {
		t.Fatalf("Override saw %d values, want %d", len(seen), len(g.Nodes))
	}
}

// A taped pass with Recycle gives a fresh pass's values and gradients bit
// for bit, also when it writes into the buffers a released run gave back
// (filled with garbage first); a released run is emptied and refuses
// Backward and Rerun; kept slices and another live run's values are never
// handed out again.
func TestRecycleReleasedTape(t *testing.T) {
	g := viewGraph(t)
	input := func(k int) *tensor.T {
		x := tensor.New(1, 2, 6, 6)
		for i := range x.F32() {
			x.F32()[i] = float32((i+k)%7)/3 - 1
		}
		return x
	}
	grads := func(r *Run) map[string]*tensor.T {
		t.Helper()
		seed := tensor.New(r.Output(0).Shape()...)
		for i := range seed.F32() {
			seed.F32()[i] = float32(i%5) - 2
		}
		gr, err := r.Backward(map[string]*tensor.T{"y": seed}, BackwardOptions{Wrt: []string{"x", "r1"}})
		if err != nil {
			t.Fatal(err)
		}
		return gr
	}
	owned := func(r *Run) map[*float32]bool {
		m := map[*float32]bool{}
		for p := range r.owned {
			m[p] = true
		}
		return m
	}
	for k := 0; k < 3; k++ {
		x := input(k)
		fresh, err := g.Forward(map[string]*tensor.T{"x": x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantGrads := grads(fresh)
		first, err := g.Forward(map[string]*tensor.T{"x": x}, &Options{Recycle: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.owned) == 0 {
			t.Fatal("a recycling pass took no buffers")
		}
		// Give first's buffers back, with garbage in them, keeping r1's.
		kept := append([]float32(nil), first.Value("r1").F32()...)
		keptSlice := first.Value("r1").F32()
		firstOwned := owned(first)
		for _, b := range first.owned {
			for i := range b {
				b[i] = float32(math.NaN())
			}
		}
		for i := range keptSlice {
			keptSlice[i] = kept[i]
		}
		first.Release(keptSlice)
		first.Release() // a second call does nothing
		if len(first.Values) != 0 || first.Value("r1") != nil {
			t.Fatal("a released run still has values")
		}
		if _, err := first.Backward(map[string]*tensor.T{"y": tensor.New(1, 108)}, BackwardOptions{}); err == nil {
			t.Fatal("Backward on a released run")
		}
		if _, err := first.Rerun(map[string]*tensor.T{"x": x}, nil); err == nil {
			t.Fatal("Rerun on a released run")
		}
		// A live taped run that does not recycle, made now, keeps its values.
		other, err := g.Forward(map[string]*tensor.T{"x": input(k + 1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		otherY := append([]float32(nil), other.Output(0).F32()...)
		second, err := g.Forward(map[string]*tensor.T{"x": x}, &Options{Recycle: true})
		if err != nil {
			t.Fatal(err)
		}
		reused := 0
		for p := range second.owned {
			if firstOwned[p] {
				reused++
			}
			if p == &keptSlice[0] {
				t.Fatal("a kept slice was handed out again")
			}
		}
		if reused == 0 || second.Reused() == 0 {
			t.Fatalf("the second pass reused %d of the released buffers (%d floats)", reused, second.Reused())
		}
		for _, name := range []string{"c1", "r1", "v1", "c2", "r2", "s", "a", "y"} {
			bitsEqual(t, name, second.Value(name), fresh.Value(name))
		}
		gotGrads := grads(second)
		for _, name := range []string{"x", "r1"} {
			bitsEqual(t, "gradient of "+name, gotGrads[name], wantGrads[name])
		}
		for i, v := range kept {
			if math.Float32bits(keptSlice[i]) != math.Float32bits(v) {
				t.Fatalf("kept value %d changed", i)
			}
		}
		bitsEqual(t, "the other run's output", other.Output(0), tensor.FromF32(otherY, len(otherY)))
		second.Release()
	}
}
