package cam

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Each target's Seed is the derivative of its Score, and HessianVec the
// derivative of its Seed (central differences in float64 terms).
func TestTargetDerivatives(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	logits := make([]float32, 7)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 2)
	}
	targets := []Target{
		{Kind: Logit, Class: 2}, {Kind: Probability, Class: 2}, {Kind: ReST, Class: 2},
		{Kind: Finer, Class: 2, Compare: []int{0, 4, 5}, Alpha: 0.7}, {Kind: Contrast, Class: 2, Other: 3},
	}
	const eps = 1e-2
	shifted := func(k int, d float32) []float32 {
		z := append([]float32(nil), logits...)
		z[k] += d
		return z
	}
	for _, tg := range targets {
		seed := tg.Seed(logits)
		for k := range logits {
			fd := (float64(tg.Score(shifted(k, eps))) - float64(tg.Score(shifted(k, -eps)))) / (2 * eps)
			if math.Abs(fd-float64(seed[k])) > 1e-3 {
				t.Errorf("kind %d: ∂score/∂z_%d = %g, central difference %g", tg.Kind, k, seed[k], fd)
			}
		}
		if tg.Kind == Finer {
			continue // no second derivative (FinerCAM needs none)
		}
		u := make([]float64, len(logits))
		for i := range u {
			u[i] = rng.NormFloat64()
		}
		h, err := tg.HessianVec(logits, u)
		if err != nil {
			t.Fatal(err)
		}
		for k := range logits {
			var fd float64
			for j := range logits {
				d := (float64(tg.Seed(shifted(j, eps))[k]) - float64(tg.Seed(shifted(j, -eps))[k])) / (2 * eps)
				fd += d * u[j]
			}
			if math.Abs(fd-h[k]) > 2e-3 {
				t.Errorf("kind %d: (H·u)_%d = %g, central difference %g", tg.Kind, k, h[k], fd)
			}
		}
	}
	if _, err := (Target{Kind: Finer}).HessianVec(logits, make([]float64, 7)); err == nil {
		t.Error("Finer: no error for its second derivative")
	}
}

// RandomCAM: weights uniform in [−1, 1], one map per seed, raw = Σ w·A.
func TestRandomCAMProperties(t *testing.T) {
	c := setupOracle(t, "tinycnn", "model.onnx")
	layer := c.o.Layers["last"].OnnxTensor
	run := func(seed int64) *Result {
		r, err := Compute(c.s, Request{Method: "randomcam", Layers: []string{layer}, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, other := run(5), run(5), run(6)
	w := a.Layers[0].Weights
	var mean float64
	for i, v := range w {
		if v < -1 || v > 1 {
			t.Errorf("weight %d = %g outside [−1, 1]", i, v)
		}
		if v != b.Layers[0].Weights[i] {
			t.Fatal("the same seed gave other weights")
		}
		mean += float64(v)
	}
	same := true
	for i, v := range other.Layers[0].Weights {
		same = same && v == w[i]
	}
	if same {
		t.Error("seeds 5 and 6 gave the same weights")
	}
	act, _, _ := c.s.Activation(layer)
	l := a.Layers[0]
	hw := l.H * l.W
	for i := 0; i < hw; i++ {
		var s float64
		for ch := 0; ch < l.C; ch++ {
			s += float64(w[ch]) * float64(act.F32()[ch*hw+i])
		}
		if math.Abs(s-float64(l.Raw[i])) > 1e-4*(1+math.Abs(s)) {
			t.Fatalf("raw[%d] = %g, Σ w·A = %g", i, l.Raw[i], s)
		}
	}
	// Over many seeds the weights average to about 0 (uniform on [−1, 1]).
	var all []float32
	for seed := int64(0); seed < 200; seed++ {
		all = append(all, run(seed).Layers[0].Weights...)
	}
	var m, sq float64
	for _, v := range all {
		m += float64(v)
		sq += float64(v) * float64(v)
	}
	m /= float64(len(all))
	sq /= float64(len(all))
	if math.Abs(m) > 0.05 || math.Abs(sq-1.0/3) > 0.03 {
		t.Errorf("weights over 200 seeds: mean %.3f (want 0), mean square %.3f (want 1/3)", m, sq)
	}
}

// Session.HVP with the softmax target against central differences of the
// gradient along A (the head above tinycnn's last block is linear, so only
// the target's curvature is in play), and ShapleyCAM's weights from it.
func TestShapleySoftmaxFiniteDifference(t *testing.T) {
	c := setupOracle(t, "tinycnn", "model.onnx")
	layer := c.o.Layers["last"].OnnxTensor
	tg := []Target{{Kind: Probability, Class: c.o.TargetClass}}
	act, _, _ := c.s.Activation(layer)
	h, err := c.s.HVP(tg, layer, act)
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-2
	grad := func(f float32) []float32 {
		x := act.Clone()
		for i := range x.F32() {
			x.F32()[i] *= f
		}
		run, err := c.s.Run.Rerun(map[string]*tensor.T{layer: x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := run.Value(c.m.Output)
		seed := tensor.FromF32(tg[0].Seed(out.F32()), out.Shape()...)
		g, err := run.Backward(map[string]*tensor.T{c.m.Output: seed}, graph.BackwardOptions{Wrt: []string{layer}})
		if err != nil {
			t.Fatal(err)
		}
		return g[layer].F32()
	}
	gp, gm := grad(1+eps), grad(1-eps)
	var worst, scale float64
	for i, v := range h.F32() {
		fd := (float64(gp[i]) - float64(gm[i])) / (2 * eps)
		worst = math.Max(worst, math.Abs(float64(v)-fd))
		scale = math.Max(scale, math.Abs(fd))
	}
	t.Logf("softmax HVP: max difference %.3g of %.3g", worst, scale)
	if scale == 0 || worst > 1e-3*scale {
		t.Errorf("softmax HVP differs from the central difference by %.3g (largest %.3g)", worst, scale)
	}
	r, err := Compute(c.s, Request{Method: "shapleycam", Layers: []string{layer}, Targets: tg})
	if err != nil {
		t.Fatal(err)
	}
	g, _, _ := c.s.Gradients(tg, []string{layer})
	l := r.Layers[0]
	hw := l.H * l.W
	for ch := 0; ch < l.C; ch++ {
		var s float64
		for i := 0; i < hw; i++ {
			s += float64(g[layer].F32()[ch*hw+i]) - 0.5*float64(h.F32()[ch*hw+i])
		}
		if want := s / float64(hw); math.Abs(want-float64(l.Weights[ch])) > 1e-5*(1+math.Abs(want)) {
			t.Errorf("weight %d = %g, mean(g − ½·HA) = %g", ch, l.Weights[ch], want)
		}
	}
}

// The newer methods on a batch of two images give each image's map alone
// (FinerCAM's comparison classes and ShapleyCAM's Hessian are per image).
func TestCAMFamilyBatch(t *testing.T) {
	l := load(t, "tinycnn", "model_bn.onnx")
	x0 := l.input
	x1 := x0.Clone()
	sh := x1.Shape()
	flipW(x1.F32(), sh[1], sh[2], sh[3], 1)
	for i := range x1.F32() {
		x1.F32()[i] = x1.F32()[i]*0.8 + 0.1
	}
	both := tensor.New(2, sh[1], sh[2], sh[3])
	copy(both.F32(), x0.F32())
	copy(both.F32()[x0.Len():], x1.F32())
	sb := l.session(t, both)
	s0, s1 := l.session(t, x0), l.session(t, x1)
	mid, last := l.layer("mid"), l.layer("last")
	for _, c := range []struct {
		method  string
		layers  []string
		targets []Target
	}{
		{"fem", []string{mid}, []Target{{Class: 3}, {Class: 5}}},
		{"kpcacam", []string{mid}, []Target{{Class: 3}, {Class: 5}}},
		{"finercam", []string{last}, []Target{{Class: 3}, {Class: 5}}},
		{"shapleycam", []string{mid}, []Target{{Kind: ReST, Class: 3}, {Kind: Probability, Class: 5}}},
		{"refinecam", []string{mid, last}, []Target{{Class: 3}, {Kind: ReST, Class: 5}}},
	} {
		t.Run(c.method, func(t *testing.T) {
			req := Request{Method: c.method, Layers: c.layers, Targets: c.targets}
			rb := mustCompute(t, sb, req)
			for b, s := range []*Session{s0, s1} {
				req.Targets = c.targets[b : b+1]
				r := mustCompute(t, s, req)
				lb, l1 := rb.Layers[0], r.Layers[0]
				hw := lb.H * lb.W
				closeRel(t, fmt.Sprintf("image %d raw", b), lb.Raw[b*hw:(b+1)*hw], l1.Raw, 1e-5)
				closeAbs(t, fmt.Sprintf("image %d map", b), rb.Map(b), r.Map(0), 1e-5)
			}
		})
	}
}

// BenchmarkCAMFamily times the newer methods and DFF on ResNet-18 (a fresh
// session each time, its forward pass not timed).
func BenchmarkCAMFamily(b *testing.B) {
	l := load(b, "resnet18", "model_bn.onnx")
	for _, key := range []string{"last", "mid"} {
		layer := l.layer(key)
		for _, c := range []struct {
			name string
			req  Request
		}{
			{"shapleycam-rest", Request{Method: "shapleycam", Targets: []Target{{Kind: ReST, Class: l.o.TargetClass}}}},
			{"finercam", Request{Method: "finercam", Targets: []Target{{Class: l.o.TargetClass}}}},
			{"fem", Request{Method: "fem"}},
			{"kpcacam", Request{Method: "kpcacam"}},
		} {
			b.Run(key+"/"+c.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					s := l.session(b, nil)
					b.StartTimer()
					req := c.req
					req.Layers = []string{layer}
					mustCompute(b, s, req)
				}
			})
		}
		b.Run(key+"/dff-5", func(b *testing.B) {
			s := l.session(b, nil)
			for i := 0; i < b.N; i++ {
				if _, err := DFF(s, layer, 5, DFFOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
