package cam

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Captum's attributions against the captum.* arrays of the oracle's -ext
// cases (Captum 0.8.0), and the random ones by their properties.

// captumMethods maps the oracle's captum.KEY to cnnlens methods.
var captumMethods = map[string]string{
	"occlusion": "occlusion", "input_x_gradient": "inputxgradient", "deconvolution": "deconvolution",
	"deeplift": "deeplift", "lrp": "lrp", "feature_ablation": "featureablation",
	"integrated_gradients": "integrated-gradients",
}

// extModelFile is the ONNX file of an -ext case: its own, or the one of
// the case its manifest says it shares the model with.
func extModelFile(t testing.TB, o *oracle.Model) string {
	t.Helper()
	var man struct {
		Onnx struct {
			Folded struct {
				File   string `json:"file"`
				SameAs struct {
					Oracle string `json:"oracle"`
					BNFile string `json:"bn_file"`
				} `json:"same_as"`
			} `json:"folded"`
		} `json:"onnx"`
	}
	data, err := os.ReadFile(filepath.Join(o.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	f := man.Onnx.Folded
	if _, err := os.Stat(filepath.Join(o.Dir, f.File)); err == nil {
		return f.File
	}
	if f.SameAs.Oracle == "" || f.SameAs.BNFile == "" {
		t.Fatalf("%s: %s is missing and the manifest names no other model", o.Name, f.File)
	}
	return filepath.Join("..", filepath.Base(f.SameAs.Oracle), f.SameAs.BNFile)
}

// intsOf reads a list of numbers from call_kwargs.
func intsOf(t *testing.T, v any) []int {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("call_kwargs: %v is not a list", v)
	}
	out := make([]int, len(l))
	for i, x := range l {
		out[i] = int(x.(float64))
	}
	return out
}

func checkCaptum(t *testing.T, name string) {
	o, err := oracle.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	l := load(t, name, extModelFile(t, o))
	s, err := NewSession(l.m, l.input)
	if err != nil {
		t.Fatal(err)
	}
	sh := l.input.Shape()
	h, w := sh[2], sh[3]
	var keys []string
	for key := range o.Methods {
		if strings.HasPrefix(key, "captum.") {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		t.Fatalf("%s: the manifest has no captum.* method", name)
	}
	for _, key := range keys {
		spec := o.Methods[key]
		method, ok := captumMethods[strings.TrimPrefix(key, "captum.")]
		if !ok {
			t.Errorf("%s: oracle key %s (%s) has no cnnlens method", name, key, spec.Class)
			continue
		}
		t.Run(name+"/"+key, func(t *testing.T) {
			req := Request{Method: method, Targets: []Target{{Class: o.TargetClass}}}
			kw := spec.CallKwargs
			switch method {
			case "occlusion":
				win, stride := intsOf(t, kw["sliding_window_shapes"]), intsOf(t, kw["strides"])
				if win[0] != sh[1] || win[1] != win[2] || stride[1] != stride[2] || kw["baselines"] != 0.0 {
					t.Fatalf("occlusion call %v: cnnlens covers square windows over all channels, baseline 0", kw)
				}
				req.Window, req.Stride = win[1], stride[1]
			case "featureablation":
				p := int(kw["superpixel"].(float64))
				req.Superpixel = p
				want, err := o.F32("captum.feature_mask")
				if err != nil {
					t.Fatal(err)
				}
				mask := FeatureMask(h, w, p)
				for i, v := range want {
					if float32(mask[i]) != v {
						t.Fatalf("feature mask at pixel %d: %d, Captum's %v", i, mask[i], v)
					}
				}
			case "integrated-gradients":
				req.Steps = int(kw["n_steps"].(float64))
				if kw["method"] != "gausslegendre" {
					t.Fatalf("integrated gradients with method %v", kw["method"])
				}
				alphas, weights := gaussLegendre01(req.Steps)
				wantA, _ := o.F32("captum.integrated_gradients.alphas")
				wantW, _ := o.F32("captum.integrated_gradients.step_sizes")
				closeRel(t, "alphas", f32s(alphas), wantA, 1e-6)
				closeRel(t, "step sizes", f32s(weights), wantW, 1e-6)
			}
			r, err := Compute(s, req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := o.F32(key)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Layers[0].Raw
			tol := 1e-3
			if d := oracle.MaxRelDiff(got, want); d > tol && method == "integrated-gradients" {
				// A ReLU input within rounding of zero, or a max-pool
				// window whose two largest values are within rounding of
				// each other, at a path point goes the other way in
				// PyTorch's sums: flip such ties (only those).
				t.Logf("%s: max difference %.2g before resolving float ties at the path points", key, d)
				var flips int
				got, flips = igTies(t, l.m, l.input.F32(), sh, o.TargetClass, req.Steps, want)
				t.Logf("%s: %d ties flipped", key, flips)
			}
			closeRel(t, key, got, want, tol)
			t.Logf("%s: max difference %.2g of the largest value", key, oracle.MaxRelDiff(got, want))
			if o.Has(key + ".delta") {
				wantD, _ := o.F32(key + ".delta")
				var scale float64
				for _, v := range want {
					scale += math.Abs(float64(v))
				}
				if len(r.Delta) != 1 {
					t.Fatalf("%d convergence deltas, want 1", len(r.Delta))
				}
				if d := math.Abs(float64(r.Delta[0] - wantD[0])); d > 1e-3*scale {
					t.Errorf("convergence delta %.6g, Captum's %.6g (allowed ±%.2g)", r.Delta[0], wantD[0], 1e-3*scale)
				}
				t.Logf("%s: delta %.6g, Captum's %.6g", key, r.Delta[0], wantD[0])
			}
			if len(r.Maps) != h*w {
				t.Fatalf("map has %d values, want %d", len(r.Maps), h*w)
			}
			for _, v := range r.Maps {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("map value %v outside 0..1", v)
				}
			}
		})
	}
	// Every captum.* array is checked above or belongs to a method's key.
	for arr := range o.Arrays {
		if !strings.HasPrefix(arr, "captum.") {
			continue
		}
		base := arr
		for _, suf := range []string{".delta", ".alphas", ".step_sizes"} {
			base = strings.TrimSuffix(base, suf)
		}
		if _, ok := o.Methods[base]; !ok && arr != "captum.feature_mask" {
			t.Errorf("%s: oracle array %s is not checked", name, arr)
		}
	}
}

func f32s(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}

func TestCaptumTinyCNN(t *testing.T) { checkCaptum(t, "tinycnn-ext") }
func TestCaptumResNet18(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: ResNet-18's occlusion and feature ablation run 233 forward passes")
	}
	checkCaptum(t, "resnet18-ext")
}

// attrSum is Σ of image b's attribution.
func attrSum(r *Result, b int) float64 {
	lr := r.Layers[0]
	chw := lr.C * lr.H * lr.W
	var s float64
	for _, v := range lr.Raw[b*chw : (b+1)*chw] {
		s += float64(v)
	}
	return s
}

// GradientSHAP is complete in expectation: with many samples Σ A comes
// close to y(x) − y(x') (and to Integrated Gradients' sum), Result.Delta
// says how far it is, and more samples bring it closer on average.
func TestGradientSHAPCompleteness(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	targets := []Target{{Class: 3}, {Class: 5}}
	ig := imCompute(t, s, Request{Method: "integrated-gradients", Targets: targets, Steps: 64})
	var small, large float64
	pooled := make([]float64, 2)
	const seeds, samples = 4, 256
	for seed := int64(1); seed <= seeds; seed++ {
		few := imCompute(t, s, Request{Method: "gradientshap", Targets: targets, Samples: 4, Seed: seed})
		many := imCompute(t, s, Request{Method: "gradientshap", Targets: targets, Samples: samples, Seed: seed})
		for b := 0; b < 2; b++ {
			want := attrSum(ig, b) - float64(ig.Delta[b])
			got := attrSum(many, b)
			if d := got - want; math.Abs(float64(many.Delta[b])-d) > 1e-3*math.Abs(want) {
				t.Errorf("seed %d image %d: delta %.6g, Σ A − (y(x) − y(x')) = %.6g", seed, b, many.Delta[b], d)
			}
			pooled[b] += got / seeds
			small += math.Abs(float64(few.Delta[b]))
			large += math.Abs(float64(many.Delta[b]))
		}
	}
	for b := 0; b < 2; b++ {
		want := attrSum(ig, b) - float64(ig.Delta[b])
		t.Logf("image %d: Σ A over %d samples %.6g, y(x) − y(0) = %.6g", b, seeds*samples, pooled[b], want)
		if math.Abs(pooled[b]-want) > 0.1*math.Abs(want) {
			t.Errorf("image %d: Σ A over %d samples %.6g, y(x) − y(0) = %.6g", b, seeds*samples, pooled[b], want)
		}
	}
	small, large = small/(2*seeds), large/(2*seeds)
	// The error of a mean of S samples shrinks as 1/√S: 8× from 4 to 256.
	t.Logf("mean |delta|: %.4g with 4 samples, %.4g with %d", small, large, samples)
	if large > small/3 {
		t.Errorf("mean |delta| %.4g with %d samples is not well below %.4g with 4", large, samples, small)
	}
}

// GradientSHAP is reproducible from its seed, independent of the batch
// size, and changes with the seed; its noise option moves it.
func TestGradientSHAPSeed(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	req := Request{Method: "gradientshap", Samples: 6, Seed: 7}
	a := imCompute(t, s, req)
	req.BatchSize = 4
	b := imCompute(t, s, req)
	for i, v := range a.Layers[0].Raw {
		if b.Layers[0].Raw[i] != v {
			t.Fatalf("batch size changed the result at %d: %g vs %g", i, b.Layers[0].Raw[i], v)
		}
	}
	req.Seed = 8
	if c := imCompute(t, s, req); oracle.MaxRelDiff(c.Layers[0].Raw, a.Layers[0].Raw) < 1e-3 {
		t.Error("another seed gave the same result")
	}
	req.Seed, req.NoiseLevel = 7, 0.1
	if c := imCompute(t, s, req); oracle.MaxRelDiff(c.Layers[0].Raw, a.Layers[0].Raw) < 1e-3 {
		t.Error("noise did not change the result")
	}
}

// NoiseTunnel's smoothgrad-sq and vargrad: without noise they are
// saliency² and 0 exactly; as the noise goes to 0 they converge there;
// with the same seed vargrad = smoothgrad-sq − smoothgrad²; both are
// reproducible from the seed.
func TestNoiseTunnel(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	targets := []Target{{Class: 3}, {Class: 5}}
	sal := imCompute(t, s, Request{Method: "saliency", Targets: targets}).Layers[0].Raw
	sq := make([]float32, len(sal))
	for i, v := range sal {
		sq[i] = v * v
	}
	zero := make([]float32, len(sal))
	prev := math.Inf(1)
	for _, level := range []float64{1e-2, 1e-3, 1e-4, 1e-5, 1e-6, -1} {
		sgsq := imCompute(t, s, Request{Method: "smoothgrad-sq", Targets: targets, NoiseLevel: level, Samples: 8, Seed: 1})
		vg := imCompute(t, s, Request{Method: "vargrad", Targets: targets, NoiseLevel: level, Samples: 8, Seed: 1})
		d1 := oracle.MaxRelDiff(sgsq.Layers[0].Raw, sq)
		d2 := oracle.MaxAbsDiff(vg.Layers[0].Raw, zero) / maxAbs(sq)
		t.Logf("noise %g: smoothgrad-sq − saliency² %.3g, vargrad %.3g (of max saliency²)", level, d1, d2)
		d := max(d1, d2)
		if d > prev*1.5 {
			t.Errorf("noise %g: distance from the noise-free value %.3g grew (was %.3g)", level, d, prev)
		}
		prev = d
		if level == 1e-6 && d > 1e-3 {
			t.Errorf("noise 1e-6: distance from the noise-free value %.3g", d)
		}
		if level < 0 && d != 0 {
			t.Errorf("no noise: smoothgrad-sq − saliency² %.3g, vargrad %.3g, want 0", d1, d2)
		}
	}
	req := Request{Targets: targets, NoiseLevel: 0.15, Samples: 10, Seed: 3}
	req.Method = "smoothgrad"
	sg := imCompute(t, s, req).Layers[0].Raw
	req.Method = "smoothgrad-sq"
	sgsq := imCompute(t, s, req).Layers[0].Raw
	req.Method = "vargrad"
	vg := imCompute(t, s, req)
	want := make([]float32, len(sg))
	for i, v := range sg {
		want[i] = max(0, sgsq[i]-v*v)
	}
	if d := oracle.MaxRelDiff(vg.Layers[0].Raw, want); d > 1e-4 {
		t.Errorf("vargrad differs from smoothgrad-sq − smoothgrad² by %.3g", d)
	}
	if maxAbs(vg.Layers[0].Raw) == 0 {
		t.Error("vargrad is 0 everywhere with noise")
	}
	req.BatchSize = 3
	again := imCompute(t, s, req)
	for i, v := range vg.Layers[0].Raw {
		if again.Layers[0].Raw[i] != v {
			t.Fatalf("batch size changed vargrad at %d", i)
		}
	}
	for i, v := range vg.Maps {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("map[%d] = %g, not in 0..1", i, v)
		}
	}
}

// Each image of a batch gets the attribution it gets alone.
func TestCaptumBatch(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	x := l.batch(3)
	s := l.session(t, x)
	targets := []Target{{Class: 3}, {Class: 1}, {Class: 7}}
	chw := len(l.input)
	for _, m := range []string{"occlusion", "featureablation", "inputxgradient", "deconvolution", "deeplift", "lrp"} {
		all := imCompute(t, s, Request{Method: m, Targets: targets, Window: 6, Stride: 3, Superpixel: 5, BatchSize: 5})
		for b := 0; b < 3; b++ {
			one := l.session(t, tensor.FromF32(x.F32()[b*chw:(b+1)*chw], l.shape...))
			r := imCompute(t, one, Request{Method: m, Targets: targets[b : b+1], Window: 6, Stride: 3, Superpixel: 5})
			if d := oracle.MaxRelDiff(all.Layers[0].Raw[b*chw:(b+1)*chw], r.Layers[0].Raw); d > 1e-5 {
				t.Errorf("%s: image %d differs in a batch by %.3g", m, b, d)
			}
			if r.Delta != nil && math.Abs(float64(r.Delta[0]-all.Delta[b])) > 1e-5*math.Max(1, math.Abs(float64(r.Delta[0]))) {
				t.Errorf("%s: image %d's delta %g in a batch, %g alone", m, b, all.Delta[b], r.Delta[0])
			}
		}
	}
}

// Occlusion with a window of one pixel and stride 1 is y(x) − y(x with that
// pixel zeroed in every channel); a feature ablation with 1×1 superpixels
// is the same.
func TestOcclusionPixel(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	targets := []Target{{Class: 3}}
	occ := imCompute(t, s, Request{Method: "occlusion", Targets: targets, Window: 1, Stride: 1})
	fa := imCompute(t, s, Request{Method: "featureablation", Targets: targets, Superpixel: 1})
	if d := oracle.MaxRelDiff(occ.Layers[0].Raw, fa.Layers[0].Raw); d > 1e-6 {
		t.Errorf("1-pixel occlusion and feature ablation differ by %.3g", d)
	}
	h, w := l.shape[2], l.shape[3]
	y := s.Logits(0)[3]
	for _, p := range []int{0, 5*w + 7, h*w - 1} {
		x := append([]float32(nil), l.input...)
		for c := 0; c < l.shape[1]; c++ {
			x[c*h*w+p] = 0
		}
		want := y - logitsOf(t, l.m, x, l.shape)[3]
		for c := 0; c < l.shape[1]; c++ {
			if got := occ.Layers[0].Raw[c*h*w+p]; math.Abs(float64(got-want)) > 1e-6 {
				t.Errorf("pixel %d channel %d: %g, want %g", p, c, got, want)
			}
		}
	}
}

func TestCaptumBadRequests(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Method: "occlusion", Window: 33}, "window must be between 1 and 32"},
		{Request{Method: "occlusion", Window: -2}, "window must be between 1 and 32"},
		{Request{Method: "occlusion", Window: 4, Stride: 5}, "stride must be between 1 and the window (4)"},
		{Request{Method: "featureablation", Superpixel: -1}, "superpixel side must be between 1 and 32"},
		{Request{Method: "deeplift", Baseline: tensor.New(2, 2)}, "baseline has 4 values"},
		{Request{Method: "gradientshap", Baseline: tensor.New(2, 2)}, "baseline has 4 values"},
		{Request{Method: "vargrad", NoiseLevel: math.Inf(1)}, "noise level must be finite"},
	} {
		_, err := Compute(s, tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: error %v, want a bad request mentioning %q", tc.req, err, tc.want)
		}
	}
	// An op without an LRP rule is refused by name.
	n := &graph.Node{Name: "/act/Sigmoid", OpType: "Sigmoid"}
	x := tensor.New(1, 2)
	if _, _, err := lrpRule(n, []*tensor.T{x}, []*tensor.T{x}, []*tensor.T{x}, []bool{true}); err == nil || !strings.Contains(err.Error(), `node "/act/Sigmoid": op Sigmoid has no LRP rule`) {
		t.Errorf("lrp on Sigmoid: error %v", err)
	}
}
