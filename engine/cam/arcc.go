package cam

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// ARCC and its parts, as pytorch-grad-cam's metrics (Poppi et al. 2021,
// "Revisiting the Evaluation of Class Activation Mapping for
// Explainability"): Complexity, Coherency, and their harmonic mean with
// ROADCombined.

// Complexity is each map's mean |value| (its L1 norm over the pixels): 0
// for an empty map, 1 for a map of ones. Lower is simpler.
func Complexity(maps []float32, n int) []float32 {
	out := make([]float32, n)
	if n == 0 {
		return out
	}
	hw := len(maps) / n
	for b := range out {
		var s float64
		for _, v := range maps[b*hw : (b+1)*hw] {
			s += math.Abs(float64(v))
		}
		out[b] = float32(s / float64(hw))
	}
	return out
}

// CoherencyResult is Coherency's outcome.
type CoherencyResult struct {
	Score []float32 // (ρ + 1)/2 per image, ρ the Pearson correlation
	Maps  []float32 // the method's maps on input ⊙ map, N×H×W
}

// Coherency runs the request's method again on every image multiplied by
// its map (as ConfidenceChange mixes them) and scores how much the new map
// agrees with the old: (ρ + 1)/2, with ρ Pearson's correlation over the
// pixels (ρ = cov/(σ_a σ_b + 1e-8), n − 1 in both). 1 means the
// explanation explains itself.
func Coherency(s *Session, req Request, maps []float32) (*CoherencyResult, error) {
	if _, err := metricSetup(s, maps, req.Targets, "coherency"); err != nil {
		return nil, err
	}
	sh := s.Input.Shape()
	n, c, hw := sh[0], sh[1], sh[2]*sh[3]
	x := tensor.New(sh...)
	in := s.Input.F32()
	for b := 0; b < n; b++ {
		m := maps[b*hw : (b+1)*hw]
		for k := 0; k < c; k++ {
			off := (b*c + k) * hw
			for i, v := range m {
				x.F32()[off+i] = in[off+i] * v
			}
		}
	}
	ms, err := NewSessionTier(s.Model, x, RequestTier(&req)) // the pass the method will use
	if err != nil {
		return nil, err
	}
	ms.BackwardReplace = s.BackwardReplace
	if len(req.Targets) == 0 {
		// The targets of the original input (its top-1 class), not the
		// mixed image's.
		ts, err := s.ResolveTargets(nil)
		if err != nil {
			return nil, err
		}
		req.Targets = ts
	}
	r, err := Compute(ms, req)
	if err != nil {
		return nil, err
	}
	if r.Channels != 1 || len(r.Maps) != len(maps) {
		return nil, fmt.Errorf("cam: coherency needs a one-channel map per image; %s gives %d channels", req.Method, r.Channels)
	}
	res := &CoherencyResult{Score: make([]float32, n), Maps: r.Maps}
	for b := 0; b < n; b++ {
		res.Score[b] = float32((pearson(r.Maps[b*hw:(b+1)*hw], maps[b*hw:(b+1)*hw]) + 1) / 2)
	}
	return res, nil
}

// pearson is cov(a, b)/(σ_a σ_b + 1e-8), with n − 1 in each.
func pearson(a, b []float32) float64 {
	n := float64(len(a))
	if len(a) < 2 {
		return 0
	}
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= n
	mb /= n
	var cov, va, vb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		cov += da * db
		va += da * da
		vb += db * db
	}
	return (cov / (n - 1)) / (math.Sqrt(va/(n-1))*math.Sqrt(vb/(n-1)) + 1e-8)
}

// ARCC is the harmonic mean of coherency, simplicity (1 − complexity) and
// the ROADCombined score mapped to 0..1 (clip(2·road, 0, 1)):
// 3 / (1/(coh + 1e-8) + 1/(1 − cx + 1e-8) + 1/(road' + 1e-8)). Higher is
// better. pytorch-grad-cam computes its ROAD term at the percentiles 20, 40,
// 60 and 80.
func ARCC(complexity, coherency, roadCombined float32) float32 {
	road := math.Min(math.Max(2*float64(roadCombined), 0), 1)
	return float32(3 / (1/(float64(coherency)+1e-8) + 1/((1-float64(complexity))+1e-8) + 1/(road+1e-8)))
}

// ARCCPercentiles are the ROAD percentiles of pytorch-grad-cam's ARCC.
var ARCCPercentiles = []float64{20, 40, 60, 80}
