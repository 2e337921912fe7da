package model

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
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
		{"tinycnn", "model.onnx"}, {"tinycnn", "model_bn.onnx"}, {"resnet18", "model_bn.onnx"},
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
