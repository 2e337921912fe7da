package cam

import (
	"math"
	"sort"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// pathTie is a float tie at one of Integrated Gradients' path points: a
// ReLU input within 1e-5 of zero (To < 0), where float32 rounding decides
// the side, or a max-pool window whose maximum (at the engine's argmax)
// and another of its values (input index To) are within 1e-6 of each
// other, where rounding decides which one receives the gradient. Flipping
// it sends the gradient the other way.
type pathTie struct {
	Node  string
	Index int // the ReLU's element, or the pool's output position
	To    int
}

// flipPathTies is a backward hook that flips the given ties.
func flipPathTies(ties []pathTie) func(n *graph.Node, in, out, gy []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
	if len(ties) == 0 {
		return nil
	}
	var relu []oracle.Tie
	moves := map[string][]pathTie{}
	for _, t := range ties {
		if t.To < 0 {
			relu = append(relu, oracle.Tie{Node: t.Node, Index: t.Index})
		} else {
			moves[t.Node] = append(moves[t.Node], t)
		}
	}
	flipRelu := oracle.FlipTies(relu)
	return func(n *graph.Node, in, out, gy []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
		if mv, ok := moves[n.Name]; ok {
			grads, err := n.Op.Backward(in, out, gy, need)
			if err != nil || grads[0] == nil {
				return grads, true, err
			}
			taps, err := n.Op.(*ops.MaxPool).WindowTaps(in[0].Shape())
			if err != nil {
				return nil, true, err
			}
			x, dx, dy := in[0].F32(), grads[0].F32(), gy[0].F32()
			for _, m := range mv {
				from := argmaxFirst(x, taps[m.Index])
				dx[from] -= dy[m.Index]
				dx[m.To] += dy[m.Index]
			}
			return grads, true, nil
		}
		if flipRelu != nil {
			return flipRelu(n, in, out, gy, need)
		}
		return nil, false, nil
	}
}

// argmaxFirst is the first index among taps where x is largest.
func argmaxFirst(x []float32, taps []int) int {
	best := taps[0]
	for _, i := range taps[1:] {
		if x[i] > x[best] {
			best = i
		}
	}
	return best
}

// igTies finds the float ties (pathTie) at Integrated Gradients' path
// points whose flipping brings the attribution closer to want (in the sum
// of squares), greedily among the 24 ranked best by their first-order gain
// in each of up to three rounds, and returns the attribution with them
// flipped and how many were flipped. As oracle.ResolveTies does for one
// gradient: a difference that is not such a tie stays a difference.
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
	kept := map[int][]pathTie{}
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
	for round := 0; round < 3; round++ {
		cands := rankTies(t, m, x, shape, alphas, weights, seed, forward, kept, cur, want)
		t.Logf("round %d: %d tie candidates on the path", round, len(cands))
		accepted := 0
		for _, c := range cands[:min(len(cands), 24)] {
			if c.score <= 0 {
				break
			}
			try := append(append([]pathTie{}, kept[c.k]...), c.tie)
			run := forward(c.k)
			g, err := run.Backward(map[string]*tensor.T{m.Output: seed(run)}, graph.BackwardOptions{Wrt: []string{m.Input}, Replace: flipPathTies(try)})
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
				t.Logf("path point %d (α %.4f): flipping %s[%d]→%d (distance %.2g) brings the difference to %.3g",
					c.k, alphas[c.k], c.tie.Node, c.tie.Index, c.tie.To, c.z, oracle.MaxRelDiff(next, want))
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
	tie   pathTie
	z     float64 // the ReLU's input, or the gap between the two pool values
	score float64 // first-order reduction of ‖want − A‖² its flip brings
}

// rankTies lists the ties at every path point (with the ties kept so far
// flipped), best first. Flipping a ReLU tie i at path point k changes A by
// ±w_k·g_i·x ⊙ ∂z_i/∂x (g_i the gradient reaching the ReLU's output, + when
// it was off); moving a pool output's gradient g_o from input p to q
// changes it by w_k·g_o·x ⊙ (∂z_q/∂x − ∂z_p/∂x). The first-order gain is
// then the same expression with J·v in place of the Jacobian, v = (want −
// A) ⊙ x: a directional derivative of the nodes' inputs, taken by finite
// difference (one more forward pass per path point).
func rankTies(t *testing.T, m *model.Model, x []float32, shape []int, alphas, weights []float64,
	seed func(*graph.Run) *tensor.T, forward func(int) *graph.Run, kept map[int][]pathTie, cur, want []float32) []tieCand {
	v := make([]float32, len(x))
	var vmax float64
	for i := range v {
		v[i] = (want[i] - cur[i]) * x[i]
		vmax = math.Max(vmax, math.Abs(float64(v[i])))
	}
	const eps, near, nearPool = 1e-3, 1e-5, 1e-6
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
		g, err := run.Backward(map[string]*tensor.T{m.Output: seed(run)}, graph.BackwardOptions{Wrt: []string{m.Input}, Replace: flipPathTies(kept[k])})
		if err != nil {
			t.Fatal(err)
		}
		// A ReLU element or a pool output is flipped at most once.
		flipped := map[pathTie]bool{}
		for _, tie := range kept[k] {
			flipped[pathTie{tie.Node, tie.Index, -1}] = true
		}
		for _, n := range run.G.Nodes {
			if g[n.Outputs[0]] == nil {
				continue
			}
			gy := g[n.Outputs[0]].F32()
			z, z1 := run.Value(n.Inputs[0]).F32(), moved.Value(n.Inputs[0]).F32()
			jv := func(i int) float64 { return float64(z1[i]-z[i]) / (eps / vmax) }
			switch n.OpType {
			case "Relu":
				for i, zi := range z {
					tie := pathTie{n.Name, i, -1}
					if math.Abs(float64(zi)) >= near || gy[i] == 0 || flipped[tie] {
						continue
					}
					sign := 1.0
					if zi > 0 {
						sign = -1
					}
					cands = append(cands, tieCand{k, tie, float64(zi), sign * weights[k] * float64(gy[i]) * jv(i)})
				}
			case "MaxPool":
				taps, err := n.Op.(*ops.MaxPool).WindowTaps(run.Value(n.Inputs[0]).Shape())
				if err != nil {
					t.Fatal(err)
				}
				for o, win := range taps {
					if gy[o] == 0 || flipped[pathTie{n.Name, o, -1}] {
						continue
					}
					p := argmaxFirst(z, win)
					for _, q := range win {
						if gap := float64(z[p] - z[q]); q != p && gap < nearPool {
							if s := weights[k] * float64(gy[o]) * (jv(q) - jv(p)); s > 0 {
								cands = append(cands, tieCand{k, pathTie{n.Name, o, q}, gap, s})
							}
						}
					}
				}
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	return cands
}
