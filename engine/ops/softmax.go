package ops

// Softmax and LogSoftmax. From opset 13 they normalise along one axis
// (default −1); before that, the input is coerced to 2-D at axis (default 1),
// [d0·…·d(axis−1), d(axis)·…·d(r−1)], and each row is normalised.

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	for _, name := range []string{"Softmax", "LogSoftmax"} {
		log := name == "LogSoftmax"
		Register(name, func(a Attrs, opset int) (Op, error) {
			s := &softmaxOp{log: log, legacy: opset < 13, axis: -1}
			if s.legacy {
				s.axis = 1
			}
			s.axis = int(a.Int("axis", int64(s.axis)))
			return s, nil
		})
	}
}

// softmaxOp is Softmax or LogSoftmax (log).
type softmaxOp struct {
	log    bool
	legacy bool // opset < 13: coerce to 2-D at axis
	axis   int
}

func (s *softmaxOp) Type() string {
	if s.log {
		return "LogSoftmax"
	}
	return "Softmax"
}

// layout views the input as [outer, n, inner], normalising over n.
func (s *softmaxOp) layout(shape []int) (outer, n, inner int, err error) {
	r := len(shape)
	if s.legacy {
		a := s.axis
		if a < 0 {
			a += r
		}
		if a < 0 || a > r {
			return 0, 0, 0, fmt.Errorf("%s: axis %d out of range for rank %d", s.Type(), s.axis, r)
		}
		return tensor.Size(shape[:a]), tensor.Size(shape[a:]), 1, nil
	}
	if r == 0 {
		return 1, 1, 1, nil
	}
	a, err := normAxis(s.Type(), s.axis, r)
	if err != nil {
		return 0, 0, 0, err
	}
	return tensor.Size(shape[:a]), shape[a], tensor.Size(shape[a+1:]), nil
}

func (s *softmaxOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	if err := wantInputs(s.Type(), in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("%s: input must be float32, got %s", s.Type(), x.DType())
	}
	outer, n, inner, err := s.layout(x.Shape())
	if err != nil {
		return nil, err
	}
	xs := x.F32()
	y := make([]float32, len(xs))
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			m := float32(math.Inf(-1))
			for k := 0; k < n; k++ {
				m = max(m, xs[base+k*inner])
			}
			var sum float64
			for k := 0; k < n; k++ {
				i := base + k*inner
				e := math.Exp(float64(xs[i] - m))
				sum += e
				if !s.log {
					y[i] = float32(e)
				}
			}
			if s.log {
				ls := float32(math.Log(sum))
				for k := 0; k < n; k++ {
					i := base + k*inner
					y[i] = xs[i] - m - ls
				}
			} else {
				inv := 1 / sum
				for k := 0; k < n; k++ {
					i := base + k*inner
					y[i] = float32(float64(y[i]) * inv)
				}
			}
		}
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

// Backward uses the forward output y: Softmax gx = y·(gy − Σ gy·y), LogSoftmax
// gx = gy − exp(y)·Σ gy.
func (s *softmaxOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	grads := make([]*tensor.T, len(in))
	if !needGrad(need, 0) {
		return grads, nil
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	outer, n, inner, err := s.layout(in[0].Shape())
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || out[0] == nil || out[0].Len() != in[0].Len() {
		// Output not kept: recompute it.
		if out, err = s.Forward(in[:1]); err != nil {
			return nil, err
		}
	}
	y, gy := out[0].F32(), gradOut[0].F32()
	gx := make([]float32, len(y))
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			var dot float64
			for k := 0; k < n; k++ {
				i := base + k*inner
				if s.log {
					dot += float64(gy[i])
				} else {
					dot += float64(gy[i]) * float64(y[i])
				}
			}
			d := float32(dot)
			for k := 0; k < n; k++ {
				i := base + k*inner
				if s.log {
					gx[i] = gy[i] - float32(math.Exp(float64(y[i])))*d
				} else {
					gx[i] = y[i] * (gy[i] - d)
				}
			}
		}
	}
	grads[0] = tensor.FromF32(gx, in[0].Shape()...)
	return grads, nil
}
