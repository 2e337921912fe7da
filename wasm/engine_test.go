package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/internal/testenv"
)

// tiny is the part of the tinycnn oracle (PyTorch 1.13.1 and
// pytorch-grad-cam's numbers, ../shared/oracle/tinycnn) that the
// repository keeps in testdata, so that these parity checks run from a
// clone alone.
var tiny = filepath.Join("..", "testdata", "oracle", "tinycnn")

// sharedOracle is the whole oracle beside the repository (ResNet-18 is
// too big to keep in it).
var sharedOracle = filepath.Join("..", "..", "shared", "oracle")

// readF32 reads an oracle array; a missing file skips the test, or fails
// it under CI and CNNLENS_REQUIRE_ALL (internal/testenv).
func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b := testenv.ReadFile(t, path)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadTiny(t *testing.T, mc *card.Card) (*Engine, ModelInfo) {
	t.Helper()
	data := testenv.ReadFile(t, filepath.Join(tiny, "model.onnx"))
	e := NewEngine()
	info, err := e.LoadModel(data, mc)
	if err != nil {
		t.Fatal(err)
	}
	return e, info
}

// The oracle's files kept in testdata are the ones its manifest describes
// (their SHA-256).
func TestCommittedOracle(t *testing.T) {
	var m struct {
		ONNX map[string]struct {
			File   string `json:"file"`
			SHA256 string `json:"sha256"`
		} `json:"onnx"`
		Arrays map[string]struct {
			File   string `json:"file"`
			SHA256 string `json:"sha256"`
		} `json:"arrays"`
	}
	if err := json.Unmarshal(testenv.ReadFile(t, filepath.Join(tiny, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, o := range m.ONNX {
		if o.SHA256 != "" {
			want[o.File] = o.SHA256
		}
	}
	for _, a := range m.Arrays {
		want[a.File] = a.SHA256
	}
	files, err := filepath.Glob(filepath.Join(tiny, "raw", "*"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(tiny, "model.onnx"), filepath.Join(tiny, "model_bn.onnx"))
	if len(files) < 11 {
		testenv.Missing(t, "oracle: %d files in %s", len(files), tiny)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(tiny, f)
		rel = filepath.ToSlash(rel)
		sum := sha256.Sum256(testenv.ReadFile(t, f))
		if got := hex.EncodeToString(sum[:]); want[rel] == "" || got != want[rel] {
			t.Errorf("%s: SHA-256 %s, the manifest says %q", rel, got, want[rel])
		}
	}
}

// The worker's engine gives the oracle's Grad-CAM on tinycnn.
func TestCAMOracle(t *testing.T) {
	e, info := loadTiny(t, nil)
	if info.SuggestedLayer != "/relu3/Relu_output_0" || info.Classes != 10 || len(info.Layers) == 0 {
		t.Fatalf("info: suggested %q, %d classes, %d layers", info.SuggestedLayer, info.Classes, len(info.Layers))
	}
	if got := info.InputShape; len(got) != 4 || got[1] != 3 || got[2] != 32 || got[3] != 32 {
		t.Fatalf("input shape %v", got)
	}
	in, err := e.InputTensor(info.ID, readF32(t, filepath.Join(tiny, "raw", "input.f32")))
	if err != nil {
		t.Fatal(err)
	}
	logits := readF32(t, filepath.Join(tiny, "raw", "logits.f32"))
	if in.Top5[0].Index != argmax(logits) || len(in.Top5) != 5 {
		t.Errorf("top-5 %+v, PyTorch's top-1 is %d", in.Top5, argmax(logits))
	}
	if len(in.Logits) != len(logits) {
		t.Fatalf("%d logits, PyTorch %d", len(in.Logits), len(logits))
	}
	if d := maxDiff(in.Logits, logits); d > 1e-4 {
		t.Errorf("logits: max difference from PyTorch %g", d)
	}
	var sum float64
	for _, p := range topK(in.Logits, nil, 10) {
		sum += p.Prob
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities sum to %v", sum)
	}
	r, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Layer: "/relu3/Relu_output_0", Class: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := readF32(t, filepath.Join(tiny, "raw", "last.gradcam.cam.f32"))
	if r.Width != 32 || r.Height != 32 || r.ClassIndex != 3 || len(r.Map) != len(want) {
		t.Fatalf("%d×%d class %d, %d values", r.Width, r.Height, r.ClassIndex, len(r.Map))
	}
	if d := maxDiff(r.Map, want); d > 2e-3 {
		t.Errorf("gradcam: max difference from PyTorch %g", d)
	}
	overlay, heat, raw, err := e.Render(in.ID, "turbo", 0.4)
	if err != nil {
		t.Fatal(err)
	}
	if overlay.Rect.Dx() != 256 || heat.Rect.Dx() != 32 || raw == nil || raw.Rect.Dx() != r.RawW {
		t.Errorf("render sizes: overlay %v heat %v raw %v", overlay.Rect, heat.Rect, raw)
	}
	// The other methods the page offers at a layer, as the browser test
	// checks them.
	for _, m := range []string{"hirescam", "gradcampp", "xgradcam", "layercam", "scorecam", "ablationcam"} {
		r, err := e.CAM(CAMRequest{Input: in.ID, Method: m, Layer: "/relu3/Relu_output_0", Class: 3})
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		want := readF32(t, filepath.Join(tiny, "raw", "last."+m+".cam.f32"))
		if len(r.Map) != len(want) || r.ClassIndex != 3 {
			t.Errorf("%s: %d values for class %d, PyTorch %d", m, len(r.Map), r.ClassIndex, len(want))
		} else if d := maxDiff(r.Map, want); d > 2e-3 {
			t.Errorf("%s: max difference from PyTorch %g", m, d)
		}
	}
	// A contrast and the errors a person can cause.
	if _, err := e.CAM(CAMRequest{Input: in.ID, Method: "gradcam", Kind: "contrast", Class: 3, Other: 1}); err != nil {
		t.Errorf("contrast: %v", err)
	}
	for _, c := range []struct {
		req  CAMRequest
		want string
	}{
		{CAMRequest{Input: in.ID, Method: "nope"}, "unknown method"},
		{CAMRequest{Input: in.ID, Method: "gradcam", Layer: "nope"}, "nope"},
		{CAMRequest{Input: in.ID, Method: "gradcam", Class: 99}, "99"},
		{CAMRequest{Input: 12345, Method: "gradcam"}, "gone"},
		{CAMRequest{Input: in.ID, Method: "gradcam", Kind: "contrast", Class: -1}, "contrast"},
	} {
		if _, err := e.CAM(c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req, err, c.want)
		}
	}
}

func maxDiff(got, want []float32) float64 {
	var d float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i]-want[i])))
	}
	return d
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func TestInputsAndCards(t *testing.T) {
	e, info := loadTiny(t, &card.Card{Labels: strings.Fields("a b c d e f g h i j"), DefaultLayer: "/relu2/Relu"})
	if info.DefaultLayer != "/relu2/Relu_output_0" {
		t.Errorf("default layer from the card: %q", info.DefaultLayer)
	}
	// A picture of any size; a tiny one is enlarged for display.
	img := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	in, err := e.InputEncoded(info.ID, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if in.Width != 240 || in.Height != 120 {
		t.Errorf("display picture %d×%d, want 240×120", in.Width, in.Height)
	}
	if in.Top5[0].Label == "" {
		t.Errorf("no label")
	}
	big := image.NewGray(image.Rect(0, 0, 2000, 1000))
	if b := displayBase(big).Bounds(); b.Dx() != maxBaseSide || b.Dy() != maxBaseSide/2 {
		t.Errorf("big picture shown at %v", b)
	}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{nil, "empty"},
		{[]byte("hello, not a picture"), "not an image"},
		{buf.Bytes()[:40], "image"},
	} {
		if _, err := e.InputEncoded(info.ID, c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %q: error %v, want %q", c.data, err, c.want)
		}
	}
	if _, err := e.InputTensor(info.ID, make([]float32, 7)); err == nil {
		t.Errorf("short tensor accepted")
	}
	// Cards that do not fit.
	for _, c := range []struct {
		mc   card.Card
		want string
	}{
		{card.Card{InputShape: []int{3, 64, 64}}, "does not fit"},
		{card.Card{Mean: []float32{0.5}}, "3 values"},
		{card.Card{Std: []float32{1, 0, 1}}, "positive"},
		{card.Card{InputShape: []int{5}}, "input_shape"},
		{card.Card{Labels: []string{"a", "b", "c", "d", "e", "f", "g"}}, "the file has 7 names but the model has 10 outputs"},
	} {
		if _, err := e.Configure(info.ID, &c.mc); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("card %+v: error %v, want %q", c.mc, err, c.want)
		}
	}
	// A failed Configure leaves the model as it was.
	if _, err := e.InputImage(info.ID, img); err != nil {
		t.Errorf("after bad cards: %v", err)
	}
	if _, err := e.LoadModel([]byte("not onnx"), nil); err == nil {
		t.Errorf("garbage loaded as a model")
	}
	// Labels that do not count the model's outputs are refused at load too.
	data := testenv.ReadFile(t, filepath.Join(tiny, "model.onnx"))
	if _, err := e.LoadModel(data, &card.Card{Labels: []string{"a", "b"}}); !errors.Is(err, card.ErrBadCard) || !strings.Contains(err.Error(), "2 names but the model has 10 outputs") {
		t.Errorf("2 labels for 10 outputs: %v", err)
	}
}

// The collector may let the heap grow while the loaded models are small,
// not once a big one (ResNet-18's 47 MB of weights, or LR-ASPP's forward
// pass) is loaded, and again after it is disposed of.
func TestGCPercentFollowsModels(t *testing.T) {
	e, _ := loadTiny(t, nil)
	if got := e.gcPercent(); got != gcPercentSmall {
		t.Errorf("with tinycnn: GOGC %d, want %d", got, gcPercentSmall)
	}
	data := testenv.ReadFile(t, filepath.Join(sharedOracle, "resnet18", "model_bn.onnx"))
	info, err := e.LoadModel(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.gcPercent(); got != 100 {
		t.Errorf("with ResNet-18 loaded: GOGC %d, want 100", got)
	}
	e.DisposeModel(info.ID)
	if got := e.gcPercent(); got != gcPercentSmall {
		t.Errorf("after disposing of ResNet-18: GOGC %d, want %d", got, gcPercentSmall)
	}
	// LR-ASPP (MobileNetV3): small weights, but a forward pass keeps more.
	data = testenv.ReadFile(t, filepath.Join(sharedOracle, "lraspp-seg", "model.onnx"))
	if info, err = e.LoadModel(data, nil); err != nil {
		t.Fatal(err)
	}
	ms := e.models[info.ID]
	weights := 0
	for _, c := range ms.m.Graph.Consts {
		weights += 4 * c.Len()
	}
	if weights > gcSmallBytes || ms.passBytes <= gcSmallBytes-weights {
		t.Fatalf("LR-ASPP: %d bytes of weights, %d of values in a pass: the test needs small weights and a big pass", weights, ms.passBytes)
	}
	if got := e.gcPercent(); got != 100 {
		t.Errorf("with LR-ASPP loaded (%d MB of values in a pass): GOGC %d, want 100", ms.passBytes>>20, got)
	}
	e.DisposeModel(info.ID)
	if got := e.gcPercent(); got != gcPercentSmall {
		t.Errorf("after disposing of LR-ASPP: GOGC %d, want %d", got, gcPercentSmall)
	}
}

// TestCAMParts divides SmoothGrad (16 samples), ScoreCAM and Integrated
// Gradients (20 steps) between two
// engines, as the page's workers do, and finishes each map on a third from
// the pieces: the map and raw map equal one engine's, bit for bit.
func TestCAMParts(t *testing.T) {
	x := readF32(t, filepath.Join(tiny, "raw", "input.f32"))
	engines := make([]*Engine, 3)
	inputs := make([]int, 3)
	for i := range engines {
		e, info := loadTiny(t, nil)
		in, err := e.InputTensor(info.ID, x)
		if err != nil {
			t.Fatal(err)
		}
		engines[i], inputs[i] = e, in.ID
	}
	for _, method := range []string{"smoothgrad", "scorecam", "integrated-gradients", "ablationcam"} {
		req := CAMRequest{Method: method, Class: 3, Attr: AttrParams{Samples: 16, Steps: 20}}
		one := req
		one.Input = inputs[2]
		want, err := engines[2].CAM(one)
		if err != nil {
			t.Fatal(err)
		}
		var pieces []float32
		total := -1
		for w := 0; w < 2; w++ {
			r := req
			r.Input = inputs[w]
			if total < 0 {
				r.Part = &cam.Part{Lo: 0, Hi: 1}
				p, err := engines[w].CAM(r)
				if err != nil {
					t.Fatal(err)
				}
				total = p.PieceCount
			}
			r.Part = &cam.Part{Lo: total * w / 2, Hi: total * (w + 1) / 2}
			if r.Part.Lo == r.Part.Hi {
				continue // ablationcam here: one batch of channels, one piece
			}
			p, err := engines[w].CAM(r)
			if err != nil {
				t.Fatalf("%s part %v: %v", method, *r.Part, err)
			}
			if p.Map != nil || p.PieceCount != total {
				t.Fatalf("%s part: a map, or %d pieces in all (want %d)", method, p.PieceCount, total)
			}
			if !(p.PieceMS > 0 && p.PieceMS <= p.MS) {
				t.Errorf("%s part: the pieces took %v ms of the request's %v", method, p.PieceMS, p.MS)
			}
			pieces = append(pieces, p.Pieces...)
		}
		r := req
		r.Input, r.Pieces = inputs[0], pieces
		got, err := engines[0].CAM(r)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Map, want.Map) || !slices.Equal(got.Raw, want.Raw) || len(got.Map) == 0 {
			t.Errorf("%s: the map finished from two engines' pieces differs from one engine's", method)
		}
	}
}

// The metrics divided between two engines (their ROAD passes) and finished
// on one give the one engine's scores, with the default percentiles (ROAD
// and ARCC's own) and with ARCC's; bad parts are refused.
func TestMetricsParts(t *testing.T) {
	x := readF32(t, filepath.Join(tiny, "raw", "input.f32"))
	engines := make([]*Engine, 3)
	inputs := make([]int, 3)
	for i := range engines {
		e, info := loadTiny(t, nil)
		in, err := e.InputTensor(info.ID, x)
		if err != nil {
			t.Fatal(err)
		}
		engines[i], inputs[i] = e, in.ID
	}
	for _, pcts := range [][]float64{nil, {20, 40, 60, 80}} {
		req := MetricsRequest{CAMRequest: CAMRequest{Method: "gradcam", Class: 3, Seed: 2}, ROADNoise: 0.01, ROADPercentiles: pcts}
		one := req
		one.Input = inputs[2]
		want, err := engines[2].Metrics(one)
		if err != nil {
			t.Fatal(err)
		}
		r := req
		r.Input, r.Part = inputs[0], &cam.Part{Lo: 0, Hi: 1}
		first, err := engines[0].Metrics(r)
		if err != nil {
			t.Fatal(err)
		}
		total := first.PieceCount
		if total < 2 || first.ROADMoRF != nil {
			t.Fatalf("percentiles %v: %d pieces, scores %v", pcts, total, first.ROADMoRF)
		}
		pieces := first.Pieces
		for w, cut := range [][2]int{{1, total / 2}, {total / 2, total}} {
			if cut[0] >= cut[1] {
				continue
			}
			r := req
			r.Input, r.Part = inputs[w], &cam.Part{Lo: cut[0], Hi: cut[1]}
			p, err := engines[w].Metrics(r)
			if err != nil {
				t.Fatalf("part %v: %v", cut, err)
			}
			pieces = append(pieces, p.Pieces...)
		}
		r = req
		r.Input, r.Pieces = inputs[0], pieces
		got, err := engines[0].Metrics(r)
		if err != nil {
			t.Fatal(err)
		}
		got.MS, want.MS = 0, 0
		if fmt.Sprint(*got) != fmt.Sprint(*want) || len(got.ROADMoRF) == 0 {
			t.Errorf("percentiles %v: from the pieces %+v, on one engine %+v", pcts, *got, *want)
		}
		for _, bad := range []MetricsRequest{{CAMRequest: CAMRequest{Part: &cam.Part{Lo: 0, Hi: total + 1}}},
			{CAMRequest: CAMRequest{Pieces: pieces[1:]}}, {CAMRequest: CAMRequest{Part: &cam.Part{Lo: 0, Hi: 1}, Pieces: pieces}}} {
			b := req
			b.Input, b.Part, b.Pieces = inputs[0], bad.Part, bad.Pieces
			if _, err := engines[0].Metrics(b); !errors.Is(err, ErrBadRequest) {
				t.Errorf("part %v, %d pieces: error %v, want a bad request", b.Part, len(b.Pieces), err)
			}
		}
	}
}
