package onnx

// Model-local functions (FunctionProto, IR version 8): a node whose op type
// and domain name a function of the model is a call, and stands for the
// function's nodes. Exporters that keep a network's module structure (one
// function per module) write them. Decode expands every call, so that the
// graph holds only operators.

import (
	"fmt"
	"strconv"
)

// Function is a decoded FunctionProto.
type Function struct {
	// Name and Domain identify the function: a node with this op type in
	// this domain calls it.
	Name, Domain string
	// Inputs and Outputs are the formal parameters, in order.
	Inputs, Outputs []string
	// AttrNames are the attributes a call may set (without defaults);
	// Defaults holds those declared with a default value.
	AttrNames []string
	Defaults  *Attributes
	// Nodes are the body, in topological order.
	Nodes []*Node
}

// FunctionProto field numbers.
const (
	funcName        = 1
	funcInput       = 4
	funcOutput      = 5
	funcAttribute   = 6
	funcNode        = 7
	funcOpsetImport = 9
	funcDomain      = 10
	funcAttrProto   = 11
)

// function decodes the k-th FunctionProto of a model.
func (d *decoder) function(m span, k int) (*Function, error) {
	where := "function #" + strconv.Itoa(k)
	fn := &Function{Defaults: &Attributes{m: map[string]*attribute{}}}
	var defaults []span
	err := d.fields(m, where, func(f *field) error {
		var err error
		var s string
		switch f.num {
		case funcName:
			fn.Name, err = d.str(f, where)
		case funcDomain:
			fn.Domain, err = d.str(f, where)
		case funcInput:
			s, err = d.str(f, where)
			fn.Inputs = append(fn.Inputs, s)
		case funcOutput:
			s, err = d.str(f, where)
			fn.Outputs = append(fn.Outputs, s)
		case funcAttribute:
			s, err = d.str(f, where)
			fn.AttrNames = append(fn.AttrNames, s)
		case funcNode:
			var sp span
			if sp, err = d.msg(f, where); err != nil {
				return err
			}
			var n *Node
			if n, err = d.node(sp, len(fn.Nodes)); err == nil {
				fn.Nodes = append(fn.Nodes, n)
			}
		case funcAttrProto:
			var sp span
			sp, err = d.msg(f, where)
			defaults = append(defaults, sp)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if fn.Name == "" {
		return nil, fmt.Errorf("onnx: function #%d has no name", k)
	}
	label := func() string { return fmt.Sprintf("function %q", fn.Name) }
	for j, s := range defaults {
		name, at, err := d.attribute(s, where+" attribute #"+strconv.Itoa(j), label)
		if err != nil {
			return nil, err
		}
		fn.Defaults.set(name, at)
	}
	return fn, nil
}

// maxInlinedNodes bounds the nodes that expanding function calls may
// produce (a few bytes of nested calls can otherwise ask for billions).
const maxInlinedNodes = 1 << 20

// inlineFunctions replaces every call of one of fns in g by the
// function's nodes: its values renamed apart (the call's node name, "/",
// the body's name), its formal inputs and outputs bound to the call's, and
// attributes that refer to the function's (ref_attr_name) given the call's
// value or the function's default. Calls inside functions are expanded
// too; a function that calls itself is an error.
func inlineFunctions(g *Graph, fns []*Function) error {
	if len(fns) == 0 {
		return nil
	}
	byKey := map[[2]string]*Function{}
	for _, fn := range fns {
		key := [2]string{normDomain(fn.Domain), fn.Name}
		if _, dup := byKey[key]; dup {
			return fmt.Errorf("onnx: function %q of domain %q is defined twice", fn.Name, fn.Domain)
		}
		byKey[key] = fn
	}
	in := &inliner{fns: byKey, active: map[*Function]bool{}}
	nodes, err := in.expand(g.Nodes)
	if err != nil {
		return err
	}
	g.Nodes = nodes
	return nil
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

type inliner struct {
	fns    map[[2]string]*Function
	active map[*Function]bool // calls being expanded (recursion check)
	count  int
	calls  int
}

func (in *inliner) expand(nodes []*Node) ([]*Node, error) {
	var out []*Node
	for k, n := range nodes {
		fn := in.fns[[2]string{normDomain(n.Domain), n.OpType}]
		if fn == nil {
			out = append(out, n)
			if in.count++; in.count > maxInlinedNodes {
				return nil, fmt.Errorf("onnx: expanding function calls gives more than %d nodes", maxInlinedNodes)
			}
			continue
		}
		if in.active[fn] {
			return nil, fmt.Errorf("onnx: function %q calls itself", fn.Name)
		}
		body, err := in.call(n, fn, k)
		if err != nil {
			return nil, err
		}
		in.active[fn] = true
		body, err = in.expand(body)
		delete(in.active, fn)
		if err != nil {
			return nil, err
		}
		out = append(out, body...)
	}
	return out, nil
}

// call instantiates fn's body for the call node n.
func (in *inliner) call(n *Node, fn *Function, k int) ([]*Node, error) {
	callName := n.Name
	if callName == "" {
		callName = fmt.Sprintf("%s_%d", n.OpType, k)
	}
	in.calls++
	scope := fmt.Sprintf("%s#%d/", callName, in.calls)
	if len(n.Inputs) > len(fn.Inputs) || len(n.Outputs) > len(fn.Outputs) {
		return nil, fmt.Errorf("onnx: node %q calls function %q with %d inputs and %d outputs; it has %d and %d",
			callName, fn.Name, len(n.Inputs), len(n.Outputs), len(fn.Inputs), len(fn.Outputs))
	}
	bind := map[string]string{}
	for i, p := range fn.Inputs {
		bind[p] = ""
		if i < len(n.Inputs) {
			bind[p] = n.Inputs[i]
		}
	}
	for i, p := range fn.Outputs {
		bind[p] = ""
		if i < len(n.Outputs) {
			bind[p] = n.Outputs[i]
		}
	}
	rename := func(v string) string {
		if v == "" {
			return ""
		}
		if b, ok := bind[v]; ok {
			return b
		}
		return scope + v
	}
	body := make([]*Node, 0, len(fn.Nodes))
	for j, b := range fn.Nodes {
		name := b.Name
		if name == "" {
			name = fmt.Sprintf("%s_%d", b.OpType, j)
		}
		nb := &Node{Name: scope + name, OpType: b.OpType, Domain: b.Domain, Attrs: &Attributes{m: map[string]*attribute{}}}
		for _, v := range b.Inputs {
			nb.Inputs = append(nb.Inputs, rename(v))
		}
		for _, v := range b.Outputs {
			nb.Outputs = append(nb.Outputs, rename(v))
		}
		for _, an := range b.Attrs.order {
			at := b.Attrs.m[an]
			if at.ref == "" {
				nb.Attrs.set(an, at)
				continue
			}
			// An attribute that refers to the function's: the call's value,
			// else the default, else none.
			src := n.Attrs.get(at.ref)
			if src == nil {
				src = fn.Defaults.get(at.ref)
			}
			if src != nil {
				v := *src
				v.ref = ""
				nb.Attrs.set(an, &v)
			}
		}
		body = append(body, nb)
	}
	return body, nil
}
