package cam

// SegEigenCAM (Chung & Ying 2025, Seg-Eigen-CAM, for segmentation models):
// EigenCAM of the activations weighted by the gradient's magnitude, raw =
// Project2D(|∂y/∂A| ⊙ A) per image, its sign chosen so that |max| ≥ |min|
// (as pytorch-grad-cam's SegEigenCAM; eigen_smooth changes nothing). With
// a segmentation target y is the class's score summed over its mask.
func init() {
	registerLayer("segeigencam", true, segEigenCAM)
	runsFast("segeigencam")
}

func segEigenCAM(c *LayerContext) ([]float32, []float32, error) {
	a, g := c.Act.F32(), c.Grad.F32()
	stack := make([]float32, len(a))
	for i, v := range a {
		gi := g[i]
		if gi < 0 {
			gi = -gi
		}
		stack[i] = gi * v
	}
	raw := projectEach(c, stack)
	hw := c.H * c.W
	for b := 0; b < c.N; b++ {
		m := raw[b*hw : (b+1)*hw]
		lo, hi := m[0], m[0]
		for _, v := range m {
			lo, hi = min(lo, v), max(hi, v)
		}
		if -lo > hi {
			for i := range m {
				m[i] = -m[i]
			}
		}
	}
	return raw, nil, nil
}
