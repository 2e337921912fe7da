package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// A current exporter's forms: the Reduce ops' axes, Pad's axes and
// Resize's sizes and axes as inputs (opset 18), Split's num_outputs (18),
// Gelu (20), GroupNormalization with per-channel scale (21),
// RMSNormalization (23) and Swish (24), in a model of opset 25. Each
// output is checked against its definition.
func TestCurrentOpsetForms(t *testing.T) {
	x := make([]float32, 4*6*6)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 2
	}
	at := onnx.NewAttributes
	init := map[string]*tensor.T{
		"axes23": tensor.FromI64([]int64{2, 3}, 2),
		"axes1":  tensor.FromI64([]int64{1}, 1),
		"pads":   tensor.FromI64([]int64{1, 1, 1, 1}, 4),
		"sizes":  tensor.FromI64([]int64{12, 12}, 2),
		"ones":   tensor.FromF32([]float32{1, 1, 1, 1}, 4),
		"zeros":  tensor.FromF32([]float32{0, 0, 0, 0}, 4),
		"scale3": tensor.FromF32(ones3(4*6*6), 4, 6, 6),
	}
	nodes := []*onnx.Node{
		{OpType: "ReduceMean", Inputs: []string{"x", "axes23"}, Outputs: []string{"mean"}, Attrs: at()},
		{OpType: "ReduceMax", Inputs: []string{"x", "axes1"}, Outputs: []string{"max"}, Attrs: at().SetInt("keepdims", 0)},
		{OpType: "Split", Inputs: []string{"x"}, Outputs: []string{"s0", "s1"}, Attrs: at().SetInt("axis", 1).SetInt("num_outputs", 2)},
		{OpType: "Pad", Inputs: []string{"x", "pads", "", "axes23"}, Outputs: []string{"pad"}, Attrs: at()},
		{OpType: "Resize", Inputs: []string{"x", "", "", "sizes"}, Outputs: []string{"resize"}, Attrs: at().SetInts("axes", 2, 3)},
		{OpType: "Gelu", Inputs: []string{"x"}, Outputs: []string{"gelu"}, Attrs: at()},
		{OpType: "GroupNormalization", Inputs: []string{"x", "ones", "zeros"}, Outputs: []string{"gn"}, Attrs: at().SetInt("num_groups", 2)},
		{OpType: "RMSNormalization", Inputs: []string{"x", "scale3"}, Outputs: []string{"rms"}, Attrs: at().SetInt("axis", 1)},
		{OpType: "Swish", Inputs: []string{"x"}, Outputs: []string{"swish"}, Attrs: at()},
	}
	outs := []string{"mean", "max", "s0", "s1", "pad", "resize", "gelu", "gn", "rms", "swish"}
	var vis []onnx.ValueInfo
	for _, o := range outs {
		vis = append(vis, onnx.ValueInfo{Name: o, ElemType: onnx.TypeFloat, Kind: "tensor"})
	}
	pm := &onnx.Model{Opset: 25, Graph: &onnx.Graph{
		Nodes: nodes, Initializers: init,
		Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 4, 6, 6})},
		Outputs: vis,
	}}
	data, err := onnx.Encode(pm)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	run, err := m.Forward(tensor.FromF32(x, 1, 4, 6, 6), nil)
	if err != nil {
		t.Fatal(err)
	}
	X := func(c, h, w int) float32 { return x[(c*6+h)*6+w] }
	get := func(name string, shape ...int) []float32 {
		v := run.Value(name)
		if v == nil || !slices.Equal(v.Shape(), shape) {
			t.Fatalf("%s: %v, want shape %v", name, v, shape)
		}
		return v.F32()
	}
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("%s = %g, want %g", what, got, want)
		}
	}
	mean, mx := get("mean", 1, 4, 1, 1), get("max", 1, 6, 6)
	for c := 0; c < 4; c++ {
		var s float64
		for i := 0; i < 36; i++ {
			s += float64(x[c*36+i])
		}
		near("ReduceMean", float64(mean[c]), s/36)
	}
	for i := 0; i < 36; i++ {
		want := max(x[i], x[36+i], x[72+i], x[108+i])
		near("ReduceMax", float64(mx[i]), float64(want))
	}
	if s0, s1 := get("s0", 1, 2, 6, 6), get("s1", 1, 2, 6, 6); !slices.Equal(s0, x[:72]) || !slices.Equal(s1, x[72:]) {
		t.Errorf("Split num_outputs: halves differ from the input")
	}
	pad := get("pad", 1, 4, 8, 8)
	res := get("resize", 1, 4, 12, 12)
	gelu := get("gelu", 1, 4, 6, 6)
	for c := 0; c < 4; c++ {
		for h := 0; h < 8; h++ {
			for w := 0; w < 8; w++ {
				want := float32(0)
				if h > 0 && h < 7 && w > 0 && w < 7 {
					want = X(c, h-1, w-1)
				}
				near("Pad", float64(pad[(c*8+h)*8+w]), float64(want))
			}
		}
		for h := 0; h < 12; h++ {
			for w := 0; w < 12; w++ {
				near("Resize nearest ×2", float64(res[(c*12+h)*12+w]), float64(X(c, h/2, w/2)))
			}
		}
	}
	for i, v := range x {
		f := float64(v)
		near("Gelu", float64(gelu[i]), f*0.5*(1+math.Erf(f/math.Sqrt2)))
	}
	var q float64
	for _, v := range x {
		q += float64(v) * float64(v)
	}
	rms := math.Sqrt(q/float64(len(x)) + 1e-5)
	for i, v := range get("rms", 1, 4, 6, 6) {
		near("RMSNormalization", float64(v), float64(x[i])/rms)
	}
	for i, v := range get("swish", 1, 4, 6, 6) {
		f := float64(x[i])
		near("Swish", float64(v), f/(1+math.Exp(-f)))
	}
	gn := get("gn", 1, 4, 6, 6)
	for g := 0; g < 2; g++ {
		var s, q, xs, xq float64
		for i, v := range gn[g*72 : (g+1)*72] {
			s += float64(v)
			q += float64(v) * float64(v)
			u := float64(x[g*72+i])
			xs += u
			xq += u * u
		}
		v := xq/72 - (xs/72)*(xs/72) // the group's variance σ²
		near("GroupNormalization mean", s/72, 0)
		near("GroupNormalization variance", q/72, v/(v+1e-5))
	}
}

func ones3(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// An opset newer than the engine knows is refused, naming both.
func TestNewerOpsetRefused(t *testing.T) {
	pm := &onnx.Model{Opset: maxOpset + 1, Graph: &onnx.Graph{
		Nodes:   []*onnx.Node{{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: onnx.NewAttributes()}},
		Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 1, 2, 2})},
		Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("y", []int64{1, 1, 2, 2})},
	}}
	data, err := onnx.Encode(pm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(data); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("opset %d is newer than the engine knows (up to %d)", maxOpset+1, maxOpset)) {
		t.Errorf("opset %d: %v", maxOpset+1, err)
	}
}

// A quantized model in the QDQ form (activations quantized to uint8 and
// back, weights stored as int8 and dequantized) computes the fake-quantized
// network, and gradients reach its input through the straight-through
// estimator.
func TestQDQModel(t *testing.T) {
	at := onnx.NewAttributes
	w := tensor.FromI64([]int64{3, -2, 1, 0, -1, 2, 4, -3, 1}, 1, 1, 3, 3)
	init := map[string]*tensor.T{
		"xs": tensor.FromF32([]float32{0.05}), "xz": tensor.FromI64([]int64{128}),
		"w": w, "ws": tensor.FromF32([]float32{0.1}), "wz": tensor.FromI64([]int64{0}),
	}
	pm := &onnx.Model{Opset: 13, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{
			{OpType: "QuantizeLinear", Inputs: []string{"x", "xs", "xz"}, Outputs: []string{"xq"}, Attrs: at()},
			{OpType: "DequantizeLinear", Inputs: []string{"xq", "xs", "xz"}, Outputs: []string{"xd"}, Attrs: at()},
			{OpType: "DequantizeLinear", Inputs: []string{"w", "ws", "wz"}, Outputs: []string{"wd"}, Attrs: at()},
			{OpType: "Conv", Inputs: []string{"xd", "wd"}, Outputs: []string{"y"}, Attrs: at()},
		},
		Initializers: init, InitOrder: []string{"xs", "xz", "w", "ws", "wz"},
		Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("x", []int64{1, 1, 4, 4})},
		Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("y", []int64{1, 1, 2, 2})},
	}}
	// The zero points' types: xz uint8, wz int8, as a quantizer writes them.
	data, err := onnx.Encode(pm)
	if err != nil {
		t.Fatal(err)
	}
	data = retypeInitializers(t, data, map[string]int32{"xz": onnx.TypeUint8, "wz": onnx.TypeInt8, "w": onnx.TypeInt8})
	m, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, 1, 4, 4)
	for i := range x.F32() {
		x.F32()[i] = float32(i)*0.73 - 5 // some values beyond uint8's range around zero point 128
	}
	run, err := m.Forward(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: fake-quantize x, then a plain 3×3 convolution with w·0.1.
	fq := func(v float32) float64 {
		q := math.RoundToEven(float64(v/0.05)) + 128
		q = math.Max(0, math.Min(255, q))
		return (q - 128) * float64(float32(0.05))
	}
	y := run.Value("y").F32()
	for oy := 0; oy < 2; oy++ {
		for ox := 0; ox < 2; ox++ {
			var s float64
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					s += fq(x.F32()[(oy+ky)*4+ox+kx]) * float64(w.I64()[ky*3+kx]) * float64(float32(0.1))
				}
			}
			if math.Abs(float64(y[oy*2+ox])-s) > 1e-5 {
				t.Errorf("y[%d,%d] = %g, want %g", oy, ox, y[oy*2+ox], s)
			}
		}
	}
	seed := tensor.New(1, 1, 2, 2)
	seed.F32()[0] = 1
	grads, err := run.Backward(map[string]*tensor.T{"y": seed}, graph.BackwardOptions{Wrt: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	// Inside the range the gradient is the weight (scale·(1/scale)·w·0.1).
	g := grads["x"].F32()
	if d := math.Abs(float64(g[5]) - float64(float32(0.1))*float64(w.I64()[4])); d > 1e-5 {
		t.Errorf("∂y/∂x[1,1] = %g, want %g", g[5], 0.1*float64(w.I64()[4]))
	}
}

// retypeInitializers rewrites the data type of the named int64
// initializers of an encoded model (Encode writes INT64), so that a test
// can give a model int8 and uint8 tensors.
func retypeInitializers(t *testing.T, data []byte, types map[string]int32) []byte {
	t.Helper()
	pm, err := onnx.Decode(data, onnx.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range types {
		pm.Graph.InitTypes[name] = typ
	}
	out, err := onnx.Encode(pm)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
