//go:build !(js && wasm)

package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpeningView: `opening -site DIR` writes the opening view's overlay
// (the engine's own rendering of the default model's first sample, read
// back losslessly), adds its entry to manifest.json without dropping the
// other keys, and has index.html preload it.
func TestOpeningView(t *testing.T) {
	dir := t.TempDir()
	model, err := filepath.Abs(filepath.Join("..", "models", "scenes.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cardJSON, err := os.ReadFile(filepath.Join("..", "models", "scenes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(model, filepath.Join(dir, "models", "scenes.onnx")); err != nil {
		t.Fatal(err)
	}
	const w, h = 64, 64
	pix := make([]byte, 4*w*h)
	rng := rand.New(rand.NewSource(1))
	for i := range pix {
		pix[i] = byte(rng.Intn(256))
		if i%4 == 3 {
			pix[i] = 255
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "scene.rgba"), pix, 0o644); err != nil {
		t.Fatal(err)
	}
	man := map[string]any{
		"defaultModel": "scenes",
		"models":       []any{map[string]any{"name": "scenes", "file": "models/scenes.onnx", "card": json.RawMessage(cardJSON)}},
		"samples":      []any{map[string]any{"name": "a scene", "file": "scene.png", "model": "scenes", "pixels": "scene.rgba", "width": w, "height": h}},
		"wasmBytes":    123,
	}
	b, _ := json.Marshal(man)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	page := `<html><head></head><body><figure class="main"><canvas id="overlay" width="224" height="224"></canvas><figcaption id="overlay-caption">overlay</figcaption></figure></body></html>`
	if err := os.WriteFile(filepath.Join(dir, "methods.json"), []byte(`[{"id": "gradcam", "name": "Grad-CAM"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runOpening([]string{"-site", dir}); err != nil {
		t.Fatal(err)
	}

	var got struct {
		WasmBytes int     `json:"wasmBytes"`
		Opening   Opening `json:"opening"`
	}
	b, _ = os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	o := got.Opening
	if got.WasmBytes != 123 || o.Overlay != "scene.opening.png" || o.Method != "gradcam" || o.Sample != "scene.png" || o.Layer == "" {
		t.Fatalf("manifest after opening: %s", b)
	}

	// The same map computed here, the way the page asks for it.
	var sm siteManifest
	json.Unmarshal(b, &sm)
	want, overlay, err := computeOpening(dir, &sm)
	if err != nil {
		t.Fatal(err)
	}
	if want.Class != o.Class || want.Label != o.Label || o.Label == "" {
		t.Errorf("class %d %q, computed again %d %q", o.Class, o.Label, want.Class, want.Label)
	}
	// A 64×64 picture is shown 4× larger.
	if o.Width != 4*w || o.Height != 4*h {
		t.Errorf("overlay %d×%d, want %d×%d", o.Width, o.Height, 4*w, 4*h)
	}
	f, err := os.ReadFile(filepath.Join(dir, o.Overlay))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	if !bytes.Equal(rgba.Pix, overlay.Pix) {
		t.Errorf("the PNG's pixels differ from the engine's overlay")
	}
	var colours = map[[3]byte]bool{}
	for i := 0; i < len(overlay.Pix); i += 4 {
		colours[[3]byte(overlay.Pix[i:i+3])] = true
	}
	if len(colours) < 100 {
		t.Errorf("overlay has %d colours: no map drawn?", len(colours))
	}
	html, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	wantHTML := `<img id="opening-view" class="opening" src="scene.opening.png" width="256" height="256" elementtiming="opening-view" alt="Grad-CAM of ` + o.Label + `: the map this page opens with"><canvas id="overlay" width="224" height="224"></canvas><figcaption id="overlay-caption">Grad-CAM · ` + o.Label + ` · ` + openingStarting + `</figcaption>`
	if !strings.Contains(string(html), wantHTML) {
		t.Errorf("index.html does not show the opening view:\n%s\nwant it to contain\n%s", html, wantHTML)
	}
	// Running it again changes nothing in the page.
	if err := runOpening([]string{"-site", dir}); err != nil {
		t.Fatal(err)
	}
	html2, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !bytes.Equal(html, html2) {
		t.Errorf("a second run changed index.html")
	}
}
