package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// reluModel is a small classifier, x → op → GlobalAveragePool → Flatten,
// with x of the given shape (-1: a dynamic size).
func reluModel(t *testing.T, op string, shape ...int64) []byte {
	t.Helper()
	nodes := []*onnx.Node{
		{Name: "/op", OpType: op, Inputs: []string{"x"}, Outputs: []string{"a"}, Attrs: onnx.NewAttributes()},
		{Name: "/gap", OpType: "GlobalAveragePool", Inputs: []string{"a"}, Outputs: []string{"g"}, Attrs: onnx.NewAttributes()},
		{Name: "/flatten", OpType: "Flatten", Inputs: []string{"g"}, Outputs: []string{"y"}, Attrs: onnx.NewAttributes()},
	}
	data, err := onnx.Encode(&onnx.Model{
		IRVersion: 8, Opset: 13, Producer: "cnnlens-test",
		Graph: &onnx.Graph{
			Name: "relu", Nodes: nodes, Initializers: map[string]*tensor.T{},
			Inputs:  []onnx.ValueInfo{{Name: "x", ElemType: 1, Shape: shape, HasShape: true}},
			Outputs: []onnx.ValueInfo{{Name: "y", ElemType: 1}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pngHeader is the start of a PNG file of w×h pixels: enough for its
// size to be read, not its pixels.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

// Every failure the page tells apart gets its code, through the engine's
// sentinel errors, and the message is the one it was before.
func TestErrorCodes(t *testing.T) {
	e, info, in := loadShapes(t)
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 20, 20))); err != nil {
		t.Fatal(err)
	}
	goodPNG := buf.Bytes()
	for _, c := range []struct {
		name, code, text string
		run              func() error
	}{
		{"garbage image", CodeNotImage, "not an image file", func() error {
			_, err := e.InputEncoded(info.ID, []byte("hello, not a picture"))
			return err
		}},
		{"empty image", CodeNotImage, "the image file is empty", func() error {
			_, err := e.InputEncoded(info.ID, nil)
			return err
		}},
		{"truncated PNG", CodeCorruptImage, "corrupt", func() error {
			_, err := e.InputEncoded(info.ID, goodPNG[:len(goodPNG)-20])
			return err
		}},
		{"huge PNG", CodeImageTooLarge, "megapixels", func() error {
			_, err := e.InputEncoded(info.ID, pngHeader(10000, 10000))
			return err
		}},
		{"garbage model", CodeBadModel, "not an ONNX model: onnx", func() error {
			_, err := e.LoadModel([]byte("not onnx"), nil)
			return err
		}},
		{"empty model", CodeBadModel, "empty", func() error {
			_, err := e.LoadModel(nil, nil)
			return err
		}},
		{"unsupported op", CodeUnsupportedOp, `unsupported op "LSTM"`, func() error {
			_, err := e.LoadModel(reluModel(t, "LSTM", 1, 3, 8, 8), nil)
			return err
		}},
		{"dynamic sizes", CodeDynamicSizes, "dynamic sizes", func() error {
			_, err := e.LoadModel(reluModel(t, "Relu", -1, 3, -1, -1), nil)
			return err
		}},
		{"card that does not fit", CodeBadCard, "does not fit", func() error {
			_, err := e.Configure(info.ID, &card.Card{InputShape: []int{3, 32, 32}})
			return err
		}},
		{"card with an unknown default layer", CodeBadCard, "default_layer", func() error {
			_, err := e.LoadModel(reluModel(t, "Relu", 1, 3, 8, 8), &card.Card{DefaultLayer: "nope"})
			return err
		}},
		{"model gone", CodeModelGone, "no model 99", func() error {
			_, err := e.InputTensor(99, nil)
			return err
		}},
		{"input gone", CodeInputGone, "input 12345 is gone", func() error {
			_, err := e.CAM(CAMRequest{Input: 12345, Method: "gradcam"})
			return err
		}},
		{"unknown layer", CodeBadLayer, `no layer named "nope"`, func() error {
			_, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Layer: "nope", Class: -1})
			return err
		}},
		{"not a convolution", CodeBadLayer, "not a convolution", func() error {
			_, err := e.Filters(FiltersRequest{Model: info.ID, Layer: "/block1/relu/Relu"})
			return err
		}},
		{"unknown method", CodeBadRequest, "unknown method", func() error {
			_, err := e.CAM(CAMRequest{Input: in.ID, Method: "nope", Class: -1})
			return err
		}},
		{"class out of range", CodeBadRequest, "out of range", func() error {
			_, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: 99})
			return err
		}},
		{"unknown colormap", CodeBadRequest, "nope", func() error {
			_, err := e.Channel(ChannelRequest{Input: in.ID, Channel: 0, Class: -1, Colormap: "nope", Alpha: 0.5})
			return err
		}},
		{"channel out of range", CodeBadRequest, "out of range", func() error {
			_, err := e.Pooling(PoolingRequest{Input: in.ID, Channel: 16, Class: -1})
			return err
		}},
		{"cancelled", CodeCancelled, "cancelled", func() error {
			_, err := e.CAM(CAMRequest{Input: in.ID, Method: "scorecam", Class: -1, Progress: func(int, int) bool { return false }})
			return err
		}},
		{"anything else", CodeInternal, "boom", func() error { return fmt.Errorf("boom") }},
	} {
		err := c.run()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := Code(err); got != c.code || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: code %q, message %q; want %q and a message with %q", c.name, got, err, c.code, c.text)
		}
	}
	if Code(nil) != "" {
		t.Errorf("code of no error: %q", Code(nil))
	}
	// Wrapped further, an error keeps its code; the sentinel is found by
	// errors.Is and the message is the engine's.
	_, err := e.InputEncoded(info.ID, []byte("hello, not a picture"))
	if !errors.Is(err, imgproc.ErrNotImage) || err.Error() != "image: not an image file (PNG, JPEG, GIF, BMP, TIFF or WebP expected)" {
		t.Errorf("not an image: %v", err)
	}
	if got := Code(fmt.Errorf("setInput: %w", err)); got != CodeNotImage {
		t.Errorf("wrapped: code %q", got)
	}
	// A failed request leaves the engine working.
	if _, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: -1}); err != nil {
		t.Errorf("after the errors: %v", err)
	}
}
