package cam

// XGradCAM (Fu et al. 2020): gradients weighted by the normalised
// activations, w_c = Σ_ij ∂y/∂A_cij · A_cij / (Σ_ij A_cij + 1e-7), then
// raw = Σ_c w_c·A_c. pytorch-grad-cam divides each term before summing; so
// does this.
func init() {
	registerLayer("xgradcam", true, xGradCAM)
	runsFast("xgradcam")
}

func xGradCAM(c *LayerContext) ([]float32, []float32, error) {
	a, g := c.Act.F32(), c.Grad.F32()
	hw := c.H * c.W
	w := make([]float32, c.N*c.C)
	for p := range w {
		ap, gp := a[p*hw:(p+1)*hw], g[p*hw:(p+1)*hw]
		var sumA float32
		for _, v := range ap {
			sumA += v
		}
		d := sumA + 1e-7
		var s float32
		for i, v := range ap {
			s += gp[i] * v / d
		}
		w[p] = s
	}
	return c.Combine(w), w, nil
}
