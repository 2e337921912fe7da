package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// einsumRef evaluates an Einsum by enumerating every assignment of its
// labels (the op's own parser names the labels; the arithmetic is
// independent of the op's contraction order).
func einsumRef(t *testing.T, eq string, in []*tensor.T) *tensor.T {
	t.Helper()
	shapes := make([][]int, len(in))
	for k, x := range in {
		shapes[k] = x.Shape()
	}
	labels, out, size, err := (&einsumOp{eq: eq}).parse(shapes)
	if err != nil {
		t.Fatal(err)
	}
	var all []rune
	for l := range size {
		all = append(all, l)
	}
	slices.Sort(all)
	oshape := make([]int, len(out))
	for i, l := range out {
		oshape[i] = size[l]
	}
	y := tensor.New(oshape...)
	val := map[rune]int{}
	var rec func(d int)
	rec = func(d int) {
		if d == len(all) {
			p := float32(1)
			for k, x := range in {
				st := rowMajorStrides(x.Shape())
				o := 0
				for i, l := range labels[k] {
					o += val[l] * st[i]
				}
				p *= x.F32()[o]
			}
			st := rowMajorStrides(oshape)
			o := 0
			for i, l := range out {
				o += val[l] * st[i]
			}
			y.F32()[o] += p
			return
		}
		for v := 0; v < size[all[d]]; v++ {
			val[all[d]] = v
			rec(d + 1)
		}
	}
	rec(0)
	return y
}

func TestEinsum(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	for _, tc := range []struct {
		eq     string
		shapes [][]int
		out    []int
	}{
		{"bhid,bhjd->bhij", [][]int{{2, 2, 3, 4}, {2, 2, 5, 4}}, []int{2, 2, 3, 5}},
		{"ij,jk", [][]int{{3, 4}, {4, 2}}, []int{3, 2}},
		{"ij->", [][]int{{3, 4}}, []int{}},
		{"ij->ji", [][]int{{3, 4}}, []int{4, 3}},
		{"...ij,...jk->...ik", [][]int{{2, 3, 2, 4}, {3, 4, 5}}, []int{2, 3, 2, 5}},
		{"ii->i", [][]int{{4, 4}}, []int{4}},
		{"bii", [][]int{{2, 3, 3}}, []int{2}},
		{"ij,ij,ij->i", [][]int{{3, 4}, {3, 4}, {3, 4}}, []int{3}},
		{"i,j->ij", [][]int{{3}, {4}}, []int{3, 4}},
		{"bgid,bgjd->bgij", [][]int{{1, 3, 4, 2}, {1, 3, 4, 2}}, []int{1, 3, 4, 4}},
		{"ijk->kj", [][]int{{2, 3, 4}}, []int{4, 3}},
	} {
		op := nnOp(t, "Einsum", MapAttrs{"equation": tc.eq})
		in := make([]*tensor.T, len(tc.shapes))
		wrt := make([]int, len(tc.shapes))
		for k, s := range tc.shapes {
			in[k] = randT(rng, -1, 1, s...)
			wrt[k] = k
		}
		out := nnForward(t, op, in...)[0]
		if !slices.Equal(out.Shape(), tc.out) {
			t.Fatalf("%s: shape %v, want %v", tc.eq, out.Shape(), tc.out)
		}
		nnClose(t, "Einsum "+tc.eq, out, einsumRef(t, tc.eq, in), 1e-5)
		checkGrad(t, op, in, wrt, 1e-2, 1e-3)
	}
	for _, bad := range []struct {
		eq     string
		shapes [][]int
	}{{"ij,jk->ik", [][]int{{2, 3}, {4, 2}}}, {"ij->k", [][]int{{2, 3}}}, {"i1->i", [][]int{{2, 3}}}, {"ijk->i", [][]int{{2, 3}}}} {
		in := make([]*tensor.T, len(bad.shapes))
		for k, s := range bad.shapes {
			in[k] = randT(rng, -1, 1, s...)
		}
		if _, err := nnOp(t, "Einsum", MapAttrs{"equation": bad.eq}).Forward(in); err == nil {
			t.Errorf("Einsum %q on %v must be refused", bad.eq, bad.shapes)
		}
	}
}
