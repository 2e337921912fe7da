package ops

// ScatterND(data, indices, updates): a copy of data with the slices that
// indices name replaced by (or, with reduction add/mul/max/min, combined
// with) updates. indices is q-D with a last dimension k ≤ rank(data); each
// of its index tuples names a slice data[i0, …, ik−1, :, …].
//
// Backward (reduction none or add): updates get the output gradient
// gathered at the indices; data gets the output gradient, zeroed where it
// was overwritten (none) or as is (add).

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("ScatterND", func(a Attrs, _ int) (Op, error) {
		r := a.String("reduction", "none")
		switch r {
		case "none", "add", "mul", "max", "min":
		default:
			return nil, fmt.Errorf("ScatterND: unknown reduction %q", r)
		}
		return scatterNDOp{reduction: r}, nil
	})
}

type scatterNDOp struct{ reduction string }

func (scatterNDOp) Type() string { return "ScatterND" }

// plan returns each update slice's offset in data and the slice length.
func (scatterNDOp) plan(in []*tensor.T) (offs []int, slice int, err error) {
	if err := wantInputs("ScatterND", in, 3, 3); err != nil {
		return nil, 0, err
	}
	data, idx, upd := in[0], in[1], in[2]
	ds, is := data.Shape(), idx.Shape()
	if len(is) == 0 || is[len(is)-1] > len(ds) {
		return nil, 0, fmt.Errorf("ScatterND: indices %v do not fit data %v", is, ds)
	}
	k := is[len(is)-1]
	want := append(append([]int{}, is[:len(is)-1]...), ds[k:]...)
	if !tensor.SameShape(upd.Shape(), want) {
		return nil, 0, fmt.Errorf("ScatterND: updates have shape %v, want %v", upd.Shape(), want)
	}
	if upd.DType() != data.DType() {
		return nil, 0, fmt.Errorf("ScatterND: data is %s and updates %s", data.DType(), upd.DType())
	}
	slice = tensor.Size(ds[k:])
	st := rowMajorStrides(ds)
	iv := idx.Ints()
	offs = make([]int, tensor.Size(is[:len(is)-1]))
	for j := range offs {
		o := 0
		for a := 0; a < k; a++ {
			v := iv[j*k+a]
			if v < -ds[a] || v >= ds[a] {
				return nil, 0, fmt.Errorf("ScatterND: index %d out of range for dim %d of %v", v, ds[a], ds)
			}
			if v < 0 {
				v += ds[a]
			}
			o += v * st[a]
		}
		offs[j] = o
	}
	return offs, slice, nil
}

func scatterND[E elemType](dst, upd []E, offs []int, slice int, reduction string) {
	for j, o := range offs {
		d, u := dst[o:o+slice], upd[j*slice:(j+1)*slice]
		switch reduction {
		case "add":
			for i, v := range u {
				d[i] += v
			}
		case "mul":
			for i, v := range u {
				d[i] *= v
			}
		case "max":
			for i, v := range u {
				d[i] = max(d[i], v)
			}
		case "min":
			for i, v := range u {
				d[i] = min(d[i], v)
			}
		default:
			copy(d, u)
		}
	}
}

func (s scatterNDOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	offs, slice, err := s.plan(in)
	if err != nil {
		return nil, err
	}
	y := in[0].Clone()
	if y.DType() == tensor.Int64 {
		scatterND(y.I64(), in[2].I64(), offs, slice, s.reduction)
	} else {
		scatterND(y.F32(), in[2].F32(), offs, slice, s.reduction)
	}
	return []*tensor.T{y}, nil
}

func (s scatterNDOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if in[0].DType() != tensor.Float32 || (!needGrad(need, 0) && !needGrad(need, 2)) {
		return grads, nil
	}
	if s.reduction != "none" && s.reduction != "add" {
		return nil, fmt.Errorf("ScatterND: no gradient for reduction %q", s.reduction)
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	offs, slice, err := s.plan(in)
	if err != nil {
		return nil, err
	}
	g := gradOut[0].F32()
	if needGrad(need, 2) {
		gu := make([]float32, len(offs)*slice)
		for j, o := range offs {
			copy(gu[j*slice:(j+1)*slice], g[o:o+slice])
		}
		grads[2] = tensor.FromF32(gu, in[2].Shape()...)
	}
	if needGrad(need, 0) {
		gd := append([]float32(nil), g...)
		if s.reduction == "none" {
			for _, o := range offs {
				clear(gd[o : o+slice])
			}
		}
		grads[0] = tensor.FromF32(gd, in[0].Shape()...)
	}
	return grads, nil
}

func (scatterNDOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("ScatterND", s)
}
