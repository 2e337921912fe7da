package cam

// LayerCAM (Jiang et al. 2021): every position keeps its own weight, the
// positive part of the gradient there, raw_ij = Σ_c max(0, ∂y/∂A_cij)·A_cij
// (with eigen_smooth, the first principal component of that stack).
func init() {
	registerLayer("layercam", true, layerCAM)
	runsFast("layercam")
}

func layerCAM(c *LayerContext) ([]float32, []float32, error) {
	a, g := c.Act.F32(), c.Grad.F32()
	stack := make([]float32, len(a))
	for i, v := range a {
		if g[i] > 0 {
			stack[i] = g[i] * v
		}
	}
	return c.Reduce(stack), nil, nil
}
