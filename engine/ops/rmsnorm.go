package ops

// RMSNormalization (opset 23): y = x / √(mean(x²) + ε) · scale over the
// axes from axis on, scale broadcast against them. With x̂ = x·r and
// r = 1/√(mean(x²) + ε), the backward is
//
//	∂L/∂x = r·(g − x̂·mean(g·x̂)),  g = ∂L/∂x̂ = ∂L/∂y · scale.

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("RMSNormalization", func(a Attrs, _ int) (Op, error) {
		return &rmsNormOp{layerNormOp{axis: int(a.Int("axis", -1)), eps: a.Float("epsilon", 1e-5)}}, nil
	})
}

// rmsNormOp shares LayerNormalization's shape checks (X, scale).
type rmsNormOp struct{ layerNormOp }

func (*rmsNormOp) Type() string { return "RMSNormalization" }

// rmsRows returns x̂ = x·r and each row's r.
func rmsRows(x []float32, rows, d int, eps float32) (xhat, inv []float32) {
	xhat, inv = make([]float32, len(x)), make([]float32, rows)
	for r := 0; r < rows; r++ {
		row := x[r*d : (r+1)*d]
		var q float64
		for _, v := range row {
			q += float64(v) * float64(v)
		}
		iv := 1 / math.Sqrt(q/float64(max(d, 1))+float64(eps))
		for i, v := range row {
			xhat[r*d+i] = float32(float64(v) * iv)
		}
		inv[r] = float32(iv)
	}
	return xhat, inv
}

func (op *rmsNormOp) plan(in []*tensor.T) (d, rows int, ss []int, err error) {
	if len(in) != 2 {
		return 0, 0, nil, fmt.Errorf("RMSNormalization: got %d inputs, want X and scale", len(in))
	}
	d, stat, ss, _, err := op.layerNormOp.plan(in)
	if err != nil {
		return 0, 0, nil, errors.New(strings.Replace(err.Error(), "LayerNormalization", "RMSNormalization", 1))
	}
	return d, tensor.Size(stat), ss, nil
}

func (op *rmsNormOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	d, rows, ss, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	xhat, _ := rmsRows(x.F32(), rows, d, op.eps)
	y, err := affine(xhat, x.Shape(), in[1], nil, ss, nil)
	if err != nil {
		return nil, fmt.Errorf("RMSNormalization: %w", err)
	}
	return []*tensor.T{tensor.FromF32(y, x.Shape()...)}, nil
}

func (op *rmsNormOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	d, rows, ss, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	grads := make([]*tensor.T, len(in))
	x := in[0]
	xhat, inv := rmsRows(x.F32(), rows, d, op.eps)
	g, gscale, _ := affineBackward(gradOut[0].F32(), xhat, x.Shape(), in[1], ss, nil, needGrad(need, 1), false)
	if needGrad(need, 0) {
		for r := 0; r < rows; r++ {
			gr, xr := g[r*d:(r+1)*d], xhat[r*d:(r+1)*d]
			var s float64
			for i, v := range gr {
				s += float64(v) * float64(xr[i])
			}
			m, iv := s/float64(d), float64(inv[r])
			for i, v := range gr {
				gr[i] = float32(iv * (float64(v) - float64(xr[i])*m))
			}
		}
		grads[0] = tensor.FromF32(g, x.Shape()...)
	}
	if gscale != nil {
		grads[1] = tensor.FromF32(gscale, in[1].Shape()...)
	}
	return grads, nil
}

func (op *rmsNormOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	return sameAsInput0("RMSNormalization", s)
}
