package model

import (
	"math"
	"sort"
)

// Ranked is one class of a prediction.
type Ranked struct {
	Class int
	Prob  float64 // softmax probability
	Logit float32
}

// TopK ranks one image's logits and returns the k highest with their
// softmax probabilities (ties keep the lower class first).
func TopK(logits []float32, k int) []Ranked {
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	var sum float64
	probs := make([]float64, len(logits))
	for i, v := range logits {
		probs[i] = math.Exp(float64(v) - maxv)
		sum += probs[i]
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if len(idx) > k {
		idx = idx[:k]
	}
	out := make([]Ranked, len(idx))
	for i, c := range idx {
		out[i] = Ranked{Class: c, Prob: probs[c] / sum, Logit: logits[c]}
	}
	return out
}
