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
