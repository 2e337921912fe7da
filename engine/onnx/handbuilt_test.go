package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Small protobuf writers for hand-built test files.

func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func pbString(b []byte, num protowire.Number, s string) []byte {
	return pbBytes(b, num, []byte(s))
}

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func pbFixed32(b []byte, num protowire.Number, v uint32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

// pbInts writes a repeated varint field, packed or one tag per value.
func pbInts(b []byte, num protowire.Number, vs []int64, packed bool) []byte {
	if !packed {
		for _, v := range vs {
			b = pbVarint(b, num, uint64(v))
		}
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return pbBytes(b, num, p)
}

// pbFloats writes a repeated float field, packed or not.
func pbFloats(b []byte, num protowire.Number, vs []float32, packed bool) []byte {
	if !packed {
		for _, v := range vs {
			b = pbFixed32(b, num, math.Float32bits(v))
		}
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendFixed32(p, math.Float32bits(v))
	}
	return pbBytes(b, num, p)
}

// tensorPB starts a TensorProto with a name, data type and packed dims.
func tensorPB(name string, dt int32, dims ...int64) []byte {
	var b []byte
	b = pbInts(b, tensorDims, dims, true)
	b = pbVarint(b, tensorDataType, uint64(dt))
	return pbString(b, tensorName, name)
}

// modelPB wraps GraphProto contents in a ModelProto importing opset 13.
func modelPB(graph []byte) []byte {
	var b []byte
	b = pbVarint(b, modelIRVersion, 8)
	b = pbString(b, modelProducerName, "test")
	b = pbBytes(b, modelOpsetImport, pbVarint(pbString(nil, 1, ""), 2, 13))
	return pbBytes(b, modelGraph, graph)
}

// withInit is a model whose graph holds one initializer.
func withInit(tensorBytes []byte) []byte {
	return modelPB(pbBytes(pbString(nil, graphName, "g"), graphInitializer, tensorBytes))
}

func decodeInit(t *testing.T, tensorBytes []byte, opts DecodeOptions) (*tensor.T, error) {
	t.Helper()
	m, err := Decode(withInit(tensorBytes), opts)
	if err != nil {
		return nil, err
	}
	if len(m.Graph.InitOrder) != 1 {
		t.Fatalf("initializers %v", m.Graph.InitOrder)
	}
	// DecodeTensor must agree on the bare TensorProto.
	x, _, err := DecodeTensor(tensorBytes, opts)
	if err != nil {
		t.Fatalf("Decode accepted the tensor, DecodeTensor did not: %v", err)
	}
	y := m.Graph.Initializers[m.Graph.InitOrder[0]]
	if x.String() != y.String() || fmt.Sprint(x.F32(), x.I64()) != fmt.Sprint(y.F32(), y.I64()) {
		t.Fatalf("DecodeTensor %v, Decode %v", x, y)
	}
	return y, nil
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	if !strings.HasPrefix(err.Error(), "onnx: ") {
		t.Errorf("error %q lacks the onnx: prefix", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestExternalData(t *testing.T) {
	entry := pbString(pbString(nil, 1, "location"), 2, "x.bin")
	tp := tensorPB("W", TypeFloat, 64, 3)
	tp = pbBytes(tp, tensorExternalData, pbString(pbString(nil, 1, "offset"), 2, "0"))
	tp = pbBytes(tp, tensorExternalData, entry)
	tp = pbVarint(tp, tensorDataLocation, 1)
	_, err := Decode(withInit(tp), DecodeOptions{})
	want := `onnx: initializer "W": weights stored in external data file "x.bin", which is not supported; re-export with all weights in the .onnx file`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// data_location alone.
	_, err = Decode(withInit(pbVarint(tensorPB("W", TypeFloat, 2), tensorDataLocation, 1)), DecodeOptions{})
	wantErr(t, err, `initializer "W"`, "external data file", "re-export")
}

func TestRawDataSize(t *testing.T) {
	tp := pbBytes(tensorPB("W", TypeFloat, 2, 3), tensorRawData, make([]byte, 20))
	_, err := decodeInit(t, tp, DecodeOptions{})
	wantErr(t, err, `initializer "W"`, "20 bytes", "expected 24", "[2 3]")

	tp = pbInts(tensorPB("B", TypeInt64, 4), tensorInt64Data, []int64{1, 2, 3}, true)
	_, err = decodeInit(t, tp, DecodeOptions{})
	wantErr(t, err, `initializer "B"`, "int64_data has 3 values, expected 4")

	_, err = decodeInit(t, tensorPB("E", TypeFloat, 5), DecodeOptions{})
	wantErr(t, err, `initializer "E"`, "no data")
}

func TestDims(t *testing.T) {
	cases := []struct {
		dims []int64
		opts DecodeOptions
		want string
	}{
		{[]int64{1 << 40, 1 << 40}, DecodeOptions{}, "overflows"},
		{[]int64{1 << 62, 4}, DecodeOptions{}, "overflows"},
		{[]int64{1 << 20, 1 << 20}, DecodeOptions{}, "exceed the tensor size limit of 1073741824 bytes"},
		{[]int64{1 << 61}, DecodeOptions{}, "exceed"}, // 2⁶¹ elements × 4 bytes overflows
		{[]int64{3, -1}, DecodeOptions{}, "negative dimension"},
		{[]int64{10, 10}, DecodeOptions{MaxTensorBytes: 100}, "exceed the tensor size limit of 100 bytes"},
	}
	for _, c := range cases {
		// raw_data of 8 bytes only: the size check must come first.
		tp := pbBytes(tensorPB("W", TypeFloat, c.dims...), tensorRawData, make([]byte, 8))
		_, err := decodeInit(t, tp, c.opts)
		wantErr(t, err, `initializer "W"`, dimsText(c.dims), c.want)
	}
	// A zero dimension makes the tensor empty, whatever the others.
	x, err := decodeInit(t, tensorPB("Z", TypeFloat, 1<<40, 0, 1<<40), DecodeOptions{})
	if err != nil || x.Len() != 0 || fmt.Sprint(x.Shape()) != fmt.Sprint([]int{1 << 40, 0, 1 << 40}) {
		t.Errorf("zero-size tensor: %v, %v", x, err)
	}
	// No dims: a scalar.
	x, err = decodeInit(t, pbFloats(tensorPB("S", TypeFloat), tensorFloatData, []float32{2.5}, false), DecodeOptions{})
	if err != nil || x.Rank() != 0 || x.F32()[0] != 2.5 {
		t.Errorf("scalar: %v, %v", x, err)
	}
}

func dimsText(dims []int64) string { return fmt.Sprint(dims) }

func TestFloat16(t *testing.T) {
	bits := []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x3555, 0x7c00, 0xfc00}
	want := []float32{1, -2, 65504, 5.9604645e-08, 6.097555e-05, 6.1035156e-05, float32(math.Copysign(0, -1)), 0.33325195,
		float32(math.Inf(1)), float32(math.Inf(-1))}
	raw := make([]byte, 2*len(bits))
	ints := make([]int64, len(bits))
	for k, h := range bits {
		binary.LittleEndian.PutUint16(raw[2*k:], h)
		ints[k] = int64(h)
	}
	n := int64(len(bits))
	for _, tp := range [][]byte{
		pbBytes(tensorPB("H", TypeFloat16, n), tensorRawData, raw),
		pbInts(tensorPB("H", TypeFloat16, n), tensorInt32Data, ints, true),
		pbInts(tensorPB("H", TypeFloat16, n), tensorInt32Data, ints, false),
	} {
		x, err := decodeInit(t, tp, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if x.DType() != tensor.Float32 || fmt.Sprint(x.F32()) != fmt.Sprint(want) {
			t.Errorf("float16 %v:\n got %v\nwant %v", x, x.F32(), want)
		}
		if !math.Signbit(float64(x.F32()[6])) {
			t.Error("-0 lost its sign")
		}
	}
	x, err := decodeInit(t, pbBytes(tensorPB("N", TypeFloat16, 1), tensorRawData, []byte{0x00, 0x7e}), DecodeOptions{})
	if err != nil || !math.IsNaN(float64(x.F32()[0])) {
		t.Errorf("NaN: %v %v", x, err)
	}
	// Every finite half converts exactly: check against float64 arithmetic.
	for h := range 1 << 16 {
		e, m := h>>10&0x1f, h&0x3ff
		if e == 0x1f {
			continue
		}
		v := float64(m) * math.Pow(2, -24)
		if e > 0 {
			v = (1 + float64(m)/1024) * math.Pow(2, float64(e-15))
		}
		if h>>15 == 1 {
			v = -v
		}
		if got := halfToFloat(uint16(h)); float64(got) != v {
			t.Fatalf("half %#04x: %v, want %v", h, got, v)
		}
	}
}

func TestDataTypes(t *testing.T) {
	le := func(size int, vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			for k := range size {
				b = append(b, byte(v>>(8*k)))
			}
		}
		return b
	}
	neg := func(v int64) uint64 { return uint64(v) }
	cases := []struct {
		name string
		tp   []byte
		want string
	}{
		{"float packed", pbFloats(tensorPB("t", TypeFloat, 3), tensorFloatData, []float32{1, -2.5, 3}, true), "[1 -2.5 3]"},
		{"float unpacked", pbFloats(tensorPB("t", TypeFloat, 3), tensorFloatData, []float32{1, -2.5, 3}, false), "[1 -2.5 3]"},
		{"float raw", pbBytes(tensorPB("t", TypeFloat, 2), tensorRawData, le(4, uint64(math.Float32bits(0.5)), uint64(math.Float32bits(-7)))), "[0.5 -7]"},
		{"double raw", pbBytes(tensorPB("t", TypeDouble, 2), tensorRawData, le(8, math.Float64bits(0.1), math.Float64bits(-1e300))), "[0.1 -Inf]"},
		{"double data", pbBytes(tensorPB("t", TypeDouble, 1), tensorDoubleData, le(8, math.Float64bits(1.5))), "[1.5]"},
		{"double unpacked", protowire.AppendFixed64(protowire.AppendTag(tensorPB("t", TypeDouble, 1), tensorDoubleData, protowire.Fixed64Type), math.Float64bits(-3)), "[-3]"},
		{"bfloat16", pbBytes(tensorPB("t", TypeBFloat16, 2), tensorRawData, le(2, 0x3f80, 0xc040)), "[1 -3]"},
		{"int64 packed", pbInts(tensorPB("t", TypeInt64, 3), tensorInt64Data, []int64{-1, 0, 1 << 40}, true), "[-1 0 1099511627776]"},
		{"int64 unpacked", pbInts(tensorPB("t", TypeInt64, 3), tensorInt64Data, []int64{-1, 0, 1 << 40}, false), "[-1 0 1099511627776]"},
		{"int64 raw", pbBytes(tensorPB("t", TypeInt64, 2), tensorRawData, le(8, neg(-5), 7)), "[-5 7]"},
		{"int32 raw", pbBytes(tensorPB("t", TypeInt32, 2), tensorRawData, le(4, neg(-5), 7)), "[-5 7]"},
		{"int32 data", pbInts(tensorPB("t", TypeInt32, 2), tensorInt32Data, []int64{-5, 7}, true), "[-5 7]"},
		{"int8 raw", pbBytes(tensorPB("t", TypeInt8, 3), tensorRawData, []byte{0xff, 0x80, 0x7f}), "[-1 -128 127]"},
		{"int8 data", pbInts(tensorPB("t", TypeInt8, 2), tensorInt32Data, []int64{-128, 127}, false), "[-128 127]"},
		{"uint8 raw", pbBytes(tensorPB("t", TypeUint8, 2), tensorRawData, []byte{0xff, 1}), "[255 1]"},
		{"int16 raw", pbBytes(tensorPB("t", TypeInt16, 1), tensorRawData, le(2, 0x8000)), "[-32768]"},
		{"uint16 raw", pbBytes(tensorPB("t", TypeUint16, 1), tensorRawData, le(2, 0x8000)), "[32768]"},
		{"uint32 raw", pbBytes(tensorPB("t", TypeUint32, 1), tensorRawData, le(4, 0xffffffff)), "[4294967295]"},
		{"uint64 data", pbInts(tensorPB("t", TypeUint64, 1), tensorUint64Data, []int64{1 << 62}, true), "[4611686018427387904]"},
		{"bool raw", pbBytes(tensorPB("t", TypeBool, 3), tensorRawData, []byte{0, 1, 2}), "[0 1 1]"},
		{"bool data", pbInts(tensorPB("t", TypeBool, 2), tensorInt32Data, []int64{1, 0}, true), "[1 0]"},
	}
	for _, c := range cases {
		x, err := decodeInit(t, c.tp, DecodeOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got string
		if x.DType() == tensor.Int64 {
			got = fmt.Sprint(x.I64())
		} else {
			got = fmt.Sprint(x.F32())
		}
		if got != c.want {
			t.Errorf("%s: %v %s, want %s", c.name, x, got, c.want)
		}
	}
	// UINT64 beyond int64.
	_, err := decodeInit(t, pbBytes(tensorPB("U", TypeUint64, 1), tensorRawData, le(8, 1<<63)), DecodeOptions{})
	wantErr(t, err, `initializer "U"`, "does not fit in int64")
}

func TestUnsupportedTypes(t *testing.T) {
	for _, c := range []struct {
		dt   int32
		name string
	}{{TypeString, "STRING"}, {TypeComplex64, "COMPLEX64"}, {TypeComplex128, "COMPLEX128"}, {19, "FLOAT8E5M2"}, {99, "type 99"}} {
		tp := pbString(tensorPB("names", c.dt, 1), tensorStringData, "cat")
		_, err := Decode(withInit(tp), DecodeOptions{})
		wantErr(t, err, `initializer "names"`, "data type "+c.name+" is not supported")
		_, name, err := DecodeTensor(tp, DecodeOptions{})
		wantErr(t, err, `tensor "names"`, c.name)
		if name != "names" {
			t.Errorf("DecodeTensor name %q", name)
		}
	}
}

// nodePB builds a NodeProto.
func nodePB(name, op string, in, out []string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = pbString(b, nodeInput, s)
	}
	for _, s := range out {
		b = pbString(b, nodeOutput, s)
	}
	b = pbString(b, nodeName, name)
	b = pbString(b, nodeOpType, op)
	for _, a := range attrs {
		b = pbBytes(b, nodeAttribute, a)
	}
	return b
}

func attrPB(name string, typ AttrType, body []byte) []byte {
	b := pbString(nil, attrName, name)
	if typ != AttrUndefined {
		b = pbVarint(b, attrType, uint64(typ))
	}
	return append(b, body...)
}

func TestAttributes(t *testing.T) {
	floatBits := math.Float32bits(0.25)
	value := pbFloats(tensorPB("c", TypeFloat, 2), tensorFloatData, []float32{1, 2}, true)
	node := nodePB("n", "Thing", []string{"x", ""}, []string{"y"},
		attrPB("packed", AttrInts, pbInts(nil, attrInts, []int64{1, -2, 3}, true)),
		attrPB("unpacked", AttrInts, pbInts(nil, attrInts, []int64{1, -2, 3}, false)),
		attrPB("mixed", AttrInts, pbInts(pbInts(nil, attrInts, []int64{1}, false), attrInts, []int64{-2, 3}, true)),
		attrPB("i", AttrInt, pbInts(nil, attrI, []int64{-7}, false)),
		attrPB("f", AttrFloat, pbFixed32(nil, attrF, floatBits)),
		attrPB("fs", AttrFloats, pbFloats(nil, attrFloats, []float32{0.5, 1.5}, true)),
		attrPB("fs1", AttrFloats, pbFloats(nil, attrFloats, []float32{0.5, 1.5}, false)),
		attrPB("s", AttrString, pbString(nil, attrS, "NOTSET")),
		attrPB("ss", AttrStrings, pbString(pbString(nil, attrStrings, "a"), attrStrings, "b")),
		attrPB("value", AttrTensor, pbBytes(nil, attrT, value)),
		attrPB("then_branch", AttrGraph, pbBytes(nil, attrG, []byte{0x0a, 0x00})),
		attrPB("untyped", AttrUndefined, pbVarint(nil, attrI, 5)), // IR version 1: no type field
		attrPB("empty", AttrInts, nil),
	)
	m, err := Decode(modelPB(pbBytes(nil, graphNode, node)), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := m.Graph.Nodes[0]
	a := n.Attrs
	if fmt.Sprint(n.Inputs, n.Outputs) != "[x ] [y]" || n.OpType != "Thing" || n.Name != "n" {
		t.Errorf("node %+v", n)
	}
	for _, name := range []string{"packed", "unpacked", "mixed"} {
		if got := a.Ints(name, nil); fmt.Sprint(got) != "[1 -2 3]" {
			t.Errorf("%s: %v", name, got)
		}
	}
	if a.Int("i", 0) != -7 || a.Float("f", 0) != 0.25 || a.String("s", "") != "NOTSET" ||
		fmt.Sprint(a.Floats("fs", nil), a.Floats("fs1", nil)) != "[0.5 1.5] [0.5 1.5]" ||
		fmt.Sprint(a.Strings("ss", nil)) != "[a b]" || a.Int("untyped", 0) != 5 {
		t.Errorf("attribute values wrong")
	}
	if v := a.Tensor("value"); v == nil || fmt.Sprint(v.F32()) != "[1 2]" {
		t.Errorf("tensor attribute %v", v)
	}
	if !a.Has("then_branch") || a.Type("then_branch") != AttrGraph || a.Tensor("then_branch") != nil {
		t.Error("graph attribute not recorded")
	}
	if got := a.Ints("empty", []int64{9}); got == nil || len(got) != 0 {
		t.Errorf("empty INTS: %v", got)
	}
	// Wrong type or absent: the default.
	if a.Float("packed", -1) != -1 || a.Int("f", -1) != -1 || a.Ints("i", nil) != nil ||
		a.String("i", "d") != "d" || a.Tensor("i") != nil || a.Int("absent", 3) != 3 ||
		a.Has("absent") || a.Type("absent") != AttrUndefined {
		t.Error("getters must return the default on a type mismatch")
	}
	// The getters hand out copies.
	a.Ints("packed", nil)[0] = 100
	if a.Ints("packed", nil)[0] != 1 {
		t.Error("Ints returned shared storage")
	}
	want := "[packed unpacked mixed i f fs fs1 s ss value then_branch untyped empty]"
	if fmt.Sprint(a.Names()) != want {
		t.Errorf("Names %v", a.Names())
	}
	var none *Attributes
	if none.Has("x") || none.Int("x", 4) != 4 || none.Names() != nil {
		t.Error("nil Attributes")
	}

	// A bad tensor attribute names its node and attribute.
	bad := nodePB("c1", "Constant", nil, []string{"y"},
		attrPB("value", AttrTensor, pbBytes(nil, attrT, pbBytes(tensorPB("", TypeFloat, 2), tensorRawData, []byte{1}))))
	_, err = Decode(modelPB(pbBytes(nil, graphNode, bad)), DecodeOptions{})
	wantErr(t, err, `node "c1" (Constant)`, `attribute "value"`, "raw_data has 1 bytes, expected 8")

	dup := nodePB("d", "Relu", nil, nil, attrPB("a", AttrInt, nil), attrPB("a", AttrInt, nil))
	_, err = Decode(modelPB(pbBytes(nil, graphNode, dup)), DecodeOptions{})
	wantErr(t, err, `node "d" (Relu)`, `attribute "a" appears twice`)
}

func TestValueInfo(t *testing.T) {
	dim := func(v int64, param string) []byte {
		if param != "" {
			return pbString(nil, 2, param)
		}
		if v < 0 {
			return nil
		}
		return pbVarint(nil, 1, uint64(v))
	}
	var shape []byte
	shape = pbBytes(shape, 1, dim(0, "batch"))
	shape = pbBytes(shape, 1, dim(3, ""))
	shape = pbBytes(shape, 1, dim(-1, ""))
	tt := pbBytes(pbVarint(nil, 1, TypeFloat), 2, shape)
	in := pbBytes(pbString(nil, 1, "x"), 2, pbBytes(nil, typeTensor, tt))
	scalar := pbBytes(pbString(nil, 1, "s"), 2, pbBytes(nil, typeTensor, pbBytes(pbVarint(nil, 1, TypeInt64), 2, nil)))
	noShape := pbBytes(pbString(nil, 1, "u"), 2, pbBytes(nil, typeTensor, pbVarint(nil, 1, TypeFloat)))
	seq := pbBytes(pbString(nil, 1, "q"), 2, pbBytes(nil, typeSequence, pbBytes(nil, 1, pbBytes(nil, typeTensor, nil))))
	var g []byte
	g = pbBytes(g, graphInput, in)
	g = pbBytes(g, graphInput, scalar)
	g = pbBytes(g, graphOutput, noShape)
	g = pbBytes(g, graphValueInfo, seq)
	m, err := Decode(modelPB(g), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x, s, u, q := m.Graph.Inputs[0], m.Graph.Inputs[1], m.Graph.Outputs[0], m.Graph.ValueInfo[0]
	if x.Name != "x" || x.ElemType != TypeFloat || !x.HasShape || fmt.Sprint(x.Shape) != "[-1 3 -1]" ||
		fmt.Sprintf("%q", x.DimNames) != `["batch" "" ""]` || x.Kind != "tensor" {
		t.Errorf("x: %+v", x)
	}
	if s.ElemType != TypeInt64 || !s.HasShape || len(s.Shape) != 0 || s.DimNames != nil {
		t.Errorf("scalar: %+v", s)
	}
	if u.HasShape || u.ElemType != TypeFloat {
		t.Errorf("no shape: %+v", u)
	}
	if q.Kind != "sequence" || q.ElemType != 0 || q.HasShape {
		t.Errorf("sequence: %+v", q)
	}
}

func TestModelHeader(t *testing.T) {
	var b []byte
	b = pbVarint(b, modelIRVersion, 3)
	b = pbBytes(b, modelOpsetImport, pbVarint(pbString(nil, 1, "ai.onnx"), 2, 11))
	b = pbBytes(b, modelOpsetImport, pbVarint(pbString(nil, 1, "com.microsoft"), 2, 1))
	b = pbBytes(b, modelMetadataProps, pbString(pbString(nil, 1, "author"), 2, "me"))
	b = pbBytes(b, 99, []byte("unknown fields are skipped"))
	b = pbBytes(b, modelGraph, pbString(nil, graphName, "main"))
	m, err := Decode(b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset != 11 || m.OpsetImports["com.microsoft"] != 1 || m.IRVersion != 3 ||
		m.Metadata["author"] != "me" || m.Graph.Name != "main" || len(m.Graph.Nodes) != 0 {
		t.Errorf("model %+v, graph %+v", m, m.Graph)
	}
	// No opset import at all: version 1.
	m, err = Decode(pbBytes(nil, modelGraph, nil), DecodeOptions{})
	if err != nil || m.Opset != 1 {
		t.Errorf("default opset: %v %v", m, err)
	}
}

func TestCorrupt(t *testing.T) {
	_, err := Decode(nil, DecodeOptions{})
	wantErr(t, err, "no graph in model (is this an ONNX file?)")
	_, err = Decode(pbVarint(nil, modelIRVersion, 8), DecodeOptions{})
	wantErr(t, err, "no graph in model")

	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	_, err = Decode(png, DecodeOptions{})
	wantErr(t, err, "truncated or corrupt model file (at byte", "of 16")

	full := modelPB(pbString(nil, graphName, "g"))
	_, err = Decode(full[:len(full)-2], DecodeOptions{})
	wantErr(t, err, "truncated or corrupt model file", fmt.Sprintf("of %d", len(full)-2))

	// A graph field with the wrong wire type.
	_, err = Decode(pbVarint(nil, modelGraph, 1), DecodeOptions{})
	wantErr(t, err, "truncated or corrupt model file (at byte 0 of 2, in ModelProto)", "wire type varint, want length-delimited")

	// A broken node inside the graph says which node.
	g := pbBytes(nil, graphNode, nodePB("a", "Relu", nil, nil))
	g = pbBytes(g, graphNode, []byte{0x0a, 0x05, 'x'})
	_, err = Decode(modelPB(g), DecodeOptions{})
	wantErr(t, err, "in node #1")

	_, _, err = DecodeTensor([]byte{0x0a, 0x05}, DecodeOptions{})
	wantErr(t, err, "truncated or corrupt tensor file (at byte")

	// Packed data whose length is not a whole number of elements.
	_, err = Decode(withInit(pbBytes(tensorPB("W", TypeFloat, 1), tensorFloatData, []byte{1, 2, 3})), DecodeOptions{})
	wantErr(t, err, "not a multiple of 4")

	w := pbBytes(nil, graphInitializer, pbBytes(tensorPB("W", TypeFloat), tensorRawData, make([]byte, 4)))
	_, err = Decode(modelPB(append(w, w...)), DecodeOptions{})
	wantErr(t, err, `initializer "W" appears twice`)
}
