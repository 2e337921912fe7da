package cam

import (
	"math"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// GradientSHAP (Lundberg & Lee 2017), as Captum's GradientShap computes
// it: Integrated Gradients' path integral estimated by sampling. For each
// of Request.Samples samples s (default 5, Captum's n_samples) a point α_s
// is drawn uniformly from [0, 1] and, when Request.NoiseLevel > 0, the
// input is jittered by ε_s ~ N(0, σ_b²) per element (σ_b = NoiseLevel ·
// (max x_b − min x_b); the default 0 is Captum's stdevs = 0):
//
//	x̃_s = x_b + ε_s
//	A[b] = 1/S Σ_s (x̃_s − x'_b) ⊙ ∂y_b/∂x evaluated at x'_b + α_s (x̃_s − x'_b)
//
// with x' the baseline (Request.Baseline, as for integrated-gradients;
// default zeros). In expectation Σ A[b] = y_b(x) − y_b(x'): Result.Delta
// holds Σ A[b] − (y_b(x) − y_b(x')), which shrinks as 1/√S. The samples
// come from math/rand, one stream per sample seeded from Request.Seed and
// the sample's index (image·Samples + sample), so a result does not depend
// on the batch size. The attribution (C×H×W per image) is in
// Result.Layers[0]; the map is captumAbsMap's.
func init() { registerWhole("gradientshap", gradientSHAP) }

func gradientSHAP(s *Session, req *Request, targets []Target) (*Result, error) {
	samples := req.Samples
	if samples <= 0 {
		samples = 5
	}
	level := req.NoiseLevel
	if level < 0 || math.IsNaN(level) {
		level = 0
	}
	if math.IsInf(level, 0) {
		return nil, kind.Errorf(ErrBadRequest, "cam: gradientshap: the noise level must be finite, got %v", req.NoiseLevel)
	}
	base, err := baselines(s, req, "gradientshap")
	if err != nil {
		return nil, err
	}
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	x := s.Input.F32()
	sigma := make([]float64, n)
	for b := range sigma {
		img := x[b*chw : (b+1)*chw]
		lo, hi := img[0], img[0]
		for _, v := range img {
			lo, hi = min(lo, v), max(hi, v)
		}
		sigma[b] = level * float64(hi-lo)
	}
	// sample draws row r's noisy input into dst (when not nil) and
	// returns its α; the same stream gives the same draws every time.
	sample := func(r int, dst []float32) float32 {
		rng := rowRand(req.Seed, r)
		alpha := float32(rng.Float64())
		if dst != nil {
			img := x[(r/samples)*chw:][:chw]
			for i, v := range img {
				if sigma[r/samples] > 0 {
					v = float32(float64(v) + sigma[r/samples]*rng.NormFloat64())
				}
				dst[i] = v
			}
		}
		return alpha
	}
	total := make([]float64, n*chw)
	noisyX := make([]float32, chw)
	g := &gradBatches{
		s: s, rows: n * samples, batch: req.BatchSize, progress: req.Progress,
		fill: func(r int, dst []float32) {
			alpha := sample(r, dst)
			bb := base[(r/samples)*chw:][:chw]
			for i := range dst {
				dst[i] = bb[i] + alpha*(dst[i]-bb[i])
			}
		},
		target: func(r int) Target { return targets[r/samples] },
		use: func(r int, grad []float32, _ float32) {
			sample(r, noisyX)
			b := r / samples
			bb, acc := base[b*chw:][:chw], total[b*chw:][:chw]
			for i, v := range grad {
				acc[i] += float64((noisyX[i] - bb[i]) * v)
			}
		},
	}
	if err := g.run(); err != nil {
		return nil, err
	}
	attr := make([]float32, n*chw)
	for i, v := range total {
		attr[i] = float32(v / float64(samples))
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Forward, res.Backward = g.forward, g.backward
	if res.Delta, err = convergenceDelta(s, req, targets, attr, base); err != nil {
		return nil, err
	}
	return res, nil
}
