// Package model loads an ONNX classifier into an executable graph and
// describes it: its input, its layers with their shapes, the parameter
// count, and the layer Grad-CAM should look at by default.
package model

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// MaxTensorBytes caps any single weight tensor in a model file.
const MaxTensorBytes = 1 << 30

// maxOpset is the newest default-domain opset the engine reads.
const maxOpset = 25

// Errors a caller may tell apart with errors.Is (their text is the message).
var (
	// ErrDynamicSizes: the model's input has no fixed C×H×W, so the caller
	// has to give the input size.
	ErrDynamicSizes = errors.New("model: dynamic input sizes")
	// ErrBadLayer: a layer name that names no layer of the model, or a
	// layer that does not fit what was asked of it (not a convolution, no
	// spatial map, …).
	ErrBadLayer = errors.New("model: bad layer")
)

// Model is a loaded network with one float image input and its outputs.
type Model struct {
	Graph      *graph.Graph
	Input      string // the image input's name
	InputShape []int  // declared shape; -1 marks a dynamic dim (usually the batch)
	Output     string // the first output (logits)
	Opset      int
	Producer   string
	Metadata   map[string]string

	layers []Layer // filled by Layers
}

// Layer is one node of the network with the shape of its first output for a
// batch of one.
type Layer struct {
	Node   string // node name
	Op     string
	Output string // value name
	Shape  []int
}

// LoadFile reads and loads an ONNX file.
func LoadFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return Load(data)
}

// Load builds a model from the bytes of an ONNX file.
func Load(data []byte) (*Model, error) {
	pm, err := onnx.Decode(data, onnx.DecodeOptions{MaxTensorBytes: MaxTensorBytes})
	if err != nil {
		return nil, err
	}
	gr, err := BuildGraph(pm)
	if err != nil {
		return nil, err
	}
	inputs := gr.Inputs
	if len(inputs) != 1 {
		names := make([]string, len(inputs))
		for k, in := range inputs {
			names[k] = in.Name
		}
		return nil, fmt.Errorf("onnx: the model has %d inputs (%s); cnnlens needs exactly one image input", len(inputs), strings.Join(names, ", "))
	}
	if inputs[0].Shape != nil && len(inputs[0].Shape) != 4 {
		return nil, fmt.Errorf("onnx: input %q has rank %d; cnnlens needs an N×C×H×W image input", inputs[0].Name, len(inputs[0].Shape))
	}
	// The model's weights are its own (decoded from data) and nothing
	// writes to them: frozen, a Conv keeps them packed without checking
	// them for changes at every pass.
	for _, t := range gr.Consts {
		t.Freeze()
	}
	return &Model{
		Graph: gr, Input: inputs[0].Name, InputShape: inputs[0].Shape, Output: gr.Outputs[0],
		Opset: pm.Opset, Producer: pm.Producer, Metadata: pm.Metadata,
	}, nil
}

// ConcreteInputShape is the input shape for a batch of n, with any other
// dynamic dims an error.
func (m *Model) ConcreteInputShape(n int) ([]int, error) {
	if m.InputShape == nil {
		return nil, kind.Errorf(ErrDynamicSizes, "model: input %q has no declared shape", m.Input)
	}
	s := append([]int(nil), m.InputShape...)
	s[0] = n
	for k, d := range s[1:] {
		if d <= 0 {
			return nil, kind.Errorf(ErrDynamicSizes, "model: input %q has a dynamic dimension %d; give the input size", m.Input, k+1)
		}
	}
	return s, nil
}

// Forward runs the model on an input batch.
func (m *Model) Forward(x *tensor.T, opt *graph.Options) (*graph.Run, error) {
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("model: input must be float32, got %s", x.DType())
	}
	return m.Graph.Forward(map[string]*tensor.T{m.Input: x}, opt)
}

// Layers lists every node with the shape of its first output, found by one
// forward pass over a zero image (computed once and cached).
func (m *Model) Layers() ([]Layer, error) {
	if m.layers != nil {
		return m.layers, nil
	}
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		return nil, err
	}
	shapes, ok := m.Graph.InferShapes(map[string][]int{m.Input: shape})
	if !ok {
		shapes, err = m.forwardShapes(shape)
		if err != nil {
			return nil, err
		}
	}
	for _, n := range m.Graph.Nodes {
		l := Layer{Node: n.Name, Op: n.OpType}
		if len(n.Outputs) > 0 {
			l.Output = n.Outputs[0]
			l.Shape = shapes[l.Output]
		}
		m.layers = append(m.layers, l)
	}
	return m.layers, nil
}

// forwardShapes runs the model on a zero image to learn every value's
// shape: the way for graphs whose shapes cannot be inferred from the ops'
// rules, and the check of those rules in the tests.
func (m *Model) forwardShapes(input []int) (map[string][]int, error) {
	run, err := m.Forward(tensor.New(input...), nil)
	if err != nil {
		return nil, err
	}
	shapes := map[string][]int{}
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			if v := run.Value(o); v != nil {
				shapes[o] = v.Shape()
			}
		}
	}
	return shapes, nil
}

// SuggestedLayer is the last layer with a spatial map (N×C×H×W with H
// and W > 1) other than the model's output (a segmentation model's map):
// the output of the last convolutional block, where Grad-CAM looks by
// default. (A 1×W "map" is usually a channels-last vector, as ConvNeXt's
// head normalises its pooled N×1×1×C features.)
func (m *Model) SuggestedLayer() (string, error) {
	layers, err := m.Layers()
	if err != nil {
		return "", err
	}
	for i := len(layers) - 1; i >= 0; i-- {
		s := layers[i].Shape
		if len(s) == 4 && s[2] > 1 && s[3] > 1 && layers[i].Output != m.Output {
			return layers[i].Output, nil
		}
	}
	return "", fmt.Errorf("model: no layer has a spatial map")
}

// ResolveLayer accepts a value name or a node name and returns the value
// name; an unknown name gets an error listing the layers.
func (m *Model) ResolveLayer(name string) (string, error) {
	v, err := m.Graph.ResolveValue(name)
	if err == nil {
		return v, nil
	}
	var names []string
	for _, n := range m.Graph.Nodes {
		if len(n.Outputs) > 0 {
			names = append(names, n.Outputs[0])
		}
	}
	const maxList = 400
	if len(names) > maxList {
		names = append(names[:maxList], "…")
	}
	return "", kind.Errorf(ErrBadLayer, "no layer named %q; the layers are: %s", name, strings.Join(names, ", "))
}

// BuildGraph turns a decoded ONNX model into an executable graph, with any
// number of inputs and outputs (the conformance tests need that; Load then
// checks for one image input).
func BuildGraph(pm *onnx.Model) (*graph.Graph, error) {
	g := pm.Graph
	if g == nil {
		return nil, fmt.Errorf("onnx: no graph in model")
	}
	opset := pm.Opset
	if opset == 0 {
		return nil, fmt.Errorf("onnx: the model imports no default-domain opset")
	}
	// Opsets 22 to 25 changed the ops the engine has only by admitting
	// more element types (bfloat16, 4-, 8- and 2-bit types); their new ops
	// (RMSNormalization, Swish; not Attention or RotaryEmbedding) are ops
	// like any other.
	if opset > maxOpset {
		return nil, fmt.Errorf("onnx: opset %d is newer than the engine knows (up to %d)", opset, maxOpset)
	}
	consts := map[string]*tensor.T{}
	for name, t := range g.Initializers {
		consts[name] = t
	}
	nonParam := map[string]bool{}
	var nodes []*graph.Node
	seenNames := map[string]bool{}
	for i, n := range g.Nodes {
		name := n.Name
		if name == "" || seenNames[name] {
			name = fmt.Sprintf("%s_%d", n.OpType, i)
		}
		seenNames[name] = true
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return nil, kind.Errorf(ops.ErrUnsupportedOp, "onnx: node %q: unsupported op %q from domain %q", name, n.OpType, n.Domain)
		}
		var attrs ops.Attrs = n.Attrs
		if n.OpType == "QuantizeLinear" && len(n.Inputs) > 2 && n.Inputs[2] != "" {
			// Its output type is its zero point's, which the engine's
			// int64 tensors do not keep: the file says it.
			t := zeroPointType(g, n.Inputs[2])
			if t == 0 {
				return nil, fmt.Errorf("onnx: node %q: the file does not say the type of QuantizeLinear's zero point %q", name, n.Inputs[2])
			}
			attrs = extraAttr{attrs, ops.QuantizeOutputType, int64(t)}
		}
		if n.OpType == "Split" && !n.Attrs.Has("num_outputs") {
			// Before opset 18 an even Split takes its part count from the
			// node's outputs, which an op cannot see.
			attrs = extraAttr{attrs, "num_outputs", int64(len(n.Outputs))}
		}
		op, err := ops.New(n.OpType, attrs, opset)
		if err != nil {
			return nil, fmt.Errorf("onnx: node %q: %w", name, err)
		}
		if n.OpType == "BatchNormalization" {
			for _, in := range n.Inputs[min(3, len(n.Inputs)):] {
				nonParam[in] = true
			}
		}
		nodes = append(nodes, &graph.Node{Name: name, OpType: n.OpType, Op: op, Inputs: n.Inputs, Outputs: n.Outputs})
	}
	var inputs []graph.Input
	for _, in := range g.Inputs {
		if _, isInit := g.Initializers[in.Name]; isInit {
			continue
		}
		var shape []int
		if in.HasShape {
			shape = make([]int, len(in.Shape))
			for k, d := range in.Shape {
				shape[k] = int(d)
			}
		}
		inputs = append(inputs, graph.Input{Name: in.Name, Shape: shape})
	}
	var outputs []string
	for _, o := range g.Outputs {
		outputs = append(outputs, o.Name)
	}
	if len(outputs) == 0 {
		return nil, fmt.Errorf("onnx: the model has no outputs")
	}
	var params []string
	for _, name := range g.InitOrder {
		if t := g.Initializers[name]; t != nil && t.DType() == tensor.Float32 && !nonParam[name] && t.Len() > 1 {
			params = append(params, name)
		}
	}
	gr, err := graph.New(nodes, inputs, outputs, consts, params)
	if err != nil {
		return nil, fmt.Errorf("onnx: %v", strings.TrimPrefix(err.Error(), "graph: "))
	}
	return gr, nil
}

// MACs counts the multiply-adds of the convolutions and matrix products in
// one forward pass for a batch of one (the usual convention for a network's
// cost; GFLOP/s figures use 2·MACs).
func (m *Model) MACs() (int64, error) {
	layers, err := m.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for i, n := range m.Graph.Nodes {
		switch n.OpType {
		case "Conv", "Gemm", "MatMul":
		default:
			continue
		}
		if len(n.Inputs) < 2 {
			continue
		}
		w := m.Graph.Consts[n.Inputs[1]]
		out := layers[i].Shape
		if w == nil || len(out) == 0 {
			continue
		}
		ws := w.Shape()
		switch n.OpType {
		case "Conv":
			// every output element costs (Cin/group)·kh·kw multiply-adds
			per := int64(tensor.Size(ws[1:]))
			total += int64(tensor.Size(out)) * per
		default:
			// out is M×N; K is the weight dim that is not N
			k := ws[0]
			if len(ws) == 2 && ws[0] == out[len(out)-1] {
				k = ws[1]
			}
			total += int64(tensor.Size(out)) * int64(k)
		}
	}
	return total, nil
}

// extraAttr adds one integer attribute to a node's attributes.
// zeroPointType is the ONNX data type of a value as the file gives it: an
// initializer's, a graph input's or a value_info's declared type, a
// Constant's tensor's, a Cast's target; 0 when it says nothing.
func zeroPointType(g *onnx.Graph, value string) int32 {
	if t, ok := g.InitTypes[value]; ok {
		return t
	}
	for _, list := range [][]onnx.ValueInfo{g.Inputs, g.ValueInfo} {
		for _, vi := range list {
			if vi.Name == value && vi.ElemType != 0 {
				return vi.ElemType
			}
		}
	}
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 || n.Outputs[0] != value {
			continue
		}
		switch n.OpType {
		case "Constant":
			return n.Attrs.TensorType("value")
		case "Cast":
			return int32(n.Attrs.Int("to", 0))
		}
	}
	return 0
}

type extraAttr struct {
	ops.Attrs
	name  string
	value int64
}

func (e extraAttr) Has(name string) bool { return name == e.name || e.Attrs.Has(name) }

func (e extraAttr) Int(name string, def int64) int64 {
	if name == e.name {
		return e.value
	}
	return e.Attrs.Int(name, def)
}
