package onnx_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func seq(n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = scale * float32(math.Sin(float64(i)*0.7+0.3))
	}
	return out
}

// tinyCNN is Conv → BatchNormalization → Relu → MaxPool →
// GlobalAveragePool → Flatten → Gemm, named as torch.onnx.export names
// things, with a symbolic batch dimension.
func tinyCNN() *onnx.Model {
	init := map[string]*tensor.T{
		"conv.weight":     tensor.FromF32(seq(4*2*3*3, 0.5), 4, 2, 3, 3),
		"conv.bias":       tensor.FromF32(seq(4, 0.1), 4),
		"bn.weight":       tensor.FromF32([]float32{1, 0.5, 2, 1.5}, 4),
		"bn.bias":         tensor.FromF32([]float32{0, 0.1, -0.1, 0.2}, 4),
		"bn.running_mean": tensor.FromF32([]float32{0.1, -0.2, 0.3, 0}, 4),
		"bn.running_var":  tensor.FromF32([]float32{1, 2, 0.5, 1.5}, 4),
		"fc.weight":       tensor.FromF32(seq(3*4, 1), 3, 4),
		"fc.bias":         tensor.FromF32([]float32{0.1, 0.2, 0.3}, 3),
		"shape_const":     tensor.FromI64([]int64{-1, 4}, 2),
	}
	order := []string{"conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias", "shape_const"}
	nodes := []*onnx.Node{
		{Name: "/conv/Conv", OpType: "Conv", Inputs: []string{"input", "conv.weight", "conv.bias"}, Outputs: []string{"/conv/Conv_output_0"},
			Attrs: onnx.NewAttributes().SetInts("kernel_shape", 3, 3).SetInts("pads", 1, 1, 1, 1).SetInts("strides", 1, 1)},
		{Name: "/bn/BatchNormalization", OpType: "BatchNormalization", Inputs: []string{"/conv/Conv_output_0", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"},
			Outputs: []string{"/bn/BatchNormalization_output_0"}, Attrs: onnx.NewAttributes().SetFloat("epsilon", 1e-5).SetFloat("momentum", 0.9)},
		{Name: "/relu/Relu", OpType: "Relu", Inputs: []string{"/bn/BatchNormalization_output_0"}, Outputs: []string{"/relu/Relu_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/pool/MaxPool", OpType: "MaxPool", Inputs: []string{"/relu/Relu_output_0"}, Outputs: []string{"/pool/MaxPool_output_0"},
			Attrs: onnx.NewAttributes().SetInts("kernel_shape", 2, 2).SetInts("strides", 2, 2)},
		{Name: "/gap/GlobalAveragePool", OpType: "GlobalAveragePool", Inputs: []string{"/pool/MaxPool_output_0"}, Outputs: []string{"/gap/GlobalAveragePool_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/flatten/Reshape", OpType: "Reshape", Inputs: []string{"/gap/GlobalAveragePool_output_0", "shape_const"}, Outputs: []string{"/flatten/Reshape_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/fc/Gemm", OpType: "Gemm", Inputs: []string{"/flatten/Reshape_output_0", "fc.weight", "fc.bias"}, Outputs: []string{"logits"},
			Attrs: onnx.NewAttributes().SetFloat("alpha", 1).SetFloat("beta", 1).SetInt("transB", 1)},
	}
	return &onnx.Model{
		IRVersion: 8, Opset: 13, OpsetImports: map[string]int64{"": 13}, Producer: "cnnlens-test",
		Metadata: map[string]string{"labels": "a,b,c", "author": "test"},
		Graph: &onnx.Graph{
			Name: "tiny", Nodes: nodes, Initializers: init, InitOrder: order,
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("input", []int64{-1, 2, 6, 6}, "N")},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("logits", []int64{-1, 3})},
		},
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	m := tinyCNN()
	data, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := onnx.Decode(data, onnx.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.IRVersion != 8 || got.Opset != 13 || got.Producer != "cnnlens-test" || !reflect.DeepEqual(got.Metadata, m.Metadata) {
		t.Fatalf("model fields: ir %d opset %d producer %q metadata %v", got.IRVersion, got.Opset, got.Producer, got.Metadata)
	}
	g, want := got.Graph, m.Graph
	if g.Name != want.Name || !reflect.DeepEqual(g.InitOrder, want.InitOrder) {
		t.Fatalf("graph %q, initializers %v", g.Name, g.InitOrder)
	}
	for name, w := range want.Initializers {
		v := g.Initializers[name]
		if v == nil || v.DType() != w.DType() || !tensor.SameShape(v.Shape(), w.Shape()) {
			t.Fatalf("initializer %q: got %v, want %v", name, v, w)
		}
		if !reflect.DeepEqual(v.F32(), w.F32()) || !reflect.DeepEqual(v.I64(), w.I64()) {
			t.Fatalf("initializer %q: values differ", name)
		}
	}
	if len(g.Nodes) != len(want.Nodes) {
		t.Fatalf("%d nodes, want %d", len(g.Nodes), len(want.Nodes))
	}
	for k, n := range g.Nodes {
		w := want.Nodes[k]
		if n.Name != w.Name || n.OpType != w.OpType || !reflect.DeepEqual(n.Inputs, w.Inputs) || !reflect.DeepEqual(n.Outputs, w.Outputs) {
			t.Fatalf("node %d: got %+v, want %+v", k, n, w)
		}
		if !reflect.DeepEqual(n.Attrs.Names(), w.Attrs.Names()) {
			t.Fatalf("node %q: attributes %v, want %v", n.Name, n.Attrs.Names(), w.Attrs.Names())
		}
		for _, a := range w.Attrs.Names() {
			if n.Attrs.Type(a) != w.Attrs.Type(a) || !reflect.DeepEqual(n.Attrs.Ints(a, nil), w.Attrs.Ints(a, nil)) ||
				n.Attrs.Int(a, -7) != w.Attrs.Int(a, -7) || n.Attrs.Float(a, -7) != w.Attrs.Float(a, -7) {
				t.Fatalf("node %q attribute %q differs", n.Name, a)
			}
		}
	}
	in := g.Inputs[0]
	if in.Name != "input" || !reflect.DeepEqual(in.Shape, []int64{-1, 2, 6, 6}) || !reflect.DeepEqual(in.DimNames, []string{"N", "", "", ""}) || in.ElemType != onnx.TypeFloat {
		t.Fatalf("input %+v", in)
	}
	if out := g.Outputs[0]; out.Name != "logits" || !reflect.DeepEqual(out.Shape, []int64{-1, 3}) {
		t.Fatalf("output %+v", out)
	}
	// Encoding is deterministic.
	again, err := onnx.Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Fatal("re-encoding the decoded model gives different bytes")
	}
}

func TestEncodeAttributeTypes(t *testing.T) {
	c := tensor.FromF32([]float32{1.5, -2}, 2)
	m := &onnx.Model{Opset: 13, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{{Name: "k", OpType: "Constant", Outputs: []string{"c"}, Attrs: onnx.NewAttributes().
			SetTensor("value", c).SetString("s", "héllo").SetStrings("ss", "a", "", "b").
			SetFloats("fs", 0.25, -1e30).SetInts("is", -1, 0, 1<<40).SetInt("i", -5).SetFloat("f", float32(math.Inf(-1)))}},
		Outputs: []onnx.ValueInfo{{Name: "c"}},
	}}
	data, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := onnx.Decode(data, onnx.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := got.Graph.Nodes[0].Attrs
	if v := a.Tensor("value"); v == nil || !reflect.DeepEqual(v.F32(), c.F32()) {
		t.Errorf("tensor attribute: %v", v)
	}
	if a.String("s", "") != "héllo" || !reflect.DeepEqual(a.Strings("ss", nil), []string{"a", "", "b"}) {
		t.Errorf("strings: %q %q", a.String("s", ""), a.Strings("ss", nil))
	}
	if !reflect.DeepEqual(a.Floats("fs", nil), []float32{0.25, -1e30}) || !reflect.DeepEqual(a.Ints("is", nil), []int64{-1, 0, 1 << 40}) {
		t.Errorf("lists: %v %v", a.Floats("fs", nil), a.Ints("is", nil))
	}
	if a.Int("i", 0) != -5 || !math.IsInf(float64(a.Float("f", 0)), -1) {
		t.Errorf("scalars: %d %v", a.Int("i", 0), a.Float("f", 0))
	}
	if got.Opset != 13 {
		t.Errorf("opset %d", got.Opset)
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := onnx.Encode(&onnx.Model{}); err == nil {
		t.Error("a model without graph was encoded")
	}
	m := tinyCNN()
	m.Graph.InitOrder = append(m.Graph.InitOrder, "missing")
	if _, err := onnx.Encode(m); err == nil {
		t.Error("a listed but missing initializer was encoded")
	}
	m = tinyCNN()
	m.Graph.Nodes[0].OpType = ""
	if _, err := onnx.Encode(m); err == nil {
		t.Error("a node without op_type was encoded")
	}
}

// TestEncodedModelRuns loads the written file with the engine's loader and
// checks its logits against a hand computation of the same network.
func TestEncodedModelRuns(t *testing.T) {
	src := tinyCNN()
	data, err := onnx.Encode(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Input != "input" || !reflect.DeepEqual(m.InputShape, []int{-1, 2, 6, 6}) || m.Output != "logits" {
		t.Fatalf("loaded %q %v → %q", m.Input, m.InputShape, m.Output)
	}
	x := tensor.FromF32(seq(2*2*6*6, 1), 2, 2, 6, 6)
	run, err := m.Forward(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := run.Output(0).F32()
	want := reference(src, x.F32(), 2)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: engine %v, reference %v", i, got[i], want[i])
		}
	}
}

// reference computes tinyCNN directly with loops.
func reference(m *onnx.Model, x []float32, n int) []float32 {
	p := m.Graph.Initializers
	w, cb := p["conv.weight"].F32(), p["conv.bias"].F32()
	sc, bb, rm, rv := p["bn.weight"].F32(), p["bn.bias"].F32(), p["bn.running_mean"].F32(), p["bn.running_var"].F32()
	fw, fb := p["fc.weight"].F32(), p["fc.bias"].F32()
	const C, M, H = 2, 4, 6
	var out []float32
	for b := 0; b < n; b++ {
		feat := make([]float64, M)
		for m := 0; m < M; m++ {
			act := make([]float64, H*H)
			for y := 0; y < H; y++ {
				for xx := 0; xx < H; xx++ {
					s := float64(cb[m])
					for c := 0; c < C; c++ {
						for ky := 0; ky < 3; ky++ {
							for kx := 0; kx < 3; kx++ {
								iy, ix := y+ky-1, xx+kx-1
								if iy < 0 || iy >= H || ix < 0 || ix >= H {
									continue
								}
								s += float64(w[((m*C+c)*3+ky)*3+kx]) * float64(x[((b*C+c)*H+iy)*H+ix])
							}
						}
					}
					s = (s-float64(rm[m]))/math.Sqrt(float64(rv[m])+1e-5)*float64(sc[m]) + float64(bb[m])
					act[y*H+xx] = math.Max(s, 0)
				}
			}
			for y := 0; y < H; y += 2 {
				for xx := 0; xx < H; xx += 2 {
					feat[m] += math.Max(math.Max(act[y*H+xx], act[y*H+xx+1]), math.Max(act[(y+1)*H+xx], act[(y+1)*H+xx+1])) / 9
				}
			}
		}
		for k := 0; k < 3; k++ {
			s := float64(fb[k])
			for m := 0; m < M; m++ {
				s += float64(fw[k*M+m]) * feat[m]
			}
			out = append(out, float32(s))
		}
	}
	return out
}
