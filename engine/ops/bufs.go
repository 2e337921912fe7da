package ops

import "github.com/cnnlens/cnnlens/engine/tensor"

// Bufs hands an op the storage of its float32 outputs: a forward pass that
// keeps no tape recycles the buffers of values no later node reads
// (package graph). Floats returns n float32 whose contents are unspecified
// (a recycled buffer is not cleared): the op must write every element, or
// clear the slice first where it accumulates.
type Bufs interface {
	Floats(n int) []float32
}

// BufForwarder is an Op whose forward pass can take its float32 outputs
// from a Bufs. ForwardBufs(in, nil) is Forward(in) (fresh, zeroed outputs);
// the results are the same bit for bit either way.
type BufForwarder interface {
	ForwardBufs(in []*tensor.T, b Bufs) ([]*tensor.T, error)
}

// newOut returns a float32 tensor of the given shape from b (contents
// unspecified), or a zeroed one when b is nil.
func newOut(b Bufs, shape ...int) *tensor.T {
	if b == nil {
		return tensor.New(shape...)
	}
	return tensor.FromF32(b.Floats(tensor.Size(shape)), shape...)
}
