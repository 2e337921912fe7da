package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

var _ ops.Attrs = (*Attributes)(nil)

// oracle returns the path of a file in the shared oracle folder
// (/work/shared/oracle, beside the repository).
func oracle(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "..", "shared", "oracle"}, parts...)...)
}

// readOracle reads a shared oracle file; a missing file fails the test.
func readOracle(t testing.TB, parts ...string) []byte {
	t.Helper()
	p := oracle(parts...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("shared oracle file missing (it must be laid out beside the repository): %v", err)
	}
	return b
}

func decodeOracle(t testing.TB, parts ...string) *Model {
	t.Helper()
	m, err := Decode(readOracle(t, parts...), DecodeOptions{})
	if err != nil {
		t.Fatalf("%s: %v", filepath.Join(parts...), err)
	}
	return m
}

func opCounts(g *Graph) map[string]int {
	c := map[string]int{}
	for _, n := range g.Nodes {
		c[n.OpType]++
	}
	return c
}

// manifestOps reads the op counts the oracle's manifest gives for a file.
func manifestOps(t *testing.T, model, variant string) map[string]int {
	t.Helper()
	var man struct {
		ONNX map[string]struct {
			File string
			Ops  map[string]int
		}
	}
	if err := json.Unmarshal(readOracle(t, model, "manifest.json"), &man); err != nil {
		t.Fatalf("%s manifest: %v", model, err)
	}
	return man.ONNX[variant].Ops
}

func checkOps(t *testing.T, got, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("op counts %v, want %v", got, want)
	}
}

func checkShape(t *testing.T, g *Graph, name string, want ...int) *tensor.T {
	t.Helper()
	w := g.Initializers[name]
	if w == nil {
		t.Fatalf("no initializer %q (have %v)", name, g.InitOrder)
	}
	if !tensor.SameShape(w.Shape(), want) || w.DType() != tensor.Float32 {
		t.Errorf("initializer %q: %v, want float32 %v", name, w, want)
	}
	return w
}

func checkIO(t *testing.T, vis []ValueInfo, name string, shape ...int64) {
	t.Helper()
	if len(vis) != 1 || vis[0].Name != name || vis[0].ElemType != TypeFloat || !vis[0].HasShape ||
		fmt.Sprint(vis[0].Shape) != fmt.Sprint(shape) || vis[0].Kind != "tensor" {
		t.Errorf("graph values %+v, want one float tensor %q %v", vis, name, shape)
	}
}

func readF32(t *testing.T, parts ...string) []float32 {
	b := readOracle(t, parts...)
	out := make([]float32, len(b)/4)
	for k := range out {
		out[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
	}
	return out
}

func TestTinyCNN(t *testing.T) {
	m := decodeOracle(t, "tinycnn", "model.onnx")
	if m.Opset != 13 || m.OpsetImports[""] != 13 || m.Producer != "pytorch" || m.IRVersion < 7 {
		t.Errorf("model header: opset %d, imports %v, producer %q, IR %d", m.Opset, m.OpsetImports, m.Producer, m.IRVersion)
	}
	g := m.Graph
	want := map[string]int{"Conv": 3, "Relu": 3, "MaxPool": 1, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
	checkOps(t, opCounts(g), want)
	checkOps(t, opCounts(g), manifestOps(t, "tinycnn", "folded"))
	checkIO(t, g.Inputs, "input", 1, 3, 32, 32)
	checkIO(t, g.Outputs, "logits", 1, 10)

	checkShape(t, g, "conv1.weight", 8, 3, 3, 3)
	checkShape(t, g, "conv1.bias", 8)
	checkShape(t, g, "conv2.weight", 16, 8, 3, 3)
	checkShape(t, g, "conv3.weight", 16, 16, 3, 3)
	w := checkShape(t, g, "fc.weight", 10, 16)
	b := checkShape(t, g, "fc.bias", 10)
	if len(g.InitOrder) != 8 || len(g.Initializers) != 8 {
		t.Errorf("initializers %v", g.InitOrder)
	}

	conv := g.Nodes[0]
	if conv.OpType != "Conv" || conv.Name != "/conv1/Conv" ||
		fmt.Sprint(conv.Inputs) != "[input conv1.weight conv1.bias]" ||
		fmt.Sprint(conv.Attrs.Ints("kernel_shape", nil)) != "[3 3]" ||
		fmt.Sprint(conv.Attrs.Ints("pads", nil)) != "[1 1 1 1]" ||
		conv.Attrs.Int("group", 0) != 1 || conv.Attrs.Type("strides") != AttrInts {
		t.Errorf("first node %+v, attributes %v", conv, conv.Attrs.Names())
	}
	gemm := g.Nodes[len(g.Nodes)-1]
	if gemm.OpType != "Gemm" || gemm.Attrs.Int("transB", 0) != 1 || gemm.Attrs.Float("alpha", 0) != 1 {
		t.Errorf("last node %+v", gemm)
	}

	// The weights' values: the fc layer applied to the oracle's pooled
	// features must give its logits.
	gap := readF32(t, "tinycnn", "raw", "feat.gap.f32")
	logits := readF32(t, "tinycnn", "raw", "logits.f32")
	if len(gap) != 16 || len(logits) != 10 {
		t.Fatalf("oracle arrays: %d, %d values", len(gap), len(logits))
	}
	for o := range 10 {
		s := b.F32()[o]
		for i := range 16 {
			s += w.F32()[o*16+i] * gap[i]
		}
		if math.Abs(float64(s-logits[o])) > 1e-5 {
			t.Errorf("logit %d: fc(gap) = %v, oracle %v", o, s, logits[o])
		}
	}
}

func TestTinyCNNVariants(t *testing.T) {
	bn := decodeOracle(t, "tinycnn", "model_bn.onnx")
	checkOps(t, opCounts(bn.Graph), manifestOps(t, "tinycnn", "bn"))
	probe := decodeOracle(t, "tinycnn", "model_probe.onnx")
	var outs []string
	for _, o := range probe.Graph.Outputs {
		outs = append(outs, o.Name)
	}
	if fmt.Sprint(outs) != "[logits /relu3/Relu_output_0 /relu2/Relu_output_0]" {
		t.Errorf("probe outputs %v", outs)
	}
}

func TestResNet18(t *testing.T) {
	m := decodeOracle(t, "resnet18", "model_bn.onnx")
	if m.Opset != 13 {
		t.Errorf("opset %d", m.Opset)
	}
	g := m.Graph
	want := map[string]int{"Conv": 20, "BatchNormalization": 20, "Relu": 17, "Add": 8,
		"MaxPool": 1, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
	checkOps(t, opCounts(g), want)
	checkOps(t, opCounts(g), manifestOps(t, "resnet18", "bn"))
	checkIO(t, g.Inputs, "input", 1, 3, 224, 224)
	checkIO(t, g.Outputs, "logits", 1, 1000)

	params := 0
	for _, name := range g.InitOrder {
		params += g.Initializers[name].Len()
	}
	// torchvision ResNet-18: 11,689,512 parameters, plus BatchNorm running
	// statistics (2 × 4,800) kept as initializers; num_batches_tracked is
	// not exported.
	if params != 11689512+9600 {
		t.Errorf("%d parameter values in %d initializers", params, len(g.InitOrder))
	}
	conv := g.Nodes[0]
	if conv.OpType != "Conv" || fmt.Sprint(conv.Attrs.Ints("strides", nil)) != "[2 2]" ||
		fmt.Sprint(conv.Attrs.Ints("kernel_shape", nil)) != "[7 7]" {
		t.Errorf("first node %+v", conv)
	}
	checkShape(t, g, g.Nodes[0].Inputs[1], 64, 3, 7, 7)
	for _, n := range g.Nodes {
		if n.OpType == "BatchNormalization" {
			if len(n.Inputs) != 5 || n.Attrs.Float("epsilon", 0) <= 0 {
				t.Errorf("BatchNormalization node %+v", n)
			}
			for _, in := range n.Inputs[1:] {
				if w := g.Initializers[in]; w == nil || w.Rank() != 1 {
					t.Errorf("BatchNormalization %q input %q: %v", n.Name, in, w)
				}
			}
		}
		if n.OpType == "Gemm" {
			checkShape(t, g, n.Inputs[1], 1000, 512)
		}
	}
}

// The newer architectures decode with the op counts the reference's
// manifest lists, at opset 17, with one image input and one output.
func TestNewerArchitectures(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     int64
		output []int64
	}{
		{"convnext-small", 128, []int64{1, 10}},
		{"vit-tiny", 64, []int64{1, 10}},
		{"swin-tiny", 64, []int64{1, 10}},
		{"lraspp-seg", 128, []int64{1, 5, 128, 128}},
	} {
		m := decodeOracle(t, c.name, "model.onnx")
		if m.Opset != 17 {
			t.Errorf("%s: opset %d", c.name, m.Opset)
		}
		checkOps(t, opCounts(m.Graph), manifestOps(t, c.name, "folded"))
		checkIO(t, m.Graph.Inputs, "input", 1, 3, c.in, c.in)
		// Outputs may declare a symbolic batch dimension (written −1).
		outs := m.Graph.Outputs
		if len(outs) != 1 || outs[0].Name != "logits" || len(outs[0].Shape) != len(c.output) ||
			fmt.Sprint(outs[0].Shape[1:]) != fmt.Sprint(c.output[1:]) || (outs[0].Shape[0] != 1 && outs[0].Shape[0] != -1) {
			t.Errorf("%s: outputs %+v, want logits %v", c.name, outs, c.output)
		}
	}
}

func BenchmarkDecodeResNet18(b *testing.B) {
	data := readOracle(b, "resnet18", "model_bn.onnx")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data, DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleDecode() {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "oracle", "tinycnn", "model.onnx"))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := Decode(data, DecodeOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("opset", m.Opset)
	for _, n := range m.Graph.Nodes[:3] {
		fmt.Println(n.OpType, n.Inputs, "->", n.Outputs)
	}
	fmt.Println(m.Graph.Initializers["conv1.weight"])
	// Output:
	// opset 13
	// Conv [input conv1.weight conv1.bias] -> [/conv1/Conv_output_0]
	// Relu [/conv1/Conv_output_0] -> [/relu1/Relu_output_0]
	// MaxPool [/relu1/Relu_output_0] -> [/pool/MaxPool_output_0]
	// tensor(float32 8×3×3×3)
}
