package cam

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestConfidenceChangeOnesAndZeros(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	x := l.batch(2)
	s := l.session(t, x)
	hw := l.shape[2] * l.shape[3]
	targets := []Target{{Kind: Probability, Class: 3}, {Kind: Probability, Class: 1}}
	ones := make([]float32, 2*hw)
	for i := range ones {
		ones[i] = 1
	}
	c, err := ConfidenceChange(s, ones, targets)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 2; b++ {
		if c.Change[b] != 0 || c.Drop[b] != 0 || c.Increase[b] != 0 || c.Before[b] != c.After[b] {
			t.Errorf("image %d, map of ones: %+v, want no change", b, c)
		}
		if want := targets[b].Score(s.Logits(b)); c.Before[b] != want {
			t.Errorf("image %d: score before %g, want %g", b, c.Before[b], want)
		}
	}
	// A map of zeros turns every image into zeros.
	c, err = ConfidenceChange(s, make([]float32, 2*hw), targets)
	if err != nil {
		t.Fatal(err)
	}
	zero := targets[0].Score(logitsOf(t, l.m, make([]float32, len(l.input)), l.shape))
	if c.After[0] != zero {
		t.Errorf("map of zeros: score after %g, want the zero image's %g", c.After[0], zero)
	}
	for b := 0; b < 2; b++ {
		d := c.After[b] - c.Before[b]
		if c.Change[b] != d || c.Drop[b] != max(-d, 0) || (c.Increase[b] == 1) != (d > 0) {
			t.Errorf("image %d: inconsistent %+v", b, c)
		}
	}
	if _, err := ConfidenceChange(s, ones[:hw], targets); err == nil || !strings.Contains(err.Error(), "one 32×32 map per image") {
		t.Errorf("short maps: error %v", err)
	}
}

func TestPercentileLinear(t *testing.T) {
	a := []float32{4, 1, 3, 2}
	// numpy.percentile([1, 2, 3, 4], p)
	for p, want := range map[float64]float64{0: 1, 10: 1.3, 40: 2.2, 50: 2.5, 90: 3.7, 100: 4} {
		if got := percentileLinear(a, p); math.Abs(got-want) > 1e-12 {
			t.Errorf("percentile %v = %v, want %v", p, got, want)
		}
	}
}

// RemoveMostRelevantFirst keeps m < percentile_p(m): MoRF at p removes the
// (100 − p) % highest values, LeRF the (100 − p) % lowest.
func TestROADMask(t *testing.T) {
	cam := make([]float32, 100)
	for i := range cam {
		cam[i] = float32((i*37)%100) / 99
	}
	for _, p := range []float64{0, 10, 50, 90, 100} {
		for _, morf := range []bool{true, false} {
			keep := roadKeep(cam, p, morf)
			removed := 0
			for i, k := range keep {
				if !k {
					removed++
					// Removed values are the highest (MoRF) or lowest (LeRF).
					for j, k2 := range keep {
						if k2 && (morf && cam[j] > cam[i] || !morf && cam[j] < cam[i]) {
							t.Fatalf("p %v morf %v: kept %g but removed %g", p, morf, cam[j], cam[i])
						}
					}
				}
			}
			want := int(math.Round(100 - p))
			if p == 100 {
				want = 1 // only the extreme value
			}
			if removed != want {
				t.Errorf("p %v morf %v: %d of 100 removed, want %d", p, morf, removed, want)
			}
		}
	}
}

// referenceSystem builds NoisyLinearImputer.setup_sparse_system's equations
// densely, as the reference does: A[i,i] = −Σ valid weights, A[i,j] = w for
// removed neighbours, b[i] = −Σ w·value over kept neighbours.
func referenceSystem(img []float32, h, w int, keep []bool) (*mat.Dense, *mat.Dense, []int) {
	var idx []int
	vid := map[int]int{}
	for i, k := range keep {
		if !k {
			vid[i] = len(idx)
			idx = append(idx, i)
		}
	}
	n := len(idx)
	A := mat.NewDense(n, n, nil)
	B := mat.NewDense(n, 1, nil)
	for u, p := range idx {
		y, x := p/w, p%w
		sum := 1.0
		for _, nb := range roadNeighbours {
			yy, xx := y+nb.dy, x+nb.dx
			if yy < 0 || xx < 0 || yy >= h || xx >= w {
				sum -= nb.w
				continue
			}
			q := yy*w + xx
			if j, ok := vid[q]; ok {
				A.Set(u, j, nb.w)
			} else {
				B.Set(u, 0, B.At(u, 0)-nb.w*float64(img[q]))
			}
		}
		A.Set(u, u, -sum)
	}
	return A, B, idx
}

func TestImputeLinear(t *testing.T) {
	const h, w = 12, 15
	rng := rand.New(rand.NewSource(1))
	img := make([]float32, 2*h*w)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	keep := make([]bool, h*w)
	for i := range keep {
		keep[i] = rng.Float64() < 0.3
	}
	// Without noise: the reference's system, solved directly.
	dst := make([]float32, len(img))
	if err := imputeLinear(dst, img, 2, h, w, keep, 0, nil); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 2; c++ {
		A, B, idx := referenceSystem(img[c*h*w:(c+1)*h*w], h, w, keep)
		var sol mat.Dense
		if err := sol.Solve(A, B); err != nil {
			t.Fatal(err)
		}
		for u, p := range idx {
			if d := math.Abs(float64(dst[c*h*w+p]) - sol.At(u, 0)); d > 1e-5 {
				t.Fatalf("channel %d pixel %d: imputed %g, direct solution %g", c, p, dst[c*h*w+p], sol.At(u, 0))
			}
		}
		for i, k := range keep {
			if k && dst[c*h*w+i] != img[c*h*w+i] {
				t.Fatalf("kept pixel %d changed", i)
			}
		}
	}
	// A linear ramp with its interior removed is imputed exactly.
	ramp := make([]float32, h*w)
	inner := make([]bool, h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			ramp[y*w+x] = 0.3*float32(x) - 0.2*float32(y) + 1
			inner[y*w+x] = y == 0 || x == 0 || y == h-1 || x == w-1
		}
	}
	out := make([]float32, h*w)
	if err := imputeLinear(out, ramp, 1, h, w, inner, 0, nil); err != nil {
		t.Fatal(err)
	}
	for i := range ramp {
		if math.Abs(float64(out[i]-ramp[i])) > 1e-5 {
			t.Fatalf("ramp pixel %d: %g, want %g", i, out[i], ramp[i])
		}
	}
	// Nothing removed: unchanged. Noise is added to removed pixels only.
	all := make([]bool, h*w)
	for i := range all {
		all[i] = true
	}
	if err := imputeLinear(out, ramp, 1, h, w, all, 0.01, rand.New(rand.NewSource(2))); err != nil {
		t.Fatal(err)
	}
	for i := range ramp {
		if out[i] != ramp[i] {
			t.Fatal("an image with nothing removed changed")
		}
	}
	if err := imputeLinear(out, ramp, 1, h, w, inner, 0.01, rand.New(rand.NewSource(2))); err != nil {
		t.Fatal(err)
	}
	var ss float64
	nrem := 0
	for i := range ramp {
		d := float64(out[i] - ramp[i])
		if inner[i] && d != 0 {
			t.Fatal("noise added to a kept pixel")
		}
		if !inner[i] {
			ss += d * d
			nrem++
		}
	}
	if sd := math.Sqrt(ss / float64(nrem)); sd < 0.007 || sd > 0.013 {
		t.Errorf("imputation noise has standard deviation %.4g, want 0.01", sd)
	}
	// Everything removed: no known value, imputed as 0.
	none := make([]bool, h*w)
	if err := imputeLinear(out, ramp, 1, h, w, none, 0, nil); err != nil {
		t.Fatal(err)
	}
	if m := maxAbs(out); m != 0 {
		t.Errorf("all removed: max |value| %g, want 0", m)
	}
}

// ROAD is deterministic for a seed and independent of the batch size, and
// its averages are the means of its per-percentile changes.
func TestROADDeterministic(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	r := imCompute(t, s, Request{Method: "gradcam"})
	opt := ROADOptions{Percentiles: []float64{20, 50, 80}, Seed: 3}
	a, err := ROAD(s, r.Maps, nil, true, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.BatchSize = 1
	b, err := ROAD(s, r.Maps, nil, true, opt)
	if err != nil {
		t.Fatal(err)
	}
	for k := range a.Change {
		for i := range a.Change[k] {
			if a.Change[k][i] != b.Change[k][i] {
				t.Fatalf("batch size changed ROAD: %v vs %v", a.Change, b.Change)
			}
		}
	}
	for i := range a.Mean {
		want := (float64(a.Change[0][i]) + float64(a.Change[1][i]) + float64(a.Change[2][i])) / 3
		if math.Abs(float64(a.Mean[i])-want) > 1e-7 {
			t.Errorf("mean %g, want %g", a.Mean[i], want)
		}
	}
	if _, err := ROAD(s, r.Maps, nil, true, ROADOptions{Percentiles: []float64{120}}); err == nil || !strings.Contains(err.Error(), "outside 0..100") {
		t.Errorf("bad percentile: error %v", err)
	}
}

// On tinycnn (seeded weights, the oracle's image and class) removing the
// pixels Grad-CAM finds most relevant lowers the target's probability more
// than removing those its inverted map (1 − map) puts first, whatever the
// imputation noise, and ROADCombined is positive. Multiplying the image by
// the map keeps more of the probability than multiplying it by the
// inverted map. (On the randomly initialised ResNet-18 these do not hold
// reliably, so it is not tested there.)
func TestROADGradCAMBeatsInverse(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	targets := []Target{{Kind: Probability, Class: l.o.TargetClass}}
	r := imCompute(t, s, Request{Method: "gradcam", Targets: targets})
	inv := make([]float32, len(r.Maps))
	for i, v := range r.Maps {
		inv[i] = 1 - v
	}
	for seed := int64(0); seed < 3; seed++ {
		opt := ROADOptions{Seed: seed}
		morf, err := ROAD(s, r.Maps, targets, true, opt)
		if err != nil {
			t.Fatal(err)
		}
		morfInv, err := ROAD(s, inv, targets, true, opt)
		if err != nil {
			t.Fatal(err)
		}
		combined, err := ROADCombined(s, r.Maps, targets, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: MoRF mean %.3g, with the inverted map %.3g; combined %.3g", seed, morf.Mean[0], morfInv.Mean[0], combined[0])
		if !(morf.Mean[0] < morfInv.Mean[0]) || !(combined[0] > 0) {
			t.Errorf("seed %d: MoRF mean %.3g with Grad-CAM, %.3g with the inverted map; combined %.3g", seed, morf.Mean[0], morfInv.Mean[0], combined[0])
		}
	}
	conf, err := ConfidenceChange(s, r.Maps, targets)
	if err != nil {
		t.Fatal(err)
	}
	confInv, err := ConfidenceChange(s, inv, targets)
	if err != nil {
		t.Fatal(err)
	}
	if !(conf.Change[0] > confInv.Change[0]) {
		t.Errorf("confidence change %.3g with Grad-CAM, %.3g with the inverted map", conf.Change[0], confInv.Change[0])
	}
}

// ROAD divided into parts (as several engines compute it) and finished
// from the pieces gives one ROAD's numbers bit for bit, on tinycnn and on
// ResNet-18; bad parts and pieces are refused.
func TestROADParts(t *testing.T) {
	l := imLoad(t, "tinycnn", "model.onnx")
	s := l.session(t, l.batch(2))
	r := imCompute(t, s, Request{Method: "gradcam"})
	checkROADParts(t, s, r.Maps, ROADOptions{Percentiles: []float64{10, 30, 50, 70, 90}, Seed: 3, BatchSize: 3})
	rl := imLoad(t, "resnet18", "model_bn.onnx")
	rs := rl.session(t, nil)
	rr := imCompute(t, rs, Request{Method: "gradcam"})
	checkROADParts(t, rs, rr.Maps, ROADOptions{Percentiles: []float64{20, 40, 60, 80, 90}, Seed: 1, BatchSize: 2})
}

func checkROADParts(t *testing.T, s *Session, maps []float32, opt ROADOptions) {
	t.Helper()
	for _, morf := range []bool{true, false} {
		whole, err := ROAD(s, maps, nil, morf, opt)
		if err != nil {
			t.Fatal(err)
		}
		count, per := ROADPieces(s, opt)
		if count < 3 || per != opt.BatchSize {
			t.Fatalf("%d pieces of %d, want at least 3 of %d", count, per, opt.BatchSize)
		}
		var pieces []float32
		cuts := slices.Compact([]int{0, 1, count / 2, count})
		for i := 0; i+1 < len(cuts); i++ {
			o := opt
			o.Part = &Part{cuts[i], cuts[i+1]}
			p, err := ROAD(s, maps, nil, morf, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Pieces) != (cuts[i+1]-cuts[i])*per || p.Change != nil {
				t.Fatalf("part %v: %d scores, %d rows of changes", *o.Part, len(p.Pieces), len(p.Change))
			}
			pieces = append(pieces, p.Pieces...)
		}
		o := opt
		o.Pieces = pieces
		got, err := ROAD(s, maps, nil, morf, o)
		if err != nil {
			t.Fatal(err)
		}
		for k := range whole.Change {
			if !slices.Equal(bits(got.Change[k]), bits(whole.Change[k])) {
				t.Errorf("MoRF %v, percentile %v: %v from the pieces, %v from one ROAD", morf, opt.Percentiles[k], got.Change[k], whole.Change[k])
			}
		}
		if !slices.Equal(bits(got.Mean), bits(whole.Mean)) {
			t.Errorf("MoRF %v: mean %v from the pieces, %v from one ROAD", morf, got.Mean, whole.Mean)
		}
		for _, bad := range []ROADOptions{{Part: &Part{0, count + 1}}, {Part: &Part{1, 1}}, {Pieces: pieces[1:]}, {Part: &Part{0, 1}, Pieces: pieces}} {
			o := opt
			o.Part, o.Pieces = bad.Part, bad.Pieces
			if _, err := ROAD(s, maps, nil, morf, o); !errors.Is(err, ErrBadRequest) {
				t.Errorf("part %v, %d pieces: error %v, want a bad request", o.Part, len(o.Pieces), err)
			}
		}
	}
}
