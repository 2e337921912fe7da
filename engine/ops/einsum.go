package ops

// Einsum: a sum of products over labelled axes, "bhid,bhjd->bhij" (an
// attention's Q·Kᵀ as some exports write it). Explicit ("->") and implicit
// outputs, the ellipsis "..." and labels repeated within an operand (its
// diagonal, "ii->i") are supported.
//
// The operands are contracted left to right, two at a time, each pair as
// one batched matrix product: labels in both operands and still needed
// are the batch, labels in both and no longer needed are summed by the
// product, the others are the rows and the columns. A label in one operand
// only and not needed is summed first. The gradient with respect to
// operand k is itself an Einsum, of the output gradient and the other
// operands, broadcast over the labels operand k alone had summed.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Einsum", func(a Attrs, _ int) (Op, error) {
		eq := strings.ReplaceAll(a.String("equation", ""), " ", "")
		if eq == "" {
			return nil, fmt.Errorf("Einsum: no equation")
		}
		return &einsumOp{eq: eq}, nil
	})
}

type einsumOp struct{ eq string }

func (*einsumOp) Type() string { return "Einsum" }

// ellipsis labels are runes from 0x10000 up, one per broadcast dim counted
// from the right, so that "..." of different ranks align as numpy's do.
const ellipsisBase = 0x10000

// parseTerm turns one operand's subscripts into labels for a tensor of the
// given rank.
func parseTerm(term string, rank int) ([]rune, error) {
	before, after, hasDots := strings.Cut(term, "...")
	if strings.Contains(after, "...") || strings.Contains(term, ".") && !hasDots {
		return nil, fmt.Errorf("Einsum: bad subscripts %q", term)
	}
	letters := []rune(before + after)
	for _, r := range letters {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return nil, fmt.Errorf("Einsum: bad subscript %q in %q", r, term)
		}
	}
	n := rank - len(letters)
	if n < 0 || (!hasDots && n != 0) {
		return nil, fmt.Errorf("Einsum: subscripts %q for an operand of rank %d", term, rank)
	}
	labels := []rune(before)
	for k := n - 1; k >= 0; k-- {
		labels = append(labels, rune(ellipsisBase+k))
	}
	return append(labels, []rune(after)...), nil
}

// parse resolves the equation for the given operand shapes: each operand's
// labels, the output's, and every label's size.
func (e *einsumOp) parse(shapes [][]int) (in [][]rune, out []rune, size map[rune]int, err error) {
	lhs, rhs, explicit := strings.Cut(e.eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(shapes) {
		return nil, nil, nil, fmt.Errorf("Einsum: equation %q has %d operands, got %d inputs", e.eq, len(terms), len(shapes))
	}
	size = map[rune]int{}
	count := map[rune]int{}
	ell := 0
	for k, t := range terms {
		labels, err := parseTerm(t, len(shapes[k]))
		if err != nil {
			return nil, nil, nil, err
		}
		for i, l := range labels {
			if s, ok := size[l]; ok && s != shapes[k][i] {
				return nil, nil, nil, fmt.Errorf("Einsum: label %q is %d in one operand and %d in another (broadcasting is not supported)", l, s, shapes[k][i])
			}
			size[l] = shapes[k][i]
			count[l]++
			if l >= ellipsisBase {
				ell = max(ell, int(l-ellipsisBase)+1)
			}
		}
		in = append(in, labels)
	}
	if explicit {
		// The output's ellipsis stands for the widest operand's.
		rank := len([]rune(strings.ReplaceAll(rhs, "...", "")))
		if strings.Contains(rhs, "...") {
			rank += ell
		}
		out, err = parseTerm(rhs, rank)
		if err != nil {
			return nil, nil, nil, err
		}
		seen := map[rune]bool{}
		for _, l := range out {
			if _, ok := size[l]; !ok || seen[l] {
				return nil, nil, nil, fmt.Errorf("Einsum: output label %q is repeated or in no operand", l)
			}
			seen[l] = true
		}
		return in, out, size, nil
	}
	for k := ell - 1; k >= 0; k-- {
		out = append(out, rune(ellipsisBase+k))
	}
	var once []rune
	for l, c := range count {
		if c == 1 && l < ellipsisBase {
			once = append(once, l)
		}
	}
	slices.Sort(once)
	return in, append(out, once...), size, nil
}

// diagonal returns an operand's view with each label once: the labels,
// and the iteration shape and strides that gatherStrided takes (a repeated
// label walks the sum of its axes' strides).
func diagonal(labels []rune, shape []int) (uniq []rune, count, stride []int) {
	st := rowMajorStrides(shape)
	for i, l := range labels {
		if j := slices.Index(uniq, l); j >= 0 {
			stride[j] += st[i]
			continue
		}
		uniq, count, stride = append(uniq, l), append(count, shape[i]), append(stride, st[i])
	}
	return uniq, count, stride
}

// view is operand t as a labelled tensor, its diagonal taken.
func view(t *tensor.T, labels []rune) labelled {
	uniq, count, stride := diagonal(labels, t.Shape())
	if len(uniq) == len(labels) {
		return labelled{t.F32(), labels}
	}
	return labelled{gatherStrided(t.F32(), count, stride, 0), uniq}
}

// labelled is a tensor with a label per axis.
type labelled struct {
	v      []float32
	labels []rune
}

func (t labelled) shape(size map[rune]int) []int {
	s := make([]int, len(t.labels))
	for i, l := range t.labels {
		s[i] = size[l]
	}
	return s
}

// sumOut sums t over the labels not in keep.
func sumOut(t labelled, keep map[rune]bool, size map[rune]int) labelled {
	shape := t.shape(size)
	kept := append([]int{}, shape...)
	var labels []rune
	drop := false
	for i, l := range t.labels {
		if keep[l] {
			labels = append(labels, l)
		} else {
			kept[i], drop = 1, true
		}
	}
	if !drop {
		return t
	}
	return labelled{reduceData("ReduceSum", t.v, shape, kept), labels}
}

// permute lays t out in the label order given.
func permute(t labelled, order []rune, size map[rune]int) labelled {
	if slices.Equal(t.labels, order) {
		return t
	}
	st := rowMajorStrides(t.shape(size))
	count, stride := make([]int, len(order)), make([]int, len(order))
	for i, l := range order {
		j := slices.Index(t.labels, l)
		count[i], stride[i] = size[l], st[j]
	}
	return labelled{gatherStrided(t.v, count, stride, 0), append([]rune{}, order...)}
}

// contract multiplies a and b, summing the labels they share that keep
// does not list.
func contract(a, b labelled, keep map[rune]bool, size map[rune]int) labelled {
	inA, inB := map[rune]bool{}, map[rune]bool{}
	for _, l := range a.labels {
		inA[l] = true
	}
	for _, l := range b.labels {
		inB[l] = true
	}
	// Sum what only one side has and nobody needs.
	ka, kb := map[rune]bool{}, map[rune]bool{}
	for l := range inA {
		ka[l] = keep[l] || inB[l]
	}
	for l := range inB {
		kb[l] = keep[l] || inA[l]
	}
	a, b = sumOut(a, ka, size), sumOut(b, kb, size)
	var batch, left, right, inner []rune
	for _, l := range a.labels {
		switch {
		case slices.Contains(b.labels, l) && keep[l]:
			batch = append(batch, l)
		case slices.Contains(b.labels, l):
			inner = append(inner, l)
		default:
			left = append(left, l)
		}
	}
	for _, l := range b.labels {
		if !slices.Contains(a.labels, l) {
			right = append(right, l)
		}
	}
	prod := func(ls []rune) int {
		n := 1
		for _, l := range ls {
			n *= size[l]
		}
		return n
	}
	pb, pl, pc, pr := prod(batch), prod(left), prod(inner), prod(right)
	a = permute(a, slices.Concat(batch, left, inner), size)
	b = permute(b, slices.Concat(batch, inner, right), size)
	c := make([]float32, pb*pl*pr)
	if pc > 0 && pl > 0 && pr > 0 {
		for i := 0; i < pb; i++ {
			kernels.Sgemm(false, false, pl, pr, pc, 1, a.v[i*pl*pc:], pc, b.v[i*pc*pr:], pr, 0, c[i*pl*pr:], pr)
		}
	}
	return labelled{c, slices.Concat(batch, left, right)}
}

// einsum contracts the operands into the output labels.
func einsum(ops []labelled, out []rune, size map[rune]int) []float32 {
	need := func(from int) map[rune]bool {
		k := map[rune]bool{}
		for _, l := range out {
			k[l] = true
		}
		for _, o := range ops[from:] {
			for _, l := range o.labels {
				k[l] = true
			}
		}
		return k
	}
	cur := ops[0]
	for k := 1; k < len(ops); k++ {
		cur = contract(cur, ops[k], need(k+1), size)
	}
	cur = sumOut(cur, need(len(ops)), size)
	return permute(cur, out, size).v
}

func (e *einsumOp) plan(in []*tensor.T) ([][]rune, []rune, map[rune]int, error) {
	if len(in) == 0 {
		return nil, nil, nil, fmt.Errorf("Einsum: no inputs")
	}
	shapes := make([][]int, len(in))
	for k, t := range in {
		if t == nil || t.DType() != tensor.Float32 {
			return nil, nil, nil, fmt.Errorf("Einsum: input %d must be a float32 tensor", k)
		}
		shapes[k] = t.Shape()
	}
	return e.parse(shapes)
}

func (e *einsumOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	labels, out, size, err := e.plan(in)
	if err != nil {
		return nil, err
	}
	shape := labelled{labels: out}.shape(size)
	if err := checkOutSize("Einsum", shape); err != nil {
		return nil, err
	}
	ops := make([]labelled, len(in))
	for k, t := range in {
		ops[k] = view(t, labels[k])
	}
	return []*tensor.T{tensor.FromF32(einsum(ops, out, size), shape...)}, nil
}

func (e *einsumOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	labels, outLabels, size, err := e.plan(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	for k := range in {
		if !needGrad(need, k) {
			continue
		}
		ops := []labelled{{gradOut[0].F32(), outLabels}}
		used := map[rune]bool{}
		for _, l := range outLabels {
			used[l] = true
		}
		for j, t := range in {
			if j != k {
				ops = append(ops, view(t, labels[j]))
				for _, l := range labels[j] {
					used[l] = true
				}
			}
		}
		// The labels operand k shares with the others; it summed the rest
		// alone, so its gradient is constant along them.
		uniq, count, stride := diagonal(labels[k], in[k].Shape())
		var target []rune
		kept := make([]int, len(uniq))
		for i, l := range uniq {
			kept[i] = 1
			if used[l] {
				target = append(target, l)
				kept[i] = size[l]
			}
		}
		g := einsum(ops, target, size)
		if len(target) != len(uniq) {
			g = expandToShape(g, kept, count, 1)
		}
		if len(uniq) != len(labels[k]) { // back from the diagonal
			full := make([]float32, in[k].Len())
			scatterStrided(full, g, count, stride, 0)
			g = full
		}
		grads[k] = tensor.FromF32(g, in[k].Shape()...)
	}
	return grads, nil
}
