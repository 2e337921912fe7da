package cam

import (
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/ops"
)

// Feature ablation, as Captum's FeatureAblation computes it with a feature
// mask of square superpixels: the image is cut into P×P squares
// (Request.Superpixel; the last row and column of squares are cut at the
// border), numbered row by row (FeatureMask); each square is set to the
// baseline 0 in all channels in turn, and every element of it gets the drop
// of the target score:
//
//	A[c,i,j] = y(x) − y(x with the square of (i,j) set to 0)
//
// Default P: an eighth of the image's smaller side (at least 1). The
// ablated images run Request.BatchSize at a time, forward only, with
// im2col convolutions. The attribution (C×H×W per image) is in
// Result.Layers[0]; the map is captumAbsMap's.
func init() {
	registerWhole("featureablation", featureAblation)
	runsExact("featureablation")
}

// FeatureMask is the feature number of each pixel (H×W, row-major) for P×P
// superpixels: (i/P)·⌈W/P⌉ + j/P.
func FeatureMask(h, w, p int) []int {
	cols := (w + p - 1) / p
	m := make([]int, h*w)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			m[i*w+j] = (i/p)*cols + j/p
		}
	}
	return m
}

func featureAblation(s *Session, req *Request, targets []Target) (*Result, error) {
	sh := s.Input.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	p := req.Superpixel
	if p == 0 {
		p = max(1, min(h, w)/8)
	}
	if p < 0 || p > max(h, w) {
		return nil, kind.Errorf(ErrBadRequest, "cam: featureablation: the superpixel side must be between 1 and %d (the image is %d×%d), got %d", max(h, w), h, w, p)
	}
	mask := FeatureMask(h, w, p)
	per := ((h + p - 1) / p) * ((w + p - 1) / p)
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
				k := r % per
				for i, f := range mask {
					if f == k {
						for ch := 0; ch < c; ch++ {
							dst[ch*hw+i] = 0
						}
					}
				}
			},
			func(r int) Target { return targets[r/per] })
		if err != nil {
			return err
		}
		attr = make([]float32, n*chw)
		for b := 0; b < n; b++ {
			y := targets[b].Score(es.Logits(b))
			for i, f := range mask {
				d := y - scores[b*per+f]
				for ch := 0; ch < c; ch++ {
					attr[b*chw+ch*hw+i] = d
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
