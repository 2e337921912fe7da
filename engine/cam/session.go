package cam

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Session is one model applied to one input batch. Its forward pass runs
// once, when the session is made; activations of every layer and gradients
// for each target are kept, so that switching method, layer or class does
// not run the forward pass again.
type Session struct {
	Model *model.Model
	Input *tensor.T // N×C×H×W, as given to the model
	Run   *graph.Run

	// BackwardReplace, when set, is passed to every backward pass this
	// session makes (tests use it; methods that need their own backward,
	// like guided backprop, make their own passes).
	BackwardReplace func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error)

	ForwardTime time.Duration
	grads       map[string]*tensor.T // gradient cache, keyed by targets and value
	gradKeys    []string             // its keys, oldest first (see gradCacheMax)
	gradBytes   int

	// Tier is the precision tier its forward pass ran at (ops.Tier).
	Tier ops.Tier
	// winograd: the forward pass may have used Winograd convolutions;
	// fastDiffers: some of them compute other bits at ops.TierFast than at
	// ops.TierReference. tiers holds the same input's session at each tier,
	// made when first asked for (AtTier), shared by all of them.
	winograd    bool
	fastDiffers bool
	tiers       *[3]*Session

	largerBatch *bool // see fitBatch; nil until asked
}

// NewSession runs the model's forward pass on x and keeps it, at the
// precision tier in force (ops.CurrentTier: ops.TierReference unless the
// caller runs under ops.WithTier).
func NewSession(m *model.Model, x *tensor.T) (*Session, error) {
	if x.Rank() != 4 {
		return nil, fmt.Errorf("cam: input must be N×C×H×W, got %s", tensor.ShapeString(x.Shape()))
	}
	start := time.Now()
	wg, fd := ops.WinogradUses(), ops.FastTierDiffers()
	tier := ops.CurrentTier()
	run, err := m.Forward(x, nil)
	if err != nil {
		return nil, err
	}
	s := &Session{Model: m, Input: x, Run: run, ForwardTime: time.Since(start), grads: map[string]*tensor.T{},
		Tier: tier, winograd: ops.WinogradUses() != wg, fastDiffers: ops.FastTierDiffers() != fd, tiers: new([3]*Session)}
	s.tiers[tier] = s
	if out := s.Output(); out.Len()%s.Batch() != 0 || out.Len() == 0 {
		return nil, fmt.Errorf("cam: output %q has shape %s, not one row of class scores per image", m.Output, tensor.ShapeString(out.Shape()))
	}
	return s, nil
}

// NewSessionTier runs the model's forward pass on x at a precision tier:
// the tier the method to be computed first needs (MethodTier), so that its
// input is not forward-passed twice.
func NewSessionTier(m *model.Model, x *tensor.T, tier ops.Tier) (*Session, error) {
	var s *Session
	err := ops.WithTier(tier, func() error {
		var err error
		s, err = NewSession(m, x)
		return err
	})
	return s, err
}

// AtTier returns the session of the same input with its forward pass at a
// precision tier: the session itself, or one whose pass gives the same
// bits, or a second session, made once per input and tier (each tier's
// session then knows the others).
func (s *Session) AtTier(tier ops.Tier) (*Session, error) {
	if tier < 0 || int(tier) >= len(s.tiers) {
		return nil, fmt.Errorf("cam: unknown precision tier %d", int(tier))
	}
	if t := s.tiers[tier]; t != nil {
		return t, nil
	}
	same := false
	switch {
	case tier == ops.TierExact:
		same = !s.winograd // no Winograd convolution: im2col's bits
	case s.Tier != ops.TierExact:
		same = !s.fastDiffers // reference and fast take the same paths
	}
	if same {
		s.tiers[tier] = s
		return s, nil
	}
	t, err := NewSessionTier(s.Model, s.Input, tier)
	if err != nil {
		return nil, err
	}
	t.BackwardReplace = s.BackwardReplace
	t.tiers = s.tiers
	s.tiers[tier] = t
	return t, nil
}

// Exact returns the session with its forward pass computed by im2col
// convolutions only (ops.WithIm2col): the session itself when its forward
// pass used no Winograd convolution, else a second session, made once. For
// methods built from differences of nearly equal scores (AblationCAM),
// which must run under ops.WithIm2col too.
func (s *Session) Exact() (*Session, error) { return s.AtTier(ops.TierExact) }

// fitBatch is the number of images per forward pass to use for bs wanted:
// bs, unless the model declares a fixed batch and does not run on a larger
// one (torch.onnx.export without dynamic axes bakes the batch into a
// transformer's reshapes), when it is the declared batch. Whether it runs
// is learnt once per session, from the shape rules or else by running the
// model on a batch of zeros one larger.
func (s *Session) fitBatch(bs int) int {
	d := s.Model.InputShape
	if len(d) == 0 || d[0] <= 0 || bs <= d[0] {
		return bs
	}
	if s.largerBatch == nil {
		shape := append([]int{d[0] + 1}, s.Input.Shape()[1:]...)
		_, ok := s.Model.Graph.InferShapes(map[string][]int{s.Model.Input: shape})
		if !ok {
			_, err := s.Model.Forward(tensor.New(shape...), &graph.Options{NoTape: true})
			ok = err == nil
		}
		s.largerBatch = &ok
	}
	if *s.largerBatch {
		return bs
	}
	return d[0]
}

// Batch is the number of images.
func (s *Session) Batch() int { return s.Input.Shape()[0] }

// Output is the model's output (the logits) for the whole batch.
func (s *Session) Output() *tensor.T { return s.Run.Value(s.Model.Output) }

// Classes is the number of output scores per image.
func (s *Session) Classes() int { return s.Output().Len() / s.Batch() }

// Logits returns image b's output row.
func (s *Session) Logits(b int) []float32 {
	n := s.Classes()
	return s.Output().F32()[b*n : (b+1)*n]
}

// ResolveTargets turns the request's targets (one per image, or one for
// all, or none for the top-1 class) into concrete ones.
func (s *Session) ResolveTargets(ts []Target) ([]Target, error) {
	n := s.Batch()
	if len(ts) != 0 && len(ts) != 1 && len(ts) != n {
		return nil, fmt.Errorf("cam: %d targets for a batch of %d images", len(ts), n)
	}
	out := make([]Target, n)
	for b := range out {
		t := TopClass
		if len(ts) == 1 {
			t = ts[0]
		} else if len(ts) == n {
			t = ts[b]
		}
		var r Target
		var err error
		if k, h, w, seg := s.Segmentation(); seg {
			r, err = s.resolveSegment(t, b, k, h*w)
		} else if t.Kind == Segment {
			err = kind.Errorf(ErrBadRequest, "cam: a segment target needs a segmentation model (output N×K×H×W); the model's output is %s", tensor.ShapeString(s.Output().Shape()))
		} else {
			r, err = t.Resolve(s.Logits(b))
		}
		if err != nil {
			return nil, err
		}
		out[b] = r
	}
	return out, nil
}

// Activation returns a layer's value (a value or node name).
func (s *Session) Activation(layer string) (*tensor.T, string, error) {
	v, err := s.Model.ResolveLayer(layer)
	if err != nil {
		return nil, "", fmt.Errorf("cam: %w", err)
	}
	a := s.Run.Value(v)
	if a == nil {
		return nil, "", fmt.Errorf("cam: layer %q was not computed", layer)
	}
	return a, v, nil
}

// Seed is the gradient of Σ_b target_b with respect to the output.
func (s *Session) Seed(targets []Target) *tensor.T {
	out := s.Output()
	seed := tensor.New(out.Shape()...)
	n := s.Classes()
	for b, t := range targets {
		copy(seed.F32()[b*n:], t.Seed(s.Logits(b)))
	}
	return seed
}

// Gradients returns d Σ_b target_b / d value for each named value (value
// names, as ResolveLayer gives), computing in one backward pass whatever is
// not cached yet.
func (s *Session) Gradients(targets []Target, values []string) (map[string]*tensor.T, time.Duration, error) {
	keys := make([]string, len(targets))
	for i, t := range targets {
		keys[i] = t.key()
	}
	tk := strings.Join(keys, "|")
	out := map[string]*tensor.T{}
	var missing []string
	for _, v := range values {
		if g, ok := s.grads[tk+"\x00"+v]; ok {
			out[v] = g
		} else {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return out, 0, nil
	}
	sort.Strings(missing)
	start := time.Now()
	grads, err := s.Run.Backward(map[string]*tensor.T{s.Model.Output: s.Seed(targets)},
		graph.BackwardOptions{Wrt: missing, Replace: s.BackwardReplace})
	if err != nil {
		return nil, 0, err
	}
	for _, v := range missing {
		s.keepGrad(tk+"\x00"+v, grads[v])
		out[v] = grads[v]
	}
	return out, time.Since(start), nil
}

// gradCacheMax bounds the bytes of gradients a session keeps: the oldest
// go first (a page that steps through a thousand classes would otherwise
// keep every class's gradients at the layer, 100 kB each for ResNet-18's
// layer4 and 600 kB at its input).
const gradCacheMax = 64 << 20

// keepGrad caches one gradient, dropping the oldest beyond gradCacheMax
// (never the one just kept).
func (s *Session) keepGrad(key string, g *tensor.T) {
	if old, ok := s.grads[key]; !ok {
		s.gradKeys = append(s.gradKeys, key)
	} else if old != nil {
		s.gradBytes -= 4 * old.Len()
	}
	s.grads[key] = g // nil: the value does not reach the output
	if g != nil {
		s.gradBytes += 4 * g.Len()
	}
	for s.gradBytes > gradCacheMax && len(s.gradKeys) > 1 {
		k := s.gradKeys[0]
		s.gradKeys = s.gradKeys[1:]
		if k == key {
			s.gradKeys = append(s.gradKeys, k)
			continue
		}
		if old := s.grads[k]; old != nil {
			s.gradBytes -= 4 * old.Len()
		}
		delete(s.grads, k)
	}
}

// HVP is the Hessian-vector product of Σ_b target_b with respect to a value
// (a value name, as ResolveLayer gives), along dir: exact, forward over
// reverse (graph.Run.HVP), with the targets' own second derivatives in the
// logits (Target.HessianVec).
func (s *Session) HVP(targets []Target, value string, dir *tensor.T) (*tensor.T, error) {
	out := s.Model.Output
	n := s.Classes()
	outHess := func(tan map[string]*tensor.T) (map[string]*tensor.T, error) {
		t, ok := tan[out]
		if !ok {
			return map[string]*tensor.T{}, nil // the output does not depend on the value
		}
		seed := tensor.New(t.Shape()...)
		nonzero := false
		for b, tg := range targets {
			u := make([]float64, n)
			for k, v := range t.F32()[b*n : (b+1)*n] {
				u[k] = float64(v)
			}
			h, err := tg.HessianVec(s.Logits(b), u)
			if err != nil {
				return nil, err
			}
			for k, v := range h {
				seed.F32()[b*n+k] = float32(v)
				nonzero = nonzero || v != 0
			}
		}
		if !nonzero {
			return map[string]*tensor.T{}, nil
		}
		return map[string]*tensor.T{out: seed}, nil
	}
	return s.Run.HVP(map[string]*tensor.T{out: s.Seed(targets)}, outHess, value, dir, graph.BackwardOptions{Replace: s.BackwardReplace})
}
