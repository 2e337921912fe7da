//go:build browser

// "Inside the network" explains its pictures: a colour bar with the
// numbers of the data beside every map, a sentence when a map is empty or
// flat, labels in HTML (not drawn into the pictures), and the walk-through
// "How does Grad-CAM see this?".
//
//	CNNLENS_PICTURES  also write one picture per view and per walk-through
//	                  step into this directory (make inside-page-pictures:
//	                  docs/pictures)
package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// insidePage opens the page and gives the helpers the inside tests share.
type insidePage struct {
	*page
	t *testing.T
}

func openInside(t *testing.T) *insidePage {
	return &insidePage{page: openMain(t), t: t}
}

func (p *insidePage) js(expr string) {
	p.t.Helper()
	var ignore any
	p.eval(expr, &ignore)
}

func (p *insidePage) renders(view string) int {
	p.t.Helper()
	var n int
	p.eval(fmt.Sprintf(`(cnnlensPage.inside.renders[%q] || 0)`, view), &n)
	return n
}

// after runs an action and waits until view has drawn again.
func (p *insidePage) after(view string, action func()) {
	p.t.Helper()
	n := p.renders(view)
	action()
	p.wait(fmt.Sprintf(`(cnnlensPage.inside.renders[%q] || 0) > %d`, view, n), 60*time.Second)
}

func (p *insidePage) open(view string) {
	p.t.Helper()
	p.after(view, func() { p.js(fmt.Sprintf(`document.querySelector('#inside [role=tab][data-view=%q]').click()`, view)) })
}

func (p *insidePage) change(id, value string) {
	p.t.Helper()
	p.js(fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('change')); })()`, id, value))
}

func (p *insidePage) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel), &s)
	return s
}

// bar is a colour bar as the page drew it.
type bar struct {
	Colormap string
	Min, Max float64
	Ticks    []string
	Note     string
}

// bars reads the colour bars under a selector.
func (p *insidePage) bars(sel string) []bar {
	p.t.Helper()
	var out []bar
	p.eval(fmt.Sprintf(`[...document.querySelectorAll(%q)].map((b) => ({colormap: b.dataset.colormap, min: Number(b.dataset.min), max: Number(b.dataset.max),
  ticks: [...b.querySelectorAll('.cbar-ticks span')].map((s) => s.textContent), note: (b.querySelector('.cbar-note') || {}).textContent || ''}))`, sel), &out)
	return out
}

// picture writes an element's picture into CNNLENS_PICTURES (and the
// artifacts): what docs/inside.md shows.
func (p *insidePage) picture(name, sel string) {
	p.t.Helper()
	// A fixed dialog is measured from the top of the page.
	p.js(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (getComputedStyle(e.parentElement).position === 'fixed') window.scrollTo(0, 0); else e.scrollIntoView({block: 'start'}); })()`, sel))
	buf, err := chromedp.Run(p.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("picture of %s: %v", sel, err)
	}
	dirs := []string{artifacts}
	if d := os.Getenv("CNNLENS_PICTURES"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), buf, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// found is a layer and class a search found.
type found struct {
	Layer string
	Class int
}

// findOnSomeModel runs a search (a JavaScript expression resolving with
// {layer, class} or null) on the page's model, then on each other bundled
// model with its first sample, and leaves the page on the model where it
// found something.
func (p *insidePage) findOnSomeModel(search string) *found {
	p.t.Helper()
	var f *found
	p.eval(search, &f)
	if f != nil {
		return f
	}
	var models []string
	p.eval(`cnnlensPage.state.manifest.models.map((m) => m.name).filter((n) => n !== cnnlensPage.state.bundled.name)`, &models)
	for _, m := range models {
		n := p.page.renders()
		p.change("model-select", m)
		p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.bundled && cnnlensPage.state.bundled.name === %q && cnnlensPage.state.input`, n, m), 90*time.Second)
		p.eval(search, &f)
		if f != nil {
			p.t.Logf("found on the bundled model %s: %+v", m, *f)
			return f
		}
	}
	return nil
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1e-30, math.Max(math.Abs(a), math.Abs(b)))
}

type chStat struct {
	Channel                int
	Mean, Min, Max, Weight float64
}

// TestInsideColourBars: every view draws a colour bar whose numbers are
// the data's, labels its pictures in HTML, and says why a map is flat or
// empty.
func TestInsideColourBars(t *testing.T) {
	p := openInside(t)

	// Kernels: one scale for the layer, ±its largest |w|.
	p.open("kernels")
	var k struct {
		Mode  string
		Scale float64
	}
	p.eval(`cnnlensPage.inside.last.kernels`, &k)
	if b := p.bars("#k-bar .cbar"); len(b) != 1 || !near(b[0].Max, k.Scale) || !near(b[0].Min, -k.Scale) || b[0].Colormap != "gray" || !strings.Contains(b[0].Note, "= 0") {
		t.Errorf("kernel bar %+v for %s kernels on ±%v", b, k.Mode, k.Scale)
	}
	// Each filter labelled with its number in text drawn by the page, and
	// with its own scale when each filter has one.
	var kl struct {
		Labels      []string
		LabelHeight int
		Tiles       int
	}
	p.eval(`cnnlensPage.inside.last.kernels`, &kl)
	for i, l := range kl.Labels {
		if l != fmt.Sprint(i) {
			t.Errorf("kernel %d labelled %q", i, l)
		}
	}
	if len(kl.Labels) != kl.Tiles || kl.LabelHeight < 12 {
		t.Errorf("%d kernel labels for %d tiles, %d px high", len(kl.Labels), kl.Tiles, kl.LabelHeight)
	}
	p.picture("inside-kernels.png", "#inside")
	p.after("kernels", func() { p.js(`document.getElementById('k-per').click()`) })
	p.eval(`cnnlensPage.inside.last.kernels`, &kl)
	var want []string
	p.eval(`(async () => { const {num} = await import('/colorbar.js'); const api = await import('/cnnlens.js');
  const r = await api.filters({model: cnnlensPage.state.model, layer: document.getElementById('k-layer').value, labels: false}); r.image.close();
  return r.stats.map((s, f) => f + ' ±' + num(s.scale)); })()`, &want)
	if strings.Join(kl.Labels, "|") != strings.Join(want, "|") {
		t.Errorf("per-filter labels %q, want %q", kl.Labels, want)
	}
	if b := p.bars("#k-bar .cbar"); len(b) != 1 || b[0].Ticks[0] != "−1 × its largest" || !strings.Contains(b[0].Note, "own scale") {
		t.Errorf("per-filter kernel bar %+v", b)
	}
	p.after("kernels", func() { p.js(`document.getElementById('k-per').click()`) })

	// Feature maps, each tile on its own scale: its range under it.
	p.open("maps")
	var maps struct {
		Layer         string
		Channels      int
		Height, Width int
		Stats         []chStat
		Order         []int
	}
	p.eval(`cnnlensPage.inside.last.maps`, &maps)
	var caps []string
	p.eval(`[...document.querySelectorAll('#m-grid figcaption')].map((c) => c.textContent)`, &caps)
	want = nil
	p.eval(`import('/colorbar.js').then(({num}) => cnnlensPage.inside.last.maps.order.map((c) => { const s = cnnlensPage.inside.last.maps.stats[c];
  return s.min === 0 && s.max === 0 ? '#' + c + ' 0 everywhere' : s.min === s.max ? '#' + c + ' all ' + num(s.max) : '#' + c + ' ' + num(s.min) + '…' + num(s.max); }))`, &want)
	if len(caps) != maps.Channels || strings.Join(caps, "|") != strings.Join(want, "|") {
		t.Errorf("feature-map captions %q, want each tile's range %q", caps, want)
	}
	if b := p.bars("#m-bar .cbar"); len(b) != 1 || b[0].Colormap != "viridis" || !strings.Contains(b[0].Ticks[0], "lowest") {
		t.Errorf("feature-map bar (a scale a tile): %+v", b)
	}
	// Channels that are 0 everywhere are marked, and the page says why.
	dead := 0
	for _, s := range maps.Stats {
		if s.Min == 0 && s.Max == 0 {
			dead++
		}
	}
	var marked int
	p.eval(`document.querySelectorAll('#m-grid figure.dead').length`, &marked)
	note := p.text("#m-note")
	if marked != dead || (dead > 0) != strings.Contains(note, "not active anywhere in this image (ReLU output 0)") {
		t.Errorf("%d channels are 0 everywhere, %d marked; note %q", dead, marked, note)
	}
	t.Logf("%s: %d of %d channels are 0 everywhere", maps.Layer, dead, maps.Channels)
	// A channel large: its bar is its own range.
	p.after("channel", func() { p.js(`document.querySelectorAll('#m-grid figure')[1].click()`) })
	var ch struct {
		Channel int
		Stat    chStat
	}
	p.eval(`cnnlensPage.inside.last.channel`, &ch)
	if b := p.bars("#m-cells-bar .cbar"); len(b) != 1 || !near(b[0].Min, ch.Stat.Min) || !near(b[0].Max, ch.Stat.Max) {
		t.Errorf("channel %d bar %+v, its range %v…%v", ch.Channel, b, ch.Stat.Min, ch.Stat.Max)
	}
	p.picture("inside-maps.png", "#inside")
	// One scale for all: the bar runs from the layer's minimum to its maximum.
	p.after("maps", func() { p.js(`document.getElementById('m-shared').click()`) })
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range maps.Stats {
		lo, hi = math.Min(lo, s.Min), math.Max(hi, s.Max)
	}
	if b := p.bars("#m-bar .cbar"); len(b) != 1 || !near(b[0].Min, lo) || !near(b[0].Max, hi) {
		t.Errorf("shared feature-map bar %+v, the layer runs %v…%v", b, lo, hi)
	}

	// Gradients at the default layer, which feeds global average pooling:
	// every channel's gradient is flat, and the page says why.
	var gap bool
	p.eval(`(cnnlensPage.state.model.poolingLayers || []).some((l) => l.op === 'GlobalAveragePool' && l.input === cnnlensPage.state.layer)`, &gap)
	if !gap {
		t.Fatalf("the default layer %s does not feed global average pooling", maps.Layer)
	}
	p.after("maps", func() { p.change("m-what", "grad") })
	p.eval(`cnnlensPage.inside.last.maps`, &maps)
	big := 0.0
	for _, s := range maps.Stats {
		if s.Min != s.Max || !near(s.Max, s.Weight) {
			t.Errorf("channel %d: gradient %v…%v, weight %v: not flat", s.Channel, s.Min, s.Max, s.Weight)
		}
		big = math.Max(big, math.Max(-s.Min, s.Max))
	}
	if note := p.text("#m-note"); !strings.Contains(note, "the gradient is the same at every position: global average pooling follows this layer") &&
		!strings.Contains(note, "The gradient is the same at every position: global average pooling follows this layer") {
		t.Errorf("flat gradients without the reason: %q", note)
	}
	if b := p.bars("#m-bar .cbar"); len(b) != 1 || b[0].Colormap != "rdbu" || !near(b[0].Max, big) || !near(b[0].Min, -big) || b[0].Ticks[1] != "0" {
		t.Errorf("shared gradient bar %+v, want ±%v with 0 in the middle", b, big)
	}
	// Each tile on its own scale would paint every flat map full red or
	// blue: flat maps keep one scale, and each tile the colour of its value.
	p.after("maps", func() { p.js(`document.getElementById('m-shared').click()`) })
	if b := p.bars("#m-bar .cbar"); len(b) != 1 || !near(b[0].Max, big) || !near(b[0].Min, -big) {
		t.Errorf("flat gradients, a scale a tile asked: bar %+v, want ±%v", b, big)
	}
	var tileColours, wantColours []string
	p.eval(`[...document.querySelectorAll('#m-grid figure > canvas')].map((c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
  for (let i = 0; i < d.length; i += 4) s.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]); return [...s].join(' '); })`, &tileColours)
	p.eval(fmt.Sprintf(`import('/cnnlens.js').then((api) => { const t = api.engine().colormapTables.rdbu, m = cnnlensPage.inside.last.maps;
  return m.order.map((c) => { const u = Math.fround(0.5 + 0.5 * (m.stats[c].max / %v)); const i = u <= 0 ? 0 : u >= 1 ? 255 : Math.floor(Math.fround(255 * u)); return t[3 * i] + ',' + t[3 * i + 1] + ',' + t[3 * i + 2]; }); })`, big), &wantColours)
	if strings.Join(tileColours, "|") != strings.Join(wantColours, "|") {
		t.Errorf("flat gradient tiles %q, their values on ±%v give %q", tileColours, big, wantColours)
	}
	p.picture("inside-gradients.png", "#inside")
	// A layer with a max-pool after it: no such note.
	var early string
	p.eval(`(cnnlensPage.state.model.poolingLayers.find((l) => l.op === 'MaxPool') || {}).input || ''`, &early)
	p.after("maps", func() { p.change("layer", early) })
	if hidden := p.text("#m-note"); hidden != "" {
		var h bool
		p.eval(`document.getElementById('m-note').hidden`, &h)
		if !h && strings.Contains(hidden, "same at every position") {
			t.Errorf("gradients before a max-pool called flat: %q", hidden)
		}
	}
	var def string
	p.eval(`cnnlensPage.state.model.defaultLayer`, &def)
	p.after("maps", func() { p.change("layer", def) })

	// How Grad-CAM is built: the steps in order, a bar a tile with its
	// own numbers.
	p.open("breakdown")
	var steps []string
	p.eval(`[...document.querySelectorAll('#in-breakdown .b-steps > li > h3')].map((h) => h.textContent)`, &steps)
	order := []string{"Feature maps A", "Gradients ∂y/∂A", "global average of each gradient map", "Weighted maps w·A", "Σ w·A", "ReLU", "Upsampled over the image"}
	if len(steps) != len(order) {
		t.Fatalf("breakdown steps %q", steps)
	}
	for i, w := range order {
		if !strings.Contains(steps[i], w) {
			t.Errorf("step %d is %q, want %q", i+1, steps[i], w)
		}
	}
	var bd struct {
		Top                                  []int
		Weights                              []float64
		MapLo, MapHi, GradScale, ScaledScale []float64
		GradMin, GradMax                     []float64
		Scale, HeatMax, SumMax               float64
		Flat, Empty                          bool
	}
	p.eval(`cnnlensPage.inside.last.breakdown`, &bd)
	check := func(sel string, lo, hi func(k int) float64) {
		t.Helper()
		b := p.bars(sel)
		if len(b) != len(bd.Top) {
			t.Errorf("%s: %d bars for %d channels", sel, len(b), len(bd.Top))
			return
		}
		for k := range b {
			if !near(b[k].Min, lo(k)) || !near(b[k].Max, hi(k)) {
				t.Errorf("%s tile %d (channel %d): bar %v…%v, want %v…%v", sel, k, bd.Top[k], b[k].Min, b[k].Max, lo(k), hi(k))
			}
		}
	}
	check("#b-maps .cbar", func(k int) float64 { return bd.MapLo[k] }, func(k int) float64 { return bd.MapHi[k] })
	// Gradients: each on its own scale, or, when every one is flat, all on
	// the largest, painted the colour of their value.
	gscale := func(k int) float64 { return math.Max(-bd.GradMin[k], bd.GradMax[k]) }
	if bd.Flat {
		all := 0.0
		for k := range bd.Top {
			all = math.Max(all, gscale(k))
		}
		gscale = func(int) float64 { return all }
		var off []string
		p.eval(`(() => { return [...document.querySelectorAll('#b-grads figure > canvas')].map((c, k) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set(); for (let i = 0; i < d.length; i += 4) s.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]); return [...s].join(' '); }); })()`, &off)
		var want []string
		p.eval(`import('/cnnlens.js').then((api) => { const t = api.engine().colormapTables.rdbu, b = cnnlensPage.inside.last.breakdown, S = Math.max(...b.gradMax.map((v, k) => Math.max(v, -b.gradMin[k])));
  return b.gradMax.map((v) => { const u = Math.fround(0.5 + 0.5 * (v / S)); const i = u <= 0 ? 0 : u >= 1 ? 255 : Math.floor(Math.fround(255 * u)); return t[3 * i] + ',' + t[3 * i + 1] + ',' + t[3 * i + 2]; }); })`, &want)
		if strings.Join(off, "|") != strings.Join(want, "|") {
			t.Errorf("flat gradient tiles coloured %q, their values on one scale give %q", off, want)
		}
	}
	check("#b-grads .cbar", func(k int) float64 { return -gscale(k) }, gscale)
	check("#b-rows .cbar", func(k int) float64 { return -bd.ScaledScale[k] }, func(k int) float64 { return bd.ScaledScale[k] })
	for k, c := range bd.Top {
		// w·A's scale is |w| times A's largest |value|.
		if w := math.Abs(bd.Weights[c]) * math.Max(math.Abs(bd.MapLo[k]), math.Abs(bd.MapHi[k])); math.Abs(w-bd.ScaledScale[k]) > 1e-5*w {
			t.Errorf("channel %d: w·A drawn on ±%v, |w|·max|A| = %v", c, bd.ScaledScale[k], w)
		}
	}
	for _, sel := range []string{"#b-sum-bar .cbar", "#b-relu-bar .cbar"} {
		if b := p.bars(sel); len(b) != 1 || !near(b[0].Max, bd.Scale) || !near(b[0].Min, -bd.Scale) {
			t.Errorf("%s: %+v, want ±%v", sel, b, bd.Scale)
		}
	}
	var num string
	p.eval(fmt.Sprintf(`import('/colorbar.js').then(({num}) => num(%v))`, bd.HeatMax), &num)
	if b := p.bars("#b-overlay-bar .cbar"); len(b) != 1 || b[0].Min != 0 || b[0].Max != 1 || !strings.Contains(b[0].Note, num) {
		t.Errorf("heatmap bar %+v, want 0…1 with 1 = %s", b, num)
	}
	if !bd.Flat || !strings.Contains(p.text("#b-grad-note"), "global average pooling follows this layer") {
		t.Errorf("breakdown at the default layer: flat %v, note %q", bd.Flat, p.text("#b-grad-note"))
	}
	var bigTile float64
	p.eval(`document.querySelector('#b-rows canvas').getBoundingClientRect().width`, &bigTile)
	if bigTile < 96 {
		t.Errorf("w·A tiles are %v px wide: too small to read", bigTile)
	}
	p.picture("inside-breakdown.png", "#inside")

	// Rotated filters: labelled in HTML, one scale.
	p.open("rotations")
	p.after("rotations", func() { p.change("r-threshold", "0.75") })
	var rot struct {
		Pairs []struct {
			A, B      int
			Transform string
		}
		Drawn  int
		Mode   string
		Scales []float64
	}
	p.eval(`cnnlensPage.inside.last.rotations`, &rot)
	if rot.Drawn == 0 {
		t.Fatalf("no rotated pair drawn at 0.75")
	}
	var rcaps [][]string
	p.eval(`[...document.querySelectorAll('#r-list li')].map((li) => [...li.querySelectorAll('figcaption')].map((c) => c.textContent))`, &rcaps)
	if len(rcaps) != rot.Drawn {
		t.Fatalf("%d rows for %d pairs", len(rcaps), rot.Drawn)
	}
	for i, c := range rcaps {
		pr := rot.Pairs[i]
		if len(c) != 3 || c[0] != fmt.Sprintf("filter %d", pr.A) || !strings.HasPrefix(c[1], fmt.Sprintf("filter %d, ", pr.A)) || c[2] != fmt.Sprintf("filter %d", pr.B) {
			t.Errorf("pair %d (%+v) labelled %q", i, pr, c)
		}
	}
	var canvasW float64
	p.eval(`document.querySelector('#r-list canvas').getBoundingClientRect().width`, &canvasW)
	if canvasW < 90 {
		t.Errorf("rotation tiles %v px wide", canvasW)
	}
	if b := p.bars("#r-bar .cbar"); len(b) != 1 || !near(b[0].Max, rot.Scales[0]) {
		t.Errorf("rotation bar %+v, scale %v", b, rot.Scales)
	}
	p.picture("inside-rotations.png", "#inside")

	// Pooling backward: three labelled pictures, two bars, one window in
	// numbers.
	p.open("pooling")
	var pl struct {
		Op                string
		Channel           int
		InLo, InHi, Scale float64
		Window            struct {
			X, Y, KH, KW  int
			Gradient, Max float64
		}
	}
	p.eval(`cnnlensPage.inside.last.pooling`, &pl)
	var pcaps []string
	p.eval(`[...document.querySelectorAll('#p-figs figcaption')].map((c) => c.textContent)`, &pcaps)
	if len(pcaps) != 3 || !strings.Contains(pcaps[0], fmt.Sprintf("channel %d", pl.Channel)) || !strings.Contains(pcaps[1], "from above") || !strings.Contains(pcaps[2], "below") {
		t.Errorf("pooling labels %q", pcaps)
	}
	if b := p.bars("#p-bars .cbar"); len(b) != 2 || !near(b[0].Min, pl.InLo) || !near(b[0].Max, pl.InHi) || !near(b[1].Max, pl.Scale) || !near(b[1].Min, -pl.Scale) {
		t.Errorf("pooling bars %+v for input %v…%v, gradient ±%v", b, pl.InLo, pl.InHi, pl.Scale)
	}
	var cells struct {
		In, Below []string
		Marked    string
	}
	p.eval(`(() => { const t = document.querySelectorAll('#p-window table'); return {in: [...t[0].querySelectorAll('td')].map((d) => d.textContent),
  below: [...t[2].querySelectorAll('td')].map((d) => d.textContent), marked: (t[0].querySelector('td.max') || {}).textContent || ''}; })()`, &cells)
	var wantMax, wantG string
	p.eval(fmt.Sprintf(`import('/colorbar.js').then(({num}) => num(%v))`, pl.Window.Max), &wantMax)
	p.eval(fmt.Sprintf(`import('/colorbar.js').then(({num}) => num(%v))`, pl.Window.Gradient), &wantG)
	nonzero := 0
	for i, v := range cells.Below {
		if v != "0" {
			nonzero++
			if v != wantG || cells.In[i] != wantMax {
				t.Errorf("window: input %s gets %s; the maximum %s should get the gradient %s", cells.In[i], v, wantMax, wantG)
			}
		}
	}
	if pl.Op != "MaxPool" || len(cells.In) != pl.Window.KH*pl.Window.KW || cells.Marked != wantMax || nonzero != 1 {
		t.Errorf("max-pool window %+v: cells %+v, %d non-zero below", pl.Window, cells, nonzero)
	}
	// The labels are text on the page, not pixels: no canvas is captioned
	// by the engine (each is one tile of the data's size).
	var sizes [][2]int
	p.eval(`[...document.querySelectorAll('#p-figs canvas')].map((c) => [c.width, c.height])`, &sizes)
	for _, s := range sizes {
		if s[0] != s[1] {
			t.Errorf("pooling picture %v is not one square tile (a caption drawn in?)", s)
		}
	}
	p.picture("inside-pooling.png", "#inside")

	// What a channel wants: the picture's bar.
	p.js(`document.querySelector('#inside [role=tab][data-view=maximize]').click()`)
	if b := p.bars("#x-bar .cbar"); len(b) != 1 || b[0].Min != 0 || b[0].Max != 1 {
		t.Errorf("maximise bar %+v", b)
	}
	p.after("maximize", func() {
		p.js(`(() => { document.getElementById('x-steps').value = '64'; document.getElementById('x-channel').value = '9'; document.getElementById('x-run').click(); })()`)
	})
	p.picture("inside-maximize.png", "#inside")

	// A class with no positive evidence at a layer: the ReLU step says so.
	// The engine finds one (every spatial layer and class of the bundled
	// models, the page's first), then the page is set to it.
	empty := p.findOnSomeModel(`(async () => { const api = await import('/cnnlens.js'); const st = cnnlensPage.state;
  for (const l of st.model.layers.filter((l) => l.shape.length === 4 && l.shape[2] * l.shape[3] > 1)) {
    for (let c = 0; c < st.model.classes; c++) {
      const r = await api.gradcamBreakdown(st.input.id, {layer: l.output, classIndex: c, top: 1, tile: 1});
      for (const b of [r.maps, r.grads, r.scaled, r.sum, r.relu, r.overlay].flat()) b.close();
      if (!(r.heatMax > 0)) return {layer: l.output, class: c};
    }
  }
  return null; })()`)
	p.open("breakdown")
	if empty == nil {
		t.Errorf("no bundled model has a layer and class without positive evidence: the empty-map message is untested")
	} else {
		p.after("breakdown", func() { p.change("layer", empty.Layer) })
		p.after("breakdown", func() { p.change("class", fmt.Sprint(empty.Class)) })
		p.eval(`cnnlensPage.inside.last.breakdown`, &bd)
		var label string
		p.eval(fmt.Sprintf(`cnnlensPage.state.model.labels[%d]`, empty.Class), &label)
		var hidden bool
		p.eval(`document.getElementById('b-relu-note').hidden`, &hidden)
		if !bd.Empty || bd.HeatMax > 0 || hidden || !strings.Contains(p.text("#b-relu-note"), "No positive evidence for "+label+" at this layer") {
			t.Errorf("%s at %s: largest ReLU value %v, empty %v, note %q", label, empty.Layer, bd.HeatMax, bd.Empty, p.text("#b-relu-note"))
		}
		p.picture("inside-breakdown-empty.png", "#in-breakdown .b-steps > li:nth-child(6)")
		// And a class with evidence: no note.
		p.after("breakdown", func() { p.change("class", "") })
		p.eval(`cnnlensPage.inside.last.breakdown`, &bd)
		p.eval(`document.getElementById('b-relu-note').hidden`, &hidden)
		if bd.Empty != (bd.HeatMax <= 0) || bd.Empty == hidden {
			t.Errorf("top class: largest ReLU value %v, empty %v, note hidden %v", bd.HeatMax, bd.Empty, hidden)
		}
	}

	// A channel that is 0 everywhere: marked, and the page says why.
	deadAt := p.findOnSomeModel(`(async () => { const api = await import('/cnnlens.js'); const st = cnnlensPage.state;
  for (const l of st.model.layers.filter((l) => l.op === 'Relu' && l.shape.length === 4)) {
    const r = await api.featureMaps(st.input.id, {layer: l.output, tile: 1});
    for (const b of r.tiles) b.close();
    if (r.stats.some((s) => s.min === 0 && s.max === 0)) return {layer: l.output, class: -1};
  }
  return null; })()`)
	if deadAt == nil {
		t.Errorf("no bundled model has a ReLU channel that is 0 everywhere on its sample: the message is untested")
	} else {
		p.open("maps")
		p.after("maps", func() { p.change("m-what", "act") })
		p.after("maps", func() { p.change("layer", deadAt.Layer) })
		p.eval(`cnnlensPage.inside.last.maps`, &maps)
		n := 0
		for _, s := range maps.Stats {
			if s.Min == 0 && s.Max == 0 {
				n++
			}
		}
		var marked int
		p.eval(`document.querySelectorAll('#m-grid figure.dead').length`, &marked)
		if n == 0 || marked != n || !strings.Contains(p.text("#m-note"), "not active anywhere in this image (ReLU output 0)") {
			t.Errorf("%s: %d channels 0 everywhere, %d marked, note %q", deadAt.Layer, n, marked, p.text("#m-note"))
		}
		t.Logf("%s: %d of %d channels are 0 everywhere", deadAt.Layer, n, maps.Channels)
	}

	// On a phone-sized screen no view is wider than the screen.
	p.run(chromedp.EmulateViewport(390, 844))
	for _, v := range []string{"kernels", "maps", "breakdown", "rotations", "pooling", "maximize"} {
		if v == "maximize" {
			p.js(`document.querySelector('#inside [role=tab][data-view=maximize]').click()`)
		} else {
			p.open(v)
		}
		var over int
		p.eval(`document.documentElement.scrollWidth - window.innerWidth`, &over)
		if over > 0 {
			t.Errorf("%s at 390 px wide: the page is %d px wider than the screen", v, over)
		}
	}
	p.screenshot("inside-phone-last.png")

	if errs := p.insideErrors(); len(errs) != 0 {
		t.Errorf("errors in the inside views: %v", errs)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestInsideWalkthrough: "How does Grad-CAM see this?" steps through its
// eight screens for the page's image, class and layer with Next, Back and
// the keyboard, each map with its bar, and Esc closes it.
func TestInsideWalkthrough(t *testing.T) {
	p := openInside(t)
	p.js(`document.getElementById('walk-open').click()`)
	p.wait(`cnnlensPage.inside.walk && (cnnlensPage.inside.walk.ready || cnnlensPage.inside.walk.error)`, 60*time.Second)
	var w struct {
		Steps int
		Error *string
	}
	p.eval(`cnnlensPage.inside.walk`, &w)
	if w.Error != nil || w.Steps != 8 {
		t.Fatalf("walk-through: %+v", w)
	}
	var dialog struct {
		Role, Modal, Focus string
	}
	p.eval(`(() => { const d = document.querySelector('.walk'); return {role: d.getAttribute('role'), modal: d.getAttribute('aria-modal'), focus: document.activeElement.id}; })()`, &dialog)
	if dialog.Role != "dialog" || dialog.Modal != "true" || dialog.Focus != "walk-next" {
		t.Errorf("dialog %+v", dialog)
	}
	var layer, label string
	p.eval(`cnnlensPage.state.layer`, &layer)
	p.eval(`cnnlensPage.state.model.labels[cnnlensPage.state.classIndex >= 0 ? cnnlensPage.state.classIndex : cnnlensPage.state.input.top5[0].index]`, &label)
	titles := []string{"The image", "Feature maps A", "gradients ∂y/∂A", "The weights", "Weighted maps w·A", "Σ w·A", "ReLU", "Upsampled over the image"}
	type screen struct {
		Step            int
		Title, Sentence string
		Count           string
		Canvases, Drawn int
		Bars            int
		Back            bool
	}
	const read = `(() => { const d = document.querySelector('.walk'); const cs = [...d.querySelectorAll('.walk-body canvas:not(.cbar-ramp)')];
  return {step: cnnlensPage.inside.walk.step, title: d.querySelector('.walk-title').textContent, sentence: d.querySelector('.walk-sentence').textContent,
    count: d.querySelector('.walk-count').textContent, canvases: cs.length,
    drawn: cs.filter((c) => { const x = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set(); for (let i = 0; i < x.length; i += 4) s.add((x[i] << 16) | (x[i + 1] << 8) | x[i + 2]); return c.width > 1 && s.size >= 1; }).length,
    bars: d.querySelectorAll('.walk-body .cbar').length, back: d.querySelector('#walk-back').disabled}; })()`
	for i := range 8 {
		var s screen
		p.eval(read, &s)
		if s.Step != i || !strings.HasPrefix(s.Title, fmt.Sprintf("%d · ", i+1)) || !strings.Contains(strings.ToLower(s.Title), strings.ToLower(titles[i])) {
			t.Errorf("screen %d: step %d, title %q", i+1, s.Step, s.Title)
		}
		if !strings.Contains(s.Count, fmt.Sprintf("Step %d of 8", i+1)) || !strings.Contains(s.Count, layer) || !strings.Contains(s.Count, label) {
			t.Errorf("screen %d: %q does not name the step, %s and %s", i+1, s.Count, label, layer)
		}
		if strings.Count(s.Sentence, ". ") > 1 || len(s.Sentence) < 40 {
			t.Errorf("screen %d: not one sentence: %q", i+1, s.Sentence)
		}
		if s.Back != (i == 0) {
			t.Errorf("screen %d: Back disabled %v", i+1, s.Back)
		}
		// Every map has a bar: the picture (1) and the weights (4) are not maps.
		if i != 3 && (s.Canvases == 0 || s.Drawn != s.Canvases) {
			t.Errorf("screen %d: %d canvases, %d drawn", i+1, s.Canvases, s.Drawn)
		}
		wantBars := s.Canvases
		switch i {
		case 0:
			wantBars = 0
		case 6, 7:
			wantBars = 1 // the new map's; the small one beside it is the step before's
		}
		if s.Bars < wantBars {
			t.Errorf("screen %d: %d colour bars for %d maps", i+1, s.Bars, s.Canvases)
		}
		p.picture(fmt.Sprintf("walk-%d.png", i+1), ".walk")
		if i < 7 {
			if i%2 == 0 {
				p.js(`document.getElementById('walk-next').click()`)
			} else {
				p.js(`document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}))`)
			}
		}
	}
	// Back, then Esc closes and gives the focus back.
	p.js(`document.getElementById('walk-back').click()`)
	var step int
	p.eval(`cnnlensPage.inside.walk.step`, &step)
	if step != 6 {
		t.Errorf("Back from the last screen: step %d", step)
	}
	p.js(`document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))`)
	var gone struct {
		Open  bool
		Focus string
	}
	p.eval(`({open: !!document.querySelector('.walk'), focus: document.activeElement.id})`, &gone)
	if gone.Open || gone.Focus != "walk-open" {
		t.Errorf("after Esc: %+v", gone)
	}
	// On a phone-sized screen every screen fits: nothing wider than it.
	p.run(chromedp.EmulateViewport(390, 844))
	p.js(`document.getElementById('walk-open').click()`)
	p.wait(`cnnlensPage.inside.walk && cnnlensPage.inside.walk.open && cnnlensPage.inside.walk.ready`, 60*time.Second)
	for i := range 8 {
		var over struct{ Page, Dialog int }
		p.eval(`(() => { const d = document.querySelector('.walk'); return {page: document.documentElement.scrollWidth - window.innerWidth, dialog: d.scrollWidth - d.clientWidth}; })()`, &over)
		if over.Page > 0 || over.Dialog > 0 {
			t.Errorf("screen %d at 390 px: %d px wider than the screen, dialog %d px wider than itself", i+1, over.Page, over.Dialog)
		}
		if i == 1 {
			p.screenshot("walk-phone.png")
		}
		p.js(`document.getElementById('walk-next').click()`)
	}
	var closed bool
	p.eval(`!document.querySelector('.walk')`, &closed)
	if !closed {
		t.Errorf("Done on the last screen did not close the walk-through")
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
