package cam

import "math"

// FEM, the Feature Explanation Method (Ahmed Asif Fuad et al. 2020): no
// gradients; a channel's weight is the share of its positions that stand
// out, w_c = 1/(h·w) Σ_ij [A_cij > mean(A_c) + k·std(A_c)] (std over the
// positions, ddof 0; k = Request.FEMK, default 2), then raw = Σ_c w_c·A_c.
func init() {
	registerLayer("fem", false, fem)
	runsFast("fem")
}

func fem(c *LayerContext) ([]float32, []float32, error) {
	k := c.Req.FEMK
	if k == 0 {
		k = 2
	}
	a := c.Act.F32()
	hw := c.H * c.W
	w := make([]float32, c.N*c.C)
	for p := range w {
		plane := a[p*hw : (p+1)*hw]
		var mean float64
		for _, v := range plane {
			mean += float64(v)
		}
		mean /= float64(hw)
		var vr float64
		for _, v := range plane {
			d := float64(v) - mean
			vr += d * d
		}
		th := mean + k*math.Sqrt(vr/float64(hw))
		n := 0
		for _, v := range plane {
			if float64(v) > th {
				n++
			}
		}
		w[p] = float32(n) / float32(hw)
	}
	return c.Combine(w), w, nil
}
