package cam

// Element-wise Grad-CAM (pytorch-grad-cam's GradCAMElementWise): like
// HiResCAM, but each channel's contribution is clamped at zero before the
// channels are summed, raw_ij = Σ_c max(0, ∂y/∂A_cij · A_cij) (with
// eigen_smooth, the first principal component of that stack).
func init() {
	registerLayer("gradcam-elementwise", true, gradCAMElementWise)
	runsFast("gradcam-elementwise")
}

func gradCAMElementWise(c *LayerContext) ([]float32, []float32, error) {
	return c.Reduce(gradTimesAct(c, true)), nil, nil
}
