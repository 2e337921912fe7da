package cam

import (
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Deconvolution (Zeiler & Fergus 2014), as Captum's Deconvolution computes
// it: the gradient of the target score with respect to the input, with the
// backward of every ReLU replaced by a ReLU of the incoming gradient,
//
//	∂L/∂x = max(∂L/∂y, 0)
//
// whatever the sign of the ReLU's input (only ONNX Relu nodes, as Captum
// only hooks torch.nn.ReLU modules). The attribution is that signed
// gradient, C×H×W per image, kept in Result.Layers[0]; the map is
// captumAbsMap's.
func init() { registerWhole("deconvolution", deconvolution) }

// deconvReLU is deconvolution's backward for Relu nodes; other nodes go to
// next (when not nil) or to their own backward.
func deconvReLU(next func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error)) func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
	return func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
		if n.OpType != "Relu" {
			if next != nil {
				return next(n, in, out, gradOut, need)
			}
			return nil, false, nil
		}
		gx := tensor.New(in[0].Shape()...)
		d := gx.F32()
		for i, v := range gradOut[0].F32() {
			if v > 0 {
				d[i] = v
			}
		}
		return []*tensor.T{gx}, true, nil
	}
}

func deconvolution(s *Session, req *Request, targets []Target) (*Result, error) {
	start := time.Now()
	grads, err := s.Run.Backward(map[string]*tensor.T{s.Model.Output: s.Seed(targets)},
		graph.BackwardOptions{Wrt: []string{s.Model.Input}, Replace: deconvReLU(s.BackwardReplace)})
	if err != nil {
		return nil, err
	}
	res := inputResult(s, grads[s.Model.Input].F32(), captumAbsMap)
	res.Backward = time.Since(start)
	return res, nil
}
