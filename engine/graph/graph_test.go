package graph

import (
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// mul multiplies its two inputs elementwise; sq squares its input. Enough
// to exercise fan-out, accumulation and every hook without real ops.
type mul struct{}

func (mul) Type() string { return "Mul" }
func (mul) Forward(in []*tensor.T) ([]*tensor.T, error) {
	out := tensor.New(in[0].Shape()...)
	for i := range out.F32() {
		out.F32()[i] = in[0].F32()[i] * in[1].F32()[i]
	}
	return []*tensor.T{out}, nil
}
func (mul) Backward(in, out, gy []*tensor.T, need []bool) ([]*tensor.T, error) {
	g := make([]*tensor.T, 2)
	for k := 0; k < 2; k++ {
		if need[k] {
			g[k] = tensor.New(in[k].Shape()...)
			for i := range g[k].F32() {
				g[k].F32()[i] = gy[0].F32()[i] * in[1-k].F32()[i]
			}
		}
	}
	return g, nil
}

type sq struct{}

func (sq) Type() string { return "Sq" }
func (sq) Forward(in []*tensor.T) ([]*tensor.T, error) {
	return mul{}.Forward([]*tensor.T{in[0], in[0]})
}
func (sq) Backward(in, out, gy []*tensor.T, need []bool) ([]*tensor.T, error) {
	g := tensor.New(in[0].Shape()...)
	for i := range g.F32() {
		g.F32()[i] = 2 * in[0].F32()[i] * gy[0].F32()[i]
	}
	return []*tensor.T{g}, nil
}

// y = sq(x) * (x * w), given out of order: dy/dx = 3x²w, dy/dw = x³.
func testGraph(t *testing.T) *Graph {
	t.Helper()
	nodes := []*Node{
		{Name: "prod", OpType: "Mul", Op: mul{}, Inputs: []string{"a", "b"}, Outputs: []string{"y"}},
		{Name: "square", OpType: "Sq", Op: sq{}, Inputs: []string{"x"}, Outputs: []string{"a"}},
		{Name: "scale", OpType: "Mul", Op: mul{}, Inputs: []string{"x", "w"}, Outputs: []string{"b"}},
	}
	w := tensor.FromF32([]float32{2, 3}, 2)
	g, err := New(nodes, []Input{{Name: "x", Shape: []int{2}}}, []string{"y"}, map[string]*tensor.T{"w": w}, []string{"w"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestForwardBackward(t *testing.T) {
	g := testGraph(t)
	if g.Nodes[0].Name != "square" || g.Nodes[2].Name != "prod" {
		t.Fatalf("not topologically sorted: %s %s %s", g.Nodes[0].Name, g.Nodes[1].Name, g.Nodes[2].Name)
	}
	x := tensor.FromF32([]float32{1, -2}, 2)
	r, err := g.Forward(map[string]*tensor.T{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if y := r.Output(0).F32(); y[0] != 2 || y[1] != -24 {
		t.Fatalf("forward: %v", y)
	}
	seed := tensor.FromF32([]float32{1, 1}, 2)
	grads, err := r.Backward(map[string]*tensor.T{"y": seed}, BackwardOptions{Wrt: []string{"x", "w", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if gx := grads["x"].F32(); gx[0] != 6 || gx[1] != 36 {
		t.Errorf("dy/dx = %v, want [6 36]", gx)
	}
	if gw := grads["w"].F32(); gw[0] != 1 || gw[1] != -8 {
		t.Errorf("dy/dw = %v, want [1 -8]", gw)
	}
	if ga := grads["a"].F32(); ga[0] != 2 || ga[1] != -6 {
		t.Errorf("dy/da = %v, want [2 -6]", ga)
	}
	// Only x wanted: the weight gradient is not computed.
	grads, _ = r.Backward(map[string]*tensor.T{"y": seed}, BackwardOptions{Wrt: []string{"a"}})
	if _, ok := grads["w"]; ok {
		t.Error("gradient for w computed though not asked for")
	}
}

func TestHooks(t *testing.T) {
	g := testGraph(t)
	x := tensor.FromF32([]float32{1, -2}, 2)
	// Override: zero the value "a" as it is computed.
	r, err := g.Forward(map[string]*tensor.T{"x": x}, &Options{Override: func(name string, v *tensor.T) *tensor.T {
		if name == "a" {
			return tensor.New(v.Shape()...)
		}
		return v
	}})
	if err != nil || r.Output(0).F32()[1] != 0 {
		t.Fatalf("override: %v %v", err, r.Output(0).F32())
	}
	// Replace: the Sq node's backward passes nothing.
	r, _ = g.Forward(map[string]*tensor.T{"x": x}, nil)
	seed := tensor.FromF32([]float32{1, 1}, 2)
	grads, err := r.Backward(map[string]*tensor.T{"y": seed}, BackwardOptions{Wrt: []string{"x"},
		Replace: func(n *Node, in, out, gy []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
			if n.OpType == "Sq" {
				return []*tensor.T{tensor.New(2)}, true, nil
			}
			return nil, false, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Only the x·w path remains: d/dx (a·x·w) with a fixed = a·w.
	if gx := grads["x"].F32(); gx[0] != 2 || gx[1] != 12 {
		t.Errorf("replaced backward: %v, want [2 12]", gx)
	}
	// Rerun with b replaced recomputes only "prod".
	r2, err := r.Rerun(map[string]*tensor.T{"b": tensor.FromF32([]float32{1, 1}, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if y := r2.Output(0).F32(); y[0] != 1 || y[1] != 4 {
		t.Errorf("rerun: %v, want [1 4]", y)
	}
	if r2.Value("a") != r.Value("a") {
		t.Error("rerun recomputed an upstream value")
	}
	// NoTape keeps only outputs and Keep.
	r3, _ := g.Forward(map[string]*tensor.T{"x": x}, &Options{NoTape: true, Keep: []string{"b"}})
	if r3.Values["a"] != nil || r3.Values["b"] == nil || r3.Output(0) == nil {
		t.Error("NoTape did not free intermediates as documented")
	}
	if _, err := r3.Backward(map[string]*tensor.T{"y": seed}, BackwardOptions{Wrt: []string{"x"}}); err == nil {
		t.Error("backward after NoTape must fail")
	}
}

func TestGraphErrors(t *testing.T) {
	cyc := []*Node{
		{Name: "n1", OpType: "Sq", Op: sq{}, Inputs: []string{"b"}, Outputs: []string{"a"}},
		{Name: "n2", OpType: "Sq", Op: sq{}, Inputs: []string{"a"}, Outputs: []string{"b"}},
	}
	if _, err := New(cyc, []Input{{Name: "x"}}, []string{"a"}, nil, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	missing := []*Node{{Name: "n1", OpType: "Sq", Op: sq{}, Inputs: []string{"nope"}, Outputs: []string{"a"}}}
	if _, err := New(missing, []Input{{Name: "x"}}, []string{"a"}, nil, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing input: %v", err)
	}
	g := testGraph(t)
	if _, err := g.Forward(map[string]*tensor.T{"x": tensor.New(3)}, nil); err == nil || !strings.Contains(err.Error(), "expects 2") {
		t.Errorf("wrong input shape: %v", err)
	}
	if v, err := g.ResolveValue("square"); err != nil || v != "a" {
		t.Errorf("node name → value: %q %v", v, err)
	}
}
