// Package bundled holds the recipes of the models that ship with cnnlens
// (models/shapes.onnx, models/fashion.onnx): their architecture, data,
// training settings and model cards. Train reproduces a model from
// scratch; Measure re-measures a saved model's test accuracy from the data.
package bundled

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/models/train"
)

// Recipe is everything needed to train and describe one bundled model.
type Recipe struct {
	Name   string
	Spec   train.Spec
	Config train.Config // Log, Val and checkpointing are filled in by Train
	// NetSeed seeds the weight initialisation.
	NetSeed uint64
	// InitFrom, when set, names a bundled model (of the same parameter
	// shapes) whose weights start the training instead of a random
	// initialisation: the file NAME.onnx in Options.InitDir.
	InitFrom string
	Labels   []string
	Mean     []float32
	Std      []float32
	// DefaultLayer is the card's default_layer ("" = the last block's
	// ReLU output).
	DefaultLayer string
	// Card text.
	Architecture string
	Data         string
	DataLicence  string
	TestSet      string
	// Load returns the training, validation (may be nil) and test sets.
	// Validation examples are disjoint from test examples.
	Load func() (trainSet, val, test train.Dataset, err error)
}

// Recipes lists the bundled models by name.
var Recipes = map[string]*Recipe{}

func register(r *Recipe) { Recipes[r.Name] = r }

// Names lists the recipes, sorted.
func Names() []string {
	var out []string
	for n := range Recipes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Card is the model card written beside each model (M.json for M.onnx):
// the card the CLI and the page read (engine/card: labels, input_shape,
// mean, std, default_layer), after the model's name and before what the
// model is and how it was trained.
type Card struct {
	Name string `json:"name"`
	card.Card
	Architecture string `json:"architecture"`
	Parameters   int    `json:"parameters"`
	Data         string `json:"data"`
	DataLicence  string `json:"data_licence"`
	TestSet      string `json:"test_set"`
	// TestAccuracy is TestCorrect/TestTotal, measured on the saved model.
	TestAccuracy float64 `json:"test_accuracy"`
	TestCorrect  int     `json:"test_correct"`
	TestTotal    int     `json:"test_total"`
	// MeanAP is a multi-label model's mean average precision over the
	// classes on the test set (its TestAccuracy is the exact-set
	// accuracy).
	MeanAP   float64  `json:"test_mean_average_precision,omitempty"`
	Training Training `json:"training"`
}

// Training records how the model was made.
type Training struct {
	Command     string             `json:"command"`
	Init        string             `json:"init,omitempty"`
	Seed        uint64             `json:"seed"`
	InitSeed    uint64             `json:"init_seed"`
	Optimizer   string             `json:"optimizer"`
	Epochs      int                `json:"epochs"`
	Batch       int                `json:"batch"`
	LR          float64            `json:"lr"`
	Momentum    float64            `json:"momentum"`
	WeightDecay float64            `json:"weight_decay"`
	Schedule    string             `json:"schedule"`
	Augment     string             `json:"augmentation"`
	Examples    int                `json:"training_examples"`
	Threads     int                `json:"threads"`
	Seconds     float64            `json:"wall_seconds"`
	CPUSeconds  float64            `json:"cpu_seconds"`
	Log         []train.EpochStats `json:"epochs_log"`
	Determinism string             `json:"determinism"`
}

// Options adjust Train.
type Options struct {
	OutDir        string // where NAME.onnx and NAME.json go
	CheckpointDir string // "" for none
	Resume        bool
	Epochs        int // 0: the recipe's
	Limit         int // 0: all training examples
	Log           io.Writer
	Command       string // recorded in the card
	Augment       string // recorded in the card
	// InitDir holds the model a recipe's InitFrom names ("": OutDir).
	InitDir string
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// Train trains a recipe from scratch, measures the test accuracy of the
// saved file and writes NAME.onnx and NAME.json into opt.OutDir.
func Train(r *Recipe, opt Options) (*Card, error) {
	trainSet, val, test, err := r.Load()
	if err != nil {
		return nil, err
	}
	cfg := r.Config
	cfg.Log = opt.Log
	cfg.CheckpointDir = opt.CheckpointDir
	cfg.Resume = opt.Resume
	if opt.Epochs > 0 {
		cfg.Epochs = opt.Epochs
	}
	if opt.Limit > 0 {
		cfg.Limit = opt.Limit
	}
	if val != nil {
		cfg.Val = val
		cfg.ValLimit = 2000
	}
	net := train.NewNet(r.Spec, r.NetSeed)
	var initText string
	if r.InitFrom != "" {
		dir := opt.InitDir
		if dir == "" {
			dir = opt.OutDir
		}
		path := filepath.Join(dir, r.InitFrom+".onnx")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s starts from the %s model: %w (train it first)", r.Name, r.InitFrom, err)
		}
		from, err := train.LoadNet(r.Spec, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, name := range net.Order {
			copy(net.Params[name].F32(), from.Params[name].F32())
		}
		initText = fmt.Sprintf("every weight and BatchNorm statistic from %s.onnx (sha256 %x)", r.InitFrom, sha256.Sum256(b))
	}
	tr, err := train.NewTrainer(net, cfg)
	if err != nil {
		return nil, err
	}
	if opt.Log != nil {
		fmt.Fprintf(opt.Log, "%s: %d parameters, %d training examples, %d epochs of batch %d\n", r.Name, paramCount(net), min(trainSet.Len(), limitOr(cfg.Limit, trainSet.Len())), cfg.Epochs, cfg.Batch)
	}
	wall, cpu0 := time.Now(), cpuSeconds()
	res, err := tr.Run(trainSet)
	if err != nil {
		return nil, err
	}
	seconds, cpu := time.Since(wall).Seconds(), cpuSeconds()-cpu0
	data, err := net.Encode(map[string]string{"name": r.Name, "labels": strings.Join(r.Labels, ",")})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, err
	}
	onnxPath := filepath.Join(opt.OutDir, r.Name+".onnx")
	if err := os.WriteFile(onnxPath, data, 0o644); err != nil {
		return nil, err
	}
	var correct, total int
	var mAP float64
	if cfg.Multilabel {
		correct, total, mAP, err = MeasureSets(data, test)
	} else {
		correct, total, err = Measure(data, test)
	}
	if err != nil {
		return nil, err
	}
	layer := r.DefaultLayer
	if layer == "" {
		layer = r.Spec.DefaultLayer()
	}
	c := &Card{
		Name: r.Name,
		Card: card.Card{
			Labels: r.Labels, InputShape: []int{1, r.Spec.Channels, r.Spec.Height, r.Spec.Width},
			Mean: r.Mean, Std: r.Std, DefaultLayer: layer, Multilabel: cfg.Multilabel,
		},
		Architecture: r.Architecture, Parameters: paramCount(net), Data: r.Data, DataLicence: r.DataLicence, TestSet: r.TestSet,
		TestAccuracy: float64(correct) / float64(total), TestCorrect: correct, TestTotal: total, MeanAP: mAP,
		Training: Training{
			Command: opt.Command, Init: initText, Seed: cfg.Seed, InitSeed: r.NetSeed, Optimizer: optimizerText(cfg),
			Epochs: cfg.Epochs, Batch: cfg.Batch, LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay,
			Schedule: fmt.Sprintf("linear warm-up for %.2g epochs, then cosine decay to 0 (per step)", cfg.Warmup),
			Augment:  opt.Augment, Examples: limitOr(cfg.Limit, trainSet.Len()), Threads: runtime.GOMAXPROCS(0),
			Seconds: round(seconds, 1), CPUSeconds: round(cpu, 1), Log: res.Epochs,
			Determinism: "bit-identical weights for the same seeds: one goroutine runs each step in a fixed order; the GEMM's split across threads never changes a sum's order",
		},
	}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opt.OutDir, r.Name+".json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return c, nil
}

func optimizerText(cfg train.Config) string {
	loss := "softmax cross-entropy"
	if cfg.Multilabel {
		loss = "binary cross-entropy on one sigmoid per class (summed over the classes, averaged over the batch)"
	}
	if cfg.Optimizer == "adamw" {
		return fmt.Sprintf("AdamW (β1 %.2g, β2 0.999, ε 1e-8, decoupled weight decay on conv and linear weights), %s", cfg.Momentum, loss)
	}
	return "SGD with momentum (PyTorch convention, L2 weight decay on conv and linear weights), " + loss
}

func limitOr(limit, n int) int {
	if limit > 0 && limit < n {
		return limit
	}
	return n
}

func round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func paramCount(n *train.Net) int {
	total := 0
	for _, p := range n.Trainable {
		total += n.Params[p].Len()
	}
	return total
}

// Measure loads an ONNX file with the engine's loader and counts its
// correct top-1 predictions on a test set.
func Measure(onnxData []byte, test train.Dataset) (correct, total int, err error) {
	m, err := model.Load(onnxData)
	if err != nil {
		return 0, 0, err
	}
	acc, preds, err := train.Evaluate(m.Graph, test, 250, 0)
	if err != nil {
		return 0, 0, err
	}
	total = len(preds)
	correct = int(acc*float64(total) + 0.5)
	return correct, total, nil
}

// MeasureSets loads a multi-label ONNX file with the engine's loader and
// counts the test examples whose predicted set of classes (probability ≥
// 0.5) is exactly the true set; mAP is the mean average precision over
// the classes.
func MeasureSets(onnxData []byte, test train.Dataset) (correct, total int, mAP float64, err error) {
	m, err := model.Load(onnxData)
	if err != nil {
		return 0, 0, 0, err
	}
	acc, logits, sets, err := train.EvaluateSets(m.Graph, test, 250, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	total = len(logits)
	correct = int(acc*float64(total) + 0.5)
	return correct, total, train.MeanAveragePrecision(logits, sets), nil
}

// ReadCard reads a model card.
func ReadCard(path string) (*Card, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Card
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}
