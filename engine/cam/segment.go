package cam

import (
	"fmt"
	"hash/fnv"
	"image"
	"math"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Segmentation models: a model whose output is N×K×H×W (H·W > 1) scores K
// classes at every pixel. The scalar explained is then pytorch-grad-cam's
// SemanticSegmentationTarget, Σ_p mask_p · out[class, p] (a Segment
// target), by default over the pixels predicted as the class.

// Segmentation reports whether the session's model is a segmentation
// model, with its number of classes and its output's size.
func (s *Session) Segmentation() (k, h, w int, ok bool) {
	sh := s.Output().Shape()
	if len(sh) != 4 || sh[0] != s.Batch() || sh[2]*sh[3] <= 1 {
		return 0, 0, 0, false
	}
	return sh[1], sh[2], sh[3], true
}

// SegArgmax is the predicted class of each pixel of one image's K×H×W
// scores (the lowest class on a tie, as numpy's argmax).
func SegArgmax(scores []float32, k, hw int) []int32 {
	out := make([]int32, hw)
	for p := range out {
		best := scores[p]
		for c := 1; c < k; c++ {
			if v := scores[c*hw+p]; v > best {
				best, out[p] = v, int32(c)
			}
		}
	}
	return out
}

// ClassPixels counts the pixels predicted as each of k classes.
func ClassPixels(argmax []int32, k int) []int {
	counts := make([]int, k)
	for _, c := range argmax {
		counts[c]++
	}
	return counts
}

// MaskFromImage is a segmentation mask from a picture: 1 where a pixel is
// not black (any colour channel non-zero), 0 elsewhere, resized to h×w by
// nearest neighbour (source pixel ⌊i·size/h⌋, as OpenCV's INTER_NEAREST
// and PyTorch's nearest).
func MaskFromImage(img image.Image, h, w int) []float32 {
	b := img.Bounds()
	out := make([]float32, h*w)
	for y := 0; y < h; y++ {
		sy := b.Min.Y + y*b.Dy()/h
		for x := 0; x < w; x++ {
			sx := b.Min.X + x*b.Dx()/w
			r, g, bl, _ := img.At(sx, sy).RGBA()
			if r|g|bl != 0 {
				out[y*w+x] = 1
			}
		}
	}
	return out
}

// resolveSegment turns image b's target into a Segment target for a
// segmentation model: a Logit or Segment target of a class (the top class:
// the class predicted at most pixels) over its mask (default: the pixels
// predicted as the class). Weighted targets stay as they are (weights for
// every output value); the others are for classifiers.
func (s *Session) resolveSegment(t Target, b, k, hw int) (Target, error) {
	logits := s.Logits(b)
	switch t.Kind {
	case Weighted:
		return t.Resolve(logits)
	case Logit, Segment:
	default:
		return t, kind.Errorf(ErrBadRequest, "cam: the model segments (its output is %s): explain a class over pixels, not a probability or a contrast", tensor.ShapeString(s.Output().Shape()))
	}
	argmax := SegArgmax(logits, k, hw)
	counts := ClassPixels(argmax, k)
	class := t.Class
	if class < 0 {
		class = 0
		for c, n := range counts {
			if n > counts[class] {
				class = c
			}
		}
	}
	if class >= k {
		return t, kind.Errorf(ErrBadRequest, "cam: class %d is out of range: the model segments %d classes (0–%d)", class, k, k-1)
	}
	mask := t.Mask
	switch {
	case mask == nil:
		if counts[class] == 0 {
			return t, kind.Errorf(ErrBadRequest, "cam: no pixel is predicted as class %d; give a mask of the pixels to explain", class)
		}
		mask = make([]float32, hw)
		for p, c := range argmax {
			if int(c) == class {
				mask[p] = 1
			}
		}
	case len(mask) != hw:
		return t, kind.Errorf(ErrBadRequest, "cam: the mask has %d values; the model's output has %d pixels", len(mask), hw)
	default:
		var any bool
		for _, v := range mask {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return t, kind.Errorf(ErrBadRequest, "cam: the mask has a value that is not a number")
			}
			any = any || v != 0
		}
		if !any {
			return t, kind.Errorf(ErrBadRequest, "cam: the mask is empty (every value is 0)")
		}
	}
	return Target{Kind: Segment, Class: class, Mask: mask}, nil
}

// segScore is Σ_p mask_p·scores[class, p] for one image's K×H×W scores.
func segScore(t Target, scores []float32) float32 {
	hw := len(t.Mask)
	var s float64
	for p, v := range scores[t.Class*hw : (t.Class+1)*hw] {
		s += float64(t.Mask[p] * v)
	}
	return float32(s)
}

// maskKey identifies a mask for caching gradients.
func maskKey(mask []float32) string {
	if mask == nil {
		return ""
	}
	h := fnv.New64a()
	var b [4]byte
	for _, v := range mask {
		u := math.Float32bits(v)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		h.Write(b[:])
	}
	return fmt.Sprintf("%d:%x", len(mask), h.Sum64())
}
