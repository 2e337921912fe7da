// Package onnx decodes ONNX model files (the ModelProto protobuf written by
// torch.onnx.export and other exporters) into plain Go values for the
// engine's graph builder.
//
// The protobuf is read field by field with protowire: only the parts of
// onnx.proto the engine needs are decoded, and there are no generated types.
// Malformed input of any kind gives an error starting with "onnx: " that says
// what was wrong and where; the decoder never panics and checks a tensor's
// size before allocating it.
//
// Initializers and tensor attributes become *tensor.T values: FLOAT, DOUBLE,
// FLOAT16 and BFLOAT16 become float32 tensors; INT64, INT32, INT16, INT8,
// UINT32, UINT64 (when the values fit), UINT16, UINT8 and BOOL become int64
// tensors. Other types (STRING, COMPLEX64/128, the 8- and 4-bit types) and
// weights kept in external data files are reported as errors.
package onnx

import (
	"fmt"
	"strconv"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Model is a decoded ModelProto.
type Model struct {
	// IRVersion is the ONNX IR version the file follows.
	IRVersion int64
	// Opset is the version of the default operator set ("" or "ai.onnx"),
	// 1 when the file imports none.
	Opset int
	// OpsetImports maps each imported domain to its version.
	OpsetImports map[string]int64
	// Producer is the producing tool, e.g. "pytorch".
	Producer string
	// Graph is the main graph.
	Graph *Graph
	// Metadata holds the model's metadata_props.
	Metadata map[string]string
	// Functions are the model-local functions. Decode has already
	// expanded their calls in Graph (function.go).
	Functions []*Function
}

// Graph is a decoded GraphProto.
type Graph struct {
	// Name is the graph's name.
	Name string
	// Nodes are in file order, which ONNX requires to be topological.
	Nodes []*Node
	// Initializers are the constant tensors by name; InitOrder lists their
	// names in file order.
	Initializers map[string]*tensor.T
	InitOrder    []string
	// InitTypes is each initializer's ONNX data type (TypeUint8, …),
	// which the engine's tensors do not keep (QuantizeLinear's output
	// type is its zero point's).
	InitTypes map[string]int32
	// Inputs and Outputs are the graph's declared inputs and outputs. Older
	// exporters list initializers among the inputs too.
	Inputs, Outputs []ValueInfo
	// ValueInfo holds the types of intermediate values, where the file has
	// them.
	ValueInfo []ValueInfo
}

// Node is a decoded NodeProto.
type Node struct {
	// Name is the node's name ("" when the exporter gave none).
	Name string
	// OpType is the operator, e.g. "Conv".
	OpType string
	// Domain is the operator's domain, "" for the default ONNX domain.
	Domain string
	// Inputs and Outputs are value names; "" marks an omitted optional
	// input or output.
	Inputs, Outputs []string
	// Attrs are the node's attributes; never nil.
	Attrs *Attributes
}

// ValueInfo is a decoded ValueInfoProto: a value's name and, for tensors,
// its element type and shape.
type ValueInfo struct {
	// Name is the value's name.
	Name string
	// ElemType is the TensorProto data type of the elements (TypeFloat,
	// ...), 0 when unknown or not a tensor.
	ElemType int32
	// Shape has one entry per dimension: its size, or -1 when the
	// dimension is symbolic or unknown. Only meaningful when HasShape.
	Shape []int64
	// DimNames gives each dimension's symbolic name ("batch_size"), "" for
	// fixed or anonymous dimensions; nil when there are none.
	DimNames []string
	// HasShape reports whether the file gives the rank (a tensor without a
	// shape can have any rank; an empty Shape with HasShape is a scalar).
	HasShape bool
	// Kind is the kind of type: "tensor", "sequence", "map", "optional",
	// "sparse_tensor", or "" when the file gives no type.
	Kind string
}

// DecodeOptions tunes Decode and DecodeTensor. The zero value is usable.
type DecodeOptions struct {
	// MaxTensorBytes is the largest tensor, in bytes once converted
	// (4 per float32 element, 8 per int64 element), that will be
	// allocated; 0 means 1 GiB.
	MaxTensorBytes int64
}

const defaultMaxTensorBytes = 1 << 30

func newDecoder(total int, file string, opts DecodeOptions) *decoder {
	d := &decoder{total: total, file: file, maxBytes: opts.MaxTensorBytes}
	if d.maxBytes <= 0 {
		d.maxBytes = defaultMaxTensorBytes
	}
	return d
}

// ModelProto field numbers.
const (
	modelIRVersion     = 1
	modelProducerName  = 2
	modelGraph         = 7
	modelOpsetImport   = 8
	modelMetadataProps = 14
	modelFunctions     = 25
)

// Decode decodes an ONNX model file.
func Decode(data []byte, opts DecodeOptions) (*Model, error) {
	d := newDecoder(len(data), "model file", opts)
	const where = "ModelProto"
	m := &Model{OpsetImports: map[string]int64{}, Metadata: map[string]string{}}
	var graph span
	graphs := 0
	err := d.fields(span{data, 0}, where, func(f *field) error {
		var err error
		switch f.num {
		case modelIRVersion:
			var v uint64
			v, err = d.varint(f, where)
			m.IRVersion = int64(v)
		case modelProducerName:
			m.Producer, err = d.str(f, where)
		case modelGraph:
			graph, err = d.msg(f, where)
			graphs++
		case modelOpsetImport:
			var s span
			if s, err = d.msg(f, where); err != nil {
				return err
			}
			var domain string
			var version int64
			if domain, version, err = d.opset(s); err != nil {
				return err
			}
			if _, dup := m.OpsetImports[domain]; dup {
				return fmt.Errorf("onnx: opset for domain %q imported twice", domain)
			}
			m.OpsetImports[domain] = version
		case modelFunctions:
			var s span
			if s, err = d.msg(f, where); err != nil {
				return err
			}
			var fn *Function
			if fn, err = d.function(s, len(m.Functions)); err == nil {
				m.Functions = append(m.Functions, fn)
			}
		case modelMetadataProps:
			var s span
			if s, err = d.msg(f, where); err != nil {
				return err
			}
			var k, v string
			if k, v, err = d.stringPair(s, "metadata_props"); err == nil {
				m.Metadata[k] = v
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if graphs == 0 {
		return nil, fmt.Errorf("onnx: no graph in model (is this an ONNX file?)")
	}
	if graphs > 1 {
		return nil, fmt.Errorf("onnx: model has %d graphs, want one", graphs)
	}
	m.Opset = 1
	if v, ok := m.OpsetImports[""]; ok {
		m.Opset = int(v)
	} else if v, ok := m.OpsetImports["ai.onnx"]; ok {
		m.Opset = int(v)
	}
	if m.Graph, err = d.graph(graph, "graph"); err != nil {
		return nil, err
	}
	if err := inlineFunctions(m.Graph, m.Functions); err != nil {
		return nil, err
	}
	return m, nil
}

// opset decodes an OperatorSetIdProto (domain = 1, version = 2).
func (d *decoder) opset(m span) (string, int64, error) {
	const where = "opset_import"
	var domain string
	var version int64
	err := d.fields(m, where, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			domain, err = d.str(f, where)
		case 2:
			var v uint64
			v, err = d.varint(f, where)
			version = int64(v)
		}
		return err
	})
	return domain, version, err
}

// GraphProto field numbers.
const (
	graphNode              = 1
	graphName              = 2
	graphInitializer       = 5
	graphInput             = 11
	graphOutput            = 12
	graphValueInfo         = 13
	graphSparseInitializer = 15
)

// graph decodes a GraphProto.
func (d *decoder) graph(m span, where string) (*Graph, error) {
	g := &Graph{Initializers: map[string]*tensor.T{}, InitTypes: map[string]int32{}}
	err := d.fields(m, where, func(f *field) error {
		switch f.num {
		case graphName:
			var err error
			g.Name, err = d.str(f, where)
			return err
		case graphSparseInitializer:
			return fmt.Errorf("onnx: sparse initializers are not supported")
		case graphNode, graphInitializer, graphInput, graphOutput, graphValueInfo:
		default:
			return nil
		}
		s, err := d.msg(f, where)
		if err != nil {
			return err
		}
		switch f.num {
		case graphNode:
			n, err := d.node(s, len(g.Nodes))
			if err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case graphInitializer:
			k := len(g.InitOrder)
			t, name, err := d.tensor(s, "initializer #"+strconv.Itoa(k), func(name string) string {
				if name == "" {
					return fmt.Sprintf("initializer #%d", k)
				}
				return fmt.Sprintf("initializer %q", name)
			})
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("onnx: initializer #%d has no name", k)
			}
			if _, dup := g.Initializers[name]; dup {
				return fmt.Errorf("onnx: initializer %q appears twice", name)
			}
			g.Initializers[name] = t
			g.InitOrder = append(g.InitOrder, name)
			g.InitTypes[name] = d.lastType
		case graphInput, graphOutput, graphValueInfo:
			list := &g.Inputs
			kind := "input"
			switch f.num {
			case graphOutput:
				list, kind = &g.Outputs, "output"
			case graphValueInfo:
				list, kind = &g.ValueInfo, "value_info"
			}
			vi, err := d.valueInfo(s, "graph "+kind+" #"+strconv.Itoa(len(*list)))
			if err != nil {
				return err
			}
			*list = append(*list, vi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// NodeProto field numbers.
const (
	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	nodeDomain    = 7
)

// node decodes the k-th NodeProto of a graph.
func (d *decoder) node(m span, k int) (*Node, error) {
	// Places are named with strconv, not fmt, and the node's label is
	// formatted only for an error: this runs for every node of a model.
	where := "node #" + strconv.Itoa(k)
	n := &Node{Attrs: &Attributes{m: map[string]*attribute{}}}
	var attrs []span
	err := d.fields(m, where, func(f *field) error {
		var err error
		switch f.num {
		case nodeInput:
			var s string
			s, err = d.str(f, where)
			n.Inputs = append(n.Inputs, s)
		case nodeOutput:
			var s string
			s, err = d.str(f, where)
			n.Outputs = append(n.Outputs, s)
		case nodeName:
			n.Name, err = d.str(f, where)
		case nodeOpType:
			n.OpType, err = d.str(f, where)
		case nodeDomain:
			n.Domain, err = d.str(f, where)
		case nodeAttribute:
			var s span
			s, err = d.msg(f, where)
			attrs = append(attrs, s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// Attributes are decoded once the node's name and type are known, for
	// their error messages.
	label := func() string {
		if n.Name != "" {
			return fmt.Sprintf("node %q (%s)", n.Name, n.OpType)
		}
		return fmt.Sprintf("node #%d (%s)", k, n.OpType)
	}
	if n.OpType == "" {
		return nil, fmt.Errorf("onnx: %s has no op_type", label())
	}
	for j, s := range attrs {
		name, at, err := d.attribute(s, where+" attribute #"+strconv.Itoa(j), label)
		if err != nil {
			return nil, err
		}
		if _, dup := n.Attrs.m[name]; dup {
			return nil, fmt.Errorf("onnx: %s: attribute %q appears twice", label(), name)
		}
		n.Attrs.m[name] = at
		n.Attrs.order = append(n.Attrs.order, name)
	}
	return n, nil
}

// valueInfo decodes a ValueInfoProto (name = 1, type = 2).
func (d *decoder) valueInfo(m span, where string) (ValueInfo, error) {
	var vi ValueInfo
	err := d.fields(m, where, func(f *field) error {
		switch f.num {
		case 1:
			var err error
			vi.Name, err = d.str(f, where)
			return err
		case 2:
			s, err := d.msg(f, where)
			if err != nil {
				return err
			}
			return d.typeProto(s, where, &vi)
		}
		return nil
	})
	return vi, err
}

// TypeProto field numbers (the oneof value).
const (
	typeTensor       = 1
	typeSequence     = 4
	typeMap          = 5
	typeSparseTensor = 8
	typeOptional     = 9
)

// typeProto decodes a TypeProto into vi: the element type and shape of a
// tensor type, only the kind of the others.
func (d *decoder) typeProto(m span, where string, vi *ValueInfo) error {
	return d.fields(m, where, func(f *field) error {
		switch f.num {
		case typeTensor:
			vi.Kind = "tensor"
			s, err := d.msg(f, where)
			if err != nil {
				return err
			}
			return d.tensorType(s, where, vi)
		case typeSequence:
			vi.Kind = "sequence"
		case typeMap:
			vi.Kind = "map"
		case typeSparseTensor:
			vi.Kind = "sparse_tensor"
		case typeOptional:
			vi.Kind = "optional"
		}
		return nil
	})
}

// tensorType decodes a TypeProto.Tensor (elem_type = 1, shape = 2).
func (d *decoder) tensorType(m span, where string, vi *ValueInfo) error {
	return d.fields(m, where, func(f *field) error {
		switch f.num {
		case 1:
			v, err := d.varint(f, where)
			vi.ElemType = int32(v)
			return err
		case 2:
			s, err := d.msg(f, where)
			if err != nil {
				return err
			}
			vi.HasShape = true
			return d.shape(s, where, vi)
		}
		return nil
	})
}

// shape decodes a TensorShapeProto (dim = 1; Dimension: dim_value = 1,
// dim_param = 2).
func (d *decoder) shape(m span, where string, vi *ValueInfo) error {
	return d.fields(m, where, func(f *field) error {
		if f.num != 1 {
			return nil
		}
		s, err := d.msg(f, where)
		if err != nil {
			return err
		}
		size, name := int64(-1), ""
		err = d.fields(s, where, func(f *field) error {
			switch f.num {
			case 1:
				v, err := d.varint(f, where)
				size = int64(v)
				return err
			case 2:
				var err error
				name, err = d.str(f, where)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		if size < 0 {
			size = -1
		}
		if name != "" && vi.DimNames == nil {
			vi.DimNames = make([]string, len(vi.Shape), len(vi.Shape)+1)
		}
		vi.Shape = append(vi.Shape, size)
		if vi.DimNames != nil {
			vi.DimNames = append(vi.DimNames, name)
		}
		return nil
	})
}
