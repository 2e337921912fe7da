package model

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestInferredShapesMatchForward: for every model at hand, the layer
// shapes inferred from the ops' rules (what Layers uses, without running
// the model) are the shapes a forward pass on a zero image produces, for
// every value of the graph.
func TestInferredShapesMatchForward(t *testing.T) {
	paths := []string{
		filepath.Join("..", "..", "models", "shapes.onnx"),
		filepath.Join("..", "..", "models", "fashion.onnx"),
	}
	for _, o := range []struct{ name, file string }{
		{"tinycnn", "model.onnx"}, {"tinycnn", "model_bn.onnx"}, {"resnet18", "model_bn.onnx"}, {"convnext-small", "model.onnx"},
	} {
		paths = append(paths, filepath.Join(oracle.Dir(), o.name, o.file))
	}
	for _, p := range paths {
		m, err := LoadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		shape, err := m.ConcreteInputShape(1)
		if err != nil {
			t.Fatal(err)
		}
		inferred, ok := m.Graph.InferShapes(map[string][]int{m.Input: shape})
		if !ok {
			t.Errorf("%s: shapes not inferred", p)
			continue
		}
		computed, err := m.forwardShapes(shape)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, node := range m.Graph.Nodes {
			for _, o := range node.Outputs {
				want, have := computed[o]
				if !have {
					continue
				}
				n++
				if got := inferred[o]; !slices.Equal(got, want) {
					t.Errorf("%s: %s (%s) inferred %v, computed %v", p, o, node.OpType, got, want)
				}
			}
		}
		if n < len(m.Graph.Nodes) {
			t.Errorf("%s: %d values compared for %d nodes", p, n, len(m.Graph.Nodes))
		}
		layers, err := m.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			if l.Shape == nil {
				t.Errorf("%s: layer %s has no shape", p, l.Output)
			}
		}
		t.Logf("%s: %d values, shapes inferred = computed", filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p), n)
	}
}

// A model whose parameters do not fit its input (a bias of the wrong
// length, batch-norm statistics for other channels, a Gemm whose operands
// do not multiply) is not given shapes by the rules, and Layers reports the
// forward pass's error, as when it always ran the model.
func TestLayersOfBrokenModels(t *testing.T) {
	conv := func() []*graph.Node {
		op, err := ops.New("Conv", ops.MapAttrs{"pads": []int64{1, 1, 1, 1}}, 13)
		if err != nil {
			t.Fatal(err)
		}
		return []*graph.Node{{Name: "conv", OpType: "Conv", Op: op, Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}}}
	}
	bn := func() []*graph.Node {
		op, err := ops.New("BatchNormalization", ops.MapAttrs{}, 13)
		if err != nil {
			t.Fatal(err)
		}
		return []*graph.Node{{Name: "bn", OpType: "BatchNormalization", Op: op, Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"}}}
	}
	gemm := func() []*graph.Node {
		op, err := ops.New("Gemm", ops.MapAttrs{"transB": int64(1)}, 13)
		if err != nil {
			t.Fatal(err)
		}
		fl, err := ops.New("Flatten", ops.MapAttrs{}, 13)
		if err != nil {
			t.Fatal(err)
		}
		return []*graph.Node{
			{Name: "flat", OpType: "Flatten", Op: fl, Inputs: []string{"x"}, Outputs: []string{"f"}},
			{Name: "fc", OpType: "Gemm", Op: op, Inputs: []string{"f", "w"}, Outputs: []string{"y"}},
		}
	}
	for _, c := range []struct {
		name   string
		nodes  []*graph.Node
		consts map[string]*tensor.T
		want   string
	}{
		{"conv bias", conv(), map[string]*tensor.T{"w": tensor.New(4, 3, 3, 3), "b": tensor.New(5)}, "bias"},
		{"batch norm", bn(), map[string]*tensor.T{"s": tensor.New(3), "b": tensor.New(3), "m": tensor.New(2), "v": tensor.New(3)}, "BatchNormalization"},
		{"gemm", gemm(), map[string]*tensor.T{"w": tensor.New(10, 7)}, "Gemm"},
	} {
		g, err := graph.New(c.nodes, []graph.Input{{Name: "x", Shape: []int{1, 3, 8, 8}}}, []string{"y"}, c.consts, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := &Model{Graph: g, Input: "x", InputShape: []int{1, 3, 8, 8}, Output: "y"}
		if _, ok := g.InferShapes(map[string][]int{"x": {1, 3, 8, 8}}); ok {
			t.Errorf("%s: shapes inferred for a model that cannot run", c.name)
		}
		_, err = m.Layers()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Layers error %v, want one naming %q", c.name, err, c.want)
		}
	}
}
