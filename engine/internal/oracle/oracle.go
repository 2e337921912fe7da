// Package oracle reads ../shared/oracle, the reference outputs that
// PyTorch and pytorch-grad-cam computed for models with known weights, and
// compares the engine's numbers with them. Only tests import it.
package oracle

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Dir is the oracle folder: ../shared/oracle beside the repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	// engine/internal/oracle/oracle.go → repo root is three folders up.
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	return filepath.Join(root, "..", "shared", "oracle")
}

// Manifest is the part of manifest.json the tests use.
type Manifest struct {
	TargetClass int `json:"target_class"`
	Layers      map[string]struct {
		OnnxTensor string `json:"onnx_tensor"`
	} `json:"layers"`
	Arrays map[string]struct {
		File  string `json:"file"`
		Shape []int  `json:"shape"`
	} `json:"arrays"`
	Methods map[string]struct {
		Class      string         `json:"class"`
		CallKwargs map[string]any `json:"call_kwargs"`
		Layer      string         `json:"layer"`
		// Degenerate says why a map is float rounding noise in the
		// reference (not to be compared); Fragile why a method's numbers
		// depend on summation order more than the usual tolerance allows.
		Degenerate string `json:"degenerate"`
		Fragile    string `json:"fragile"`
	} `json:"methods"`
}

// Model is one oracle folder.
type Model struct {
	Name string
	Dir  string
	Manifest
}

// Load reads an oracle model's manifest; a missing oracle is an error (the
// tests must not pass without it).
func Load(name string) (*Model, error) {
	dir := filepath.Join(Dir(), name)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("oracle missing (tests read ../shared/oracle in place): %w", err)
	}
	m := &Model{Name: name, Dir: dir}
	if err := json.Unmarshal(data, &m.Manifest); err != nil {
		return nil, err
	}
	return m, nil
}

// Has reports whether the oracle has an array.
func (m *Model) Has(key string) bool {
	_, err := os.Stat(filepath.Join(m.Dir, "raw", key+".f32"))
	return err == nil
}

// F32 reads raw/KEY.f32.
func (m *Model) F32(key string) ([]float32, error) {
	b, err := os.ReadFile(filepath.Join(m.Dir, "raw", key+".f32"))
	if err != nil {
		return nil, fmt.Errorf("oracle array missing: %w", err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// MaxRelDiff is max|got − want| / max|want|.
func MaxRelDiff(got, want []float32) float64 {
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if scale == 0 {
		return worst
	}
	return worst / scale
}

// MaxAbsDiff is max|got − want|.
func MaxAbsDiff(got, want []float32) float64 {
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	return worst
}

// Tie is one ReLU input so close to zero (|x| < 1e-5) that float32
// rounding decides its side: our convolutions sum in another order than
// PyTorch's, so the two may disagree on it.
type Tie struct {
	Node  string
	Index int
}

// FlipTies is a backward hook that flips the ReLU masks at the given ties.
func FlipTies(ties []Tie) func(n *graph.Node, in, out, gy []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
	if len(ties) == 0 {
		return nil
	}
	byNode := map[string][]int{}
	for _, t := range ties {
		byNode[t.Node] = append(byNode[t.Node], t.Index)
	}
	return func(n *graph.Node, in, out, gy []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
		idx, ok := byNode[n.Name]
		if !ok {
			return nil, false, nil
		}
		gx := tensor.New(in[0].Shape()...)
		for i, x := range in[0].F32() {
			if x > 0 {
				gx.F32()[i] = gy[0].F32()[i]
			}
		}
		for _, i := range idx {
			if in[0].F32()[i] > 0 {
				gx.F32()[i] = 0
			} else {
				gx.F32()[i] = gy[0].F32()[i]
			}
		}
		return []*tensor.T{gx}, true, nil
	}
}

// ResolveTies finds the ReLU ties downstream of value whose flipping brings
// d seed·output / d value closer to want, greedily, one at a time. It
// returns the ties kept and the resulting gradient. A mismatch that is not
// such a tie stays a mismatch.
func ResolveTies(run *graph.Run, output string, seed *tensor.T, value string, want []float32) ([]Tie, []float32, error) {
	grad := func(ties []Tie) ([]float32, error) {
		g, err := run.Backward(map[string]*tensor.T{output: seed}, graph.BackwardOptions{Wrt: []string{value}, Replace: FlipTies(ties)})
		if err != nil {
			return nil, err
		}
		return g[value].F32(), nil
	}
	below := map[string]bool{value: true}
	var cands []Tie
	for _, n := range run.G.Nodes {
		downstream := false
		for _, in := range n.Inputs {
			downstream = downstream || below[in]
		}
		if !downstream {
			continue
		}
		for _, o := range n.Outputs {
			below[o] = true
		}
		if n.OpType != "Relu" {
			continue
		}
		for i, x := range run.Value(n.Inputs[0]).F32() {
			if math.Abs(float64(x)) < 1e-5 {
				cands = append(cands, Tie{n.Name, i})
			}
		}
	}
	best, err := grad(nil)
	if err != nil {
		return nil, nil, err
	}
	bestErr := MaxRelDiff(best, want)
	var kept []Tie
	for _, c := range cands {
		if bestErr <= 1e-6 {
			break
		}
		try := append(append([]Tie{}, kept...), c)
		g, err := grad(try)
		if err != nil {
			return nil, nil, err
		}
		if e := MaxRelDiff(g, want); e < bestErr {
			kept, best, bestErr = try, g, e
		}
	}
	return kept, best, nil
}
