package ops

import (
	"fmt"
	"slices"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// ShapeInferer is implemented by ops whose output shapes follow from their
// input shapes alone (and, for inputs that are constants, their values),
// so that a model's layer shapes can be listed without running it.
// shapes[k] is input k's shape (nil for an optional input left out);
// consts[k] is input k itself when it is a constant, else nil. The result
// may list fewer shapes than the op has outputs: the rest are unknown.
// An error means the shapes could not be inferred; running the op gives
// the error to show.
type ShapeInferer interface {
	OutShapes(shapes [][]int, consts []*tensor.T) ([][]int, error)
}

// The ops with shape rules: enough for the CNNs torchvision exports (and
// the bundled models); the others make Graph.InferShapes give up.
var (
	_ ShapeInferer = (*unaryOp)(nil)
	_ ShapeInferer = (*clipOp)(nil)
	_ ShapeInferer = (*softmaxOp)(nil)
	_ ShapeInferer = (*BatchNorm)(nil)
	_ ShapeInferer = binaryOp{}
	_ ShapeInferer = powOp{}
	_ ShapeInferer = (*variadicOp)(nil)
	_ ShapeInferer = (*Conv)(nil)
	_ ShapeInferer = (*MaxPool)(nil)
	_ ShapeInferer = (*AveragePool)(nil)
	_ ShapeInferer = (*GlobalPool)(nil)
	_ ShapeInferer = (*Gemm)(nil)
	_ ShapeInferer = (*MatMul)(nil)
	_ ShapeInferer = (*viewOp)(nil)
	_ ShapeInferer = (*transposeOp)(nil)
	_ ShapeInferer = (*concatOp)(nil)
	_ ShapeInferer = (*gatherOp)(nil)
	_ ShapeInferer = (*padOp)(nil)
	_ ShapeInferer = (*constantOfShapeOp)(nil)
)

// input0 is the shape of input 0, which every op here needs.
func input0(op string, s [][]int) ([]int, error) {
	if len(s) == 0 || s[0] == nil {
		return nil, fmt.Errorf("%s: input 0 is missing", op)
	}
	return s[0], nil
}

func sameAsInput0(op string, s [][]int) ([][]int, error) {
	x, err := input0(op, s)
	if err != nil {
		return nil, err
	}
	return [][]int{x}, nil
}

func (u *unaryOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0(u.name, s)
}

func (*clipOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("Clip", s)
}

func (*softmaxOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("Softmax", s)
}

// OutShapes gives Y's shape; the training-mode statistics are left unknown.
func (*BatchNorm) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if len(s) < 5 || len(s[0]) < 2 {
		return nil, fmt.Errorf("BatchNormalization needs X (N×C×…) and 4 parameters")
	}
	for k := 1; k < 5; k++ {
		if c := tensor.Size(s[k]); s[k] == nil || (c != s[0][1] && c != tensor.Size(s[0][1:])) {
			return nil, fmt.Errorf("BatchNormalization: input %d is %v for X %v", k, s[k], s[0])
		}
	}
	return [][]int{s[0]}, nil
}

func broadcastOut(op string, s [][]int, n int) ([][]int, error) {
	if len(s) < n {
		return nil, fmt.Errorf("%s needs %d inputs", op, n)
	}
	for k, sh := range s {
		if sh == nil {
			return nil, fmt.Errorf("%s: input %d is missing", op, k)
		}
	}
	out, err := broadcastShapes(s...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return [][]int{out}, nil
}

func (b binaryOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut(b.name, s, 2)
}

func (powOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut("Pow", s, 2)
}

func (v *variadicOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return broadcastOut(v.name, s, 1)
}

func (op *Conv) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if len(s) < 2 || s[0] == nil || s[1] == nil {
		return nil, fmt.Errorf("Conv needs inputs X and W")
	}
	var bias []int
	if len(s) > 2 {
		bias = s[2]
	}
	p, err := op.planShapes(s[0], s[1], bias)
	if err != nil {
		return nil, err
	}
	return [][]int{p.g.outShape(p.N, p.M, p.rank)}, nil
}

// poolOut is a windowed pool's output shape.
func poolOut(typ string, win windowAttrs, s [][]int) ([]int, error) {
	xs, err := input0(typ, s)
	if err != nil {
		return nil, err
	}
	g, err := poolGeomShape(typ, win, xs)
	if err != nil {
		return nil, err
	}
	return g.outShape(xs[0], xs[1], len(xs)), nil
}

// OutShapes gives Y's shape and the indices' (the same).
func (op *MaxPool) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	y, err := poolOut("MaxPool", op.win, s)
	if err != nil {
		return nil, err
	}
	return [][]int{y, y}, nil
}

func (op *AveragePool) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	y, err := poolOut("AveragePool", op.win, s)
	if err != nil {
		return nil, err
	}
	return [][]int{y}, nil
}

func (op *GlobalPool) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	xs, err := input0(op.Type(), s)
	if err != nil {
		return nil, err
	}
	out, err := op.outShape(xs)
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}

func (op *Gemm) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if len(s) < 2 || len(s[0]) != 2 || len(s[1]) != 2 {
		return nil, fmt.Errorf("Gemm needs 2-D A and B")
	}
	m, ka := s[0][0], s[0][1]
	if op.TransA {
		m, ka = ka, m
	}
	kb, n := s[1][0], s[1][1]
	if op.TransB {
		kb, n = n, kb
	}
	if ka != kb {
		return nil, fmt.Errorf("Gemm: A %v and B %v do not multiply", s[0], s[1])
	}
	if len(s) > 2 && s[2] != nil {
		if c, err := broadcastShapes(s[2], []int{m, n}); err != nil || !slices.Equal(c, []int{m, n}) {
			return nil, fmt.Errorf("Gemm: C %v does not broadcast to %d×%d", s[2], m, n)
		}
	}
	return [][]int{{m, n}}, nil
}

// OutShapes follows numpy's matmul: 1-D operands are promoted (and the
// added dim dropped), batch dims broadcast.
func (*MatMul) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if len(s) < 2 || len(s[0]) == 0 || len(s[1]) == 0 {
		return nil, fmt.Errorf("MatMul needs two operands of rank ≥ 1")
	}
	a, b := s[0], s[1]
	if len(a) == 1 {
		a = []int{1, a[0]}
	}
	if len(b) == 1 {
		b = []int{b[0], 1}
	}
	if a[len(a)-1] != b[len(b)-2] {
		return nil, fmt.Errorf("MatMul: inner dimensions differ: %v × %v", s[0], s[1])
	}
	batch, err := broadcastShapes(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, fmt.Errorf("MatMul: %w", err)
	}
	out := batch
	if len(s[0]) > 1 {
		out = append(out, a[len(a)-2])
	}
	if len(s[1]) > 1 {
		out = append(out, b[len(b)-1])
	}
	return [][]int{out}, nil
}

func (v *viewOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	x, err := input0(v.name, s)
	if err != nil {
		return nil, err
	}
	for _, k := range []int{1, 3} { // pads, axes
		if k < len(s) && s[k] != nil && (k >= len(consts) || consts[k] == nil) {
			return nil, fmt.Errorf("%s: input %d is not a constant", v.name, k)
		}
	}
	y, err := v.shape(x, consts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	if tensor.Size(y) != tensor.Size(x) {
		return nil, fmt.Errorf("%s: %v holds %d values, the input %d", v.name, y, tensor.Size(y), tensor.Size(x))
	}
	if v.mask {
		return [][]int{y, y}, nil
	}
	return [][]int{y}, nil
}

func (t *transposeOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	x, err := input0("Transpose", s)
	if err != nil {
		return nil, err
	}
	out, _, err := t.plan(x)
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}

func (c *concatOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if _, err := input0("Concat", s); err != nil {
		return nil, err
	}
	for k, sh := range s {
		if sh == nil {
			return nil, fmt.Errorf("Concat: input %d is missing", k)
		}
	}
	_, out, err := c.outShape(s)
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}

func (g *gatherOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	x, err := input0("Gather", s)
	if err != nil {
		return nil, err
	}
	if len(s) < 2 || s[1] == nil {
		return nil, fmt.Errorf("Gather: indices are missing")
	}
	axis, err := normAxis("Gather", g.axis, len(x))
	if err != nil {
		return nil, err
	}
	if len(consts) > 1 && consts[1] != nil {
		for _, v := range consts[1].Ints() {
			if v < -x[axis] || v >= x[axis] {
				return nil, fmt.Errorf("Gather: index %d out of range for dim %d of %v", v, x[axis], x)
			}
		}
	}
	return [][]int{append(append(append([]int{}, x[:axis]...), s[1]...), x[axis+1:]...)}, nil
}

// OutShapes needs the pads (and axes) as constants, when they are inputs.
func (p *padOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	x, err := input0("Pad", s)
	if err != nil {
		return nil, err
	}
	for _, k := range []int{1, 3} { // pads, axes
		if k < len(s) && s[k] != nil && (k >= len(consts) || consts[k] == nil) {
			return nil, fmt.Errorf("Pad: input %d is not a constant", k)
		}
	}
	out, _, err := p.padShape(x, consts)
	if err != nil {
		return nil, err
	}
	return [][]int{out}, nil
}

// OutShapes needs the shape input as a constant.
func (c *constantOfShapeOp) OutShapes(s [][]int, consts []*tensor.T) ([][]int, error) {
	if len(consts) < 1 || consts[0] == nil {
		return nil, fmt.Errorf("ConstantOfShape: the shape is not a constant")
	}
	shape := consts[0].Ints()
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("ConstantOfShape: negative dim in %v", shape)
		}
	}
	return [][]int{shape}, nil
}
