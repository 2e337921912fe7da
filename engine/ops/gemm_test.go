package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const M, K, N = 3, 4, 5
	cShapes := [][]int{nil, {}, {1}, {N}, {1, N}, {M, 1}, {M, N}, {1, 1}}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for ci, cs := range cShapes {
				alpha, beta := float32(1), float32(1)
				if ci%2 == 1 {
					alpha, beta = 0.5, -1.5
				}
				name := fmt.Sprintf("tA=%v tB=%v C=%v", ta, tb, cs)
				t.Run(name, func(t *testing.T) {
					a := MapAttrs{"alpha": alpha, "beta": beta}
					if ta {
						a["transA"] = int64(1)
					}
					if tb {
						a["transB"] = int64(1)
					}
					op := nnOp(t, "Gemm", a)
					A := randT(rng, -1, 1, M, K)
					if ta {
						A = randT(rng, -1, 1, K, M)
					}
					B := randT(rng, -1, 1, K, N)
					if tb {
						B = randT(rng, -1, 1, N, K)
					}
					in := []*tensor.T{A, B}
					var C *tensor.T
					if cs != nil {
						C = randT(rng, -1, 1, cs...)
						in = append(in, C)
					}
					want := tensor.New(M, N)
					for i := 0; i < M; i++ {
						for j := 0; j < N; j++ {
							var s float32
							for p := 0; p < K; p++ {
								av := A.F32()[i*K+p]
								if ta {
									av = A.F32()[p*M+i]
								}
								bv := B.F32()[p*N+j]
								if tb {
									bv = B.F32()[j*K+p]
								}
								s += av * bv
							}
							s *= alpha
							if C != nil {
								ii, jj := i, j
								c0, c1 := 1, 1
								if len(cs) == 1 {
									c1 = cs[0]
								} else if len(cs) == 2 {
									c0, c1 = cs[0], cs[1]
								}
								if c0 == 1 {
									ii = 0
								}
								if c1 == 1 {
									jj = 0
								}
								s += beta * C.F32()[ii*c1+jj]
							}
							want.F32()[i*N+j] = s
						}
					}
					nnClose(t, name, nnForward(t, op, in...)[0], want, 1e-5)
					wrt := []int{0, 1}
					if C != nil {
						wrt = append(wrt, 2)
					}
					checkGrad(t, op, in, wrt, 1e-2, 1e-2)
				})
			}
		}
	}
}

func TestGemmErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	op := nnOp(t, "Gemm", MapAttrs{})
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 2, 3), randT(rng, 0, 1, 4, 2)}); err == nil {
		t.Fatal("inner mismatch accepted")
	}
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 2, 3), randT(rng, 0, 1, 3, 4), randT(rng, 0, 1, 3)}); err == nil {
		t.Fatal("C [3] broadcast to 2×4 accepted")
	}
}

// matmulRef multiplies with numpy semantics by plain index arithmetic.
func matmulRef(a, b *tensor.T) *tensor.T {
	as, bs := append([]int{}, a.Shape()...), append([]int{}, b.Shape()...)
	va, vb := len(as) == 1, len(bs) == 1
	if va {
		as = []int{1, as[0]}
	}
	if vb {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	ba, bb := as[:len(as)-2], bs[:len(bs)-2]
	nd := max(len(ba), len(bb))
	pad := func(s []int) []int {
		out := make([]int, nd)
		for i := range out {
			out[i] = 1
		}
		copy(out[nd-len(s):], s)
		return out
	}
	ba, bb = pad(ba), pad(bb)
	batch := make([]int, nd)
	for i := range batch {
		batch[i] = max(ba[i], bb[i])
	}
	nb := tensor.Size(batch)
	out := make([]float32, nb*m*n)
	idx := make([]int, nd)
	for q := 0; q < nb; q++ {
		r := q
		for i := nd - 1; i >= 0; i-- {
			idx[i] = r % batch[i]
			r /= batch[i]
		}
		oa, ob := 0, 0
		for i := 0; i < nd; i++ {
			ia, ib := idx[i], idx[i]
			if ba[i] == 1 {
				ia = 0
			}
			if bb[i] == 1 {
				ib = 0
			}
			oa = oa*ba[i] + ia
			ob = ob*bb[i] + ib
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float32
				for p := 0; p < k; p++ {
					s += a.F32()[oa*m*k+i*k+p] * b.F32()[ob*k*n+p*n+j]
				}
				out[q*m*n+i*n+j] = s
			}
		}
	}
	shape := append([]int{}, batch...)
	if !va {
		shape = append(shape, m)
	}
	if !vb {
		shape = append(shape, n)
	}
	return tensor.FromF32(out, shape...)
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	cases := []struct{ a, b, out []int }{
		{[]int{3, 4}, []int{4, 5}, []int{3, 5}},
		{[]int{2, 3, 4}, []int{4, 5}, []int{2, 3, 5}},
		{[]int{4}, []int{4, 5}, []int{5}},
		{[]int{3, 4}, []int{4}, []int{3}},
		{[]int{4}, []int{4}, []int{}},
		{[]int{2, 3, 4}, []int{4}, []int{2, 3}},
		{[]int{4}, []int{2, 4, 3}, []int{2, 3}},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}, []int{2, 3, 3, 2}},
		{[]int{3, 4}, []int{2, 4, 5}, []int{2, 3, 5}},
		{[]int{2, 3, 4}, []int{2, 4, 5}, []int{2, 3, 5}},
		{[]int{1, 3, 4}, []int{2, 4, 5}, []int{2, 3, 5}},
		{[]int{2, 3, 4}, []int{1, 4, 5}, []int{2, 3, 5}},
		{[]int{3, 4}, []int{1, 1, 4, 5}, []int{1, 1, 3, 5}},
	}
	op := nnOp(t, "MatMul", MapAttrs{})
	for _, c := range cases {
		name := fmt.Sprintf("%v×%v", c.a, c.b)
		t.Run(name, func(t *testing.T) {
			a, b := randT(rng, -1, 1, c.a...), randT(rng, -1, 1, c.b...)
			got := nnForward(t, op, a, b)[0]
			if !tensor.SameShape(got.Shape(), c.out) {
				t.Fatalf("shape %v, want %v", got.Shape(), c.out)
			}
			nnClose(t, name, got, matmulRef(a, b), 1e-5)
			checkGrad(t, op, []*tensor.T{a, b}, []int{0, 1}, 1e-2, 1e-2)
		})
	}
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 2, 3, 4), randT(rng, 0, 1, 3, 4, 5)}); err == nil {
		t.Fatal("batch 2 vs 3 accepted")
	}
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 3, 4), randT(rng, 0, 1, 3, 5)}); err == nil {
		t.Fatal("inner mismatch accepted")
	}
}
