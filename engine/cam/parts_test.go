package cam

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestPartsEqualWhole divides SmoothGrad (and its NoiseTunnel variants),
// ScoreCAM, AblationCAM and Integrated Gradients into uneven parts
// (as several engines would compute them), finishes them from the pieces,
// and checks that maps, raw attributions and weights are bit for bit those
// of one Compute, on a batch of two tinycnn images and on ResNet-18 (whose
// Winograd convolutions see other batch sizes in the parts).
func TestPartsEqualWhole(t *testing.T) {
	l := imLoad(t, "tinycnn", "model_bn.onnx")
	s := l.session(t, l.batch(2))
	for _, base := range []Request{
		{Method: "smoothgrad", Samples: 5, Seed: 3, BatchSize: 3},
		{Method: "scorecam", BatchSize: 5},
		{Method: "integrated-gradients", Steps: 7, BatchSize: 4},
		{Method: "smoothgrad-sq", Samples: 4, Seed: 2, BatchSize: 3},
		{Method: "vargrad", Samples: 4, Seed: 2, BatchSize: 3},
		{Method: "ablationcam", BatchSize: 5},
	} {
		t.Run(base.Method, func(t *testing.T) { checkParts(t, s, base) })
	}
	r := imLoad(t, "resnet18", "model_bn.onnx")
	t.Run("resnet18/smoothgrad", func(t *testing.T) {
		checkParts(t, r.session(t, nil), Request{Method: "smoothgrad", Samples: 3, Seed: 5, BatchSize: 3})
	})
	t.Run("resnet18/ablationcam", func(t *testing.T) {
		checkParts(t, r.session(t, nil), Request{Method: "ablationcam", BatchSize: 100})
	})
	// A layer whose minimum is not 0: each ablation's fill value depends on
	// its position in the batch, on both of AblationCAM's paths.
	x := tensor.New(2, 3, 8, 8)
	rng := rand.New(rand.NewSource(4))
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
	}
	rs, err := NewSession(residualNet(t), x)
	if err != nil {
		t.Fatal(err)
	}
	ab := Request{Method: "ablationcam", Layers: []string{"h"}, Targets: []Target{{Class: 1}, {Class: 3}}, BatchSize: 2}
	t.Run("ablationcam/batched", func(t *testing.T) { checkParts(t, rs, ab) })
	t.Run("ablationcam/per-channel", func(t *testing.T) {
		forcePerChannelAblation = true
		defer func() { forcePerChannelAblation = false }()
		checkParts(t, rs, ab)
	})
	if _, err := Compute(s, Request{Method: "gradcam", Part: &Part{0, 1}}); !errors.Is(err, ErrBadRequest) || Divisible("gradcam") {
		t.Errorf("gradcam in parts: error %v, want a bad request", err)
	}
}

func checkParts(t *testing.T, s *Session, base Request) {
	t.Helper()
	if !Divisible(base.Method) {
		t.Fatalf("%s is not divisible", base.Method)
	}
	whole := imCompute(t, s, base)
	req := base
	req.Part = &Part{0, 1}
	first := imCompute(t, s, req)
	total := first.PieceCount
	if total < 3 || len(first.Maps) != 0 || len(first.Pieces) == 0 {
		t.Fatalf("part [0, 1): %d pieces in all, %d maps, %d values", total, len(first.Maps), len(first.Pieces))
	}
	per := len(first.Pieces)
	cuts := slices.Compact([]int{0, 1, total / 2, total/2 + 1, total})
	var pieces []float32
	for i := 0; i+1 < len(cuts); i++ {
		req.Part = &Part{cuts[i], cuts[i+1]}
		var last [2]int
		req.Progress = func(done, total int) bool { last = [2]int{done, total}; return true }
		r := imCompute(t, s, req)
		req.Progress = nil
		if n := cuts[i+1] - cuts[i]; base.Method == "ablationcam" && last != [2]int{n, n} {
			t.Errorf("part %v: progress %v, want the part's %d pieces", *req.Part, last, n)
		}
		if len(r.Pieces) != (cuts[i+1]-cuts[i])*per || r.PieceCount != total {
			t.Fatalf("part %v: %d values, %d pieces in all", *req.Part, len(r.Pieces), r.PieceCount)
		}
		pieces = append(pieces, r.Pieces...)
	}
	req.Part, req.Pieces = nil, pieces
	got := imCompute(t, s, req)
	if !slices.Equal(bits(got.Maps), bits(whole.Maps)) {
		t.Error("maps from the pieces differ from one Compute's")
	}
	if len(got.Layers) != len(whole.Layers) || len(got.Layers) == 0 {
		t.Fatalf("%d layer results, want %d", len(got.Layers), len(whole.Layers))
	}
	for i := range got.Layers {
		if !slices.Equal(bits(got.Layers[i].Raw), bits(whole.Layers[i].Raw)) ||
			!slices.Equal(bits(got.Layers[i].Weights), bits(whole.Layers[i].Weights)) {
			t.Errorf("layer %d: raw map or weights from the pieces differ", i)
		}
	}
	if slices.Equal(got.Maps, make([]float32, len(got.Maps))) {
		t.Error("the maps are all zero")
	}

	// Bad parts and pieces are refused.
	for _, bad := range []Request{
		{Part: &Part{0, total + 1}},
		{Part: &Part{2, 2}},
		{Part: &Part{-1, 1}},
		{Pieces: pieces[1:]},
		{Part: &Part{0, 1}, Pieces: pieces},
		{Part: &Part{0, 1}, AugSmooth: true},
	} {
		r := base
		r.Part, r.Pieces, r.AugSmooth = bad.Part, bad.Pieces, bad.AugSmooth
		if _, err := Compute(s, r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("part %v, %d pieces, aug %v: error %v, want a bad request", r.Part, len(r.Pieces), r.AugSmooth, err)
		}
	}
}

func bits(a []float32) []uint32 {
	out := make([]uint32, len(a))
	for i, v := range a {
		out[i] = math.Float32bits(v)
	}
	return out
}
