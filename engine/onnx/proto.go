package onnx

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file holds the wire-level helpers: walking the fields of one message,
// reading scalars, strings, sub-messages and repeated scalars (packed or not),
// and turning anything malformed into an error that says where it happened.

// decoder carries what every error message needs: the size of the whole
// input, what kind of file it is, and the tensor size limit.
type decoder struct {
	total    int    // length of the whole input
	file     string // "model file" or "tensor file"
	maxBytes int64  // largest tensor to allocate, in bytes
	lastType int32  // the data type of the last tensor decoded
}

// span is a message's bytes and the offset of its first byte in the input.
type span struct {
	b   []byte
	off int
}

// field is one decoded field of a message. For varint and fixed fields the
// value is in v; for length-delimited fields the payload is in b, starting at
// boff in the input.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	off  int // offset of the tag
	v    uint64
	b    []byte
	boff int
}

// corrupt builds the error for malformed protobuf at offset off.
func (d *decoder) corrupt(off int, where, detail string) error {
	msg := fmt.Sprintf("onnx: truncated or corrupt %s (at byte %d of %d", d.file, off, d.total)
	if where != "" {
		msg += ", in " + where
	}
	msg += ")"
	if detail != "" {
		msg += ": " + detail
	}
	return errors.New(msg)
}

// fields calls fn for each field of the message m, in order. Groups (a
// deprecated proto2 encoding ONNX never uses) are skipped whole.
func (d *decoder) fields(m span, where string, fn func(f *field) error) error {
	b := m.b
	pos := 0
	for pos < len(b) {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return d.corrupt(m.off+pos, where, "bad field tag")
		}
		f := field{num: num, typ: typ, off: m.off + pos}
		pos += n
		rest := b[pos:]
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(rest)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(rest)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(rest)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(rest)
			if n >= 0 {
				f.boff = m.off + pos + n - len(f.b)
			}
		case protowire.StartGroupType:
			n = protowire.ConsumeFieldValue(num, typ, rest)
		default:
			return d.corrupt(f.off, where, fmt.Sprintf("field %d has invalid wire type %d", num, typ))
		}
		if n < 0 {
			return d.corrupt(m.off+pos, where, fmt.Sprintf("field %d: %v", num, protowire.ParseError(n)))
		}
		pos += n
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}

var wireNames = map[protowire.Type]string{
	protowire.VarintType:     "varint",
	protowire.Fixed32Type:    "fixed32",
	protowire.Fixed64Type:    "fixed64",
	protowire.BytesType:      "length-delimited",
	protowire.StartGroupType: "group",
}

// want checks that f has wire type typ.
func (d *decoder) want(f *field, typ protowire.Type, where string) error {
	if f.typ == typ {
		return nil
	}
	return d.corrupt(f.off, where, fmt.Sprintf("field %d has wire type %s, want %s",
		f.num, wireNames[f.typ], wireNames[typ]))
}

// str reads a string field.
func (d *decoder) str(f *field, where string) (string, error) {
	if err := d.want(f, protowire.BytesType, where); err != nil {
		return "", err
	}
	return string(f.b), nil
}

// msg reads a sub-message field.
func (d *decoder) msg(f *field, where string) (span, error) {
	if err := d.want(f, protowire.BytesType, where); err != nil {
		return span{}, err
	}
	return span{f.b, f.boff}, nil
}

// varint reads a varint field (int32, int64, enum, bool).
func (d *decoder) varint(f *field, where string) (uint64, error) {
	if err := d.want(f, protowire.VarintType, where); err != nil {
		return 0, err
	}
	return f.v, nil
}

// repeated collects the occurrences of a repeated scalar field, packed or
// not, without decoding them, so that their number can be checked before
// anything is allocated. elem is the wire type of one element.
type repeated struct {
	elem   protowire.Type
	chunks []field
	n      int // number of elements
}

// add appends one occurrence of the field.
func (r *repeated) add(d *decoder, f *field, where string) error {
	if f.typ == r.elem {
		r.chunks = append(r.chunks, *f)
		r.n++
		return nil
	}
	if f.typ != protowire.BytesType {
		return d.corrupt(f.off, where, fmt.Sprintf("field %d has wire type %s, want %s or packed",
			f.num, wireNames[f.typ], wireNames[r.elem]))
	}
	switch r.elem {
	case protowire.Fixed32Type, protowire.Fixed64Type:
		size := 4
		if r.elem == protowire.Fixed64Type {
			size = 8
		}
		if len(f.b)%size != 0 {
			return d.corrupt(f.boff, where, fmt.Sprintf("packed field %d has %d bytes, not a multiple of %d",
				f.num, len(f.b), size))
		}
		r.n += len(f.b) / size
	default: // varints: one ends at each byte without the continuation bit
		for _, c := range f.b {
			if c < 0x80 {
				r.n++
			}
		}
		if len(f.b) > 0 && f.b[len(f.b)-1] >= 0x80 {
			return d.corrupt(f.boff+len(f.b)-1, where, fmt.Sprintf("packed field %d ends inside a varint", f.num))
		}
	}
	r.chunks = append(r.chunks, *f)
	return nil
}

// each calls fn with every element's raw value (the varint, or the fixed32 /
// fixed64 bits) in order.
func (r *repeated) each(d *decoder, where string, fn func(v uint64)) error {
	for k := range r.chunks {
		c := &r.chunks[k]
		if c.typ != protowire.BytesType {
			fn(c.v)
			continue
		}
		b := c.b
		switch r.elem {
		case protowire.Fixed32Type:
			for p := 0; p+4 <= len(b); p += 4 {
				fn(uint64(uint32(b[p]) | uint32(b[p+1])<<8 | uint32(b[p+2])<<16 | uint32(b[p+3])<<24))
			}
		case protowire.Fixed64Type:
			for p := 0; p+8 <= len(b); p += 8 {
				fn(le64(b[p:]))
			}
		default:
			for p := 0; p < len(b); {
				v, n := protowire.ConsumeVarint(b[p:])
				if n < 0 {
					return d.corrupt(c.boff+p, where, fmt.Sprintf("packed field %d: %v", c.num, protowire.ParseError(n)))
				}
				fn(v)
				p += n
			}
		}
	}
	return nil
}

// int64s decodes a repeated varint field as int64 values.
func (r *repeated) int64s(d *decoder, where string) ([]int64, error) {
	out := make([]int64, 0, r.n)
	err := r.each(d, where, func(v uint64) { out = append(out, int64(v)) })
	return out, err
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
