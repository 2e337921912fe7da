package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/models/bundled"
	"github.com/cnnlens/cnnlens/models/fmnist"
	"github.com/cnnlens/cnnlens/models/shapes"
	"github.com/cnnlens/cnnlens/models/train"
)

func TestShapesCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scenes")
	code, out, errs := cli(t, "shapes", "-n", "3", "-seed", "42", "-out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "wrote 3 scenes") {
		t.Errorf("output %q", out)
	}
	for _, f := range []string{"0000.png", "0000_mask.png", "0002.png", "0002_mask.png", "labels.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "labels.json"))
	var labels map[string]struct {
		Label       string   `json:"label"`
		LabelObject int      `json:"label_object"`
		Objects     []string `json:"objects"`
	}
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"0000", "0001", "0002"} {
		e, ok := labels[id]
		s := shapes.Generate(42+int64(i), shapes.DefaultSize)
		if !ok || e.Label != shapes.Classes[s.Label] || e.LabelObject != s.LabelObject || len(e.Objects) != len(s.Objects) || e.Objects[e.LabelObject] != e.Label {
			t.Errorf("%s: %+v", id, e)
		}
	}
	// The scenes as input to the CLI: the mask values are object indices + 1.
	mask, _, _, err := shapes.ReadMask(filepath.Join(dir, "0001_mask.png"))
	if err != nil {
		t.Fatal(err)
	}
	max := uint8(0)
	for _, v := range mask {
		if v > max {
			max = v
		}
	}
	if int(max) != len(labels["0001"].Objects) {
		t.Errorf("mask values up to %d for %d objects", max, len(labels["0001"].Objects))
	}
	for _, bad := range [][]string{{"shapes", "-n", "2"}, {"shapes", "-n", "0", "-out", dir}, {"shapes", "-out", dir, "-size", "3"}} {
		if code, _, _ := cli(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestBenchLocalizationCommand runs the benchmark on an untrained network
// of the shapes architecture (the command's mechanics, not the numbers).
func TestBenchLocalizationCommand(t *testing.T) {
	dir := t.TempDir()
	r := bundled.Recipes["shapes"]
	n := train.NewNet(r.Spec, 7)
	data, err := n.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "untrained.onnx")
	os.WriteFile(path, data, 0o644)
	card, _ := json.Marshal(map[string]any{"labels": r.Labels, "mean": r.Mean, "std": r.Std, "default_layer": r.Spec.DefaultLayer()})
	os.WriteFile(filepath.Join(dir, "untrained.json"), card, 0o644)
	code, out, errs := cli(t, "bench-localization", "-model", path, "-n", "6", "-seed", "2000000", "-methods", "gradcam,guidedbackprop", "-by-class")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"| method | pointing game |", "| gradcam |", "| guidedbackprop |", "| baseline: image centre |", "| oracle: the object's centroid |", "6 held-out scenes", "Pointing game (strict) by class", "|---|---:|"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = cli(t, "bench-localization", "-model", path, "-n", "4", "-methods", "cam", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Scenes int `json:"scenes"`
		Rows   []struct {
			Method   string  `json:"method"`
			Pointing float64 `json:"pointing_game"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Scenes != 4 || len(rep.Rows) != 3 || rep.Rows[0].Method != "cam" || rep.Rows[2].Method != "oracle: the object's centroid" {
		t.Errorf("JSON %v: %s", err, out)
	}
	if code, _, errs := cli(t, "bench-localization", "-model", path, "-methods", "nosuch"); code != 2 || !strings.Contains(errs, "unknown method") {
		t.Errorf("unknown method: exit %d, %s", code, errs)
	}
}

// TestTrainCommand trains Fashion-MNIST for a few steps into a temporary
// folder: the model file loads, the card has the measured accuracy.
func TestTrainCommand(t *testing.T) {
	if _, err := os.Stat(filepath.Join(fmnist.Dir, "t10k-labels-idx1-ubyte.gz")); err != nil {
		if os.Getenv("CNNLENS_REQUIRE_ALL") != "" {
			t.Fatal(err)
		}
		t.Skip("dataset-fashion-mnist is not installed")
	}
	dir := t.TempDir()
	code, out, errs := cli(t, "train", "-model", "fashion", "-out", dir, "-epochs", "1", "-limit", "256", "-checkpoint", filepath.Join(dir, "ck"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "fashion: test accuracy") {
		t.Errorf("stdout %q", out)
	}
	c, err := bundled.ReadCard(filepath.Join(dir, "fashion.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TestTotal != 10000 || c.TestAccuracy <= 0.1 || c.Training.Examples != 256 || len(c.Training.Log) != 1 {
		t.Errorf("card %+v", c)
	}
	code, _, errs = cli(t, "info", "-model", filepath.Join(dir, "fashion.onnx"))
	if code != 0 {
		t.Errorf("info on the trained model: %s", errs)
	}
	for _, f := range []string{"last.onnx", "last.state", "last.json"} {
		if _, err := os.Stat(filepath.Join(dir, "ck", f)); err != nil {
			t.Error(err)
		}
	}
	if code, _, _ := cli(t, "train", "-model", "nosuch"); code != 2 {
		t.Errorf("unknown model: exit %d", code)
	}
}
