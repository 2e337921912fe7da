package cam

import (
	"math"
	"sort"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// Integrated Gradients (Sundararajan et al. 2017), as Captum's
// IntegratedGradients computes it with its default method "gausslegendre":
//
//	A[b] = (x_b − x'_b) ⊙ Σ_k w_k · ∂y_b/∂x evaluated at x'_b + α_k (x_b − x'_b)
//
// with the Gauss–Legendre nodes and weights of Request.Steps points (default
// 50) moved from [−1, 1] to [0, 1] (α_k = (1 + t_k)/2, w_k = ω_k/2), which
// Captum takes from numpy's leggauss. y_b is image b's target score and x'
// the baseline: Request.Baseline, either one C×H×W image for the whole batch
// (1×C×H×W or C×H×W) or N×C×H×W, default zeros. Completeness,
// Σ A[b] ≈ y_b(x) − y_b(x'), holds up to the quadrature error.
//
// The raw attribution (N×C×H×W, signed) is kept in Result.Layers[0]
// (Layer: the model's input name). The map is what Captum's
// visualize_image_attr shows by default (sign="absolute_value",
// outlier_perc=2): the channel sum's absolute value, divided by the value
// at which the sorted values' cumulative sum reaches 98 % of the total, and
// clipped to 1:
//
//	m[b,i,j] = min(1, |Σ_c A[b,c,i,j]| / t_b)
//
// An all-zero attribution gives an all-zero map. The path points are run
// Request.BatchSize at a time (default: up to 8, see defaultBatch).
//
// Divisible (Request.Part): one piece per point of the path (image·Steps +
// step), whose data is the gradient there (C·H·W values); the pieces are
// weighted and summed in this order, in float64, however they were
// computed.
func init() {
	registerWhole("integrated-gradients", integratedGradients)
	divisible["integrated-gradients"] = true
}

func integratedGradients(s *Session, req *Request, targets []Target) (*Result, error) {
	steps := req.Steps
	if steps <= 0 {
		steps = 50
	}
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	x := s.Input.F32()
	base, err := baselines(s, req, "integrated-gradients")
	if err != nil {
		return nil, err
	}
	alphas, weights := gaussLegendre01(steps)
	rows := n * steps
	lo, hi, given, err := partRange(req, rows, chw)
	if err != nil {
		return nil, err
	}
	total := make([]float64, n*chw)
	add := func(r int, grad []float32) {
		b, k := r/steps, r%steps
		w := weights[k]
		acc := total[b*chw : (b+1)*chw]
		for i, v := range grad {
			acc[i] += w * float64(v)
		}
	}
	for r := 0; given != nil && r < rows; r++ {
		add(r, given[r*chw:(r+1)*chw])
	}
	var pieces []float32
	if req.Part != nil {
		pieces = make([]float32, (hi-lo)*chw)
	}
	g := &gradBatches{
		s: s, rows: hi - lo, batch: req.BatchSize, progress: req.Progress,
		fill: func(i int, dst []float32) {
			r := lo + i
			b, k := r/steps, r%steps
			a := float32(alphas[k])
			xb, bb := x[b*chw:(b+1)*chw], base[b*chw:(b+1)*chw]
			for i := range dst {
				dst[i] = bb[i] + a*(xb[i]-bb[i])
			}
		},
		target: func(i int) Target { return targets[(lo+i)/steps] },
		use: func(i int, grad []float32, _ float32) {
			if pieces != nil {
				copy(pieces[i*chw:(i+1)*chw], grad)
				return
			}
			add(lo+i, grad)
		},
	}
	if given == nil {
		if err := g.run(); err != nil {
			return nil, err
		}
	}
	if pieces != nil {
		return nil, &partDone{pieces: pieces, total: rows}
	}
	attr := make([]float32, n*chw)
	for i := range attr {
		attr[i] = float32(total[i] * float64(x[i]-base[i]))
	}
	res := inputResult(s, attr, captumAbsMap)
	res.Forward, res.Backward = g.forward, g.backward
	if res.Delta, err = convergenceDelta(s, req, targets, attr, base); err != nil {
		return nil, err
	}
	return res, nil
}

// baselines is Request.Baseline for every image of the batch (N×C×H×W
// values): one C×H×W image (1×C×H×W or C×H×W) for the whole batch, or one
// per image; zeros when none is given.
func baselines(s *Session, req *Request, what string) ([]float32, error) {
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	base := make([]float32, n*chw)
	if bl := req.Baseline; bl != nil {
		f := bl.AsF32()
		switch len(f) {
		case chw:
			for b := 0; b < n; b++ {
				copy(base[b*chw:], f)
			}
		case n * chw:
			copy(base, f)
		default:
			sh := s.Input.Shape()
			return nil, kind.Errorf(ErrBadRequest, "cam: %s: the baseline has %d values; it must be one %d×%d×%d image or %d of them (the input's shape)",
				what, len(f), sh[1], sh[2], sh[3], n)
		}
	}
	return base, nil
}

// convergenceDelta is Captum's convergence delta of an attribution from
// baselines: per image, Σ A[b] − (y_b(x_b) − y_b(x'_b)), zero for a
// complete attribution.
func convergenceDelta(s *Session, req *Request, targets []Target, attr, base []float32) ([]float32, error) {
	n, chw := s.Batch(), s.Input.Len()/s.Batch()
	ref, err := scoreBatches(s, n, req.BatchSize, nil,
		func(r int, dst []float32) { copy(dst, base[r*chw:(r+1)*chw]) },
		func(r int) Target { return targets[r] })
	if err != nil {
		return nil, err
	}
	delta := make([]float32, n)
	for b := range delta {
		var sum float64
		for _, v := range attr[b*chw : (b+1)*chw] {
			sum += float64(v)
		}
		delta[b] = float32(sum - float64(targets[b].Score(s.Logits(b))-ref[b]))
	}
	return delta, nil
}

// captumAbsMap is Captum's default visualisation of one C×H×W attribution:
// |Σ_c a| scaled by its 98 % cumulative-sum threshold and clipped to 1.
func captumAbsMap(a []float32, c, h, w int) []float32 {
	hw := h * w
	out := make([]float32, hw)
	for ch := 0; ch < c; ch++ {
		for i, v := range a[ch*hw : (ch+1)*hw] {
			out[i] += v
		}
	}
	for i, v := range out {
		out[i] = float32(math.Abs(float64(v)))
	}
	t := cumulativeSumThreshold(out, 98)
	if t == 0 {
		return out
	}
	for i, v := range out {
		out[i] = min(v/t, 1)
	}
	return out
}

// cumulativeSumThreshold is Captum's _cumulative_sum_threshold: the
// smallest sorted value at which the running sum of the sorted
// (non-negative) values reaches percentile % of their total.
func cumulativeSumThreshold(v []float32, percentile float64) float32 {
	sorted := append([]float32(nil), v...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	cum := make([]float64, len(sorted))
	var s float64
	for i, x := range sorted {
		s += float64(x)
		cum[i] = s
	}
	limit := s * 0.01 * percentile
	for i, c := range cum {
		if c >= limit {
			return sorted[i]
		}
	}
	return sorted[len(sorted)-1]
}

// legendre returns P_n(t) and P_n'(t), by the three-term recurrence.
func legendre(n int, t float64) (p, dp float64) {
	p0, p1 := 1.0, t
	for k := 2; k <= n; k++ {
		p0, p1 = p1, ((2*float64(k)-1)*t*p1-(float64(k)-1)*p0)/float64(k)
	}
	if n == 1 {
		p0, p1 = 1, t
	}
	return p1, float64(n) * (t*p1 - p0) / (t*t - 1)
}

// gaussLegendre01 returns the n Gauss–Legendre nodes on [0, 1] in
// increasing order and their weights (summing to 1), as Captum derives them
// from numpy.polynomial.legendre.leggauss(n).
func gaussLegendre01(n int) (alphas, weights []float64) {
	alphas, weights = make([]float64, n), make([]float64, n)
	for i := 0; i < (n+1)/2; i++ {
		// Newton's method on P_n from the Tricomi approximation of the
		// i-th largest root.
		t := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		for iter := 0; iter < 100; iter++ {
			p, dp := legendre(n, t)
			dt := p / dp
			t -= dt
			if math.Abs(dt) < 1e-16 {
				break
			}
		}
		// The derivative at the converged root.
		_, dp := legendre(n, t)
		w := 2 / ((1 - t*t) * dp * dp)
		// t is the i-th largest root; −t the i-th smallest.
		hi, lo := n-1-i, i
		alphas[hi], weights[hi] = 0.5*(1+t), 0.5*w
		alphas[lo], weights[lo] = 0.5*(1-t), 0.5*w
	}
	return alphas, weights
}
