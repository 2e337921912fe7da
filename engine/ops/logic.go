package ops

// Comparisons, logic and selection: Equal, Less, LessOrEqual, Greater,
// GreaterOrEqual, And, Or, Xor, Not and Where. BOOL tensors are int64 0/1
// in the engine. Only Where has a gradient (to X and Y: the output
// gradient where the condition picked them); the others have none.

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	for _, name := range []string{"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"} {
		Register(name, func(Attrs, int) (Op, error) { return compareOp{name}, nil })
	}
	Register("Not", func(Attrs, int) (Op, error) { return notOp{}, nil })
	Register("Where", func(Attrs, int) (Op, error) { return whereOp{}, nil })
}

// compareOp is a broadcasting comparison or logical op with a 0/1 output.
type compareOp struct{ name string }

func (c compareOp) Type() string { return c.name }

func cmpRow[E elemType](name string) func(a, b E) bool {
	switch name {
	case "Equal":
		return func(a, b E) bool { return a == b }
	case "Less":
		return func(a, b E) bool { return a < b }
	case "LessOrEqual":
		return func(a, b E) bool { return a <= b }
	case "Greater":
		return func(a, b E) bool { return a > b }
	case "GreaterOrEqual":
		return func(a, b E) bool { return a >= b }
	case "And":
		return func(a, b E) bool { return a != 0 && b != 0 }
	case "Or":
		return func(a, b E) bool { return a != 0 || b != 0 }
	}
	return func(a, b E) bool { return (a != 0) != (b != 0) } // Xor
}

// compareData applies f over the broadcast of a and b, 1 where it holds.
func compareData[E elemType](a, b []E, ash, bsh []int, f func(a, b E) bool) ([]int64, []int, error) {
	out, err := broadcastShapes(ash, bsh)
	if err != nil {
		return nil, nil, err
	}
	o := make([]int64, tensor.Size(out))
	p := newBcastPlan(out, ash, bsh)
	sa, sb, n := p.step(0), p.step(1), p.inner()
	p.rows(func(at int, off []int) {
		for i := 0; i < n; i++ {
			if f(a[off[0]+i*sa], b[off[1]+i*sb]) {
				o[at+i] = 1
			}
		}
	})
	return o, out, nil
}

func (c compareOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(c.name, in, 2, 2); err != nil {
		return nil, err
	}
	x, y := in[0], in[1]
	var o []int64
	var shape []int
	var err error
	switch {
	case x.DType() == tensor.Int64 && y.DType() == tensor.Int64:
		o, shape, err = compareData(x.I64(), y.I64(), x.Shape(), y.Shape(), cmpRow[int64](c.name))
	case x.DType() == tensor.Float32 && y.DType() == tensor.Float32:
		o, shape, err = compareData(x.F32(), y.F32(), x.Shape(), y.Shape(), cmpRow[float32](c.name))
	default:
		return nil, fmt.Errorf("%s: operands are %s and %s", c.name, x.DType(), y.DType())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return []*tensor.T{tensor.FromI64(o, shape...)}, nil
}

func (c compareOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

func (c compareOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut(c.name, s, 2)
}

// notOp is logical negation of a BOOL (int64 0/1) tensor.
type notOp struct{}

func (notOp) Type() string { return "Not" }

func (notOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs("Not", in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	y := make([]int64, x.Len())
	if x.DType() == tensor.Int64 {
		for i, v := range x.I64() {
			if v == 0 {
				y[i] = 1
			}
		}
	} else {
		for i, v := range x.F32() {
			if v == 0 {
				y[i] = 1
			}
		}
	}
	return []*tensor.T{tensor.FromI64(y, x.Shape()...)}, nil
}

func (notOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	return make([]*tensor.T, len(in)), nil
}

func (notOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) { return sameAsInput0("Not", s) }

// whereOp is Where(condition, X, Y): X where the condition holds, else Y,
// the three broadcast together.
type whereOp struct{}

func (whereOp) Type() string { return "Where" }

// cond returns the condition as int64 values.
func whereCond(c *tensor.T) []int64 {
	if c.DType() == tensor.Int64 {
		return c.I64()
	}
	o := make([]int64, c.Len())
	for i, v := range c.F32() {
		if v != 0 {
			o[i] = 1
		}
	}
	return o
}

func whereData[E elemType](c []int64, x, y []E, p *bcastPlan) []E {
	o := make([]E, p.n)
	sc, sx, sy, n := p.step(0), p.step(1), p.step(2), p.inner()
	p.rows(func(at int, off []int) {
		for i := 0; i < n; i++ {
			if c[off[0]+i*sc] != 0 {
				o[at+i] = x[off[1]+i*sx]
			} else {
				o[at+i] = y[off[2]+i*sy]
			}
		}
	})
	return o
}

func (whereOp) plan(in []*tensor.T) ([]int, *bcastPlan, error) {
	if err := wantInputs("Where", in, 3, 3); err != nil {
		return nil, nil, err
	}
	if in[1].DType() != in[2].DType() {
		return nil, nil, fmt.Errorf("Where: X is %s and Y %s", in[1].DType(), in[2].DType())
	}
	out, err := broadcastShapes(in[0].Shape(), in[1].Shape(), in[2].Shape())
	if err != nil {
		return nil, nil, fmt.Errorf("Where: %w", err)
	}
	return out, newBcastPlan(out, in[0].Shape(), in[1].Shape(), in[2].Shape()), nil
}

func (w whereOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	out, p, err := w.plan(in)
	if err != nil {
		return nil, err
	}
	c := whereCond(in[0])
	if in[1].DType() == tensor.Int64 {
		return []*tensor.T{tensor.FromI64(whereData(c, in[1].I64(), in[2].I64(), p), out...)}, nil
	}
	return []*tensor.T{tensor.FromF32(whereData(c, in[1].F32(), in[2].F32(), p), out...)}, nil
}

func (w whereOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[1].DType() != tensor.Float32 || (!needGrad(need, 1) && !needGrad(need, 2)) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	shape, _, err := w.plan(in)
	if err != nil {
		return nil, err
	}
	c := whereCond(in[0])
	gy := gradOut[0].F32()
	zero := make([]float32, 1)
	for k := 1; k <= 2; k++ {
		if !needGrad(need, k) {
			continue
		}
		// The output gradient where the condition picked input k, else 0.
		var picked []float32
		if k == 1 {
			picked = whereData(c, gy, zero, newBcastPlan(shape, in[0].Shape(), shape, nil))
		} else {
			picked = whereData(c, zero, gy, newBcastPlan(shape, in[0].Shape(), nil, shape))
		}
		grads[k] = tensor.FromF32(reduceToShape(picked, shape, in[k].Shape()), in[k].Shape()...)
	}
	return grads, nil
}

func (whereOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut("Where", s, 3)
}
