// Package inspect looks inside a network: its convolution kernels, any
// layer's feature maps and gradients for an image, how Grad-CAM builds its
// heatmap from them, how a pooling layer routes gradients, which filters are
// rotated copies of each other, and what input pattern a channel responds to
// most (activation maximisation).
//
// Every function returns numbers first and pictures second, so that the CLI
// and the page draw the same things and tests check the numbers.
package inspect

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// ConvLayer is one convolution of a model with its weights.
type ConvLayer struct {
	Node   string    // node name
	Output string    // output value name
	Weight *tensor.T // O × I/group × kh × kw
	Group  int
}

// Filters is the number of output channels (filters).
func (c *ConvLayer) Filters() int { return c.Weight.Shape()[0] }

// ConvLayers lists the model's convolutions whose weights are constants, in
// graph order.
func ConvLayers(m *model.Model) []ConvLayer {
	var out []ConvLayer
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" {
			continue // (no error to format for every other node)
		}
		if c, err := convOf(m, n); err == nil {
			out = append(out, *c)
		}
	}
	return out
}

// FindConv finds a convolution by its output value name or node name. A
// name that is not a convolution gets an error listing those that are.
func FindConv(m *model.Model, layer string) (*ConvLayer, error) {
	v, err := m.ResolveLayer(layer)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	n := m.Graph.Producer(v)
	if n != nil && n.OpType == "Conv" {
		return convOf(m, n)
	}
	var names []string
	for _, c := range ConvLayers(m) {
		names = append(names, c.Output)
	}
	what := "a model input"
	if n != nil {
		what = "a " + n.OpType
	}
	return nil, kind.Errorf(model.ErrBadLayer, "inspect: layer %q is %s, not a convolution; the convolutions are: %v", layer, what, names)
}

func convOf(m *model.Model, n *graph.Node) (*ConvLayer, error) {
	if n.OpType != "Conv" || len(n.Inputs) < 2 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: node %q is not a convolution", n.Name)
	}
	w := m.Graph.Consts[n.Inputs[1]]
	if w == nil {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: convolution %q has weights computed at run time, not stored in the model", n.Name)
	}
	if w.Rank() != 4 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: convolution %q has %d-D weights; only 2-D convolutions are drawn", n.Name, w.Rank()-2)
	}
	group := 1
	if op, ok := n.Op.(*ops.Conv); ok && op.Group > 0 {
		group = op.Group
	}
	return &ConvLayer{Node: n.Name, Output: n.Outputs[0], Weight: w, Group: group}, nil
}
