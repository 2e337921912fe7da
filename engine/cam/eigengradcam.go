package cam

// EigenGradCAM: EigenCAM of the gradient-weighted activations, raw =
// Project2D(∂y/∂A ⊙ A) per image (with or without eigen_smooth, as in
// pytorch-grad-cam).
func init() {
	registerLayer("eigengradcam", true, eigenGradCAM)
	runsFast("eigengradcam")
}

func eigenGradCAM(c *LayerContext) ([]float32, []float32, error) {
	return projectEach(c, gradTimesAct(c, false)), nil, nil
}
