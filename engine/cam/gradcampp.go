package cam

// Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19 as pytorch-grad-cam computes
// it): with g = ∂y/∂A_c,
//
//	α_cij = g²_ij / (2·g²_ij + Σ_kl A_ckl · g³_ij + 1e-6), 0 where g_ij = 0,
//	w_c   = Σ_ij max(0, g_ij) · α_cij,
//
// then raw = Σ_c w_c·A_c.
func init() {
	registerLayer("gradcampp", true, gradCAMPlusPlus)
	runsFast("gradcampp")
}

func gradCAMPlusPlus(c *LayerContext) ([]float32, []float32, error) {
	a, g := c.Act.F32(), c.Grad.F32()
	hw := c.H * c.W
	w := make([]float32, c.N*c.C)
	for p := range w {
		ap, gp := a[p*hw:(p+1)*hw], g[p*hw:(p+1)*hw]
		var sumA float32
		for _, v := range ap {
			sumA += v
		}
		var s float32
		for _, gv := range gp {
			if gv <= 0 {
				continue // relu(g) = 0, and α = 0 where g = 0
			}
			g2 := gv * gv
			g3 := g2 * gv
			s += gv * (g2 / (2*g2 + sumA*g3 + 1e-6))
		}
		w[p] = s
	}
	return c.Combine(w), w, nil
}
