package onnx

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// AttrType is an AttributeProto.AttributeType.
type AttrType int32

// Attribute types (onnx.proto).
const (
	AttrUndefined     AttrType = 0
	AttrFloat         AttrType = 1
	AttrInt           AttrType = 2
	AttrString        AttrType = 3
	AttrTensor        AttrType = 4
	AttrGraph         AttrType = 5
	AttrFloats        AttrType = 6
	AttrInts          AttrType = 7
	AttrStrings       AttrType = 8
	AttrTensors       AttrType = 9
	AttrGraphs        AttrType = 10
	AttrSparseTensor  AttrType = 11
	AttrSparseTensors AttrType = 12
	AttrTypeProto     AttrType = 13
	AttrTypeProtos    AttrType = 14
)

var attrTypeNames = []string{
	"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS",
	"TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS",
}

// String returns the ONNX name of the type, e.g. "INTS".
func (t AttrType) String() string {
	if t >= 0 && int(t) < len(attrTypeNames) {
		return attrTypeNames[t]
	}
	return fmt.Sprintf("AttrType(%d)", int32(t))
}

// attribute is one decoded attribute. Graphs, lists of tensors, sparse
// tensors and type protos are recorded by type only.
type attribute struct {
	typ     AttrType
	f       float32
	i       int64
	s       string
	t       *tensor.T
	floats  []float32
	ints    []int64
	strings []string
	ref     string
	ttype   int32 // a TENSOR attribute's ONNX data type
}

// Attributes holds a node's attributes. It implements the engine's
// ops.Attrs. Getters return the default when the attribute is absent or has
// another type (an INTS attribute read with Float, say); Type tells which.
// A nil *Attributes behaves as an empty set.
type Attributes struct {
	order []string
	m     map[string]*attribute
}

func (a *Attributes) get(name string) *attribute {
	if a == nil {
		return nil
	}
	return a.m[name]
}

// Names lists the attribute names in file order.
func (a *Attributes) Names() []string {
	if a == nil {
		return nil
	}
	return append([]string(nil), a.order...)
}

// Has reports whether the node has the attribute, whatever its type
// (subgraphs included, although their contents are not decoded).
func (a *Attributes) Has(name string) bool { return a.get(name) != nil }

// Type returns the attribute's type (AttrUndefined when absent).
func (a *Attributes) Type(name string) AttrType {
	if at := a.get(name); at != nil {
		return at.typ
	}
	return AttrUndefined
}

// RefName returns the ref_attr_name of an attribute that refers to an
// attribute of the enclosing function ("" when it holds a value).
func (a *Attributes) RefName(name string) string {
	if at := a.get(name); at != nil {
		return at.ref
	}
	return ""
}

// Int returns an INT attribute, or def.
func (a *Attributes) Int(name string, def int64) int64 {
	if at := a.get(name); at != nil && at.typ == AttrInt {
		return at.i
	}
	return def
}

// Ints returns a copy of an INTS attribute, or def.
func (a *Attributes) Ints(name string, def []int64) []int64 {
	if at := a.get(name); at != nil && at.typ == AttrInts {
		return append([]int64{}, at.ints...)
	}
	return def
}

// Float returns a FLOAT attribute, or def.
func (a *Attributes) Float(name string, def float32) float32 {
	if at := a.get(name); at != nil && at.typ == AttrFloat {
		return at.f
	}
	return def
}

// Floats returns a copy of a FLOATS attribute, or def.
func (a *Attributes) Floats(name string, def []float32) []float32 {
	if at := a.get(name); at != nil && at.typ == AttrFloats {
		return append([]float32{}, at.floats...)
	}
	return def
}

// String returns a STRING attribute, or def.
func (a *Attributes) String(name string, def string) string {
	if at := a.get(name); at != nil && at.typ == AttrString {
		return at.s
	}
	return def
}

// Strings returns a copy of a STRINGS attribute, or def.
func (a *Attributes) Strings(name string, def []string) []string {
	if at := a.get(name); at != nil && at.typ == AttrStrings {
		return append([]string{}, at.strings...)
	}
	return def
}

// TensorType returns a TENSOR attribute's ONNX data type (TypeUint8,
// …), which the engine's tensors do not keep; 0 when absent.
func (a *Attributes) TensorType(name string) int32 {
	if at := a.get(name); at != nil && at.typ == AttrTensor {
		return at.ttype
	}
	return 0
}

// Tensor returns a TENSOR attribute, or nil. The tensor is shared: callers
// must not modify it.
func (a *Attributes) Tensor(name string) *tensor.T {
	if at := a.get(name); at != nil && at.typ == AttrTensor {
		return at.t
	}
	return nil
}

// AttributeProto field numbers.
const (
	attrName          = 1
	attrF             = 2
	attrI             = 3
	attrS             = 4
	attrT             = 5
	attrG             = 6
	attrFloats        = 7
	attrInts          = 8
	attrStrings       = 9
	attrTensors       = 10
	attrGraphs        = 11
	attrTP            = 14
	attrTypeProtos    = 15
	attrType          = 20
	attrRefAttrName   = 21
	attrSparseTensor  = 22
	attrSparseTensors = 23
)

// attribute decodes an AttributeProto. node names the node for messages.
// node names the attribute's node in error messages (formatted only then:
// a model has thousands of attributes).
func (d *decoder) attribute(m span, where string, node func() string) (string, *attribute, error) {
	var (
		at      attribute
		name    string
		seen    = map[int]bool{}
		tspan   span
		floats  = repeated{elem: protowire.Fixed32Type}
		ints    = repeated{elem: protowire.VarintType}
		hasType bool
	)
	err := d.fields(m, where, func(f *field) error {
		var err error
		seen[int(f.num)] = true
		switch f.num {
		case attrName:
			name, err = d.str(f, where)
		case attrF:
			err = d.want(f, protowire.Fixed32Type, where)
			at.f = f32conv(TypeFloat)(f.v)
		case attrI:
			err = d.want(f, protowire.VarintType, where)
			at.i = int64(f.v)
		case attrS:
			at.s, err = d.str(f, where)
		case attrT:
			tspan, err = d.msg(f, where)
		case attrFloats:
			err = floats.add(d, f, where)
		case attrInts:
			err = ints.add(d, f, where)
		case attrStrings:
			var s string
			s, err = d.str(f, where)
			at.strings = append(at.strings, s)
		case attrG, attrTensors, attrGraphs, attrTP, attrTypeProtos, attrSparseTensor, attrSparseTensors:
			err = d.want(f, protowire.BytesType, where)
		case attrType:
			var v uint64
			v, err = d.varint(f, where)
			at.typ, hasType = AttrType(int32(v)), true
		case attrRefAttrName:
			at.ref, err = d.str(f, where)
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if name == "" {
		return "", nil, fmt.Errorf("onnx: %s: attribute with no name", node())
	}
	if !hasType || at.typ == AttrUndefined {
		// IR version 1 had no type field: infer it from the value present.
		for _, c := range []struct {
			field int
			typ   AttrType
		}{
			{attrF, AttrFloat}, {attrI, AttrInt}, {attrS, AttrString}, {attrT, AttrTensor},
			{attrG, AttrGraph}, {attrFloats, AttrFloats}, {attrInts, AttrInts},
			{attrStrings, AttrStrings}, {attrTensors, AttrTensors}, {attrGraphs, AttrGraphs},
			{attrSparseTensor, AttrSparseTensor}, {attrSparseTensors, AttrSparseTensors},
			{attrTP, AttrTypeProto}, {attrTypeProtos, AttrTypeProtos},
		} {
			if seen[c.field] {
				at.typ = c.typ
				break
			}
		}
	}
	switch at.typ {
	case AttrFloats:
		at.floats = make([]float32, 0, floats.n)
		conv := f32conv(TypeFloat)
		err = floats.each(d, where, func(v uint64) { at.floats = append(at.floats, conv(v)) })
	case AttrInts:
		at.ints, err = ints.int64s(d, where)
	case AttrTensor:
		if !seen[attrT] {
			return "", nil, fmt.Errorf("onnx: %s: attribute %q of type TENSOR has no tensor", node(), name)
		}
		at.t, _, err = d.tensor(tspan, where, func(tname string) string {
			if tname == "" {
				return fmt.Sprintf("%s: attribute %q", node(), name)
			}
			return fmt.Sprintf("%s: attribute %q: tensor %q", node(), name, tname)
		})
		at.ttype = d.lastType
	}
	if err != nil {
		return "", nil, err
	}
	if at.typ != AttrStrings {
		at.strings = nil
	}
	return name, &at, nil
}
