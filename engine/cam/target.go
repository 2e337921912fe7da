package cam

import (
	"math"
	"strconv"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// TargetKind says what scalar of the model's output a method explains.
type TargetKind int

const (
	// Logit is logit[Class] (pytorch-grad-cam's ClassifierOutputTarget).
	Logit TargetKind = iota
	// Probability is softmax(logits)[Class].
	Probability
	// Contrast is logit[Class] − logit[Other]: "why A rather than B".
	Contrast
	// Weighted is Σ_k Weights[k]·logit[k].
	Weighted
	// ReST is logit[Class] − cross-entropy(logits, Class) =
	// 2·logit[Class] − logsumexp(logits) (pytorch-grad-cam's
	// ClassifierOutputReST).
	ReST
	// Finer is FinerCAM's target (pytorch-grad-cam's FinerWeightedTarget):
	// Σ_k p_k (y_c − α·y_k) / (Σ_k p_k + 1e-9) over the classes k of
	// Compare, with p = softmax(logits), y the logits and α = Alpha.
	Finer
	// Segment is, for a segmentation model (output N×K×H×W), the sum of
	// class Class's scores over the pixels of Mask, Σ_p Mask[p]·out[Class,
	// p] (pytorch-grad-cam's SemanticSegmentationTarget; segment.go).
	Segment
)

// Target is the scalar explained for one image. Its zero value is the
// logit of class 0; Class < 0 means the top-1 class.
type Target struct {
	Kind    TargetKind
	Class   int
	Other   int       // Contrast's second class
	Weights []float32 // Weighted's per-class weights
	Compare []int     // Finer's comparison classes
	Alpha   float64   // Finer's α
	// Mask is Segment's H×W mask of the output's pixels; nil means the
	// pixels predicted as Class. A Logit target on a segmentation model is
	// the Segment target of its class.
	Mask []float32
}

// TopClass is a Target meaning "the top-1 class's logit".
var TopClass = Target{Class: -1}

// Resolve fills in the top-1 class and checks class indices against the
// number of classes.
func (t Target) Resolve(logits []float32) (Target, error) {
	n := len(logits)
	if t.Class < 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		t.Class = best
	}
	if t.Class >= n {
		return t, kind.Errorf(ErrBadRequest, "cam: class %d is out of range: the model has %d classes (0–%d)", t.Class, n, n-1)
	}
	if t.Kind == Contrast && (t.Other < 0 || t.Other >= n) {
		return t, kind.Errorf(ErrBadRequest, "cam: contrast class %d is out of range: the model has %d classes (0–%d)", t.Other, n, n-1)
	}
	if t.Kind == Finer {
		if len(t.Compare) == 0 {
			return t, kind.Errorf(ErrBadRequest, "cam: FinerCAM's target needs at least one comparison class")
		}
		for _, k := range t.Compare {
			if k < 0 || k >= n {
				return t, kind.Errorf(ErrBadRequest, "cam: comparison class %d is out of range: the model has %d classes (0–%d)", k, n, n-1)
			}
		}
	}
	if t.Kind == Weighted && len(t.Weights) != n {
		return t, kind.Errorf(ErrBadRequest, "cam: %d target weights for %d classes", len(t.Weights), n)
	}
	return t, nil
}

// Score is the target's value for one image's logits.
func (t Target) Score(logits []float32) float32 {
	switch t.Kind {
	case Segment:
		return segScore(t, logits)
	case Probability:
		return float32(softmax(logits)[t.Class])
	case Contrast:
		return logits[t.Class] - logits[t.Other]
	case Weighted:
		var s float32
		for k, w := range t.Weights {
			s += w * logits[k]
		}
		return s
	case ReST:
		return float32(2*float64(logits[t.Class]) - logSumExp(logits))
	case Finer:
		p := softmax(logits)
		var num, den float64
		for _, k := range t.Compare {
			num += p[k] * (float64(logits[t.Class]) - t.Alpha*float64(logits[k]))
			den += p[k]
		}
		return float32(num / (den + 1e-9))
	}
	return logits[t.Class]
}

// Seed is d Score / d logits for one image.
func (t Target) Seed(logits []float32) []float32 {
	g := make([]float32, len(logits))
	switch t.Kind {
	case Probability:
		p := softmax(logits)
		for k := range g {
			d := -p[t.Class] * p[k]
			if k == t.Class {
				d += p[t.Class]
			}
			g[k] = float32(d)
		}
	case Contrast:
		g[t.Class] += 1
		g[t.Other] -= 1
	case Weighted:
		copy(g, t.Weights)
	case ReST:
		for k, pk := range softmax(logits) {
			g[k] = float32(-pk)
		}
		g[t.Class] += 2
	case Finer:
		// T = N/D with N = Σ_k p_k d_k, d_k = y_c − α y_k, D = Σ_k p_k + 1e-9;
		// ∂p_k/∂y_j = p_k(δ_kj − p_j).
		p := softmax(logits)
		var num, den float64
		for _, k := range t.Compare {
			num += p[k] * (float64(logits[t.Class]) - t.Alpha*float64(logits[k]))
			den += p[k]
		}
		den += 1e-9
		for j := range g {
			var dn, dd float64
			for _, k := range t.Compare {
				dk := float64(logits[t.Class]) - t.Alpha*float64(logits[k])
				dp := -p[k] * p[j]
				if k == j {
					dp += p[k]
				}
				dn += dp * dk
				dd += dp
				// ∂d_k/∂y_j
				if j == t.Class {
					dn += p[k]
				}
				if j == k {
					dn -= p[k] * t.Alpha
				}
			}
			g[j] = float32(dn/den - num*dd/(den*den))
		}
	case Segment:
		copy(g[t.Class*len(t.Mask):], t.Mask)
	default:
		g[t.Class] = 1
	}
	return g
}

// HessianVec is (∂² Score / ∂logits²)·u for one image: zero for the
// targets linear in the logits, exact for Probability and ReST.
func (t Target) HessianVec(logits []float32, u []float64) ([]float64, error) {
	out := make([]float64, len(logits))
	switch t.Kind {
	case Logit, Contrast, Weighted, Segment:
		return out, nil
	case ReST:
		// −(diag(p) − p pᵀ)u
		p := softmax(logits)
		var pu float64
		for k := range p {
			pu += p[k] * u[k]
		}
		for k := range p {
			out[k] = -p[k] * (u[k] - pu)
		}
		return out, nil
	case Probability:
		// ∂²p_c/∂y_k∂y_l = p_c[(δ_ck − p_k)(δ_cl − p_l) − p_k(δ_kl − p_l)]
		p := softmax(logits)
		c := t.Class
		var pu float64
		for k := range p {
			pu += p[k] * u[k]
		}
		a := u[c] - pu // Σ_l (δ_cl − p_l) u_l
		for k := range p {
			e := -p[k]
			if k == c {
				e++
			}
			out[k] = p[c] * (e*a - p[k]*(u[k]-pu))
		}
		return out, nil
	}
	return nil, kind.Errorf(ErrBadRequest, "cam: no second derivative for this target kind")
}

// key identifies a target for caching gradients.
//
// It is built with strconv, not fmt: the page computes it for every map,
// and formatting through fmt costs a fraction of a millisecond in wasm.
func (t Target) key() string {
	b := make([]byte, 0, 48+12*(len(t.Weights)+len(t.Compare)))
	b = strconv.AppendInt(b, int64(t.Kind), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(t.Class), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(t.Other), 10)
	b = append(b, " w"...)
	for _, w := range t.Weights {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(math.Float32bits(w)), 16)
	}
	b = append(b, " c"...)
	for _, c := range t.Compare {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(c), 10)
	}
	b = append(b, " a "...)
	b = strconv.AppendUint(b, math.Float64bits(t.Alpha), 16)
	b = append(b, ' ')
	return string(append(b, maskKey(t.Mask)...))
}

// logSumExp is log Σ_k exp(y_k), in float64.
func logSumExp(logits []float32) float64 {
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - maxv)
	}
	return maxv + math.Log(sum)
}

// ParseTargetKind reads the -target names: logit, softmax (also
// probability) and rest.
func ParseTargetKind(name string) (TargetKind, error) {
	switch name {
	case "", "logit":
		return Logit, nil
	case "softmax", "probability":
		return Probability, nil
	case "rest":
		return ReST, nil
	}
	return Logit, kind.Errorf(ErrBadRequest, "cam: unknown target %q (logit, softmax, rest)", name)
}

func softmax(logits []float32) []float64 {
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	p := make([]float64, len(logits))
	var sum float64
	for k, v := range logits {
		p[k] = math.Exp(float64(v) - maxv)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
	return p
}
