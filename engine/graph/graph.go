// Package graph executes a network: nodes in topological order over named
// values, a forward pass that keeps what the backward pass needs (the tape),
// and reverse mode from any seed gradient to any named value.
//
// Methods hook in at two points: Options.Override replaces a value as soon as
// it is computed (AblationCAM zeroes channels that way) and
// BackwardOptions.Replace replaces one node's backward (guided backprop
// replaces ReLU's).
package graph

import (
	"fmt"
	"sort"

	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Node is one operator application.
type Node struct {
	Name    string // unique; the ONNX node name, or one made up from the op and index
	OpType  string
	Op      ops.Op
	Inputs  []string // "" marks an optional input left out
	Outputs []string
}

// Input is a graph input with its declared shape (-1 for a dynamic dim).
type Input struct {
	Name  string
	Shape []int
}

// Graph is an executable network. Build one with New.
type Graph struct {
	Nodes   []*Node // topologically sorted
	Inputs  []Input
	Outputs []string
	// Consts holds initializers and values folded at load time. Params names
	// the float initializers that are trainable weights.
	Consts map[string]*tensor.T
	Params []string

	producer  map[string]int   // value name → index of the node producing it
	consumers map[string][]int // value name → nodes reading it
	byName    map[string]int   // node name → index

	// shapeFolded caches values that depend only on the graph's input shapes
	// (Shape → Gather → Unsqueeze → Concat chains): computed at the first
	// forward pass for a given input shape and reused after that.
	foldKey     string
	shapeFolded map[string]*tensor.T
	shapeOnly   []bool // per node: all inputs are constants or shape-derived

	free freeList // buffers recycled by passes without a tape (bufs.go)
}

// New checks a graph, sorts its nodes topologically and folds the nodes
// whose inputs are all constants.
func New(nodes []*Node, inputs []Input, outputs []string, consts map[string]*tensor.T, params []string) (*Graph, error) {
	g := &Graph{Inputs: inputs, Outputs: outputs, Consts: consts, Params: params}
	if g.Consts == nil {
		g.Consts = map[string]*tensor.T{}
	}
	avail := map[string]bool{}
	for _, in := range inputs {
		avail[in.Name] = true
	}
	for name := range g.Consts {
		avail[name] = true
	}
	// Kahn's algorithm keeping the file order among ready nodes.
	produced := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if j, dup := produced[o]; dup {
				return nil, fmt.Errorf("graph: value %q is produced by both node %q and node %q", o, nodes[j].Name, n.Name)
			}
			produced[o] = i
		}
	}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in != "" && !avail[in] {
				if _, ok := produced[in]; !ok {
					return nil, fmt.Errorf("graph: node %q (%s): input %q is neither a graph input, an initializer nor the output of any node", n.Name, n.OpType, in)
				}
			}
		}
	}
	done := make([]bool, len(nodes))
	for len(g.Nodes) < len(nodes) {
		progress := false
		for i, n := range nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				if in != "" && !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[i] = true
			progress = true
			g.Nodes = append(g.Nodes, n)
			for _, o := range n.Outputs {
				if o != "" {
					avail[o] = true
				}
			}
		}
		if !progress {
			for i, n := range nodes {
				if !done[i] {
					return nil, fmt.Errorf("graph: node %q (%s) is part of a cycle", n.Name, n.OpType)
				}
			}
		}
	}
	for _, o := range outputs {
		if !avail[o] {
			return nil, fmt.Errorf("graph: output %q is never computed", o)
		}
	}
	if err := g.foldConstants(); err != nil {
		return nil, err
	}
	g.index()
	return g, nil
}

func (g *Graph) index() {
	g.producer = map[string]int{}
	g.consumers = map[string][]int{}
	g.byName = map[string]int{}
	for i, n := range g.Nodes {
		g.byName[n.Name] = i
		for _, o := range n.Outputs {
			if o != "" {
				g.producer[o] = i
			}
		}
		for _, in := range n.Inputs {
			if in != "" {
				g.consumers[in] = append(g.consumers[in], i)
			}
		}
	}
	// Shape-only nodes: all inputs are constants or outputs of Shape nodes
	// or of other shape-only nodes.
	g.shapeOnly = make([]bool, len(g.Nodes))
	derived := map[string]bool{}
	for i, n := range g.Nodes {
		ok := n.OpType == "Shape"
		if !ok {
			ok = len(n.Inputs) > 0
			for _, in := range n.Inputs {
				if in == "" {
					continue
				}
				if _, c := g.Consts[in]; !c && !derived[in] {
					ok = false
					break
				}
			}
		}
		if ok {
			g.shapeOnly[i] = true
			for _, o := range n.Outputs {
				derived[o] = true
			}
		}
	}
	g.foldKey = ""
	g.shapeFolded = nil
}

// foldConstants evaluates nodes whose inputs are all constants (Constant
// nodes, arithmetic on initializers) once, at load time, and removes them.
func (g *Graph) foldConstants() error {
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		allConst := true
		ins := make([]*tensor.T, len(n.Inputs))
		for k, in := range n.Inputs {
			if in == "" {
				continue
			}
			c, ok := g.Consts[in]
			if !ok {
				allConst = false
				break
			}
			ins[k] = c
		}
		if !allConst || n.OpType == "RandomNormal" || n.OpType == "RandomUniform" {
			kept = append(kept, n)
			continue
		}
		if err := checkFoldedSize(n, ins); err != nil {
			return err
		}
		outs, err := n.Op.Forward(ins)
		if err != nil {
			return fmt.Errorf("graph: node %q (%s): %w", n.Name, n.OpType, err)
		}
		for k, o := range n.Outputs {
			if o != "" && k < len(outs) {
				g.Consts[o] = outs[k]
			}
		}
	}
	g.Nodes = kept
	return nil
}

// MaxFoldedElements bounds a constant that foldConstants computes: a few
// bytes of a model file (a ConstantOfShape, a Pad, a Gather or a
// broadcast of small constants) can otherwise ask for terabytes when the
// model is loaded.
const MaxFoldedElements = 1 << 26

// checkFoldedSize refuses to fold a node whose outputs, by the op's shape
// rules, would exceed MaxFoldedElements (an op without rules, or whose
// rules fail, is left to Forward: its output is no larger than its
// inputs).
func checkFoldedSize(n *Node, ins []*tensor.T) error {
	si, ok := n.Op.(ops.ShapeInferer)
	if !ok {
		return nil
	}
	shapes := make([][]int, len(ins))
	for k, c := range ins {
		if c != nil {
			shapes[k] = c.Shape()
		}
	}
	outs, err := si.OutShapes(shapes, ins)
	if err != nil {
		return nil
	}
	for _, s := range outs {
		size := 1
		for _, d := range s {
			if d < 0 || d > 0 && size > MaxFoldedElements/d {
				return fmt.Errorf("graph: node %q (%s): its constant output of shape %v exceeds the limit of %d elements", n.Name, n.OpType, s, MaxFoldedElements)
			}
			size *= d
		}
		if size > MaxFoldedElements {
			return fmt.Errorf("graph: node %q (%s): its constant output of shape %v exceeds the limit of %d elements", n.Name, n.OpType, s, MaxFoldedElements)
		}
	}
	return nil
}

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node {
	if i, ok := g.byName[name]; ok {
		return g.Nodes[i]
	}
	return nil
}

// Producer returns the node that computes a value, or nil for inputs and
// constants.
func (g *Graph) Producer(value string) *Node {
	if i, ok := g.producer[value]; ok {
		return g.Nodes[i]
	}
	return nil
}

// Consumers returns the nodes that read a value.
func (g *Graph) Consumers(value string) []*Node {
	var out []*Node
	for _, i := range g.consumers[value] {
		out = append(out, g.Nodes[i])
	}
	return out
}

// HasValue reports whether name is a graph input, a constant or a node output.
func (g *Graph) HasValue(name string) bool {
	if _, ok := g.producer[name]; ok {
		return true
	}
	if _, ok := g.Consts[name]; ok {
		return true
	}
	for _, in := range g.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// ResolveValue turns a user's layer name into a value name: either a value
// name as it stands, or a node name (its first output).
func (g *Graph) ResolveValue(name string) (string, error) {
	if _, ok := g.producer[name]; ok {
		return name, nil
	}
	for _, in := range g.Inputs {
		if in.Name == name {
			return name, nil
		}
	}
	if n := g.Node(name); n != nil && len(n.Outputs) > 0 {
		return n.Outputs[0], nil
	}
	return "", fmt.Errorf("graph: no layer or value named %q", name)
}

// ParamCount is the number of elements in the trainable parameters.
func (g *Graph) ParamCount() int {
	total := 0
	for _, p := range g.Params {
		if c, ok := g.Consts[p]; ok {
			total += c.Len()
		}
	}
	return total
}

func shapeKey(vals map[string]*tensor.T, inputs []Input) string {
	key := ""
	for _, in := range inputs {
		if v, ok := vals[in.Name]; ok {
			key += in.Name + " " + tensor.ShapeString(v.Shape()) + ";"
		}
	}
	return key
}

// sortedKeys is used for stable error messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
