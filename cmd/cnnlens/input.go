package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/card/cardfile"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// modelFlags are the flags shared by every command that runs a model.
type modelFlags struct {
	model, image, tensor, mean, std, labels string
	batch                                   int
}

func (m *modelFlags) register(fs *flag.FlagSet, withInput bool) {
	fs.StringVar(&m.model, "model", "", "ONNX model file (required)")
	fs.StringVar(&m.labels, "labels", "", "class labels: a JSON list or card, or a text file with one label per line (default: the model card M.json beside M.onnx)")
	if !withInput {
		return
	}
	fs.StringVar(&m.image, "image", "", "input image (PNG, JPEG, GIF, BMP, TIFF, WebP); several separated by commas make a batch")
	fs.StringVar(&m.tensor, "tensor", "", "input tensor: a NumPy .npy file (float32, float64 or up to 32-bit integers, C order) of the model's input shape N×C×H×W, or C×H×W for one input; any other name is raw little-endian float32 in the model's input shape (×N with -batch N)")
	fs.IntVar(&m.batch, "batch", 1, "number of inputs in a raw -tensor (a .npy -tensor gives its own)")
	fs.StringVar(&m.mean, "mean", "", "per-channel mean for -image, comma separated (default: the model card's, else ImageNet)")
	fs.StringVar(&m.std, "std", "", "per-channel std for -image, comma separated (default: the model card's, else ImageNet)")
}

// loaded is a model with its card (engine/card), which may sit beside the
// model file (M.json for M.onnx): class labels and the normalisation the
// model was trained with.
type loaded struct {
	m    *model.Model
	card card.Card
}

func (f *modelFlags) load() (*loaded, error) {
	if f.model == "" {
		return nil, fmt.Errorf("%w: -model is required", errUsage)
	}
	m, err := model.LoadFile(f.model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.model, err)
	}
	l := &loaded{m: m}
	cardPath := strings.TrimSuffix(f.model, ".onnx") + ".json"
	if f.labels != "" {
		cardPath = f.labels
	}
	if data, err := os.ReadFile(cardPath); err == nil {
		c, err := cardfile.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cardPath, err)
		}
		l.card = *c
	} else if f.labels != "" {
		return nil, err
	}
	return l, nil
}

func parseFloats(s string) ([]float32, error) {
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a number", errUsage, p)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// input builds the model's input batch from -image or -tensor.
func (f *modelFlags) input(l *loaded) (*tensor.T, error) {
	if (f.image == "") == (f.tensor == "") {
		return nil, fmt.Errorf("%w: give exactly one of -image and -tensor", errUsage)
	}
	if f.batch < 1 {
		return nil, fmt.Errorf("%w: -batch must be at least 1", errUsage)
	}
	if f.tensor != "" {
		return f.readTensorInput(l)
	}
	files := strings.Split(f.image, ",")
	if f.batch != 1 && f.batch != len(files) {
		return nil, fmt.Errorf("%w: -batch %d but %d images", errUsage, f.batch, len(files))
	}
	shape, err := l.m.ConcreteInputShape(len(files))
	if err != nil {
		return nil, err
	}
	c, h, w := shape[1], shape[2], shape[3]
	mean, std, err := f.norm(l, c)
	if err != nil {
		return nil, err
	}
	batch := tensor.New(shape...)
	per := c * h * w
	for k, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		img, err := imgproc.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		x, err := imgproc.ToTensor(img, c, h, w, mean, std)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		copy(batch.F32()[k*per:], x.F32())
	}
	return batch, nil
}

// norm is the per-channel normalisation for -image: -mean/-std, else the
// model card's, else ImageNet's (0.5/0.5 for one channel).
func (f *modelFlags) norm(l *loaded, c int) (mean, std []float32, err error) {
	mean, std = l.card.Mean, l.card.Std
	if mean == nil {
		mean, std = imgproc.ImageNetMean, imgproc.ImageNetStd
		if c == 1 {
			mean, std = []float32{0.5}, []float32{0.5}
		}
	}
	if f.mean != "" {
		if mean, err = parseFloats(f.mean); err != nil {
			return nil, nil, err
		}
	}
	if f.std != "" {
		if std, err = parseFloats(f.std); err != nil {
			return nil, nil, err
		}
	}
	for _, s := range std {
		if s == 0 {
			return nil, nil, fmt.Errorf("%w: -std has a zero", errUsage)
		}
	}
	if len(mean) != c || len(std) != c {
		return nil, nil, fmt.Errorf("%w: the model has %d input channels but -mean/-std give %d and %d values", errUsage, c, len(mean), len(std))
	}
	return mean, std, nil
}
