package main

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// imagenetSizedModel writes a small classifier with 1000 outputs, the
// size of an ImageNet model, whose logit 281 (ImageNet's "tabby") is the
// largest whatever the image: x (1×3×16×16) → Conv 8 → Relu →
// GlobalAveragePool → Flatten → Gemm 1000 → logits.
func imagenetSizedModel() ([]byte, error) {
	seq := func(n int, scale float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = scale * float32((i*7919)%13-6) / 6
		}
		return v
	}
	bias := make([]float32, 1000)
	bias[281] = 8
	bias[282] = 4
	node := func(name, op string, in []string, out string, a *onnx.Attributes) *onnx.Node {
		return &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: a}
	}
	return onnx.Encode(&onnx.Model{
		IRVersion: 8, Opset: 13, Producer: "cnnlens-test",
		Graph: &onnx.Graph{
			Name: "imagenet-sized",
			Nodes: []*onnx.Node{
				node("/conv/Conv", "Conv", []string{"input", "conv.weight", "conv.bias"}, "c", onnx.NewAttributes().SetInts("pads", 1, 1, 1, 1).SetInts("kernel_shape", 3, 3)),
				node("/relu/Relu", "Relu", []string{"c"}, "r", onnx.NewAttributes()),
				node("/pool/GlobalAveragePool", "GlobalAveragePool", []string{"r"}, "g", onnx.NewAttributes()),
				node("/flatten/Flatten", "Flatten", []string{"g"}, "f", onnx.NewAttributes()),
				node("/fc/Gemm", "Gemm", []string{"f", "fc.weight", "fc.bias"}, "logits", onnx.NewAttributes().SetInt("transB", 1)),
			},
			Initializers: map[string]*tensor.T{
				"conv.weight": tensor.FromF32(seq(8*3*3*3, 0.5), 8, 3, 3, 3),
				"conv.bias":   tensor.FromF32(seq(8, 0.1), 8),
				"fc.weight":   tensor.FromF32(seq(1000*8, 0.2), 1000, 8),
				"fc.bias":     tensor.FromF32(bias, 1000),
			},
			Inputs:  []onnx.ValueInfo{{Name: "input", ElemType: 1, Shape: []int64{1, 3, 16, 16}, HasShape: true}},
			Outputs: []onnx.ValueInfo{{Name: "logits", ElemType: 1, Shape: []int64{1, 1000}, HasShape: true}},
		},
	})
}

func TestImagenetSizedModel(t *testing.T) {
	data, err := imagenetSizedModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	run, err := m.Forward(tensor.New(1, 3, 16, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	logits := run.Output(0)
	if n := len(logits.F32()); n != 1000 {
		t.Fatalf("%d logits, want 1000", n)
	}
	best := 0
	for i, v := range logits.F32() {
		if v > logits.F32()[best] {
			best = i
		}
	}
	if best != 281 {
		t.Errorf("top class %d, want 281", best)
	}
}

// unsupportedOpModel writes a valid ONNX model whose one node is an op the
// engine does not have (LSTM, a recurrent layer): x (1×3×8×8) → LSTM → y.
func unsupportedOpModel() []byte {
	msg := func(fields ...func([]byte) []byte) []byte {
		var b []byte
		for _, f := range fields {
			b = f(b)
		}
		return b
	}
	bytesField := func(num protowire.Number, v []byte) func([]byte) []byte {
		return func(b []byte) []byte {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return protowire.AppendBytes(b, v)
		}
	}
	strField := func(num protowire.Number, s string) func([]byte) []byte { return bytesField(num, []byte(s)) }
	intField := func(num protowire.Number, v uint64) func([]byte) []byte {
		return func(b []byte) []byte {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			return protowire.AppendVarint(b, v)
		}
	}
	valueInfo := func(name string) []byte {
		var dims []func([]byte) []byte
		for _, d := range []uint64{1, 3, 8, 8} {
			dims = append(dims, bytesField(1, msg(intField(1, d)))) // Dimension.dim_value
		}
		shape := msg(dims...)                                                        // TensorShapeProto
		tensorType := msg(intField(1, 1), bytesField(2, shape))                      // elem_type FLOAT, shape
		return msg(strField(1, name), bytesField(2, msg(bytesField(1, tensorType)))) // ValueInfoProto
	}
	attr := msg(strField(1, "hidden_size"), intField(3, 8), intField(20, 2)) // INT
	node := msg(strField(1, "x"), strField(2, "y"), strField(3, "/rnn/LSTM"), strField(4, "LSTM"), bytesField(5, attr))
	graph := msg(bytesField(1, node), strField(2, "lstm"), bytesField(11, valueInfo("x")), bytesField(12, valueInfo("y")))
	opset := msg(strField(1, ""), intField(2, 13))
	return msg(intField(1, 8), strField(2, "cnnlens-test"), bytesField(7, graph), bytesField(8, opset))
}

func TestUnsupportedOpModel(t *testing.T) {
	_, err := model.Load(unsupportedOpModel())
	if err == nil || !strings.Contains(err.Error(), `unsupported op "LSTM"`) {
		t.Fatalf("want an error naming LSTM, got %v", err)
	}
	t.Logf("engine says: %v", err)
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("\x00asm cnnlens "), 4096)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	os.WriteFile(filepath.Join(dir, "cnnlens.wasm"), big, 0o644)
	os.WriteFile(filepath.Join(dir, "a.png"), []byte("\x89PNG"), 0o644)
	srv := httptest.NewServer(Handler(dir))
	defer srv.Close()

	get := func(path, enc string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := get("/cnnlens.wasm", "gzip, br")
	if ct := res.Header.Get("Content-Type"); ct != "application/wasm" {
		t.Errorf("wasm Content-Type %q", ct)
	}
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("wasm not gzipped: %v", res.Header)
	}
	// Pages of other sites may load the engine, as from GitHub Pages.
	if o := res.Header.Get("Access-Control-Allow-Origin"); o != "*" {
		t.Errorf("Access-Control-Allow-Origin %q, want *", o)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, big) {
		t.Errorf("gzipped body differs")
	}
	res = get("/cnnlens.wasm", "")
	got, _ = io.ReadAll(res.Body)
	if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(got, big) {
		t.Errorf("plain wasm: encoding %q, %d bytes", res.Header.Get("Content-Encoding"), len(got))
	}
	// A precompressed file is served as it is.
	if _, err := gzipFile(filepath.Join(dir, "cnnlens.wasm")); err != nil {
		t.Fatal(err)
	}
	res = get("/cnnlens.wasm", "gzip")
	gz, _ := os.ReadFile(filepath.Join(dir, "cnnlens.wasm.gz"))
	got, _ = io.ReadAll(res.Body)
	if !bytes.Equal(got, gz) {
		t.Errorf("precompressed file not served")
	}
	if res := get("/", "gzip"); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := get("/a.png", "gzip"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("png compressed")
	}
	if res := get("/../../etc/passwd", ""); res.StatusCode != 404 {
		t.Errorf("path escape: %d", res.StatusCode)
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	web := filepath.Join(dir, "web")
	models := filepath.Join(dir, "models")
	samples := filepath.Join(dir, "testdata")
	for _, d := range []string{web, models, samples} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><head>"+bootTag+"</head>"), 0o644)
	os.WriteFile(filepath.Join(web, "embed.html"), []byte("<!doctype html>"), 0o644)
	os.WriteFile(filepath.Join(web, "boot.js"), []byte("window.booted = 1;\n"), 0o644)
	os.WriteFile(filepath.Join(web, "worker.js"), []byte("self.worked = 1;\n"), 0o644)
	os.WriteFile(filepath.Join(web, "README.md"), []byte("# web"), 0o644)
	wasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(wasm, []byte("\x00asm"), 0o644)
	out := filepath.Join(dir, "site")

	// No bundled model: a clear error.
	err := runBuild([]string{"-out", out, "-web", web, "-wasm", wasm, "-models", models, "-samples", samples})
	if err == nil || !strings.Contains(err.Error(), "shapes.onnx") {
		t.Fatalf("want an error about models/shapes.onnx, got %v", err)
	}
	os.WriteFile(filepath.Join(models, "fashion.onnx"), []byte("onnx"), 0o644)
	os.WriteFile(filepath.Join(models, "shapes.onnx"), []byte("onnx"), 0o644)
	os.WriteFile(filepath.Join(models, "shapes.json"), []byte(`{"labels":["a","b"]}`), 0o644)
	os.WriteFile(filepath.Join(samples, "chelsea.png"), []byte("png"), 0o644)
	os.WriteFile(filepath.Join(samples, "shapes-1.png"), []byte("png"), 0o644)
	// A sample that is not a picture: the site is built, without pixels.
	if err := runBuild([]string{"-out", out, "-web", web, "-wasm", wasm, "-models", models, "-samples", samples}); err != nil {
		t.Fatal(err)
	}
	if man, _ := os.ReadFile(filepath.Join(out, "manifest.json")); bytes.Contains(man, []byte(`"pixels"`)) {
		t.Errorf("pixels of a sample that is not a picture:\n%s", man)
	}
	// The default model's first sample, opaque: its pixels are written.
	pic := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range pic.Pix {
		pic.Pix[i] = byte(40 * i)
	}
	for i := 3; i < len(pic.Pix); i += 4 {
		pic.Pix[i] = 255
	}
	var enc bytes.Buffer
	png.Encode(&enc, pic)
	os.WriteFile(filepath.Join(samples, "shapes-1.png"), enc.Bytes(), 0o644)
	if err := runBuild([]string{"-out", out, "-web", web, "-wasm", wasm, "-models", models, "-samples", samples}); err != nil {
		t.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	for _, want := range []string{`"defaultModel": "shapes"`, `"file": "samples/shapes-1.png"`, `"model": "shapes"`, `"labels"`} {
		if !bytes.Contains(man, []byte(want)) {
			t.Errorf("manifest lacks %s:\n%s", want, man)
		}
	}
	for _, f := range []string{"index.html", "wasm_exec.js", "cnnlens.wasm", "cnnlens.wasm.gz", "models/shapes.onnx", "models/shapes.json", "models/fashion.onnx", "samples/chelsea.png", ".nojekyll"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("site lacks %s", f)
		}
	}
	if !bytes.Contains(man, []byte(`"pixels": "samples/shapes-1.rgba"`)) || !bytes.Contains(man, []byte(`"width": 3`)) || !bytes.Contains(man, []byte(`"height": 2`)) {
		t.Errorf("manifest lacks the first sample's pixels:\n%s", man)
	}
	if px, _ := os.ReadFile(filepath.Join(out, "samples", "shapes-1.rgba")); !bytes.Equal(px, pic.Pix) {
		t.Errorf("pixels %v, want %v", px, pic.Pix)
	}
	// boot.js is written into the pages that load it.
	if page, _ := os.ReadFile(filepath.Join(out, "index.html")); !bytes.Contains(page, []byte("<script>\nwindow.booted = 1;\n</script>")) || bytes.Contains(page, []byte(bootTag)) {
		t.Errorf("index.html: boot.js not written in:\n%s", page)
	}
	// So is the worker's source, Go's wasm_exec.js then worker.js, in a
	// script the browser does not run, before boot.js.
	page, _ := os.ReadFile(filepath.Join(out, "index.html"))
	goExec, _ := os.ReadFile(wasmExec())
	w, b := bytes.Index(page, []byte(workerTag+"\n")), bytes.Index(page, []byte("<script>\nwindow.booted"))
	if len(goExec) == 0 || w < 0 || b < w || !bytes.Contains(page, []byte(workerTag+"\n"+string(goExec)+"\nself.worked = 1;\n\n</script>\n<script>\nwindow.booted")) {
		t.Errorf("index.html: the worker's source (%d bytes of wasm_exec.js) not written in before boot.js (at %d, %d)", len(goExec), w, b)
	}
	// A script that would end the page's script early is refused.
	os.WriteFile(filepath.Join(web, "worker.js"), []byte("const s = '</script>';\n"), 0o644)
	if err := runBuild([]string{"-out", out, "-web", web, "-wasm", wasm, "-models", models, "-samples", samples}); err == nil || !strings.Contains(err.Error(), "worker.js cannot be written into a page") {
		t.Errorf("worker.js with </script: got %v, want an error naming it", err)
	}
	if _, err := os.Stat(filepath.Join(out, "README.md")); err == nil {
		t.Errorf("README.md copied into the site")
	}
	if i, j := bytes.Index(man, []byte(`"name": "shapes"`)), bytes.Index(man, []byte(`"name": "fashion"`)); i < 0 || j < 0 || i > j {
		t.Errorf("default model not first")
	}
}
