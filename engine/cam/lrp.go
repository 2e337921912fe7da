package cam

import (
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Layer-wise Relevance Propagation (Bach et al. 2015) with the ε-rule
// everywhere, as Captum's LRP does with its default rules. The relevance
// of the target score is passed down layer by layer; at a layer with
// output z = f(x) (Conv, Gemm/MatMul, MaxPool, AveragePool,
// GlobalAveragePool, BatchNormalization: Captum's EpsilonRule(1e-9) for
// Conv2d, Linear, MaxPool, AvgPool, AdaptiveAvgPool and BatchNorm2d)
//
//	R_x = x ⊙ (∂z/∂x)ᵀ · R_z / (z + ε·sign(z)),  ε = 1e-9, sign(0) = 1
//
// ReLU, Tanh and Dropout pass the relevance through unchanged, as Captum's
// non-linear layers do; shape ops (Flatten, Reshape, …) and additions
// route it as the gradient does (they are tensor operations, not modules,
// in PyTorch). Any other op is refused: Captum raises for a module without
// a rule. The propagation starts from the target's seed (1 at the class)
// and the result is scaled by the target score y_b, as Captum's is:
//
//	A[b] = y_b · R_input[b],   delta_b = y_b − Σ A[b]
//
// (Captum's convergence delta, in Result.Delta: the relevance the biases
// and ε absorbed). On a ReLU network with ε → 0 this equals Input ×
// Gradient. The attribution (C×H×W per image) is in Result.Layers[0]; the
// map is captumAbsMap's.
func init() { registerWhole("lrp", lrp) }

const lrpEpsilon = 1e-9

// lrpRule is the ε-rule backward of one node.
func lrpRule(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
	switch n.OpType {
	case "Relu", "Tanh", "Dropout", "Identity":
		return []*tensor.T{gradOut[0]}, true, nil
	case "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Add", "Sum":
		return nil, false, nil
	case "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization":
	default:
		return nil, false, kind.Errorf(ErrBadRequest, "cam: lrp: node %q: op %s has no LRP rule (the ε-rule covers Conv, Gemm, MatMul, MaxPool, AveragePool, GlobalAveragePool and BatchNormalization; Relu, Tanh and Dropout pass relevance through)", n.Name, n.OpType)
	}
	z, g := out[0].F32(), gradOut[0].F32()
	scaled := tensor.New(out[0].Shape()...)
	d := scaled.F32()
	for i, v := range z {
		if v >= 0 {
			d[i] = g[i] / (v + lrpEpsilon)
		} else {
			d[i] = g[i] / (v - lrpEpsilon)
		}
	}
	gy := make([]*tensor.T, len(gradOut))
	gy[0] = scaled
	only := make([]bool, len(need))
	only[0] = need[0]
	gin, err := n.Op.Backward(in, out, gy, only)
	if err != nil {
		return nil, false, err
	}
	rx := tensor.New(in[0].Shape()...)
	r, x, gx := rx.F32(), in[0].F32(), gin[0].F32()
	for i := range r {
		r[i] = x[i] * gx[i]
	}
	return []*tensor.T{rx}, true, nil
}

func lrp(s *Session, req *Request, targets []Target) (*Result, error) {
	start := time.Now()
	grads, err := s.Run.Backward(map[string]*tensor.T{s.Model.Output: s.Seed(targets)},
		graph.BackwardOptions{Wrt: []string{s.Model.Input}, Replace: lrpRule})
	if err != nil {
		return nil, err
	}
	rel := grads[s.Model.Input].F32()
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	attr := make([]float32, len(rel))
	delta := make([]float32, n)
	for b := 0; b < n; b++ {
		y := targets[b].Score(s.Logits(b))
		var sum float64
		for i := b * chw; i < (b+1)*chw; i++ {
			attr[i] = rel[i] * y
			sum += float64(attr[i])
		}
		delta[b] = float32(float64(y) - sum)
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Delta = delta
	res.Backward = time.Since(start)
	return res, nil
}
