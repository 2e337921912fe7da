package cam

import (
	"fmt"
	"math"

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
)

// Target is the scalar explained for one image. Its zero value is the
// logit of class 0; Class < 0 means the top-1 class.
type Target struct {
	Kind    TargetKind
	Class   int
	Other   int       // Contrast's second class
	Weights []float32 // Weighted's per-class weights
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
	if t.Kind == Weighted && len(t.Weights) != n {
		return t, kind.Errorf(ErrBadRequest, "cam: %d target weights for %d classes", len(t.Weights), n)
	}
	return t, nil
}

// Score is the target's value for one image's logits.
func (t Target) Score(logits []float32) float32 {
	switch t.Kind {
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
	default:
		g[t.Class] = 1
	}
	return g
}

// key identifies a target for caching gradients.
func (t Target) key() string {
	return fmt.Sprint(t.Kind, t.Class, t.Other, t.Weights)
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
