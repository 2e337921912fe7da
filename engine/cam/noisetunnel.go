package cam

import (
	"math"
	"time"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// Captum's NoiseTunnel over Saliency (|∂y/∂x|, as for smoothgrad) with its
// two other aggregations of the noisy samples g_s = |∂y_b/∂x evaluated at
// x_b + ε_s| (Smilkov et al. 2017; Adebayo et al. 2018):
//
//	smoothgrad-sq: A = 1/S Σ_s g_s²
//	vargrad:       A = 1/S Σ_s g_s² − (1/S Σ_s g_s)²
//
// The noise is smoothgrad's: ε_s ~ N(0, σ_b²) per element, σ_b =
// Request.NoiseLevel·(max x_b − min x_b) (default 0.15; negative: no
// noise, then smoothgrad-sq is saliency² and vargrad 0), Request.Samples
// copies (default 25), seeded from Request.Seed and the copy's index. The
// attribution (C×H×W per image, non-negative) is in Result.Layers[0]; the
// map is captumAbsMap's, as for every Captum attribution.
//
// They divide into parts as smoothgrad does (saliency.go).
func init() {
	divisible["smoothgrad-sq"] = true
	divisible["vargrad"] = true
	registerWhole("smoothgrad-sq", func(s *Session, req *Request, targets []Target) (*Result, error) {
		return noiseTunnel(s, req, targets, "smoothgrad-sq")
	})
	registerWhole("vargrad", func(s *Session, req *Request, targets []Target) (*Result, error) {
		return noiseTunnel(s, req, targets, "vargrad")
	})
}

func noiseTunnel(s *Session, req *Request, targets []Target, what string) (*Result, error) {
	nt, err := noisySaliency(s, req, targets, what)
	if err != nil {
		return nil, err
	}
	k := float64(nt.samples)
	attr := make([]float32, len(nt.sum))
	for i := range attr {
		sq := nt.sumSq[i] / k
		if what == "vargrad" {
			m := nt.sum[i] / k
			sq = max(0, sq-m*m)
		}
		attr[i] = float32(sq)
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Forward, res.Backward = nt.forward, nt.backward
	return res, nil
}

// noisy is what noisySaliency accumulates: per input element, Σ_s g_s and
// Σ_s g_s² over the samples.
type noisy struct {
	sum, sumSq        []float64
	samples           int
	forward, backward time.Duration
}

// noisySaliency computes |∂y/∂x| on Request.Samples noisy copies of each
// image (see smoothGrad for the noise and the seeding) and accumulates them.
func noisySaliency(s *Session, req *Request, targets []Target, what string) (*noisy, error) {
	samples := req.Samples
	if samples <= 0 {
		samples = 25
	}
	level := req.NoiseLevel
	if level == 0 {
		level = 0.15
	}
	if level < 0 || math.IsNaN(level) {
		level = 0
	}
	if math.IsInf(level, 0) {
		return nil, kind.Errorf(ErrBadRequest, "cam: %s: the noise level must be finite, got %v", what, req.NoiseLevel)
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
	nt := &noisy{sum: make([]float64, n*chw), sumSq: make([]float64, n*chw), samples: samples}
	total := n * samples
	lo, hi, given, err := partRange(req, total, chw)
	if err != nil {
		return nil, err
	}
	// add accumulates noisy copy r's |∂y/∂x|: the same sums however the
	// copies were divided into parts.
	add := func(r int, abs []float32) {
		off := (r / samples) * chw
		sum, sq := nt.sum[off:off+chw], nt.sumSq[off:off+chw]
		for i, v := range abs {
			a := float64(v)
			sum[i] += a
			sq[i] += a * a
		}
	}
	for r := 0; given != nil && r < total; r++ {
		add(r, given[r*chw:(r+1)*chw])
	}
	var pieces []float32
	if req.Part != nil {
		pieces = make([]float32, (hi-lo)*chw)
	}
	abs := make([]float32, chw)
	g := &gradBatches{
		s: s, rows: hi - lo, batch: req.BatchSize, progress: req.Progress,
		fill: func(i int, dst []float32) {
			r := lo + i
			b := r / samples
			img := x[b*chw : (b+1)*chw]
			if sigma[b] == 0 {
				copy(dst, img)
				return
			}
			rng := rowRand(req.Seed, r)
			for i, v := range img {
				dst[i] = float32(float64(v) + sigma[b]*rng.NormFloat64())
			}
		},
		target: func(i int) Target { return targets[(lo+i)/samples] },
		use: func(i int, grad []float32, _ float32) {
			dst := abs
			if pieces != nil {
				dst = pieces[i*chw : (i+1)*chw]
			}
			for j, v := range grad {
				dst[j] = float32(math.Abs(float64(v)))
			}
			if pieces == nil {
				add(lo+i, dst)
			}
		},
	}
	if given == nil {
		if err := g.run(); err != nil {
			return nil, err
		}
	}
	if pieces != nil {
		return nil, &partDone{pieces: pieces, total: total}
	}
	nt.forward, nt.backward = g.forward, g.backward
	return nt, nil
}
