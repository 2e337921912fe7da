package cam

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Tests of the whole-input methods (FullGrad, guided backprop, Guided
// Grad-CAM, saliency, SmoothGrad, Integrated Gradients) by their defining
// properties; their oracle comparisons are in oracle_test.go.

type imModel struct {
	o     *oracle.Model
	m     *model.Model
	input []float32
	shape []int // 1×C×H×W
}

// imLoad is load (layer_methods_test.go) with the input as a flat slice;
// tests only read it.
func imLoad(t testing.TB, name, file string) *imModel {
	t.Helper()
	l := load(t, name, file)
	return &imModel{o: l.o, m: l.m, input: l.input.F32(), shape: l.input.Shape()}
}

// batch returns a batch of n images: the oracle's input, then variations
// of it (mirrored, scaled) so that the images differ.
func (l *imModel) batch(n int) *tensor.T {
	c, h, w := l.shape[1], l.shape[2], l.shape[3]
	chw := c * h * w
	x := tensor.New(n, c, h, w)
	for b := 0; b < n; b++ {
		dst := x.F32()[b*chw : (b+1)*chw]
		copy(dst, l.input)
		if b%2 == 1 {
			flipW(dst, c, h, w, 1)
		}
		for i := range dst {
			dst[i] *= 1 - 0.1*float32(b/2)
		}
	}
	return x
}

func (l *imModel) session(t testing.TB, x *tensor.T) *Session {
	t.Helper()
	if x == nil {
		x = l.batch(1)
	}
	s, err := NewSession(l.m, x)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func imCompute(t testing.TB, s *Session, req Request) *Result {
	t.Helper()
	r, err := Compute(s, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return r
}

// logitsOf runs the model on x (one image) and returns its output row.
func logitsOf(t testing.TB, m *model.Model, x []float32, shape []int) []float32 {
	t.Helper()
	run, err := m.Forward(tensor.FromF32(x, shape...), &graph.Options{NoTape: true})
	if err != nil {
		t.Fatal(err)
	}
	return run.Value(m.Output).F32()
}

func maxAbs(a []float32) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// Saliency is |∂y/∂x|: compare with central differences of the target
// logit on the input elements where the gradient is largest and on a
// spread of others.
func TestSaliencyFiniteDifference(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	const class = 3
	r := imCompute(t, s, Request{Method: "saliency", Targets: []Target{{Class: class}}})
	raw := r.Layers[0].Raw
	if r.Layers[0].Layer != l.m.Input || len(raw) != len(l.input) || r.Layers[0].C != 3 {
		t.Fatalf("raw attribution: layer %q, %d values, C %d", r.Layers[0].Layer, len(raw), r.Layers[0].C)
	}
	// Signed gradient, to check against the differences' sign too.
	g, _, err := s.Gradients([]Target{{Class: class}}, []string{l.m.Input})
	if err != nil {
		t.Fatal(err)
	}
	grad := g[l.m.Input].F32()
	for i, v := range grad {
		if raw[i] != float32(math.Abs(float64(v))) {
			t.Fatalf("saliency[%d] = %g, |gradient| = %g", i, raw[i], math.Abs(float64(v)))
		}
	}
	scale := maxAbs(grad)
	// The net is piecewise linear (ReLU, max-pool, linear layers), so a
	// difference quotient is exact unless a ReLU or a max-pool switches
	// within ±eps: such elements are recognised by one-sided quotients that
	// disagree, and skipped. What remains is the float32 rounding of the
	// logit, a few ulps (measured: steps of ~4.5e-8 on a logit of 0.147),
	// divided by 2·eps. This net's gradients are small (≤ 1.3e-4), so one
	// element's quotient is only good to about 1 % of the largest gradient.
	x := append([]float32(nil), l.input...)
	f := func() float64 { return float64(logitsOf(t, l.m, x, l.shape)[class]) }
	f0 := f()
	noise := 4 * float64(math.Nextafter32(float32(math.Abs(f0)), 1)-float32(math.Abs(f0)))
	const eps = 0.02
	checked, skipped, bad := 0, 0, 0
	for k := 0; k < 48; k++ {
		i := (k*2654435761 + 17) % len(x)
		x0 := x[i]
		x[i] = x0 + eps
		up := f()
		x[i] = x0 - eps
		down := f()
		x[i] = x0
		if math.Abs((up-f0)-(f0-down)) > 2*noise {
			skipped++
			continue
		}
		checked++
		fd := (up - down) / (2 * eps)
		tol := 2*noise/(2*eps) + 2e-2*math.Abs(float64(grad[i]))
		if d := math.Abs(fd - float64(grad[i])); d > tol {
			bad++
			t.Logf("element %d: gradient %.6g, central difference %.6g (tolerance %.2g)", i, grad[i], fd, tol)
		}
	}
	t.Logf("%d elements checked against central differences, %d skipped at kinks, %d outside the tolerance; largest gradient %.3g",
		checked, skipped, bad, scale)
	if checked < 24 || bad > checked/10 {
		t.Errorf("%d of %d elements away from kinks disagree with central differences", bad, checked)
	}
	// Along a direction d that moves every element a little, the quotient
	// is far above the rounding: compare with g·d to 0.5 %, for d = g/|g|
	// (the derivative is |g|) and for d = sign(g) on a pseudo-random half of
	// the elements (normalised).
	var gn, hn float64
	for i, v := range grad {
		gn += float64(v) * float64(v)
		if (i*7919)%13 < 6 {
			hn++
		}
	}
	gn, hn = math.Sqrt(gn), math.Sqrt(hn)
	dirs := map[string][]float64{"gradient": make([]float64, len(x)), "half-sign": make([]float64, len(x))}
	for i, v := range grad {
		dirs["gradient"][i] = float64(v) / gn
		if (i*7919)%13 < 6 && v != 0 {
			dirs["half-sign"][i] = math.Copysign(1/hn, float64(v))
		}
	}
	for name, d := range dirs {
		var want float64
		for i, v := range grad {
			want += float64(v) * d[i]
		}
		const h = 0.01
		for i := range x {
			x[i] = l.input[i] + float32(h*d[i])
		}
		up := f()
		for i := range x {
			x[i] = l.input[i] - float32(h*d[i])
		}
		down := f()
		copy(x, l.input)
		fd := (up - down) / (2 * h)
		if math.Abs(fd-want) > 5e-3*math.Abs(want)+noise/h {
			t.Errorf("%s direction: g·d = %.6g, central difference %.6g", name, want, fd)
		} else {
			t.Logf("%s direction: g·d = %.6g, central difference %.6g", name, want, fd)
		}
	}
	// The map is the channel maximum, min-max scaled.
	hw := l.shape[2] * l.shape[3]
	want := append([]float32(nil), raw[:hw]...)
	for c := 1; c < 3; c++ {
		for i := range want {
			want[i] = max(want[i], raw[c*hw+i])
		}
	}
	MinMax(want)
	for i := range want {
		if r.Maps[i] != want[i] {
			t.Fatalf("map[%d] = %g, want %g", i, r.Maps[i], want[i])
		}
	}
}

// SmoothGrad without noise is saliency, exactly, whatever the batch size.
func TestSmoothGradNoNoiseIsSaliency(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	targets := []Target{{Class: 3}, {Class: 5}}
	sal := imCompute(t, s, Request{Method: "saliency", Targets: targets})
	for _, bs := range []int{1, 3, 8} {
		sg := imCompute(t, s, Request{Method: "smoothgrad", Targets: targets, NoiseLevel: -1, Samples: 5, BatchSize: bs})
		for i, v := range sal.Layers[0].Raw {
			if sg.Layers[0].Raw[i] != v {
				t.Fatalf("batch %d: smoothgrad raw[%d] = %g, saliency %g", bs, i, sg.Layers[0].Raw[i], v)
			}
		}
		for i, v := range sal.Maps {
			if sg.Maps[i] != v {
				t.Fatalf("batch %d: smoothgrad map[%d] = %g, saliency %g", bs, i, sg.Maps[i], v)
			}
		}
	}
}

// SmoothGrad is reproducible from its seed, independent of the batch size,
// changes with the seed, and differs from saliency.
func TestSmoothGradSeed(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	req := Request{Method: "smoothgrad", Samples: 7, Seed: 42}
	a := imCompute(t, s, req)
	req.BatchSize = 3
	b := imCompute(t, s, req)
	for i := range a.Layers[0].Raw {
		if a.Layers[0].Raw[i] != b.Layers[0].Raw[i] {
			t.Fatalf("batch size changed the result at %d: %g vs %g", i, a.Layers[0].Raw[i], b.Layers[0].Raw[i])
		}
	}
	req.Seed = 43
	c := imCompute(t, s, req)
	if oracle.MaxRelDiff(c.Layers[0].Raw, a.Layers[0].Raw) < 1e-3 {
		t.Error("another seed gave the same result")
	}
	sal := imCompute(t, s, Request{Method: "saliency"})
	if d := oracle.MaxRelDiff(a.Layers[0].Raw, sal.Layers[0].Raw); d < 1e-2 {
		t.Errorf("smoothgrad differs from saliency by only %.3g", d)
	}
	for i, v := range a.Maps {
		if v < 0 || v > 1 || math.IsNaN(float64(v)) {
			t.Fatalf("map[%d] = %g, not in 0..1", i, v)
		}
	}
}

// Completeness: Σ IG attributions = y(x) − y(baseline), within 1 % at 64
// steps, for a logit and for a softmax probability (a non-linear head),
// per image of a batch with different targets.
func TestIntegratedGradientsCompleteness(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	x := l.batch(3)
	s := l.session(t, x)
	chw := len(l.input)
	baseline := make([]float32, chw)
	for i := range baseline {
		baseline[i] = -0.5 + float32(i%7)*0.1
	}
	for _, tc := range []struct {
		name    string
		targets []Target
		base    *tensor.T
	}{
		{"logits, zero baseline", []Target{{Class: 3}, {Class: 1}, {Class: 7}}, nil},
		{"probabilities, zero baseline", []Target{{Kind: Probability, Class: 3}, {Kind: Probability, Class: 1}, {Kind: Probability, Class: 7}}, nil},
		{"contrast, image baseline", []Target{{Kind: Contrast, Class: 3, Other: 1}}, tensor.FromF32(baseline, l.shape...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := imCompute(t, s, Request{Method: "integrated-gradients", Targets: tc.targets, Steps: 64, Baseline: tc.base})
			targets, _ := s.ResolveTargets(tc.targets)
			for b := 0; b < 3; b++ {
				base := make([]float32, chw)
				if tc.base != nil {
					copy(base, baseline)
				}
				fx := targets[b].Score(s.Logits(b))
				fb := targets[b].Score(logitsOf(t, l.m, base, l.shape))
				var sum float64
				for _, v := range r.Layers[0].Raw[b*chw : (b+1)*chw] {
					sum += float64(v)
				}
				want := float64(fx - fb)
				if math.Abs(sum-want) > 0.01*math.Abs(want) {
					t.Errorf("image %d: Σ attributions %.6g, f(x) − f(baseline) = %.6g", b, sum, want)
				} else {
					t.Logf("image %d: Σ attributions %.6g, f(x) − f(baseline) = %.6g", b, sum, want)
				}
			}
			for i, v := range r.Maps {
				if v < 0 || v > 1 || math.IsNaN(float64(v)) {
					t.Fatalf("map[%d] = %g, not in 0..1", i, v)
				}
			}
		})
	}
}

func TestIntegratedGradientsBaseline(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	// The input as its own baseline: nothing to attribute.
	r := imCompute(t, s, Request{Method: "integrated-gradients", Steps: 4, Baseline: tensor.FromF32(l.input, l.shape...)})
	if m := maxAbs(r.Layers[0].Raw); m != 0 {
		t.Errorf("attribution with baseline = input: max |a| = %g, want 0", m)
	}
	if m := maxAbs(r.Maps); m != 0 {
		t.Errorf("map with baseline = input: max %g, want 0", m)
	}
	_, err := Compute(s, Request{Method: "integrated-gradients", Baseline: tensor.New(3, 5, 5)})
	if err == nil || !strings.Contains(err.Error(), "baseline has 75 values") {
		t.Errorf("bad baseline: error %v", err)
	}
}

func TestGaussLegendre(t *testing.T) {
	a, w := gaussLegendre01(3)
	r := math.Sqrt(0.6)
	wantA := []float64{(1 - r) / 2, 0.5, (1 + r) / 2}
	wantW := []float64{5.0 / 18, 8.0 / 18, 5.0 / 18}
	for i := range a {
		if math.Abs(a[i]-wantA[i]) > 1e-15 || math.Abs(w[i]-wantW[i]) > 1e-15 {
			t.Errorf("3 points: node %d = %v weight %v, want %v, %v", i, a[i], w[i], wantA[i], wantW[i])
		}
	}
	// n points integrate t^(2n−1) exactly on [0, 1].
	for _, n := range []int{1, 2, 7, 50, 64} {
		a, w := gaussLegendre01(n)
		var sum, ws float64
		for i := range a {
			sum += w[i] * math.Pow(a[i], float64(2*n-1))
			ws += w[i]
			if i > 0 && a[i] <= a[i-1] {
				t.Errorf("%d points: nodes not increasing", n)
			}
		}
		if math.Abs(sum-1/float64(2*n)) > 1e-12 || math.Abs(ws-1) > 1e-13 {
			t.Errorf("%d points: ∫t^%d = %v (want %v), Σw = %v", n, 2*n-1, sum, 1/float64(2*n), ws)
		}
	}
}

func TestCaptumAbsMap(t *testing.T) {
	// Two channels of 2×2; channel sums 1, −2, 3, 94: |·| sorted 1, 2, 3,
	// 94, cumulative 1, 3, 6, 100: 98 % is first reached at 94.
	a := []float32{1, -1, 1, 90, 0, -1, 2, 4}
	got := captumAbsMap(a, 2, 2, 2)
	want := []float32{1.0 / 94, 2.0 / 94, 3.0 / 94, 1}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Errorf("map = %v, want %v", got, want)
			break
		}
	}
}

// Every whole-input method computes each image of a batch as it would
// alone, with per-image targets.
func TestInputMethodsBatch(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	x := l.batch(3)
	s := l.session(t, x)
	targets := []Target{{Class: 3}, {Class: 1}, {Kind: Probability, Class: 7}}
	chw := len(l.input)
	for _, m := range []string{"fullgrad", "guidedbackprop", "guided-gradcam", "saliency", "smoothgrad", "integrated-gradients"} {
		req := Request{Method: m, Targets: targets, Samples: 3, Steps: 8, Seed: 5}
		all := imCompute(t, s, req)
		n := all.Height * all.Width * all.Channels
		for b := 0; b < 3; b++ {
			one := l.session(t, tensor.FromF32(append([]float32(nil), x.F32()[b*chw:(b+1)*chw]...), l.shape...))
			req1 := req
			req1.Targets = []Target{targets[b]}
			if m == "smoothgrad" && b > 0 {
				continue // the noise streams are numbered across the batch
			}
			r := imCompute(t, one, req1)
			got := all.Maps[b*n : (b+1)*n]
			if d := oracle.MaxRelDiff(got, r.Maps); d > 1e-5 {
				t.Errorf("%s: image %d differs from its own computation by %.3g of the largest value", m, b, d)
			}
			if r.Targets[0].Class != all.Targets[b].Class || r.Targets[0].Kind != all.Targets[b].Kind {
				t.Errorf("%s: image %d target %+v, alone %+v", m, b, all.Targets[b], r.Targets[0])
			}
		}
	}
}

// Guided backprop passes gradient only through positive ReLU inputs and
// positive incoming gradients; on a net whose ReLUs are all replaced, a
// zero seed gives zero and it differs from the plain gradient.
func TestGuidedBackprop(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	gb := imCompute(t, s, Request{Method: "guidedbackprop", Targets: []Target{{Class: 3}}})
	if gb.Channels != 3 || len(gb.Maps) != len(l.input) {
		t.Fatalf("guided backprop: %d channels, %d values", gb.Channels, len(gb.Maps))
	}
	g, _, err := s.Gradients([]Target{{Class: 3}}, []string{l.m.Input})
	if err != nil {
		t.Fatal(err)
	}
	plain := toHWC(g[l.m.Input].F32(), 1, 3, l.shape[2], l.shape[3])
	if oracle.MaxRelDiff(gb.Maps, plain) < 1e-3 {
		t.Error("guided backprop equals the plain gradient")
	}
	// The hook itself.
	hook := guidedReLU(nil)
	in := tensor.FromF32([]float32{-1, 0, 2, 3}, 4)
	gy := tensor.FromF32([]float32{5, 5, -1, 4}, 4)
	out, handled, err := hook(&graph.Node{OpType: "Relu"}, []*tensor.T{in}, nil, []*tensor.T{gy}, []bool{true})
	if err != nil || !handled {
		t.Fatalf("hook: handled %v, err %v", handled, err)
	}
	want := []float32{0, 0, 0, 4}
	for i, v := range out[0].F32() {
		if v != want[i] {
			t.Fatalf("guided ReLU backward = %v, want %v", out[0].F32(), want)
		}
	}
	if _, handled, _ := hook(&graph.Node{OpType: "Clip"}, []*tensor.T{in}, nil, []*tensor.T{gy}, []bool{true}); handled {
		t.Error("the hook replaced Clip's backward")
	}
}

// Guided Grad-CAM is the Grad-CAM map times guided backprop, per channel.
func TestGuidedGradCAMIsProduct(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	layer := l.o.Layers["mid"].OnnxTensor
	req := Request{Layers: []string{layer}, Targets: []Target{{Class: 3}, {Class: 4}}}
	req.Method = "guided-gradcam"
	ggc := imCompute(t, s, req)
	req.Method = "guidedbackprop"
	gb := imCompute(t, s, req)
	req.Method = "gradcam"
	gc := imCompute(t, s, req)
	for i, v := range gb.Maps {
		if want := v * gc.Maps[i/3]; ggc.Maps[i] != want {
			t.Fatalf("guided grad-cam[%d] = %g, want %g", i, ggc.Maps[i], want)
		}
	}
	if ggc.Channels != 3 || len(ggc.Layers) != 1 || ggc.Layers[0].Layer != layer {
		t.Errorf("guided grad-cam: %d channels, layers %+v", ggc.Channels, ggc.Layers)
	}
}

// FullGrad's bias layers: the three biased convolutions of tinycnn, the 20
// BatchNorms of ResNet-18 (as the oracle's manifest counts them).
func TestFullGradLayers(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       int
	}{{"tinycnn", "model.onnx", 3}, {"resnet18", "model_bn.onnx", 20}} {
		if testing.Short() && tc.name == "resnet18" {
			continue
		}
		l := imLoad(t, tc.name, tc.file)
		s := l.session(t, nil)
		layers, err := fullGradLayers(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != tc.want {
			t.Errorf("%s: %d bias layers, want %d", tc.name, len(layers), tc.want)
		}
		r := imCompute(t, s, Request{Method: "fullgrad", EigenSmooth: true})
		lo, hi := float32(1), float32(0)
		for _, v := range r.Maps {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || math.Abs(float64(hi-1)) > 1e-6 {
			t.Errorf("%s: eigen-smoothed FullGrad spans %g..%g, want 0..1", tc.name, lo, hi)
		}
	}
}

func TestInputMethodsProgress(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	for _, m := range []string{"smoothgrad", "integrated-gradients"} {
		calls := 0
		_, err := Compute(s, Request{Method: m, Samples: 10, Steps: 10, BatchSize: 4, Progress: func(done, total int) bool {
			calls++
			if total != 10 {
				t.Errorf("%s: progress total %d, want 10", m, total)
			}
			return done < 8
		}})
		if !errors.Is(err, ErrCancelled) || calls != 2 {
			t.Errorf("%s: error %v after %d progress calls, want ErrCancelled after 2", m, err, calls)
		}
	}
}

// aug_smooth (applied by the shared pipeline) works for every whole-input
// method: maps of the right shape, finite, scaled maps within 0..1.
func TestInputMethodsAugSmooth(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	for _, m := range []string{"fullgrad", "guidedbackprop", "guided-gradcam", "saliency", "smoothgrad", "integrated-gradients"} {
		r := imCompute(t, s, Request{Method: m, AugSmooth: true, Samples: 2, Steps: 4})
		if len(r.Maps) != 2*r.Height*r.Width*r.Channels || r.Height != l.shape[2] {
			t.Errorf("%s: %d values for %d×%d×%d", m, len(r.Maps), r.Height, r.Width, r.Channels)
		}
		for _, v := range r.Maps {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || r.Channels == 1 && (v < 0 || v > 1+1e-6) {
				t.Fatalf("%s: map value %g", m, v)
			}
		}
	}
}

// BenchmarkInputMethods times each method of this file set on ResNet-18
// and tinycnn (one image): go test -run x -bench InputMethods -benchtime 1x.
func BenchmarkInputMethods(b *testing.B) {
	for _, mc := range []struct{ name, file string }{{"tinycnn", "model.onnx"}, {"resnet18", "model_bn.onnx"}} {
		l := imLoad(b, mc.name, mc.file)
		for _, m := range []string{"fullgrad", "guidedbackprop", "guided-gradcam", "saliency", "smoothgrad", "integrated-gradients"} {
			b.Run(mc.name+"/"+m, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					s := l.session(b, nil) // a fresh session: nothing cached
					imCompute(b, s, Request{Method: m})
				}
			})
		}
		b.Run(mc.name+"/metrics", func(b *testing.B) {
			s := l.session(b, nil)
			r := imCompute(b, s, Request{Method: "gradcam"})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ConfidenceChange(s, r.Maps, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := ROADCombined(s, r.Maps, nil, ROADOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
