// Package testmodels builds small ONNX classifiers with chosen weights for
// tests (convolutions with planted rotated filters, average or max
// pooling) and checks pictures. Only tests import it.
package testmodels

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Planted is a pair of filters where B = Transform(A).
type Planted struct {
	A, B      int
	Transform string
}

// transform applies a dihedral transform to a k×k plane, with the same
// conventions the rotation finder documents (rot90 = numpy.rot90,
// counter-clockwise), written independently of it.
func transform(name string, a []float32, k int) []float32 {
	at := func(i, j int) float32 { return a[i*k+j] }
	out := make([]float32, k*k)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			var v float32
			switch name {
			case "rot90": // numpy.rot90: out[i][j] = a[j][k-1-i]
				v = at(j, k-1-i)
			case "rot180":
				v = at(k-1-i, k-1-j)
			case "rot270":
				v = at(k-1-j, i)
			case "flip_h":
				v = at(i, k-1-j)
			case "flip_v":
				v = at(k-1-i, j)
			case "transpose":
				v = at(j, i)
			case "antitranspose":
				v = at(k-1-j, k-1-i)
			default:
				panic("testmodels: unknown transform " + name)
			}
			out[i*k+j] = v
		}
	}
	return out
}

// RotatedFilters returns O×I×k×k random weights in which the given
// transforms are planted, each on its own pair of filters (A, A+1, …), the
// rest random, plus one plain duplicate pair (which is not a rotation).
// noise adds Gaussian noise of that relative size to each planted copy.
func RotatedFilters(o, in, k int, transforms []string, noise float64, seed uint64) (*tensor.T, []Planted) {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, o*in*k*k)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	n := in * k * k
	var planted []Planted
	next := 0
	for _, t := range transforms {
		a, b := next, next+1
		next += 2
		if b >= o {
			panic(fmt.Sprintf("testmodels: %d filters are too few for %d planted pairs and a duplicate", o, len(transforms)))
		}
		for c := 0; c < in; c++ {
			src := w[a*n+c*k*k : a*n+(c+1)*k*k]
			copy(w[b*n+c*k*k:], transform(t, src, k))
		}
		for i := b * n; i < (b+1)*n; i++ {
			w[i] += float32(noise * r.NormFloat64())
		}
		planted = append(planted, Planted{A: a, B: b, Transform: t})
	}
	// a duplicate: identical filters are not a rotation
	if next+1 < o {
		copy(w[(next+1)*n:(next+2)*n], w[next*n:(next+1)*n])
	}
	return tensor.FromF32(w, o, in, k, k), planted
}

// SmallCNN is Conv(weights, padding k/2) → Relu → pool 2×2 (pool is
// "MaxPool" or "AveragePool") → GlobalAveragePool → Reshape → Gemm to
// classes, for an input of 1×I×size×size, as ONNX bytes. Node and value
// names follow torch.onnx.export: /conv/Conv, /conv/Conv_output_0, …
func SmallCNN(conv *tensor.T, pool string, size, classes int, seed uint64) ([]byte, error) {
	sh := conv.Shape()
	o, in, k := sh[0], sh[1], sh[2]
	r := rand.New(rand.NewPCG(seed, 2))
	rnd := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(s * r.NormFloat64())
		}
		return v
	}
	init := map[string]*tensor.T{
		"conv.weight": conv,
		"conv.bias":   tensor.FromF32(rnd(o, 0.1), o),
		"fc.weight":   tensor.FromF32(rnd(classes*o, 1), classes, o),
		"fc.bias":     tensor.FromF32(rnd(classes, 0.1), classes),
		"shape":       tensor.FromI64([]int64{-1, int64(o)}, 2),
	}
	order := []string{"conv.weight", "conv.bias", "fc.weight", "fc.bias", "shape"}
	p := int64(k / 2)
	nodes := []*onnx.Node{
		{Name: "/conv/Conv", OpType: "Conv", Inputs: []string{"input", "conv.weight", "conv.bias"}, Outputs: []string{"/conv/Conv_output_0"},
			Attrs: onnx.NewAttributes().SetInts("kernel_shape", int64(k), int64(k)).SetInts("pads", p, p, p, p).SetInts("strides", 1, 1)},
		{Name: "/relu/Relu", OpType: "Relu", Inputs: []string{"/conv/Conv_output_0"}, Outputs: []string{"/relu/Relu_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/pool/" + pool, OpType: pool, Inputs: []string{"/relu/Relu_output_0"}, Outputs: []string{"/pool/" + pool + "_output_0"},
			Attrs: onnx.NewAttributes().SetInts("kernel_shape", 2, 2).SetInts("strides", 2, 2)},
		{Name: "/gap/GlobalAveragePool", OpType: "GlobalAveragePool", Inputs: []string{"/pool/" + pool + "_output_0"}, Outputs: []string{"/gap/GlobalAveragePool_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/flatten/Reshape", OpType: "Reshape", Inputs: []string{"/gap/GlobalAveragePool_output_0", "shape"}, Outputs: []string{"/flatten/Reshape_output_0"}, Attrs: onnx.NewAttributes()},
		{Name: "/fc/Gemm", OpType: "Gemm", Inputs: []string{"/flatten/Reshape_output_0", "fc.weight", "fc.bias"}, Outputs: []string{"logits"},
			Attrs: onnx.NewAttributes().SetFloat("alpha", 1).SetFloat("beta", 1).SetInt("transB", 1)},
	}
	m := &onnx.Model{
		IRVersion: 8, Opset: 13, OpsetImports: map[string]int64{"": 13}, Producer: "cnnlens-test",
		Graph: &onnx.Graph{
			Name: "small", Nodes: nodes, Initializers: init, InitOrder: order,
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("input", []int64{-1, int64(in), int64(size), int64(size)}, "N")},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo("logits", []int64{-1, int64(classes)})},
		},
	}
	return onnx.Encode(m)
}
