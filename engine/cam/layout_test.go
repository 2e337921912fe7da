package cam

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// netBuilder writes small ONNX models for the tests.
type netBuilder struct {
	r     *rand.Rand
	nodes []*onnx.Node
	init  map[string]*tensor.T
	order []string
}

func newNet(seed uint64) *netBuilder {
	return &netBuilder{r: rand.New(rand.NewPCG(seed, 7)), init: map[string]*tensor.T{}}
}

func (b *netBuilder) randn(name string, s float64, shape ...int) string {
	t := tensor.New(shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(s * b.r.NormFloat64())
	}
	return b.konst(name, t)
}

func (b *netBuilder) konst(name string, t *tensor.T) string {
	b.init[name] = t
	b.order = append(b.order, name)
	return name
}

func (b *netBuilder) ints(name string, v ...int64) string {
	return b.konst(name, tensor.FromI64(v, len(v)))
}

func (b *netBuilder) node(op, out string, attrs *onnx.Attributes, in ...string) string {
	if attrs == nil {
		attrs = onnx.NewAttributes()
	}
	b.nodes = append(b.nodes, &onnx.Node{Name: "/" + out + "/" + op, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *netBuilder) conv(out, in string, cin, cout, k, stride int) string {
	w := b.randn(out+".weight", 0.5, cout, cin, k, k)
	bias := b.randn(out+".bias", 0.1, cout)
	p := int64(k / 2)
	return b.node("Conv", out, onnx.NewAttributes().SetInts("kernel_shape", int64(k), int64(k)).
		SetInts("pads", p, p, p, p).SetInts("strides", int64(stride), int64(stride)), in, w, bias)
}

// head is Conv 1×1 → Relu → GAP → Reshape → Gemm to classes.
func (b *netBuilder) head(in string, c, classes int) string {
	x := b.conv("headconv", in, c, 5, 1, 1)
	x = b.node("Relu", "headrelu", nil, x)
	x = b.node("GlobalAveragePool", "gap", nil, x)
	x = b.node("Reshape", "flat", nil, x, b.ints("flatshape", 0, 5))
	return b.node("Gemm", "logits", onnx.NewAttributes().SetInt("transB", 1), x, b.randn("fc.weight", 1, classes, 5), b.randn("fc.bias", 0.1, classes))
}

func (b *netBuilder) model(t testing.TB, inShape []int64, output string, outShape []int64) *model.Model {
	t.Helper()
	m := &onnx.Model{IRVersion: 8, Opset: 13, OpsetImports: map[string]int64{"": 13}, Producer: "cnnlens-test",
		Graph: &onnx.Graph{Name: "test", Nodes: b.nodes, Initializers: b.init, InitOrder: b.order,
			Inputs:  []onnx.ValueInfo{onnx.TensorValueInfo("input", inShape)},
			Outputs: []onnx.ValueInfo{onnx.TensorValueInfo(output, outShape)}}}
	data, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := model.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}

func randInput(seed uint64, shape ...int) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(shape...)
	for i := range x.F32() {
		x.F32()[i] = float32(r.NormFloat64())
	}
	return x
}

// nhwcNet: conv → "x" (N×6×8×8) → Transpose → "y" (N×8×8×6) → Transpose
// back → head. Every method at y in the nhwc layout must equal the method
// at x.
func nhwcNet(t testing.TB) *model.Model {
	b := newNet(1)
	x := b.conv("x", "input", 3, 6, 3, 1)
	y := b.node("Transpose", "y", onnx.NewAttributes().SetInts("perm", 0, 2, 3, 1), x)
	z := b.node("Transpose", "z", onnx.NewAttributes().SetInts("perm", 0, 3, 1, 2), y)
	b.head(z, 6, 4)
	return b.model(t, []int64{-1, 3, 8, 8}, "logits", []int64{-1, 4})
}

// tokenNet: conv stride 2 → "x" (N×6×4×4) → 16 tokens → a class token
// (their mean + 100, larger than every activation) in front → "y" (N×17×6) →
// the class token dropped → back to 1×6×4×4 → head. Every method at y in
// the tokens layout must equal the method at x.
func tokenNet(t testing.TB) *model.Model {
	b := newNet(2)
	x := b.conv("x", "input", 3, 6, 3, 2)
	seq := b.node("Reshape", "seq", nil, x, b.ints("seqshape", 0, 6, 16))
	tok := b.node("Transpose", "tok", onnx.NewAttributes().SetInts("perm", 0, 2, 1), seq)
	off := tensor.New(1, 1, 6)
	for i := range off.F32() {
		off.F32()[i] = 100 + float32(i)
	}
	mean := b.node("ReduceMean", "mean", onnx.NewAttributes().SetInts("axes", 1), tok)
	cls := b.node("Add", "cls", nil, mean, b.konst("off", off))
	y := b.node("Concat", "y", onnx.NewAttributes().SetInt("axis", 1), cls, tok)
	grid := b.node("Slice", "grid", nil, y, b.ints("starts", 1), b.ints("ends", 17), b.ints("axes", 1))
	back := b.node("Transpose", "back", onnx.NewAttributes().SetInts("perm", 0, 2, 1), grid)
	z := b.node("Reshape", "z", nil, back, b.ints("zshape", 0, 6, 4, 4))
	b.head(z, 6, 4)
	return b.model(t, []int64{-1, 3, 8, 8}, "logits", []int64{-1, 4})
}

var layoutMethods = []string{"gradcam", "gradcampp", "xgradcam", "hirescam", "layercam", "eigencam", "shapleycam", "fem", "kpcacam",
	"eigengradcam", "gradcam-elementwise", "scorecam", "ablationcam"}

func TestLayoutsEqualNCHW(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      *model.Model
		x      *tensor.T
		layout string
	}{
		{"nhwc", nhwcNet(t), randInput(3, 2, 3, 8, 8), LayoutNHWC},
		{"nhwc-auto-is-nchw", nhwcNet(t), randInput(3, 1, 3, 8, 8), ""},
		{"tokens", tokenNet(t), randInput(4, 2, 3, 8, 8), LayoutTokens},
		{"tokens-auto", tokenNet(t), randInput(4, 1, 3, 8, 8), LayoutAuto},
	} {
		s, err := NewSession(tc.m, tc.x)
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range layoutMethods {
			for _, eigen := range []bool{false, true} {
				t.Run(tc.name+"/"+method, func(t *testing.T) {
					want := mustCompute(t, s, Request{Method: method, Layers: []string{"x"}, Targets: []Target{{Class: 1}}, EigenSmooth: eigen, BatchSize: 5})
					got, err := Compute(s, Request{Method: method, Layers: []string{"y"}, Layout: tc.layout, Targets: []Target{{Class: 1}}, EigenSmooth: eigen, BatchSize: 5})
					if tc.name == "nhwc-auto-is-nchw" {
						// auto takes a 4-D value as N×C×H×W: y is then an
						// 8-channel 8×6 map, not x.
						if err != nil {
							t.Fatal(err)
						}
						if l := got.Layers[0]; l.C != 8 || l.H != 8 || l.W != 6 {
							t.Fatalf("auto layout of a 4-D value: C, H, W = %d, %d, %d, want 8, 8, 6", l.C, l.H, l.W)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					gl, wl := got.Layers[0], want.Layers[0]
					if gl.C != wl.C || gl.H != wl.H || gl.W != wl.W {
						t.Fatalf("layer C×h×w %d×%d×%d, want %d×%d×%d", gl.C, gl.H, gl.W, wl.C, wl.H, wl.W)
					}
					closeRel(t, "raw", gl.Raw, wl.Raw, 1e-6)
					if wl.Weights != nil {
						closeRel(t, "weights", gl.Weights, wl.Weights, 1e-6)
					}
					closeAbs(t, "cam", got.Maps, want.Maps, 1e-6)
					if oracle.MaxAbsDiff(wl.Raw, make([]float32, len(wl.Raw))) == 0 {
						t.Error("the reference map is all zero: the test shows nothing")
					}
				})
			}
		}
	}
}

// The mapping itself, element by element, and the gradient through it.
func TestLayoutMapping(t *testing.T) {
	m := tokenNet(t)
	s, err := NewSession(m, randInput(5, 1, 3, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	r := mustCompute(t, s, Request{Method: "hirescam", Layers: []string{"y"}, Targets: []Target{{Class: 2}}})
	y := s.Run.Value("y").F32() // 1×17×6
	grads, _, err := s.Gradients([]Target{{Class: 2}}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	g := grads["y"].F32()
	// HiResCAM's raw map at grid cell i is Σ_c g[1+i, c]·y[1+i, c].
	for i := 0; i < 16; i++ {
		var want float32
		for c := 0; c < 6; c++ {
			want += g[(1+i)*6+c] * y[(1+i)*6+c]
		}
		if d := r.Layers[0].Raw[i] - want; d > 1e-5 || d < -1e-5 {
			t.Fatalf("cell %d: %g, want %g", i, r.Layers[0].Raw[i], want)
		}
	}
}

// AblationCAM ablates a channel at every token, the class token included,
// as AblationLayerVit does: a network that reads only the class token
// still gets weights.
func TestAblationAblatesClassToken(t *testing.T) {
	b := newNet(6)
	x := b.conv("x", "input", 3, 6, 3, 2)
	seq := b.node("Reshape", "seq", nil, x, b.ints("seqshape", 0, 6, 16))
	tok := b.node("Transpose", "tok", onnx.NewAttributes().SetInts("perm", 0, 2, 1), seq)
	cls := tensor.New(1, 1, 6)
	for i := range cls.F32() {
		cls.F32()[i] = 0.5 + 0.1*float32(i)
	}
	y := b.node("Concat", "y", onnx.NewAttributes().SetInt("axis", 1), b.konst("cls", cls), tok)
	first := b.node("Slice", "first", nil, y, b.ints("starts", 0), b.ints("ends", 1), b.ints("axes", 1))
	act := b.node("Tanh", "act", nil, first)
	flat := b.node("Reshape", "flat", nil, act, b.ints("flatshape", 0, 6))
	b.node("Gemm", "logits", onnx.NewAttributes().SetInt("transB", 1), flat, b.randn("fc.weight", 1, 3, 6), b.randn("fc.bias", 0.1, 3))
	m := b.model(t, []int64{1, 3, 8, 8}, "logits", []int64{1, 3})
	s, err := NewSession(m, randInput(7, 1, 3, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	r := mustCompute(t, s, Request{Method: "ablationcam", Layers: []string{"y"}, Targets: []Target{{Class: 0}}, BatchSize: 4})
	// Only the class token reaches the output, and an ablated channel
	// (about −1e7) becomes tanh = −1 there: s_c is the score with the
	// class token's channel c at −1.
	fc := m.Graph.Consts["fc.weight"].F32()[:6]
	score := func(v []float64) float64 {
		s := float64(m.Graph.Consts["fc.bias"].F32()[0])
		for c, x := range v {
			s += float64(fc[c]) * x
		}
		return s
	}
	base := make([]float64, 6)
	for c := range base {
		base[c] = math.Tanh(float64(cls.F32()[c]))
	}
	orig := score(base)
	want := make([]float32, 6)
	for c := range want {
		v := append([]float64(nil), base...)
		v[c] = -1
		want[c] = float32((orig - score(v)) / orig)
	}
	closeRel(t, "weights", r.Layers[0].Weights, want, 1e-5)
}

func TestLayoutErrors(t *testing.T) {
	m := tokenNet(t)
	s, err := NewSession(m, randInput(5, 1, 3, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		layer, layout, want string
		is                  error
	}{
		{"y", "columns", `unknown layout "columns"`, ErrBadRequest},
		{"y", LayoutNHWC, "layout nhwc needs a 4-D value", model.ErrBadLayer},
		{"x", LayoutTokens, "layout tokens needs a 3-D value", model.ErrBadLayer},
		{"seq", LayoutAuto, "6 tokens neither make a square grid", model.ErrBadLayer},
		{"flat", LayoutAuto, "not a spatial map (N×C×H×W) nor tokens (N×T×C)", model.ErrBadLayer},
	} {
		_, err := Compute(s, Request{Method: "gradcam", Layers: []string{tc.layer}, Layout: tc.layout})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
			t.Errorf("%s as %q: error %v, want one saying %q", tc.layer, tc.layout, err, tc.want)
		}
	}
}

func TestAutoLayout(t *testing.T) {
	for _, c := range []struct {
		shape  []int
		layout string
		h, w   int
	}{
		{[]int{1, 64, 7, 7}, LayoutNCHW, 7, 7},
		{[]int{1, 197, 768}, LayoutTokens, 14, 14},
		{[]int{1, 10}, "", 0, 0},
		{[]int{1, 7, 8}, "", 0, 0},
		{[]int{1, 2, 3, 4, 5}, "", 0, 0},
		{[]int{10}, "", 0, 0},
		{nil, "", 0, 0},
	} {
		l, h, w := AutoLayout(c.shape, 224, 224)
		if l != c.layout || h != c.h || w != c.w {
			t.Errorf("%v: %q %d×%d, want %q %d×%d", c.shape, l, h, w, c.layout, c.h, c.w)
		}
	}
}

func TestTokenGrids(t *testing.T) {
	for _, tc := range []struct {
		t, inH, inW int
		skip, h, w  int
		wantErr     bool
	}{
		{65, 64, 64, 1, 8, 8, false},
		{64, 64, 64, 0, 8, 8, false},
		{197, 224, 224, 1, 14, 14, false},
		{2, 8, 8, 1, 1, 1, false},
		{1, 8, 8, 0, 1, 1, false},
		{33, 32, 64, 1, 4, 8, false},
		{32, 32, 64, 0, 4, 8, false},
		{7, 8, 8, 0, 0, 0, true},
	} {
		m, err := newLayerMap(LayoutTokens, "l", []int{1, tc.t, 3}, 1, tc.inH, tc.inW)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%d tokens: no error", tc.t)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d tokens: %v", tc.t, err)
			continue
		}
		if m.skip != tc.skip || m.h != tc.h || m.w != tc.w {
			t.Errorf("%d tokens on %d×%d: skip %d, grid %d×%d; want %d, %d×%d", tc.t, tc.inH, tc.inW, m.skip, m.h, m.w, tc.skip, tc.h, tc.w)
		}
	}
}
