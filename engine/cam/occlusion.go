package cam

import (
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/ops"
)

// Occlusion (Zeiler & Fergus 2014), as Captum's Occlusion computes it: a
// W×W window (Request.Window, all channels at once) slides over the image
// with stride S (Request.Stride); at each position the window is set to
// the baseline 0 and the drop of the target score is credited to every
// pixel it covers. Each element's attribution is the mean over the windows
// that cover it:
//
//	A[c,i,j] = mean over windows w ∋ (i,j) of  y(x) − y(x with w set to 0)
//
// The windows start at 0, S, 2S, … with ⌈(H − W)/S⌉ + 1 positions per axis
// (the last one clipped at the border), as Captum counts them, so that
// every pixel is covered; S may not exceed W. Defaults: W an eighth of the
// image's smaller side (at least 1), S = W/2 (at least 1). The occluded
// images run Request.BatchSize at a time, forward only, with im2col
// convolutions (differences of nearly equal scores). The attribution
// (C×H×W per image) is in Result.Layers[0]; the map is captumAbsMap's.
func init() {
	registerWhole("occlusion", occlusion)
	runsExact("occlusion")
}

func occlusion(s *Session, req *Request, targets []Target) (*Result, error) {
	sh := s.Input.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	win, stride := req.Window, req.Stride
	if win == 0 {
		win = max(1, min(h, w)/8)
	}
	if stride == 0 {
		stride = max(1, win/2)
	}
	if win < 0 || win > min(h, w) {
		return nil, kind.Errorf(ErrBadRequest, "cam: occlusion: the window must be between 1 and %d (the image is %d×%d), got %d", min(h, w), h, w, win)
	}
	if stride < 0 || stride > win {
		return nil, kind.Errorf(ErrBadRequest, "cam: occlusion: the stride must be between 1 and the window (%d), got %d", win, stride)
	}
	ny, nx := (h-win+stride-1)/stride+1, (w-win+stride-1)/stride+1
	per := ny * nx
	// box is window k's rows [y0, y1) and columns [x0, x1).
	box := func(k int) (y0, y1, x0, x1 int) {
		y0, x0 = (k/nx)*stride, (k%nx)*stride
		return y0, min(y0+win, h), x0, min(x0+win, w)
	}
	var attr []float32
	err := ops.WithIm2col(func() error {
		es, err := s.Exact()
		if err != nil {
			return err
		}
		x := es.Input.F32()
		chw, hw := c*h*w, h*w
		scores, err := scoreBatches(es, n*per, req.BatchSize, req.Progress,
			func(r int, dst []float32) {
				copy(dst, x[(r/per)*chw:][:chw])
				y0, y1, x0, x1 := box(r % per)
				for ch := 0; ch < c; ch++ {
					for i := y0; i < y1; i++ {
						clear(dst[ch*hw+i*w+x0 : ch*hw+i*w+x1])
					}
				}
			},
			func(r int) Target { return targets[r/per] })
		if err != nil {
			return err
		}
		total := make([]float64, n*hw)
		count := make([]float64, hw)
		for r, sc := range scores {
			b := r / per
			diff := float64(targets[b].Score(es.Logits(b)) - sc)
			y0, y1, x0, x1 := box(r % per)
			for i := y0; i < y1; i++ {
				for j := x0; j < x1; j++ {
					total[b*hw+i*w+j] += diff
					if b == 0 {
						count[i*w+j]++
					}
				}
			}
		}
		attr = make([]float32, n*chw)
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				for i := 0; i < hw; i++ {
					attr[b*chw+ch*hw+i] = float32(total[b*hw+i] / count[i])
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inputResult(s, attr, captumAbsMap), nil
}
