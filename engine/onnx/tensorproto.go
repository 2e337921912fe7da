package onnx

import (
	"fmt"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TensorProto.DataType values (onnx.proto).
const (
	TypeUndefined  = 0
	TypeFloat      = 1
	TypeUint8      = 2
	TypeInt8       = 3
	TypeUint16     = 4
	TypeInt16      = 5
	TypeInt32      = 6
	TypeInt64      = 7
	TypeString     = 8
	TypeBool       = 9
	TypeFloat16    = 10
	TypeDouble     = 11
	TypeUint32     = 12
	TypeUint64     = 13
	TypeComplex64  = 14
	TypeComplex128 = 15
	TypeBFloat16   = 16
)

var typeNames = []string{
	"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
	"BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
	"FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1",
}

// TypeName returns the ONNX name of a TensorProto data type, e.g. "FLOAT".
func TypeName(t int32) string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type %d", t)
}

// TensorProto field numbers.
const (
	tensorDims         = 1
	tensorDataType     = 2
	tensorSegment      = 3
	tensorFloatData    = 4
	tensorInt32Data    = 5
	tensorStringData   = 6
	tensorInt64Data    = 7
	tensorName         = 8
	tensorRawData      = 9
	tensorDoubleData   = 10
	tensorUint64Data   = 11
	tensorExternalData = 13
	tensorDataLocation = 14
)

// dtype says how one supported ONNX data type is stored and what it becomes.
type dtype struct {
	raw  int            // bytes per element in raw_data
	src  int            // typed field holding the values when raw_data is absent
	elem protowire.Type // wire type of one element of that field
	out  tensor.DType   // engine type it is converted to
}

var dtypes = map[int32]dtype{
	TypeFloat:    {4, tensorFloatData, protowire.Fixed32Type, tensor.Float32},
	TypeDouble:   {8, tensorDoubleData, protowire.Fixed64Type, tensor.Float32},
	TypeFloat16:  {2, tensorInt32Data, protowire.VarintType, tensor.Float32},
	TypeBFloat16: {2, tensorInt32Data, protowire.VarintType, tensor.Float32},
	TypeInt64:    {8, tensorInt64Data, protowire.VarintType, tensor.Int64},
	TypeInt32:    {4, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeInt16:    {2, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeUint16:   {2, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeInt8:     {1, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeUint8:    {1, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeBool:     {1, tensorInt32Data, protowire.VarintType, tensor.Int64},
	TypeUint32:   {4, tensorUint64Data, protowire.VarintType, tensor.Int64},
	TypeUint64:   {8, tensorUint64Data, protowire.VarintType, tensor.Int64},
}

// DecodeTensor decodes one serialized TensorProto, such as the input_N.pb and
// output_N.pb files of the ONNX conformance tests, and returns it with its
// name. The conversion rules are those of initializers (see Decode).
func DecodeTensor(data []byte, opts DecodeOptions) (*tensor.T, string, error) {
	d := newDecoder(len(data), "tensor file", opts)
	return d.tensor(span{data, 0}, "TensorProto", func(name string) string {
		if name == "" {
			return "tensor"
		}
		return fmt.Sprintf("tensor %q", name)
	})
}

// tensor decodes a TensorProto. label turns the tensor's name into the
// phrase that starts its error messages (`initializer "W"`); where locates
// it for wire-level errors.
func (d *decoder) tensor(m span, where string, label func(name string) string) (*tensor.T, string, error) {
	var (
		name         string
		dataType     int32
		dims         = repeated{elem: protowire.VarintType}
		data         = map[int]*repeated{}
		raw          []byte
		hasRaw       bool
		hasStrings   bool
		hasSegment   bool
		location     int64
		externalFile string
		hasExternal  bool
	)
	err := d.fields(m, where, func(f *field) error {
		var err error
		switch f.num {
		case tensorDims:
			err = dims.add(d, f, where)
		case tensorDataType:
			var v uint64
			v, err = d.varint(f, where)
			dataType = int32(v)
		case tensorSegment:
			hasSegment = true
		case tensorFloatData, tensorInt32Data, tensorInt64Data, tensorDoubleData, tensorUint64Data:
			r := data[int(f.num)]
			if r == nil {
				r = &repeated{elem: protowire.VarintType}
				switch f.num {
				case tensorFloatData:
					r.elem = protowire.Fixed32Type
				case tensorDoubleData:
					r.elem = protowire.Fixed64Type
				}
				data[int(f.num)] = r
			}
			err = r.add(d, f, where)
		case tensorStringData:
			hasStrings = true
		case tensorName:
			name, err = d.str(f, where)
		case tensorRawData:
			err = d.want(f, protowire.BytesType, where)
			raw, hasRaw = f.b, true
		case tensorExternalData:
			hasExternal = true
			var kv span
			if kv, err = d.msg(f, where); err != nil {
				return err
			}
			var k, v string
			if k, v, err = d.stringPair(kv, where); err == nil && k == "location" {
				externalFile = v
			}
		case tensorDataLocation:
			var v uint64
			v, err = d.varint(f, where)
			location = int64(v)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("onnx: %s: %s", label(name), fmt.Sprintf(format, args...))
	}

	if hasExternal || location == 1 {
		if externalFile != "" {
			return nil, name, fail("weights stored in external data file %q, which is not supported; re-export with all weights in the .onnx file", externalFile)
		}
		return nil, name, fail("weights stored in an external data file, which is not supported; re-export with all weights in the .onnx file")
	}
	if hasSegment {
		return nil, name, fail("segmented tensors are not supported")
	}
	d.lastType = dataType
	dt, ok := dtypes[dataType]
	if !ok {
		switch {
		case dataType == TypeUndefined && hasStrings:
			return nil, name, fail("data type UNDEFINED with string data is not supported")
		case dataType == TypeUndefined:
			return nil, name, fail("no data type")
		}
		return nil, name, fail("data type %s is not supported (only numeric and boolean tensors are)", TypeName(dataType))
	}

	// Shape: check every dimension, and the size, before allocating.
	dims64, err := dims.int64s(d, where)
	if err != nil {
		return nil, name, err
	}
	outSize := int64(4)
	if dt.out == tensor.Int64 {
		outSize = 8
	}
	count, err := d.checkDims(dims64, outSize)
	if err != nil {
		return nil, name, fail("%v", err)
	}
	shape := make([]int, len(dims64))
	for k, v := range dims64 {
		shape[k] = int(v)
	}

	// The values: raw_data when present, else the type's own field.
	var src *repeated
	if !hasRaw || len(raw) == 0 {
		src = data[dt.src]
		if src == nil && !hasRaw && count > 0 {
			return nil, name, fail("no data (%d %s values expected for dims %v)", count, TypeName(dataType), dims64)
		}
	}
	if src == nil {
		if int64(len(raw)) != count*int64(dt.raw) {
			return nil, name, fail("raw_data has %d bytes, expected %d (%d %s values of %d bytes for dims %v)",
				len(raw), count*int64(dt.raw), count, TypeName(dataType), dt.raw, dims64)
		}
	} else if int64(src.n) != count {
		return nil, name, fail("%s has %d values, expected %d for dims %v",
			dataFieldNames[dt.src], src.n, count, dims64)
	}

	n := int(count)
	if dt.out == tensor.Float32 {
		out := make([]float32, n)
		conv := f32conv(dataType)
		if src == nil {
			if dataType == TypeFloat && littleEndian && n > 0 {
				// The bytes are the values already: one copy (a loop
				// per value showed among the hot spots of a model's
				// first load in the page).
				copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n), raw)
			} else if dataType == TypeFloat {
				for k := range out {
					b := raw[4*k:]
					out[k] = math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
				}
			} else {
				for k := range out {
					out[k] = conv(leN(raw[k*dt.raw:], dt.raw))
				}
			}
		} else {
			k := 0
			err = src.each(d, where, func(v uint64) {
				if k < n {
					out[k] = conv(v)
				}
				k++
			})
			if err != nil {
				return nil, name, err
			}
			if k != n {
				return nil, name, fail("%d values decoded, expected %d", k, n)
			}
		}
		return tensor.FromF32(out, shape...), name, nil
	}

	out := make([]int64, n)
	conv := i64conv(dataType)
	if src == nil {
		for k := range out {
			out[k] = conv(leN(raw[k*dt.raw:], dt.raw))
		}
	} else {
		k := 0
		err = src.each(d, where, func(v uint64) {
			if k < n {
				out[k] = conv(v)
			}
			k++
		})
		if err != nil {
			return nil, name, err
		}
		if k != n {
			return nil, name, fail("%d values decoded, expected %d", k, n)
		}
	}
	if dataType == TypeUint64 {
		for k, v := range out {
			if v < 0 {
				return nil, name, fail("UINT64 value %d at index %d does not fit in int64", uint64(v), k)
			}
		}
	}
	return tensor.FromI64(out, shape...), name, nil
}

var dataFieldNames = map[int]string{
	tensorFloatData:  "float_data",
	tensorInt32Data:  "int32_data",
	tensorInt64Data:  "int64_data",
	tensorDoubleData: "double_data",
	tensorUint64Data: "uint64_data",
}

// checkDims validates a tensor's dimensions and returns its element count.
// It fails on a negative dimension, on a count that overflows, and on a
// tensor whose converted size (elemSize bytes per element) exceeds the
// limit.
func (d *decoder) checkDims(dims []int64, elemSize int64) (int64, error) {
	zero := false
	for _, v := range dims {
		if v < 0 {
			return 0, fmt.Errorf("negative dimension in dims %v", dims)
		}
		if uint64(v) > uint64(math.MaxInt) {
			return 0, fmt.Errorf("dims %v: dimension too large for this platform", dims)
		}
		if v == 0 {
			zero = true
		}
	}
	if zero {
		return 0, nil
	}
	count := int64(1)
	for _, v := range dims {
		if count > math.MaxInt64/v {
			return 0, fmt.Errorf("dims %v: element count overflows int64", dims)
		}
		count *= v
	}
	if count > math.MaxInt64/elemSize || count*elemSize > d.maxBytes {
		return 0, fmt.Errorf("dims %v: %d elements exceed the tensor size limit of %d bytes", dims, count, d.maxBytes)
	}
	if uint64(count) > uint64(math.MaxInt) {
		return 0, fmt.Errorf("dims %v: too many elements for this platform", dims)
	}
	return count, nil
}

// leN reads an n-byte little-endian unsigned integer.
func leN(b []byte, n int) uint64 {
	var v uint64
	for k := n - 1; k >= 0; k-- {
		v = v<<8 | uint64(b[k])
	}
	return v
}

// littleEndian tells whether float32s are stored as ONNX's raw_data stores
// them (true on wasm, amd64 and arm64).
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f32conv converts one element's bits (raw little-endian bytes, or the
// value of the typed field) to float32.
func f32conv(dataType int32) func(uint64) float32 {
	switch dataType {
	case TypeDouble:
		return func(v uint64) float32 { return float32(math.Float64frombits(v)) }
	case TypeFloat16:
		return func(v uint64) float32 { return halfToFloat(uint16(v)) }
	case TypeBFloat16:
		return func(v uint64) float32 { return math.Float32frombits(uint32(uint16(v)) << 16) }
	}
	return func(v uint64) float32 { return math.Float32frombits(uint32(v)) }
}

// i64conv converts one element's bits to int64. Values in int32_data are
// varints of the sign-extended value, so truncating to the type's width
// gives the same result as for raw bytes.
func i64conv(dataType int32) func(uint64) int64 {
	switch dataType {
	case TypeInt32:
		return func(v uint64) int64 { return int64(int32(uint32(v))) }
	case TypeInt16:
		return func(v uint64) int64 { return int64(int16(uint16(v))) }
	case TypeInt8:
		return func(v uint64) int64 { return int64(int8(uint8(v))) }
	case TypeUint32:
		return func(v uint64) int64 { return int64(uint32(v)) }
	case TypeUint16:
		return func(v uint64) int64 { return int64(uint16(v)) }
	case TypeUint8:
		return func(v uint64) int64 { return int64(uint8(v)) }
	case TypeBool:
		return func(v uint64) int64 {
			if v != 0 {
				return 1
			}
			return 0
		}
	}
	return func(v uint64) int64 { return int64(v) }
}

// halfToFloat converts IEEE 754 binary16 bits to float32 (exactly: every
// half value is representable).
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0: // zero or subnormal: mant × 2⁻²⁴
		f := float32(mant) / (1 << 24)
		return math.Float32frombits(math.Float32bits(f) | sign)
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// stringPair decodes a StringStringEntryProto (key = 1, value = 2).
func (d *decoder) stringPair(m span, where string) (key, value string, err error) {
	err = d.fields(m, where, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			key, err = d.str(f, where)
		case 2:
			value, err = d.str(f, where)
		}
		return err
	})
	return key, value, err
}
