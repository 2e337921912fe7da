// Package train trains the bundled models with the engine itself: a plain
// CNN described by a Spec becomes an ONNX model (the same structure that is
// saved), the engine's graph runs it forward and backward, and a seeded,
// single-threaded SGD loop updates its weights in place.
//
// Nothing here differentiates by itself: gradients come from
// graph.Run.Backward with the parameters' names in Wrt, seeded with the
// softmax cross-entropy gradient on the logits.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Opset is the ONNX opset the models are written with.
const Opset = 13

// Input and Output name the graph's input and output values.
const (
	Input  = "input"
	Output = "logits"
)

// Spec describes a plain CNN: conv blocks (3×3 convolution without bias,
// BatchNorm, ReLU, an optional 2×2 max pool), global average pooling (or,
// with Flatten, none), flatten and a linear classifier.
type Spec struct {
	Channels, Height, Width int
	Blocks                  []Block
	Classes                 int
	// Flatten feeds the whole last feature map to the classifier instead
	// of its global average (keeps where a feature is, at the cost of
	// more weights).
	Flatten bool
}

// features is the classifier's input size.
func (s Spec) features() int {
	h, w := s.Height, s.Width
	for _, b := range s.Blocks {
		if b.Pool {
			h, w = h/2, w/2
		}
	}
	c := s.Blocks[len(s.Blocks)-1].Out
	if s.Flatten {
		return c * h * w
	}
	return c
}

// Block is one conv block: Out channels, then a 2×2 max pool when Pool.
type Block struct {
	Out  int
	Pool bool
}

// Net is a Spec with its parameters. Params holds every initializer, BN
// running statistics included; Trainable lists the ones SGD updates, in
// file order.
type Net struct {
	Spec      Spec
	Params    map[string]*tensor.T
	Order     []string
	Trainable []string
	// Decay says which trainable parameters get weight decay (conv and
	// linear weights, not BN scales and biases).
	Decay map[string]bool
}

// Names of a block's values and nodes, PyTorch-export style.
func blockName(i int) string { return fmt.Sprintf("block%d", i+1) }

// ReLUOutput is the value name of block i's ReLU output (0-based i).
func ReLUOutput(i int) string { return fmt.Sprintf("/%s/relu/Relu_output_0", blockName(i)) }

// DefaultLayer is the last block's ReLU output, where Grad-CAM looks.
func (s Spec) DefaultLayer() string { return ReLUOutput(len(s.Blocks) - 1) }

// NewNet initialises a network: conv weights with Kaiming-normal (fan-out,
// ReLU gain, as torchvision's ResNets), BN scale 1 and bias 0, running
// mean 0 and variance 1, the linear layer uniform(±1/√fan_in) like PyTorch.
func NewNet(s Spec, seed uint64) *Net {
	rng := rand.New(rand.NewPCG(seed, 0x6e6574))
	n := &Net{Spec: s, Params: map[string]*tensor.T{}, Decay: map[string]bool{}}
	add := func(name string, t *tensor.T, trainable, decay bool) {
		n.Params[name] = t
		n.Order = append(n.Order, name)
		if trainable {
			n.Trainable = append(n.Trainable, name)
		}
		if decay {
			n.Decay[name] = true
		}
	}
	in := s.Channels
	for i, b := range s.Blocks {
		p := blockName(i)
		w := tensor.New(b.Out, in, 3, 3)
		std := math.Sqrt(2 / float64(b.Out*9))
		for k := range w.F32() {
			w.F32()[k] = float32(rng.NormFloat64() * std)
		}
		add(p+".conv.weight", w, true, true)
		add(p+".bn.weight", filled(b.Out, 1), true, false)
		add(p+".bn.bias", filled(b.Out, 0), true, false)
		add(p+".bn.running_mean", filled(b.Out, 0), false, false)
		add(p+".bn.running_var", filled(b.Out, 1), false, false)
		in = b.Out
	}
	in = s.features()
	w := tensor.New(s.Classes, in)
	bias := tensor.New(s.Classes)
	bound := 1 / math.Sqrt(float64(in))
	for k := range w.F32() {
		w.F32()[k] = float32((2*rng.Float64() - 1) * bound)
	}
	for k := range bias.F32() {
		bias.F32()[k] = float32((2*rng.Float64() - 1) * bound)
	}
	add("fc.weight", w, true, true)
	add("fc.bias", bias, true, false)
	return n
}

func filled(n int, v float32) *tensor.T {
	t := tensor.New(n)
	for k := range t.F32() {
		t.F32()[k] = v
	}
	return t
}

// runningName is the training graph's value for a BN node's updated
// running statistic.
func runningName(param string) string { return param + "_updated" }

// ONNX returns the network as an ONNX model sharing the Net's tensors. With
// training, each BatchNormalization node has training_mode=1 and two more
// outputs, the updated running mean and variance (named by runningName);
// that graph is for the trainer only, the saved one is the inference graph.
func (n *Net) ONNX(training bool) *onnx.Model {
	s := n.Spec
	g := &onnx.Graph{Name: "cnnlens", Initializers: map[string]*tensor.T{}}
	for _, name := range n.Order {
		g.Initializers[name] = n.Params[name]
		g.InitOrder = append(g.InitOrder, name)
	}
	node := func(name, op string, in []string, attrs *onnx.Attributes, out ...string) string {
		if attrs == nil {
			attrs = onnx.NewAttributes()
		}
		if len(out) == 0 {
			out = []string{name + "_output_0"}
		}
		g.Nodes = append(g.Nodes, &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: attrs})
		return out[0]
	}
	x := Input
	for i, b := range s.Blocks {
		p := blockName(i)
		x = node("/"+p+"/conv/Conv", "Conv", []string{x, p + ".conv.weight"}, onnx.NewAttributes().
			SetInts("dilations", 1, 1).SetInt("group", 1).SetInts("kernel_shape", 3, 3).
			SetInts("pads", 1, 1, 1, 1).SetInts("strides", 1, 1))
		bnAttrs := onnx.NewAttributes().SetFloat("epsilon", 1e-5).SetFloat("momentum", 0.9)
		bnName := "/" + p + "/bn/BatchNormalization"
		bnIn := []string{x, p + ".bn.weight", p + ".bn.bias", p + ".bn.running_mean", p + ".bn.running_var"}
		if training {
			bnAttrs.SetInt("training_mode", 1)
			x = node(bnName, "BatchNormalization", bnIn, bnAttrs, bnName+"_output_0",
				runningName(p+".bn.running_mean"), runningName(p+".bn.running_var"))
		} else {
			x = node(bnName, "BatchNormalization", bnIn, bnAttrs)
		}
		x = node("/"+p+"/relu/Relu", "Relu", []string{x}, nil)
		if b.Pool {
			x = node("/"+p+"/pool/MaxPool", "MaxPool", []string{x}, onnx.NewAttributes().
				SetInt("ceil_mode", 0).SetInts("kernel_shape", 2, 2).SetInts("pads", 0, 0, 0, 0).SetInts("strides", 2, 2))
		}
	}
	if !s.Flatten {
		x = node("/gap/GlobalAveragePool", "GlobalAveragePool", []string{x}, nil)
	}
	x = node("/flatten/Flatten", "Flatten", []string{x}, onnx.NewAttributes().SetInt("axis", 1))
	node("/fc/Gemm", "Gemm", []string{x, "fc.weight", "fc.bias"}, onnx.NewAttributes().
		SetFloat("alpha", 1).SetFloat("beta", 1).SetInt("transB", 1), Output)
	g.Inputs = []onnx.ValueInfo{onnx.TensorValueInfo(Input, []int64{-1, int64(s.Channels), int64(s.Height), int64(s.Width)}, "N")}
	g.Outputs = []onnx.ValueInfo{onnx.TensorValueInfo(Output, []int64{-1, int64(s.Classes)}, "N")}
	return &onnx.Model{
		IRVersion:    8,
		Opset:        Opset,
		OpsetImports: map[string]int64{"": Opset},
		Producer:     "cnnlens",
		Graph:        g,
		Metadata:     map[string]string{},
	}
}

// Graph builds an executable graph over the Net's own tensors (updating a
// parameter in place changes what the graph computes). A training graph's
// BatchNorm ops use batch statistics and accumulate the unbiased batch
// variance into running_var, as PyTorch does.
func (n *Net) Graph(training bool) (*graph.Graph, error) {
	g, err := model.BuildGraph(n.ONNX(training))
	if err != nil {
		return nil, err
	}
	if training {
		for _, nd := range g.Nodes {
			if bn, ok := nd.Op.(*ops.BatchNorm); ok {
				bn.Training = true
				bn.UnbiasedRunningVar = true
			}
		}
	}
	return g, nil
}

// Encode writes the inference model as ONNX, with metadata.
func (n *Net) Encode(metadata map[string]string) ([]byte, error) {
	m := n.ONNX(false)
	for k, v := range metadata {
		m.Metadata[k] = v
	}
	return onnx.Encode(m)
}

// LoadNet reads the weights of an ONNX file written by Encode into a Net of
// the given spec (for checkpoints and tests).
func LoadNet(s Spec, data []byte) (*Net, error) {
	pm, err := onnx.Decode(data, onnx.DecodeOptions{})
	if err != nil {
		return nil, err
	}
	n := NewNet(s, 0)
	for _, name := range n.Order {
		t, ok := pm.Graph.Initializers[name]
		if !ok {
			return nil, fmt.Errorf("train: the file has no initializer %q", name)
		}
		if !tensor.SameShape(t.Shape(), n.Params[name].Shape()) {
			return nil, fmt.Errorf("train: initializer %q has shape %s, the spec wants %s", name, tensor.ShapeString(t.Shape()), tensor.ShapeString(n.Params[name].Shape()))
		}
		copy(n.Params[name].F32(), t.F32())
	}
	return n, nil
}
