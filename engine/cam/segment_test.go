package cam

import (
	"errors"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
)

// segNet: conv 3→6 → Relu ("feat", N×6×8×8) → conv 3×3 6→3 ("logits",
// N×3×8×8): a segmentation model of 3 classes.
func segNet(t testing.TB) *model.Model {
	b := newNet(11)
	x := b.conv("c1", "input", 3, 6, 3, 1)
	x = b.node("Relu", "feat", nil, x)
	b.conv("logits", x, 6, 3, 3, 1)
	return b.model(t, []int64{-1, 3, 8, 8}, "logits", []int64{-1, 3, 8, 8})
}

func segSession(t testing.TB) *Session {
	s, err := NewSession(segNet(t), randInput(12, 1, 3, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if k, h, w, ok := s.Segmentation(); !ok || k != 3 || h != 8 || w != 8 {
		t.Fatalf("Segmentation() = %d, %d, %d, %v; want 3, 8, 8, true", k, h, w, ok)
	}
	return s
}

func TestSegmentTarget(t *testing.T) {
	s := segSession(t)
	out := s.Logits(0)
	argmax := SegArgmax(out, 3, 64)
	counts := ClassPixels(argmax, 3)
	top := 0
	for c := range counts {
		if counts[c] > counts[top] {
			top = c
		}
	}
	t.Logf("pixels per class: %v", counts)
	// The default target: the class covering most pixels, over its pixels.
	ts, err := s.ResolveTargets(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Kind != Segment || ts[0].Class != top {
		t.Fatalf("default target %+v, want Segment of class %d", ts[0], top)
	}
	for class := 0; class < 3; class++ {
		if counts[class] == 0 {
			continue
		}
		ts, err := s.ResolveTargets([]Target{{Class: class}})
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		weights := make([]float32, len(out))
		for p, c := range argmax {
			if int(c) == class {
				want += float64(out[class*64+p])
				weights[class*64+p] = 1
			}
		}
		if got := ts[0].Score(out); math.Abs(float64(got)-want) > 1e-5*math.Abs(want)+1e-6 {
			t.Errorf("class %d: score %g, want %g (sum over its pixels)", class, got, want)
		}
		// Grad-CAM of the segment target equals Grad-CAM of the same sum
		// written as weights on every output value.
		for _, method := range []string{"gradcam", "hirescam", "scorecam", "ablationcam"} {
			seg := mustCompute(t, s, Request{Method: method, Layers: []string{"feat"}, Targets: []Target{{Kind: Segment, Class: class}}})
			wt := mustCompute(t, s, Request{Method: method, Layers: []string{"feat"}, Targets: []Target{{Kind: Weighted, Weights: weights}}})
			closeRel(t, method+" raw", seg.Layers[0].Raw, wt.Layers[0].Raw, 1e-6)
			closeAbs(t, method+" cam", seg.Maps, wt.Maps, 1e-6)
			if seg.Targets[0].Class != class || seg.Scores[0] != ts[0].Score(out) {
				t.Errorf("%s: target %d score %g, want %d, %g", method, seg.Targets[0].Class, seg.Scores[0], class, ts[0].Score(out))
			}
		}
	}
	// A mask of one's own.
	mask := make([]float32, 64)
	mask[9], mask[10] = 1, 0.5
	ts, err = s.ResolveTargets([]Target{{Kind: Segment, Class: 2, Mask: mask}})
	if err != nil {
		t.Fatal(err)
	}
	want := out[2*64+9] + 0.5*out[2*64+10]
	if got := ts[0].Score(out); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("own mask: score %g, want %g", got, want)
	}
	// Two masks, two cached gradients.
	r1 := mustCompute(t, s, Request{Method: "gradcam", Layers: []string{"feat"}, Targets: []Target{{Kind: Segment, Class: 2, Mask: mask}}})
	mask2 := append([]float32(nil), mask...)
	mask2[40] = 1
	r2 := mustCompute(t, s, Request{Method: "gradcam", Layers: []string{"feat"}, Targets: []Target{{Kind: Segment, Class: 2, Mask: mask2}}})
	if r1.Scores[0] == r2.Scores[0] {
		t.Error("two masks gave the same score: the gradient cache mixes masks up")
	}
}

func TestSegEigenCAM(t *testing.T) {
	s := segSession(t)
	tg := []Target{{Class: -1}}
	r := mustCompute(t, s, Request{Method: "segeigencam", Layers: []string{"feat"}, Targets: tg})
	ts, _ := s.ResolveTargets(tg)
	grads, _, err := s.Gradients(ts, []string{"feat"})
	if err != nil {
		t.Fatal(err)
	}
	a, g := s.Run.Value("feat").F32(), grads["feat"].F32()
	stack := make([]float32, len(a))
	negative := false
	for i := range a {
		stack[i] = float32(math.Abs(float64(g[i]))) * a[i]
		negative = negative || g[i]*a[i] < 0
	}
	if !negative {
		t.Fatal("no negative gradient·activation: |∂y/∂A| changes nothing here, the test shows nothing")
	}
	want := Project2D(stack, 6, 8, 8)
	raw := r.Layers[0].Raw
	if neg := negate(want); oracle.MaxAbsDiff(raw, want) > oracle.MaxAbsDiff(raw, neg) {
		want = neg
	}
	closeRel(t, "raw", raw, want, 1e-6)
	lo, hi := raw[0], raw[0]
	for _, v := range raw {
		lo, hi = min(lo, v), max(hi, v)
	}
	if math.Abs(float64(lo)) > math.Abs(float64(hi)) {
		t.Errorf("|min| %g > |max| %g: the sign rule is not applied", lo, hi)
	}
	eg := mustCompute(t, s, Request{Method: "eigengradcam", Layers: []string{"feat"}, Targets: tg})
	if oracle.MaxAbsDiff(eg.Layers[0].Raw, raw) < 1e-4 || oracle.MaxAbsDiff(eg.Layers[0].Raw, negate(raw)) < 1e-4 {
		t.Error("SegEigenCAM equals EigenGradCAM: the gradient's magnitude is not taken")
	}
}

func TestSegmentErrors(t *testing.T) {
	s := segSession(t)
	counts := ClassPixels(SegArgmax(s.Logits(0), 3, 64), 3)
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Class: 3}, "class 3 is out of range: the model segments 3 classes (0–2)"},
		{Target{Kind: Segment, Class: 0, Mask: make([]float32, 10)}, "the mask has 10 values; the model's output has 64 pixels"},
		{Target{Kind: Segment, Class: 0, Mask: make([]float32, 64)}, "the mask is empty"},
		{Target{Kind: Contrast, Class: 0, Other: 1}, "explain a class over pixels"},
		{Target{Kind: Probability, Class: 0}, "explain a class over pixels"},
	} {
		_, err := Compute(s, Request{Method: "gradcam", Layers: []string{"feat"}, Targets: []Target{tc.t}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: error %v, want one saying %q", tc.t, err, tc.want)
		}
	}
	for c, n := range counts {
		if n == 0 {
			_, err := Compute(s, Request{Method: "gradcam", Layers: []string{"feat"}, Targets: []Target{{Class: c}}})
			if err == nil || !strings.Contains(err.Error(), "no pixel is predicted as class") {
				t.Errorf("class %d (no pixel): error %v", c, err)
			}
		}
	}
	// A segment target on a classifier.
	cs, err := NewSession(nhwcNet(t), randInput(3, 1, 3, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := cs.Segmentation(); ok {
		t.Error("a classifier is taken for a segmentation model")
	}
	_, err = Compute(cs, Request{Method: "gradcam", Layers: []string{"x"}, Targets: []Target{{Kind: Segment, Class: 1}}})
	if err == nil || !strings.Contains(err.Error(), "needs a segmentation model") {
		t.Errorf("segment target on a classifier: %v", err)
	}
}

func TestMaskFromImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 2))
	img.SetGray(1, 0, color.Gray{Y: 1})
	img.SetGray(3, 1, color.Gray{Y: 255})
	got := MaskFromImage(img, 4, 8) // 2×4 → 4×8: each pixel a 2×2 block
	for y := 0; y < 4; y++ {
		for x := 0; x < 8; x++ {
			want := float32(0)
			if (x/2 == 1 && y/2 == 0) || (x/2 == 3 && y/2 == 1) {
				want = 1
			}
			if got[y*8+x] != want {
				t.Fatalf("(%d, %d): %g, want %g", x, y, got[y*8+x], want)
			}
		}
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgba.Set(0, 0, color.NRGBA{0, 0, 0, 255})
	rgba.Set(1, 0, color.NRGBA{0, 9, 0, 255})
	if got := MaskFromImage(rgba, 1, 2); got[0] != 0 || got[1] != 1 {
		t.Errorf("black is 0, a colour 1: got %v", got)
	}
}
