package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func loadOracle(t testing.TB, name string) *oracle.Model {
	t.Helper()
	o, err := oracle.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ref(t testing.TB, o *oracle.Model, key string) []float32 {
	t.Helper()
	v, err := o.F32(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relClose checks |got − want| ≤ tol·max|want| elementwise.
func relClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, reference has %d", what, len(got), len(want))
		return
	}
	if d := oracle.MaxRelDiff(got, want); d > tol || math.IsNaN(d) {
		t.Errorf("%s: max difference %.3g of the largest reference value exceeds %.0e", what, d, tol)
	} else {
		t.Logf("%s: max relative difference %.2e", what, d)
	}
}

// checkOracle loads one oracle model, runs forward and backward from the
// target logit, and compares logits, the layers' activations and gradients,
// and every feat.* array (matched to the node of the torch module's name).
func checkOracle(t *testing.T, name, file string) {
	o := loadOracle(t, name)
	m, err := LoadFile(filepath.Join(o.Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromF32(ref(t, o, "input"), shape...)
	run, err := m.Forward(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	logits := run.Value(m.Output)
	relClose(t, name+" logits", logits.F32(), ref(t, o, "logits"), 1e-4)

	seed := oracleSeed(t, o, logits)
	for key, l := range o.Layers {
		act := run.Value(l.OnnxTensor)
		if act == nil {
			t.Fatalf("layer %s: no value %q", key, l.OnnxTensor)
		}
		relClose(t, name+" "+key+".act", act.F32(), ref(t, o, key+".act"), 1e-4)
		want := ref(t, o, key+".grad")
		grads, err := run.Backward(map[string]*tensor.T{m.Output: seed}, graph.BackwardOptions{Wrt: []string{l.OnnxTensor}})
		if err != nil {
			t.Fatal(err)
		}
		got := grads[l.OnnxTensor].F32()
		if oracle.MaxRelDiff(got, want) > 1e-4 {
			// The one legitimate source of mismatch: a ReLU input within
			// float32 rounding of zero that PyTorch puts on the other side.
			ties, g, err := oracle.ResolveTies(run, m.Output, seed, l.OnnxTensor, want)
			if err != nil {
				t.Fatal(err)
			}
			for _, tie := range ties {
				t.Logf("%s: ReLU input %d of %s is within 1e-5 of zero; PyTorch's rounding puts it on the other side", key, tie.Index, tie.Node)
			}
			got = g
		}
		relClose(t, name+" "+key+".grad", got, want, 1e-4)
	}
	for key := range o.Arrays {
		if !strings.HasPrefix(key, "feat.") {
			continue
		}
		module := strings.TrimPrefix(key, "feat.")
		var value string
		for _, n := range m.Graph.Nodes {
			if strings.HasPrefix(n.Name, "/"+module+"/") {
				value = n.Outputs[0]
			}
		}
		if value == "" {
			t.Errorf("%s: no node for torch module %q", key, module)
			continue
		}
		relClose(t, name+" "+key, run.Value(value).F32(), ref(t, o, key), 1e-4)
	}
}

// oracleSeed is the gradient of the oracle's target with respect to the
// output: 1 at the target logit of a classifier; for a segmentation output
// (N×K×H×W) the target class's plane is the case's mask (the sum of that
// class's scores over the mask, pytorch-grad-cam's SemanticSegmentationTarget).
func oracleSeed(t *testing.T, o *oracle.Model, out *tensor.T) *tensor.T {
	t.Helper()
	seed := tensor.New(out.Shape()...)
	if out.Rank() != 4 {
		seed.F32()[o.TargetClass] = 1
		return seed
	}
	mask := ref(t, o, "seg.mask")
	hw := out.Shape()[2] * out.Shape()[3]
	if len(mask) != hw {
		t.Fatalf("seg.mask has %d values for a %v output", len(mask), out.Shape())
	}
	copy(seed.F32()[o.TargetClass*hw:], mask)
	return seed
}

func TestOracleTinyCNN(t *testing.T) {
	checkOracle(t, "tinycnn", "model.onnx")
	checkOracle(t, "tinycnn", "model_bn.onnx")
}

func TestOracleResNet18(t *testing.T) {
	checkOracle(t, "resnet18", "model_bn.onnx")
}

// The architectures beyond plain CNNs: ConvNeXt (LayerNormalization, Erf),
// the vision transformers (attention: batched MatMul, Softmax; Swin's
// shifted-window masks: Range, Mod, Equal, Where, ScatterND, Expand) and a
// segmentation network (Resize, HardSigmoid, HardSwish).
func TestOracleConvNeXt(t *testing.T) {
	checkOracle(t, "convnext-small", "model.onnx")
	// The default layer is the last block's output (N×C×H×W), not the
	// head's channels-last LayerNorm of the pooled features (N×1×1×C).
	o := loadOracle(t, "convnext-small")
	m, err := LoadFile(filepath.Join(o.Dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := m.SuggestedLayer(); err != nil || l != o.Layers["last"].OnnxTensor {
		t.Errorf("suggested layer %q (%v), want %q", l, err, o.Layers["last"].OnnxTensor)
	}
}
func TestOracleViT(t *testing.T) { checkOracle(t, "vit-tiny", "model.onnx") }

// TestOracleFastTier checks every case's logits, activations and gradients
// with the forward convolutions at ops.TierFast (F(4×4, 3×3) on every
// Winograd plane, 7×7 up), at the same tolerance: the error of its larger rounding must
// not accumulate through a deep network beyond it.
func TestOracleFastTier(t *testing.T) {
	for _, c := range []struct{ name, file string }{
		{"tinycnn", "model.onnx"}, {"resnet18", "model_bn.onnx"}, {"convnext-small", "model.onnx"},
		{"vit-tiny", "model.onnx"}, {"swin-tiny", "model.onnx"}, {"lraspp-seg", "model.onnx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = ops.WithTier(ops.TierFast, func() error {
				checkOracle(t, c.name, c.file)
				return nil
			})
		})
	}
}
func TestOracleSwin(t *testing.T)   { checkOracle(t, "swin-tiny", "model.onnx") }
func TestOracleLRASPP(t *testing.T) { checkOracle(t, "lraspp-seg", "model.onnx") }

func TestModelInfo(t *testing.T) {
	o := loadOracle(t, "tinycnn")
	m, err := LoadFile(filepath.Join(o.Dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := m.SuggestedLayer()
	if err != nil || layer != "/relu3/Relu_output_0" {
		t.Errorf("suggested layer %q, %v", layer, err)
	}
	if v, err := m.ResolveLayer("/relu2/Relu"); err != nil || v != "/relu2/Relu_output_0" {
		t.Errorf("node name: %q %v", v, err)
	}
	if _, err := m.ResolveLayer("/nope"); err == nil || !strings.Contains(err.Error(), "/relu3/Relu_output_0") {
		t.Errorf("unknown layer should list the layers: %v", err)
	}
	// conv 3→8 3×3, conv 8→16, conv 16→16, linear 16→10, with biases.
	want := (8*3*9 + 8) + (16*8*9 + 16) + (16*16*9 + 16) + (10*16 + 10)
	if got := m.Graph.ParamCount(); got != want {
		t.Errorf("parameters: %d, want %d", got, want)
	}
	macs, err := m.MACs()
	wantMACs := int64(8*32*32*27 + 16*16*16*72 + 16*16*16*144 + 10*16)
	if err != nil || macs != wantMACs {
		t.Errorf("MACs %d, want %d (%v)", macs, wantMACs, err)
	}
}
