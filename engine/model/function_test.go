package model

import (
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// A model written with a model-local function (as exporters that keep the
// module structure write one per module) loads and computes what the same
// network written flat computes; the function's attributes come from the
// call or the function's default.
func TestModelLocalFunctions(t *testing.T) {
	at := onnx.NewAttributes
	w1, w2 := tensor.New(4, 2, 3, 3), tensor.New(3, 4, 3, 3)
	for i := range w1.F32() {
		w1.F32()[i] = float32(i%7)/7 - 0.4
	}
	for i := range w2.F32() {
		w2.F32()[i] = float32(i%5)/5 - 0.3
	}
	init := map[string]*tensor.T{"w1": w1, "w2": w2}
	io := func(m *onnx.Model) *onnx.Model {
		m.Opset = 17
		m.OpsetImports = map[string]int64{"": 17, "local": 1}
		m.Graph.Initializers = init
		m.Graph.InitOrder = []string{"w1", "w2"}
		m.Graph.Inputs = []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 2, 8, 8})}
		m.Graph.Outputs = []onnx.ValueInfo{onnx.TensorValueInfo("y", []int64{1, 3})}
		return m
	}
	convRelu := &onnx.Function{
		Name: "ConvRelu", Domain: "local", Inputs: []string{"X", "W"}, Outputs: []string{"Y"},
		Defaults: at().SetInts("pads", 0, 0, 0, 0),
		Nodes: []*onnx.Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"X", "W"}, Outputs: []string{"c"}, Attrs: at().SetRef("pads", onnx.AttrInts, "pads")},
			{Name: "relu", OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"Y"}, Attrs: at()},
		},
	}
	head := []*onnx.Node{
		{Name: "gap", OpType: "GlobalAveragePool", Inputs: []string{"b"}, Outputs: []string{"g"}, Attrs: at()},
		{Name: "flat", OpType: "Flatten", Inputs: []string{"g"}, Outputs: []string{"y"}, Attrs: at()},
	}
	withFn := io(&onnx.Model{Functions: []*onnx.Function{convRelu}, Graph: &onnx.Graph{Nodes: append([]*onnx.Node{
		{Name: "block1", OpType: "ConvRelu", Domain: "local", Inputs: []string{"x", "w1"}, Outputs: []string{"a"}, Attrs: at().SetInts("pads", 1, 1, 1, 1)},
		{Name: "block2", OpType: "ConvRelu", Domain: "local", Inputs: []string{"a", "w2"}, Outputs: []string{"b"}, Attrs: at()},
	}, head...)}})
	flat := io(&onnx.Model{Graph: &onnx.Graph{Nodes: append([]*onnx.Node{
		{OpType: "Conv", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: at().SetInts("pads", 1, 1, 1, 1)},
		{OpType: "Relu", Inputs: []string{"c1"}, Outputs: []string{"a"}, Attrs: at()},
		{OpType: "Conv", Inputs: []string{"a", "w2"}, Outputs: []string{"c2"}, Attrs: at()},
		{OpType: "Relu", Inputs: []string{"c2"}, Outputs: []string{"b"}, Attrs: at()},
	}, head...)}})
	x := tensor.New(1, 2, 8, 8)
	for i := range x.F32() {
		x.F32()[i] = float32(i%11)/11 - 0.5
	}
	var ys [][]float32
	for _, pm := range []*onnx.Model{withFn, flat} {
		data, err := onnx.Encode(pm)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(data)
		if err != nil {
			t.Fatal(err)
		}
		run, err := m.Forward(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		ys = append(ys, run.Value(m.Output).F32())
	}
	if len(ys[0]) != 3 {
		t.Fatalf("output %v", ys[0])
	}
	for i := range ys[1] {
		if ys[0][i] != ys[1][i] {
			t.Fatalf("with a function %v, flat %v", ys[0], ys[1])
		}
	}

	// A function that calls itself, and a call with too many inputs.
	loop := &onnx.Function{Name: "Loopy", Domain: "local", Inputs: []string{"X"}, Outputs: []string{"Y"},
		Nodes: []*onnx.Node{{OpType: "Loopy", Domain: "local", Inputs: []string{"X"}, Outputs: []string{"Y"}, Attrs: at()}}}
	for _, c := range []struct {
		fn   *onnx.Function
		call *onnx.Node
		want string
	}{
		{loop, &onnx.Node{OpType: "Loopy", Domain: "local", Inputs: []string{"x"}, Outputs: []string{"b"}, Attrs: at()}, "calls itself"},
		{convRelu, &onnx.Node{OpType: "ConvRelu", Domain: "local", Inputs: []string{"x", "w1", "w2"}, Outputs: []string{"b"}, Attrs: at()}, "with 3 inputs"},
	} {
		bad := io(&onnx.Model{Functions: []*onnx.Function{c.fn}, Graph: &onnx.Graph{Nodes: append([]*onnx.Node{c.call}, head...)}})
		data, err := onnx.Encode(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.fn.Name, err, c.want)
		}
	}
}
