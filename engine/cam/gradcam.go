package cam

// Grad-CAM (Selvaraju et al. 2017): each channel weighted by the spatial
// mean of the target's gradient, w_c = 1/(h·w) Σ_ij ∂y/∂A_cij.
func init() {
	registerLayer("gradcam", true, gradCAM)
	runsFast("gradcam")
}

func gradCAM(c *LayerContext) ([]float32, []float32, error) {
	w := spatialMean(c.Grad.F32(), c.N*c.C, c.H*c.W)
	return c.Combine(w), w, nil
}

// spatialMean averages each of n planes of hw values.
func spatialMean(a []float32, n, hw int) []float32 {
	out := make([]float32, n)
	for p := 0; p < n; p++ {
		var s float32
		for _, v := range a[p*hw : (p+1)*hw] {
			s += v
		}
		out[p] = s / float32(hw)
	}
	return out
}
