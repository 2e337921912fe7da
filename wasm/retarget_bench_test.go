package main

import (
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// BenchmarkRetarget times re-targeting on ResNet-18 at its default layer
// (layer4), the page's work after an input's first map: one CAM of another
// class or method, then its pictures (overlay, heatmap, signed map), as
// Engine.CAM and Engine.Render do them for the worker (which lets the
// engine reuse its pictures). Each sub-benchmark
// is one kind of request; every run sets a fresh input (its forward pass
// and first Grad-CAM are not timed), then asks for the classes 0…49 in
// turn: the classifier's backward pass for a class is timed in the first
// 50 iterations and cached by the session after them, so that with many
// iterations the figure is mostly the map and its pictures (and the
// cache, 100 kB a class, does not grow the heap to the end).
func BenchmarkRetarget(b *testing.B) {
	data := testenv.ReadFile(b, filepath.Join(sharedOracle, "resnet18", "model_bn.onnx"))
	e := NewEngine()
	e.ReusePictures = true
	info, err := e.LoadModel(data, nil)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, 3*224*224)
	for i := range x {
		x[i] = float32(i%251)/125 - 1
	}
	for _, method := range []string{"gradcam", "gradcampp", "hirescam", "eigencam", "xgradcam"} {
		b.Run(method, func(b *testing.B) {
			in, err := e.InputTensor(info.ID, x)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: 999, Other: -1}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := CAMRequest{Input: in.ID, Method: method, Class: i % 50, Other: -1}
				if _, err := e.CAM(r); err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := e.Render(in.ID, "jet", 0.5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
