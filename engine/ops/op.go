// Package ops holds the engine's operators: each ONNX op's forward and backward
// pass side by side, over flat []float32 loops (heavy lifting in package
// kernels).
//
// An op is built once from its ONNX attributes (New) and then run any number of
// times. Inputs that ONNX marks optional and the model leaves out arrive as nil.
package ops

//go:generate go run mkops.go

import (
	"errors"
	"sort"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Op is one instantiated operator.
type Op interface {
	// Type is the ONNX op type, e.g. "Conv".
	Type() string
	// Forward computes the outputs. It must not modify its inputs.
	Forward(in []*tensor.T) ([]*tensor.T, error)
	// Backward returns the gradient of a scalar objective with respect to each
	// input, given the forward's inputs and outputs and the gradient with
	// respect to each output (nil: that output gets no gradient, i.e. zero).
	// need[k] says whether input k's gradient is wanted; the result has
	// len(in) entries, nil where not needed or not differentiable (int64
	// inputs, shapes, indices). Weight and bias gradients are computed only
	// when asked for, so input-only backward passes stay cheap.
	Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error)
}

// Attrs gives an op constructor its node's attributes.
type Attrs interface {
	Has(name string) bool
	Int(name string, def int64) int64
	Ints(name string, def []int64) []int64
	Float(name string, def float32) float32
	Floats(name string, def []float32) []float32
	String(name string, def string) string
	Tensor(name string) *tensor.T // nil when absent
}

// Factory builds an op from its attributes; opset is the model's default-domain
// opset version (attributes moved to inputs in some versions).
type Factory func(a Attrs, opset int) (Op, error)

var registry = map[string]Factory{}

// Register makes an op type available to New. It is called from init
// functions of this package.
func Register(opType string, f Factory) {
	if _, dup := registry[opType]; dup {
		panic("ops: duplicate registration of " + opType)
	}
	registry[opType] = f
}

// ErrUnsupportedOp marks the error of an op type the engine does not
// implement (errors.Is; the text is the message).
var ErrUnsupportedOp = errors.New("ops: unsupported op")

// New builds an op of the given type.
func New(opType string, a Attrs, opset int) (Op, error) {
	f, ok := registry[opType]
	if !ok {
		return nil, kind.Errorf(ErrUnsupportedOp, "unsupported op %q", opType)
	}
	return f(a, opset)
}

// Supported lists the registered op types, sorted.
func Supported() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MapAttrs is a simple Attrs backed by a map, for tests and for ops built in
// code (the ONNX loader has its own implementation). Values may be int64,
// []int64, float32, []float32, string or *tensor.T.
type MapAttrs map[string]any

func (m MapAttrs) Has(name string) bool { _, ok := m[name]; return ok }

func (m MapAttrs) Int(name string, def int64) int64 {
	if v, ok := m[name].(int64); ok {
		return v
	}
	if v, ok := m[name].(int); ok {
		return int64(v)
	}
	return def
}

func (m MapAttrs) Ints(name string, def []int64) []int64 {
	if v, ok := m[name].([]int64); ok {
		return v
	}
	return def
}

func (m MapAttrs) Float(name string, def float32) float32 {
	if v, ok := m[name].(float32); ok {
		return v
	}
	return def
}

func (m MapAttrs) Floats(name string, def []float32) []float32 {
	if v, ok := m[name].([]float32); ok {
		return v
	}
	return def
}

func (m MapAttrs) String(name string, def string) string {
	if v, ok := m[name].(string); ok {
		return v
	}
	return def
}

func (m MapAttrs) Tensor(name string) *tensor.T {
	v, _ := m[name].(*tensor.T)
	return v
}
