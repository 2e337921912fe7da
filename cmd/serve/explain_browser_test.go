//go:build browser

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// The main view explains itself: what the map is, what its colours mean,
// what each method computes, which layers a method can use, what ran.

// mapPeak is the position of the current map's maximum, as fractions of
// its width and height.
const mapPeak = `(() => { const r = cnnlensPage.state.result; let k = 0;
  for (let i = 1; i < r.cam.length; i++) if (r.cam[i] > r.cam[k]) k = i;
  return [(k % r.width + 0.5) / r.width, (Math.floor(k / r.width) + 0.5) / r.height]; })()`

func (p *page) setValue(id, value string) {
	p.t.Helper()
	var ignore any
	p.eval(fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('change')); })()`, id, value), &ignore)
}

// TestFirstScreen: the page opens on the multi-label model and a scene
// with two classes; both are listed, the first explained, and choosing
// the other moves the map to the other object. One line under the picture
// says what the map is, and a colour bar says what its colours mean.
func TestFirstScreen(t *testing.T) {
	p := openMain(t)
	var first struct {
		Default, Model string
		Multilabel     bool
		Present        []int
		Explain        string
		Class          int
		Label          string
	}
	p.eval(`(() => { const s = cnnlensPage.state; return {default: s.manifest.defaultModel, model: s.bundled && s.bundled.name,
  multilabel: !!(s.bundled && s.bundled.card && s.bundled.card.multilabel),
  present: [...document.querySelectorAll('#present button')].map((b) => +b.dataset.index),
  explain: document.getElementById('explain').textContent, class: cnnlensPage.lastRun.classIndex,
  label: s.model.labels[cnnlensPage.lastRun.classIndex] }; })()`, &first)
	if first.Model != first.Default {
		t.Fatalf("the page opened on %q, the manifest's default is %q", first.Model, first.Default)
	}
	if !first.Multilabel {
		t.Fatalf("the default model %q is not multi-label: the first screen needs the scenes model", first.Default)
	}
	if len(first.Present) < 2 {
		t.Fatalf("the first sample shows %d classes present, want two or more", len(first.Present))
	}
	if first.Class != first.Present[0] {
		t.Errorf("the map explains class %d, the first class present is %d", first.Class, first.Present[0])
	}
	if !strings.Contains(first.Explain, "Grad-CAM for "+first.Label) || !strings.Contains(first.Explain, "where the evidence for "+first.Label+" lies") || !strings.Contains(first.Explain, "16×16") {
		t.Errorf("the line under the picture: %q", first.Explain)
	}
	var before, after [2]float64
	p.eval(mapPeak, &before)
	renders := p.renders()
	p.eval(fmt.Sprintf(`document.querySelector('#present button[data-index="%d"]').click()`, first.Present[1]), new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.classIndex === %d`, renders, first.Present[1]), 30*time.Second)
	p.eval(mapPeak, &after)
	if d := math.Hypot(after[0]-before[0], after[1]-before[1]); d < 0.15 {
		t.Errorf("the map's peak moved by %.2f of the picture from class %d to %d: it should move to the other object", d, first.Present[0], first.Present[1])
	}
	var pressed []bool
	p.eval(`[...document.querySelectorAll('#present button')].map((b) => b.getAttribute('aria-pressed') === 'true')`, &pressed)
	if len(pressed) < 2 || pressed[0] || !pressed[1] {
		t.Errorf("the chosen class is not the one marked: %v", pressed)
	}
	// The colour bar: the colormap's colours, 0 and 1, what they mean.
	var bar struct {
		Ticks []string
		Note  string
		Cmap  string
	}
	p.eval(`(() => { const b = document.querySelector('#cbar-main .cbar'); return b && {ticks: [...b.querySelectorAll('.cbar-ticks span')].map((s) => s.textContent), note: b.querySelector('.cbar-note').textContent, cmap: b.dataset.colormap}; })()`, &bar)
	if len(bar.Ticks) != 2 || !strings.HasPrefix(bar.Ticks[0], "0") || !strings.HasSuffix(bar.Ticks[1], "1") || !strings.Contains(bar.Note, "no evidence") || bar.Cmap != "jet" {
		t.Errorf("colour bar under the map: %+v", bar)
	}
	p.screenshot("first-screen.png")

	// On a phone: the picture first, nothing wider than the screen.
	p.run(chromedp.EmulateViewport(390, 844))
	time.Sleep(300 * time.Millisecond)
	var phone struct {
		ScrollWidth              int
		StageTop, ControlsTop    float64
		ExplainTop, ControlsTop2 float64
	}
	p.eval(`(() => ({scrollWidth: document.documentElement.scrollWidth, stageTop: document.getElementById('stage').getBoundingClientRect().top,
  controlsTop: document.getElementById('controls').getBoundingClientRect().top}))()`, &phone)
	if phone.ScrollWidth > 390 {
		t.Errorf("on a 390 px screen the page is %d px wide: sideways scrolling", phone.ScrollWidth)
	}
	if phone.StageTop > phone.ControlsTop {
		t.Errorf("on a phone the controls (top %.0f) come before the picture (top %.0f)", phone.ControlsTop, phone.StageTop)
	}
	p.screenshot("first-screen-phone.png")
}

// TestMethodTexts: each method is described (from web/methods.json), the
// layer list offers what the method can use, the timing line says what
// was reused, an empty map says why.
func TestMethodTexts(t *testing.T) {
	p := openMain(t)
	var desc, want string
	p.eval(`document.getElementById('method-desc').textContent`, &desc)
	p.eval(`fetch('methods.json').then((r) => r.json()).then((l) => l.find((m) => m.id === 'gradcam').line)`, &want)
	if want == "" || !strings.HasPrefix(desc, want) {
		t.Errorf("Grad-CAM's description: %q, want it to start with %q", desc, want)
	}
	// Every view has its sentence, formula and paper from the same table.
	var viewDescs map[string]string
	p.eval(`(() => { const out = {}; for (const t of document.querySelectorAll('#inside [role=tab][data-view]')) { const d = document.getElementById(t.getAttribute('aria-controls')).querySelector('.view-desc'); out[t.dataset.view] = d ? d.textContent : ''; }
  const d = document.querySelector('#dff .view-desc'); out.dff = d ? d.textContent : ''; return out; })()`, &viewDescs)
	for v, d := range viewDescs {
		if len(d) < 40 || !strings.Contains(d, "20") {
			t.Errorf("view %s: description %q (want a sentence, a formula and a dated paper)", v, d)
		}
	}
	if len(viewDescs) < 7 {
		t.Errorf("views described: %v", viewDescs)
	}
	// Grad-CAM: the layers without a spatial map are there, greyed out, with the reason.
	var layers struct {
		Enabled, Disabled int
		Why               string
	}
	layersJS := `(() => { const o = [...document.querySelectorAll('#layer option')]; const g = document.querySelector('#layer optgroup:last-child');
  return {enabled: o.filter((x) => !x.disabled).length, disabled: o.filter((x) => x.disabled).length, why: g ? g.label : ''}; })()`
	p.eval(layersJS, &layers)
	if layers.Enabled == 0 || layers.Disabled == 0 || !strings.Contains(layers.Why, "no spatial map") {
		t.Errorf("Grad-CAM's layer list: %+v", layers)
	}
	// The forward pass is run once per image and reused.
	renders := p.renders()
	p.setValue("class", "1")
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.classIndex === 1`, renders), 30*time.Second)
	var run struct {
		ForwardMs, ReusedForwardMs float64
		Timing                     string
	}
	p.eval(`({...cnnlensPage.lastRun, timing: document.getElementById('timing').textContent})`, &run)
	if !strings.Contains(run.Timing, "forward pass reused") || run.ReusedForwardMs <= 0 || run.ForwardMs > 0.05 {
		t.Errorf("Grad-CAM on a second class: %+v", run)
	}
	// Saliency works on the input: every layer is offered, and the note says the layer is not used.
	renders = p.renders()
	p.setValue("method", "saliency")
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === 'saliency'`, renders), 30*time.Second)
	p.eval(layersJS, &layers)
	var note string
	p.eval(`document.getElementById('layer-note').textContent + ' | ' + document.getElementById('method-desc').textContent`, &note)
	if layers.Disabled != 0 || !strings.Contains(note, "does not use the layer") || !strings.Contains(note, "gradient of the score") {
		t.Errorf("saliency: layers %+v, notes %q", layers, note)
	}
	// Every class: the line under the picture says "no positive evidence"
	// exactly when the layer map is ≤ 0 everywhere.
	p.setValue("method", "gradcam")
	var classes int
	p.eval(`cnnlensPage.state.model.classes`, &classes)
	for c := 0; c < classes; c++ {
		renders = p.renders()
		p.setValue("class", fmt.Sprint(c))
		p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.classIndex === %d && cnnlensPage.lastRun.method === 'gradcam'`, renders, c), 30*time.Second)
		var r struct {
			RawMax  float64
			Explain string
		}
		p.eval(`(() => { const r = cnnlensPage.state.result; return {rawMax: Math.max(...r.raw.subarray(0, r.rawWidth * r.rawHeight)), explain: document.getElementById('explain').textContent}; })()`, &r)
		if empty := strings.HasPrefix(r.Explain, "No positive evidence"); empty != (r.RawMax <= 0) {
			t.Errorf("class %d: layer map's maximum %g, line %q", c, r.RawMax, r.Explain)
		}
	}
}

// TestLongJobs: a job estimated over ~10 s asks first; a new picture
// cancels the job in flight and shows at once, with a caption that
// matches it.
func TestLongJobs(t *testing.T) {
	p := openMain(t)
	// Pretend a forward pass of this model takes a second: Score-CAM's one
	// pass per channel is then well over 10 s.
	p.eval(`cnnlensPage.pace.set(cnnlensPage.state.model.id, 1000)`, new(any))
	p.setValue("method", "scorecam")
	p.wait(`!document.getElementById('confirm-long').hidden`, 10*time.Second)
	var text string
	p.eval(`document.getElementById('confirm-text').textContent`, &text)
	if !strings.Contains(text, "Score-CAM needs") || !strings.Contains(text, "forward passes") {
		t.Errorf("the question before a long job: %q", text)
	}
	renders := p.renders()
	p.eval(`document.getElementById('confirm-skip').click()`, new(any))
	time.Sleep(500 * time.Millisecond)
	if p.renders() != renders {
		t.Errorf("Score-CAM ran although the visitor said not now")
	}
	p.eval(`document.getElementById('confirm-run').click()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === 'scorecam'`, renders), 60*time.Second)

	// A new picture while a long job runs: the job stops at once, the new
	// picture shows at once with a caption that says so, and the engine is
	// free for the next request (a job still running would hold it).
	p.eval(`cnnlensPage.state.opts.smoothgrad = {samples: 20000}; cnnlensPage.pace.set(cnnlensPage.state.model.id, 1)`, new(any))
	p.setValue("method", "smoothgrad")
	p.wait(`!document.getElementById('confirm-long').hidden`, 10*time.Second)
	p.eval(`document.getElementById('confirm-run').click()`, new(any))
	p.wait(`cnnlensPage.progress && cnnlensPage.progress.method === 'smoothgrad' && cnnlensPage.progress.done > 0`, 60*time.Second)
	var progress string
	p.eval(`document.getElementById('progress-text').textContent`, &progress)
	if !strings.Contains(progress, "SmoothGrad") || !strings.Contains(progress, "passes") {
		t.Errorf("progress line: %q", progress)
	}
	var other string
	p.eval(`(() => { const m = cnnlensPage.state.manifest; const cur = cnnlensPage.state.source.sample.file;
  const s = m.samples.find((x) => x.model === m.defaultModel && x.file !== cur); document.querySelector('#samples button[data-file="' + s.file + '"]').click(); return s.name; })()`, &other)
	p.wait(fmt.Sprintf(`document.getElementById('overlay-caption').textContent.startsWith(%q)`, other), 3*time.Second)
	// The new picture's SmoothGrad is as long: the page asks again; say not now.
	p.wait(`!document.getElementById('confirm-long').hidden && cnnlensPage.state.source.name !== ''`, 20*time.Second)
	p.eval(`document.getElementById('confirm-skip').click()`, new(any))
	start := time.Now()
	renders = p.renders()
	p.setValue("method", "gradcam")
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === 'gradcam' && cnnlensPage.state.source.name === %q`, renders, other), 20*time.Second)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Grad-CAM after the cancelled SmoothGrad took %v: the old job held the engine", d)
	}
	var caption string
	p.eval(`document.getElementById('overlay-caption').textContent`, &caption)
	if !strings.HasPrefix(caption, "Grad-CAM") {
		t.Errorf("caption after the new picture's map: %q", caption)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestPagePictures draws the main view's three layouts (overlay, side by
// side, every method) and checks each has its pictures and colour bars;
// `make page-pictures` keeps the screenshots in docs/pictures.
func TestPagePictures(t *testing.T) {
	p := openMain(t)
	keep := func(name string) {
		path := p.screenshot(name)
		if dir := os.Getenv("CNNLENS_PICTURES"); dir != "" {
			b, err := os.ReadFile(path)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}
	keep("page-overlay.png")
	renders := p.renders()
	p.eval(`document.querySelector('input[name=view][value=side]').click()`, new(any))
	time.Sleep(200 * time.Millisecond)
	var side struct {
		Bars     int
		Colours  []int
		RawCap   string
		HeatSize int
	}
	p.eval(`(() => { const bars = [...document.querySelectorAll('#views .cbar')].filter((b) => b.offsetParent);
  const colours = bars.map((b) => { const c = b.querySelector('canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const s = new Set(); for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); return s.size; });
  return {bars: bars.length, colours, rawCap: document.getElementById('raw-caption').textContent, heatSize: document.getElementById('heat').width}; })()`, &side)
	for _, n := range side.Colours {
		if n < 64 {
			t.Errorf("a colour bar shows %d colours: %v", n, side.Colours)
		}
	}
	if side.Bars != 3 || !strings.Contains(side.RawCap, "before ReLU") {
		t.Errorf("side by side: %+v (want a colour bar under the overlay, the map and the layer map)", side)
	}
	keep("page-side-by-side.png")
	p.eval(`document.querySelector('input[name=view][value=grid]').click()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && document.getElementById('timing').textContent.startsWith('All ')`, renders), 120*time.Second)
	var grid struct{ Figures, Failed int }
	p.eval(`({figures: document.querySelectorAll('#grid figure').length, failed: document.querySelectorAll('#grid figure.failed').length})`, &grid)
	if grid.Figures < 15 || grid.Failed > 0 {
		t.Errorf("every method: %+v", grid)
	}
	keep("page-all-methods.png")
}

// TestEveryMethod runs each method of the list once in the main view, then
// the concepts view (DFF) and the metrics panel.
func TestEveryMethod(t *testing.T) {
	p := openMain(t)
	var methods []string
	p.eval(`[...document.querySelectorAll('#method option')].map((o) => o.value)`, &methods)
	if len(methods) < 20 {
		t.Errorf("the method list has %d methods", len(methods))
	}
	for _, m := range methods {
		renders := p.renders()
		nErr := 0
		p.eval(`cnnlensPage.errors.length`, &nErr)
		p.setValue("method", m)
		p.wait(fmt.Sprintf(`(cnnlensPage.renders > %d && cnnlensPage.lastRun.method === %q) || cnnlensPage.errors.length > %d || !document.getElementById('confirm-long').hidden`, renders, m, nErr), 120*time.Second)
		var r struct {
			Method, Explain, Desc string
			Errors                []string
			Asked                 bool
		}
		p.eval(`({method: cnnlensPage.lastRun.method, explain: document.getElementById('explain').textContent, desc: document.getElementById('method-desc').textContent, errors: cnnlensPage.errors, asked: !document.getElementById('confirm-long').hidden})`, &r)
		if r.Asked {
			p.eval(`document.getElementById('confirm-run').click()`, new(any))
			p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === %q`, renders, m), 300*time.Second)
			p.eval(`({method: cnnlensPage.lastRun.method, explain: document.getElementById('explain').textContent, desc: document.getElementById('method-desc').textContent, errors: cnnlensPage.errors})`, &r)
		}
		if r.Method != m || len(r.Errors) > nErr || r.Explain == "" || r.Desc == "" {
			t.Errorf("%s: ran %q, line %q, description %q, errors %v", m, r.Method, r.Explain, r.Desc, r.Errors[nErr:])
		}
	}
	// Concepts (DFF): the picture and a legend line per concept.
	renders := p.renders()
	p.setValue("method", "gradcam")
	p.eval(`document.querySelector('input[name=view][value=dff]').click()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.dff && !document.getElementById('dff').hidden`, renders), 60*time.Second)
	var dff struct {
		N, Legend int
		RelError  float64
		Colours   int
	}
	p.eval(`({n: cnnlensPage.dff.n, relError: cnnlensPage.dff.relError, legend: document.querySelectorAll('#dff-legend li').length})`, &dff)
	dff.Colours = p.canvas("dff-canvas").Colors
	if dff.N != 4 || dff.Legend != 4 || !(dff.RelError > 0 && dff.RelError < 1) || dff.Colours < 16 {
		t.Errorf("concepts view: %+v", dff)
	}
	p.screenshot("page-dff.png")
	// Metrics of the current map.
	p.eval(`document.querySelector('input[name=view][value=overlay]').click(); document.getElementById('metrics').open = true; document.getElementById('metrics-run').click()`, new(any))
	p.wait(`cnnlensPage.metrics && !document.getElementById('metrics-table').hidden`, 120*time.Second)
	var rows int
	var arcc float64
	p.eval(`document.querySelectorAll('#metrics-table tr').length`, &rows)
	p.eval(`cnnlensPage.metrics.arcc`, &arcc)
	if rows < 6 || !(arcc >= 0 && arcc <= 1) {
		t.Errorf("metrics panel: %d rows, ARCC %v", rows, arcc)
	}
	p.screenshot("page-metrics.png")
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestPageModels: the oracle's ConvNeXt, ViT, Swin and segmentation
// models dropped on the page, each explained at its oracle layer (with
// the layout it needs); the segmentation is drawn, and a click on a
// region explains that region's class.
func TestPageModels(t *testing.T) {
	type oracleCase struct {
		Layers map[string]struct {
			Tensor string `json:"onnx_tensor"`
			Shape  []int  `json:"shape"`
		} `json:"layers"`
	}
	cases := []struct{ name, layout string }{{"convnext-small", ""}, {"vit-tiny", ""}, {"swin-tiny", "nhwc"}, {"lraspp-seg", ""}}
	layers := map[string]string{}
	for _, c := range cases {
		var m oracleCase
		b, err := os.ReadFile(filepath.Join(oracleDir, c.name, "manifest.json"))
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			testenv.Missing(t, "oracle case %s: %v", c.name, err)
		}
		layers[c.name] = m.Layers["last"].Tensor
	}
	p := openMain(t)
	for _, c := range cases {
		renders := p.renders()
		p.eval(fmt.Sprintf(`(async () => { const b = await (await fetch('/oracle/%s/model.onnx')).blob(); await cnnlensPage.handleFiles([new File([b], '%s.onnx')]); })()`, c.name, c.name), new(any))
		p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.model.name.startsWith(%q)`, renders, c.name), 120*time.Second)
		if c.layout != "" {
			p.setValue("layout", c.layout)
		}
		renders = p.renders()
		p.setValue("layer", layers[c.name])
		p.wait(fmt.Sprintf(`(cnnlensPage.renders > %d && cnnlensPage.lastRun.layer === %q) || cnnlensPage.errors.length > 0`, renders, layers[c.name]), 120*time.Second)
		var r struct {
			Layer, Explain string
			Errors         []string
			Enabled        bool
			RawW, RawH     int
		}
		p.eval(fmt.Sprintf(`(() => { const o = [...document.querySelectorAll('#layer option')].find((x) => x.value === %q);
  return {layer: cnnlensPage.lastRun.layer, explain: document.getElementById('explain').textContent, errors: cnnlensPage.errors,
    enabled: !!o && !o.disabled, rawW: cnnlensPage.state.result.rawWidth, rawH: cnnlensPage.state.result.rawHeight}; })()`, layers[c.name]), &r)
		if r.Layer != layers[c.name] || len(r.Errors) > 0 || !r.Enabled || r.RawW < 4 || r.RawH < 4 || !strings.Contains(r.Explain, "Grad-CAM for") {
			t.Errorf("%s: %+v", c.name, r)
		}
		t.Logf("%s: %s (map %d×%d)", c.name, r.Explain, r.RawW, r.RawH)
		p.screenshot("page-model-" + c.name + ".png")
	}
	// The segmentation: drawn with a legend; a click explains the clicked region's class.
	var seg struct {
		Shown   bool
		Legend  int
		Clicked int
	}
	p.eval(`(() => { const s = cnnlensPage.state.input.segmentation; const c = document.getElementById('seg-canvas'); c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect();
  let k = 0; for (let i = 1; i < s.classes.length; i++) if (s.classes[i].pixels < s.classes[k].pixels) k = i;
  const cls = s.classes[k].index; const p = s.argmax.findIndex((v) => v === cls);
  const x = r.left + ((p % s.width) + 0.5) / s.width * r.width, y = r.top + (Math.floor(p / s.width) + 0.5) / s.height * r.height;
  window.segClick = {cls, x, y};
  return {shown: !document.getElementById('seg').hidden, legend: document.querySelectorAll('#seg-legend button').length, clicked: cls}; })()`, &seg)
	if !seg.Shown || seg.Legend < 1 {
		t.Fatalf("segmentation view: %+v", seg)
	}
	renders := p.renders()
	var at struct{ X, Y float64 }
	p.eval(`({x: segClick.x, y: segClick.y})`, &at)
	p.run(chromedp.MouseClickXY(at.X, at.Y))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.classIndex === %d`, renders, seg.Clicked), 120*time.Second)
	var region int
	p.eval(`cnnlensPage.state.segMask ? cnnlensPage.state.segMask.pixels : 0`, &region)
	if region < 1 {
		t.Errorf("a click on class %d's region: no region explained", seg.Clicked)
	}
	p.screenshot("page-segmentation.png")
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
