// Package interop connects the engine's tensors to the rest of the Go and
// Python world through gorgonia.org/tensor:
//
//   - NumPy's .npy files: ReadNpy and WriteNpy read and write them with
//     gorgonia's npy support ((*tensor.Dense).ReadNpy and WriteNpy), so an
//     input prepared in Python, or a map computed by the engine, crosses
//     over with its real shape.
//   - gorgonia tensors: ToDense and FromDense convert between the engine's
//     *tensor.T and gorgonia's *tensor.Dense, sharing the storage wherever
//     they can (see each function for when it copies).
//
// The engine itself does not use gorgonia: its tensors are plain slices
// and a shape, and the WebAssembly engine does not link this package.
//
// Two limits of gorgonia.org/tensor v0.9.24 shape what is accepted. It
// cannot hold an array without elements (a dimension of 0), so ToDense
// refuses one and the .npy functions handle those (a header and no data)
// themselves. Its ReadNpy reads int64 and uint64 arrays into Go int/uint,
// which it then fails to decode, assumes little-endian data, and leaves
// bool arrays unfilled; ReadNpy therefore checks the header first and
// names the dtype it cannot read rather than return wrong values.
package interop

import (
	"fmt"

	gt "gorgonia.org/tensor"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// ToDense returns a gorgonia Dense that shares t's storage (no copy): a
// write through either is seen by the other, and the Dense has t's shape
// (rank 0 for a scalar). A float32 tensor gives a Float32 Dense, an int64
// tensor an Int64 Dense. A tensor without elements is an error, as
// gorgonia.org/tensor cannot hold one.
func ToDense(t *tensor.T) (*gt.Dense, error) {
	if t == nil {
		return nil, fmt.Errorf("interop: ToDense of a nil tensor")
	}
	if t.Len() == 0 {
		return nil, fmt.Errorf("interop: tensor of shape %s has no elements, which gorgonia.org/tensor cannot hold", tensor.ShapeString(t.Shape()))
	}
	shape := gt.Shape(append([]int{}, t.Shape()...))
	if t.DType() == tensor.Int64 {
		return gt.New(gt.WithShape(shape...), gt.WithBacking(t.I64())), nil
	}
	return gt.New(gt.WithShape(shape...), gt.WithBacking(t.F32())), nil
}

// FromDense returns the engine tensor of a gorgonia Dense, with d's shape.
//
// It shares d's storage (no copy) when d is a Float32 or Int64 Dense laid
// out in its own row-major storage, as ToDense, ReadNpy and gorgonia's
// constructors make them; the result is then float32 or int64 as d is.
// Otherwise it copies: a view or a transposed Dense (one that gorgonia
// would have to materialise) is copied in row-major order of its shape,
// and the other real dtypes (float64, int, int8…int32, uint, uint8…uint64)
// are converted to a new float32 tensor (integers beyond 2^24 and float64
// values lose precision as float32 does). Masked Denses and other dtypes
// (bool, complex, string) are an error naming the dtype.
func FromDense(d *gt.Dense) (*tensor.T, error) {
	if d == nil {
		return nil, fmt.Errorf("interop: FromDense of a nil Dense")
	}
	if d.IsMasked() {
		return nil, fmt.Errorf("interop: masked Dense (%v %v): the engine has no masks", d.Dtype(), d.Shape())
	}
	shape := append([]int{}, d.Shape()...)
	size := tensor.Size(shape)
	if size == 0 {
		return nil, fmt.Errorf("interop: Dense of shape %v has no elements", d.Shape())
	}
	if d.IsMaterializable() {
		m, ok := d.Materialize().(*gt.Dense)
		if !ok {
			return nil, fmt.Errorf("interop: cannot materialise the %v view of shape %v", d.Dtype(), d.Shape())
		}
		d = m
	}
	switch d.Dtype() {
	case gt.Float32:
		v, err := storage(d.Float32s(), size, d)
		if err != nil {
			return nil, err
		}
		return tensor.FromF32(v, shape...), nil
	case gt.Int64:
		v, err := storage(d.Int64s(), size, d)
		if err != nil {
			return nil, err
		}
		return tensor.FromI64(v, shape...), nil
	}
	var out []float32
	var err error
	switch d.Dtype() {
	case gt.Float64:
		out, err = convert(d.Float64s(), size, d)
	case gt.Int:
		out, err = convert(d.Ints(), size, d)
	case gt.Int8:
		out, err = convert(d.Int8s(), size, d)
	case gt.Int16:
		out, err = convert(d.Int16s(), size, d)
	case gt.Int32:
		out, err = convert(d.Int32s(), size, d)
	case gt.Uint:
		out, err = convert(d.Uints(), size, d)
	case gt.Uint8:
		out, err = convert(d.Uint8s(), size, d)
	case gt.Uint16:
		out, err = convert(d.Uint16s(), size, d)
	case gt.Uint32:
		out, err = convert(d.Uint32s(), size, d)
	case gt.Uint64:
		out, err = convert(d.Uint64s(), size, d)
	default:
		return nil, fmt.Errorf("interop: Dense of dtype %v: only real numbers convert to an engine tensor", d.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return tensor.FromF32(out, shape...), nil
}

// storage is the first size elements of a Dense's backing slice.
func storage[E any](v []E, size int, d *gt.Dense) ([]E, error) {
	if len(v) < size {
		return nil, fmt.Errorf("interop: %v Dense of shape %v holds %d values, not %d", d.Dtype(), d.Shape(), len(v), size)
	}
	return v[:size:size], nil
}

type number interface {
	~float64 | ~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// convert copies the first size elements of a Dense's backing slice into
// a new float32 slice.
func convert[E number](v []E, size int, d *gt.Dense) ([]float32, error) {
	v, err := storage(v, size, d)
	if err != nil {
		return nil, err
	}
	out := make([]float32, size)
	for i, x := range v {
		out[i] = float32(x)
	}
	return out, nil
}
