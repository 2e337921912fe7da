package cam

import (
	"math"
	"sort"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// igTies finds the ReLU ties (inputs within 1e-5 of zero, where float32
// rounding decides the side) at Integrated Gradients' path points whose
// flipping brings the attribution closer to want (in the sum of squares),
// greedily among the 12 ranked best by their first-order gain, and returns
// the attribution with them flipped and how many were flipped. As
// oracle.ResolveTies does for one gradient: a difference that is not such
// a tie stays a difference.
func igTies(t *testing.T, m *model.Model, x []float32, shape []int, class, steps int, want []float32) ([]float32, int) {
	t.Helper()
	alphas, weights := gaussLegendre01(steps)
	forward := func(k int) *graph.Run {
		xk := make([]float32, len(x))
		a := float32(alphas[k])
		for i, v := range x {
			xk[i] = a * v
		}
		run, err := m.Forward(tensor.FromF32(xk, shape...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	seed := func(run *graph.Run) *tensor.T {
		s := tensor.New(run.Value(m.Output).Shape()...)
		s.F32()[class] = 1
		return s
	}
	// The attribution without flips, and each path point's gradients.
	grads := make([][]float32, steps)
	cur := make([]float32, len(x))
	for k := 0; k < steps; k++ {
		run := forward(k)
		g, err := run.Backward(map[string]*tensor.T{m.Output: seed(run)}, graph.BackwardOptions{Wrt: []string{m.Input}})
		if err != nil {
			t.Fatal(err)
		}
		grads[k] = append([]float32(nil), g[m.Input].F32()...)
		for i, v := range grads[k] {
			cur[i] += float32(weights[k]) * v * x[i]
		}
	}
	kept := map[int][]oracle.Tie{}
	sq := func(a []float32) float64 {
		var s float64
		for i, v := range a {
			d := float64(v - want[i])
			s += d * d
		}
		return s
	}
	best := sq(cur)
	flips := 0
	for round := 0; round < 1; round++ {
		cands := rankTies(t, m, x, shape, alphas, weights, seed, forward, kept, cur, want)
		t.Logf("round %d: %d tie candidates on the path", round, len(cands))
		accepted := 0
		for _, c := range cands[:min(len(cands), 12)] {
			if c.score <= 0 {
				break
			}
			try := append(append([]oracle.Tie{}, kept[c.k]...), c.tie)
			run := forward(c.k)
			g, err := run.Backward(map[string]*tensor.T{m.Output: seed(run)}, graph.BackwardOptions{Wrt: []string{m.Input}, Replace: oracle.FlipTies(try)})
			if err != nil {
				t.Fatal(err)
			}
			gk := g[m.Input].F32()
			next := append([]float32(nil), cur...)
			for i, v := range gk {
				next[i] += float32(weights[c.k]) * (v - grads[c.k][i]) * x[i]
			}
			if d := sq(next); d < best {
				best, cur, kept[c.k], flips = d, next, try, flips+1
				accepted++
				grads[c.k] = append([]float32(nil), gk...)
				t.Logf("path point %d (α %.4f): flipping %s[%d] (input %.2g) brings the difference to %.3g",
					c.k, alphas[c.k], c.tie.Node, c.tie.Index, c.z, oracle.MaxRelDiff(next, want))
			}
		}
		if accepted == 0 {
			break
		}
	}
	return cur, flips
}

type tieCand struct {
	k     int
	tie   oracle.Tie
	z     float64 // the ReLU's input
	score float64 // first-order reduction of ‖want − A‖² its flip brings
}

// rankTies lists the ReLU inputs within 1e-5 of zero at every path point
// (with the ties kept so far flipped), best first. Flipping tie i at path
// point k changes A by ±w_k·g_i·x ⊙ ∂z_i/∂x (g_i the gradient reaching the
// ReLU's output, + when it was off), so its first-order gain is
// ±w_k·g_i·(J·v)_i with v = (want − A) ⊙ x: a directional derivative of
// the ReLU inputs, taken by finite difference (one more forward pass per
// path point).
func rankTies(t *testing.T, m *model.Model, x []float32, shape []int, alphas, weights []float64,
	seed func(*graph.Run) *tensor.T, forward func(int) *graph.Run, kept map[int][]oracle.Tie, cur, want []float32) []tieCand {
	v := make([]float32, len(x))
	var vmax float64
	for i := range v {
		v[i] = (want[i] - cur[i]) * x[i]
		vmax = math.Max(vmax, math.Abs(float64(v[i])))
	}
	const eps = 1e-3
	var cands []tieCand
	for k := range alphas {
		a := float32(alphas[k])
		xk := make([]float32, len(x))
		for i := range x {
			xk[i] = a*x[i] + float32(eps/vmax)*v[i]
		}
		moved, err := m.Forward(tensor.FromF32(xk, shape...), nil)
		if err != nil {
			t.Fatal(err)
		}
		run := forward(k)
		g, err := run.Backward(map[string]*tensor.T{m.Output: seed(run)}, graph.BackwardOptions{Wrt: []string{m.Input}, Replace: oracle.FlipTies(kept[k])})
		if err != nil {
			t.Fatal(err)
		}
		flipped := map[oracle.Tie]bool{}
		for _, tie := range kept[k] {
			flipped[tie] = true
		}
		for _, n := range run.G.Nodes {
			if n.OpType != "Relu" || g[n.Outputs[0]] == nil {
				continue
			}
			gy, z1 := g[n.Outputs[0]].F32(), moved.Value(n.Inputs[0]).F32()
			for i, z := range run.Value(n.Inputs[0]).F32() {
				tie := oracle.Tie{Node: n.Name, Index: i}
				if math.Abs(float64(z)) >= 1e-5 || gy[i] == 0 || flipped[tie] {
					continue
				}
				sign := 1.0
				if z > 0 {
					sign = -1
				}
				jv := float64(z1[i]-z) / (eps / vmax)
				cands = append(cands, tieCand{k, tie, float64(z), sign * weights[k] * float64(gy[i]) * jv})
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	return cands
}
