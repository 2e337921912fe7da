package cam

// EigenCAM (Muhammad & Yeasin 2020): no gradients and no target; the map is
// the activations' first principal component, raw = Project2D(A) per image:
// the (h·w)×C matrix of A, centred per channel, projected onto its first
// right-singular vector. eigen_smooth changes nothing (pytorch-grad-cam's
// EigenCAM ignores it too). The SVD's sign is fixed as Project2D documents.
func init() {
	registerLayer("eigencam", false, eigenCAM)
	runsFast("eigencam")
}

func eigenCAM(c *LayerContext) ([]float32, []float32, error) {
	return projectEach(c, c.Act.F32()), nil, nil
}

// projectEach applies Project2D to each image of an N×C×h×w stack.
func projectEach(c *LayerContext, stack []float32) []float32 {
	chw := c.C * c.H * c.W
	out := make([]float32, 0, c.N*c.H*c.W)
	for b := 0; b < c.N; b++ {
		out = append(out, Project2D(stack[b*chw:(b+1)*chw], c.C, c.H, c.W)...)
	}
	return out
}
