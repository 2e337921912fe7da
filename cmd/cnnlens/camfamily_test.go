package main

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var tinyExt = filepath.Join("..", "..", "..", "shared", "oracle", "tinycnn-ext")

// The newer CAM-family methods and -target from the command line give
// pytorch-grad-cam's raw maps.
func TestCAMFamilyFlags(t *testing.T) {
	dir := t.TempDir()
	model, input := filepath.Join(tinyExt, "model.onnx"), filepath.Join(tinyExt, "raw", "input.f32")
	cases := []struct {
		args []string
		ref  string
	}{
		{[]string{"-method", "gradcam", "-target", "rest", "-layer", "/relu2/Relu_output_0"}, "mid.gradcam_rest.raw"},
		{[]string{"-method", "shapleycam", "-target", "rest", "-layer", "/relu3/Relu_output_0"}, "last.shapleycam_rest.raw"},
		{[]string{"-method", "finercam", "-layer", "/relu2/Relu_output_0"}, "mid.finercam.raw"},
		{[]string{"-method", "finercam", "-finer-compare", "0,4,1", "-finer-alpha", "1", "-layer", "/relu3/Relu_output_0"}, "last.finercam.raw"},
		{[]string{"-method", "fem", "-fem-k", "2", "-layer", "/relu2/Relu_output_0"}, "mid.fem.raw"},
		{[]string{"-method", "refinecam", "-layer", "/relu2/Relu_output_0,/relu3/Relu_output_0"}, "refinecam.mid.raw"},
	}
	for _, c := range cases {
		raw := filepath.Join(dir, "raw.f32")
		args := append([]string{"cam", "-model", model, "-tensor", input, "-class", "3", "-out-raw", raw}, c.args...)
		if code, _, errs := cli(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		got, want := readF32File(t, raw), readF32File(t, filepath.Join(tinyExt, "raw", c.ref+".f32"))
		if len(got) < len(want) {
			t.Fatalf("%v: %d values, want %d", c.args, len(got), len(want))
		}
		var scale, worst float64
		for i := range want {
			scale = math.Max(scale, math.Abs(float64(want[i])))
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > 1e-4*scale {
			t.Errorf("%v: raw map differs from %s by %.3g (largest %.3g)", c.args, c.ref, worst, scale)
		}
	}
	// randomcam: one seed, one map; another seed, another map.
	maps := map[int64][]float32{}
	for _, seed := range []string{"1", "1", "2"} {
		raw := filepath.Join(dir, "r"+seed+".f32")
		if code, _, errs := cli(t, "cam", "-model", model, "-tensor", input, "-method", "randomcam", "-seed", seed, "-out-raw", raw); code != 0 {
			t.Fatalf("randomcam: exit %d: %s", code, errs)
		}
		got := readF32File(t, raw)
		if seed == "1" && maps[1] != nil {
			for i := range got {
				if got[i] != maps[1][i] {
					t.Fatal("randomcam: the same seed gave another map")
				}
			}
		}
		maps[int64(seed[0]-'0')] = got
	}
	same := true
	for i := range maps[1] {
		same = same && maps[1][i] == maps[2][i]
	}
	if same {
		t.Error("randomcam: seeds 1 and 2 gave the same map")
	}
}

func TestCAMFamilyBadFlags(t *testing.T) {
	model, input := filepath.Join(tinyExt, "model.onnx"), filepath.Join(tinyExt, "raw", "input.f32")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-target", "odds"}, 2, "-target"},
		{[]string{"-target", "rest", "-class", "3", "-contrast", "1"}, 2, "-contrast"},
		{[]string{"-method", "fem", "-fem-k", "0"}, 2, "-fem-k"},
		{[]string{"-method", "finercam", "-finer-compare", "1,x"}, 2, "-finer-compare"},
		{[]string{"-method", "finercam", "-finer-compare", "1,10"}, 1, "comparison class 10"},
		{[]string{"-method", "finercam", "-base", "eigencam"}, 1, "base method \"eigencam\""},
		{[]string{"-method", "finercam", "-target", "rest"}, 1, "does not take a rest target"},
		{[]string{"-method", "refinecam", "-base", "fullgrad"}, 1, "base method \"fullgrad\""},
		{[]string{"-method", "refinecam", "-layer", "/relu3/Relu_output_0,nope"}, 1, "nope"},
	}
	for _, c := range cases {
		args := append([]string{"cam", "-model", model, "-tensor", input}, c.args...)
		code, _, errs := cli(t, args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

// cnnlens metrics with -road-noise 0 and the ARCC percentiles gives the
// oracle's noise-free ROAD and ARCC.
func TestMetricsARCC(t *testing.T) {
	model, input := filepath.Join(tinyExt, "model.onnx"), filepath.Join(tinyExt, "raw", "input.f32")
	code, out, errs := cli(t, "metrics", "-model", model, "-tensor", input, "-class", "3", "-layer", "/relu3/Relu_output_0",
		"-method", "gradcam", "-road-noise", "0", "-road-percentiles", "20,40,60,80", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		Percentiles  []float64 `json:"road_percentiles"`
		MoRF         []float32 `json:"road_morf"`
		Combined     float32   `json:"road_combined"`
		Complexity   float32   `json:"complexity"`
		Coherency    float32   `json:"coherency"`
		ARCC         float32   `json:"arcc"`
		ARCCCombined float32   `json:"arcc_road_combined"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	ref := func(key string) []float32 { return readF32File(t, filepath.Join(tinyExt, "raw", "metric."+key+".f32")) }
	for _, c := range []struct {
		what      string
		got, want float32
	}{
		{"road_combined", js.Combined, ref("road0_combined.score")[0]},
		{"arcc_road_combined", js.ARCCCombined, ref("road0_combined.score")[0]},
		{"complexity", js.Complexity, ref("arcc.complexity")[0]},
		{"coherency", js.Coherency, ref("arcc.coherency")[0]},
		{"arcc", js.ARCC, ref("arcc0.score")[0]},
		{"road_morf[0]", js.MoRF[0], ref("road0_morf.per_percentile")[0]},
	} {
		if d := math.Abs(float64(c.got - c.want)); d > 1e-3*math.Abs(float64(c.want)) {
			t.Errorf("%s = %g, reference %g", c.what, c.got, c.want)
		}
	}
	if len(js.Percentiles) != 4 || len(js.MoRF) != 4 {
		t.Errorf("percentiles %v, MoRF %v: want 4 each", js.Percentiles, js.MoRF)
	}
	for _, bad := range [][]string{{"-road-noise", "-1"}, {"-road-percentiles", "10,120"}, {"-road-percentiles", "a"}} {
		args := append([]string{"metrics", "-model", model, "-tensor", input}, bad...)
		if code, _, errs := cli(t, args...); code != 2 || !strings.Contains(errs, bad[0]) {
			t.Errorf("%v: exit %d, %q", bad, code, errs)
		}
	}
}

func TestDFFCommand(t *testing.T) {
	model, input := filepath.Join(tinyExt, "model.onnx"), filepath.Join(tinyExt, "raw", "input.f32")
	png := filepath.Join(t.TempDir(), "dff.png")
	code, out, errs := cli(t, "dff", "-model", model, "-tensor", input, "-layer", "/relu3/Relu_output_0", "-n", "4", "-json", "-out", png)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var js struct {
		RelError float64 `json:"rel_error"`
		Concepts []struct {
			TopClasses []struct {
				Class int     `json:"class"`
				Prob  float64 `json:"prob"`
			} `json:"top_classes"`
		} `json:"concepts"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	ref := readF32File(t, filepath.Join(tinyExt, "raw", "dff.rel_error.f32"))[0]
	if js.RelError > float64(ref)*1.02 || js.RelError <= 0 {
		t.Errorf("rel_error %g, scikit-learn's %g", js.RelError, ref)
	}
	if len(js.Concepts) != 4 || len(js.Concepts[0].TopClasses) != 3 {
		t.Fatalf("concepts %+v", js.Concepts)
	}
	img := decodePNGFile(t, png)
	if b := img.Bounds(); b.Dx() != 2*b.Dy() || b.Dy() < 256 {
		t.Errorf("overlay with legend is %v, want twice as wide as high, ≥ 256 high", b)
	}
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-n", "0"}, 2, "-n"},
		{[]string{"-n", "100"}, 1, "100 concepts"},
		{[]string{"-layer", "nope"}, 1, "nope"},
	} {
		args := append([]string{"dff", "-model", model, "-tensor", input}, bad.args...)
		if code, _, errs := cli(t, args...); code != bad.code || !strings.Contains(errs, bad.want) {
			t.Errorf("%v: exit %d, %q", bad.args, code, errs)
		}
	}
}

func decodePNGFile(t *testing.T, path string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
