package cam

import (
	"math"
	"testing"

	"github.com/cnnlens/cnnlens/engine/ops"
)

// TestMethodTiers checks which tier each method is filed under and how a
// request's tier follows from it.
func TestMethodTiers(t *testing.T) {
	for m, want := range map[string]ops.Tier{
		"gradcam": ops.TierFast, "gradcampp": ops.TierFast, "layercam": ops.TierFast, "eigencam": ops.TierFast,
		"saliency": ops.TierReference, "inputxgradient": ops.TierReference, "guidedbackprop": ops.TierReference,
		"integrated-gradients": ops.TierReference, "fullgrad": ops.TierReference, "scorecam": ops.TierReference,
		"ablationcam": ops.TierExact, "occlusion": ops.TierExact, "featureablation": ops.TierExact,
		"no such method": ops.TierReference,
	} {
		if got := MethodTier(m); got != want {
			t.Errorf("MethodTier(%q) = %v, want %v", m, got, want)
		}
	}
	for _, c := range []struct {
		req  Request
		want ops.Tier
	}{
		{Request{Method: "gradcam"}, ops.TierReference},
		{Request{Method: "gradcam", FastTier: true}, ops.TierFast},
		{Request{Method: "refinecam", FastTier: true}, ops.TierFast},
		{Request{Method: "refinecam", FastTier: true, Base: "gradcam"}, ops.TierFast},
		{Request{Method: "refinecam", FastTier: true, Base: "scorecam"}, ops.TierReference},
		{Request{Method: "saliency", FastTier: true}, ops.TierReference},
		{Request{Method: "ablationcam", FastTier: true}, ops.TierExact},
		{Request{Method: "ablationcam"}, ops.TierExact},
	} {
		if got := RequestTier(&c.req); got != c.want {
			t.Errorf("RequestTier(%s, fast %v, base %q) = %v, want %v", c.req.Method, c.req.FastTier, c.req.Base, got, c.want)
		}
	}
}

// TestSessionTiers checks that a request's result does not depend on the
// tier of the input's first forward pass: on ResNet-18 (whose 56² and 28²
// convolutions take F(4×4) at the fast tier) a session made at the fast
// tier and one made at the reference tier give the same bits for a method
// of each tier, each tier's forward pass runs once per input, and the two
// tiers' logits differ (the fast tier is not the reference tier in
// disguise); on tinycnn (no convolution the tier changes) the tiers share
// one forward pass.
func TestSessionTiers(t *testing.T) {
	l := load(t, "resnet18", "model_bn.onnx")
	fast, err := NewSessionTier(l.m, l.input, ops.TierFast)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewSession(l.m, l.input)
	if err != nil {
		t.Fatal(err)
	}
	if fast.Tier != ops.TierFast || ref.Tier != ops.TierReference {
		t.Fatalf("sessions at the %v and %v tiers, want fast and reference", fast.Tier, ref.Tier)
	}
	same := true
	for i, v := range fast.Logits(0) {
		same = same && math.Float32bits(v) == math.Float32bits(ref.Logits(0)[i])
	}
	if same {
		t.Error("ResNet-18's logits at the fast tier have the reference tier's bits")
	}
	layer := l.layer("last")
	for _, req := range []Request{
		{Method: "gradcam", Layers: []string{layer}, FastTier: true},
		{Method: "saliency", FastTier: true},
		{Method: "gradcampp", Layers: []string{layer}, FastTier: true},
		{Method: "gradcam", Layers: []string{layer}}, // at the reference tier without FastTier
	} {
		a, err := Compute(fast, req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Compute(ref, req)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Maps {
			if math.Float32bits(a.Maps[i]) != math.Float32bits(b.Maps[i]) {
				t.Errorf("%s (fast tier %v): the map from a fast-tier input differs from a reference-tier input's at %d: %g, %g",
					req.Method, req.FastTier, i, a.Maps[i], b.Maps[i])
				break
			}
		}
	}
	// Each tier's pass was made once per input and is shared by its tiers.
	for _, s := range []*Session{fast, ref} {
		f, err := s.AtTier(ops.TierFast)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.AtTier(ops.TierReference)
		if err != nil {
			t.Fatal(err)
		}
		if f == r || f.Tier != ops.TierFast || r.Tier != ops.TierReference {
			t.Errorf("AtTier gave sessions at the %v and %v tiers (the same: %v)", f.Tier, r.Tier, f == r)
		}
		if f2, _ := r.AtTier(ops.TierFast); f2 != f {
			t.Error("the reference tier's session made a second fast pass")
		}
	}
	if f, _ := fast.AtTier(ops.TierFast); f != fast {
		t.Error("a fast session's fast tier is another session")
	}
	if r, _ := ref.AtTier(ops.TierReference); r != ref {
		t.Error("a reference session's reference tier is another session")
	}
	if _, err := ref.AtTier(ops.Tier(7)); err == nil {
		t.Error("AtTier accepted an unknown tier")
	}

	// A request that makes its tier's pass reports none reused; the next
	// one reuses it.
	s, err := NewSession(l.m, l.input)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Method: "gradcam", Layers: []string{layer}, FastTier: true}
	r1, err := Compute(s, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Compute(s, req)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := s.AtTier(ops.TierFast)
	if r1.Reused != 0 || r2.Reused != f.ForwardTime || f.ForwardTime <= 0 || r1.Total < f.ForwardTime {
		t.Errorf("reused forward time %v then %v (the fast pass took %v; the first request %v in all)", r1.Reused, r2.Reused, f.ForwardTime, r1.Total)
	}

	tiny := load(t, "tinycnn", "model.onnx")
	ts, err := NewSessionTier(tiny.m, tiny.input, ops.TierFast)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ts.AtTier(ops.TierReference); r != ts {
		t.Error("tinycnn: the reference tier ran a second forward pass, though no convolution depends on the tier")
	}
}
