//go:build !(js && wasm)

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/card/cardfile"
)

// The opening view is the map the page shows first: the default model's
// first sample, Grad-CAM of the top class at the model's default layer,
// drawn with the page's default colormap and opacity. `make site` has this
// engine, built natively, compute it when the site is built
// (`go run ./wasm opening -site site`), so that the page can show it while
// its own engine (the same code, as wasm) downloads and starts; the page's
// engine then computes the map itself and draws it in its place: the same
// pixels (TestOpeningView, and the browser's TestFirstLoad compares the
// two canvases).

// Opening is the manifest's "opening" entry.
type Opening struct {
	Model    string  `json:"model"`
	Sample   string  `json:"sample"` // the sample's file
	Method   string  `json:"method"`
	Kind     string  `json:"kind"`
	Layer    string  `json:"layer"` // the layer the map was computed at (the model's default)
	Class    int     `json:"classIndex"`
	Label    string  `json:"label"`
	Colormap string  `json:"colormap"`
	Alpha    float64 `json:"alpha"`
	Overlay  string  `json:"overlay"` // a PNG of the overlay, in the site
	Width    int     `json:"width"`
	Height   int     `json:"height"`
}

// The page's defaults (web/app.js: state), which the opening view shows.
const (
	openingMethod   = "gradcam"
	openingKind     = "logit"
	openingColormap = "jet"
	openingAlpha    = 0.5
)

// siteManifest is the part of site/manifest.json (cmd/serve) read here.
type siteManifest struct {
	DefaultModel string `json:"defaultModel"`
	Models       []struct {
		Name string          `json:"name"`
		File string          `json:"file"`
		Card json.RawMessage `json:"card"`
	} `json:"models"`
	Samples []struct {
		File   string `json:"file"`
		Model  string `json:"model"`
		Pixels string `json:"pixels"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
	} `json:"samples"`
}

// computeOpening computes the opening view of the site in dir, or nil when
// the site has nothing to open with (no default model, or a first sample
// without decoded pixels).
func computeOpening(dir string, man *siteManifest) (*Opening, *image.RGBA, error) {
	if len(man.Samples) == 0 || man.Samples[0].Pixels == "" {
		return nil, nil, nil
	}
	s := man.Samples[0]
	var modelFile string
	var cardJSON json.RawMessage
	for _, m := range man.Models {
		if m.Name == man.DefaultModel {
			modelFile, cardJSON = m.File, m.Card
		}
	}
	if modelFile == "" || (s.Model != "" && s.Model != man.DefaultModel) {
		return nil, nil, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, nil, err
	}
	var mc *card.Card
	if len(cardJSON) > 0 && string(cardJSON) != "null" {
		if mc, err = cardfile.Parse(cardJSON); err != nil {
			return nil, nil, fmt.Errorf("%s's card: %w", man.DefaultModel, err)
		}
	}
	pix, err := os.ReadFile(filepath.Join(dir, s.Pixels))
	if err != nil {
		return nil, nil, err
	}
	if s.Width <= 0 || s.Height <= 0 || len(pix) != 4*s.Width*s.Height {
		return nil, nil, fmt.Errorf("%s: %d bytes for %d×%d pixels", s.Pixels, len(pix), s.Width, s.Height)
	}
	e := NewEngine()
	info, err := e.LoadModel(data, mc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", modelFile, err)
	}
	// The page sends these pixels as they are (web/app.js: samplePixels).
	img := &image.NRGBA{Pix: pix, Stride: 4 * s.Width, Rect: image.Rect(0, 0, s.Width, s.Height)}
	in, err := e.InputImage(info.ID, img, openingMethod) // its pass at the method's tier, as the page sets it
	if err != nil {
		return nil, nil, err
	}
	res, err := e.CAM(CAMRequest{Input: in.ID, Method: openingMethod, Kind: openingKind, Class: -1, Other: -1})
	if err != nil {
		return nil, nil, err
	}
	overlay, _, _, err := e.Render(in.ID, openingColormap, openingAlpha)
	if err != nil {
		return nil, nil, err
	}
	o := &Opening{
		Model: man.DefaultModel, Sample: s.File, Method: openingMethod, Kind: openingKind, Layer: res.Layer,
		Class: res.ClassIndex, Label: label(info.Labels, res.ClassIndex), Colormap: openingColormap, Alpha: openingAlpha,
		Overlay: strings.TrimSuffix(s.File, filepath.Ext(s.File)) + ".opening.png",
		Width:   overlay.Rect.Dx(), Height: overlay.Rect.Dy(),
	}
	return o, overlay, nil
}

// runOpening is `opening -site DIR`: it writes the opening view's overlay
// into the site and its entry into the site's manifest.json.
func runOpening(args []string) error {
	fs := flag.NewFlagSet("opening", flag.ContinueOnError)
	dir := fs.String("site", "site", "the site folder (cmd/serve build)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := filepath.Join(*dir, "manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var man siteManifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	o, overlay, err := computeOpening(*dir, &man)
	if err != nil {
		return fmt.Errorf("opening view: %w", err)
	}
	if o == nil {
		fmt.Println("site: no opening view (no default model with a decoded first sample)")
		return nil
	}
	f, err := os.Create(filepath.Join(*dir, o.Overlay))
	if err != nil {
		return err
	}
	if err := png.Encode(f, overlay); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Add the entry, keeping the rest of the manifest as it is.
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return err
	}
	if all["opening"], err = json.Marshal(o); err != nil {
		return err
	}
	b, err := json.MarshalIndent(all, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	// The page shows the picture as soon as its HTML is parsed, in an
	// image in front of the main canvas (web/app.js removes it when the
	// engine draws there).
	page := filepath.Join(*dir, "index.html")
	if html, err := os.ReadFile(page); err == nil {
		if out, ok := withOpening(string(html), o, methodName(*dir, o.Method)); ok {
			if err := os.WriteFile(page, []byte(out), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("site: opening view %s (%s of %q at %s, %d×%d)\n", o.Overlay, o.Method, o.Label, o.Layer, o.Width, o.Height)
	return nil
}

// openingCanvas is the page's main canvas, as web/index.html has it.
const openingCanvas = `<canvas id="overlay" `

// withOpening puts the opening view's image before the page's main canvas
// and its caption in place of the canvas's; false when the page has no such
// canvas or has the image already.
func withOpening(html string, o *Opening, name string) (string, bool) {
	if strings.Contains(html, `id="opening-view"`) || !strings.Contains(html, openingCanvas) {
		return html, false
	}
	img := fmt.Sprintf(`<img id="opening-view" class="opening" src="%s" width="%d" height="%d" elementtiming="opening-view" alt="%s">`,
		htmlEscape(o.Overlay), o.Width, o.Height, htmlEscape(name+" of "+o.Label+": the map this page opens with"))
	html = strings.Replace(html, openingCanvas, img+openingCanvas, 1)
	caption := `<figcaption id="overlay-caption">`
	if k := strings.Index(html, caption); k >= 0 {
		if e := strings.Index(html[k:], "</figcaption>"); e >= 0 {
			html = html[:k+len(caption)] + htmlEscape(name+" · "+o.Label+" · "+openingStarting) + html[k+e:]
		}
	}
	return html, true
}

// openingStarting ends the caption while the engine starts (web/app.js
// says the same).
const openingStarting = "the engine in your browser is starting and will redraw it"

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// methodName is a method's name in the site's methods.json, else its id.
func methodName(dir, id string) string {
	b, err := os.ReadFile(filepath.Join(dir, "methods.json"))
	if err != nil {
		return id
	}
	var list []struct{ ID, Name string }
	if json.Unmarshal(b, &list) != nil {
		return id
	}
	for _, m := range list {
		if m.ID == id && m.Name != "" {
			return m.Name
		}
	}
	return id
}
