package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/cnnlens/cnnlens/engine/imgproc"
	"github.com/cnnlens/cnnlens/models/fmnist"
)

// Manifest is site/manifest.json: what the page offers.
type Manifest struct {
	DefaultModel string        `json:"defaultModel"`
	Models       []ModelEntry  `json:"models"`
	Samples      []SampleEntry `json:"samples"`
	WasmBytes    int64         `json:"wasmBytes"`
	WasmGzBytes  int64         `json:"wasmGzBytes,omitempty"`
}

// ModelEntry is one bundled model.
type ModelEntry struct {
	Name  string          `json:"name"`
	File  string          `json:"file"`
	Title string          `json:"title"`
	Card  json.RawMessage `json:"card,omitempty"`
	Bytes int64           `json:"bytes"`
}

// SampleEntry is one sample image; Model names the bundled model it is
// meant for ("" for any).
type SampleEntry struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Model string `json:"model"`
	Group string `json:"group"`
	// Pixels is the picture decoded by the engine's own decoder, as
	// width×height straight-alpha RGBA bytes: the page opens its first
	// sample from them, without decoding an image file on the way to the
	// first heatmap (same pixels, so the same numbers).
	Pixels string `json:"pixels,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

func runBuild(args []string) error {
	fs := flag.NewFlagSet("serve build", flag.ContinueOnError)
	out := fs.String("out", "site", "folder to write (replaced)")
	web := fs.String("web", "web", "the page's static files")
	wasm := fs.String("wasm", "bin/cnnlens.wasm", "the engine built with GOOS=js GOARCH=wasm")
	modelsDir := fs.String("models", "models", "bundled models: NAME.onnx with the card NAME.json")
	def := fs.String("model", "", "default model (default: models/shapes.onnx; a model outside -models is added, for tests)")
	samples := fs.String("samples", "testdata", "folders of sample images, comma separated: files named MODEL*, or in a folder named MODEL, go with that model; a labels.json there names them")
	fashion := fs.Int("fashion", 10, "Fashion-MNIST test items to add as samples for the fashion model (one per class, from "+fmnist.Dir+" when installed)")
	gz := fs.Bool("gzip", true, "write cnnlens.wasm.gz beside cnnlens.wasm for hosts that serve precompressed files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*web, "index.html")); err != nil {
		return fmt.Errorf("%s/index.html is missing", *web)
	}
	st, err := os.Stat(*wasm)
	if err != nil {
		return fmt.Errorf("the engine %s is missing: build it with GOOS=js GOARCH=wasm go build -o %s ./wasm (make site does)", *wasm, *wasm)
	}

	// Models: every models/*.onnx, the default first.
	type src struct{ name, onnx, card string }
	var models []src
	onnxFiles, _ := filepath.Glob(filepath.Join(*modelsDir, "*.onnx"))
	sort.Strings(onnxFiles)
	for _, f := range onnxFiles {
		models = append(models, src{name: strings.TrimSuffix(filepath.Base(f), ".onnx"), onnx: f})
	}
	defName := ""
	if *def != "" {
		if _, err := os.Stat(*def); err != nil {
			return fmt.Errorf("default model: %w", err)
		}
		defName = modelName(*def)
		found := false
		for _, m := range models {
			found = found || m.name == defName
		}
		if !found {
			models = append(models, src{name: defName, onnx: *def})
		}
	} else {
		// The multi-label scenes model first: its samples show Grad-CAM
		// moving between two objects as the class changes.
		for _, pref := range []string{"shapes", "scenes"} {
			for _, m := range models {
				if m.name == pref {
					defName = pref
				}
			}
		}
		if defName == "" && len(models) > 0 {
			defName = models[0].name
		}
	}
	if len(models) == 0 || defName == "" {
		return fmt.Errorf("no bundled model: %s/shapes.onnx is missing (the bundled models are made in models/; see models/README.md), or give one with MODEL=path/to/model.onnx", *modelsDir)
	}
	sort.SliceStable(models, func(i, j int) bool { return models[i].name == defName && models[j].name != defName })

	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	for _, d := range []string{*out, filepath.Join(*out, "models"), filepath.Join(*out, "samples")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// The page.
	entries, err := os.ReadDir(*web)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || n == "README.md" || n == "screenshot.png" || strings.HasPrefix(n, ".") || strings.HasSuffix(n, "_test.go") || n == "package.json" {
			continue
		}
		if strings.HasSuffix(n, ".html") {
			err = writePage(filepath.Join(*web, n), filepath.Join(*out, n), filepath.Join(*web, "boot.js"), wasmExec(), filepath.Join(*web, "worker.js"))
		} else {
			err = copyFile(filepath.Join(*web, n), filepath.Join(*out, n))
		}
		if err != nil {
			return err
		}
	}
	if err := copyFile(wasmExec(), filepath.Join(*out, "wasm_exec.js")); err != nil {
		return fmt.Errorf("wasm_exec.js from the Go toolchain: %w", err)
	}
	if err := os.WriteFile(filepath.Join(*out, ".nojekyll"), nil, 0o644); err != nil {
		return err
	}

	// The engine.
	man := Manifest{DefaultModel: defName, WasmBytes: st.Size()}
	wasmOut := filepath.Join(*out, "cnnlens.wasm")
	if err := copyFile(*wasm, wasmOut); err != nil {
		return err
	}
	if *gz {
		if man.WasmGzBytes, err = gzipFile(wasmOut); err != nil {
			return err
		}
	}

	// The models and their cards.
	for _, m := range models {
		dst := filepath.Join(*out, "models", m.name+".onnx")
		if err := copyFile(m.onnx, dst); err != nil {
			return err
		}
		e := ModelEntry{Name: m.name, File: "models/" + m.name + ".onnx", Title: title(m.name)}
		if fi, err := os.Stat(dst); err == nil {
			e.Bytes = fi.Size()
		}
		if card, err := os.ReadFile(strings.TrimSuffix(m.onnx, ".onnx") + ".json"); err == nil {
			if !json.Valid(card) {
				return fmt.Errorf("%s.json is not valid JSON", strings.TrimSuffix(m.onnx, ".onnx"))
			}
			if err := os.WriteFile(filepath.Join(*out, "models", m.name+".json"), card, 0o644); err != nil {
				return err
			}
			e.Card = card
		}
		man.Models = append(man.Models, e)
	}

	// Samples: images in the sample folders; files named MODEL* or in a
	// folder named MODEL go with that model, the rest (photos) with any.
	isModel := func(name string) bool {
		for _, m := range models {
			if m.name == name {
				return true
			}
		}
		return false
	}
	for _, dir := range strings.Split(*samples, ",") {
		dir = strings.TrimSpace(dir)
		files, _ := os.ReadDir(dir)
		folderModel := ""
		if isModel(filepath.Base(dir)) {
			folderModel = filepath.Base(dir)
		}
		var titles map[string]struct {
			Label string `json:"label"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "labels.json")); err == nil {
			json.Unmarshal(b, &titles)
		}
		for _, f := range files {
			n := f.Name()
			ext := strings.ToLower(filepath.Ext(n))
			stem := strings.TrimSuffix(n, filepath.Ext(n))
			if f.IsDir() || strings.HasSuffix(stem, "_mask") || (ext != ".png" && ext != ".jpg" && ext != ".jpeg" && ext != ".webp") {
				continue
			}
			s := SampleEntry{Name: stem, Group: "photos", Model: folderModel}
			for _, m := range models {
				if strings.HasPrefix(strings.ToLower(n), m.name) {
					s.Model = m.name
				}
			}
			if s.Model != "" {
				s.Group = s.Model
			}
			if t, ok := titles[stem]; ok && t.Label != "" {
				s.Name = t.Label + " (" + stem + ")"
			}
			dst := n
			if folderModel != "" && !strings.HasPrefix(n, folderModel) {
				dst = folderModel + "-" + n
			}
			if err := copyFile(filepath.Join(dir, n), filepath.Join(*out, "samples", dst)); err != nil {
				return err
			}
			s.File = "samples/" + dst
			man.Samples = append(man.Samples, s)
		}
	}
	if *fashion > 0 && isModel("fashion") {
		items, err := fashionSamples(filepath.Join(*out, "samples"), *fashion)
		if err != nil {
			fmt.Fprintf(os.Stderr, "site: no Fashion-MNIST samples: %v\n", err)
		}
		man.Samples = append(man.Samples, items...)
	}
	if len(man.Samples) == 0 {
		// Nothing to show yet: draw a small scene so that the first load
		// has a picture.
		if err := writeScene(filepath.Join(*out, "samples", "scene.png")); err != nil {
			return err
		}
		man.Samples = append(man.Samples, SampleEntry{Name: "scene", File: "samples/scene.png", Group: "scenes"})
	}
	// The default model's samples first.
	sort.SliceStable(man.Samples, func(i, j int) bool {
		return man.Samples[i].Model == defName && man.Samples[j].Model != defName
	})
	if err := writePixels(&man.Samples[0], *out); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(man, "", " ")
	if err := os.WriteFile(filepath.Join(*out, "manifest.json"), b, 0o644); err != nil {
		return err
	}
	fmt.Printf("site: %s (default model %s, %d models, %d samples; cnnlens.wasm %.1f MB, gzip %.1f MB)\n",
		*out, defName, len(man.Models), len(man.Samples), float64(man.WasmBytes)/1e6, float64(man.WasmGzBytes)/1e6)
	return nil
}

// fashionSamples writes the first n Fashion-MNIST test items of distinct
// classes as 28×28 grey PNGs.
func fashionSamples(dir string, n int) ([]SampleEntry, error) {
	set, err := fmnist.Load("", "t10k")
	if err != nil {
		return nil, err
	}
	var out []SampleEntry
	seen := map[byte]bool{}
	const px = fmnist.Size * fmnist.Size
	for i := 0; i < len(set.Labels) && len(out) < n; i++ {
		l := set.Labels[i]
		if seen[l] {
			continue
		}
		seen[l] = true
		img := image.NewGray(image.Rect(0, 0, fmnist.Size, fmnist.Size))
		copy(img.Pix, set.Images[i*px:(i+1)*px])
		label := fmnist.Labels[l]
		name := fmt.Sprintf("fashion-%d-%s.png", i, strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(label)))
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		out = append(out, SampleEntry{Name: fmt.Sprintf("%s (test item %d)", label, i), File: "samples/" + name, Model: "fashion", Group: "fashion"})
	}
	return out, nil
}

// wasmExec is the toolchain's wasm_exec.js: $(go env GOROOT)/lib/wasm.
func wasmExec() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if root := strings.TrimSpace(string(out)); root != "" {
			return filepath.Join(root, "lib", "wasm", "wasm_exec.js")
		}
	}
	return filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js")
}

// modelName names a model by its file, or by its folder for a file called
// model.onnx (../shared/oracle/tinycnn/model.onnx is "tinycnn").
func modelName(path string) string {
	n := strings.TrimSuffix(filepath.Base(path), ".onnx")
	if n == "model" {
		if d := filepath.Base(filepath.Dir(path)); d != "." && d != string(filepath.Separator) {
			return d
		}
	}
	return n
}

func title(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// maxPixels bounds the samples whose pixels are written (512×512: 1 MiB);
// a bigger picture loads faster as its file.
const maxPixels = 512 * 512

// writePixels decodes a sample with the engine's decoder and writes its
// pixels next to it (see SampleEntry.Pixels), when it is opaque and at
// most maxPixels.
func writePixels(s *SampleEntry, out string) error {
	data, err := os.ReadFile(filepath.Join(out, s.File))
	if err != nil {
		return err
	}
	img, err := imgproc.Decode(data)
	if err != nil {
		// The page will say what is wrong with it.
		fmt.Fprintf(os.Stderr, "site: sample %s: %v\n", s.File, err)
		return nil
	}
	b := img.Bounds()
	if b.Dx()*b.Dy() > maxPixels {
		return nil
	}
	pix := make([]byte, 0, 4*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.A != 255 {
				return nil // (the page decodes it)
			}
			pix = append(pix, c.R, c.G, c.B, c.A)
		}
	}
	s.Pixels = strings.TrimSuffix(s.File, filepath.Ext(s.File)) + ".rgba"
	s.Width, s.Height = b.Dx(), b.Dy()
	return os.WriteFile(filepath.Join(out, s.Pixels), pix, 0o644)
}

// bootTag is how the pages load boot.js.
const bootTag = `<script src="boot.js"></script>`

// workerTag opens the engine worker's source (wasm_exec.js and worker.js)
// written into a page: a script the browser does not run, which boot.js
// starts the worker from.
const workerTag = `<script type="text/x-cnnlens-worker" id="cnnlens-worker">`

// writePage copies an HTML page with boot.js written into it: the script
// then runs as soon as the parser reaches it, without waiting for a
// request of its own. The worker's source (Go's wasm_exec.js, then
// worker.js) is written in before it, so that boot.js starts the worker
// from it with no request either: the worker then fetches and compiles the
// engine at once, on its own thread (on a page's HTTP/1.1 connections,
// worker.js waited behind the style sheet and the modules; compiled on the
// page's thread, the engine's bytes waited for the parser and the layout).
func writePage(src, dst, boot string, workerFiles ...string) error {
	page, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if bytes.Contains(page, []byte(bootTag)) {
		js, err := os.ReadFile(boot)
		if err != nil {
			return err
		}
		if err := inlineable(boot, js); err != nil {
			return err
		}
		var worker []byte
		for _, f := range workerFiles {
			w, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := inlineable(f, w); err != nil {
				return err
			}
			worker = append(append(worker, w...), '\n')
		}
		tag := "<script>\n" + string(js) + "</script>"
		if len(worker) > 0 {
			tag = workerTag + "\n" + string(worker) + "</script>\n" + tag
		}
		page = bytes.Replace(page, []byte(bootTag), []byte(tag), 1)
	}
	return os.WriteFile(dst, page, 0o644)
}

// inlineable says whether a script can be written into a page as it is:
// the HTML parser ends a script at </script and treats <!-- and <script
// inside one specially.
func inlineable(name string, js []byte) error {
	for _, bad := range []string{"</script", "<!--", "<script"} {
		if bytes.Contains(bytes.ToLower(js), []byte(bad)) {
			return fmt.Errorf("%s cannot be written into a page: it contains %s", name, bad)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeScene draws a 96×96 picture of a disc and a square, the stand-in
// sample when the site has no sample images.
func writeScene(path string) error {
	const n = 96
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := color.NRGBA{uint8(40 + x), uint8(60 + y), 120, 255}
			if dx, dy := x-30, y-34; dx*dx+dy*dy < 15*15 {
				c = color.NRGBA{230, 60, 50, 255}
			}
			if x >= 52 && x < 82 && y >= 50 && y < 80 {
				c = color.NRGBA{250, 210, 40, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
