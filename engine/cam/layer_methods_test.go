package cam

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// layerMethods are the layer methods of this file set.
var layerMethods = []string{"cam", "hirescam", "gradcam-elementwise", "gradcampp", "xgradcam",
	"layercam", "eigencam", "eigengradcam", "scorecam", "ablationcam"}

type loaded struct {
	o     *oracle.Model
	m     *model.Model
	input *tensor.T
}

var (
	loadMu    sync.Mutex
	loadCache = map[string]*loaded{}
)

// load reads an oracle model and its input once per test binary.
func load(t testing.TB, name, file string) *loaded {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	key := name + "/" + file
	if l, ok := loadCache[key]; ok {
		return l
	}
	o, err := oracle.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadFile(filepath.Join(o.Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	in, err := o.F32("input")
	if err != nil {
		t.Fatal(err)
	}
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		t.Fatal(err)
	}
	l := &loaded{o: o, m: m, input: tensor.FromF32(in, shape...)}
	loadCache[key] = l
	return l
}

func (l *loaded) layer(key string) string { return l.o.Layers[key].OnnxTensor }

func (l *loaded) session(t testing.TB, x *tensor.T) *Session {
	t.Helper()
	if x == nil {
		x = l.input
	}
	s, err := NewSession(l.m, x)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCompute(t testing.TB, s *Session, req Request) *Result {
	t.Helper()
	r, err := Compute(s, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return r
}

func scale(a []float32, f float32) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = v * f
	}
	return out
}

// The Grad-CAM paper's claim: for a network ending in GAP → linear, the
// Grad-CAM weights are CAM's divided by h·w, and the maps are the same.
func TestCAMIsGradCAMUpToScale(t *testing.T) {
	cases := []struct{ name, file string }{{"tinycnn", "model.onnx"}, {"tinycnn", "model_bn.onnx"}, {"resnet18", "model_bn.onnx"}}
	for _, tc := range cases {
		l := load(t, tc.name, tc.file)
		s := l.session(t, nil)
		layer := l.layer("last")
		k := s.Classes()
		weighted := make([]float32, k)
		for i := range weighted {
			weighted[i] = float32(math.Sin(float64(i)))
		}
		targets := map[string]Target{
			"target":   {Class: l.o.TargetClass},
			"class5":   {Class: 5},
			"contrast": {Kind: Contrast, Class: l.o.TargetClass, Other: 7},
			"weighted": {Kind: Weighted, Weights: weighted},
		}
		for tname, tg := range targets {
			t.Run(tc.name+"/"+tc.file+"/"+tname, func(t *testing.T) {
				req := Request{Layers: []string{layer}, Targets: []Target{tg}}
				req.Method = "cam"
				c := mustCompute(t, s, req)
				req.Method = "gradcam"
				g := mustCompute(t, s, req)
				cl, gl := c.Layers[0], g.Layers[0]
				hw := float32(cl.H * cl.W)
				closeRel(t, "gradcam weights vs cam weights/(h·w)", g.Layers[0].Weights, scale(cl.Weights, 1/hw), 1e-5)
				closeRel(t, "gradcam raw vs cam raw/(h·w)", gl.Raw, scale(cl.Raw, 1/hw), 1e-5)
				closeAbs(t, "maps", c.Maps, g.Maps, 1e-5)
			})
		}
	}
}

// HiResCAM and Grad-CAM coincide at a layer feeding GAP → linear.
func TestHiResCAMIsGradCAMAtGAP(t *testing.T) {
	for _, name := range []string{"tinycnn", "resnet18"} {
		file := map[string]string{"tinycnn": "model.onnx", "resnet18": "model_bn.onnx"}[name]
		l := load(t, name, file)
		s := l.session(t, nil)
		req := Request{Layers: []string{l.layer("last")}, Targets: []Target{{Class: l.o.TargetClass}}}
		req.Method = "hirescam"
		h := mustCompute(t, s, req)
		req.Method = "gradcam"
		g := mustCompute(t, s, req)
		closeRel(t, name+" raw", h.Layers[0].Raw, g.Layers[0].Raw, 1e-5)
		closeAbs(t, name+" maps", h.Maps, g.Maps, 1e-5)
	}
}

// A batch of two different images with different targets gives each image
// what a session of its own gives it.
func TestLayerMethodsBatch(t *testing.T) {
	l := load(t, "tinycnn", "model_bn.onnx")
	x0 := l.input
	x1 := x0.Clone()
	sh := x1.Shape()
	flipW(x1.F32(), sh[1], sh[2], sh[3], 1)
	for i := range x1.F32() {
		x1.F32()[i] = x1.F32()[i]*0.8 + 0.1
	}
	both := tensor.New(2, sh[1], sh[2], sh[3])
	copy(both.F32(), x0.F32())
	copy(both.F32()[x0.Len():], x1.F32())
	sb := l.session(t, both)
	s0, s1 := l.session(t, x0), l.session(t, x1)
	targets := []Target{{Class: 3}, {Kind: Contrast, Class: 5, Other: 1}}
	for _, layer := range []string{l.layer("last"), l.layer("mid")} {
		for _, m := range layerMethods {
			if m == "cam" && layer == l.layer("mid") {
				continue
			}
			for _, eigen := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/eigen=%v", layer, m, eigen), func(t *testing.T) {
					req := Request{Method: m, Layers: []string{layer}, EigenSmooth: eigen, BatchSize: 5}
					req.Targets = targets
					rb := mustCompute(t, sb, req)
					for b, s := range []*Session{s0, s1} {
						req.Targets = targets[b : b+1]
						r := mustCompute(t, s, req)
						lb, l1 := rb.Layers[0], r.Layers[0]
						hw := lb.H * lb.W
						closeRel(t, fmt.Sprintf("image %d raw", b), lb.Raw[b*hw:(b+1)*hw], l1.Raw, 1e-5)
						if l1.Weights != nil {
							closeRel(t, fmt.Sprintf("image %d weights", b), lb.Weights[b*lb.C:(b+1)*lb.C], l1.Weights, 1e-5)
						}
						closeAbs(t, fmt.Sprintf("image %d map", b), rb.Map(b), r.Map(0), 1e-5)
					}
				})
			}
		}
	}
}

// ScoreCAM and AblationCAM report progress batch by batch and stop when
// asked to.
func TestPerturbationProgress(t *testing.T) {
	l := load(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	layer := l.layer("last") // 16 channels
	for _, m := range []string{"scorecam", "ablationcam"} {
		var got []int
		lastTotal := 0
		req := Request{Method: m, Layers: []string{layer}, BatchSize: 5, Progress: func(done, total int) bool {
			got = append(got, done)
			lastTotal = total
			return true
		}}
		mustCompute(t, s, req)
		if want := []int{5, 10, 15, 16}; fmt.Sprint(got) != fmt.Sprint(want) || lastTotal != 16 {
			t.Errorf("%s: progress %v of %d, want %v of 16", m, got, lastTotal, want)
		}
		calls := 0
		req.Progress = func(done, total int) bool {
			calls++
			return false
		}
		if _, err := Compute(s, req); !errors.Is(err, ErrCancelled) {
			t.Errorf("%s: cancelled computation returned %v, want ErrCancelled", m, err)
		}
		if calls != 1 {
			t.Errorf("%s: progress called %d times after cancelling", m, calls)
		}
	}
}

func TestLayerMethodErrors(t *testing.T) {
	l := load(t, "tinycnn", "model.onnx")
	s := l.session(t, nil)
	_, err := Compute(s, Request{Method: "cam", Layers: []string{l.layer("mid")}})
	if err == nil || !strings.Contains(err.Error(), "global average pooling followed by a linear classifier") || !strings.Contains(err.Error(), "gradcam") {
		t.Errorf("cam at a layer not feeding GAP: error %v", err)
	}
	_, err = Compute(s, Request{Method: "cam", Layers: []string{"/conv3/Conv_output_0"}})
	if err == nil || !strings.Contains(err.Error(), "Relu") {
		t.Errorf("cam at a layer feeding ReLU: error %v, want one naming the node it feeds", err)
	}
}

// residualNet is a small hand-built network whose head (above the layer
// "h") reads a value from below it:
//
//	x → conv a → relu → conv h → [h] → conv → + a → relu → GAP → flatten → gemm
func residualNet(t testing.TB) *model.Model {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	randT := func(shape ...int) *tensor.T {
		v := tensor.New(shape...)
		for i := range v.F32() {
			v.F32()[i] = float32(rng.NormFloat64() * 0.3)
		}
		return v
	}
	node := func(typ, name string, attrs ops.MapAttrs, in []string, out ...string) *graph.Node {
		op, err := ops.New(typ, attrs, 13)
		if err != nil {
			t.Fatal(err)
		}
		return &graph.Node{Name: name, OpType: typ, Op: op, Inputs: in, Outputs: out}
	}
	pads := ops.MapAttrs{"pads": []int64{1, 1, 1, 1}}
	nodes := []*graph.Node{
		node("Conv", "ca", pads, []string{"x", "wa", "ba"}, "a"),
		node("Relu", "ra", nil, []string{"a"}, "ar"),
		node("Conv", "ch", pads, []string{"ar", "wh", "bh"}, "h"),
		node("Conv", "cb", pads, []string{"h", "wb", "bb"}, "b"),
		node("Add", "add", nil, []string{"b", "a"}, "s"),
		node("Relu", "rs", nil, []string{"s"}, "sr"),
		node("GlobalAveragePool", "gap", nil, []string{"sr"}, "p"),
		node("Flatten", "flat", nil, []string{"p"}, "f"),
		node("Gemm", "fc", ops.MapAttrs{"transB": int64(1)}, []string{"f", "wf", "bf"}, "y"),
	}
	consts := map[string]*tensor.T{
		"wa": randT(6, 3, 3, 3), "ba": randT(6), "wh": randT(5, 6, 3, 3), "bh": randT(5),
		"wb": randT(6, 5, 3, 3), "bb": randT(6), "wf": randT(4, 6), "bf": randT(4),
	}
	g, err := graph.New(nodes, []graph.Input{{Name: "x", Shape: []int{-1, 3, 8, 8}}}, []string{"y"}, consts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &model.Model{Graph: g, Input: "x", InputShape: []int{-1, 3, 8, 8}, Output: "y"}
}

// AblationCAM's batched head (tiling what it reads from below) and its
// one-pass-per-channel fallback agree with full forward passes that ablate
// the layer, including pytorch-grad-cam's very negative ablation values
// when the layer's minimum is not 0.
func TestAblationCAMHead(t *testing.T) {
	m := residualNet(t)
	rng := rand.New(rand.NewSource(2))
	x := tensor.New(2, 3, 8, 8)
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
	}
	s, err := NewSession(m, x)
	if err != nil {
		t.Fatal(err)
	}
	if ext, ok, err := headInputs(s, "h", 2); err != nil || !ok || fmt.Sprint(ext) != "[a]" {
		t.Fatalf("headInputs: %v %v %v, want [a] true", ext, ok, err)
	}
	const bs = 2
	targets := []Target{{Class: 1}, {Class: 3}}
	req := Request{Method: "ablationcam", Layers: []string{"h"}, Targets: targets, BatchSize: bs}
	batched := mustCompute(t, s, req)
	forcePerChannelAblation = true
	perChannel, err := Compute(s, req)
	forcePerChannelAblation = false
	if err != nil {
		t.Fatal(err)
	}
	// The reference: a full forward pass per image and channel.
	act := s.Run.Value("h")
	c, hw := act.Shape()[1], act.Shape()[2]*act.Shape()[3]
	want := make([]float32, 2*c)
	for b := 0; b < 2; b++ {
		img := act.F32()[b*c*hw : (b+1)*c*hw]
		lo := img[0]
		for _, v := range img {
			lo = min(lo, v)
		}
		if lo == 0 {
			t.Fatal("the test wants a layer with a non-zero minimum")
		}
		xb := tensor.FromF32(append([]float32(nil), x.F32()[b*3*64:(b+1)*3*64]...), 1, 3, 8, 8)
		orig := targets[b].Score(s.Logits(b))
		for k := 0; k < c; k++ {
			fill := lo
			for p := 0; p <= k%bs; p++ {
				fill -= 1e7
			}
			run, err := m.Forward(xb, &graph.Options{Override: func(name string, v *tensor.T) *tensor.T {
				if name != "h" {
					return v
				}
				v = v.Clone()
				for i := k * hw; i < (k+1)*hw; i++ {
					v.F32()[i] = fill
				}
				return v
			}})
			if err != nil {
				t.Fatal(err)
			}
			sk := targets[b].Score(run.Value("y").F32())
			want[b*c+k] = (orig - sk) / orig
		}
	}
	closeRel(t, "batched weights", batched.Layers[0].Weights, want, 1e-5)
	closeRel(t, "per-channel weights", perChannel.Layers[0].Weights, want, 1e-5)
}

// BenchmarkMethods times each layer method (go test -bench Methods
// -benchtime 1x -run '^$' ./engine/cam/).
func BenchmarkMethods(b *testing.B) {
	cases := []struct{ name, model, file, layer string }{
		{"tinycnn", "tinycnn", "model.onnx", "last"},
		{"resnet18-last", "resnet18", "model_bn.onnx", "last"},
		{"resnet18-mid", "resnet18", "model_bn.onnx", "mid"},
	}
	for _, tc := range cases {
		l := load(b, tc.model, tc.file)
		layer := l.layer(tc.layer)
		for _, m := range append([]string{"gradcam"}, layerMethods...) {
			if m == "cam" && tc.layer == "mid" {
				continue
			}
			b.Run(tc.name+"/"+m, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					// A fresh session each time, so that gradients are
					// not cached; the forward pass is not timed.
					b.StopTimer()
					s := l.session(b, nil)
					b.StartTimer()
					mustCompute(b, s, Request{Method: m, Layers: []string{layer}, Targets: []Target{{Class: l.o.TargetClass}}})
				}
			})
		}
	}
}
