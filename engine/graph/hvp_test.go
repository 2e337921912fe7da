package graph

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// curvedNet: conv → sigmoid → (·) tanh of itself → hard swish → exp → max pool → conv → relu
// → GAP → gemm, with the objective φ = ½ Σ y².
func curvedNet(t *testing.T) *Graph {
	t.Helper()
	rng := rand.New(rand.NewSource(3))
	randT := func(shape ...int) *tensor.T {
		v := tensor.New(shape...)
		for i := range v.F32() {
			v.F32()[i] = float32(rng.NormFloat64() * 0.5)
		}
		return v
	}
	node := func(typ, name string, attrs ops.MapAttrs, in []string, out ...string) *Node {
		op, err := ops.New(typ, attrs, 13)
		if err != nil {
			t.Fatal(err)
		}
		return &Node{Name: name, OpType: typ, Op: op, Inputs: in, Outputs: out}
	}
	pads := ops.MapAttrs{"pads": []int64{1, 1, 1, 1}}
	nodes := []*Node{
		node("Conv", "c1", pads, []string{"x", "w1", "b1"}, "a"),
		node("Sigmoid", "sg", nil, []string{"a"}, "s"),
		node("Tanh", "th", nil, []string{"s"}, "ts"),
		node("Mul", "mul", nil, []string{"s", "ts"}, "m"),
		node("HardSwish", "hs", nil, []string{"m"}, "hm"),
		node("Exp", "ex", nil, []string{"hm"}, "e"),
		node("MaxPool", "mp", ops.MapAttrs{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}}, []string{"e"}, "p"),
		node("Conv", "c2", pads, []string{"p", "w2", "b2"}, "c"),
		node("Relu", "r", nil, []string{"c"}, "cr"),
		node("GlobalAveragePool", "gap", nil, []string{"cr"}, "g"),
		node("Flatten", "fl", nil, []string{"g"}, "f"),
		node("Gemm", "fc", ops.MapAttrs{"transB": int64(1)}, []string{"f", "wf", "bf"}, "y"),
	}
	consts := map[string]*tensor.T{"w1": randT(4, 2, 3, 3), "b1": randT(4), "w2": randT(5, 4, 3, 3), "b2": randT(5), "wf": randT(3, 5), "bf": randT(3)}
	g, err := New(nodes, []Input{{Name: "x", Shape: []int{1, 2, 6, 6}}}, []string{"y"}, consts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The exact Hessian-vector product and tangents against central differences
// of the gradient and the output (float32 values: agreement to a few 1e-4).
// The seed keeps every ReLU input farther from its kink than the step
// moves it (checked below; other seeds put one there, and the difference
// then straddles the kink).
func TestHVPFiniteDifference(t *testing.T) {
	g := curvedNet(t)
	rng := rand.New(rand.NewSource(5))
	x := tensor.New(1, 2, 6, 6)
	dir := tensor.New(1, 2, 6, 6)
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
		dir.F32()[i] = float32(rng.NormFloat64())
	}
	grad := func(x *tensor.T) (*Run, []float32) {
		r, err := g.Forward(map[string]*tensor.T{"x": x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		y := r.Value("y")
		gr, err := r.Backward(map[string]*tensor.T{"y": y.Clone()}, BackwardOptions{Wrt: []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		return r, gr["x"].F32()
	}
	r, _ := grad(x)
	h, err := r.HVP(map[string]*tensor.T{"y": r.Value("y").Clone()},
		func(tan map[string]*tensor.T) (map[string]*tensor.T, error) {
			return map[string]*tensor.T{"y": tan["y"]}, nil
		},
		"x", dir, BackwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-2
	// The differences must not straddle a kink: every ReLU input stays
	// on its side over the step (the seed is chosen so; this checks it).
	tan0, err := r.Tangents("x", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range r.Value("c").F32() {
		if math.Abs(float64(c)) < 3*eps*math.Abs(float64(tan0["c"].F32()[i])) {
			t.Fatalf("ReLU input %d = %g moves by %g over the step: choose another seed", i, c, eps*tan0["c"].F32()[i])
		}
	}
	shift := func(s float32) *tensor.T {
		v := x.Clone()
		for i := range v.F32() {
			v.F32()[i] += s * dir.F32()[i]
		}
		return v
	}
	_, gp := grad(shift(eps))
	_, gm := grad(shift(-eps))
	var worst, scale float64
	for i, v := range h.F32() {
		fd := (float64(gp[i]) - float64(gm[i])) / (2 * eps)
		worst = math.Max(worst, math.Abs(float64(v)-fd))
		scale = math.Max(scale, math.Abs(fd))
	}
	t.Logf("HVP vs central difference: max difference %.3g of %.3g", worst, scale)
	if scale == 0 || worst > 2e-3*scale {
		t.Errorf("HVP differs from the central difference by %.3g (largest value %.3g)", worst, scale)
	}
	// The tangent of y equals (y(x+εd) − y(x−εd))/2ε.
	tan, err := r.Tangents("x", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := grad(shift(eps))
	rm, _ := grad(shift(-eps))
	for i, v := range tan["y"].F32() {
		fd := (float64(rp.Value("y").F32()[i]) - float64(rm.Value("y").F32()[i])) / (2 * eps)
		if math.Abs(float64(v)-fd) > 5e-3*math.Max(1, math.Abs(fd)) {
			t.Errorf("tangent of y[%d] = %g, central difference %g", i, v, fd)
		}
	}
}

func TestHVPUnsupportedOp(t *testing.T) {
	op, err := ops.New("Pow", ops.MapAttrs{}, 13)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New([]*Node{{Name: "pow", OpType: "Pow", Op: op, Inputs: []string{"x", "x"}, Outputs: []string{"y"}}},
		[]Input{{Name: "x", Shape: []int{1, 4}}}, []string{"y"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromF32([]float32{-1, 0.5, 1, 2}, 1, 4)
	r, err := g.Forward(map[string]*tensor.T{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.HVP(map[string]*tensor.T{"y": x.Clone()}, func(tan map[string]*tensor.T) (map[string]*tensor.T, error) { return tan, nil }, "x", x, BackwardOptions{})
	if err == nil {
		t.Fatal("Pow's second derivative: no error")
	}
	t.Log(err)
}
