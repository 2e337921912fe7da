package cam

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

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
			closeRel(t, key, got, want, 1e-3)
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

var _ = tensor.New
