package onnx

import (
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// This file is the writer: Encode turns a Model (the same type Decode
// returns) back into an ONNX file, so that models trained with the engine
// can be saved and loaded by any ONNX runtime. Float32 tensors are written
// as raw_data (little-endian), int64 tensors as int64_data; repeated
// scalars in attributes are written unpacked, as onnx.proto (proto2)
// declares them and as torch.onnx.export writes them.

// NewAttributes returns an empty attribute set for building nodes in code;
// the Set methods add attributes in order and return the set for chaining.
func NewAttributes() *Attributes {
	return &Attributes{m: map[string]*attribute{}}
}

func (a *Attributes) set(name string, at *attribute) *Attributes {
	if _, ok := a.m[name]; !ok {
		a.order = append(a.order, name)
	}
	a.m[name] = at
	return a
}

// SetInt adds an INT attribute.
func (a *Attributes) SetInt(name string, v int64) *Attributes {
	return a.set(name, &attribute{typ: AttrInt, i: v})
}

// SetInts adds an INTS attribute.
func (a *Attributes) SetInts(name string, v ...int64) *Attributes {
	return a.set(name, &attribute{typ: AttrInts, ints: append([]int64{}, v...)})
}

// SetFloat adds a FLOAT attribute.
func (a *Attributes) SetFloat(name string, v float32) *Attributes {
	return a.set(name, &attribute{typ: AttrFloat, f: v})
}

// SetFloats adds a FLOATS attribute.
func (a *Attributes) SetFloats(name string, v ...float32) *Attributes {
	return a.set(name, &attribute{typ: AttrFloats, floats: append([]float32{}, v...)})
}

// SetString adds a STRING attribute.
func (a *Attributes) SetString(name, v string) *Attributes {
	return a.set(name, &attribute{typ: AttrString, s: v})
}

// SetStrings adds a STRINGS attribute.
func (a *Attributes) SetStrings(name string, v ...string) *Attributes {
	return a.set(name, &attribute{typ: AttrStrings, strings: append([]string{}, v...)})
}

// SetTensor adds a TENSOR attribute (the tensor is shared, not copied).
func (a *Attributes) SetTensor(name string, t *tensor.T) *Attributes {
	return a.set(name, &attribute{typ: AttrTensor, t: t})
}

// TensorValueInfo describes a float32 tensor value with a fixed or symbolic
// shape for a graph's inputs and outputs: a dim < 0 is written as the
// symbolic dimension named in dimNames (or "N" if none is given).
func TensorValueInfo(name string, shape []int64, dimNames ...string) ValueInfo {
	vi := ValueInfo{Name: name, ElemType: TypeFloat, Shape: append([]int64{}, shape...), HasShape: true, Kind: "tensor"}
	if len(dimNames) > 0 {
		vi.DimNames = make([]string, len(shape))
		copy(vi.DimNames, dimNames)
	}
	for k, d := range shape {
		if d < 0 {
			if vi.DimNames == nil {
				vi.DimNames = make([]string, len(shape))
			}
			if vi.DimNames[k] == "" {
				vi.DimNames[k] = "N"
			}
		}
	}
	return vi
}

// Encode writes a model as an ONNX ModelProto. The graph's initializers are
// written in InitOrder (then any not listed there, sorted by name), nodes
// in order, metadata sorted by key, then the model-local functions.
// Decode(Encode(m)) gives m back (with the calls of its functions
// expanded).
func Encode(m *Model) ([]byte, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("onnx: encode: no graph")
	}
	var b []byte
	ir := m.IRVersion
	if ir == 0 {
		ir = 8
	}
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(ir))
	if m.Producer != "" {
		b = appendString(b, modelProducerName, m.Producer)
	}
	g, err := encodeGraph(m.Graph)
	if err != nil {
		return nil, err
	}
	b = appendBytes(b, modelGraph, g)
	imports := m.OpsetImports
	if len(imports) == 0 {
		opset := m.Opset
		if opset == 0 {
			opset = 13
		}
		imports = map[string]int64{"": int64(opset)}
	}
	for _, domain := range sortedKeys(imports) {
		var o []byte
		o = appendString(o, 1, domain)
		o = protowire.AppendTag(o, 2, protowire.VarintType)
		o = protowire.AppendVarint(o, uint64(imports[domain]))
		b = appendBytes(b, modelOpsetImport, o)
	}
	for _, fn := range m.Functions {
		fb, err := encodeFunction(fn, imports)
		if err != nil {
			return nil, err
		}
		b = appendBytes(b, modelFunctions, fb)
	}
	for _, k := range sortedKeys(m.Metadata) {
		var e []byte
		e = appendString(e, 1, k)
		e = appendString(e, 2, m.Metadata[k])
		b = appendBytes(b, modelMetadataProps, e)
	}
	return b, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func encodeGraph(g *Graph) ([]byte, error) {
	var b []byte
	for k, n := range g.Nodes {
		nb, err := encodeNode(n)
		if err != nil {
			return nil, fmt.Errorf("onnx: encode: node #%d (%s): %w", k, n.OpType, err)
		}
		b = appendBytes(b, graphNode, nb)
	}
	if g.Name != "" {
		b = appendString(b, graphName, g.Name)
	}
	order := append([]string{}, g.InitOrder...)
	listed := map[string]bool{}
	for _, name := range order {
		listed[name] = true
	}
	for _, name := range sortedKeys(g.Initializers) {
		if !listed[name] {
			order = append(order, name)
		}
	}
	for _, name := range order {
		t, ok := g.Initializers[name]
		if !ok {
			return nil, fmt.Errorf("onnx: encode: initializer %q is listed but missing", name)
		}
		tb, err := encodeTensorAs(t, name, g.InitTypes[name])
		if err != nil {
			return nil, err
		}
		b = appendBytes(b, graphInitializer, tb)
	}
	for _, list := range []struct {
		num  protowire.Number
		vals []ValueInfo
	}{{graphInput, g.Inputs}, {graphOutput, g.Outputs}, {graphValueInfo, g.ValueInfo}} {
		for _, vi := range list.vals {
			b = appendBytes(b, list.num, encodeValueInfo(vi))
		}
	}
	return b, nil
}

func encodeNode(n *Node) ([]byte, error) {
	if n.OpType == "" {
		return nil, fmt.Errorf("no op_type")
	}
	var b []byte
	for _, in := range n.Inputs {
		b = appendString(b, nodeInput, in)
	}
	for _, o := range n.Outputs {
		b = appendString(b, nodeOutput, o)
	}
	if n.Name != "" {
		b = appendString(b, nodeName, n.Name)
	}
	b = appendString(b, nodeOpType, n.OpType)
	if n.Attrs != nil {
		for _, name := range n.Attrs.order {
			ab, err := encodeAttribute(name, n.Attrs.m[name])
			if err != nil {
				return nil, err
			}
			b = appendBytes(b, nodeAttribute, ab)
		}
	}
	if n.Domain != "" {
		b = appendString(b, nodeDomain, n.Domain)
	}
	return b, nil
}

func encodeAttribute(name string, at *attribute) ([]byte, error) {
	var b []byte
	b = appendString(b, attrName, name)
	switch at.typ {
	case AttrFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(at.f))
	case AttrInt:
		b = protowire.AppendTag(b, attrI, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(at.i))
	case AttrString:
		b = appendString(b, attrS, at.s)
	case AttrTensor:
		tb, err := EncodeTensor(at.t, "")
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		b = appendBytes(b, attrT, tb)
	case AttrFloats:
		for _, v := range at.floats {
			b = protowire.AppendTag(b, attrFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(v))
		}
	case AttrInts:
		for _, v := range at.ints {
			b = protowire.AppendTag(b, attrInts, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	case AttrStrings:
		for _, s := range at.strings {
			b = appendString(b, attrStrings, s)
		}
	default:
		return nil, fmt.Errorf("attribute %q: cannot write type %s", name, at.typ)
	}
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(at.typ))
	if at.ref != "" {
		b = appendString(b, attrRefAttrName, at.ref)
	}
	return b, nil
}

// SetRef adds an attribute of a function's node that takes the value of
// the function's attribute ref (its ref_attr_name), of type typ.
func (a *Attributes) SetRef(name string, typ AttrType, ref string) *Attributes {
	return a.set(name, &attribute{typ: typ, ref: ref})
}

// encodeFunction writes a FunctionProto, importing the model's opsets.
func encodeFunction(fn *Function, imports map[string]int64) ([]byte, error) {
	var b []byte
	b = appendString(b, funcName, fn.Name)
	for _, v := range fn.Inputs {
		b = appendString(b, funcInput, v)
	}
	for _, v := range fn.Outputs {
		b = appendString(b, funcOutput, v)
	}
	for _, v := range fn.AttrNames {
		b = appendString(b, funcAttribute, v)
	}
	for k, n := range fn.Nodes {
		nb, err := encodeNode(n)
		if err != nil {
			return nil, fmt.Errorf("onnx: encode: function %q node #%d (%s): %w", fn.Name, k, n.OpType, err)
		}
		b = appendBytes(b, funcNode, nb)
	}
	for _, domain := range sortedKeys(imports) {
		var o []byte
		o = appendString(o, 1, domain)
		o = protowire.AppendTag(o, 2, protowire.VarintType)
		o = protowire.AppendVarint(o, uint64(imports[domain]))
		b = appendBytes(b, funcOpsetImport, o)
	}
	b = appendString(b, funcDomain, fn.Domain)
	if fn.Defaults != nil {
		for _, name := range fn.Defaults.order {
			ab, err := encodeAttribute(name, fn.Defaults.m[name])
			if err != nil {
				return nil, fmt.Errorf("onnx: encode: function %q: %w", fn.Name, err)
			}
			b = appendBytes(b, funcAttrProto, ab)
		}
	}
	return b, nil
}

// EncodeTensor writes a tensor as a TensorProto: float32 as FLOAT with
// raw_data, int64 as INT64 with int64_data.
func EncodeTensor(t *tensor.T, name string) ([]byte, error) {
	return encodeTensorAs(t, name, 0)
}

// encodeTensorAs writes an int64 tensor as the narrower integer type
// typ (INT8, UINT8, INT16, UINT16, INT32 or BOOL, in int32_data), as the
// graph's InitTypes may ask; typ 0 or INT64 writes INT64.
func encodeTensorAs(t *tensor.T, name string, typ int32) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("onnx: encode: tensor %q is nil", name)
	}
	var b []byte
	for _, d := range t.Shape() {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	narrow := false
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	switch t.DType() {
	case tensor.Float32:
		b = protowire.AppendVarint(b, TypeFloat)
	case tensor.Int64:
		switch typ {
		case 0, TypeInt64:
			b = protowire.AppendVarint(b, TypeInt64)
		case TypeInt8, TypeUint8, TypeInt16, TypeUint16, TypeInt32, TypeBool:
			b = protowire.AppendVarint(b, uint64(typ))
			narrow = true
		default:
			return nil, fmt.Errorf("onnx: encode: tensor %q: cannot write int64 values as %s", name, TypeName(typ))
		}
	default:
		return nil, fmt.Errorf("onnx: encode: tensor %q has type %s", name, t.DType())
	}
	if name != "" {
		b = appendString(b, tensorName, name)
	}
	if t.Len() == 0 {
		return b, nil
	}
	if t.DType() == tensor.Float32 {
		raw := make([]byte, 4*t.Len())
		for i, v := range t.F32() {
			bits := math.Float32bits(v)
			raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
		}
		b = appendBytes(b, tensorRawData, raw)
		return b, nil
	}
	var packed []byte
	for _, v := range t.I64() {
		packed = protowire.AppendVarint(packed, uint64(v))
	}
	if narrow {
		b = appendBytes(b, tensorInt32Data, packed)
	} else {
		b = appendBytes(b, tensorInt64Data, packed)
	}
	return b, nil
}

func encodeValueInfo(vi ValueInfo) []byte {
	var b []byte
	b = appendString(b, 1, vi.Name)
	if vi.Kind != "tensor" && vi.ElemType == 0 && !vi.HasShape {
		return b
	}
	var tt []byte
	if vi.ElemType != 0 {
		tt = protowire.AppendTag(tt, 1, protowire.VarintType)
		tt = protowire.AppendVarint(tt, uint64(vi.ElemType))
	}
	if vi.HasShape {
		var sh []byte
		for k, d := range vi.Shape {
			var dim []byte
			name := ""
			if k < len(vi.DimNames) {
				name = vi.DimNames[k]
			}
			switch {
			case name != "":
				dim = appendString(dim, 2, name)
			case d >= 0:
				dim = protowire.AppendTag(dim, 1, protowire.VarintType)
				dim = protowire.AppendVarint(dim, uint64(d))
			}
			sh = appendBytes(sh, 1, dim)
		}
		tt = appendBytes(tt, 2, sh)
	}
	var tp []byte
	tp = appendBytes(tp, typeTensor, tt)
	b = appendBytes(b, 2, tp)
	return b
}
