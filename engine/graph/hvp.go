package graph

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Tangents is forward mode: the directional derivative, along dir, of every
// value downstream of the value from (from's own tangent is dir). Values
// that do not depend on from are absent (zero tangent). replace is the
// backward hook a matching backward pass would use (it is asked for the
// elementwise ops, whose tangent is their backward pass of the tangent).
func (r *Run) Tangents(from string, dir *tensor.T, replace func(n *Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error)) (map[string]*tensor.T, error) {
	if r.noTape {
		return nil, fmt.Errorf("graph: tangents need a forward pass made without NoTape")
	}
	v := r.Value(from)
	if v == nil {
		return nil, fmt.Errorf("graph: tangents: no value named %q", from)
	}
	if !tensor.SameShape(v.Shape(), dir.Shape()) {
		return nil, fmt.Errorf("graph: tangents: direction has shape %s, %q has %s", tensor.ShapeString(dir.Shape()), from, tensor.ShapeString(v.Shape()))
	}
	tan := map[string]*tensor.T{from: dir}
	g := r.G
	for i, n := range g.Nodes {
		if g.shapeOnly[i] {
			continue
		}
		ins, tin, any := r.nodeTangentInputs(n, tan)
		if !any {
			continue
		}
		outs := make([]*tensor.T, len(n.Outputs))
		for k, o := range n.Outputs {
			if o != "" {
				outs[k] = r.Value(o)
			}
		}
		var tout []*tensor.T
		var err error
		if ops.Diagonal(n.Op) {
			only0 := tin[0] != nil
			for k := 1; k < len(tin); k++ {
				only0 = only0 && tin[k] == nil
			}
			if !only0 {
				return nil, fmt.Errorf("graph: tangents: node %q (%s): no forward-mode rule for a direction in its parameters", n.Name, n.OpType)
			}
			need := make([]bool, len(ins))
			need[0] = true
			gout := make([]*tensor.T, len(outs))
			gout[0] = tin[0]
			handled := false
			if replace != nil {
				tout, handled, err = replace(n, ins, outs, gout, need)
			}
			if err == nil && !handled {
				tout, err = n.Op.Backward(ins, outs, gout, need)
			}
			if err == nil {
				tout = tout[:1]
			}
		} else {
			tout, err = ops.Tangent(n.Op, ins, outs, tin)
		}
		if err != nil {
			return nil, fmt.Errorf("graph: tangents: node %q (%s): %w", n.Name, n.OpType, err)
		}
		for k, o := range n.Outputs {
			if o != "" && k < len(tout) && tout[k] != nil && tout[k].DType() == tensor.Float32 {
				tan[o] = tout[k]
			}
		}
	}
	return tan, nil
}

// HVP is an exact Hessian-vector product, forward over reverse: with φ the
// objective whose gradient with respect to the outputs is seeds, it returns
// (∂²φ/∂w²)·dir for the value w. outHess gives φ's second derivative with
// respect to the outputs applied to their tangents, (∂²φ/∂out²)·t. Then
//
//	H·dir = Jᵀ (∂²φ/∂out²) J·dir + Σ_nodes Jᵀ (the node's own curvature along its input tangents),
//
// computed as one tangent pass, one backward pass for the first-order
// gradients, and one backward pass seeded with both second-order terms.
// Linear and piecewise-linear nodes (convolutions, ReLU, pooling) have no
// curvature of their own.
func (r *Run) HVP(seeds map[string]*tensor.T, outHess func(tangents map[string]*tensor.T) (map[string]*tensor.T, error), w string, dir *tensor.T, opt BackwardOptions) (*tensor.T, error) {
	tan, err := r.Tangents(w, dir, opt.Replace)
	if err != nil {
		return nil, err
	}
	first, err := r.Backward(seeds, BackwardOptions{Wrt: []string{w}, Replace: opt.Replace})
	if err != nil {
		return nil, err
	}
	second, err := outHess(tan)
	if err != nil {
		return nil, err
	}
	add := func(name string, t *tensor.T) {
		if prev, ok := second[name]; ok {
			second[name] = addTensors(prev, t)
		} else {
			second[name] = t
		}
	}
	g := r.G
	for i, n := range g.Nodes {
		if g.shapeOnly[i] {
			continue
		}
		ins, tin, any := r.nodeTangentInputs(n, tan)
		if !any {
			continue
		}
		outs := make([]*tensor.T, len(n.Outputs))
		gout := make([]*tensor.T, len(n.Outputs))
		for k, o := range n.Outputs {
			if o != "" {
				outs[k] = r.Value(o)
				gout[k] = first[o]
			}
		}
		extra, err := ops.SecondOrder(n.Op, ins, outs, gout, tin)
		if err != nil {
			return nil, fmt.Errorf("graph: Hessian-vector product: node %q (%s): %w", n.Name, n.OpType, err)
		}
		for k, e := range extra {
			if e != nil && tin[k] != nil {
				add(n.Inputs[k], e)
			}
		}
	}
	if len(second) == 0 {
		return tensor.New(dir.Shape()...), nil
	}
	res, err := r.Backward(second, BackwardOptions{Wrt: []string{w}, Replace: opt.Replace})
	if err != nil {
		return nil, err
	}
	return res[w], nil
}

// nodeTangentInputs gives a node's input values and the tangents of those
// inputs that have one (nil elsewhere); any is false when none has.
func (r *Run) nodeTangentInputs(n *Node, tan map[string]*tensor.T) (ins, tin []*tensor.T, any bool) {
	tin = make([]*tensor.T, len(n.Inputs))
	ins = make([]*tensor.T, len(n.Inputs))
	for k, in := range n.Inputs {
		if in == "" {
			continue
		}
		ins[k] = r.Value(in)
		if t, ok := tan[in]; ok {
			tin[k], any = t, true
		}
	}
	return ins, tin, any
}
