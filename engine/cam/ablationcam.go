package cam

import (
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Ablation-CAM (Desai & Ramaswamy 2020): no gradients; each channel is
// weighted by how much the target score drops when that channel is
// removed,
//
//	w_c = (s − s_c) / s,  raw = Σ_c w_c·A_c,
//
// s the target score and s_c the score with channel c of the layer
// ablated. As in pytorch-grad-cam's AblationLayer, ablating sets the whole
// channel to 0 when the image's activation (all its channels) has minimum
// 0, and otherwise to a very negative value: min − 1e7 for the first
// channel of each batch of Request.BatchSize (default 32) ablations, and,
// because the reference takes the minimum of the batch it has already
// modified, 1e7 lower again for each following position in the batch
// (min − 1e7·(p+1) at position p, computed in float32 step by step). For
// the usual ReLU layers the minimum is 0 and none of that matters. A layer
// in another layout (Request.Layout) is ablated in its own layout, as the
// library's AblationLayerVit does: channel c is set at every position of
// the value, a class token included, and the minimum is the whole value's.
//
// Only the part of the network above the layer runs again: ablated copies
// of the layer's activation, BatchSize at a time, go through the head
// (values the head reads from below the layer are tiled to the batch).
// When the head reads something that cannot be tiled (a shape, a value
// without a batch axis), each channel is ablated in every image at once
// and the head re-run once per channel instead.
//
// Divisible (Request.Part): one piece per batch of BatchSize ablated
// channels of an image, image-major, its data their scores (BatchSize
// values, zeros after an image's last channel): a part runs the very
// batches of the whole computation, so each ablation has the same fill
// value and the head the same batch. On the one-pass-per-channel path, one
// piece per channel, its data the scores of every image.
func init() {
	registerLayer("ablationcam", false, ablationCAM)
	divisible["ablationcam"] = true
	runsExact("ablationcam")
}

// forcePerChannelAblation makes AblationCAM take its one-pass-per-channel
// path (tests compare the two).
var forcePerChannelAblation bool

func ablationCAM(c *LayerContext) (raw, weights []float32, err error) {
	// The scores' differences need the usual summation order: the forward
	// pass and every re-run of the head use im2col convolutions.
	err = ops.WithIm2col(func() error {
		s, err := c.S.Exact()
		if err != nil {
			return err
		}
		ec := *c
		ec.S, ec.Value = s, s.Run.Value(c.Layer)
		ec.Act = c.lmap.toCHW(ec.Value)
		raw, weights, err = ablationOn(&ec)
		return err
	})
	return raw, weights, err
}

// ablationOn is AblationCAM on a session whose forward pass used im2col
// convolutions, run under ops.WithIm2col.
func ablationOn(c *LayerContext) ([]float32, []float32, error) {
	s := c.S
	g := s.Model.Graph
	bs := c.Req.BatchSize
	if bs <= 0 {
		bs = 32
	}
	externals, batchable, err := headInputs(s, c.Layer, c.N)
	if err != nil {
		return nil, nil, err
	}
	// One image's raw value: per values, in the layer's own layout.
	act := c.Value.F32()
	per1 := len(act) / c.N
	// fill[b][p] is the value channel ablations at batch position p take
	// in image b.
	fill := make([][]float32, c.N)
	for b := range fill {
		img := act[b*per1 : (b+1)*per1]
		lo := img[0]
		for _, v := range img {
			lo = min(lo, v)
		}
		fill[b] = make([]float32, bs)
		if lo == 0 {
			continue
		}
		v := lo
		for p := range fill[b] {
			v -= 1e7
			fill[b][p] = v
		}
	}
	ablate := func(a []float32, b, ch, p int) { c.lmap.fillChannel(a, ch, fill[b][p]) }
	scores := make([]float32, c.N*c.C)
	noTape := &graph.Options{NoTape: true}
	batched := batchable && !forcePerChannelAblation && s.fitBatch(bs) == bs
	// Pieces: the batches of each image (image-major), each bs scores
	// (the last of an image padded with zeros), so that a part runs the
	// very batches of the whole computation; else channels, each N scores.
	nbatch := (c.C + bs - 1) / bs
	total, per := c.N*nbatch, bs
	if !batched {
		total, per = c.C, c.N
	}
	lo, hi, given, err := partRange(c.Req, total, per)
	if err != nil {
		return nil, nil, err
	}
	// Progress counts ablated channels, or for a part its pieces (as the
	// page adds up the parts' progress).
	done, of := 0, c.N*c.C
	if c.Req.Part != nil {
		of = hi - lo
	}
	progress := func(pieces, channels int) error {
		if c.Req.Part != nil {
			done += pieces
		} else {
			done += channels
		}
		if c.Req.Progress != nil && !c.Req.Progress(done, of) {
			return ErrCancelled
		}
		return nil
	}
	began := time.Now()
	switch {
	case given != nil && batched:
		for q := 0; q < total; q++ {
			b, k0 := q/nbatch, q%nbatch*bs
			copy(scores[b*c.C+k0:(b+1)*c.C], given[q*bs:(q+1)*bs])
		}
	case given != nil:
		for ch := 0; ch < c.C; ch++ {
			for b := 0; b < c.N; b++ {
				scores[b*c.C+ch] = given[ch*c.N+b]
			}
		}
	case batched:
		for q := lo; q < hi; q++ {
			// A batch: channels k0 … k0+nb−1 of image b.
			b, k0 := q/nbatch, q%nbatch*bs
			nb := min(bs, c.C-k0)
			a := tensor.New(append([]int{nb}, c.Value.Shape()[1:]...)...)
			af := a.F32()
			for j := 0; j < nb; j++ {
				cp := af[j*per1 : (j+1)*per1]
				copy(cp, act[b*per1:(b+1)*per1])
				ablate(cp, b, k0+j, j)
			}
			// The input is there only for the shape cache's key (the
			// head does not read it), so that the cached shape-derived
			// values stay valid.
			base := &graph.Run{G: g, Values: map[string]*tensor.T{c.Layer: a, s.Model.Input: s.Input}}
			for _, e := range externals {
				base.Values[e] = tileImage(s.Run.Value(e), b, c.N, nb)
			}
			run, err := base.Rerun(map[string]*tensor.T{c.Layer: a}, noTape)
			if err != nil {
				return nil, nil, err
			}
			if err := readScores(run, s, c.Targets[b], nb, scores[b*c.C+k0:]); err != nil {
				return nil, nil, err
			}
			if err := progress(1, nb); err != nil {
				return nil, nil, err
			}
		}
	default:
		k := s.Classes()
		for ch := lo; ch < hi; ch++ {
			a := c.Value.Clone()
			for b := 0; b < c.N; b++ {
				ablate(a.F32()[b*per1:(b+1)*per1], b, ch, ch%bs)
			}
			run, err := s.Run.Rerun(map[string]*tensor.T{c.Layer: a}, noTape)
			if err != nil {
				return nil, nil, err
			}
			out := run.Value(s.Model.Output).F32()
			for b, t := range c.Targets {
				scores[b*c.C+ch] = t.Score(out[b*k : (b+1)*k])
			}
			if err := progress(1, c.N); err != nil {
				return nil, nil, err
			}
		}
	}
	if c.Req.Part != nil {
		out := make([]float32, 0, (hi-lo)*per)
		for q := lo; q < hi; q++ {
			if batched {
				b, k0 := q/nbatch, q%nbatch*bs
				piece := make([]float32, bs)
				copy(piece, scores[b*c.C+k0:(b+1)*c.C])
				out = append(out, piece...)
				continue
			}
			for b := 0; b < c.N; b++ {
				out = append(out, scores[b*c.C+q])
			}
		}
		return nil, nil, &partDone{pieces: out, total: total, spent: max(time.Since(began), 1)}
	}
	w := make([]float32, c.N*c.C)
	for b, t := range c.Targets {
		orig := t.Score(s.Logits(b))
		for ch := 0; ch < c.C; ch++ {
			w[b*c.C+ch] = (orig - scores[b*c.C+ch]) / orig
		}
	}
	return c.Combine(w), w, nil
}

// headInputs looks at the part of the network that depends on the layer
// (the head): it returns the values the head reads from below the layer
// (neither the layer, nor head values, nor constants), and whether the head
// can run on a batch of ablated copies of one image: it has no Shape node
// (shape-derived values are cached per input shape), it does not read the
// model's input, and every value it reads from below has the session's
// batch as its first axis, so that it can be tiled.
func headInputs(s *Session, layer string, n int) ([]string, bool, error) {
	g := s.Model.Graph
	dirty := map[string]bool{layer: true}
	var head []*graph.Node
	batchable := true
	for _, node := range g.Nodes {
		reads := false
		for _, in := range node.Inputs {
			if in != "" && dirty[in] {
				reads = true
				break
			}
		}
		if !reads {
			continue
		}
		head = append(head, node)
		if node.OpType == "Shape" {
			batchable = false
		}
		for _, o := range node.Outputs {
			if o != "" {
				dirty[o] = true
			}
		}
	}
	if !dirty[s.Model.Output] {
		return nil, false, kind.Errorf(model.ErrBadLayer, "cam: the model's output does not depend on layer %q", layer)
	}
	var externals []string
	seen := map[string]bool{}
	for _, node := range head {
		for _, in := range node.Inputs {
			if in == "" || dirty[in] || seen[in] {
				continue
			}
			if _, isConst := g.Consts[in]; isConst {
				continue
			}
			seen[in] = true
			externals = append(externals, in)
			v := s.Run.Value(in)
			if in == s.Model.Input || v == nil || v.DType() != tensor.Float32 || v.Rank() == 0 || v.Shape()[0] != n {
				batchable = false
			}
		}
	}
	return externals, batchable, nil
}

// tileImage repeats image b of a batch-of-n value nb times along axis 0.
func tileImage(v *tensor.T, b, n, nb int) *tensor.T {
	sh := append([]int(nil), v.Shape()...)
	per := v.Len() / n
	src := v.F32()[b*per : (b+1)*per]
	sh[0] = nb
	out := tensor.New(sh...)
	for j := 0; j < nb; j++ {
		copy(out.F32()[j*per:], src)
	}
	return out
}
