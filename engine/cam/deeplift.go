package cam

import (
	"math"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// DeepLIFT (Shrikumar et al. 2017) with the Rescale rule, as Captum's
// DeepLift computes it. The model runs on the input x and on the baseline
// x' (Request.Baseline, default zeros); the backward pass is the
// gradient's, except at the non-linearities, where the derivative is
// replaced by the ratio of the differences from the baseline run:
//
//	Relu, LeakyRelu, Elu, Sigmoid, Tanh, Softplus:
//	    m = Δy/Δx = (y − y')/(x − x')   where |x − x'| ≥ 1e-10, else the gradient
//	MaxPool (Captum's maxpool rule):
//	    ∂L/∂x = [unpool_x(∂L/∂y · (max(y, y') − y')) + unpool_x'(∂L/∂y · (y − max(y, y')))] / (x − x'),
//	    unpool_x routing to the input's maxima and unpool_x' to the
//	    baseline's (the gradient where |x − x'| < 1e-10)
//
// and the attribution is
//
//	A[b] = (x_b − x'_b) ⊙ m_b,   delta_b = Σ A[b] − (y_b(x) − y_b(x'))
//
// (Captum's convergence delta, in Result.Delta; zero up to rounding for
// ReLU networks). Softmax and other ops keep their gradient. As in Captum
// 0.8.0, whose hooks see a value's gradient before the next node's rule
// replaces it, a non-linearity whose output feeds another one directly
// (Relu → MaxPool) applies its rule to the gradient the next node's plain
// backward gives (the rules' replacement only reaches it where
// |x − x'| < 1e-10); both halves of Captum's doubled batch carry the same
// gradient, which the MaxPool rule relies on. The
// attribution (C×H×W per image) is in Result.Layers[0]; the map is
// captumAbsMap's.
func init() { registerWhole("deeplift", deepLift) }

const deepLiftEps = 1e-10

func deepLift(s *Session, req *Request, targets []Target) (*Result, error) {
	start := time.Now()
	base, err := baselines(s, req, "deeplift")
	if err != nil {
		return nil, err
	}
	ref, err := s.Model.Forward(tensor.FromF32(base, s.Input.Shape()...), nil)
	if err != nil {
		return nil, err
	}
	fwd := time.Since(start)
	next := s.BackwardReplace
	// early[v]: for a value v that a rescaled node reads, the gradient
	// before the rule minus the gradient after it (see below).
	early := map[string][]float32{}
	rescale := func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
		switch n.OpType {
		case "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "MaxPool":
		default:
			if next != nil {
				return next(n, in, out, gradOut, need)
			}
			return nil, false, nil
		}
		// The gradient, used where the input equals the baseline's.
		plain, handled, err := []*tensor.T(nil), false, error(nil)
		if next != nil {
			plain, handled, err = next(n, in, out, gradOut, need)
		}
		if err == nil && !handled {
			plain, err = n.Op.Backward(in, out, gradOut, need)
		}
		if err != nil {
			return nil, false, err
		}
		x, xr := in[0].F32(), ref.Value(n.Inputs[0]).F32()
		y, yr := out[0].F32(), ref.Value(n.Outputs[0]).F32()
		g := gradOut[0].F32()
		if d, ok := early[n.Outputs[0]]; ok {
			// Captum's hooks hand a non-linearity the gradient of its
			// output as it was before the next node's rule replaced it.
			g = append([]float32(nil), g...)
			for i, v := range d {
				g[i] += v
			}
		}
		var num []float32 // numerator at the input: Δy·g routed back
		if n.OpType == "MaxPool" {
			// Δy = (max(y, y') − y') + (y − max(y, y')): the first part
			// routed to the input's maxima, the second to the baseline's.
			toX, toRef := tensor.New(out[0].Shape()...), tensor.New(out[0].Shape()...)
			u, v := toX.F32(), toRef.F32()
			for i := range u {
				m := max(y[i], yr[i])
				u[i] = g[i] * (m - yr[i])
				v[i] = g[i] * (y[i] - m)
			}
			gy := make([]*tensor.T, len(gradOut))
			gy[0] = toX
			routed, err := n.Op.Backward(in, out, gy, need)
			if err != nil {
				return nil, false, err
			}
			gy[0] = toRef
			refOut := make([]*tensor.T, len(out))
			for k, o := range n.Outputs {
				if o != "" {
					refOut[k] = ref.Value(o)
				}
			}
			routedRef, err := n.Op.Backward([]*tensor.T{ref.Value(n.Inputs[0])}, refOut, gy, need)
			if err != nil {
				return nil, false, err
			}
			num = routed[0].F32()
			for i, w := range routedRef[0].F32() {
				num[i] += w
			}
		} else {
			num = make([]float32, len(g))
			for i := range num {
				num[i] = g[i] * (y[i] - yr[i])
			}
		}
		gx := tensor.New(in[0].Shape()...)
		d, p := gx.F32(), plain[0].F32()
		for i := range d {
			dx := x[i] - xr[i]
			if math.Abs(float64(dx)) < deepLiftEps {
				d[i] = p[i]
			} else {
				d[i] = num[i] / dx
			}
		}
		e := early[n.Inputs[0]]
		if e == nil {
			e = make([]float32, len(d))
			early[n.Inputs[0]] = e
		}
		for i, v := range d {
			e[i] += p[i] - v
		}
		return []*tensor.T{gx}, true, nil
	}
	t1 := time.Now()
	grads, err := s.Run.Backward(map[string]*tensor.T{s.Model.Output: s.Seed(targets)},
		graph.BackwardOptions{Wrt: []string{s.Model.Input}, Replace: rescale})
	if err != nil {
		return nil, err
	}
	m, x := grads[s.Model.Input].F32(), s.Input.F32()
	attr := make([]float32, len(m))
	for i, v := range m {
		attr[i] = (x[i] - base[i]) * v
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Forward, res.Backward = fwd, time.Since(t1)
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	out := ref.Value(s.Model.Output).F32()
	nc := len(out) / n
	res.Delta = make([]float32, n)
	for b := range res.Delta {
		var sum float64
		for _, v := range attr[b*chw : (b+1)*chw] {
			sum += float64(v)
		}
		y, yr := targets[b].Score(s.Logits(b)), targets[b].Score(out[b*nc:(b+1)*nc])
		res.Delta[b] = float32(sum - float64(y-yr))
	}
	return res, nil
}
