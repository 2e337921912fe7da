package cam

import (
	"sort"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// FinerCAM (Zhang et al. 2025): a base gradient method (Request.Base,
// default Grad-CAM) explaining what sets the class apart from the classes
// it is most easily confused with. The target (Finer) is
// Σ_k p_k (y_c − α·y_k) / (Σ_k p_k + 1e-9), p = softmax(y), over the
// comparison classes k: Request.FinerCompare, else per image the 2nd to 4th
// classes in order of |y_k − y_c| (the 1st is c itself), as
// pytorch-grad-cam's FinerCAM picks them; α = Request.FinerAlpha (default 1).
func init() {
	registerLayer("finercam", false, finerCAM)
	runsFast("finercam")
}

func finerCAM(c *LayerContext) ([]float32, []float32, error) {
	base := c.Req.Base
	if base == "" {
		base = "gradcam"
	}
	m, ok := methods[base]
	if !ok || m.layer == nil || !m.needsGrad {
		return nil, nil, kind.Errorf(ErrBadRequest, "cam: finercam: base method %q is not a gradient layer method (gradcam, gradcampp, …)", base)
	}
	alpha := 1.0
	if c.Req.FinerAlpha != nil {
		alpha = *c.Req.FinerAlpha
	}
	ts := make([]Target, c.N)
	for b, t := range c.Targets {
		if t.Kind != Logit {
			return nil, nil, kind.Errorf(ErrBadRequest, "cam: finercam explains its own target (the class against its comparison classes); it does not take a %s target", kindName(t.Kind))
		}
		logits := c.S.Logits(b)
		ft := Target{Kind: Finer, Class: t.Class, Compare: c.Req.FinerCompare, Alpha: alpha}
		if len(ft.Compare) == 0 {
			ft.Compare = FinerClasses(logits, t.Class)
		}
		r, err := ft.Resolve(logits)
		if err != nil {
			return nil, nil, err
		}
		ts[b] = r
	}
	grads, _, err := c.S.Gradients(ts, []string{c.Layer})
	if err != nil {
		return nil, nil, err
	}
	fc := *c
	fc.Grad, fc.Targets = grads[c.Layer], ts
	return m.layer(&fc)
}

// FinerClasses is FinerCAM's default choice of comparison classes: the
// classes in places 1, 2 and 3 (0 is class itself) of the classes sorted by
// |y_k − y_class|.
func FinerClasses(logits []float32, class int) []int {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	d := func(k int) float32 {
		v := logits[k] - logits[class]
		if v < 0 {
			return -v
		}
		return v
	}
	sort.SliceStable(idx, func(i, j int) bool { return d(idx[i]) < d(idx[j]) })
	// class itself is at distance 0; keep it out even when tied.
	var out []int
	for _, k := range idx {
		if k != class && len(out) < 3 {
			out = append(out, k)
		}
	}
	return out
}

// kindName names a target kind in messages.
func kindName(k TargetKind) string {
	switch k {
	case Probability:
		return "softmax"
	case Contrast:
		return "contrast"
	case Weighted:
		return "weighted"
	case ReST:
		return "rest"
	case Finer:
		return "finer"
	}
	return "logit"
}
