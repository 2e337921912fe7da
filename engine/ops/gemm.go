package ops

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Gemm", func(a Attrs, opset int) (Op, error) {
		return &Gemm{
			Alpha:  a.Float("alpha", 1),
			Beta:   a.Float("beta", 1),
			TransA: a.Int("transA", 0) != 0,
			TransB: a.Int("transB", 0) != 0,
		}, nil
	})
	Register("MatMul", func(a Attrs, opset int) (Op, error) { return &MatMul{}, nil })
}

// Gemm is the ONNX Gemm operator: Y = Alpha·op(A)·op(B) + Beta·C, with A
// and B 2-D, op transposing when TransA/TransB, and the optional C
// broadcast (unidirectionally) to M×N: a scalar, [N], [1,N], [M,1] or [M,N].
type Gemm struct {
	Alpha, Beta    float32
	TransA, TransB bool
}

func (*Gemm) Type() string { return "Gemm" }

// gemmDims returns M, K, N and C's broadcast layout: C[i,j] is at
// i·ci + j·cj.
func (op *Gemm) gemmDims(in []*tensor.T) (m, k, n, ci, cj int, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return 0, 0, 0, 0, 0, fmt.Errorf("Gemm needs inputs A and B")
	}
	as, bs := in[0].Shape(), in[1].Shape()
	if len(as) != 2 || len(bs) != 2 || in[0].DType() != tensor.Float32 || in[1].DType() != tensor.Float32 {
		return 0, 0, 0, 0, 0, fmt.Errorf("Gemm needs 2-D float32 A and B, got %s and %s", tensor.ShapeString(as), tensor.ShapeString(bs))
	}
	m, k = as[0], as[1]
	if op.TransA {
		m, k = k, m
	}
	k2, n := bs[0], bs[1]
	if op.TransB {
		k2, n = n, k2
	}
	if k != k2 {
		return 0, 0, 0, 0, 0, fmt.Errorf("Gemm: inner dimensions differ: A %s, B %s (transA=%v, transB=%v)", tensor.ShapeString(as), tensor.ShapeString(bs), op.TransA, op.TransB)
	}
	if len(in) > 2 && in[2] != nil {
		cs := in[2].Shape()
		if in[2].DType() != tensor.Float32 || len(cs) > 2 {
			return 0, 0, 0, 0, 0, fmt.Errorf("Gemm: C of shape %s cannot broadcast to %d×%d", tensor.ShapeString(cs), m, n)
		}
		c0, c1 := 1, 1
		switch len(cs) {
		case 1:
			c1 = cs[0]
		case 2:
			c0, c1 = cs[0], cs[1]
		}
		if (c0 != 1 && c0 != m) || (c1 != 1 && c1 != n) {
			return 0, 0, 0, 0, 0, fmt.Errorf("Gemm: C of shape %s cannot broadcast to %d×%d", tensor.ShapeString(cs), m, n)
		}
		if c0 != 1 {
			ci = c1
		}
		if c1 != 1 {
			cj = 1
		}
	}
	return m, k, n, ci, cj, nil
}

func (op *Gemm) Forward(in []*tensor.T) ([]*tensor.T, error) {
	m, k, n, ci, cj, err := op.gemmDims(in)
	if err != nil {
		return nil, err
	}
	y := tensor.New(m, n)
	yf := y.F32()
	beta := float32(0)
	if len(in) > 2 && in[2] != nil && op.Beta != 0 {
		c := in[2].F32()
		for i := 0; i < m; i++ {
			row := yf[i*n : (i+1)*n]
			for j := range row {
				row[j] = op.Beta * c[i*ci+j*cj]
			}
		}
		beta = 1
	}
	kernels.Sgemm(op.TransA, op.TransB, m, n, k, op.Alpha, in[0].F32(), in[0].Shape()[1], in[1].F32(), in[1].Shape()[1], beta, yf, n)
	return []*tensor.T{y}, nil
}

func (op *Gemm) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	m, k, n, ci, cj, err := op.gemmDims(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	for i := range in {
		if i < len(need) && need[i] && in[i] != nil && i <= 2 {
			grads[i] = tensor.New(in[i].Shape()...)
		}
	}
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	dy := gradOut[0].F32()
	if len(dy) != m*n {
		return nil, fmt.Errorf("Gemm backward: gradient has shape %s, want %d×%d", tensor.ShapeString(gradOut[0].Shape()), m, n)
	}
	a, b := in[0].F32(), in[1].F32()
	lda, ldb := in[0].Shape()[1], in[1].Shape()[1]
	if g := grads[0]; g != nil {
		if !op.TransA { // dA (m×k) = α·dY·op(B)ᵀ
			kernels.Sgemm(false, !op.TransB, m, k, n, op.Alpha, dy, n, b, ldb, 0, g.F32(), k)
		} else { // dA (k×m) = α·op(B)·dYᵀ
			kernels.Sgemm(op.TransB, true, k, m, n, op.Alpha, b, ldb, dy, n, 0, g.F32(), m)
		}
	}
	if g := grads[1]; g != nil {
		if !op.TransB { // dB (k×n) = α·op(A)ᵀ·dY
			kernels.Sgemm(!op.TransA, false, k, n, m, op.Alpha, a, lda, dy, n, 0, g.F32(), n)
		} else { // dB (n×k) = α·dYᵀ·op(A)
			kernels.Sgemm(true, op.TransA, n, k, m, op.Alpha, dy, n, a, lda, 0, g.F32(), k)
		}
	}
	if len(grads) > 2 && grads[2] != nil && op.Beta != 0 {
		dc := grads[2].F32()
		for i := 0; i < m; i++ {
			row := dy[i*n : (i+1)*n]
			for j, v := range row {
				dc[i*ci+j*cj] += op.Beta * v
			}
		}
	}
	return grads, nil
}

// MatMul is the ONNX MatMul operator with numpy semantics: batched N-D
// operands with broadcast batch dimensions, and 1-D operands promoted to a
// row (A) or column (B) vector whose unit dimension is dropped again.
type MatMul struct{}

func (*MatMul) Type() string { return "MatMul" }

// mmPlan is one MatMul call's resolved layout.
type mmPlan struct {
	m, k, n    int
	outShape   []int
	offA, offB []int // per output batch entry, offset of its A and B matrix
	batchB1    bool  // B has a single matrix (no or unit batch dims)
}

func mmResolve(in []*tensor.T) (*mmPlan, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMul needs inputs A and B")
	}
	if in[0].DType() != tensor.Float32 || in[1].DType() != tensor.Float32 {
		return nil, fmt.Errorf("MatMul supports float32 only")
	}
	as, bs := in[0].Shape(), in[1].Shape()
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("MatMul: scalar operand (%s, %s)", tensor.ShapeString(as), tensor.ShapeString(bs))
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	p := &mmPlan{m: a2[len(a2)-2], k: a2[len(a2)-1], n: b2[len(b2)-1]}
	if b2[len(b2)-2] != p.k {
		return nil, fmt.Errorf("MatMul: inner dimensions differ: %s × %s", tensor.ShapeString(as), tensor.ShapeString(bs))
	}
	ba, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	nd := len(ba)
	if len(bb) > nd {
		nd = len(bb)
	}
	batch := make([]int, nd)
	// strides (in matrices) of A's and B's batch dims, aligned right; 0 where broadcast
	sa, sb := make([]int, nd), make([]int, nd)
	accA, accB := 1, 1
	for i := nd - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (nd - len(ba)); j >= 0 {
			da = ba[j]
		}
		if j := i - (nd - len(bb)); j >= 0 {
			db = bb[j]
		}
		switch {
		case da == db, db == 1:
			batch[i] = da
		case da == 1:
			batch[i] = db
		default:
			return nil, fmt.Errorf("MatMul: batch dimensions of %s and %s do not broadcast", tensor.ShapeString(as), tensor.ShapeString(bs))
		}
		if da != 1 {
			sa[i] = accA
		}
		if db != 1 {
			sb[i] = accB
		}
		accA *= da
		accB *= db
	}
	p.batchB1 = accB == 1
	nb := tensor.Size(batch)
	p.offA, p.offB = make([]int, nb), make([]int, nb)
	idx := make([]int, nd)
	for b := 0; b < nb; b++ {
		oa, ob := 0, 0
		for i := 0; i < nd; i++ {
			oa += idx[i] * sa[i]
			ob += idx[i] * sb[i]
		}
		p.offA[b], p.offB[b] = oa*p.m*p.k, ob*p.k*p.n
		for i := nd - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < batch[i] {
				break
			}
			idx[i] = 0
		}
	}
	p.outShape = append([]int{}, batch...)
	if len(as) > 1 {
		p.outShape = append(p.outShape, p.m)
	}
	if len(bs) > 1 {
		p.outShape = append(p.outShape, p.n)
	}
	return p, nil
}

func (op *MatMul) Forward(in []*tensor.T) ([]*tensor.T, error) {
	p, err := mmResolve(in)
	if err != nil {
		return nil, err
	}
	y := tensor.New(p.outShape...)
	a, b, yf := in[0].F32(), in[1].F32(), y.F32()
	nb := len(p.offA)
	if p.batchB1 {
		// A's batch is the output's: one (batch·m)×k by k×n product.
		kernels.Sgemm(false, false, nb*p.m, p.n, p.k, 1, a, p.k, b, p.n, 0, yf, p.n)
		return []*tensor.T{y}, nil
	}
	mn := p.m * p.n
	for i := 0; i < nb; i++ {
		kernels.Sgemm(false, false, p.m, p.n, p.k, 1, a[p.offA[i]:], p.k, b[p.offB[i]:], p.n, 0, yf[i*mn:(i+1)*mn], p.n)
	}
	return []*tensor.T{y}, nil
}

func (op *MatMul) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	p, err := mmResolve(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	for i := 0; i < 2 && i < len(need); i++ {
		if need[i] {
			grads[i] = tensor.New(in[i].Shape()...)
		}
	}
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	dy := gradOut[0].F32()
	nb := len(p.offA)
	if len(dy) != nb*p.m*p.n {
		return nil, fmt.Errorf("MatMul backward: gradient has shape %s, want %s", tensor.ShapeString(gradOut[0].Shape()), tensor.ShapeString(p.outShape))
	}
	a, b := in[0].F32(), in[1].F32()
	if p.batchB1 {
		rows := nb * p.m
		if grads[0] != nil { // dA = dY·Bᵀ
			kernels.Sgemm(false, true, rows, p.k, p.n, 1, dy, p.n, b, p.n, 0, grads[0].F32(), p.k)
		}
		if grads[1] != nil { // dB = Aᵀ·dY, summed over the batch by the product itself
			kernels.Sgemm(true, false, p.k, p.n, rows, 1, a, p.k, dy, p.n, 0, grads[1].F32(), p.n)
		}
		return grads, nil
	}
	mn := p.m * p.n
	for i := 0; i < nb; i++ {
		dyi := dy[i*mn : (i+1)*mn]
		if grads[0] != nil {
			kernels.Sgemm(false, true, p.m, p.k, p.n, 1, dyi, p.n, b[p.offB[i]:], p.n, 1, grads[0].F32()[p.offA[i]:], p.k)
		}
		if grads[1] != nil {
			kernels.Sgemm(true, false, p.k, p.n, p.m, 1, a[p.offA[i]:], p.k, dyi, p.n, 1, grads[1].F32()[p.offB[i]:], p.n)
		}
	}
	return grads, nil
}
