package model

import (
	"fmt"
	"path/filepath"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// oracleModelInput loads an oracle case's model and makes it an input
// image of fixed values in [-1, 1).
func oracleModelInput(tb testing.TB, name, file string) (*Model, *tensor.T) {
	tb.Helper()
	m, err := LoadFile(filepath.Join(oracle.Dir(), name, file))
	if err != nil {
		tb.Fatal(err)
	}
	shape, _ := m.ConcreteInputShape(1)
	x := tensor.New(shape...)
	for i := range x.F32() {
		x.F32()[i] = float32(i%251)/125 - 1
	}
	return m, x
}

// Whole-network benchmarks on the oracle's ResNet-18 (BatchNorm kept) and
// tinycnn: forward; forward + backward to the input (saliency, the full
// backward); forward + backward to the last block only (Grad-CAM's cost).
func benchModel(b *testing.B, name, file, mode string) {
	m, x := oracleModelInput(b, name, file)
	macs, err := m.MACs()
	if err != nil {
		b.Fatal(err)
	}
	layer, _ := m.SuggestedLayer()
	work := float64(2 * macs)
	if mode == "saliency" {
		work *= 2 // the input-gradient pass costs about one more forward
	}
	tier := ops.TierReference
	if mode == "gradcam-fast" { // Grad-CAM as the page computes it
		tier, mode = ops.TierFast, "gradcam"
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opt := &graph.Options{NoTape: mode == "forward"}
		var run *graph.Run
		err := ops.WithTier(tier, func() (err error) {
			run, err = m.Forward(x, opt)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if mode == "forward" {
			continue
		}
		logits := run.Value(m.Output)
		seed := tensor.New(logits.Shape()...)
		seed.F32()[1] = 1
		wrt := m.Input
		if mode == "gradcam" {
			wrt = layer
		}
		if _, err := run.Backward(map[string]*tensor.T{m.Output: seed}, graph.BackwardOptions{Wrt: []string{wrt}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(work*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkResNet18Forward(b *testing.B) { benchModel(b, "resnet18", "model_bn.onnx", "forward") }
func BenchmarkResNet18GradCAM(b *testing.B) { benchModel(b, "resnet18", "model_bn.onnx", "gradcam") }
func BenchmarkResNet18GradCAMFast(b *testing.B) {
	benchModel(b, "resnet18", "model_bn.onnx", "gradcam-fast")
}
func BenchmarkResNet18Saliency(b *testing.B) { benchModel(b, "resnet18", "model_bn.onnx", "saliency") }
func BenchmarkTinyCNNForward(b *testing.B)   { benchModel(b, "tinycnn", "model.onnx", "forward") }
func BenchmarkTinyCNNSaliency(b *testing.B)  { benchModel(b, "tinycnn", "model.onnx", "saliency") }

// The newer architectures, forward + backward to the input.
func BenchmarkConvNeXtSaliency(b *testing.B) {
	benchModel(b, "convnext-small", "model.onnx", "saliency")
}
func BenchmarkViTSaliency(b *testing.B)    { benchModel(b, "vit-tiny", "model.onnx", "saliency") }
func BenchmarkSwinSaliency(b *testing.B)   { benchModel(b, "swin-tiny", "model.onnx", "saliency") }
func BenchmarkLRASPPSaliency(b *testing.B) { benchModel(b, "lraspp-seg", "model.onnx", "saliency") }

// BenchmarkResNet18ForwardBatch is Score-CAM's forward pass (no tape) on
// batches of 1 and 16 images, per image: what batching the masked inputs
// buys.
func BenchmarkResNet18ForwardBatch(b *testing.B) {
	m, err := LoadFile(filepath.Join(oracle.Dir(), "resnet18", "model_bn.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("N%d", n), func(b *testing.B) {
			shape, _ := m.ConcreteInputShape(n)
			x := tensor.New(shape...)
			for i := range x.F32() {
				x.F32()[i] = float32(i%251)/125 - 1
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Forward(x, &graph.Options{NoTape: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*n), "ms/image")
		})
	}
}
