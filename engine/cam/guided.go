package cam

import (
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Guided backpropagation (Springenberg et al. 2015), as pytorch-grad-cam's
// GuidedBackpropReLUModel computes it: the gradient of the target score
// with respect to the input, with the backward of every ReLU replaced by
//
//	∂L/∂x = ∂L/∂y · [x > 0] · [∂L/∂y > 0]
//
// (only ONNX Relu nodes: Clip, ReLU6 and other activations keep their
// ordinary backward, as the library only swaps torch.nn.ReLU modules).
//
// The maps are the raw gradient, not normalised, channels last (N×H×W×C,
// Result.Channels = C, 3 for RGB models): what the library returns before
// deprocess_image.
//
// Guided Grad-CAM (Selvaraju et al. 2017) multiplies it by the Grad-CAM map
// of the requested layer, computed on the same session and targets:
//
//	ggc[b,i,j,c] = gradcam[b,i,j] · gb[b,i,j,c]
//
// as pytorch-grad-cam's example does (cam_mask * gb, before
// deprocess_image); Result.Layers holds Grad-CAM's layer results.
//
// With AugSmooth the shared pipeline averages these whole maps over the six
// augmented inputs (flip × brightness); the library has no aug_smooth for
// guided backprop and applies it to the Grad-CAM factor only.
func init() {
	registerWhole("guidedbackprop", guidedBackprop)
	registerWhole("guided-gradcam", guidedGradCAM)
}

// guidedReLU is guided backprop's backward for Relu nodes; other nodes are
// passed to next (when not nil) or left to their own backward.
func guidedReLU(next func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error)) func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
	return func(n *graph.Node, in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, bool, error) {
		if n.OpType != "Relu" {
			if next != nil {
				return next(n, in, out, gradOut, need)
			}
			return nil, false, nil
		}
		gx := tensor.New(in[0].Shape()...)
		x, gy, d := in[0].F32(), gradOut[0].F32(), gx.F32()
		for i := range d {
			if x[i] > 0 && gy[i] > 0 {
				d[i] = gy[i]
			}
		}
		return []*tensor.T{gx}, true, nil
	}
}

func guidedBackprop(s *Session, req *Request, targets []Target) (*Result, error) {
	start := time.Now()
	grads, err := s.Run.Backward(map[string]*tensor.T{s.Model.Output: s.Seed(targets)},
		graph.BackwardOptions{Wrt: []string{s.Model.Input}, Replace: guidedReLU(s.BackwardReplace)})
	if err != nil {
		return nil, err
	}
	sh := s.Input.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	return &Result{Maps: toHWC(grads[s.Model.Input].F32(), n, c, h, w), Height: h, Width: w, Channels: c,
		Backward: time.Since(start)}, nil
}

func guidedGradCAM(s *Session, req *Request, targets []Target) (*Result, error) {
	gb, err := guidedBackprop(s, req, targets)
	if err != nil {
		return nil, err
	}
	gc, err := Compute(s, Request{Method: "gradcam", Layers: req.Layers, Layout: req.Layout, Targets: targets, EigenSmooth: req.EigenSmooth})
	if err != nil {
		return nil, err
	}
	hw, c := gb.Height*gb.Width, gb.Channels
	for b := 0; b < s.Batch(); b++ {
		cam := gc.Maps[b*hw : (b+1)*hw]
		out := gb.Maps[b*hw*c : (b+1)*hw*c]
		for i, v := range cam {
			for k := 0; k < c; k++ {
				out[i*c+k] *= v
			}
		}
	}
	gb.Layers = gc.Layers
	gb.Backward += gc.Backward
	return gb, nil
}

// toHWC reorders n images from C×H×W to H×W×C.
func toHWC(a []float32, n, c, h, w int) []float32 {
	out := make([]float32, len(a))
	hw := h * w
	for b := 0; b < n; b++ {
		src := a[b*c*hw : (b+1)*c*hw]
		dst := out[b*c*hw : (b+1)*c*hw]
		for k := 0; k < c; k++ {
			for i, v := range src[k*hw : (k+1)*hw] {
				dst[i*c+k] = v
			}
		}
	}
	return out
}
