package cam

import "math/rand"

// RandomCAM (pytorch-grad-cam's baseline for the metrics): each channel
// weighted by a number drawn uniformly from [−1, 1], raw = Σ_c w_c·A_c. The
// weights come from math/rand seeded with Request.Seed, so one seed gives
// one map.
func init() {
	registerLayer("randomcam", false, randomCAM)
	runsFast("randomcam")
}

func randomCAM(c *LayerContext) ([]float32, []float32, error) {
	rng := rand.New(rand.NewSource(c.Req.Seed))
	w := make([]float32, c.N*c.C)
	for i := range w {
		w[i] = float32(2*rng.Float64() - 1)
	}
	return c.Combine(w), w, nil
}
