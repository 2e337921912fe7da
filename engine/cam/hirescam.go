package cam

// HiResCAM (Draelants & Ramanan 2020): the gradient multiplies the
// activations element by element instead of being averaged per channel,
// raw_ij = Σ_c ∂y/∂A_cij · A_cij (with eigen_smooth, the first principal
// component of the stack ∂y/∂A ⊙ A). For a GAP → linear head the gradient
// is constant over space and HiResCAM equals Grad-CAM.
func init() {
	registerLayer("hirescam", true, hiResCAM)
	runsFast("hirescam")
}

func hiResCAM(c *LayerContext) ([]float32, []float32, error) {
	return c.Reduce(gradTimesAct(c, false)), nil, nil
}

// gradTimesAct is the N×C×h×w stack ∂y/∂A ⊙ A, clamped at zero when relu.
func gradTimesAct(c *LayerContext, relu bool) []float32 {
	a, g := c.Act.F32(), c.Grad.F32()
	out := make([]float32, len(a))
	for i, v := range a {
		p := g[i] * v
		if relu && p < 0 {
			p = 0
		}
		out[i] = p
	}
	return out
}
