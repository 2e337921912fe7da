package graph

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// BackwardOptions adjusts a backward pass.
type BackwardOptions struct {
	// Wrt names the values whose gradients are wanted: the input, any
	// intermediate value, or parameters. Only the part of the graph between
	// the seeds and these values is differentiated.
	Wrt []string
	// Replace, when set, is asked first for every node's backward; if it
	// returns handled == true its gradients are used instead of the op's.
	Replace func(n *Node, in, out, gradOut []*tensor.T, need []bool) (grads []*tensor.T, handled bool, err error)
}

// Backward propagates seed gradients (d objective / d value, one tensor per
// seeded value, shaped like it) back through the recorded forward pass. The
// result maps every value named in Wrt to its gradient (zeros where the
// objective does not depend on it), plus every intermediate gradient that
// was computed on the way.
func (r *Run) Backward(seeds map[string]*tensor.T, opt BackwardOptions) (map[string]*tensor.T, error) {
	if r.noTape {
		return nil, fmt.Errorf("graph: backward needs a forward pass made without NoTape")
	}
	g := r.G
	grads := map[string]*tensor.T{}
	for name, s := range seeds {
		v := r.Value(name)
		if v == nil {
			return nil, fmt.Errorf("graph: backward: no value named %q", name)
		}
		if !tensor.SameShape(v.Shape(), s.Shape()) {
			return nil, fmt.Errorf("graph: backward: seed for %q has shape %s, the value %s", name, tensor.ShapeString(s.Shape()), tensor.ShapeString(v.Shape()))
		}
		grads[name] = s
	}
	// dep: values that depend on (or are) a value in Wrt, so carry gradient
	// towards it.
	dep := map[string]bool{}
	for _, w := range opt.Wrt {
		if r.Value(w) == nil {
			return nil, fmt.Errorf("graph: backward: no value named %q", w)
		}
		dep[w] = true
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" && dep[in] {
				for _, o := range n.Outputs {
					if o != "" {
						dep[o] = true
					}
				}
				break
			}
		}
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if g.shapeOnly[i] {
			continue
		}
		gradOut := make([]*tensor.T, len(n.Outputs))
		any := false
		for k, o := range n.Outputs {
			if o == "" {
				continue
			}
			if gr, ok := grads[o]; ok {
				gradOut[k] = gr
				any = true
			}
		}
		if !any {
			continue
		}
		need := make([]bool, len(n.Inputs))
		wanted := false
		ins := make([]*tensor.T, len(n.Inputs))
		for k, in := range n.Inputs {
			if in == "" {
				continue
			}
			ins[k] = r.Value(in)
			if dep[in] && ins[k] != nil && ins[k].DType() == tensor.Float32 {
				need[k] = true
				wanted = true
			}
		}
		if !wanted {
			continue
		}
		outs := make([]*tensor.T, len(n.Outputs))
		for k, o := range n.Outputs {
			if o != "" {
				outs[k] = r.Value(o)
			}
		}
		var gin []*tensor.T
		handled := false
		var err error
		if opt.Replace != nil {
			gin, handled, err = opt.Replace(n, ins, outs, gradOut, need)
		}
		if err == nil && !handled {
			gin, err = n.Op.Backward(ins, outs, gradOut, need)
		}
		if err != nil {
			return nil, fmt.Errorf("graph: backward of node %q (%s): %w", n.Name, n.OpType, err)
		}
		for k, in := range n.Inputs {
			if !need[k] || k >= len(gin) || gin[k] == nil {
				continue
			}
			if !tensor.SameShape(gin[k].Shape(), ins[k].Shape()) {
				return nil, fmt.Errorf("graph: backward of node %q (%s): gradient for %q has shape %s, the value %s", n.Name, n.OpType, in, tensor.ShapeString(gin[k].Shape()), tensor.ShapeString(ins[k].Shape()))
			}
			if prev, ok := grads[in]; ok {
				grads[in] = addTensors(prev, gin[k])
			} else {
				grads[in] = gin[k]
			}
		}
	}
	for _, w := range opt.Wrt {
		if _, ok := grads[w]; !ok {
			v := r.Value(w)
			grads[w] = tensor.New(v.Shape()...)
		}
	}
	return grads, nil
}

// addTensors returns a+b in a new tensor (gradients returned by ops may
// alias each other, so accumulation never writes in place).
func addTensors(a, b *tensor.T) *tensor.T {
	out := tensor.New(a.Shape()...)
	o, x, y := out.F32(), a.F32(), b.F32()
	for i := range o {
		o[i] = x[i] + y[i]
	}
	return out
}
