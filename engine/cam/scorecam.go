package cam

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Score-CAM (Wang et al. 2020): no gradients; each channel is scored by how
// much of the target the input keeps when masked by that channel. As
// pytorch-grad-cam computes it, for image x and channel c:
//
//	M_c = up(A_c), bilinearly upsampled to the input size (align_corners=True)
//	M_c = (M_c − min M_c) / (max M_c − min M_c + 1e-8)
//	s_c = target score of the model on x ⊙ M_c (every input channel masked)
//	w   = softmax_c(s_c),  raw = Σ_c w_c·A_c.
//
// That is one forward pass per channel, run Request.BatchSize (default 16)
// masked images at a time without keeping a tape.
//
// Divisible (Request.Part): one piece per masked input, image-major; a
// piece's data is its score.
func init() {
	registerLayer("scorecam", false, scoreCAM)
	divisible["scorecam"] = true
}

func scoreCAM(c *LayerContext) ([]float32, []float32, error) {
	s := c.S
	bs := c.Req.BatchSize
	if bs <= 0 {
		bs = 16
	}
	bs = s.fitBatch(bs)
	in := s.Input.Shape()
	cin, H, W := in[1], in[2], in[3]
	hw, HW := c.H*c.W, H*W
	act, x := c.Act.F32(), s.Input.F32()
	total := c.N * c.C
	lo, hi, given, err := partRange(c.Req, total, 1)
	if err != nil {
		return nil, nil, err
	}
	scores := make([]float32, total)
	if given != nil {
		copy(scores, given)
	}
	up := make([]float32, HW)
	done := 0
	for p0 := lo; given == nil && p0 < hi; {
		// A batch: up to bs masked inputs of one image.
		b, k0 := p0/c.C, p0%c.C
		nb := min(bs, c.C-k0, hi-p0)
		img := x[b*cin*HW : (b+1)*cin*HW]
		batch := tensor.New(nb, cin, H, W)
		bf := batch.F32()
		for j := 0; j < nb; j++ {
			ch := k0 + j
			imgproc.ResizeBilinear(act[(b*c.C+ch)*hw:][:hw], c.H, c.W, up, H, W, true)
			lo, hi := up[0], up[0]
			for _, v := range up {
				lo, hi = min(lo, v), max(hi, v)
			}
			d := hi - lo + 1e-8
			for i, v := range up {
				up[i] = (v - lo) / d
			}
			dst := bf[j*cin*HW : (j+1)*cin*HW]
			for ci := 0; ci < cin; ci++ {
				src, out := img[ci*HW:(ci+1)*HW], dst[ci*HW:(ci+1)*HW]
				for i, m := range up {
					out[i] = src[i] * m
				}
			}
		}
		run, err := s.Model.Forward(batch, &graph.Options{NoTape: true})
		if err != nil {
			return nil, nil, err
		}
		if err := readScores(run, s, c.Targets[b], nb, scores[p0:]); err != nil {
			return nil, nil, err
		}
		p0 += nb
		done += nb
		if c.Req.Progress != nil && !c.Req.Progress(done, hi-lo) {
			return nil, nil, ErrCancelled
		}
	}
	if c.Req.Part != nil {
		return nil, nil, &partDone{pieces: scores[lo:hi], total: total}
	}
	w := make([]float32, c.N*c.C)
	for b := 0; b < c.N; b++ {
		softmaxInto(w[b*c.C:(b+1)*c.C], scores[b*c.C:(b+1)*c.C])
	}
	return c.Combine(w), w, nil
}

// readScores stores the target's score of each of a run's nb output rows.
func readScores(run *graph.Run, s *Session, t Target, nb int, dst []float32) error {
	out := run.Value(s.Model.Output)
	if out == nil {
		return fmt.Errorf("cam: the model's output %q was not computed", s.Model.Output)
	}
	k := s.Classes()
	if out.Len() != nb*k {
		return fmt.Errorf("cam: output %q has shape %s for a batch of %d; want %d scores per image", s.Model.Output, tensor.ShapeString(out.Shape()), nb, k)
	}
	o := out.F32()
	for j := 0; j < nb; j++ {
		dst[j] = t.Score(o[j*k : (j+1)*k])
	}
	return nil
}

// softmaxInto writes softmax(src) to dst.
func softmaxInto(dst, src []float32) {
	for i, p := range softmax(src) {
		dst[i] = float32(p)
	}
}
