package cam

// ShapleyCAM (Cai 2025, "CAMs as Shapley value-based explainers"): Grad-CAM
// with a second-order correction. With g = ∂y/∂A and H·A the Hessian of the
// target along the activations themselves,
//
//	w_c = 1/(h·w) Σ_ij (g − ½·H·A)_cij,   raw = Σ_c w_c·A_c.
//
// H·A is exact (Session.HVP: forward over reverse). For a logit target
// through ReLU layers the Hessian is zero and ShapleyCAM is Grad-CAM; with
// the ReST or softmax target the softmax's curvature enters.
func init() {
	registerLayer("shapleycam", true, shapleyCAM)
	runsFast("shapleycam")
}

func shapleyCAM(c *LayerContext) ([]float32, []float32, error) {
	// H·A in the value's own layout, then mapped as the gradient is.
	value, lm := c.Act, c.lmap
	if c.Value != nil && lm != nil {
		value = c.Value
	}
	hvp, err := c.S.HVP(c.Targets, c.Layer, value)
	if err != nil {
		return nil, nil, err
	}
	if lm != nil {
		hvp = lm.toCHW(hvp)
	}
	g, h := c.Grad.F32(), hvp.F32()
	d := make([]float32, len(g))
	for i := range d {
		d[i] = g[i] - 0.5*h[i]
	}
	w := spatialMean(d, c.N*c.C, c.H*c.W)
	return c.Combine(w), w, nil
}
