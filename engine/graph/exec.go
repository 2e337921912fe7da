package graph

import (
	"fmt"
	"strconv"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Options adjusts a forward pass. The zero value keeps every value (a full
// tape for Backward) and changes nothing.
type Options struct {
	// Override, when set, sees every node output as soon as it is computed
	// and may return a replacement (same shape), or v itself to keep it.
	Override func(value string, v *tensor.T) *tensor.T
	// NoTape frees each intermediate value once no later node reads it,
	// except graph outputs and the values in Keep. Backward is then not
	// possible; use it for forward-only batches (ScoreCAM, evaluation).
	NoTape bool
	Keep   []string
}

// Run is one forward pass: every value it computed, by name.
type Run struct {
	G      *Graph
	Values map[string]*tensor.T
	noTape bool
}

// Value returns a computed value, a constant, or nil.
func (r *Run) Value(name string) *tensor.T {
	if v, ok := r.Values[name]; ok {
		return v
	}
	return r.G.Consts[name]
}

// Output returns the graph's k-th output.
func (r *Run) Output(k int) *tensor.T { return r.Value(r.G.Outputs[k]) }

// CheckInputs validates the tensors given for the graph's inputs.
func (g *Graph) CheckInputs(inputs map[string]*tensor.T) error {
	for _, in := range g.Inputs {
		v, ok := inputs[in.Name]
		if !ok {
			return fmt.Errorf("graph: no value given for input %q", in.Name)
		}
		if in.Shape == nil {
			continue
		}
		bad := len(v.Shape()) != len(in.Shape)
		for k := 0; !bad && k < len(in.Shape); k++ {
			bad = in.Shape[k] >= 0 && in.Shape[k] != v.Shape()[k] && !(k == 0 && in.Shape[k] == 1)
		}
		if bad {
			return fmt.Errorf("graph: input %q has shape %s, the model expects %s", in.Name, tensor.ShapeString(v.Shape()), shapeWithDyn(in.Shape))
		}
	}
	return nil
}

func shapeWithDyn(s []int) string {
	out := ""
	for k, d := range s {
		if k > 0 {
			out += "×"
		}
		if d < 0 {
			out += "N"
		} else {
			out += strconv.Itoa(d)
		}
	}
	return out
}

// Forward runs the graph on the given inputs (by input name).
func (g *Graph) Forward(inputs map[string]*tensor.T, opt *Options) (*Run, error) {
	if err := g.CheckInputs(inputs); err != nil {
		return nil, err
	}
	if opt == nil {
		opt = &Options{}
	}
	r := &Run{G: g, Values: make(map[string]*tensor.T, len(g.Nodes)+len(inputs)), noTape: opt.NoTape}
	for k, v := range inputs {
		r.Values[k] = v
	}
	return r, r.exec(nil, opt)
}

// Rerun recomputes a finished forward pass with some values replaced: only
// the nodes downstream of the replaced values run again, everything else is
// shared with r. AblationCAM and other perturbation methods use it to re-run
// just the head of the network above the target layer.
func (r *Run) Rerun(replace map[string]*tensor.T, opt *Options) (*Run, error) {
	if r.noTape {
		return nil, fmt.Errorf("graph: Rerun needs a forward pass made without NoTape")
	}
	if opt == nil {
		opt = &Options{}
	}
	g := r.G
	dirty := map[string]bool{}
	for name, v := range replace {
		old := r.Value(name)
		if old == nil {
			return nil, fmt.Errorf("graph: Rerun: no value named %q", name)
		}
		if !tensor.SameShape(old.Shape(), v.Shape()) {
			return nil, fmt.Errorf("graph: Rerun: %q has shape %s, replacement %s", name, tensor.ShapeString(old.Shape()), tensor.ShapeString(v.Shape()))
		}
		dirty[name] = true
	}
	run := make([]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if dirty[in] {
				run[i] = true
			}
		}
		if run[i] {
			for _, o := range n.Outputs {
				if _, replaced := replace[o]; !replaced {
					dirty[o] = true
				}
			}
		}
	}
	nr := &Run{G: g, Values: make(map[string]*tensor.T, len(r.Values)), noTape: opt.NoTape}
	for k, v := range r.Values {
		if !dirty[k] {
			nr.Values[k] = v
		}
	}
	for k, v := range replace {
		nr.Values[k] = v
	}
	return nr, nr.exec(run, opt)
}

// exec runs the nodes (all of them, or those marked in only).
func (r *Run) exec(only []bool, opt *Options) error {
	g := r.G
	key := shapeKey(r.Values, g.Inputs)
	useFold := key == g.foldKey && g.shapeFolded != nil
	// Values derived from input shapes only are recorded by a full pass and
	// reused by later passes with the same input shapes. A partial pass
	// (Rerun) with other shapes computes them without recording them.
	record := !useFold && only == nil
	if record {
		g.foldKey = key
		g.shapeFolded = map[string]*tensor.T{}
	}
	var lastUse map[string]int
	var bufs *runBufs
	if opt.NoTape && opt.Override == nil {
		bufs = &runBufs{free: &g.free, owned: map[*float32][]float32{}}
	}
	if opt.NoTape {
		lastUse = map[string]int{}
		for i, n := range g.Nodes {
			for _, in := range n.Inputs {
				lastUse[in] = i
			}
		}
		for _, o := range g.Outputs {
			lastUse[o] = len(g.Nodes)
		}
		for _, k := range opt.Keep {
			lastUse[k] = len(g.Nodes)
		}
	}
	ins := make([]*tensor.T, 0, 8)
	for i, n := range g.Nodes {
		if only != nil && !only[i] {
			continue
		}
		if g.shapeOnly[i] && useFold {
			for _, o := range n.Outputs {
				if v, ok := g.shapeFolded[o]; ok {
					r.Values[o] = v
				}
			}
			continue
		}
		ins = ins[:0]
		for _, in := range n.Inputs {
			if in == "" {
				ins = append(ins, nil)
				continue
			}
			v := r.Value(in)
			if v == nil {
				return fmt.Errorf("graph: node %q (%s): input %q was not computed", n.Name, n.OpType, in)
			}
			ins = append(ins, v)
		}
		var outs []*tensor.T
		var err error
		if bf, ok := n.Op.(ops.BufForwarder); ok && bufs != nil && !g.shapeOnly[i] {
			outs, err = bf.ForwardBufs(ins, bufs)
		} else {
			outs, err = n.Op.Forward(ins)
		}
		if err != nil {
			return fmt.Errorf("graph: node %q (%s): %w", n.Name, n.OpType, err)
		}
		if len(outs) < countNonEmpty(n.Outputs) {
			return fmt.Errorf("graph: node %q (%s): %d outputs computed, the model names %d", n.Name, n.OpType, len(outs), len(n.Outputs))
		}
		for k, o := range n.Outputs {
			if o == "" || k >= len(outs) {
				continue
			}
			v := outs[k]
			if opt.Override != nil {
				if nv := opt.Override(o, v); nv != nil {
					v = nv
				}
			}
			r.Values[o] = v
			if g.shapeOnly[i] && record {
				g.shapeFolded[o] = v
			}
		}
		if opt.NoTape {
			for _, in := range n.Inputs {
				if in != "" && lastUse[in] == i {
					if _, isInput := findInput(g.Inputs, in); !isInput {
						v := r.Values[in]
						delete(r.Values, in)
						if bufs != nil {
							bufs.release(v, r.Values, g.shapeFolded)
						}
					}
				}
			}
		}
	}
	return nil
}

func countNonEmpty(names []string) int {
	c := 0
	for _, n := range names {
		if n != "" {
			c++
		}
	}
	return c
}

func findInput(inputs []Input, name string) (Input, bool) {
	for _, in := range inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}

// InferShapes gives the shape of every value for the given input shapes
// without running the ops, from the ops' shape rules (ops.ShapeInferer)
// and the constants. ok is false when that is not possible: an op without
// rules, a rule that fails (running the graph then gives the error), or
// values computed from the input's shape at run time (Shape → … chains).
func (g *Graph) InferShapes(inputs map[string][]int) (shapes map[string][]int, ok bool) {
	shapes = make(map[string][]int, len(g.Nodes)+len(inputs))
	for _, in := range g.Inputs {
		s, have := inputs[in.Name]
		if !have {
			return nil, false
		}
		shapes[in.Name] = s
	}
	var ins [][]int
	var consts []*tensor.T
	for i, n := range g.Nodes {
		si, can := n.Op.(ops.ShapeInferer)
		if !can || (i < len(g.shapeOnly) && g.shapeOnly[i]) {
			return nil, false
		}
		ins, consts = ins[:0], consts[:0]
		for _, in := range n.Inputs {
			var s []int
			var c *tensor.T
			switch {
			case in == "":
			case g.Consts[in] != nil:
				c = g.Consts[in]
				s = c.Shape()
			default:
				var have bool
				if s, have = shapes[in]; !have {
					return nil, false
				}
			}
			ins, consts = append(ins, s), append(consts, c)
		}
		out, err := si.OutShapes(ins, consts)
		if err != nil {
			return nil, false
		}
		for k, o := range n.Outputs {
			if k < len(out) && o != "" {
				shapes[o] = out[k]
			}
		}
	}
	return shapes, true
}
