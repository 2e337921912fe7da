package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// maxRel is max|got − want| / max|want|.
func maxRel(got, want []float32) float64 {
	var worst, scale float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return worst / scale
}

// cnnlens cam -out-attr writes Captum's attributions (oracle tinycnn-ext),
// as .npy with the input's shape or raw float32, and -json the
// convergence delta.
func TestCAMOutAttr(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(tinyExt, "raw", "input.f32")
	model := filepath.Join(tinyExt, "model.onnx")
	for _, c := range []struct {
		key  string
		args []string
	}{
		{"captum.occlusion", []string{"-method", "occlusion", "-window", "4", "-stride", "2"}},
		{"captum.feature_ablation", []string{"-method", "featureablation", "-superpixel", "4"}},
		{"captum.integrated_gradients", []string{"-method", "integrated-gradients", "-steps", "32"}},
		{"captum.deeplift", []string{"-method", "deeplift"}},
		{"captum.lrp", []string{"-method", "lrp"}},
		{"captum.input_x_gradient", []string{"-method", "inputxgradient"}},
		{"captum.deconvolution", []string{"-method", "deconvolution"}},
	} {
		want := readF32File(t, filepath.Join(tinyExt, "raw", c.key+".f32"))
		for _, ext := range []string{".npy", ".f32"} {
			f := filepath.Join(dir, c.key+ext)
			args := append([]string{"cam", "-model", model, "-tensor", in, "-class", "3", "-json", "-out-attr", f}, c.args...)
			code, out, errs := cli(t, args...)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", c.key, code, errs)
			}
			var got []float32
			if ext == ".npy" {
				x := readNpyFile(t, f)
				if !tensor.SameShape(x.Shape(), []int{1, 3, 32, 32}) {
					t.Fatalf("%s: .npy shape %v, want 1×3×32×32", c.key, x.Shape())
				}
				got = x.F32()
			} else {
				got = readF32File(t, f)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d values, want %d", c.key, len(got), len(want))
			}
			if d := maxRel(got, want); d > 1e-3 {
				t.Errorf("%s%s: max difference %.3g of the largest value", c.key, ext, d)
			}
			var js struct {
				Delta []float32 `json:"delta"`
			}
			if err := json.Unmarshal([]byte(out), &js); err != nil {
				t.Fatal(err)
			}
			wantDelta := map[string]bool{"captum.integrated_gradients": true, "captum.deeplift": true, "captum.lrp": true}[c.key]
			if wantDelta != (len(js.Delta) == 1) {
				t.Errorf("%s: JSON delta %v", c.key, js.Delta)
			}
			if wantDelta {
				ref := readF32File(t, filepath.Join(tinyExt, "raw", c.key+".delta.f32"))
				if math.Abs(float64(js.Delta[0]-ref[0])) > 1e-3*math.Max(math.Abs(float64(ref[0])), 1e-2) {
					t.Errorf("%s: delta %g, Captum's %g", c.key, js.Delta[0], ref[0])
				}
			}
		}
	}
	// The random methods run with their flags and are reproducible.
	for _, m := range []string{"gradientshap", "smoothgrad-sq", "vargrad"} {
		var runs [2][]float32
		for k := range runs {
			f := filepath.Join(dir, m+".f32")
			code, _, errs := cli(t, "cam", "-model", model, "-tensor", in, "-method", m, "-samples", "3", "-seed", "5", "-noise", "0.1", "-out-attr", f)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", m, code, errs)
			}
			runs[k] = readF32File(t, f)
		}
		if len(runs[0]) != 3*32*32 || maxRel(runs[1], runs[0]) != 0 {
			t.Errorf("%s: %d values, runs differ by %g", m, len(runs[0]), maxRel(runs[1], runs[0]))
		}
	}
}

func TestCAMAttrErrors(t *testing.T) {
	dir := t.TempDir()
	base := []string{"cam", "-model", filepath.Join(tinyExt, "model.onnx"), "-tensor", filepath.Join(tinyExt, "raw", "input.f32")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-method", "occlusion", "-window", "4", "-stride", "5"}, "stride must be between 1 and the window (4)"},
		{[]string{"-method", "occlusion", "-window", "40"}, "window must be between 1 and 32"},
		{[]string{"-method", "occlusion", "-window", "-3"}, "-window must be positive"},
		{[]string{"-method", "gradientshap", "-samples", "-1"}, "-samples must be positive"},
		{[]string{"-method", "gradcam", "-out-attr", filepath.Join(dir, "a.f32")}, "no input attribution"},
		{[]string{"-method", "all", "-out-dir", dir, "-out-attr", filepath.Join(dir, "a.f32")}, "-out-attr writes one method"},
	} {
		code, _, errs := cli(t, append(base, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", c.args, code, errs, c.want)
		}
	}
}
