package main

import (
	"path/filepath"
	"testing"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// BenchmarkRetarget times re-targeting on ResNet-18 at its default layer
// (layer4), the page's work after an input's first map: one CAM of another
// class or method, then its pictures (overlay, heatmap, signed map), as
// Engine.CAM and Engine.Render do them for the worker. Each sub-benchmark
// is one kind of request; every run sets a fresh input (its forward pass
// and first Grad-CAM are not timed) and asks for a new class at each
// iteration, so that the classifier's backward pass for that class is
// timed too (the session caches it, as it does for the page, only after
// its first use: up to 1,000 iterations).
func BenchmarkRetarget(b *testing.B) {
	data := testenv.ReadFile(b, filepath.Join(sharedOracle, "resnet18", "model_bn.onnx"))
	e := NewEngine()
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
			if _, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Class: 1000 - 1, Other: -1}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := CAMRequest{Input: in.ID, Method: method, Class: i % (1000 - 1), Other: -1}
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
