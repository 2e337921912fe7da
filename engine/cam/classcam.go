package cam

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// CAM (Zhou et al. 2016), the original class activation map: for a network
// that ends in global average pooling followed by a linear classifier,
// y_k = Σ_c W[k,c]·mean_ij(A_cij) + b_k, the map of class k is
//
//	raw_ij = Σ_c W[k,c]·A_cij,
//
// read from the classifier's weights without any gradient. The target
// chooses the weight row: Logit uses W[class]; Contrast W[class] − W[other];
// Weighted Σ_k w_k·W[k]. A Probability target uses its class's logit
// weights, W[class]: softmax is not linear, and CAM explains the logit that
// the probability is made of.
//
// The layer must feed GlobalAveragePool (or ReduceMean over the two spatial
// axes), optionally followed by Flatten/Reshape/Squeeze, then a Gemm, or a
// MatMul with an optional bias Add, whose weight is a constant and whose
// output is the model's output. Since ∂y_k/∂A_cij = W[k,c]/(h·w) there,
// Grad-CAM's weights are CAM's divided by h·w and the two maps coincide.
func init() {
	registerLayer("cam", false, classCAM)
	runsFast("cam")
}

func classCAM(c *LayerContext) ([]float32, []float32, error) {
	w, err := linearHead(c)
	if err != nil {
		return nil, nil, err
	}
	k := c.S.Classes()
	weights := make([]float32, c.N*c.C)
	for b, t := range c.Targets {
		row := weights[b*c.C : (b+1)*c.C]
		add := func(class int, f float32) {
			for ch := range row {
				row[ch] += f * w[class*c.C+ch]
			}
		}
		switch t.Kind {
		case Contrast:
			add(t.Class, 1)
			add(t.Other, -1)
		case Weighted:
			for class := 0; class < k; class++ {
				if t.Weights[class] != 0 {
					add(class, t.Weights[class])
				}
			}
		default: // Logit, Probability
			add(t.Class, 1)
		}
	}
	return c.Combine(weights), weights, nil
}

// passThrough ops change neither values nor their order.
var passThrough = map[string]bool{"Identity": true, "Dropout": true}

// soleConsumer is the one node reading v, ignoring Shape nodes (which read
// only its shape); nil when there are none or several.
func soleConsumer(g *graph.Graph, v string) *graph.Node {
	var only *graph.Node
	for _, n := range g.Consumers(v) {
		if n.OpType == "Shape" {
			continue
		}
		if only != nil {
			return nil
		}
		only = n
	}
	return only
}

// linearHead finds the classifier above a GAP-fed layer and returns its
// weights as classes×C (row k: the weights of class k's logit).
func linearHead(c *LayerContext) ([]float32, error) {
	s, g := c.S, c.S.Model.Graph
	fail := func(why string) error {
		return kind.Errorf(model.ErrBadLayer, "cam: CAM needs the layer to feed global average pooling followed by a linear classifier (%s); layer %q does not: %s. Use gradcam, which generalises CAM to any layer", "GlobalAveragePool → Flatten → Gemm", c.Layer, why)
	}
	// next is the node reading v, past Identity and Dropout, and the value
	// it reads.
	next := func(v string) (*graph.Node, string, error) {
		for {
			n := soleConsumer(g, v)
			if n == nil {
				if len(g.Consumers(v)) == 0 {
					return nil, "", fail(fmt.Sprintf("%q is not read by any node", v))
				}
				return nil, "", fail(fmt.Sprintf("%q is read by several nodes", v))
			}
			if !passThrough[n.OpType] {
				return n, v, nil
			}
			v = n.Outputs[0]
		}
	}
	n, _, err := next(c.Layer)
	if err != nil {
		return nil, err
	}
	// Global average pooling.
	switch n.OpType {
	case "GlobalAveragePool":
	case "ReduceMean":
		if !isSpatialMean(c, s.Run.Value(n.Outputs[0])) {
			return nil, fail(fmt.Sprintf("its ReduceMean %q does not average over the two spatial axes", n.Name))
		}
	default:
		return nil, fail(fmt.Sprintf("it feeds %s node %q", n.OpType, n.Name))
	}
	v := n.Outputs[0]
	// Flatten / Reshape / Squeeze to N×C.
	for {
		if n, v, err = next(v); err != nil {
			return nil, err
		}
		if n.OpType != "Flatten" && n.OpType != "Reshape" && n.OpType != "Squeeze" || n.Inputs[0] != v {
			break
		}
		v = n.Outputs[0]
	}
	if x := s.Run.Value(v); x == nil || !tensor.SameShape(x.Shape(), []int{c.N, c.C}) {
		return nil, fail(fmt.Sprintf("the pooled value %q is not N×C", v))
	}
	// The linear layer.
	k := s.Classes()
	w := make([]float32, k*c.C)
	var out string
	switch op := n.Op.(type) {
	case *ops.Gemm:
		b := g.Consts[n.Inputs[1]]
		if n.Inputs[0] != v || op.TransA || b == nil || b.Rank() != 2 {
			return nil, fail(fmt.Sprintf("Gemm %q does not multiply the pooled features by a constant weight", n.Name))
		}
		rows, cols := b.Shape()[0], b.Shape()[1]
		bf := b.F32()
		if op.TransB && (rows != k || cols != c.C) || !op.TransB && (rows != c.C || cols != k) {
			return nil, fail(fmt.Sprintf("Gemm %q has a %s weight, not %d classes × %d channels", n.Name, tensor.ShapeString(b.Shape()), k, c.C))
		}
		for cls := 0; cls < k; cls++ {
			for ch := 0; ch < c.C; ch++ {
				if op.TransB {
					w[cls*c.C+ch] = op.Alpha * bf[cls*c.C+ch]
				} else {
					w[cls*c.C+ch] = op.Alpha * bf[ch*k+cls]
				}
			}
		}
		out = n.Outputs[0]
	case *ops.MatMul:
		b := g.Consts[n.Inputs[1]]
		if n.Inputs[0] != v || b == nil || !tensor.SameShape(b.Shape(), []int{c.C, k}) || b.DType() != tensor.Float32 {
			return nil, fail(fmt.Sprintf("MatMul %q does not multiply the pooled features by a constant %d×%d weight", n.Name, c.C, k))
		}
		bf := b.F32()
		for cls := 0; cls < k; cls++ {
			for ch := 0; ch < c.C; ch++ {
				w[cls*c.C+ch] = bf[ch*k+cls]
			}
		}
		out = n.Outputs[0]
		// An optional constant bias.
		if out != s.Model.Output {
			if a, in, err := next(out); err == nil && a.OpType == "Add" && len(a.Inputs) == 2 {
				other := a.Inputs[1]
				if other == in {
					other = a.Inputs[0]
				}
				if _, isConst := g.Consts[other]; isConst {
					out = a.Outputs[0]
				}
			}
		}
	default:
		return nil, fail(fmt.Sprintf("the pooled features go to %s node %q, not Gemm or MatMul", n.OpType, n.Name))
	}
	for out != s.Model.Output {
		n := soleConsumer(g, out)
		if n == nil || !passThrough[n.OpType] {
			return nil, fail(fmt.Sprintf("the linear layer's output %q is not the model's output %q", out, s.Model.Output))
		}
		out = n.Outputs[0]
	}
	return w, nil
}

// isSpatialMean reports whether v holds the spatial means of the layer's
// activations, N×C or N×C×1×1.
func isSpatialMean(c *LayerContext, v *tensor.T) bool {
	if v == nil || v.DType() != tensor.Float32 {
		return false
	}
	sh := v.Shape()
	if !tensor.SameShape(sh, []int{c.N, c.C}) && !tensor.SameShape(sh, []int{c.N, c.C, 1, 1}) {
		return false
	}
	mean := spatialMean(c.Act.F32(), c.N*c.C, c.H*c.W)
	for i, m := range mean {
		d := math.Abs(float64(m - v.F32()[i]))
		if d > 1e-4*(1+math.Abs(float64(m))) {
			return false
		}
	}
	return true
}
