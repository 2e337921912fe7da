// Package tensor is the engine's value type: an N-dimensional array of float32
// (activations, weights) or int64 (shapes and indices), stored in row-major
// (NCHW) order.
//
// A tensor is a flat slice and a shape, nothing more: the engine's hot loops
// work on the slices returned by F32 and I64, which are the storage itself.
// Zero-size tensors (a dimension of 0) are allowed. Package engine/interop
// converts to and from gorgonia.org/tensor and NumPy's .npy files.
package tensor

import (
	"fmt"
	"strconv"
	"strings"
)

// DType is the element type of a tensor.
type DType uint8

const (
	Float32 DType = iota
	Int64
)

func (d DType) String() string {
	if d == Int64 {
		return "int64"
	}
	return "float32"
}

// T is a dense tensor. Its zero value is not usable; build one with New,
// FromF32, FromI64 or Scalar.
type T struct {
	dtype DType
	shape []int
	f     []float32 // the elements when dtype == Float32
	i     []int64   // the elements when dtype == Int64
	// frozen: the elements never change again (Freeze).
	frozen bool
}

// Size is the number of elements of a shape (1 for a scalar shape).
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New returns a zeroed float32 tensor of the given shape.
func New(shape ...int) *T {
	return FromF32(make([]float32, Size(shape)), shape...)
}

// NewI64 returns a zeroed int64 tensor of the given shape.
func NewI64(shape ...int) *T {
	return FromI64(make([]int64, Size(shape)), shape...)
}

// FromF32 wraps data (not copied) as a float32 tensor. It panics if the
// length does not match the shape: that is a programming error.
func FromF32(data []float32, shape ...int) *T {
	if len(data) != Size(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &T{dtype: Float32, shape: append([]int{}, shape...), f: data}
}

// FromI64 wraps data (not copied) as an int64 tensor.
func FromI64(data []int64, shape ...int) *T {
	if len(data) != Size(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &T{dtype: Int64, shape: append([]int{}, shape...), i: data}
}

// Scalar returns a rank-0 float32 tensor.
func Scalar(v float32) *T { return FromF32([]float32{v}) }

// DType is the element type.
func (t *T) DType() DType { return t.dtype }

// Shape returns the dimensions. The caller must not modify the slice.
func (t *T) Shape() []int { return t.shape }

// Rank is the number of dimensions.
func (t *T) Rank() int { return len(t.shape) }

// Len is the number of elements.
func (t *T) Len() int { return Size(t.shape) }

// F32 returns the float32 elements (nil for an int64 tensor).
func (t *T) F32() []float32 { return t.f }

// I64 returns the int64 elements (nil for a float32 tensor).
func (t *T) I64() []int64 { return t.i }

// Freeze records that t's elements will never change again, so that what
// is derived from them may be kept without reading them again: a Conv keeps
// its weights transformed and packed for the GEMM, and checks unfrozen
// weights for changes at every call by hashing them (for ResNet-18, 46 MB
// read per pass). A model's weights are frozen when it is loaded
// (model.Load); a trainer's are not. Code holding a frozen tensor must
// never write to its elements: it works on a Clone, which is not frozen.
func (t *T) Freeze() { t.frozen = true }

// Frozen reports whether t was frozen (Freeze), or reshaped from a frozen
// tensor.
func (t *T) Frozen() bool { return t.frozen }

// Reshape returns a tensor sharing t's storage with a new shape of the same
// size (frozen if t is).
func (t *T) Reshape(shape ...int) (*T, error) {
	if Size(shape) != t.Len() {
		return nil, fmt.Errorf("tensor: cannot reshape %v (%d values) to %v", t.shape, t.Len(), shape)
	}
	var r *T
	if t.dtype == Int64 {
		r = FromI64(t.i, shape...)
	} else {
		r = FromF32(t.f, shape...)
	}
	r.frozen = t.frozen
	return r, nil
}

// Clone returns a deep copy.
func (t *T) Clone() *T {
	if t.dtype == Int64 {
		return FromI64(append([]int64(nil), t.i...), t.shape...)
	}
	return FromF32(append([]float32(nil), t.f...), t.shape...)
}

// Ints returns the elements as ints, converting float32 values; used for
// shape-like inputs (Reshape's shape, Gather's indices).
func (t *T) Ints() []int {
	out := make([]int, t.Len())
	if t.dtype == Int64 {
		for k, v := range t.i {
			out[k] = int(v)
		}
	} else {
		for k, v := range t.f {
			out[k] = int(v)
		}
	}
	return out
}

// AsF32 returns the elements as float32, converting int64 values.
func (t *T) AsF32() []float32 {
	if t.dtype == Float32 {
		return t.f
	}
	out := make([]float32, len(t.i))
	for k, v := range t.i {
		out[k] = float32(v)
	}
	return out
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as "1×3×224×224" ("scalar" for rank 0).
func ShapeString(shape []int) string {
	if len(shape) == 0 {
		return "scalar"
	}
	parts := make([]string, len(shape))
	for k, d := range shape {
		parts[k] = strconv.Itoa(d)
	}
	return strings.Join(parts, "×")
}

func (t *T) String() string {
	return fmt.Sprintf("tensor(%s %s)", t.dtype, ShapeString(t.shape))
}
