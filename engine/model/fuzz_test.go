package model

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func seqF32(n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = scale * float32(math.Sin(float64(i)*0.7+0.3))
	}
	return out
}

// smallModels are small classifiers written with onnx.Encode, between
// them using the ops and attribute kinds the exporters write: a CNN
// (Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool, Reshape
// with a shape initializer, Gemm), and a graph with a Constant node, an
// opset-13 Split without num_outputs, Concat, Add, a call of a model-local
// function (a Mul), Flatten, MatMul and Softmax on a fixed input.
func smallModels(tb testing.TB) [][]byte {
	cnn := &onnx.Model{
		IRVersion: 8, Opset: 13, Producer: "cnnlens-test", Metadata: map[string]string{"labels": "a,b,c"},
		Graph: &onnx.Graph{
			Name: "cnn",
			Initializers: map[string]*tensor.T{
				"w":     tensor.FromF32(seqF32(4*2*3*3, 0.5), 4, 2, 3, 3),
				"b":     tensor.FromF32(seqF32(4, 0.1), 4),
				"s":     tensor.FromF32([]float32{1, 0.5, 2, 1.5}, 4),
				"o":     tensor.FromF32([]float32{0, 0.1, -0.1, 0.2}, 4),
				"m":     tensor.FromF32([]float32{0.1, -0.2, 0.3, 0}, 4),
				"v":     tensor.FromF32([]float32{1, 2, 0.5, 1.5}, 4),
				"fc":    tensor.FromF32(seqF32(3*4, 1), 3, 4),
				"fcb":   tensor.FromF32([]float32{0.1, 0.2, 0.3}, 3),
				"shape": tensor.FromI64([]int64{-1, 4}, 2),
			},
			InitOrder: []string{"w", "b", "s", "o", "m", "v", "fc", "fcb", "shape"},
			Nodes: []*onnx.Node{
				{Name: "/conv/Conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"},
					Attrs: onnx.NewAttributes().SetInts("kernel_shape", 3, 3).SetInts("pads", 1, 1, 1, 1).SetInts("strides", 1, 1)},
				{Name: "/bn", OpType: "BatchNormalization", Inputs: []string{"c", "s", "o", "m", "v"}, Outputs: []string{"n"},
					Attrs: onnx.NewAttributes().SetFloat("epsilon", 1e-5)},
				{Name: "/relu", OpType: "Relu", Inputs: []string{"n"}, Outputs: []string{"r"}, Attrs: onnx.NewAttributes()},
				{Name: "/pool", OpType: "MaxPool", Inputs: []string{"r"}, Outputs: []string{"p"},
					Attrs: onnx.NewAttributes().SetInts("kernel_shape", 2, 2).SetInts("strides", 2, 2)},
				{Name: "/gap", OpType: "GlobalAveragePool", Inputs: []string{"p"}, Outputs: []string{"g"}, Attrs: onnx.NewAttributes()},
				{Name: "/flat", OpType: "Reshape", Inputs: []string{"g", "shape"}, Outputs: []string{"f"}, Attrs: onnx.NewAttributes()},
				{Name: "/fc", OpType: "Gemm", Inputs: []string{"f", "fc", "fcb"}, Outputs: []string{"logits"},
					Attrs: onnx.NewAttributes().SetFloat("alpha", 1).SetFloat("beta", 1).SetInt("transB", 1)},
			},
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{-1, 2, 6, 6}, "N")},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("logits", []int64{-1, 3})},
		},
	}
	mixed := &onnx.Model{
		IRVersion: 8, Opset: 13, Producer: "cnnlens-test", OpsetImports: map[string]int64{"": 13, "local": 1},
		Functions: []*onnx.Function{{Name: "Scale", Domain: "local", Inputs: []string{"A", "B"}, Outputs: []string{"C"},
			Nodes: []*onnx.Node{{Name: "mul", OpType: "Mul", Inputs: []string{"A", "B"}, Outputs: []string{"C"}, Attrs: onnx.NewAttributes()}}}},
		Graph: &onnx.Graph{
			Name: "mixed",
			Initializers: map[string]*tensor.T{
				"w": tensor.FromF32(seqF32(8*5, 1), 8, 5),
			},
			InitOrder: []string{"w"},
			Nodes: []*onnx.Node{
				{Name: "k", OpType: "Constant", Outputs: []string{"k"},
					Attrs: onnx.NewAttributes().SetTensor("value", tensor.FromF32([]float32{0.5}, 1))},
				{Name: "split", OpType: "Split", Inputs: []string{"x"}, Outputs: []string{"a", "b"},
					Attrs: onnx.NewAttributes().SetInt("axis", 2)},
				{Name: "cat", OpType: "Concat", Inputs: []string{"b", "a"}, Outputs: []string{"c"},
					Attrs: onnx.NewAttributes().SetInt("axis", 2)},
				{Name: "add", OpType: "Add", Inputs: []string{"c", "x"}, Outputs: []string{"s"}, Attrs: onnx.NewAttributes()},
				{Name: "scale", OpType: "Scale", Domain: "local", Inputs: []string{"s", "k"}, Outputs: []string{"m"}, Attrs: onnx.NewAttributes()},
				{Name: "flat", OpType: "Flatten", Inputs: []string{"m"}, Outputs: []string{"f"}, Attrs: onnx.NewAttributes().SetInt("axis", 1)},
				{Name: "mm", OpType: "MatMul", Inputs: []string{"f", "w"}, Outputs: []string{"y"}, Attrs: onnx.NewAttributes()},
				{Name: "sm", OpType: "Softmax", Inputs: []string{"y"}, Outputs: []string{"prob"}, Attrs: onnx.NewAttributes().SetInt("axis", -1)},
			},
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 1, 4, 2})},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("prob", []int64{1, 5})},
		},
	}
	var out [][]byte
	for _, m := range []*onnx.Model{cnn, mixed} {
		data, err := onnx.Encode(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// loadSeeds are the small models above, the oracle's tinycnn files, and
// truncated and corrupted copies of them.
func loadSeeds(tb testing.TB) [][]byte {
	seeds := smallModels(tb)
	for _, f := range []string{"model.onnx", "model_probe.onnx"} {
		data, err := os.ReadFile(filepath.Join(oracle.Dir(), "tinycnn", f))
		if err != nil {
			tb.Fatalf("shared oracle file missing: %v", err)
		}
		seeds = append(seeds, data)
	}
	n := len(seeds)
	for _, s := range seeds[:n] {
		seeds = append(seeds, s[:len(s)/2], s[:len(s)-1])
		flipped := append([]byte(nil), s...)
		flipped[len(s)/3] ^= 0x40
		seeds = append(seeds, flipped)
	}
	return seeds
}

// FuzzLoad feeds Load, the loader of the CLI and the page (decoding,
// building the executable graph, the checks of a classifier), with any
// bytes, and infers the layer shapes of what it loads, as Layers does
// before running anything: no panic, and errors that say "onnx:" or
// "model:".
//
//	go test -run XXX -fuzz '^FuzzLoad$' -fuzztime 10m -parallel 1 ./engine/model/
func FuzzLoad(f *testing.F) {
	for _, s := range loadSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onnx: ") && !strings.HasPrefix(err.Error(), "model: ") {
				t.Fatalf("error without a prefix: %v", err)
			}
			return
		}
		if m.Graph == nil || m.Input == "" || m.Output == "" {
			t.Fatalf("loaded model without graph, input or output: %+v", m)
		}
		shape, err := m.ConcreteInputShape(1)
		if err != nil {
			return
		}
		m.Graph.InferShapes(map[string][]int{m.Input: shape})
		m.ResolveLayer(m.Output)
	})
}

// The seeds load, but for their truncated and corrupted copies.
func TestLoadSeeds(t *testing.T) {
	for k, s := range loadSeeds(t)[:4] {
		m, err := Load(s)
		if err != nil {
			t.Fatalf("seed %d: %v", k, err)
		}
		if _, err := m.Layers(); err != nil {
			t.Errorf("seed %d: %v", k, err)
		}
	}
}

// A few bytes of model can ask for a huge constant to be folded at load
// time; Load refuses it before allocating.
func TestLoadRefusesHugeFoldedConstants(t *testing.T) {
	const n = 1 << 14
	ones := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	for _, c := range []struct {
		name  string
		init  map[string]*tensor.T
		node  *onnx.Node
		extra []string // more inputs of the final Add besides the node's output
	}{
		{"ConstantOfShape", map[string]*tensor.T{"s": tensor.FromI64([]int64{1 << 20, 1 << 20, 1 << 10}, 3)},
			&onnx.Node{Name: "c", OpType: "ConstantOfShape", Inputs: []string{"s"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Pad", map[string]*tensor.T{"d": tensor.FromF32([]float32{1}, 1), "p": tensor.FromI64([]int64{1 << 40, 1 << 40}, 2)},
			&onnx.Node{Name: "c", OpType: "Pad", Inputs: []string{"d", "p"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Gather", map[string]*tensor.T{"d": tensor.FromF32(ones(n), 1, n), "i": tensor.FromI64(make([]int64, n/2), n/2)},
			&onnx.Node{Name: "c", OpType: "Gather", Inputs: []string{"d", "i"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Add", map[string]*tensor.T{"a": tensor.FromF32(ones(n), n, 1), "b": tensor.FromF32(ones(n), 1, n)},
			&onnx.Node{Name: "c", OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"MatMul", map[string]*tensor.T{"a": tensor.FromF32(ones(n), n, 1), "b": tensor.FromF32(ones(n), 1, n)},
			&onnx.Node{Name: "c", OpType: "MatMul", Inputs: []string{"a", "b"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Range", map[string]*tensor.T{"a": tensor.FromI64([]int64{0}), "b": tensor.FromI64([]int64{1 << 27}), "c": tensor.FromI64([]int64{1})},
			&onnx.Node{Name: "c", OpType: "Range", Inputs: []string{"a", "b", "c"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Expand", map[string]*tensor.T{"a": tensor.FromF32([]float32{1}, 1), "s": tensor.FromI64([]int64{1 << 20, 1 << 20}, 2)},
			&onnx.Node{Name: "c", OpType: "Expand", Inputs: []string{"a", "s"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"Resize", map[string]*tensor.T{"a": tensor.FromF32(ones(4), 1, 1, 2, 2), "s": tensor.FromI64([]int64{1, 1, 1 << 14, 1 << 14}, 4)},
			&onnx.Node{Name: "c", OpType: "Resize", Inputs: []string{"a", "", "", "s"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes()}, nil},
		{"ConvTranspose", map[string]*tensor.T{"a": tensor.FromF32(ones(4), 1, 1, 2, 2), "w": tensor.FromF32(ones(1), 1, 1, 1, 1)},
			&onnx.Node{Name: "c", OpType: "ConvTranspose", Inputs: []string{"a", "w"}, Outputs: []string{"k"}, Attrs: onnx.NewAttributes().SetInts("strides", 1<<14, 1<<14)}, nil},
	} {
		var order []string
		for k := range c.init {
			order = append(order, k)
		}
		m := &onnx.Model{IRVersion: 8, Opset: 13, Graph: &onnx.Graph{
			Name: "huge", Initializers: c.init, InitOrder: order,
			Nodes:   []*onnx.Node{c.node, {Name: "add", OpType: "Add", Inputs: []string{"x", "k"}, Outputs: []string{"y"}, Attrs: onnx.NewAttributes()}},
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 1, 1, 1})},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("y", nil)},
		}}
		data, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = Load(data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
			t.Errorf("%s: %v", c.name, err)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
			t.Errorf("%s: %d bytes allocated to refuse it", c.name, a)
		}
	}
}
