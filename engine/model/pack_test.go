package model

import (
	"runtime"
	"testing"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestPackHoldsResNet18: the transformed and packed weights of ResNet-18 at
// both tiers, the fast tier's forward pass (the layer-CAM methods), the
// reference tier's and its input gradient (saliency), all fit in the
// convolutions' cache: none is made again at every pass.
func TestPackHoldsResNet18(t *testing.T) {
	// Other tests' models, unreachable now, give their entries back once
	// collected.
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	b0, r0 := ops.PackStats()
	m, x := oracleModelInput(t, "resnet18", "model_bn.onnx")
	if err := ops.WithTier(ops.TierFast, func() error {
		_, err := m.Forward(x, &graph.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bFast, _ := ops.PackStats()
	run, err := m.Forward(x, &graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seed := tensor.New(run.Value(m.Output).Shape()...)
	seed.F32()[1] = 1
	if _, err := run.Backward(map[string]*tensor.T{m.Output: seed}, graph.BackwardOptions{Wrt: []string{m.Input}}); err != nil {
		t.Fatal(err)
	}
	b1, r1 := ops.PackStats()
	t.Logf("ResNet-18's kept weights: %.1f MB at the fast tier, %.1f MB with the reference tier and the input gradient (%.1f MB kept before)",
		float64(bFast-b0)/1e6, float64(b1-b0)/1e6, float64(b0)/1e6)
	if r1 != r0 {
		t.Errorf("%d convolutions' weights were made but not kept (the cache holds %.1f MB)", r1-r0, float64(b1)/1e6)
	}
	if b1-b0 <= bFast-b0 || bFast <= b0 {
		t.Errorf("kept %d bytes after the fast pass and %d after all, from %d: each step should keep more", bFast, b1, b0)
	}
	runtime.KeepAlive(m)
}
