package ops

// MeanVarianceNormalization and LpNormalization.
//
//	MVN   y = (x − μ)/(σ + 1e-9) over the axes (default N, H, W), as the
//	      op's ONNX function body computes it
//	Lp    y = x / ‖x‖_p along an axis (p = 1 or 2; 0 where the norm is 0)

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("MeanVarianceNormalization", func(a Attrs, _ int) (Op, error) {
		axes := attrInts(a, "axes")
		if axes == nil {
			axes = []int{0, 2, 3}
		}
		return &mvnOp{axes: axes}, nil
	})
	Register("LpNormalization", func(a Attrs, _ int) (Op, error) {
		p := int(a.Int("p", 2))
		if p != 1 && p != 2 {
			return nil, fmt.Errorf("LpNormalization: p must be 1 or 2, got %d", p)
		}
		return &lpNormOp{axis: int(a.Int("axis", -1)), p: p}, nil
	})
}

type mvnOp struct{ axes []int }

func (*mvnOp) Type() string { return "MeanVarianceNormalization" }

// stats returns the kept shape, and per group its mean, σ and count.
func (m *mvnOp) stats(in []*tensor.T) (kept []int, mean, sd []float64, cnt float64, err error) {
	if err := wantInputs("MeanVarianceNormalization", in, 1, 1); err != nil {
		return nil, nil, nil, 0, err
	}
	x := in[0]
	if x.DType() != tensor.Float32 {
		return nil, nil, nil, 0, fmt.Errorf("MeanVarianceNormalization: input must be float32")
	}
	shape := x.Shape()
	kept = append([]int{}, shape...)
	for _, a := range m.axes {
		i, err := normAxis("MeanVarianceNormalization", a, len(shape))
		if err != nil {
			return nil, nil, nil, 0, err
		}
		kept[i] = 1
	}
	n := tensor.Size(kept)
	mean, sd = make([]float64, n), make([]float64, n)
	if n == 0 {
		return kept, mean, sd, 0, nil
	}
	cnt = float64(x.Len() / n)
	xs := x.F32()
	eachInGroup(shape, kept, func(i, g int) { mean[g] += float64(xs[i]) })
	for g := range mean {
		mean[g] /= cnt
	}
	eachInGroup(shape, kept, func(i, g int) { d := float64(xs[i]) - mean[g]; sd[g] += d * d })
	for g := range sd {
		sd[g] = math.Sqrt(sd[g] / cnt)
	}
	return kept, mean, sd, cnt, nil
}

func (m *mvnOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	kept, mean, sd, _, err := m.stats(in)
	if err != nil {
		return nil, err
	}
	xs := in[0].F32()
	y := make([]float32, len(xs))
	eachInGroup(in[0].Shape(), kept, func(i, g int) { y[i] = float32((float64(xs[i]) - mean[g]) / (sd[g] + 1e-9)) })
	return []*tensor.T{tensor.FromF32(y, in[0].Shape()...)}, nil
}

// Backward: with s = σ + ε and c = x − μ,
// ∂L/∂x_i = (g_i − mean g)/s − c_i·Σ_j g_j c_j / (n·σ·s²).
func (m *mvnOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	kept, mean, sd, cnt, err := m.stats(in)
	if err != nil {
		return nil, err
	}
	xs, g := in[0].F32(), gradOut[0].F32()
	sg, sgc := make([]float64, len(mean)), make([]float64, len(mean))
	shape := in[0].Shape()
	eachInGroup(shape, kept, func(i, k int) {
		sg[k] += float64(g[i])
		sgc[k] += float64(g[i]) * (float64(xs[i]) - mean[k])
	})
	gx := make([]float32, len(xs))
	eachInGroup(shape, kept, func(i, k int) {
		s, c := sd[k]+1e-9, float64(xs[i])-mean[k]
		v := (float64(g[i]) - sg[k]/cnt) / s
		if sd[k] > 0 {
			v -= c * sgc[k] / (cnt * sd[k] * s * s)
		}
		gx[i] = float32(v)
	})
	grads[0] = tensor.FromF32(gx, shape...)
	return grads, nil
}

func (m *mvnOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("MeanVarianceNormalization", s)
}

type lpNormOp struct{ axis, p int }

func (*lpNormOp) Type() string { return "LpNormalization" }

func (l *lpNormOp) norms(in []*tensor.T) (outer, n, inner int, norm []float64, err error) {
	if err := wantInputs("LpNormalization", in, 1, 1); err != nil {
		return 0, 0, 0, nil, err
	}
	x := in[0]
	if x.DType() != tensor.Float32 {
		return 0, 0, 0, nil, fmt.Errorf("LpNormalization: input must be float32")
	}
	xs := x.Shape()
	a, err := normAxis("LpNormalization", l.axis, len(xs))
	if err != nil {
		return 0, 0, 0, nil, err
	}
	outer, n, inner = tensor.Size(xs[:a]), xs[a], tensor.Size(xs[a+1:])
	norm = make([]float64, outer*inner)
	v := x.F32()
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var s float64
			for k := 0; k < n; k++ {
				e := float64(v[(o*n+k)*inner+i])
				if l.p == 1 {
					s += math.Abs(e)
				} else {
					s += e * e
				}
			}
			if l.p == 2 {
				s = math.Sqrt(s)
			}
			norm[o*inner+i] = s
		}
	}
	return outer, n, inner, norm, nil
}

func (l *lpNormOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	outer, n, inner, norm, err := l.norms(in)
	if err != nil {
		return nil, err
	}
	v := in[0].F32()
	y := make([]float32, len(v))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			if s := norm[o*inner+i]; s != 0 {
				for k := 0; k < n; k++ {
					at := (o*n+k)*inner + i
					y[at] = float32(float64(v[at]) / s)
				}
			}
		}
	}
	return []*tensor.T{tensor.FromF32(y, in[0].Shape()...)}, nil
}

// Backward: ∂L/∂x_i = g_i/‖x‖ − (Σ_j g_j x_j)/‖x‖² · ∂‖x‖/∂x_i, with
// ∂‖x‖/∂x_i = sign(x_i) (p = 1) or x_i/‖x‖ (p = 2).
func (l *lpNormOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	outer, n, inner, norm, err := l.norms(in)
	if err != nil {
		return nil, err
	}
	v, g := in[0].F32(), gradOut[0].F32()
	gx := make([]float32, len(v))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			s := norm[o*inner+i]
			if s == 0 {
				continue
			}
			var dot float64
			for k := 0; k < n; k++ {
				at := (o*n+k)*inner + i
				dot += float64(g[at]) * float64(v[at])
			}
			for k := 0; k < n; k++ {
				at := (o*n+k)*inner + i
				e := float64(v[at])
				dn := e / s
				if l.p == 1 {
					dn = 0
					if e > 0 {
						dn = 1
					} else if e < 0 {
						dn = -1
					}
				}
				gx[at] = float32(float64(g[at])/s - dot/(s*s)*dn)
			}
		}
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}

func (l *lpNormOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("LpNormalization", s)
}
