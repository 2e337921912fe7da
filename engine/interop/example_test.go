package interop_test

import (
	"bytes"
	"fmt"

	"github.com/cnnlens/cnnlens/engine/interop"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// An engine tensor goes to gorgonia.org/tensor without a copy, gorgonia
// computes on it, the result comes back, and a .npy file carries it with
// its shape.
func Example() {
	x := tensor.FromF32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)

	// ToDense shares x's storage: writes through d show in x.
	d, err := interop.ToDense(x)
	if err != nil {
		panic(err)
	}
	d.SetAt(float32(30), 0, 2)
	fmt.Println("x after d.SetAt:", x.F32())

	// gorgonia does the work: a sum over axis 1 and a transpose.
	sums, err := d.Sum(1)
	if err != nil {
		panic(err)
	}
	s, err := interop.FromDense(sums)
	if err != nil {
		panic(err)
	}
	fmt.Println("row sums:", s.Shape(), s.F32())
	if err := d.T(); err != nil {
		panic(err)
	}
	xt, err := interop.FromDense(d) // a transposed Dense: copied
	if err != nil {
		panic(err)
	}
	fmt.Println("transposed:", xt.Shape(), xt.F32())

	// .npy: what numpy.save writes and numpy.load reads.
	var buf bytes.Buffer
	if err := interop.WriteNpy(&buf, xt); err != nil {
		panic(err)
	}
	y, err := interop.ReadNpy(&buf)
	if err != nil {
		panic(err)
	}
	fmt.Println("from .npy:", y.Shape(), y.F32())

	// Output:
	// x after d.SetAt: [1 2 30 4 5 6]
	// row sums: [2] [33 15]
	// transposed: [3 2] [1 4 2 5 30 6]
	// from .npy: [3 2] [1 4 2 5 30 6]
}
