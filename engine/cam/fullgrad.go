package cam

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/ops"
)

// FullGrad (Srinivas & Fleuret 2019), as pytorch-grad-cam's FullGrad
// computes it. The target layers are ignored: the map is made of the input
// gradient and of the bias gradients of every 2-D layer that has a bias,
//
//	M = minmax( Σ_c ψ(|x ⊙ ∂y/∂x|)_c  +  Σ_l Σ_c ψ(|b_l[c] · ∂y/∂z_l[c]|) )
//
// where y is the target score, z_l the output of bias layer l, and ψ
// min-max scales one channel, (a − min)/(1e-7 + max(a − min)), and resizes
// it bilinearly (half-pixel centres) to the input size. The bias layers are
// the library's Conv2d with a bias and BatchNorm2d: in ONNX, every Conv node
// with a bias input and every BatchNormalization node on a 4-D tensor, with
//
//	b_conv = B,   b_bn = B − mean·scale/√(var + ε).
//
// A Conv followed by a BatchNorm that an exporter folded into one Conv
// counts once (the folded bias equals the BatchNorm's), as in the library
// when the convolution had no bias of its own.
//
// With EigenSmooth, as in the library, the input's channel terms and each
// layer's channel sum are min-max scaled and resized to an eighth of the
// input size, projected onto their first principal component, and scaled
// back up; the result is then min-max scaled.
func init() { registerWhole("fullgrad", fullGrad) }

// biasLayer is one of FullGrad's bias-carrying layers.
type biasLayer struct {
	node  string
	value string // the layer's output
	bias  []float32
}

// fullGradLayers lists the model's bias layers in graph order.
func fullGradLayers(s *Session) ([]biasLayer, error) {
	var out []biasLayer
	for _, n := range s.Model.Graph.Nodes {
		if n.OpType != "Conv" && n.OpType != "BatchNormalization" || len(n.Outputs) == 0 {
			continue
		}
		v := n.Outputs[0]
		z, ok := s.Run.Values[v]
		if !ok || z.Rank() != 4 {
			continue
		}
		ch := z.Shape()[1]
		param := func(k int) ([]float32, error) {
			if k >= len(n.Inputs) || n.Inputs[k] == "" {
				return nil, nil
			}
			p := s.Run.Value(n.Inputs[k])
			if p == nil || p.Len() != ch {
				return nil, fmt.Errorf("cam: fullgrad: input %d of %s node %q is not a vector of %d values", k, n.OpType, n.Name, ch)
			}
			return p.AsF32(), nil
		}
		switch n.OpType {
		case "Conv":
			b, err := param(2)
			if err != nil {
				return nil, err
			}
			if b != nil {
				out = append(out, biasLayer{n.Name, v, b})
			}
		case "BatchNormalization":
			var p [5][]float32
			for k := 1; k < 5; k++ {
				var err error
				if p[k], err = param(k); err != nil {
					return nil, err
				}
				if p[k] == nil {
					return nil, fmt.Errorf("cam: fullgrad: BatchNormalization node %q lacks input %d", n.Name, k)
				}
			}
			eps := float32(1e-5)
			if bn, ok := n.Op.(*ops.BatchNorm); ok {
				eps = bn.Epsilon
			}
			// In float32, in the order torch evaluates
			// −(running_mean·weight / sqrt(running_var + eps)) + bias.
			scale, beta, mean, vr := p[1], p[2], p[3], p[4]
			b := make([]float32, ch)
			for c := range b {
				sd := float32(math.Sqrt(float64(vr[c] + eps)))
				b[c] = -(mean[c] * scale[c] / sd) + beta[c]
			}
			out = append(out, biasLayer{n.Name, v, b})
		}
	}
	return out, nil
}

func fullGrad(s *Session, req *Request, targets []Target) (*Result, error) {
	layers, err := fullGradLayers(s)
	if err != nil {
		return nil, err
	}
	values := []string{s.Model.Input}
	for _, l := range layers {
		values = append(values, l.value)
	}
	grads, dt, err := s.Gradients(targets, values)
	if err != nil {
		return nil, err
	}
	sh := s.Input.Shape()
	n, cin, H, W := sh[0], sh[1], sh[2], sh[3]
	HW := H * W
	res := &Result{Height: H, Width: W, Channels: 1, Backward: dt, Maps: make([]float32, n*HW)}
	x, gx := s.Input.F32(), grads[s.Model.Input].F32()
	plane := make([]float32, 0, HW)
	for b := 0; b < n; b++ {
		// terms: the input's channels, then one channel sum per layer.
		terms := make([][]float32, 0, cin+len(layers))
		for c := 0; c < cin; c++ {
			off := (b*cin + c) * HW
			t := make([]float32, HW)
			for i := range t {
				t[i] = float32(math.Abs(float64(x[off+i] * gx[off+i])))
			}
			MinMax(t)
			terms = append(terms, t)
		}
		for _, l := range layers {
			g := grads[l.value]
			gs := g.Shape()
			ch, h, w := gs[1], gs[2], gs[3]
			hw := h * w
			// Bilinear resizing is linear, so the channels are summed at
			// the layer's resolution and resized once: the same map as
			// resizing each channel, up to float rounding.
			low := make([]float32, hw)
			gf := g.F32()
			for c := 0; c < ch; c++ {
				src := gf[(b*ch+c)*hw : (b*ch+c+1)*hw]
				if cap(plane) < hw {
					plane = make([]float32, hw)
				}
				plane = plane[:hw]
				for i, v := range src {
					plane[i] = float32(math.Abs(float64(l.bias[c] * v)))
				}
				MinMax(plane)
				for i, v := range plane {
					low[i] += v
				}
			}
			sum := make([]float32, HW)
			imgproc.ResizeBilinear(low, h, w, sum, H, W, false)
			terms = append(terms, sum)
		}
		out := res.Maps[b*HW : (b+1)*HW]
		if req.EigenSmooth {
			copy(out, eigenTerms(terms, H, W))
		} else {
			for _, t := range terms {
				for i, v := range t {
					out[i] += v
				}
			}
		}
		MinMax(out)
	}
	return res, nil
}

// eigenTerms is FullGrad's eigen_smooth: every term min-max scaled and
// resized to an eighth of the size, the first principal component of the
// stack, min-max scaled and resized back to H×W.
func eigenTerms(terms [][]float32, H, W int) []float32 {
	h, w := max(1, H/8), max(1, W/8)
	stack := make([]float32, len(terms)*h*w)
	for k, t := range terms {
		a := append([]float32(nil), t...)
		MinMax(a)
		imgproc.ResizeBilinear(a, H, W, stack[k*h*w:(k+1)*h*w], h, w, false)
	}
	p := Project2D(stack, len(terms), h, w)
	MinMax(p)
	out := make([]float32, H*W)
	imgproc.ResizeBilinear(p, h, w, out, H, W, false)
	return out
}
