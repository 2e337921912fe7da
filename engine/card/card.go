// Package card is the model card: the JSON file that may sit beside a
// model (models/NAME.json for models/NAME.onnx) with its class labels,
// input size, normalisation and the layer to explain by default. The CLI,
// the page's engine (wasm) and the bundled models' recipes share it.
//
// The JSON keys are a contract (the bundled cards, cards people write for
// their own models, the page's API): labels, input_shape, mean, std,
// default_layer, layer_layout when set, and multilabel when true. Other keys are ignored here; the bundled models' cards
// add a description and how they were trained (models/bundled).
package card

import (
	"errors"

	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// Card is a model card. Every field may be left out.
type Card struct {
	// Labels are the class names, by class index.
	Labels []string `json:"labels"`
	// InputShape is the model's input size: [C, H, W] or [N, C, H, W]
	// (N is ignored), for a model whose input size is not fixed.
	InputShape []int `json:"input_shape"`
	// Mean and Std normalise an image's values in 0..1, one per channel:
	// (x − mean)/std.
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
	// DefaultLayer is the layer the layer methods look at by default (a
	// value or node name).
	DefaultLayer string `json:"default_layer"`
	// LayerLayout is how the default layer's value is laid out for the
	// layer methods: "nchw", "nhwc", "tokens" or "auto" (engine/cam's
	// layouts; "" is auto).
	LayerLayout string `json:"layer_layout,omitempty"`
	// Multilabel says the model scores each class on its own (one sigmoid
	// per class, several classes may be present): probabilities are
	// sigmoid(logit) rather than a softmax over the classes.
	Multilabel bool `json:"multilabel,omitempty"`
}

// ErrBadCard marks the errors of a card that cannot be read or does not fit
// its model (errors.Is; the text is the message).
var ErrBadCard = errors.New("model card: not valid")

// Shape is the input shape the card gives, as 1×C×H×W, or nil when it
// gives none.
func (c *Card) Shape() ([]int, error) {
	switch s := c.InputShape; len(s) {
	case 0:
		return nil, nil
	case 3:
		return append([]int{1}, s...), nil
	case 4:
		return append([]int{1}, s[1:]...), nil
	}
	return nil, kind.Errorf(ErrBadCard, "model card: input_shape must be [C, H, W] or [N, C, H, W], got %v", c.InputShape)
}

// Norm is the normalisation of an input of ch channels: the card's mean
// and std, each one the card leaves out ImageNet's for 3 channels and 0.5
// for 1. It checks that there is one value a channel and that std is
// positive.
func (c *Card) Norm(ch int) (mean, std []float32, err error) {
	mean, std = c.Mean, c.Std
	if mean == nil {
		mean = defaultNorm(ch, imgproc.ImageNetMean, 0.5)
	}
	if std == nil {
		std = defaultNorm(ch, imgproc.ImageNetStd, 0.5)
	}
	if len(mean) != ch || len(std) != ch {
		return nil, nil, kind.Errorf(ErrBadCard, "mean and std need %d values each (one per channel), got %d and %d", ch, len(mean), len(std))
	}
	for _, s := range std {
		if !(s > 0) {
			return nil, nil, kind.Errorf(ErrBadCard, "std values must be positive, got %v", std)
		}
	}
	return mean, std, nil
}

func defaultNorm(ch int, rgb []float32, grey float32) []float32 {
	if ch == 3 {
		return append([]float32(nil), rgb...)
	}
	return []float32{grey}
}
