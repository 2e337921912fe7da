package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnnlens/cnnlens/engine/interop"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Tensor files: every flag that reads or writes an array takes a NumPy
// .npy file when the name ends in .npy (with the array's shape), and raw
// little-endian float32 in C order otherwise (.f32 or any other name).

// isNpy reports whether a tensor file is NumPy's .npy format.
func isNpy(path string) bool { return strings.EqualFold(filepath.Ext(path), ".npy") }

// readTensorInput reads -tensor: raw float32 in the model's input shape for
// a batch of -batch, or a .npy array whose shape gives the batch.
func (f *modelFlags) readTensorInput(l *loaded) (*tensor.T, error) {
	if isNpy(f.tensor) {
		return f.readNpyInput(l)
	}
	shape, err := l.m.ConcreteInputShape(f.batch)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.tensor)
	if err != nil {
		return nil, err
	}
	want := tensor.Size(shape) * 4
	if len(data) != want {
		return nil, fmt.Errorf("%s: %d bytes, but %s float32 values need %d", f.tensor, len(data), tensor.ShapeString(shape), want)
	}
	return tensor.FromF32(decodeF32(data), shape...), nil
}

// readNpyInput reads a .npy -tensor. Its shape is the model's input shape
// with any batch size (its first dimension; -batch, when given, must
// agree), or that shape without the batch dimension for one input. A
// dimension the model leaves dynamic takes the array's size.
func (f *modelFlags) readNpyInput(l *loaded) (*tensor.T, error) {
	fh, err := os.Open(f.tensor)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	x, err := interop.ReadNpy(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.tensor, err)
	}
	shape := append([]int{}, x.Shape()...)
	model := l.m.InputShape
	if model == nil {
		return x, nil
	}
	if len(shape) == len(model)-1 {
		shape = append([]int{1}, shape...)
	}
	if len(shape) != len(model) {
		return nil, fmt.Errorf("%s: array of shape %s, but the model's input %q is %s (N×… for a batch of N)",
			f.tensor, tensor.ShapeString(x.Shape()), l.m.Input, dimsString(model))
	}
	for k := 1; k < len(model); k++ {
		if model[k] > 0 && shape[k] != model[k] {
			return nil, fmt.Errorf("%s: array of shape %s, but the model's input %q is %s",
				f.tensor, tensor.ShapeString(x.Shape()), l.m.Input, dimsString(model))
		}
	}
	if shape[0] == 0 {
		return nil, fmt.Errorf("%s: array of shape %s holds no input", f.tensor, tensor.ShapeString(x.Shape()))
	}
	if f.batch != 1 && f.batch != shape[0] {
		return nil, fmt.Errorf("%w: -batch %d but %s holds %d inputs (a .npy file gives its own batch size)", errUsage, f.batch, f.tensor, shape[0])
	}
	return x.Reshape(shape...)
}

// dimsString formats a model's input shape, N for the batch and ? for
// other dynamic dimensions.
func dimsString(shape []int) string {
	parts := make([]string, len(shape))
	for k, d := range shape {
		switch {
		case k == 0:
			parts[k] = "N"
		case d <= 0:
			parts[k] = "?"
		default:
			parts[k] = fmt.Sprint(d)
		}
	}
	return strings.Join(parts, "×")
}

// writeTensor writes values of the given shape: a .npy file with that
// shape, or raw little-endian float32.
func writeTensor(path string, v []float32, shape ...int) error {
	if !isNpy(path) {
		return writeF32(path, v)
	}
	if tensor.Size(shape) != len(v) {
		return fmt.Errorf("%s: %d values for shape %s", path, len(v), tensor.ShapeString(shape))
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := interop.WriteNpy(fh, tensor.FromF32(v, shape...)); err != nil {
		fh.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return fh.Close()
}

func decodeF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func writeF32(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}
