package cam

import (
	"fmt"
	"math"
	"sort"

	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Deep Feature Factorization (Collins et al. 2018, as pytorch-grad-cam's
// DeepFeatureFactorization): the layer's activations, as a C×(N·h·w)
// matrix minus each channel's minimum, are factorised by non-negative
// matrix factorisation into K concepts, A − offset ≈ W·H. Column k of W
// (plus the offset) is concept k's channel vector; row k of H says where in
// the images the concept is. When the layer feeds global average pooling
// and a linear classifier, each concept vector is also passed through that
// classifier: the classes it stands for.

// DFFResult is a factorisation of one layer's activations.
type DFFResult struct {
	Layer      string
	K, C, N    int
	H, W       int       // the layer's spatial size
	Concepts   []float32 // C×K: W + the per-channel offset (pytorch-grad-cam's concepts)
	Raw        []float32 // N×K×h×w: H, where each concept is
	Maps       []float32 // N×K×Height×Width: each concept's map min-max scaled to 0..1 and resized to the input
	Height     int
	Width      int
	RelError   float64 // ‖A − WH‖_F / ‖A‖_F (A after subtracting the offset)
	Iterations int
	// Outputs, when the layer feeds a linear head, is K×classes: the
	// classifier applied to each concept vector (logits).
	Outputs []float32
	Classes int
}

// DFFOptions configures DFF. Zero values select defaults.
type DFFOptions struct {
	MaxIter int     // coordinate-descent iterations at most (default 1000)
	Tol     float64 // stop when the relative error improves by less than this, relatively (default 1e-8)
}

// DFF factorises a layer's activations (a value or node name) into k
// concepts.
func DFF(s *Session, layer string, k int, opt DFFOptions) (*DFFResult, error) {
	act, v, err := s.Activation(layer)
	if err != nil {
		return nil, err
	}
	sh := act.Shape()
	if len(sh) != 4 || act.DType() != tensor.Float32 {
		return nil, kind.Errorf(model.ErrBadLayer, "cam: dff: layer %q has shape %s, not a spatial map (N×C×H×W); pick a convolutional layer", layer, tensor.ShapeString(sh))
	}
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	hw := h * w
	cols := n * hw
	if k < 1 || k > min(c, cols) {
		return nil, kind.Errorf(ErrBadRequest, "cam: dff: %d concepts for a %d-channel layer with %d positions; choose 1 to %d", k, c, cols, min(c, cols))
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 1000
	}
	if opt.Tol <= 0 {
		opt.Tol = 1e-8
	}
	a := make([]float64, c*cols)
	offset := make([]float64, c)
	x := act.F32()
	for ch := 0; ch < c; ch++ {
		lo := math.Inf(1)
		for b := 0; b < n; b++ {
			for i := 0; i < hw; i++ {
				val := finite(x[(b*c+ch)*hw+i])
				a[ch*cols+b*hw+i] = val
				lo = math.Min(lo, val)
			}
		}
		offset[ch] = lo
		for j := 0; j < cols; j++ {
			a[ch*cols+j] -= lo
		}
	}
	wm, hm, rel := NMF(a, c, cols, k, opt.MaxIter, opt.Tol)
	in := s.Input.Shape()
	res := &DFFResult{Layer: v, K: k, C: c, N: n, H: h, W: w, Height: in[2], Width: in[3], RelError: rel,
		Concepts: make([]float32, c*k), Raw: make([]float32, n*k*hw)}
	for ch := 0; ch < c; ch++ {
		for j := 0; j < k; j++ {
			res.Concepts[ch*k+j] = float32(wm[ch*k+j] + offset[ch])
		}
	}
	for b := 0; b < n; b++ {
		for j := 0; j < k; j++ {
			raw := res.Raw[(b*k+j)*hw : (b*k+j+1)*hw]
			for i := range raw {
				raw[i] = float32(hm[j*cols+b*hw+i])
			}
		}
	}
	res.Maps = conceptMaps(res.Raw, n*k, h, w, res.Height, res.Width)
	res.Outputs, res.Classes = conceptOutputs(s, &LayerContext{S: s, Layer: v, Act: act, N: n, C: c, H: h, W: w}, res.Concepts, k)
	return res, nil
}

// conceptMaps min-max scales each of count h×w maps and resizes it to
// H×W (pytorch-grad-cam's scale_cam_image).
func conceptMaps(raw []float32, count, h, w, H, W int) []float32 {
	out := make([]float32, count*H*W)
	for i := 0; i < count; i++ {
		m := append([]float32(nil), raw[i*h*w:(i+1)*h*w]...)
		MinMax(m)
		imgproc.ResizeBilinear(m, h, w, out[i*H*W:(i+1)*H*W], H, W, false)
	}
	return out
}

// conceptOutputs applies the layer's linear head, when it has one, to k
// concept vectors (C×k): logits = Wc·concept + bias, the bias recovered
// from image 0 as its logits − Wc·gap(A). It returns k×classes values, or
// nil.
func conceptOutputs(s *Session, lc *LayerContext, concepts []float32, k int) ([]float32, int) {
	wc, err := linearHead(lc)
	if err != nil {
		return nil, 0
	}
	c, hw := lc.C, lc.H*lc.W
	x := lc.Act.F32()
	classes := s.Classes()
	logits := s.Logits(0)
	bias := make([]float64, classes)
	for cls := 0; cls < classes; cls++ {
		var z float64
		for ch := 0; ch < c; ch++ {
			var mean float64
			for _, val := range x[ch*hw : (ch+1)*hw] {
				mean += float64(val)
			}
			z += float64(wc[cls*c+ch]) * mean / float64(hw)
		}
		bias[cls] = float64(logits[cls]) - z
	}
	out := make([]float32, k*classes)
	for j := 0; j < k; j++ {
		for cls := 0; cls < classes; cls++ {
			z := bias[cls]
			for ch := 0; ch < c; ch++ {
				z += float64(wc[cls*c+ch]) * float64(concepts[ch*k+j])
			}
			out[j*classes+cls] = float32(z)
		}
	}
	return out, classes
}

// ConceptClass is one of a concept's top classes.
type ConceptClass struct {
	Class int     `json:"class"`
	Logit float32 `json:"logit"`
	Prob  float64 `json:"prob"` // softmax over the concept's outputs
}

// TopClasses returns concept j's top classes by the classifier's output
// (nil without a linear head).
func (r *DFFResult) TopClasses(j, top int) []ConceptClass {
	if r.Outputs == nil || j < 0 || j >= r.K {
		return nil
	}
	row := r.Outputs[j*r.Classes : (j+1)*r.Classes]
	p := softmax(row)
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	var out []ConceptClass
	for _, i := range idx[:min(top, len(idx))] {
		out = append(out, ConceptClass{Class: i, Logit: row[i], Prob: p[i]})
	}
	return out
}

// String summarises the factorisation.
func (r *DFFResult) String() string {
	return fmt.Sprintf("DFF of %s: %d concepts, relative error %.4f", r.Layer, r.K, r.RelError)
}
