package main

// Error codes: every failed request's reply carries, beside the message,
// a code the page tells errors apart by (web/README.md lists them). The
// engine marks its errors with sentinel errors (imgproc.ErrNotImage,
// model.ErrDynamicSizes, …, and the ones below); Code maps them to the
// codes, which are part of the page's API and do not change.

import (
	"errors"
	"fmt"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/inspect"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
)

// The codes of the page's API.
const (
	CodeNotImage      = "not_image"       // not an image file the engine decodes (the browser may)
	CodeCorruptImage  = "corrupt_image"   // an image file whose data is broken
	CodeImageTooLarge = "image_too_large" // more pixels, or more decoding work, than the engine accepts
	CodeBadModel      = "bad_model"       // the model file cannot be loaded or run as an image classifier
	CodeUnsupportedOp = "unsupported_op"  // the model uses an operator the engine does not implement
	CodeDynamicSizes  = "dynamic_sizes"   // the model's input size is not fixed: give C×H×W
	CodeBadCard       = "bad_card"        // the model card (or size and normalisation) does not fit
	CodeModelGone     = "model_gone"      // no model with that id is loaded
	CodeInputGone     = "input_gone"      // the input was released: set it again
	CodeBadLayer      = "bad_layer"       // no such layer, or a layer that does not fit the request
	CodeBadRequest    = "bad_request"     // a request field that is not valid
	CodeCancelled     = "cancelled"       // the request was cancelled
	CodeInternal      = "internal"        // anything else, a panic included
)

// Sentinel errors of the worker's engine (errors.Is).
var (
	ErrInputGone  = errors.New("input gone")
	ErrModelGone  = errors.New("model gone")
	ErrBadModel   = errors.New("bad model")
	ErrBadRequest = errors.New("bad request")
	// ErrCancelled is the error of a cancelled request; its text is the
	// message the page gets.
	ErrCancelled = errors.New("cancelled")
)

// codes maps sentinel errors to codes, the more specific first: a model
// that fails to load because of an unsupported operator is
// unsupported_op, not bad_model.
var codes = []struct {
	code string
	errs []error
}{
	{CodeCancelled, []error{ErrCancelled, cam.ErrCancelled, inspect.ErrCancelled}},
	{CodeInputGone, []error{ErrInputGone}},
	{CodeModelGone, []error{ErrModelGone}},
	{CodeNotImage, []error{imgproc.ErrNotImage}},
	{CodeCorruptImage, []error{imgproc.ErrCorruptImage}},
	{CodeImageTooLarge, []error{imgproc.ErrImageTooLarge}},
	{CodeUnsupportedOp, []error{ops.ErrUnsupportedOp}},
	{CodeDynamicSizes, []error{model.ErrDynamicSizes}},
	{CodeBadCard, []error{card.ErrBadCard}},
	{CodeBadLayer, []error{model.ErrBadLayer}},
	{CodeBadModel, []error{ErrBadModel}},
	{CodeBadRequest, []error{ErrBadRequest, cam.ErrBadRequest, inspect.ErrBadOption}},
}

// Code is the page's code for a request's error ("" for nil).
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		for _, e := range c.errs {
			if errors.Is(err, e) {
				return c.code
			}
		}
	}
	return CodeInternal
}

// markf is fmt.Errorf(format, args...) that errors.Is also matches to
// kind; its text is the formatted message.
func markf(kind error, format string, args ...any) error {
	return mark(kind, fmt.Errorf(format, args...))
}

// mark returns err marked with kind (nil for a nil err).
func mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

type marked struct{ err, kind error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }
