package cam

// Input × Gradient (Shrikumar et al. 2016; Captum's InputXGradient): the
// gradient of the target score times the input, element by element,
//
//	A[b,c,i,j] = x[b,c,i,j] · ∂y_b/∂x[b,c,i,j]
//
// signed, C×H×W per image like the input, kept in Result.Layers[0]. The map
// is Captum's default picture of it, as for every Captum attribution
// (captumAbsMap): |Σ_c A| scaled by its 98 % cumulative-sum threshold.
func init() { registerWhole("inputxgradient", inputXGradient) }

func inputXGradient(s *Session, req *Request, targets []Target) (*Result, error) {
	grads, dt, err := s.Gradients(targets, []string{s.Model.Input})
	if err != nil {
		return nil, err
	}
	g, x := grads[s.Model.Input].F32(), s.Input.F32()
	attr := make([]float32, len(g))
	for i, v := range g {
		attr[i] = x[i] * v
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Backward = dt
	return res, nil
}
