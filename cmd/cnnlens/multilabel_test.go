package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/models/bundled"
	"github.com/cnnlens/cnnlens/models/train"
)

type multiPrediction struct {
	Top5 []struct {
		Class int     `json:"class"`
		Label string  `json:"label"`
		Prob  float64 `json:"prob"`
		Logit float64 `json:"logit"`
	} `json:"top5"`
	Present *[]struct {
		Class int     `json:"class"`
		Label string  `json:"label"`
		Prob  float64 `json:"prob"`
	} `json:"present"`
}

// checkPresent: top5 holds sigmoid probabilities and present lists exactly
// the classes with a probability ≥ 0.5, most probable first.
func checkPresent(t *testing.T, out string, labels []string, logitsFile string) multiPrediction {
	t.Helper()
	var p multiPrediction
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Present == nil {
		t.Fatalf("bad JSON or no present list (%v): %s", err, out)
	}
	for _, c := range p.Top5 {
		if want := 1 / (1 + math.Exp(-c.Logit)); math.Abs(c.Prob-want) > 1e-6 {
			t.Errorf("top5 class %d: prob %v, sigmoid of the logit %v", c.Class, c.Prob, want)
		}
	}
	logits := readF32File(t, logitsFile)
	var want []int
	for c, z := range logits {
		if 1/(1+math.Exp(-float64(z))) >= 0.5 {
			want = append(want, c)
		}
	}
	slices.SortStableFunc(want, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	var got []int
	for _, c := range *p.Present {
		got = append(got, c.Class)
		if c.Label != labels[c.Class] || c.Prob < 0.5 {
			t.Errorf("present %+v", c)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("present %v, the logits say %v (%v)", got, want, logits)
	}
	return p
}

// predict -json on a multi-label card (an untrained network of the scenes
// architecture, with a bias that makes two classes present): sigmoid
// probabilities and the present list; a single-label card has no list.
func TestPredictMultilabel(t *testing.T) {
	dir := t.TempDir()
	r := bundled.Recipes["scenes"]
	n := train.NewNet(r.Spec, 7)
	bias := n.Params["fc.bias"].F32()
	for c := range bias {
		bias[c] = -20
	}
	bias[2], bias[5] = 20, 25
	data, err := n.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.onnx")
	os.WriteFile(path, data, 0o644)
	card, _ := json.Marshal(map[string]any{"labels": r.Labels, "mean": r.Mean, "std": r.Std, "default_layer": r.Spec.DefaultLayer(), "multilabel": true})
	os.WriteFile(filepath.Join(dir, "m.json"), card, 0o644)
	scenes := filepath.Join(dir, "scenes")
	if code, _, errs := cli(t, "shapes", "-n", "1", "-seed", "1000000", "-out", scenes); code != 0 {
		t.Fatal(errs)
	}
	img := filepath.Join(scenes, "0000.png")
	logits := filepath.Join(dir, "logits.f32")
	code, out, errs := cli(t, "predict", "-model", path, "-image", img, "-json", "-out-logits", logits)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := checkPresent(t, out, r.Labels, logits)
	if len(*p.Present) != 2 || (*p.Present)[0].Label != "ring" || (*p.Present)[1].Label != "triangle" {
		t.Errorf("present %+v, want ring then triangle", *p.Present)
	}
	if !strings.Contains(out, `"present":[{"class":5,"label":"ring","prob":`) {
		t.Errorf("JSON keys: %s", out)
	}
	// Without multilabel in the card: softmax, no present list.
	os.WriteFile(filepath.Join(dir, "m.json"), []byte(`{"labels":["a","b","c","d","e","f","g","h"]}`), 0o644)
	if _, out, _ := cli(t, "predict", "-model", path, "-image", img, "-json"); strings.Contains(out, "present") {
		t.Errorf("single-label card: %s", out)
	}
	// No class present: an empty list, not a missing one.
	for c := range bias {
		bias[c] = -5
	}
	data, _ = n.Encode(nil)
	os.WriteFile(path, data, 0o644)
	os.WriteFile(filepath.Join(dir, "m.json"), card, 0o644)
	if _, out, _ := cli(t, "predict", "-model", path, "-image", img, "-json"); !strings.Contains(out, `"present":[]`) {
		t.Errorf("no class present: %s", out)
	}
}

// The committed scenes model finds the classes of held-out scenes (its
// exact-set accuracy is 62.55 % on the test set: 6 of these 8).
func TestPredictScenesModel(t *testing.T) {
	model := filepath.Join("..", "..", "models", "scenes.onnx")
	if _, err := os.Stat(model); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if code, _, errs := cli(t, "shapes", "-n", "8", "-seed", "1000000", "-out", dir); code != 0 {
		t.Fatal(errs)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "labels.json"))
	var labels map[string]struct {
		Objects []string `json:"objects"`
	}
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	right := 0
	for id, l := range labels {
		logits := filepath.Join(dir, id+".f32")
		code, out, errs := cli(t, "predict", "-model", model, "-image", filepath.Join(dir, id+".png"), "-json", "-out-logits", logits)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		p := checkPresent(t, out, bundled.Recipes["scenes"].Labels, logits)
		var got []string
		for _, c := range *p.Present {
			got = append(got, c.Label)
		}
		want := slices.Clone(l.Objects)
		slices.Sort(got)
		slices.Sort(want)
		if slices.Equal(got, want) {
			right++
		} else {
			t.Logf("scene %s: present %v, objects %v", id, got, want)
		}
	}
	if right < 5 {
		t.Errorf("%d of 8 scenes have their exact set of classes", right)
	}
}

// bench-localization -multilabel on an untrained network: the table's
// rows and columns and the JSON (the numbers are the models tests' and
// the bench package's).
func TestBenchLocalizationMultilabel(t *testing.T) {
	dir := t.TempDir()
	r := bundled.Recipes["scenes"]
	data, err := train.NewNet(r.Spec, 7).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "u.onnx")
	os.WriteFile(path, data, 0o644)
	card, _ := json.Marshal(map[string]any{"labels": r.Labels, "mean": r.Mean, "std": r.Std, "default_layer": r.Spec.DefaultLayer(), "multilabel": true})
	os.WriteFile(filepath.Join(dir, "u.json"), card, 0o644)
	code, out, errs := cli(t, "bench-localization", "-model", path, "-multilabel", "-n", "8", "-methods", "gradcam,gradcampp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"| method | pointing game (±4 px) | pointing game (strict) | class discrimination | energy in the class's objects |", "| gradcam |", "| gradcampp |", "| oracle: the object's centroid |", "Class discrimination by asked class", "| method | circle | square |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = cli(t, "bench-localization", "-model", path, "-multilabel", "-n", "8", "-methods", "gradcam", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Scenes int `json:"scenes"`
		Pairs  int `json:"pairs"`
		Rows   []struct {
			Method         string  `json:"method"`
			Discrimination float64 `json:"class_discrimination"`
			Pairs          int     `json:"pairs"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Scenes == 0 || rep.Pairs < 2*rep.Scenes || len(rep.Rows) != 3 || rep.Rows[0].Pairs != rep.Pairs {
		t.Errorf("JSON %v: %s", err, out)
	}
	if oracle := rep.Rows[2]; oracle.Discrimination < 0.5 {
		t.Errorf("the centroid oracle discriminates %.2f", oracle.Discrimination)
	}
}
