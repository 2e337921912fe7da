package inspect

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/internal/oracle"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/internal/testmodels"
)

// tiny is the oracle's tinycnn with its input and a session on it.
type tiny struct {
	o *oracle.Model
	m *model.Model
	s *cam.Session
}

var loadTiny = sync.OnceValues(func() (*tiny, error) {
	o, err := oracle.Load("tinycnn")
	if err != nil {
		return nil, err
	}
	m, err := model.LoadFile(filepath.Join(o.Dir, "model.onnx"))
	if err != nil {
		return nil, err
	}
	x, err := o.F32("input")
	if err != nil {
		return nil, err
	}
	s, err := cam.NewSession(m, tensor.FromF32(x, 1, 3, 32, 32))
	if err != nil {
		return nil, err
	}
	return &tiny{o, m, s}, nil
})

func mustTiny(t *testing.T) *tiny {
	t.Helper()
	tc, err := loadTiny()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func repoFile(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, parts...)...)
}

func close(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if d := oracle.MaxRelDiff(got, want); d > tol || math.IsNaN(d) {
		t.Errorf("%s: max relative difference %.3g > %.3g", what, d, tol)
	}
}

// Feature maps are the engine's values of every layer, and they equal what
// PyTorch computed (feat.* in the oracle).
func TestFeatureMapsMatchOracle(t *testing.T) {
	tc := mustTiny(t)
	layers := map[string]string{
		"conv1": "/conv1/Conv_output_0", "relu1": "/relu1/Relu", "pool": "/pool/MaxPool_output_0",
		"conv2": "/conv2/Conv", "relu2": "/relu2/Relu_output_0", "conv3": "/conv3/Conv_output_0",
		"relu3": "/relu3/Relu_output_0", "gap": "/gap/GlobalAveragePool_output_0", "fc": "logits",
	}
	for key, layer := range layers {
		want, err := tc.o.F32("feat." + key)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Activations(tc.s, layer)
		if err != nil {
			t.Fatal(err)
		}
		close(t, "feat."+key, m.Values, want, 1e-4)
		if got := m.C * m.H * m.W; got != len(want) {
			t.Errorf("%s: C×H×W = %d, want %d values", key, got, len(want))
		}
		// the statistics describe the values
		for _, st := range m.Stats {
			ch := m.Channel(st.Channel)
			lo, hi := MinMax(ch)
			if st.Min != lo || st.Max != hi || st.Min > st.Mean || st.Mean > st.Max {
				t.Fatalf("%s channel %d: stats %+v, range %v..%v", key, st.Channel, st, lo, hi)
			}
		}
	}
}

// Gradients equal d logit[target] / d activation from PyTorch, and their
// per-channel means are Grad-CAM's weights.
func TestGradientsMatchOracle(t *testing.T) {
	tc := mustTiny(t)
	for _, l := range []string{"last", "mid"} {
		layer := tc.o.Layers[l].OnnxTensor
		g, err := Gradients(tc.s, layer, cam.Target{Class: tc.o.TargetClass})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tc.o.F32(l + ".grad")
		close(t, l+".grad", g.Values, want, 1e-4)
		w := make([]float32, g.C)
		for c, st := range g.Stats {
			w[c] = st.Weight
		}
		wantW, _ := tc.o.F32(l + ".gradcam.weights")
		close(t, l+".gradcam.weights", w, wantW, 1e-4)
		if !g.Grad || g.Class != tc.o.TargetClass {
			t.Errorf("maps: grad %v class %d", g.Grad, g.Class)
		}
	}
}

// The breakdown's sum is Grad-CAM's raw map (before ReLU) and its ReLU is
// the heatmap; the top channels are those with the largest weights.
func TestGradCAMBreakdown(t *testing.T) {
	tc := mustTiny(t)
	for _, l := range []string{"last", "mid"} {
		b, err := GradCAMBreakdown(tc.s, tc.o.Layers[l].OnnxTensor, cam.Target{Class: tc.o.TargetClass}, 5)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tc.o.F32(l + ".gradcam.raw")
		close(t, l+" sum", b.Sum, raw, 1e-4)
		for i, v := range b.Sum {
			if b.Heatmap[i] != max(v, 0) {
				t.Fatalf("heatmap[%d] = %v, sum %v", i, b.Heatmap[i], v)
			}
		}
		if len(b.Top) != 5 || len(b.Scaled) != 5 {
			t.Fatalf("top %v", b.Top)
		}
		for k := 1; k < len(b.Order); k++ {
			if b.Weights[b.Order[k]] > b.Weights[b.Order[k-1]] {
				t.Fatalf("order %v not by weight %v", b.Order, b.Weights)
			}
		}
		for k, c := range b.Top {
			for i, a := range b.Maps[k] {
				if b.Scaled[k][i] != b.Weights[c]*a {
					t.Fatalf("scaled map %d wrong", c)
				}
			}
		}
		if !(b.TopShare > 0 && b.TopShare <= 1) {
			t.Errorf("top share %v", b.TopShare)
		}
		checkPicture(t, l+" breakdown", b.Picture(48), 5*48, 3*48)
	}
	if _, err := GradCAMBreakdown(tc.s, "/gap/GlobalAveragePool_output_0", cam.TopClass, 4); err == nil || !strings.Contains(err.Error(), "spatial") {
		t.Errorf("1×1 layer: err %v", err)
	}
}

func TestOrder(t *testing.T) {
	st := []ChannelStat{{Channel: 0, Mean: 1, Weight: -3}, {Channel: 1, Mean: 3, Weight: 1}, {Channel: 2, Mean: 2, Weight: 2}}
	for by, want := range map[string][]int{"index": {0, 1, 2}, "mean": {1, 2, 0}, "weight": {2, 1, 0}, "abs-weight": {0, 2, 1}} {
		got, err := Order(st, by)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Order(%s) = %v, %v; want %v", by, got, err, want)
		}
	}
	if _, err := Order(st, "size"); err == nil {
		t.Error("unknown order accepted")
	}
}

// checkPicture encodes a picture as PNG, decodes it and checks it is at
// least minW×minH and not one flat colour.
func checkPicture(t *testing.T, what string, img image.Image, minW, minH int) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b := dec.Bounds()
	if b.Dx() < minW || b.Dy() < minH {
		t.Errorf("%s: %d×%d, want at least %d×%d", what, b.Dx(), b.Dy(), minW, minH)
	}
	if n := testmodels.Colours(dec); n < 8 {
		t.Errorf("%s: only %d colours", what, n)
	}
}

func TestFindConvAndFilters(t *testing.T) {
	tc := mustTiny(t)
	convs := ConvLayers(tc.m)
	if len(convs) != 3 || convs[0].Output != "/conv1/Conv_output_0" || convs[0].Filters() != 8 {
		t.Fatalf("ConvLayers: %+v", convs)
	}
	for _, name := range []string{"/conv2/Conv", "/conv2/Conv_output_0"} {
		c, err := FindConv(tc.m, name)
		if err != nil || c.Node != "/conv2/Conv" || !slices.Equal(c.Weight.Shape(), []int{16, 8, 3, 3}) {
			t.Fatalf("FindConv(%s) = %+v, %v", name, c, err)
		}
	}
	_, err := FindConv(tc.m, "/relu2/Relu")
	if err == nil || !strings.Contains(err.Error(), "Relu, not a convolution") || !strings.Contains(err.Error(), "/conv3/Conv_output_0") {
		t.Errorf("FindConv(relu): %v", err)
	}
	if _, err := FindConv(tc.m, "nope"); err == nil || !strings.Contains(err.Error(), "no layer named") {
		t.Errorf("FindConv(nope): %v", err)
	}

	c1, _ := FindConv(tc.m, "/conv1/Conv")
	c2, _ := FindConv(tc.m, "/conv2/Conv")
	for _, tt := range []struct {
		c     *ConvLayer
		opt   FilterOptions
		mode  string
		tiles int
		minW  int
		minH  int
	}{
		{c1, FilterOptions{}, "rgb", 8, 3 * 30, 3 * 30},
		{c1, FilterOptions{Mode: "channels"}, "channels", 8 * 3, 3 * 30, 8 * 30},
		{c2, FilterOptions{}, "magnitude", 16, 4 * 30, 4 * 30},
		{c2, FilterOptions{Mode: "channels", MaxInputs: 4, Max: 5}, "channels", 5 * 4, 4 * 30, 5 * 30},
		{c2, FilterOptions{Mode: "magnitude", PerFilter: true, Labels: true}, "magnitude", 16, 4 * 30, 4 * 40},
	} {
		mode, err := tt.c.ResolveMode(tt.opt.Mode)
		if err != nil || mode != tt.mode {
			t.Fatalf("mode %q → %q, %v", tt.opt.Mode, mode, err)
		}
		tiles, _, err := tt.c.FilterTiles(tt.opt)
		if err != nil || len(tiles) != tt.tiles {
			t.Fatalf("%s %+v: %d tiles, %v; want %d", tt.c.Output, tt.opt, len(tiles), err, tt.tiles)
		}
		img, err := tt.c.FilterPicture(tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		checkPicture(t, tt.c.Output+" "+mode, img, tt.minW, tt.minH)
	}
	if _, err := c2.ResolveMode("rgb"); err == nil || !strings.Contains(err.Error(), "8 input channels") {
		t.Errorf("rgb on 8 channels: %v", err)
	}
}

// An RGB filter tile puts zero at mid grey and the shared scale's extremes
// at 0 and 255; per-filter scaling stretches each filter to its own max.
func TestFilterColours(t *testing.T) {
	w := tensor.FromF32([]float32{
		// filter 0: R = +1 at (0,0), G = −1 at (0,1); B zero
		1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0,
		// filter 1: R = 0.5 at (1,1)
		0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0,
	}, 2, 3, 2, 2)
	c := &ConvLayer{Output: "w", Weight: w, Group: 1}
	opt := FilterOptions{Tile: 2}
	tiles, _, err := c.FilterTiles(opt)
	if err != nil {
		t.Fatal(err)
	}
	at := func(img image.Image, x, y int) [3]uint32 {
		r, g, b, _ := img.At(x, y).RGBA()
		return [3]uint32{r >> 8, g >> 8, b >> 8}
	}
	if got := at(tiles[0], 0, 0); got != [3]uint32{255, 128, 128} {
		t.Errorf("filter 0 (0,0) = %v", got)
	}
	if got := at(tiles[0], 1, 0); got != [3]uint32{128, 0, 128} {
		t.Errorf("filter 0 (1,0) = %v", got)
	}
	if got := at(tiles[1], 1, 1); got != [3]uint32{191, 128, 128} {
		t.Errorf("filter 1 shared scale = %v", got)
	}
	opt.PerFilter = true
	tiles, _, _ = c.FilterTiles(opt)
	if got := at(tiles[1], 1, 1); got != [3]uint32{255, 128, 128} {
		t.Errorf("filter 1 own scale = %v", got)
	}
}

func TestTransformKernel(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9} // [[1 2 3] [4 5 6] [7 8 9]]
	want := map[string][]float32{
		"rot90":         {3, 6, 9, 2, 5, 8, 1, 4, 7}, // numpy.rot90
		"rot180":        {9, 8, 7, 6, 5, 4, 3, 2, 1},
		"rot270":        {7, 4, 1, 8, 5, 2, 9, 6, 3},
		"flip_h":        {3, 2, 1, 6, 5, 4, 9, 8, 7},
		"flip_v":        {7, 8, 9, 4, 5, 6, 1, 2, 3},
		"transpose":     {1, 4, 7, 2, 5, 8, 3, 6, 9},
		"antitranspose": {9, 6, 3, 8, 5, 2, 7, 4, 1},
	}
	for _, name := range Transforms {
		got, err := TransformKernel(name, a, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[name][i] {
				t.Fatalf("%s = %v, want %v", name, got, want[name])
			}
		}
	}
	if _, err := TransformKernel("rot90", []float32{1, 2, 3, 4, 5, 6}, 2, 3); err == nil {
		t.Error("rot90 of a 2×3 kernel accepted")
	}
}

// The finder, given weights with planted rotated and flipped copies, finds
// exactly those pairs with their transforms, and not the plain duplicate.
func TestFindRotationsPlanted(t *testing.T) {
	for _, tt := range []struct {
		in, k int
		noise float64
	}{{3, 3, 0}, {3, 3, 0.05}, {8, 5, 0.1}, {1, 5, 0}} {
		w, planted := testmodels.RotatedFilters(20, tt.in, tt.k, Transforms, tt.noise, 7)
		pairs, err := FindRotations(w, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		found := map[[2]int]string{}
		for _, p := range pairs {
			found[[2]int{p.A, p.B}] = p.Transform
			if p.Score < 0.9 || p.Score > 1+1e-6 || p.Score <= p.Identity {
				t.Errorf("pair %+v", p)
			}
		}
		for _, p := range planted {
			if got := found[[2]int{p.A, p.B}]; got != p.Transform {
				t.Errorf("in=%d k=%d noise=%v: pair %d,%d found as %q, planted %s", tt.in, tt.k, tt.noise, p.A, p.B, got, p.Transform)
			}
		}
		if len(pairs) != len(planted) {
			t.Errorf("in=%d k=%d noise=%v: %d pairs found, %d planted: %+v", tt.in, tt.k, tt.noise, len(pairs), len(planted), pairs)
		}
	}
	// with the planted pair reversed (A = T(B)) the inverse transform is found
	w, _ := testmodels.RotatedFilters(4, 3, 3, []string{"rot90"}, 0, 3)
	d := w.F32()
	n := 27
	a0 := append([]float32(nil), d[:n]...)
	copy(d[:n], d[n:2*n])
	copy(d[n:2*n], a0)
	pairs, _ := FindRotations(w, 0.9)
	if len(pairs) != 1 || pairs[0].Transform != "rot270" {
		t.Errorf("reversed rot90 pair: %+v", pairs)
	}
	if _, err := FindRotations(tensor.New(4, 3, 1, 1), 0.9); err == nil {
		t.Error("1×1 kernels accepted")
	}
	if _, err := FindRotations(w, 1.5); err == nil {
		t.Error("threshold 1.5 accepted")
	}
}

func TestRotationPicture(t *testing.T) {
	w, _ := testmodels.RotatedFilters(8, 3, 3, []string{"rot90", "flip_h"}, 0, 5)
	c := &ConvLayer{Output: "w", Weight: w, Group: 1}
	pairs, _ := FindRotations(w, 0.9)
	img, err := c.RotationPicture(pairs, 10, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPicture(t, "rotations", img, 3*30, 2*30)
}

// A max-pool passes each window's gradient to one input, the window's
// maximum; an average pool spreads it evenly over the window; a global
// average pool spreads it over the whole map.
func TestPoolingBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 3*16*16)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, pool := range []string{"MaxPool", "AveragePool"} {
		w, _ := testmodels.RotatedFilters(6, 3, 3, nil, 0, 11)
		data, err := testmodels.SmallCNN(w, pool, 16, 4, 5)
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cam.NewSession(m, tensor.FromF32(x, 1, 3, 16, 16))
		if err != nil {
			t.Fatal(err)
		}
		if got := PoolingLayers(m); len(got) != 2 {
			t.Fatalf("pooling layers %v", got)
		}
		p, err := PoolingBackward(s, "/pool/"+pool, cam.Target{Class: 1})
		if err != nil {
			t.Fatal(err)
		}
		if p.OH != 8 || p.H != 16 || p.C != 6 || p.Op != pool || !slices.Equal(p.Kernel, []int{2, 2}) || !slices.Equal(p.Strides, []int{2, 2}) {
			t.Fatalf("route %+v", p)
		}
		for c := 0; c < p.C; c++ {
			in, above, below, _ := p.Planes(c)
			for oy := 0; oy < 8; oy++ {
				for ox := 0; ox < 8; ox++ {
					g := above[oy*8+ox]
					var win [4]int
					for k := 0; k < 4; k++ {
						win[k] = (2*oy+k/2)*16 + 2*ox + k%2
					}
					switch pool {
					case "MaxPool":
						arg := win[0]
						for _, i := range win {
							if in[i] > in[arg] {
								arg = i
							}
						}
						for _, i := range win {
							want := float32(0)
							if i == arg {
								want = g
							}
							if below[i] != want {
								t.Fatalf("maxpool ch %d window (%d,%d): below[%d] = %v, want %v", c, oy, ox, i, below[i], want)
							}
						}
					case "AveragePool":
						for _, i := range win {
							if math.Abs(float64(below[i]-g/4)) > 1e-7 {
								t.Fatalf("avgpool ch %d: below %v, above %v", c, below[i], g)
							}
						}
					}
				}
			}
		}
		if pool == "MaxPool" && p.NonzeroBelow > p.NonzeroAbove {
			t.Errorf("maxpool: %d nonzero below > %d above", p.NonzeroBelow, p.NonzeroAbove)
		}
		if pool == "AveragePool" && p.NonzeroBelow != 4*p.NonzeroAbove {
			t.Errorf("avgpool: %d nonzero below, %d above", p.NonzeroBelow, p.NonzeroAbove)
		}
		img, err := p.Picture(p.Channel, 64)
		if err != nil {
			t.Fatal(err)
		}
		checkPicture(t, pool, img, 3*64, 64)

		// global average pool: every input gets above/(H·W)
		g, err := PoolingBackward(s, "/gap/GlobalAveragePool_output_0", cam.Target{Class: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(g.Kernel, []int{8, 8}) {
			t.Errorf("GAP window %v", g.Kernel)
		}
		for c := 0; c < g.C; c++ {
			_, above, below, _ := g.Planes(c)
			for _, v := range below {
				if math.Abs(float64(v-above[0]/64)) > 1e-7 {
					t.Fatalf("GAP ch %d: below %v, above %v", c, v, above[0])
				}
			}
		}
		if _, err := PoolingBackward(s, "/conv/Conv", cam.TopClass); err == nil || !strings.Contains(err.Error(), "not a pooling layer") {
			t.Errorf("conv as pool: %v", err)
		}
		if _, _, _, err := p.Planes(6); err == nil {
			t.Error("channel 6 of 6 accepted")
		}
	}
}

// The feature-map grid has a tile per channel in the order given, and the
// pictures decode.
func TestMapsPicture(t *testing.T) {
	tc := mustTiny(t)
	a, _ := Activations(tc.s, "/relu2/Relu_output_0")
	g, _ := Gradients(tc.s, "/relu2/Relu_output_0", cam.TopClass)
	if err := a.WithWeights(g); err != nil {
		t.Fatal(err)
	}
	order, _ := Order(a.Stats, "weight")
	if len(a.Tiles(GridOptions{Order: order})) != 16 || len(a.Tiles(GridOptions{Max: 5})) != 5 {
		t.Fatal("tile counts")
	}
	checkPicture(t, "activations", a.Picture(GridOptions{Order: order, Labels: true}), 4*48, 4*48)
	checkPicture(t, "gradients", g.Picture(GridOptions{Shared: true}), 4*48, 4*48)
	if _, err := Activations(tc.s, "nope"); err == nil {
		t.Error("unknown layer accepted")
	}
}

// The bundled models' first layers are found and drawn (their rotated
// pairs are reported in docs/inside.md from `cnnlens rotations`).
func TestBundledModelsFilters(t *testing.T) {
	for _, name := range []string{"shapes", "fashion"} {
		m, err := model.LoadFile(repoFile("models", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ConvLayers(m) {
			img, err := c.FilterPicture(FilterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkPicture(t, name+" "+c.Output, img, 60, 60)
			if _, err := FindRotations(c.Weight, 0.9); err != nil {
				t.Fatal(err)
			}
		}
	}
}
