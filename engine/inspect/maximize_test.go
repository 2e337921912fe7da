package inspect

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// maxModel is a model from models/ with its card's normalisation.
type maxModel struct {
	m         *model.Model
	mean, std []float32
}

var (
	maxModelsMu sync.Mutex
	maxModels   = map[string]*maxModel{}
)

// maxLoad loads models/<name>.onnx and the mean and std of its card
// (models/<name>.json), once per test binary.
func maxLoad(t testing.TB, name string) *maxModel {
	t.Helper()
	maxModelsMu.Lock()
	defer maxModelsMu.Unlock()
	if b, ok := maxModels[name]; ok {
		return b
	}
	dir := filepath.Join("..", "..", "models")
	m, err := model.LoadFile(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatalf("bundled model %s: %v", name, err)
	}
	var card struct {
		Mean []float32 `json:"mean"`
		Std  []float32 `json:"std"`
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err == nil {
		err = json.Unmarshal(data, &card)
	}
	if err != nil {
		t.Fatalf("card of %s: %v", name, err)
	}
	b := &maxModel{m: m, mean: card.Mean, std: card.Std}
	maxModels[name] = b
	return b
}

// maxForward runs the whole model on a 0..1 picture normalised with
// mean and std, independently of Maximize's own (pruned) graph.
func maxForward(t *testing.T, b *maxModel, pix []float32, value string) *tensor.T {
	t.Helper()
	shape, err := b.m.ConcreteInputShape(1)
	if err != nil {
		t.Fatal(err)
	}
	hw := shape[2] * shape[3]
	x := make([]float32, len(pix))
	for i, v := range pix {
		k := i / hw
		x[i] = (v - b.mean[k%len(b.mean)]) / b.std[k%len(b.std)]
	}
	run, err := b.m.Forward(tensor.FromF32(x, shape...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return run.Value(value)
}

func maxCheckPicture(t *testing.T, r *MaximizeResult, c, h, w int) {
	t.Helper()
	if r.C != c || r.H != h || r.W != w || len(r.Pixels) != c*h*w {
		t.Fatalf("result is %d×%d×%d with %d values, want %d×%d×%d", r.C, r.H, r.W, len(r.Pixels), c, h, w)
	}
	lo, hi := r.Pixels[0], r.Pixels[0]
	for _, v := range r.Pixels {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("picture value %v outside 0..1", v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo < 0.1 {
		t.Errorf("picture is nearly flat: values in %v..%v", lo, hi)
	}
}

// TestMaximizeChannels is the feature's contract: on the bundled shapes
// model, with the default settings (256 steps), each channel's mean
// activation on the result is at least 10× that on the starting noise, and
// above zero. The channels are not hand-picked: the first six of block 3
// (pixels) and the first four of block 2 (Fourier and decorrelated
// colours, 128 steps). Final is also checked against a forward pass of the
// whole model.
func TestMaximizeChannels(t *testing.T) {
	b := maxLoad(t, "shapes")
	type tcase struct {
		layer   string
		channel int
		fourier bool
		steps   int
	}
	var cases []tcase
	for c := 0; c < 6; c++ {
		cases = append(cases, tcase{"/block3/relu/Relu_output_0", c, false, 256})
	}
	for c := 0; c < 4; c++ {
		cases = append(cases, tcase{"/block2/relu/Relu", c, true, 128}) // by node name
	}
	for _, tc := range cases {
		steps := tc.steps
		r, err := Maximize(b.m, MaximizeOptions{Layer: tc.layer, Channel: tc.channel, Steps: steps,
			Mean: b.mean, Std: b.std, Fourier: tc.fourier, Decorrelate: tc.fourier, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		maxCheckPicture(t, r, 3, 64, 64)
		if r.Steps != steps || len(r.Objective) != steps {
			t.Errorf("%d steps done, %d objectives; want %d", r.Steps, len(r.Objective), steps)
		}
		t.Logf("%s channel %d (fourier %v): start %.4f final %.4f: %.1f×", tc.layer, tc.channel, tc.fourier, r.Start, r.Final, r.Final/r.Start)
		if !(r.Final >= 10*r.Start && r.Final > 0) {
			t.Errorf("%s channel %d: final %v, start %v; want ≥ 10× and above zero", tc.layer, tc.channel, r.Final, r.Start)
		}
		value, _ := b.m.ResolveLayer(tc.layer)
		act := maxForward(t, b, r.Pixels, value)
		hw := act.Len() / act.Shape()[1]
		var sum float64
		for _, v := range act.F32()[tc.channel*hw : (tc.channel+1)*hw] {
			sum += float64(v)
		}
		if got := float32(sum / float64(hw)); math.Abs(float64(got-r.Final)) > 1e-4*max(1, math.Abs(float64(got))) {
			t.Errorf("%s channel %d: Final %v, but the model's forward pass on the result gives %v", tc.layer, tc.channel, r.Final, got)
		}
	}
}

// TestMaximizeClass: a class logit goes up a lot and the result is
// classified as that class.
func TestMaximizeClass(t *testing.T) {
	b := maxLoad(t, "shapes")
	for _, class := range []int{0, 6} {
		r, err := Maximize(b.m, MaximizeOptions{Class: new(class), Steps: 48, Mean: b.mean, Std: b.std, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		maxCheckPicture(t, r, 3, 64, 64)
		logits := maxForward(t, b, r.Pixels, b.m.Output).F32()
		top := 0
		for k, v := range logits {
			if v > logits[top] {
				top = k
			}
		}
		t.Logf("class %d: logit %.3f → %.3f; top class on the result %d", class, r.Start, r.Final, top)
		if r.Final < r.Start+10 {
			t.Errorf("class %d: logit went from %v to %v only; want +10 at least", class, r.Start, r.Final)
		}
		if math.Abs(float64(logits[class]-r.Final)) > 1e-3*max(1, math.Abs(float64(r.Final))) {
			t.Errorf("class %d: Final %v, the model's logit on the result %v", class, r.Final, logits[class])
		}
		if top != class {
			t.Errorf("class %d: the result is classified as %d (logits %v)", class, top, logits)
		}
	}
}

// TestMaximizeZeroClass: options without Class maximise the channel (the
// zero value picks the default objective), and Class: new(0) class 0's
// logit; Final is each objective on the result.
func TestMaximizeZeroClass(t *testing.T) {
	b := maxLoad(t, "shapes")
	layer := "/block3/relu/Relu_output_0"
	ch, err := Maximize(b.m, MaximizeOptions{Layer: layer, Channel: 1, Steps: 4, Mean: b.mean, Std: b.std, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	act := maxForward(t, b, ch.Pixels, layer)
	hw := act.Len() / act.Shape()[1]
	var sum float64
	for _, v := range act.F32()[hw : 2*hw] {
		sum += float64(v)
	}
	if mean := float32(sum / float64(hw)); math.Abs(float64(mean-ch.Final)) > 1e-4*max(1, math.Abs(float64(mean))) {
		t.Errorf("without Class: Final %v, channel 1's mean on the result %v", ch.Final, mean)
	}
	cl, err := Maximize(b.m, MaximizeOptions{Layer: layer, Channel: 1, Class: new(0), Steps: 4, Mean: b.mean, Std: b.std, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if logit := maxForward(t, b, cl.Pixels, b.m.Output).F32()[0]; math.Abs(float64(logit-cl.Final)) > 1e-3*max(1, math.Abs(float64(logit))) {
		t.Errorf("Class 0: Final %v, logit 0 on the result %v", cl.Final, logit)
	}
	if cl.Start == ch.Start {
		t.Errorf("Class 0 and channel 1 start from the same objective %v", cl.Start)
	}
}

// TestMaximizeOneChannel runs a greyscale model (Fashion-MNIST, 28×28: a
// DCT size that is no power of two; Decorrelate is ignored for one channel).
func TestMaximizeOneChannel(t *testing.T) {
	b := maxLoad(t, "fashion")
	for _, fourier := range []bool{false, true} {
		r, err := Maximize(b.m, MaximizeOptions{Layer: "/block2/relu/Relu_output_0", Channel: 2, Steps: 32,
			Mean: b.mean, Std: b.std, Fourier: fourier, Decorrelate: true, Jitter: 2})
		if err != nil {
			t.Fatal(err)
		}
		maxCheckPicture(t, r, 1, 28, 28)
		t.Logf("fourier %v: start %.4f final %.4f", fourier, r.Start, r.Final)
		if !(r.Final > 2*r.Start && r.Final > 0) {
			t.Errorf("fourier %v: objective went from %v to %v", fourier, r.Start, r.Final)
		}
		if img := r.Image(); img.Bounds().Dx() != 28 || img.Pix[0] != img.Pix[1] || img.Pix[1] != img.Pix[2] {
			t.Errorf("a one-channel result should draw grey")
		}
	}
}

func maxRand(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func maxDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// maxCheckAdjoint is the dot-product test ⟨A x, y⟩ = ⟨x, Aᵀ y⟩.
func maxCheckAdjoint(t *testing.T, what string, ax, y, x, aty []float32) {
	t.Helper()
	l, r := maxDot(ax, y), maxDot(x, aty)
	if math.Abs(l-r) > 1e-5*max(1, math.Abs(l)) {
		t.Errorf("%s: ⟨Ax, y⟩ = %v, ⟨x, Aᵀy⟩ = %v", what, l, r)
	}
}

func TestMaximizeDCTAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {1, 6}, {5, 7}, {8, 8}, {28, 28}, {13, 64}} {
		h, w := sz[0], sz[1]
		// orthonormal: D Dᵀ = I
		for _, n := range []int{h, w} {
			d := dctMatrix(n)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					want := 0.0
					if i == j {
						want = 1
					}
					if got := maxDot(d[i*n:(i+1)*n], d[j*n:(j+1)*n]); math.Abs(got-want) > 1e-5 {
						t.Fatalf("DCT %d: row %d · row %d = %v", n, i, j, got)
					}
				}
			}
		}
		const c = 2
		q := newParam(c, h, w, true, false)
		x, y := maxRand(rng, c*h*w), maxRand(rng, c*h*w)
		ax, aty := make([]float32, c*h*w), make([]float32, c*h*w)
		q.basis(ax, x)
		q.basisT(aty, y)
		maxCheckAdjoint(t, "Fourier basis "+tensor.ShapeString([]int{c, h, w}), ax, y, x, aty)
		// idct2 inverts dct2
		back, coef := make([]float32, h*w), make([]float32, h*w)
		q.dct2(coef, x[:h*w])
		q.idct2(back, coef)
		for i := range back {
			if math.Abs(float64(back[i]-x[i])) > 1e-5 {
				t.Fatalf("%d×%d: idct2(dct2(x))[%d] = %v, x = %v", h, w, i, back[i], x[i])
			}
		}
		// the pixel basis is the identity
		qp := newParam(c, h, w, false, false)
		qp.basis(ax, x)
		qp.basisT(aty, y)
		maxCheckAdjoint(t, "pixel basis", ax, y, x, aty)
	}
	// The spectrum scale: 1/max(f, 1/max(H,W))/4, largest at f = 0.
	q := newParam(1, 16, 32, true, false)
	if got, want := q.scale[0], float32(32.0/fourierDamp); got != want {
		t.Errorf("DC scale %v, want %v", got, want)
	}
	if got, want := q.scale[31], float32(1/(31.0/64)/fourierDamp); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("scale at (0, 31) %v, want %v", got, want)
	}
}

func TestMaximizeColourAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	q := newParam(3, 4, 5, false, true)
	// the largest column norm is 1
	var most float64
	for j := 0; j < 3; j++ {
		var s float64
		for i := 0; i < 3; i++ {
			s += float64(q.colour[3*i+j]) * float64(q.colour[3*i+j])
		}
		most = max(most, math.Sqrt(s))
	}
	if math.Abs(most-1) > 1e-6 {
		t.Errorf("largest column norm %v, want 1", most)
	}
	x, y := maxRand(rng, 60), maxRand(rng, 60)
	ax, aty := append([]float32(nil), x...), append([]float32(nil), y...)
	q.colourFwd(ax)
	q.colourT(aty)
	maxCheckAdjoint(t, "colour matrix", ax, y, x, aty)
	// red of pixel 0 from the matrix's first row
	want := q.colour[0]*x[0] + q.colour[1]*x[20] + q.colour[2]*x[40]
	if math.Abs(float64(ax[0]-want)) > 1e-6 {
		t.Errorf("colour: got %v, want %v", ax[0], want)
	}
	// one channel: ignored
	q1 := newParam(1, 4, 5, false, true)
	a1 := append([]float32(nil), x[:20]...)
	q1.colourFwd(a1)
	for i := range a1 {
		if a1[i] != x[i] {
			t.Fatalf("Decorrelate with one channel changed the picture")
		}
	}
}

func TestMaximizeWarpAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const c, h, w = 2, 9, 13
	a := newWarp(h, w)
	x := maxRand(rng, c*h*w)
	out := make([]float32, c*h*w)
	// the identity and whole-pixel shifts (clamped at the edges) are exact
	a.set(0, 1, 0, 0)
	a.apply(out, x, c)
	for i := range x {
		if out[i] != x[i] {
			t.Fatalf("identity warp changed value %d: %v → %v", i, x[i], out[i])
		}
	}
	a.set(0, 1, 3, -2)
	a.apply(out, x, c)
	for ch := 0; ch < c; ch++ {
		for yy := 0; yy < h; yy++ {
			for xx := 0; xx < w; xx++ {
				want := x[ch*h*w+clampIndex(yy+2, h)*w+clampIndex(xx-3, w)]
				if got := out[ch*h*w+yy*w+xx]; got != want {
					t.Fatalf("shift by (3, -2): (%d,%d,%d) = %v, want %v", ch, yy, xx, got, want)
				}
			}
		}
	}
	// a half-turn about the centre maps (x, y) to (w−1−x, h−1−y)
	a.set(math.Pi, 1, 0, 0)
	a.apply(out, x, c)
	for i := 0; i < h*w; i++ {
		if got, want := out[i], x[h*w-1-i]; math.Abs(float64(got-want)) > 1e-5 {
			t.Fatalf("half-turn: value %d = %v, want %v", i, got, want)
		}
	}
	for k := 0; k < 20; k++ {
		theta := (rng.Float64()*2 - 1) * 0.6
		s := 0.7 + 0.6*rng.Float64()
		tx, ty := (rng.Float64()*2-1)*12, (rng.Float64()*2-1)*12
		a.set(theta, s, tx, ty)
		y := maxRand(rng, c*h*w)
		aty := make([]float32, c*h*w)
		a.apply(out, x, c)
		a.adjoint(aty, y, c)
		maxCheckAdjoint(t, "affine resampler", out, y, x, aty)
	}
}

func TestMaximizeTVGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c, h, w = 2, 5, 6
	pic := make([]float32, c*h*w)
	for i := range pic {
		pic[i] = rng.Float32()
	}
	// nearly equal neighbours, inside the smoothing
	pic[1] = pic[0] + 0.003
	const weight = 2
	grad := make([]float32, len(pic))
	tv := tvPenalty(pic, c, h, w, weight, grad)
	if tv <= 0 {
		t.Fatalf("tv = %v", tv)
	}
	var flat [c * h * w]float32
	for i := range flat {
		flat[i] = 0.3
	}
	if v := tvPenalty(flat[:], c, h, w, 1, nil); v != 0 {
		t.Errorf("tv of a flat picture = %v", v)
	}
	const eps = 1e-3
	var worst, most float64
	for i := range pic {
		orig := pic[i]
		pic[i] = orig + eps
		up := tvPenalty(pic, c, h, w, 0, nil)
		pic[i] = orig - eps
		down := tvPenalty(pic, c, h, w, 0, nil)
		pic[i] = orig
		fd := -weight * (up - down) / (2 * eps) // grad holds −weight·∂tv
		worst = max(worst, math.Abs(fd-float64(grad[i])))
		most = max(most, math.Abs(fd))
	}
	if worst > 1e-2*most {
		t.Errorf("TV gradient differs from finite differences by %v (largest %v)", worst, most)
	}
}

// TestMaximizeParamGradient checks the whole parametrisation's backward
// (sigmoid, colour, 1/f DCT basis) against finite differences.
func TestMaximizeParamGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const c, h, w = 3, 5, 7
	for _, fourier := range []bool{false, true} {
		q := newParam(c, h, w, fourier, true)
		p := maxRand(rng, c*h*w)
		for i := range p {
			p[i] *= 0.1
		}
		y := maxRand(rng, c*h*w)
		pic := make([]float32, c*h*w)
		q.picture(pic, p)
		dp := make([]float32, c*h*w)
		q.backward(dp, y, pic)
		f := func() float64 {
			q.picture(pic, p)
			return maxDot(pic, y)
		}
		const eps = 1e-2
		var worst, most float64
		for i := range p {
			orig := p[i]
			p[i] = orig + eps
			up := f()
			p[i] = orig - eps
			down := f()
			p[i] = orig
			fd := (up - down) / (2 * eps)
			worst = max(worst, math.Abs(fd-float64(dp[i])))
			most = max(most, math.Abs(fd))
		}
		if worst > 3e-3*most {
			t.Errorf("fourier %v: parametrisation gradient differs from finite differences by %v (largest %v)", fourier, worst, most)
		}
	}
}

// TestMaximizeBlur: blurring in the DCT domain is a Gaussian blur with
// mirrored edges, in both parametrisations.
func TestMaximizeBlur(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const h, w, sigma = 12, 16, 1.5
	x := maxRand(rng, h*w)
	// direct: separable sampled Gaussian, mirrored (half-sample) edges
	r := int(math.Ceil(5 * sigma))
	kern := make([]float64, 2*r+1)
	var ks float64
	for i := range kern {
		d := float64(i - r)
		kern[i] = math.Exp(-d * d / (2 * sigma * sigma))
		ks += kern[i]
	}
	mirror := func(i, n int) int {
		for i < 0 || i >= n {
			if i < 0 {
				i = -i - 1
			}
			if i >= n {
				i = 2*n - 1 - i
			}
		}
		return i
	}
	tmp := make([]float64, h*w)
	want := make([]float64, h*w)
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			for k, kv := range kern {
				tmp[yy*w+xx] += kv / ks * float64(x[yy*w+mirror(xx+k-r, w)])
			}
		}
	}
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			for k, kv := range kern {
				want[yy*w+xx] += kv / ks * tmp[mirror(yy+k-r, h)*w+xx]
			}
		}
	}
	gain := blurGain(h, w, sigma)
	check := func(what string, got []float32) {
		t.Helper()
		for i := range got {
			if math.Abs(float64(got[i])-want[i]) > 1e-3 {
				t.Fatalf("%s: value %d = %v, a direct Gaussian blur gives %v", what, i, got[i], want[i])
			}
		}
	}
	qp := newParam(1, h, w, false, false)
	p := append([]float32(nil), x...)
	qp.blur(p, sigma, gain)
	check("pixel blur", p)
	// Fourier: the parameters change so that basis(p) is blurred
	qf := newParam(1, h, w, true, false)
	coef := make([]float32, h*w)
	qf.dct2(coef, x)
	for i := range coef {
		coef[i] /= qf.scale[i]
	}
	qf.blur(coef, sigma, gain)
	z := make([]float32, h*w)
	qf.basis(z, coef)
	check("Fourier blur", z)
}

func TestMaximizeDeterministic(t *testing.T) {
	b := maxLoad(t, "shapes")
	run := func(seed int64, fourier bool) *MaximizeResult {
		r, err := Maximize(b.m, MaximizeOptions{Layer: "/block2/relu/Relu_output_0", Channel: 4, Steps: 6,
			Mean: b.mean, Std: b.std, Seed: seed, Fourier: fourier, Decorrelate: true, Blur: 1, BlurEvery: 2, L2: 0.01})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, fourier := range []bool{false, true} {
		a, a2, other := run(42, fourier), run(42, fourier), run(43, fourier)
		for i := range a.Pixels {
			if a.Pixels[i] != a2.Pixels[i] {
				t.Fatalf("fourier %v: same seed, pixel %d differs: %v, %v", fourier, i, a.Pixels[i], a2.Pixels[i])
			}
		}
		for i := range a.Objective {
			if a.Objective[i] != a2.Objective[i] {
				t.Fatalf("fourier %v: same seed, objective %d differs", fourier, i)
			}
		}
		if a.Start != a2.Start || a.Final != a2.Final {
			t.Fatalf("fourier %v: same seed, start/final differ", fourier)
		}
		same := true
		for i := range a.Pixels {
			same = same && a.Pixels[i] == other.Pixels[i]
		}
		if same {
			t.Errorf("fourier %v: seeds 42 and 43 gave the same picture", fourier)
		}
	}
}

func TestMaximizeCancel(t *testing.T) {
	b := maxLoad(t, "shapes")
	var steps []int
	r, err := Maximize(b.m, MaximizeOptions{Layer: "/block3/relu/Relu_output_0", Channel: 1, Steps: 50,
		Mean: b.mean, Std: b.std, Progress: func(p MaxProgress) bool {
			steps = append(steps, p.Step)
			if p.Total != 50 || p.C != 3 || p.H != 64 || p.W != 64 || len(p.Pixels) != 3*64*64 {
				t.Errorf("progress report %d/%d %d×%d×%d with %d pixels", p.Step, p.Total, p.C, p.H, p.W, len(p.Pixels))
			}
			return p.Step < 3
		}})
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("got error %v, want ErrCancelled", err)
	}
	if r == nil {
		t.Fatal("no partial result with ErrCancelled")
	}
	if r.Steps != 3 || len(r.Objective) != 3 || len(steps) != 3 || steps[0] != 1 {
		t.Errorf("cancelled after step 3: Steps %d, %d objectives, progress steps %v", r.Steps, len(r.Objective), steps)
	}
	maxCheckPicture(t, r, 3, 64, 64)
}

func TestMaximizeBadInputs(t *testing.T) {
	b := maxLoad(t, "shapes")
	layer := "/block3/relu/Relu_output_0"
	for _, tc := range []struct {
		opt  MaximizeOptions
		want []string
	}{
		{MaximizeOptions{Layer: "/nope"}, []string{`no layer named "/nope"`, "/block3/relu/Relu_output_0"}},
		{MaximizeOptions{}, []string{"no layer given"}},
		{MaximizeOptions{Class: new(-1)}, []string{"class -1 is out of range"}},
		{MaximizeOptions{Layer: layer, Channel: 48}, []string{"channel 48 is out of range", "48 channels (0..47)"}},
		{MaximizeOptions{Layer: layer, Channel: -1}, []string{"channel -1 is out of range"}},
		{MaximizeOptions{Class: new(8)}, []string{"class 8 is out of range", "8 classes (0..7)"}},
		{MaximizeOptions{Layer: layer, Mean: []float32{0.5, 0.5}}, []string{"Mean has 2 values for a 3-channel input"}},
		{MaximizeOptions{Layer: layer, Std: []float32{0}}, []string{"Std[0] must be positive"}},
		{MaximizeOptions{Layer: layer, Scale: 1}, []string{"Scale must be below 1"}},
		{MaximizeOptions{Layer: layer, Steps: -1}, []string{"steps must not be negative"}},
		{MaximizeOptions{Layer: layer, LR: math.NaN()}, []string{"LR must be a finite number"}},
	} {
		if tc.opt.Steps == 0 {
			tc.opt.Steps = 1
		}
		_, err := Maximize(b.m, tc.opt)
		if err == nil {
			t.Errorf("%+v: no error", tc.opt)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
}

// TestMaximizeOtherLayers: a 1×1 map (global pooling, N×C×1×1) and an
// N×C layer (Flatten) are channel objectives too; a layer of another rank
// is refused.
func TestMaximizeOtherLayers(t *testing.T) {
	b := maxLoad(t, "shapes")
	for _, layer := range []string{"/gap/GlobalAveragePool", "/flatten/Flatten_output_0"} {
		r, err := Maximize(b.m, MaximizeOptions{Layer: layer, Channel: 10, Steps: 4, Mean: b.mean, Std: b.std})
		if err != nil {
			t.Fatalf("%s: %v", layer, err)
		}
		value, _ := b.m.ResolveLayer(layer)
		if got := maxForward(t, b, r.Pixels, value).F32()[10]; math.Abs(float64(got-r.Final)) > 1e-4 {
			t.Errorf("%s: Final %v, the model gives %v", layer, r.Final, got)
		}
	}
	o := &objective{value: "v", class: -1, layer: "v"}
	g := b.m.Graph
	run, err := g.Forward(map[string]*tensor.T{b.m.Input: tensor.New(1, 3, 64, 64)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Values["v"] = tensor.New(1, 4, 5)
	if err := o.prepare(run); err == nil || !strings.Contains(err.Error(), "needs an N×C×H×W or N×C layer") {
		t.Errorf("a 1×4×5 layer: got %v", err)
	}
}

func BenchmarkMaximizeShapes(b *testing.B) {
	bm := maxLoad(b, "shapes")
	const steps = 8
	for b.Loop() {
		if _, err := Maximize(bm.m, MaximizeOptions{Layer: "/block3/relu/Relu_output_0", Channel: 1, Steps: steps, Mean: bm.mean, Std: bm.std}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*steps), "ms/step")
}
