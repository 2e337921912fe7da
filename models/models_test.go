package models_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/models/bench"
	"github.com/cnnlens/cnnlens/models/bundled"
	"github.com/cnnlens/cnnlens/models/fmnist"
	"github.com/cnnlens/cnnlens/models/shapes"
	"github.com/cnnlens/cnnlens/models/train"
)

// required turns a missing prerequisite (the Fashion-MNIST package, the
// onnxruntime npm folder) into a failure when CNNLENS_REQUIRE_ALL is set,
// as `make test` does; a plain `go test` skips.
func required(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CNNLENS_REQUIRE_ALL") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

type bundledModel struct {
	name    string
	minAcc  float64
	dataset func(t *testing.T) train.Dataset
}

var bundledModels = []bundledModel{
	{"shapes", 0.97, func(t *testing.T) train.Dataset {
		return shapes.NewSet(bundled.ShapesTestSeed, bundled.ShapesTestN, shapes.DefaultSize)
	}},
	{"fashion", 0.91, func(t *testing.T) train.Dataset {
		set, err := fmnist.Load("", "t10k")
		if err != nil {
			required(t, "%v", err)
		}
		return set
	}},
}

func load(t *testing.T, name string) ([]byte, *model.Model, *bundled.Card) {
	t.Helper()
	data, err := os.ReadFile(name + ".onnx")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	card, err := bundled.ReadCard(name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return data, m, card
}

// TestAccuracy re-measures each model's test accuracy from the data with
// the engine and checks it against the card (exactly) and the goal.
func TestAccuracy(t *testing.T) {
	for _, bm := range bundledModels {
		t.Run(bm.name, func(t *testing.T) {
			data, _, card := load(t, bm.name)
			test := bm.dataset(t)
			correct, total, err := bundled.Measure(data, test)
			if err != nil {
				t.Fatal(err)
			}
			acc := float64(correct) / float64(total)
			t.Logf("%s: %d/%d correct = %.2f%% (card: %.2f%%)", bm.name, correct, total, 100*acc, 100*card.TestAccuracy)
			if correct != card.TestCorrect || total != card.TestTotal || acc != card.TestAccuracy {
				t.Errorf("measured %d/%d = %v, the card says %d/%d = %v", correct, total, acc, card.TestCorrect, card.TestTotal, card.TestAccuracy)
			}
			if acc < bm.minAcc {
				t.Errorf("accuracy %.2f%% is below the goal of %.0f%%", 100*acc, 100*bm.minAcc)
			}
		})
	}
}

// TestCards checks that the files are small, that the card describes the
// model (input shape, labels, default layer), and what the page and the
// CLI read from it.
func TestCards(t *testing.T) {
	for _, bm := range bundledModels {
		t.Run(bm.name, func(t *testing.T) {
			data, m, card := load(t, bm.name)
			if len(data) > 2<<20 {
				t.Errorf("%s.onnx is %d bytes; the limit is 2 MB", bm.name, len(data))
			}
			r := bundled.Recipes[bm.name]
			if card.Name != bm.name || len(card.Labels) != r.Spec.Classes || len(card.Mean) != r.Spec.Channels || len(card.Std) != r.Spec.Channels {
				t.Errorf("card: %+v", card)
			}
			want := []int{1, r.Spec.Channels, r.Spec.Height, r.Spec.Width}
			shape, err := m.ConcreteInputShape(1)
			if err != nil || !slices.Equal(shape, want) || !slices.Equal(card.InputShape, want) {
				t.Errorf("input shape %v (%v), card %v, want %v", shape, err, card.InputShape, want)
			}
			if m.Opset != 13 {
				t.Errorf("opset %d", m.Opset)
			}
			if _, err := m.ResolveLayer(card.DefaultLayer); err != nil {
				t.Errorf("default_layer: %v", err)
			}
			if s, _ := m.SuggestedLayer(); s != card.DefaultLayer {
				t.Errorf("the engine suggests %q, the card %q", s, card.DefaultLayer)
			}
			if card.DataLicence == "" || card.Data == "" || card.TestSet == "" || card.Training.Command == "" {
				t.Error("card lacks data, licence, test set or command")
			}
			// The raw card, as the CLI reads it.
			raw, _ := os.ReadFile(bm.name + ".json")
			var keys map[string]any
			if err := json.Unmarshal(raw, &keys); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"labels", "input_shape", "mean", "std", "default_layer", "test_accuracy", "data_licence"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("card has no %q", k)
				}
			}
			if tr, _ := keys["training"].(map[string]any); tr == nil || tr["seed"] == nil {
				t.Error("card has no training seed")
			}
		})
	}
}

// TestOnnxruntimeParity runs the bundled models with onnxruntime (npm
// onnxruntime-node in ortcheck/, CPU) on a batch of test inputs and
// compares the logits with the engine's: within 1e-4 relative to the
// largest logit of each row.
func TestOnnxruntimeParity(t *testing.T) {
	if _, err := os.Stat("ortcheck/node_modules/onnxruntime-node"); err != nil {
		required(t, "onnxruntime-node is not installed: run npm ci --ignore-scripts in models/ortcheck (make test does)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		required(t, "node is not installed")
	}
	// and the multi-label scenes model
	scenes := bundledModel{"scenes", 0, func(t *testing.T) train.Dataset {
		return shapes.NewMultiLabelSet(bundled.ShapesTestSeed, 100, shapes.DefaultSize)
	}}
	for _, bm := range append(slices.Clone(bundledModels), scenes) {
		t.Run(bm.name, func(t *testing.T) {
			_, m, _ := load(t, bm.name)
			test := bm.dataset(t)
			const n = 16
			shape, _ := m.ConcreteInputShape(n)
			x := tensor.New(shape...)
			per := x.Len() / n
			for i := 0; i < n; i++ {
				test.Example(i*37%test.Len(), x.F32()[i*per:(i+1)*per], nil)
			}
			run, err := m.Forward(x, nil)
			if err != nil {
				t.Fatal(err)
			}
			ours := run.Output(0).F32()
			in := filepath.Join(t.TempDir(), "x.f32")
			var buf bytes.Buffer
			binary.Write(&buf, binary.LittleEndian, x.F32())
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"ortcheck/run.js", bm.name + ".onnx", in}
			for _, d := range shape {
				args = append(args, itoa(d))
			}
			out, err := exec.Command(node, args...).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("onnxruntime: %v: %s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var res struct {
				Dims []int     `json:"dims"`
				Data []float64 `json:"data"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Data) != len(ours) {
				t.Fatalf("onnxruntime gave %d logits (%v), the engine %d", len(res.Data), res.Dims, len(ours))
			}
			k := len(ours) / n
			worst := 0.0
			for b := 0; b < n; b++ {
				scale := 0.0
				for j := 0; j < k; j++ {
					scale = math.Max(scale, math.Abs(res.Data[b*k+j]))
				}
				for j := 0; j < k; j++ {
					d := math.Abs(float64(ours[b*k+j])-res.Data[b*k+j]) / math.Max(scale, 1e-6)
					worst = math.Max(worst, d)
				}
			}
			t.Logf("%s: %d images, largest difference %.2g of the row's largest logit", bm.name, n, worst)
			if worst > 1e-4 {
				t.Errorf("engine and onnxruntime differ by %.3g (relative)", worst)
			}
		})
	}
}

func itoa(v int) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGradCAMPointing is the localisation benchmark's headline on a small
// sample: Grad-CAM's maximum falls on the labelled object. The goal is
// 95 %; on the benchmark's 1,000 scenes the committed model
// reaches 82.6 % strictly and 95.4 % with the pointing game's 4-pixel
// tolerance (docs/localisation.md). On this smaller sample it guards against
// regressions and checks that Grad-CAM beats pointing at the image centre.
func TestGradCAMPointing(t *testing.T) {
	_, m, card := load(t, "shapes")
	rep, err := bench.Localization(m, bench.Options{N: 100, Seed: bundled.ShapesBenchSeed, Methods: []string{"gradcam"}, Layer: card.DefaultLayer, Mean: card.Mean, Std: card.Std})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Rows[0]
	base := bench.Baselines(rep, 100, bundled.ShapesBenchSeed, shapes.DefaultSize)[0]
	t.Logf("gradcam on 100 scenes: pointing %.1f%% (±%d px: %.1f%%), energy %.1f%%, discrimination %.1f%%; image centre: %.1f%% (%.1f%%)",
		100*r.Pointing, rep.Tolerance, 100*r.PointingTol, 100*r.Energy, 100*r.Discrimination, 100*base.Pointing, 100*base.PointingTol)
	if r.Err != "" || r.Pointing < 0.78 || r.PointingTol < 0.9 || r.Pointing < base.Pointing+0.1 || r.Energy < base.Energy+0.1 {
		t.Errorf("gradcam: pointing game %.1f%% (±%d px: %.1f%%), energy %.1f%% (%s)", 100*r.Pointing, rep.Tolerance, 100*r.PointingTol, 100*r.Energy, r.Err)
	}
}
