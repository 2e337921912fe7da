package cam

import (
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Vanilla gradient saliency (Simonyan et al. 2014; Captum's Saliency with
// abs=True) and SmoothGrad (Smilkov et al. 2017; Captum's
// NoiseTunnel(Saliency), nt_type="smoothgrad").
//
//	saliency:   A[b,c,i,j] = |∂y_b / ∂x[b,c,i,j]|
//	smoothgrad: A[b,c,i,j] = 1/S Σ_s |∂y_b / ∂x[b,c,i,j] evaluated at x_b + ε_s|,
//	            ε_s ~ N(0, σ_b²) per element, σ_b = NoiseLevel·(max x_b − min x_b)
//
// y_b is image b's target score. The displayed map is the maximum of A over
// channels, min-max scaled to 0..1 per image:
//
//	map[b,i,j] = minmax_ij( max_c A[b,c,i,j] )
//
// The raw attribution A (N×C×H×W, not normalised) is kept in
// Result.Layers[0]: Layer is the model's input name, Raw holds N·C·H·W
// values, C, H and W its dimensions.
//
// SmoothGrad uses Request.Samples noisy copies of each image (default 25)
// and Request.NoiseLevel (default 0.15; a negative value means no noise, so
// that SmoothGrad reduces to saliency exactly). The noise comes from
// math/rand, one stream per noisy copy seeded from Request.Seed and the
// copy's index (image·Samples + sample), so a result does not depend on the
// batch size. The noisy copies are run Request.BatchSize at a time
// (default: up to 8, fewer for large models, see defaultBatch) through one
// forward and one backward pass.
//
// SmoothGrad is divisible (Request.Part): one piece per noisy copy
// (image·Samples + sample), whose data is |∂y/∂x| at that copy (C·H·W
// values); the pieces are summed in this order, in float64, however they
// were computed.
func init() {
	registerWhole("saliency", saliency)
	registerWhole("smoothgrad", smoothGrad)
	divisible["smoothgrad"] = true
}

// defaultBatch is how many inputs the input-gradient methods and the
// metrics put into one pass when no batch size is given: up to 8, as many
// as keep one pass's recorded values (estimated from the session's own
// forward pass) under 128 MB, so that a large model in a browser does not
// run out of memory. At least 1.
func defaultBatch(s *Session) int {
	var bytes int64
	for _, v := range s.Run.Values {
		bytes += int64(v.Len()) * 4
	}
	perImage := bytes / int64(s.Batch())
	if perImage <= 0 {
		return 8
	}
	return int(max(1, min(8, (128<<20)/perImage)))
}

func saliency(s *Session, req *Request, targets []Target) (*Result, error) {
	grads, dt, err := s.Gradients(targets, []string{s.Model.Input})
	if err != nil {
		return nil, err
	}
	g := grads[s.Model.Input].F32()
	attr := make([]float32, len(g))
	for i, v := range g {
		attr[i] = float32(math.Abs(float64(v)))
	}
	res := inputResult(s, attr, maxOverChannels)
	res.Backward = dt
	return res, nil
}

func smoothGrad(s *Session, req *Request, targets []Target) (*Result, error) {
	nt, err := noisySaliency(s, req, targets, "smoothgrad")
	if err != nil {
		return nil, err
	}
	attr := make([]float32, len(nt.sum))
	for i, v := range nt.sum {
		attr[i] = float32(v / float64(nt.samples))
	}
	res := inputResult(s, attr, maxOverChannels)
	res.Forward, res.Backward = nt.forward, nt.backward
	return res, nil
}

// inputResult wraps an N×C×H×W attribution of the session's input into a
// Result whose maps are display(attr of one image, c, h, w), and keeps the
// attribution in Layers[0].
func inputResult(s *Session, attr []float32, display func(a []float32, c, h, w int) []float32) *Result {
	sh := s.Input.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	res := &Result{Height: h, Width: w, Channels: 1, Maps: make([]float32, 0, n*h*w)}
	for b := 0; b < n; b++ {
		res.Maps = append(res.Maps, display(attr[b*c*h*w:(b+1)*c*h*w], c, h, w)...)
	}
	res.Layers = []LayerResult{{Layer: s.Model.Input, Raw: attr, H: h, W: w, C: c}}
	return res
}

// maxOverChannels is saliency's display map: max_c a[c,i,j], min-max scaled.
func maxOverChannels(a []float32, c, h, w int) []float32 {
	hw := h * w
	out := append([]float32(nil), a[:hw]...)
	for ch := 1; ch < c; ch++ {
		for i, v := range a[ch*hw : (ch+1)*hw] {
			if v > out[i] {
				out[i] = v
			}
		}
	}
	MinMax(out)
	return out
}

// gradBatches computes the gradient of a target score with respect to the
// model's input for many inputs (rows) that are never all held at once:
// fill writes row r's input, target gives its target, and use receives its
// gradient (C×H×W) and its target score. Rows run in order, batch at a
// time, with the session's BackwardReplace.
type gradBatches struct {
	s        *Session
	rows     int
	batch    int
	progress func(done, total int) bool
	fill     func(r int, dst []float32)
	target   func(r int) Target
	use      func(r int, grad []float32, score float32)

	forward, backward time.Duration
}

func (g *gradBatches) run() error {
	bs := g.batch
	if bs <= 0 {
		bs = defaultBatch(g.s)
	}
	bs = g.s.fitBatch(min(bs, g.rows))
	sh := g.s.Input.Shape()
	chw := sh[1] * sh[2] * sh[3]
	m := g.s.Model
	for start := 0; start < g.rows; {
		k := min(bs, g.rows-start)
		x := tensor.New(k, sh[1], sh[2], sh[3])
		for i := 0; i < k; i++ {
			g.fill(start+i, x.F32()[i*chw:(i+1)*chw])
		}
		t0 := time.Now()
		run, err := m.Forward(x, nil)
		if err != nil && k > 1 && start == 0 {
			// Some exported graphs hard-code a batch of one (a Reshape to
			// 1×…): fall back to one input per pass (fill depends on r
			// only, so the rows come out the same).
			return g.retryOne(err)
		}
		if err != nil {
			return err
		}
		out := run.Value(m.Output)
		if out.Len()%k != 0 {
			return fmt.Errorf("cam: output %q has shape %s for a batch of %d", m.Output, tensor.ShapeString(out.Shape()), k)
		}
		nc := out.Len() / k
		seed := tensor.New(out.Shape()...)
		scores := make([]float32, k)
		for i := 0; i < k; i++ {
			t := g.target(start + i)
			logits := out.F32()[i*nc : (i+1)*nc]
			copy(seed.F32()[i*nc:], t.Seed(logits))
			scores[i] = t.Score(logits)
		}
		t1 := time.Now()
		grads, err := run.Backward(map[string]*tensor.T{m.Output: seed}, graph.BackwardOptions{Wrt: []string{m.Input}, Replace: g.s.BackwardReplace})
		if err != nil {
			return err
		}
		g.forward += t1.Sub(t0)
		g.backward += time.Since(t1)
		gx := grads[m.Input].F32()
		for i := 0; i < k; i++ {
			g.use(start+i, gx[i*chw:(i+1)*chw], scores[i])
		}
		start += k
		if g.progress != nil && !g.progress(start, g.rows) {
			return ErrCancelled
		}
	}
	return nil
}

// retryOne reruns everything one input per pass after a batched forward
// pass failed; if that fails too, both errors are reported.
func (g *gradBatches) retryOne(first error) error {
	one := *g
	one.batch = 1
	if err := one.run(); err != nil {
		return fmt.Errorf("%w (and one image per pass: %w)", first, err)
	}
	g.forward, g.backward = one.forward, one.backward
	return nil
}

// rowRand is the random stream for row r of a computation seeded with seed:
// independent of how rows are batched.
func rowRand(seed int64, r int) *rand.Rand {
	z := uint64(seed) + uint64(r+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return rand.New(rand.NewSource(int64(z ^ z>>31)))
}
