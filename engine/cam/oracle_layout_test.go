package cam

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// The oracle's transformer and segmentation cases: layers that are not
// N×C×H×W (reshaped as pytorch-grad-cam's reshape_transform does) and
// segmentation targets. What each case's manifest says beyond the common
// fields.
type caseManifest struct {
	Layers map[string]struct {
		OnnxTensor string `json:"onnx_tensor"`
		Reshape    string `json:"reshape"`
	} `json:"layers"`
	Methods map[string]struct {
		Class         string `json:"class"`
		Layer         string `json:"layer"`
		Fragile       string `json:"fragile"`
		Degenerate    string `json:"degenerate"`
		SignArbitrary bool   `json:"sign_arbitrary"`
		BatchSize     int    `json:"batch_size"`
		Targets       []struct {
			Class    string `json:"class"`
			Category int    `json:"category"`
			Mask     string `json:"mask"`
		} `json:"targets"`
	} `json:"methods"`
}

// layoutOf is the cnnlens layout of the oracle's reshape rule.
var layoutOf = map[string]string{"": LayoutNCHW, "vit": LayoutTokens, "nhwc": LayoutNHWC}

// checkLayoutCase compares every map of an oracle case, computed through the
// layer's layout and with the case's targets.
func checkLayoutCase(t *testing.T, name string) {
	o, err := oracle.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(o.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var em caseManifest
	if err := json.Unmarshal(data, &em); err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadFile(filepath.Join(o.Dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := o.F32("input")
	if err != nil {
		t.Fatal(err)
	}
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m, tensor.FromF32(in, shape...))
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(key string) []float32 {
		t.Helper()
		v, err := o.F32(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	closeRel(t, "logits", s.Output().F32(), f32("logits"), 1e-4)

	// The target: pytorch-grad-cam's, as the manifest gives it.
	targetOf := func(key string) Target {
		t.Helper()
		ts := em.Methods[key].Targets
		if len(ts) != 1 {
			t.Fatalf("%s: %d targets in the manifest, want 1", key, len(ts))
		}
		switch ts[0].Class {
		case "ClassifierOutputTarget":
			return Target{Class: ts[0].Category}
		case "SemanticSegmentationTarget":
			return Target{Kind: Segment, Class: ts[0].Category, Mask: f32(ts[0].Mask)}
		}
		t.Fatalf("%s: target %q has no cnnlens counterpart", key, ts[0].Class)
		return Target{}
	}

	if k, h, w, seg := s.Segmentation(); seg {
		// Our segmentation: the predicted class per pixel, and the default
		// mask of the target class (its predicted pixels).
		argmax := SegArgmax(s.Logits(0), k, h*w)
		want, err := os.ReadFile(filepath.Join(o.Dir, "raw", "seg.argmax.u8")) // uint8, H×W
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(argmax) {
			t.Fatalf("seg.argmax: %d pixels, ours %d", len(want), len(argmax))
		}
		diff := 0
		for p, c := range argmax {
			if c != int32(want[p]) {
				diff++
			}
		}
		if diff != 0 {
			t.Errorf("seg.argmax: %d of %d pixels differ", diff, len(want))
		}
		for key := range em.Methods {
			tg := targetOf(key)
			ts, err := s.ResolveTargets([]Target{{Class: tg.Class}})
			if err != nil {
				t.Fatal(err)
			}
			if ts[0].Kind != Segment || oracle.MaxAbsDiff(ts[0].Mask, f32("seg.mask")) != 0 {
				t.Errorf("the default mask of class %d is not seg.mask", tg.Class)
			}
			break
		}
	}

	keys := make([]string, 0, len(em.Methods))
	for k := range em.Methods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	checkedLayers := map[string]bool{}
	for _, key := range keys {
		spec := em.Methods[key]
		method, ok := oracleClasses[spec.Class]
		if spec.Class == "SegEigenCAM" {
			method, ok = "segeigencam", true
		}
		if !ok {
			t.Errorf("%s: oracle class %q has no cnnlens method", key, spec.Class)
			continue
		}
		l, ok := em.Layers[spec.Layer]
		if !ok {
			t.Fatalf("%s: layer %q is not in the manifest", key, spec.Layer)
		}
		layout, ok := layoutOf[l.Reshape]
		if !ok {
			t.Fatalf("%s: reshape rule %q has no cnnlens layout", key, l.Reshape)
		}
		target := targetOf(key)
		if !checkedLayers[spec.Layer] {
			checkedLayers[spec.Layer] = true
			// The layer's activation and gradient, in the tensor's layout
			// and after the layout's mapping.
			t.Run(name+"/"+spec.Layer+".act_grad", func(t *testing.T) {
				ts, err := s.ResolveTargets([]Target{target})
				if err != nil {
					t.Fatal(err)
				}
				act := s.Run.Value(l.OnnxTensor)
				grads, _, err := s.Gradients(ts, []string{l.OnnxTensor})
				if err != nil {
					t.Fatal(err)
				}
				closeRel(t, "act", act.F32(), f32(spec.Layer+".act"), 1e-4)
				closeRel(t, "grad", grads[l.OnnxTensor].F32(), f32(spec.Layer+".grad"), 1e-4)
				lm, err := newLayerMap(layout, l.OnnxTensor, act.Shape(), 1, shape[2], shape[3])
				if err != nil {
					t.Fatal(err)
				}
				if o.Has(spec.Layer + ".act_chw") {
					closeRel(t, "act_chw", lm.toCHW(act).F32(), f32(spec.Layer+".act_chw"), 1e-4)
					closeRel(t, "grad_chw", lm.toCHW(grads[l.OnnxTensor]).F32(), f32(spec.Layer+".grad_chw"), 1e-4)
				}
			})
		}
		t.Run(name+"/"+key, func(t *testing.T) {
			req := Request{Method: method, Layers: []string{l.OnnxTensor}, Layout: layout, Targets: []Target{target}, BatchSize: spec.BatchSize}
			r, err := Compute(s, req)
			if err != nil {
				t.Fatal(err)
			}
			raw := r.Layers[0].Raw
			// Tolerances are the oracle's: maps 2e-3, the rest 1e-4 of the
			// largest value. The manifest flags AblationCAM fragile here (it
			// sends −1e7 through LayerNorm and attention in float32) and
			// allows it 1e-3; the engine meets 1e-4 (measured: 1e-6), so it
			// is held to that.
			rel := 1e-4
			if spec.Fragile != "" {
				t.Logf("flagged fragile by the reference (%s); compared at %.0e all the same", spec.Fragile, rel)
			}
			if spec.Degenerate != "" {
				// The reference's map is rounding noise: not compared, but
				// the engine's must be as negligible, at most 1e-4 of the
				// largest Σ_c |∂y/∂A_c·A_c| (the reference's reshaped arrays).
				a, g := f32(spec.Layer+".act_chw"), f32(spec.Layer+".grad_chw")
				hw := len(raw)
				var scale, got float64
				for p := 0; p < hw; p++ {
					var s float64
					for ch := 0; ch < len(a)/hw; ch++ {
						s += math.Abs(float64(a[ch*hw+p]) * float64(g[ch*hw+p]))
					}
					scale, got = math.Max(scale, s), math.Max(got, math.Abs(float64(raw[p])))
				}
				if !(got <= 1e-4*scale) {
					t.Errorf("degenerate in the reference, but max |raw| = %.3g is %.2g of max Σ|grad·act|", got, got/scale)
				}
				return
			}
			wantRaw := f32(key + ".raw")
			if spec.SignArbitrary && oracle.MaxRelDiff(negate(raw), wantRaw) < oracle.MaxRelDiff(raw, wantRaw) {
				raw = negate(raw)
				h, w := r.Layers[0].H, r.Layers[0].W
				r.Maps = aggregate([][]float32{Finish(raw, h, w, r.Height, r.Width)}, 1, r.Height*r.Width)
				t.Logf("%s: the SVD sign differs from numpy's (allowed)", key)
			}
			closeRel(t, "raw", raw, wantRaw, rel)
			if o.Has(key + ".weights") {
				closeRel(t, "weights", r.Layers[0].Weights, f32(key+".weights"), rel)
			}
			closeAbs(t, "cam", r.Maps, f32(key+".cam"), 2e-3)
			if d := oracle.MaxRelDiff(raw, wantRaw); testing.Verbose() {
				t.Logf("%s: raw %.2g relative, cam %.2g absolute", key, d, oracle.MaxAbsDiff(r.Maps, f32(key+".cam")))
			}
		})
	}
}

func TestOracleViT(t *testing.T)    { checkLayoutCase(t, "vit-tiny") }
func TestOracleSwin(t *testing.T)   { checkLayoutCase(t, "swin-tiny") }
func TestOracleLRASPP(t *testing.T) { checkLayoutCase(t, "lraspp-seg") }

// The auto layout of a transformer's tokens is the tokens layout.
func TestOracleViTAutoLayout(t *testing.T) {
	c := load(t, "vit-tiny", "model.onnx")
	s := c.session(t, nil)
	layer := c.layer("last")
	want := mustCompute(t, s, Request{Method: "gradcam", Layers: []string{layer}, Layout: LayoutTokens, Targets: []Target{{Class: 3}}})
	got := mustCompute(t, s, Request{Method: "gradcam", Layers: []string{layer}, Targets: []Target{{Class: 3}}})
	closeRel(t, "raw", got.Layers[0].Raw, want.Layers[0].Raw, 0)
}
