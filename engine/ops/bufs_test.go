package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// nanBufs hands out buffers full of NaNs: an op that leaves an element
// unwritten, or accumulates into one it did not clear, shows it.
type nanBufs struct{ n int }

func (b *nanBufs) Floats(n int) []float32 {
	b.n++
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// sameBits fails unless got and want hold the same tensors bit for bit.
func sameBits(t *testing.T, name string, got, want []*tensor.T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d outputs, want %d", name, len(got), len(want))
	}
	for k := range want {
		if !tensor.SameShape(got[k].Shape(), want[k].Shape()) {
			t.Fatalf("%s: output %d has shape %v, want %v", name, k, got[k].Shape(), want[k].Shape())
		}
		if gi, wi := got[k].I64(), want[k].I64(); len(gi) != len(wi) || len(got[k].F32()) != len(want[k].F32()) {
			t.Fatalf("%s: output %d has another type", name, k)
		} else {
			for i := range wi {
				if gi[i] != wi[i] {
					t.Fatalf("%s: output %d element %d is %d, want %d", name, k, i, gi[i], wi[i])
				}
			}
		}
		g, w := got[k].F32(), want[k].F32()
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s: output %d element %d is %v, want %v", name, k, i, g[i], w[i])
			}
		}
	}
}

// checkBufs runs op both ways and compares; the Bufs must have been used.
func checkBufs(t *testing.T, name string, op Op, in []*tensor.T) {
	t.Helper()
	want, err := op.Forward(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	bf, ok := op.(BufForwarder)
	if !ok {
		t.Fatalf("%s: %s is not a BufForwarder", name, op.Type())
	}
	nb := &nanBufs{}
	got, err := bf.ForwardBufs(in, nb)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if nb.n == 0 {
		t.Fatalf("%s: the output was not taken from the Bufs", name)
	}
	sameBits(t, name, got, want)
}

func TestForwardBufsConv(t *testing.T) {
	for _, mode := range []int32{wgModeNever, wgModeAlways} {
		setWinogradMode(t, mode)
		for _, c := range convCases {
			rng := rand.New(rand.NewSource(7))
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			if !c.bias && len(in) > 2 {
				in = in[:2]
			}
			checkBufs(t, c.name, op, in)
			checkBufs(t, c.name+" no bias", op, in[:2])
		}
	}
}

func TestForwardBufsElementwise(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := randT(rng, -2, 2, 2, 3, 4, 5)
	for _, name := range []string{"Relu", "Sigmoid", "HardSwish", "Tanh", "Exp", "Abs", "Neg", "Erf"} {
		op, err := New(name, MapAttrs{}, 13)
		if err != nil {
			t.Fatal(err)
		}
		checkBufs(t, name, op, []*tensor.T{x})
	}
	for _, name := range []string{"Add", "Sub", "Mul", "Div"} {
		op, err := New(name, MapAttrs{}, 13)
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range [][]int{{2, 3, 4, 5}, {3, 1, 1}, {5}, {1}, {2, 1, 4, 1}} {
			checkBufs(t, name+tensor.ShapeString(sh), op, []*tensor.T{x, randT(rng, 0.5, 2, sh...)})
			checkBufs(t, name+tensor.ShapeString(sh)+" swapped", op, []*tensor.T{randT(rng, 0.5, 2, sh...), x})
		}
	}
	bn, err := New("BatchNormalization", MapAttrs{}, 15)
	if err != nil {
		t.Fatal(err)
	}
	checkBufs(t, "BatchNormalization", bn, []*tensor.T{x, randT(rng, 0.5, 2, 3), randT(rng, -1, 1, 3), randT(rng, -1, 1, 3), randT(rng, 0.5, 2, 3)})
}

func TestForwardBufsMaxPool(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	x := randT(rng, -2, 2, 2, 3, 9, 8)
	for _, a := range []MapAttrs{
		{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}},
		{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}},
		{"kernel_shape": []int64{3, 3}, "dilations": []int64{2, 2}, "pads": []int64{1, 0, 2, 1}},
		{"kernel_shape": []int64{2, 3}, "strides": []int64{2, 2}, "ceil_mode": int64(1)},
	} {
		op, err := New("MaxPool", a, 12)
		if err != nil {
			t.Fatal(err)
		}
		checkBufs(t, fmt.Sprint("MaxPool ", a), op, []*tensor.T{x})
	}
}
