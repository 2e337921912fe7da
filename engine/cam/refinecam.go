package cam

import (
	"fmt"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// RefineCAM (pytorch-grad-cam): a base method (Request.Base, default
// Grad-CAM++) run on each layer of Request.Layers alone; the final map is
// the product of the per-layer maps (each already in 0..1 at the input's
// size), min-max scaled per image. Coarse deep layers say where, finer
// shallow layers sharpen it. Result.Layers holds each layer's raw map.
func init() {
	registerWhole("refinecam", refineCAM)
	runsFast("refinecam")
}

func refineCAM(s *Session, req *Request, targets []Target) (*Result, error) {
	base := req.Base
	if base == "" {
		base = "gradcampp"
	}
	m, ok := methods[base]
	if !ok || m.layer == nil {
		return nil, kind.Errorf(ErrBadRequest, "cam: refinecam: base method %q is not a layer method (gradcampp, gradcam, …)", base)
	}
	layers := req.Layers
	if len(layers) == 0 {
		l, err := s.Model.SuggestedLayer()
		if err != nil {
			return nil, fmt.Errorf("cam: %w", err)
		}
		layers = []string{l}
	}
	var res *Result
	for _, l := range layers {
		sub := *req
		sub.Method, sub.Layers = base, []string{l}
		r, err := compute(s, &sub, m, targets)
		if err != nil {
			return nil, err
		}
		if res == nil {
			res = r
			res.Maps = append([]float32(nil), r.Maps...)
			continue
		}
		for i, v := range r.Maps {
			res.Maps[i] *= v
		}
		res.Layers = append(res.Layers, r.Layers...)
		res.Forward += r.Forward
		res.Backward += r.Backward
	}
	hw := res.Height * res.Width
	for b := 0; b < s.Batch(); b++ {
		MinMax(res.Maps[b*hw : (b+1)*hw])
	}
	return res, nil
}
