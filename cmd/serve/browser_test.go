//go:build browser

// The page in a real browser: Debian's chromium, headless, driven by
// chromedp, against the built site (make test-browser builds it first).
//
//	CNNLENS_SITE       the built site (default ../../site)
//	CNNLENS_ORACLE     the oracle, served at /oracle/ for the parity tests (default
//	                   ../../testdata/oracle, the part of ../shared/oracle they read)
//	CNNLENS_ARTIFACTS  where screenshots go (default ../../bin/browser-artifacts)
//	CNNLENS_SCREENSHOT also write the main view to this path (the front page's picture)
//	CNNLENS_JSFLAGS    V8 flags for Chromium (experiments: --liftoff-only …)
//	CNNLENS_BROWSER_LOG write Chromium's output (e.g. V8 traces) to this file
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

var (
	siteDir   = envOr("CNNLENS_SITE", "../../site")
	oracleDir = envOr("CNNLENS_ORACLE", "../../testdata/oracle")
	artifacts = envOr("CNNLENS_ARTIFACTS", "../../bin/browser-artifacts")
	baseURL   string
	fixtures  string
	browser   context.Context
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := os.Stat(filepath.Join(siteDir, "index.html")); err != nil {
		fmt.Fprintf(os.Stderr, "browser tests: %s has no index.html: run make site (make test-browser does)\n", siteDir)
		return 1
	}
	tmp, err := os.MkdirTemp("", "cnnlens-browser-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	fixtures = filepath.Join(tmp, "fixtures")
	if err := writeFixtures(fixtures); err != nil {
		panic(err)
	}
	os.MkdirAll(artifacts, 0o755)

	mux := http.NewServeMux()
	mux.Handle("/", recordFailures(Handler(siteDir)))
	// /held/ is the site with the engine's download held back until
	// releaseEngine is closed: the page as it is while the engine starts.
	mux.Handle("/held/", http.StripPrefix("/held", holdEngine(recordFailures(Handler(siteDir)))))
	mux.Handle("/oracle/", http.StripPrefix("/oracle/", http.FileServer(http.Dir(oracleDir))))
	mux.Handle("/fixtures/", http.StripPrefix("/fixtures/", http.FileServer(http.Dir(fixtures))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	baseURL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// A test pattern for the camera, and no permission prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.WindowSize(1280, 900),
	)
	if f := os.Getenv("CNNLENS_JSFLAGS"); f != "" {
		opts = append(opts, chromedp.Flag("js-flags", f))
	}
	if p := os.Getenv("CNNLENS_BROWSER_LOG"); p != "" {
		if f, err := os.Create(p); err == nil {
			opts = append(opts, chromedp.CombinedOutput(f))
		}
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var cancel context.CancelFunc
	browser, cancel = chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		fmt.Fprintf(os.Stderr, "browser tests: cannot start chromium: %v\n", err)
		return 1
	}
	return m.Run()
}

// failures lists the requests answered with an error status (404 …), as
// "STATUS HOST PATH".
var failures struct {
	sync.Mutex
	list []string
}

// releaseEngine, closed, lets /held/'s engine download go on.
var releaseEngine = make(chan struct{})

func holdEngine(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			select {
			case <-releaseEngine:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func recordFailures(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		if sw.status >= 400 {
			failures.Lock()
			failures.list = append(failures.list, fmt.Sprintf("%d %s %s", sw.status, r.Host, r.URL.Path))
			failures.Unlock()
		}
	})
}

// failuresSince returns the failed requests after the first n.
func failuresSince(n int) []string {
	failures.Lock()
	defer failures.Unlock()
	return append([]string(nil), failures.list[n:]...)
}

func failureCount() int {
	failures.Lock()
	defer failures.Unlock()
	return len(failures.list)
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return "chromium"
}

// writeFixtures makes the files the tests upload and the test pages.
func writeFixtures(dir string) error {
	os.MkdirAll(dir, 0o755)
	img := image.NewNRGBA(image.Rect(0, 0, 120, 90))
	for y := 0; y < 90; y++ {
		for x := 0; x < 120; x++ {
			c := color.NRGBA{uint8(2 * x), uint8(2 * y), 90, 255}
			if (x-80)*(x-80)+(y-40)*(y-40) < 400 {
				c = color.NRGBA{240, 240, 30, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	f, err := os.Create(filepath.Join(dir, "upload.png"))
	if err != nil {
		return err
	}
	png.Encode(f, img)
	f.Close()
	good, _ := os.ReadFile(filepath.Join(dir, "upload.png"))
	corrupt := append([]byte(nil), good[:60]...)
	corrupt = append(corrupt, []byte(strings.Repeat("garbage!", 20))...)
	imagenetSized, err := imagenetSizedModel()
	if err != nil {
		return err
	}
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(i*131 + i/7)
	}
	files := map[string][]byte{
		// A model with 1000 outputs under a name that is not .onnx.
		"resnet-export": imagenetSized,
		"seven.txt":     []byte("a\nb\nc\nd\ne\nf\ng\n"),
		"binary.txt":    garbage[:200],
		"weights.dat":   garbage,
		"corrupt.png":   corrupt,
		"notes.txt":     []byte("these are notes, not a picture\n"),
		"lstm.onnx":     unsupportedOpModel(),
		"element.html": []byte(`<!doctype html><meta charset="utf-8"><title>cnn-lens element</title><link rel="icon" href="data:,">
<script type="module" src="/cnnlens.js"></script>
<body><p>Two elements:</p>
<cnn-lens id="a" method="gradcam" style="width:200px"></cnn-lens>
<cnn-lens id="b" method="eigencam" colormap="viridis" style="width:200px"></cnn-lens>
<script>
window.rendered = {};
document.addEventListener('cnnlens-render', (e) => { window.rendered[e.target.id] = e.detail.method; });
document.addEventListener('cnnlens-error', (e) => { window.elementError = e.detail; });
</script>`),
		// Another origin (127.0.0.1 rather than localhost) embedding the element.
		"xorigin.html": []byte(`<!doctype html><meta charset="utf-8"><title>other origin</title><link rel="icon" href="data:,">
<script type="module" src="ORIGIN/cnnlens.js"></script>
<body><cnn-lens id="x" method="layercam"></cnn-lens>
<script>
document.addEventListener('cnnlens-render', (e) => { window.rendered = e.detail.method; });
document.addEventListener('cnnlens-error', (e) => { window.elementError = e.detail; });
</script>`),
		// The "inside the network" views of the element, and two errors.
		"inside.html": []byte(`<!doctype html><meta charset="utf-8"><title>cnn-lens inside</title><link rel="icon" href="data:,">
<script type="module" src="/cnnlens.js"></script>
<body>
<cnn-lens id="maps" view="featuremaps" model="shapes" image="/samples/shapes-0003.png" layer="/block2/relu/Relu" order="mean" style="width:300px"></cnn-lens>
<cnn-lens id="grads" view="featuremaps" model="shapes" image="/samples/shapes-0003.png" layer="/block3/relu/Relu" gradients class="heart" order="weight" style="width:300px"></cnn-lens>
<cnn-lens id="breakdown" view="breakdown" model="shapes" image="/samples/shapes-0003.png" layer="/block3/relu/Relu" style="width:300px"></cnn-lens>
<cnn-lens id="maximize" view="maximize" model="shapes" layer="/block3/relu/Relu" channel="1" steps="16" seed="1" style="width:128px"></cnn-lens>
<cnn-lens id="badview" view="nosuchview" model="shapes"></cnn-lens>
<cnn-lens id="badlayer" view="filters" model="shapes" layer="/no/such/layer"></cnn-lens>
<script>
window.rendered = {};
window.errors = {};
document.addEventListener('cnnlens-render', (e) => { window.rendered[e.target.id] = true; });
document.addEventListener('cnnlens-error', (e) => { window.errors[e.target.id] = e.detail; });
</script>`),
		"embed.html": []byte(`<!doctype html><meta charset="utf-8"><title>iframe</title><link rel="icon" href="data:,"><body>` +
			`<iframe id="f" src="/embed.html?method=gradcampp&colormap=turbo" width="320" height="360" style="border:0"></iframe>`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// page is one tab with its console errors collected.
type page struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newPage(t *testing.T) *page {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // open the tab
		t.Fatal(err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelT)
	p := &page{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				p.mu.Lock()
				p.errors = append(p.errors, fmt.Sprintf("%s: %s %s:%d", m.Type, m.Text, m.URL, m.Line))
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into out.
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", firstLine(expr), err)
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		p.t.Fatalf("%s: result %s: %v", firstLine(expr), b, err)
	}
}

// wait polls a JavaScript expression until it is truthy.
func (p *page) wait(expr string, timeout time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[any](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify({renders: window.cnnlensPage && cnnlensPage.renders, errors: window.cnnlensPage && cnnlensPage.errors, lastRun: window.cnnlensPage && cnnlensPage.lastRun, message: document.getElementById('message') && document.getElementById('message-text').textContent, status: document.getElementById('status') && document.getElementById('status').textContent})`))
		p.t.Fatalf("waiting for %s: %v\npage: %s\nconsole: %v", firstLine(expr), err, state, p.consoleErrors())
	}
}

func (p *page) consoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

func (p *page) screenshot(name string) string {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(artifacts, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// openMain loads the page and waits for its first heatmap. With
// CNNLENS_TRACE=FILE, the load is recorded as a Chrome trace (JSON, for
// chrome://tracing or Perfetto): the page's threads, the worker's, V8's
// WebAssembly compilation and the network.
func openMain(t *testing.T) *page {
	p := newPage(t)
	p.run(chromedp.EmulateViewport(1280, 900))
	trace := os.Getenv("CNNLENS_TRACE")
	var done chan error
	if trace != "" {
		done = p.startTrace(trace)
	}
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
	if trace != "" {
		if _, err := chromedp.Call(p.ctx, tracing.End, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		t.Logf("trace of the first load: %s", trace)
	}
	return p
}

// traceCategories are the trace's categories: CNNLENS_TRACE_CATEGORIES, or
// the page's and the worker's tasks, V8's WebAssembly compilation and the
// network. (Tracing slows the load down: the more categories, the more.)
var traceCategories = cmp.Or(os.Getenv("CNNLENS_TRACE_CATEGORIES"),
	"toplevel,blink,loading,devtools.timeline,disabled-by-default-devtools.timeline,v8,v8.wasm,disabled-by-default-network")

// startTrace starts recording a trace; the channel reports when the trace,
// once tracing.End is called, has been written to file.
func (p *page) startTrace(file string) chan error {
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(p.ctx)
	go func() {
		var events []json.RawMessage
		for ev, err := range chromedp.Events(ctx, tracing.DataCollected) {
			if err != nil {
				break // the trace is complete (or the page gone)
			}
			for _, v := range ev.Value {
				b, _ := json.Marshal(v)
				events = append(events, b)
			}
		}
		if err := p.ctx.Err(); err != nil {
			done <- err
			return
		}
		b, _ := json.Marshal(map[string]any{"traceEvents": events})
		done <- os.WriteFile(file, b, 0o644)
	}()
	go func() {
		for range chromedp.Events(ctx, tracing.TracingComplete) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the last events, on their own subscription
		cancel()
	}()
	_, err := chromedp.Call(p.ctx, tracing.Start, tracing.StartParams{TraceConfig: &tracing.TraceConfig{IncludedCategories: strings.Split(traceCategories, ",")}})
	if err != nil {
		p.t.Fatal(err)
	}
	return done
}

const canvasStats = `((id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colors = new Set();
  for (let i = 0; i < d.length; i += 4) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return {w: c.width, h: c.height, colors: colors.size};
})`

type stats struct{ W, H, Colors int }

func (p *page) canvas(id string) stats {
	var s stats
	p.eval(canvasStats+"('"+id+"')", &s)
	return s
}

func (p *page) renders() int {
	var n int
	p.eval(`cnnlensPage.renders`, &n)
	return n
}

// TestFirstLoad: the page draws a heatmap with no click and no console
// error, and reports how long that took from navigation.
func TestFirstLoad(t *testing.T) {
	p := openMain(t)
	var marks map[string]float64
	p.eval(`cnnlensPage.marks`, &marks)
	t.Logf("startup (cold browser cache): first heatmap %.0f ms after navigation; steps (ms after navigation): %s",
		marks["first-heatmap"], sortedMarks(marks))
	os.WriteFile(filepath.Join(artifacts, "startup.json"), mustJSON(marks), 0o644)
	var timing string
	p.eval(`(() => { const n = performance.getEntriesByType('navigation')[0]; const r = performance.getEntriesByType('resource').map(e => e.name.split('/').pop() + ' ' + e.startTime.toFixed(0) + ' (request ' + e.requestStart.toFixed(0) + ') ' + e.responseStart.toFixed(0) + '-' + e.responseEnd.toFixed(0)); const pm = performance.getEntriesByType('mark').map(e => e.name + ' ' + e.startTime.toFixed(0)); return 'navigation: response ' + n.responseStart.toFixed(0) + '-' + n.responseEnd.toFixed(0) + ', DOM interactive ' + n.domInteractive.toFixed(0) + ', DOM content loaded ' + n.domContentLoadedEventEnd.toFixed(0) + '; resources (start (request) response): ' + r.join(', ') + '; performance marks: ' + pm.join(', '); })()`, &timing)
	t.Logf("%s", timing)
	// The engine's worker started from its source written into the page,
	// with no request for worker.js (on HTTP/1.1 it waited behind the
	// page's other requests), and fetched and compiled the engine itself:
	// the page's thread fetched neither.
	var fetched []string
	p.eval(`performance.getEntriesByType('resource').map((e) => e.name.split('/').pop())`, &fetched)
	if slices.Contains(fetched, "worker.js") || slices.Contains(fetched, "cnnlens.wasm") {
		t.Errorf("the page fetched %v: want neither worker.js nor cnnlens.wasm (the worker's)", fetched)
	}

	// The opening view (computed natively when the site was built) showed
	// first, and the engine's own map is the same picture.
	t.Logf("startup (cold browser cache): opening view shown %.0f ms after navigation", marks["first-heatmap-shown"])
	if shown, ok := marks["first-heatmap-shown"]; !ok || shown > marks["first-heatmap"] {
		t.Errorf("first-heatmap-shown %v (present: %v), after the engine's first heatmap %v", shown, ok, marks["first-heatmap"])
	}
	var opening struct {
		Shown   bool
		Differ  int
		W, H    int
		Problem string
	}
	p.eval(`(async () => {
  const man = await (await fetch('manifest.json')).json();
  const o = man.opening;
  if (!o) return {problem: 'manifest.json has no opening view (make site computes it)'};
  const bmp = await createImageBitmap(await (await fetch(o.overlay)).blob());
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  c.getContext('2d').drawImage(bmp, 0, 0);
  const want = c.getContext('2d').getImageData(0, 0, bmp.width, bmp.height).data;
  const live = document.getElementById('overlay');
  const got = live.getContext('2d').getImageData(0, 0, live.width, live.height).data;
  let differ = 0;
  if (got.length !== want.length) differ = -1;
  else for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) differ++;
  return {shown: !!cnnlensPage.opening, differ, w: live.width, h: live.height};
})()`, &opening)
	if opening.Problem != "" || !opening.Shown || opening.Differ != 0 {
		t.Errorf("opening view: %+v (want it shown and the engine's overlay equal to it: 0 bytes differing)", opening)
	}

	heat := p.canvas("heat")
	overlay := p.canvas("overlay")
	if heat.Colors < 8 || overlay.Colors < 8 {
		t.Errorf("empty heatmap: heat %+v, overlay %+v", heat, overlay)
	}
	var top5 int
	p.eval(`document.querySelectorAll('#top5 li').length`, &top5)
	if top5 == 0 {
		t.Errorf("no predictions shown")
	}
	var methods int
	p.eval(`document.querySelectorAll('#method option').length`, &methods)
	if methods < 10 {
		t.Errorf("method picker has %d methods", methods)
	}
	time.Sleep(300 * time.Millisecond) // let late errors arrive
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors on first load:\n%s", strings.Join(errs, "\n"))
	}
	path := p.screenshot("main.png")
	t.Logf("screenshot: %s", path)
	if out := os.Getenv("CNNLENS_SCREENSHOT"); out != "" {
		b, _ := os.ReadFile(path)
		os.WriteFile(out, b, 0o644)
	}

	// The same page again, with the browser's caches warm.
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 60*time.Second)
	p.eval(`cnnlensPage.marks`, &marks)
	t.Logf("startup (warm cache): first heatmap %.0f ms after navigation; %s", marks["first-heatmap"], sortedMarks(marks))
}

// TestOpeningWhileStarting: while the engine downloads, the page shows
// the opening view (the first sample's Grad-CAM, computed when the site was
// built) and says that the engine is starting; once the engine is up, its
// own map takes its place.
func TestOpeningWhileStarting(t *testing.T) {
	for _, vp := range []struct {
		name string
		w, h int
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		p := newPage(t)
		p.run(chromedp.EmulateViewport(int64(vp.w), int64(vp.h)), chromedp.Navigate(baseURL+"/held/index.html"))
		p.wait(`window.cnnlensPage && cnnlensPage.opening != null`, 60*time.Second)
		var before struct {
			Caption, Status string
			Renders         int
		}
		p.eval(`({caption: document.getElementById('overlay-caption').textContent, status: document.getElementById('status').textContent, renders: cnnlensPage.renders})`, &before)
		var img struct {
			Loaded        bool
			Width, Canvas int // shown widths of the image and of the main canvas
		}
		p.eval(`(() => { const i = document.getElementById('opening-view'); return i ? {loaded: i.complete && i.naturalWidth > 0, width: i.offsetWidth, canvas: document.getElementById('overlay').offsetWidth} : {}; })()`, &img)
		if !img.Loaded || img.Width < 200 || img.Canvas != 0 || before.Renders != 0 || !strings.Contains(before.Caption, "starting") || !strings.Contains(before.Status, "Starting") {
			t.Errorf("%s, engine held back: image %+v, %+v; want the opening view's picture shown in place of the canvas, a caption saying the engine is starting", vp.name, img, before)
		}
		t.Logf("%s while the engine starts: %s", vp.name, p.screenshot("opening-"+vp.name+".png"))
		if vp.name == "phone" {
			close(releaseEngine)
			p.wait(`cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
			var caption string
			p.eval(`document.getElementById('overlay-caption').textContent`, &caption)
			if strings.Contains(caption, "starting") {
				t.Errorf("after the engine's first map the caption still says %q", caption)
			}
			var gone bool
			p.eval(`document.getElementById('opening-view') === null`, &gone)
			if overlay := p.canvas("overlay"); !gone || overlay.Colors < 100 {
				t.Errorf("after the engine's first map: opening image removed %v, main canvas %+v", gone, overlay)
			}
			if errs := p.consoleErrors(); len(errs) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
			}
		}
	}
}

func sortedMarks(m map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s %.0f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(v any) []byte {
	b, _ := json.MarshalIndent(v, "", " ")
	return b
}

// TestOracle: the browser's engine reproduces pytorch-grad-cam on tinycnn,
// and the CLI's -out-cam.
func TestOracle(t *testing.T) {
	tiny := filepath.Join(oracleDir, "tinycnn", "model.onnx")
	if _, err := os.Stat(tiny); err != nil {
		testenv.Missing(t, "no oracle at %s: %v", oracleDir, err)
	}
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlens && window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
	type res struct {
		Diff       float64
		N, W, H    int
		ClassIndex int
		Cam        []float64
	}
	var out map[string]res
	p.eval(`(async () => {
  const info = await cnnlens.loadModel('/oracle/tinycnn/model.onnx');
  const f32 = async (u) => new Float32Array(await (await fetch(u)).arrayBuffer());
  const x = await f32('/oracle/tinycnn/raw/input.f32');
  const out = {};
  const logits = await f32('/oracle/tinycnn/raw/logits.f32');
  const p = await cnnlens.predict({tensor: x});
  out.logits = {Diff: Math.max(...logits.map((v, i) => Math.abs(v - p.logits[i]))), N: p.logits.length};
  for (const m of ['gradcam', 'hirescam', 'gradcampp', 'xgradcam', 'layercam', 'scorecam', 'ablationcam']) {
    const r = await cnnlens.cam({tensor: x, layer: '/relu3/Relu_output_0', classIndex: 3, method: m});
    const ref = await f32('/oracle/tinycnn/raw/last.' + m + '.cam.f32');
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(r.cam[i] - ref[i]));
    if (r.cam.length !== ref.length) d = Infinity;
    out[m] = {Diff: d, N: r.cam.length, W: r.width, H: r.height, ClassIndex: r.classIndex, Cam: m === 'gradcam' ? Array.from(r.cam) : null};
  }
  return out;
})()`, &out)
	for name, r := range out {
		t.Logf("%-12s max |browser − PyTorch| = %.2g (%d values)", name, r.Diff, r.N)
		tol := 2e-3
		if name == "logits" {
			tol = 1e-4
		}
		if !(r.Diff <= tol) {
			t.Errorf("%s: max difference %g > %g", name, r.Diff, tol)
		}
		if name != "logits" && (r.W != 32 || r.H != 32 || r.ClassIndex != 3) {
			t.Errorf("%s: %d×%d class %d, want 32×32 class 3", name, r.W, r.H, r.ClassIndex)
		}
	}
	// Score-CAM, SmoothGrad and Integrated Gradients divided among three
	// workers give one worker's maps, bit for bit.
	var pool struct {
		Divisible []string
		Same      map[string]bool
		Len       map[string]int
	}
	p.eval(`(async () => {
  await cnnlens.loadModel('/oracle/tinycnn/model.onnx');
  const x = new Float32Array(await (await fetch('/oracle/tinycnn/raw/input.f32')).arrayBuffer());
  const eng = cnnlens.engine();
  await eng.started;
  const out = {Divisible: eng.divisible, Same: {}, Len: {}};
  const before = cnnlens.workers();
  for (const m of ['scorecam', 'smoothgrad', 'integrated-gradients']) {
    cnnlens.setWorkers(1);
    const one = await cnnlens.cam({tensor: x, layer: '/relu3/Relu_output_0', classIndex: 3, method: m});
    cnnlens.setWorkers(3);
    let done = 0;
    const many = await cnnlens.cam({tensor: x, layer: '/relu3/Relu_output_0', classIndex: 3, method: m, onProgress: (d) => { done = d; }});
    out.Len[m] = many.cam.length;
    out.Same[m] = one.cam.length === many.cam.length && one.cam.every((v, i) => Object.is(v, many.cam[i])) && done > 0;
  }
  cnnlens.setWorkers(before);
  return out;
})()`, &pool)
	if !slices.Contains(pool.Divisible, "scorecam") || !slices.Contains(pool.Divisible, "smoothgrad") {
		t.Errorf("divisible methods %v, want scorecam and smoothgrad", pool.Divisible)
	}
	for _, m := range []string{"scorecam", "smoothgrad", "integrated-gradients"} {
		if !pool.Same[m] || pool.Len[m] != 32*32 {
			t.Errorf("%s on three workers: %d values, same as one worker's (with progress): %v", m, pool.Len[m], pool.Same[m])
		}
	}

	// Model cards: a valid one is taken field by field, a bad one is refused
	// with a message naming the field (and the engine keeps working).
	var cards struct {
		Labels       []string
		Mean         []float64
		Errs         []string
		PredictAfter int
	}
	p.eval(`(async () => {
  const url = '/oracle/tinycnn/model.onnx';
  const good = await cnnlens.loadModel(url, {labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], mean: [0.5, 0.25, 0.125], std: [1, 2, 4], default_layer: '/relu3/Relu_output_0'});
  const errs = [];
  for (const card of [{labels: 'x'}, {input_shape: ['a', 32, 32]}, {mean: [1, 'b', 3]}, {std: [1, 2, 2.5, null]}, {default_layer: 3}, {input_shape: [3, 32.5, 32]}]) {
    try { await cnnlens.loadModel(url, card); errs.push('loaded'); } catch (e) { errs.push(e.message); }
  }
  await cnnlens.loadModel(url);
  const p = await cnnlens.predict({tensor: new Float32Array(3 * 32 * 32)});
  return {Labels: good.labels, Mean: good.mean, Errs: errs, PredictAfter: p.logits.length};
})()`, &cards)
	if len(cards.Labels) != 10 || cards.Labels[9] != "j" || len(cards.Mean) != 3 || cards.Mean[2] != 0.125 {
		t.Errorf("valid card: labels %v, mean %v", cards.Labels, cards.Mean)
	}
	for k, field := range []string{"labels", "input_shape[0]", "mean[1]", "std[3]", "default_layer", "input_shape[1]"} {
		if k >= len(cards.Errs) || !strings.Contains(cards.Errs[k], "model card: "+field) {
			t.Errorf("bad card %d: %q, want a message naming %s", k, cards.Errs, field)
		}
	}
	if cards.PredictAfter != 10 {
		t.Errorf("after the bad cards: %d logits", cards.PredictAfter)
	}

	// The CLI on the same input: cam() gives its -out-cam numbers.
	dir := t.TempDir()
	cli := filepath.Join(dir, "cnnlens")
	if b, err := exec.Command("go", "build", "-o", cli, "../cnnlens").CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, b)
	}
	camFile := filepath.Join(dir, "cam.f32")
	cmd := exec.Command(cli, "cam", "-model", tiny, "-tensor", filepath.Join(oracleDir, "tinycnn", "raw", "input.f32"),
		"-layer", "/relu3/Relu_output_0", "-class", "3", "-method", "gradcam", "-out-cam", camFile)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cnnlens cam: %v\n%s", err, b)
	}
	want := readF32(t, camFile)
	got := out["gradcam"].Cam
	if len(got) != len(want) {
		t.Fatalf("cam(): %d values, CLI %d", len(got), len(want))
	}
	var d float64
	for i := range want {
		d = max(d, abs(got[i]-float64(want[i])))
	}
	t.Logf("max |cam() − cnnlens cam -out-cam| = %.2g", d)
	if d > 1e-5 {
		t.Errorf("cam() differs from the CLI by %g", d)
	}

	// An image: the file (decoded by the engine, as the CLI does), the
	// browser's ImageData and an <img> give the CLI's map.
	var maps map[string][]float64
	p.eval(`(async () => {
  const url = '/fixtures/upload.png';
  const blob = await (await fetch(url)).blob();
  const img = new Image(); img.src = url; await img.decode();
  const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
  c.getContext('2d').drawImage(img, 0, 0);
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const out = {};
  for (const [k, image] of [['blob', blob], ['imagedata', data], ['img', img], ['url', url]]) {
    const r = await cnnlens.cam({image, layer: '/relu2/Relu_output_0', classIndex: 5, method: 'gradcampp'});
    out[k] = Array.from(r.cam);
  }
  return out;
})()`, &maps)
	cmd = exec.Command(cli, "cam", "-model", tiny, "-image", filepath.Join(fixtures, "upload.png"),
		"-layer", "/relu2/Relu_output_0", "-class", "5", "-method", "gradcampp", "-out-cam", camFile)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cnnlens cam -image: %v\n%s", err, b)
	}
	want = readF32(t, camFile)
	for k, got := range maps {
		if len(got) != len(want) {
			t.Errorf("image as %s: %d values, CLI %d", k, len(got), len(want))
			continue
		}
		var d float64
		for i := range want {
			d = max(d, abs(got[i]-float64(want[i])))
		}
		t.Logf("image as %-9s max |cam() − cnnlens cam -image -out-cam| = %.2g", k, d)
		if d > 1e-5 {
			t.Errorf("image as %s: cam() differs from the CLI by %g", k, d)
		}
	}
}

func readF32(t *testing.T, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		u := uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24
		out[i] = math.Float32frombits(u)
	}
	return out
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestControls: uploading an image and changing method, layer, class,
// contrast, colormap, opacity and view each redraw.
func TestControls(t *testing.T) {
	p := openMain(t)

	step := func(name, action, until string) {
		t.Helper()
		n := p.renders()
		if action != "" {
			var ignore any
			p.eval(action, &ignore)
		}
		p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && (%s)`, n, until), 60*time.Second)
		t.Logf("%s: redrawn", name)
	}
	change := func(id, value string) string {
		return fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('change')); return e.value; })()`, id, value)
	}

	// Upload an image through the file picker.
	n := p.renders()
	p.run(chromedp.SetUploadFiles(`#image-file`, []string{filepath.Join(fixtures, "upload.png")}))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.source.name === 'upload.png'`, n), 60*time.Second)
	if s := p.canvas("input-canvas"); s.W%120 != 0 || s.W*90 != s.H*120 {
		t.Errorf("input canvas %dx%d, want the uploaded 120x90 (enlarged)", s.W, s.H)
	}

	// A sample made for another bundled model (a Fashion-MNIST item) switches
	// to that model, and back.
	var otherSample string
	p.eval(`(() => { const m = cnnlensPage.state.manifest; const s = m.samples.find((x) => x.model && x.model !== m.defaultModel); return s ? s.file : ''; })()`, &otherSample)
	if otherSample != "" {
		step("sample of another model", fmt.Sprintf(`document.querySelector('#samples button[data-file=%q]').click()`, otherSample),
			`cnnlensPage.state.bundled && cnnlensPage.state.bundled.name !== cnnlensPage.state.manifest.defaultModel`)
		step("back to the default model", `(() => { const e = document.getElementById('model-select'); e.value = cnnlensPage.state.manifest.defaultModel; e.dispatchEvent(new Event('change')); })()`,
			`cnnlensPage.state.bundled && cnnlensPage.state.bundled.name === cnnlensPage.state.manifest.defaultModel`)
	} else {
		t.Logf("no sample of another bundled model in this site")
	}

	step("method", change("method", "hirescam"), `cnnlensPage.lastRun.method === 'hirescam'`)
	var layers []string
	p.eval(`[...document.querySelectorAll('#layer optgroup:first-child option')].map(o => o.value)`, &layers)
	if len(layers) < 2 {
		t.Fatalf("layer picker: %v", layers)
	}
	other := layers[0]
	step("layer", change("layer", other), fmt.Sprintf(`cnnlensPage.lastRun.layer === %q`, other))
	step("class", change("class", "2"), `cnnlensPage.lastRun.classIndex === 2`)
	step("top-5 click", `document.querySelector('#top5 li:nth-child(2) button').click()`,
		`cnnlensPage.lastRun.classIndex === Number(document.querySelector('#top5 li:nth-child(2) button').dataset.index)`)
	step("contrast", change("contrast", "0"), `document.getElementById('overlay-caption').textContent.includes(' rather than ')`)
	step("colormap", change("colormap", "viridis"), `true`)
	step("opacity", `(() => { const a = document.getElementById('alpha'); a.value = '0.8'; a.dispatchEvent(new Event('input')); })()`, `true`)
	step("eigen_smooth", `document.getElementById('eigen-smooth').click()`, `true`)
	p.eval(`document.querySelector('input[name=view][value=side]').click()`, new(any))
	p.wait(`document.getElementById('views').className === 'view-side' && getComputedStyle(document.getElementById('heat')).display !== 'none'`, 10*time.Second)
	if s := p.canvas("heat"); s.Colors < 4 {
		t.Errorf("side-by-side map is empty: %+v", s)
	}
	p.screenshot("side-by-side.png")

	// Score-CAM reports progress and can be cancelled; then it runs to the end.
	step("scorecam", change("method", "scorecam"), `cnnlensPage.lastRun.method === 'scorecam'`)

	// All methods at once.
	var nMethods int
	p.eval(`document.querySelectorAll('#method option').length`, &nMethods)
	step("all methods", `document.querySelector('input[name=view][value=grid]').click()`,
		fmt.Sprintf(`document.querySelectorAll('#grid figure').length === %d`, nMethods))
	var failed []string
	p.eval(`[...document.querySelectorAll('#grid figure.failed figcaption')].map(f => f.textContent)`, &failed)
	t.Logf("grid: %d methods, failed: %v", nMethods, failed)
	p.screenshot("all-methods.png")

	// Download: the overlay as a PNG file.
	var dl struct {
		Name string
		Size int
		Type string
	}
	p.eval(`new Promise((resolve) => {
  const orig = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    HTMLAnchorElement.prototype.click = orig;
    fetch(this.href).then((r) => r.blob()).then((b) => resolve({Name: this.download, Size: b.size, Type: b.type}));
  };
  document.getElementById('download').click();
})`, &dl)
	if dl.Type != "image/png" || dl.Size < 1000 || !strings.HasSuffix(dl.Name, ".png") {
		t.Errorf("download: %+v", dl)
	}
	t.Logf("download: %+v", dl)

	// The embed snippet names the current view.
	var snippet string
	p.eval(`(async () => { document.getElementById('copy-embed').click(); await new Promise(r => setTimeout(r, 100)); return document.getElementById('embed-snippet').value; })()`, &snippet)
	if !strings.Contains(snippet, "embed.html?") || !strings.Contains(snippet, "<cnn-lens") {
		t.Errorf("embed snippet: %s", snippet)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBadInputs: a corrupt image, a non-image file and a model with an
// unsupported op each show a clear message, and the page keeps working.
func TestBadInputs(t *testing.T) {
	p := openMain(t)
	stillWorks := func(method string) {
		t.Helper()
		n := p.renders()
		var ignore any
		p.eval(fmt.Sprintf(`(() => { const e = document.getElementById('method'); e.value = %q; e.dispatchEvent(new Event('change')); })()`, method), &ignore)
		p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === %q`, n, method), 60*time.Second)
		// The error box of the failure before does not stay up.
		var up bool
		p.eval(`!document.getElementById('message').hidden && document.getElementById('message').className === ''`, &up)
		if up {
			t.Errorf("an error message is still shown after %s succeeded", method)
		}
	}
	message := func(sel, file, want string) string {
		t.Helper()
		p.run(chromedp.SetUploadFiles(sel, []string{filepath.Join(fixtures, file)}))
		p.wait(`!document.getElementById('message').hidden && document.getElementById('message').className === ''`, 30*time.Second)
		var text string
		p.eval(`document.getElementById('message-text').textContent`, &text)
		if !strings.Contains(text, want) {
			t.Errorf("%s: message %q lacks %q", file, text, want)
		}
		t.Logf("%s: %q", file, text)
		return text
	}
	message("#image-file", "corrupt.png", "corrupt")
	stillWorks("gradcampp")
	message("#image-file", "notes.txt", "not an image")
	stillWorks("xgradcam")
	// The API tells errors apart by their code, not their text: a file
	// that is no image is not_image (also once the browser failed to
	// decode it), a broken PNG corrupt_image, a released input input_gone.
	var codes struct{ NotImage, Corrupt, Gone string }
	p.eval(`(async () => {
  const id = cnnlens.currentModel().id;
  const code = (pr) => pr.then(() => 'no error', (e) => e.code);
  const corrupt = await (await fetch('/fixtures/corrupt.png')).arrayBuffer();
  return {
    NotImage: await code(cnnlens.setInput(id, {image: new File(['these are notes, not a picture'], 'notes.txt', {type: 'text/plain'})})),
    Corrupt: await code(cnnlens.setInput(id, {image: corrupt})),
    Gone: await code(cnnlens.computeCAM(987654, {method: 'gradcam'}).promise),
  };
})()`, &codes)
	if codes.NotImage != "not_image" || codes.Corrupt != "corrupt_image" || codes.Gone != "input_gone" {
		t.Errorf("error codes: %+v, want not_image, corrupt_image, input_gone", codes)
	}
	message("#model-file", "lstm.onnx", `unsupported op "LSTM"`)
	stillWorks("layercam")
	p.screenshot("bad-model.png")

	// A Go panic in the engine is one request's error, not the end.
	var msg string
	p.eval(`cnnlens.engine().call('panic').then(() => 'no error', (e) => e.code + ': ' + e.message)`, &msg)
	if !strings.HasPrefix(msg, "internal: ") || !strings.Contains(msg, "internal error") {
		t.Errorf("panic request: %q", msg)
	}
	stillWorks("gradcam")

	// A worker that dies (as on running out of memory) is replaced on the
	// next request, with the models loaded again.
	p.eval(`(() => { const e = cnnlens.engine(); e.worker.terminate(); e._fatal(e.generation, 'simulated crash'); })()`, new(any))
	stillWorks("hirescam")
	var gen int
	p.eval(`cnnlens.engine().generation`, &gen)
	if gen != 2 {
		t.Errorf("engine generation %d after a crash, want 2", gen)
	}
}

// TestEmbed: embed.html in an iframe and the <cnn-lens> element render.
func TestEmbed(t *testing.T) {
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/embed.html?method=hirescam&colormap=inferno&alpha=0.6"))
	p.wait(`document.body.dataset.rendered === '1' || document.body.dataset.error`, 90*time.Second)
	var res struct {
		Error  string
		Colors int
		Text   string
	}
	p.eval(`(() => {
  const el = document.querySelector('cnn-lens');
  const c = el.shadowRoot.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const s = new Set();
  for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return {Error: document.body.dataset.error || '', Colors: s.size, Text: el.shadowRoot.querySelector('figcaption').textContent};
})()`, &res)
	if res.Error != "" || res.Colors < 8 {
		t.Errorf("embed.html: %+v", res)
	}
	t.Logf("embed.html: %q", res.Text)
	p.screenshot("embed.png")

	// In an iframe.
	p.run(chromedp.Navigate(baseURL + "/fixtures/embed.html"))
	p.wait(`(() => { const f = document.getElementById('f'); return f.contentDocument && f.contentDocument.body && f.contentDocument.body.dataset.rendered === '1'; })()`, 90*time.Second)

	// The custom element, twice on one page.
	p.run(chromedp.Navigate(baseURL + "/fixtures/element.html"))
	p.wait(`window.elementError || (window.rendered && rendered.a && rendered.b)`, 90*time.Second)
	var elErr string
	p.eval(`window.elementError || ''`, &elErr)
	if elErr != "" {
		t.Errorf("<cnn-lens>: %s", elErr)
	}
	// Changing an attribute redraws.
	p.eval(`new Promise((resolve) => { const a = document.getElementById('a'); a.addEventListener('cnnlens-render', (e) => resolve(e.detail.method), {once: true}); a.setAttribute('method', 'layercam'); })`, new(string))
	p.screenshot("element.png")

	// cnnlens.js from another origin: the worker starts from a blob.
	other := strings.Replace(baseURL, "localhost", "127.0.0.1", 1)
	page := strings.ReplaceAll(string(mustRead(t, filepath.Join(fixtures, "xorigin.html"))), "ORIGIN", baseURL)
	os.WriteFile(filepath.Join(fixtures, "xorigin-live.html"), []byte(page), 0o644)
	p.run(chromedp.Navigate(other + "/fixtures/xorigin-live.html"))
	p.wait(`window.elementError || window.rendered`, 90*time.Second)
	var xerr string
	p.eval(`window.elementError || ''`, &xerr)
	if xerr != "" {
		t.Errorf("<cnn-lens> from another origin: %s", xerr)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// elementCanvas gives the size and colour count of a <cnn-lens>'s canvas
// and its caption.
const elementCanvas = `((el) => {
  const c = el.shadowRoot.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const s = new Set();
  for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  const cap = el.shadowRoot.querySelector('figcaption');
  return {W: c.width, H: c.height, Colors: s.size, Text: cap.textContent, Err: cap.className === 'err'};
})`

type elementStats struct {
	W, H, Colors int
	Text         string
	Err          bool
}

// TestEmbedInside: the "inside the network" views of embed.html and of the
// <cnn-lens> element draw their pictures; an unknown view and a bad layer
// show an error.
func TestEmbedInside(t *testing.T) {
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/embed.html?view=filters&model=shapes&layer=/block1/conv/Conv&mode=rgb"))
	p.wait(`document.body.dataset.rendered === '1' || document.body.dataset.error`, 90*time.Second)
	var errText string
	p.eval(`document.body.dataset.error || ''`, &errText)
	var st elementStats
	p.eval(elementCanvas+`(document.querySelector('cnn-lens'))`, &st)
	if errText != "" || st.Err || st.W < 32 || st.H < 32 || st.Colors < 16 || !strings.Contains(st.Text, "16 filters") {
		t.Errorf("embed.html?view=filters: error %q, %+v", errText, st)
	}
	t.Logf("embed.html?view=filters: %dx%d, %d colours, %q", st.W, st.H, st.Colors, st.Text)
	p.screenshot("embed-filters.png")

	// An unknown view in embed.html: the error display and cnnlens-error.
	p.run(chromedp.Navigate(baseURL + "/embed.html?view=bogus&model=shapes"))
	p.wait(`document.body.dataset.rendered === '1' || document.body.dataset.error`, 90*time.Second)
	p.eval(`document.body.dataset.error || ''`, &errText)
	p.eval(elementCanvas+`(document.querySelector('cnn-lens'))`, &st)
	if !strings.Contains(errText, "unknown view") || !st.Err || !strings.Contains(st.Text, "unknown view") {
		t.Errorf("embed.html?view=bogus: error %q, %+v", errText, st)
	}

	// The elements on one page.
	p.run(chromedp.Navigate(baseURL + "/fixtures/inside.html"))
	ids := []string{"maps", "grads", "breakdown", "maximize", "badview", "badlayer"}
	p.wait(`['`+strings.Join(ids, "','")+`'].every((id) => window.rendered[id] || window.errors[id])`, 120*time.Second)
	var errs map[string]string
	p.eval(`window.errors`, &errs)
	for _, id := range ids[:4] {
		p.eval(elementCanvas+`(document.getElementById('`+id+`'))`, &st)
		if errs[id] != "" || st.Err || st.W < 32 || st.H < 32 || st.Colors < 8 {
			t.Errorf("<cnn-lens id=%s>: error %q, %+v", id, errs[id], st)
		}
		t.Logf("<cnn-lens id=%s>: %dx%d, %d colours, %q", id, st.W, st.H, st.Colors, st.Text)
	}
	if !strings.Contains(errs["badview"], "unknown view") {
		t.Errorf("view=nosuchview: error %q", errs["badview"])
	}
	if errs["badlayer"] == "" {
		t.Errorf("a bad layer gave no error")
	}
	for _, id := range []string{"badview", "badlayer"} {
		p.eval(elementCanvas+`(document.getElementById('`+id+`'))`, &st)
		if !st.Err || st.Text != errs[id] {
			t.Errorf("<cnn-lens id=%s>: caption %+v, error %q", id, st, errs[id])
		}
	}
	t.Logf("errors: %q", errs)
	// Changing the view redraws.
	var detail map[string]any
	p.eval(`new Promise((resolve, reject) => { const el = document.getElementById('badview'); el.addEventListener('cnnlens-render', (e) => resolve({layer: e.detail.layer}), {once: true}); el.addEventListener('cnnlens-error', (e) => reject(new Error(e.detail)), {once: true}); el.setAttribute('view', 'filters'); })`, &detail)
	p.screenshot("element-inside.png")
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestOwnModelAndCamera: a model and its labels dropped on the page, an
// image dropped, the camera, and cancelling a long method.
func TestOwnModelAndCamera(t *testing.T) {
	if _, err := os.Stat(filepath.Join(oracleDir, "tinycnn", "model_bn.onnx")); err != nil {
		testenv.Missing(t, "no oracle at %s: %v", oracleDir, err)
	}
	p := openMain(t)
	// Drop a model with a labels file (one label a line).
	n := p.renders()
	p.eval(`(async () => {
  const bytes = await (await fetch('/oracle/tinycnn/model_bn.onnx')).arrayBuffer();
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], 'tiny_bn.onnx'));
  dt.items.add(new File(['zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n'], 'labels.txt', {type: 'text/plain'}));
  window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, cancelable: true}));
})()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.model.name === 'tiny_bn.onnx'`, n), 60*time.Second)
	var top string
	p.eval(`document.querySelector('#top5 li button span').textContent`, &top)
	if !strings.ContainsAny(top, "abcdefghijklmnopqrstuvwxyz") || strings.Contains(top, "class") {
		t.Errorf("labels not used: top-1 %q", top)
	}
	t.Logf("dropped model: top-1 %q", top)

	// Drop an image.
	n = p.renders()
	p.eval(`(async () => {
  const bytes = await (await fetch('/fixtures/upload.png')).arrayBuffer();
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
  window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, cancelable: true}));
})()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.source.name === 'dropped.png'`, n), 60*time.Second)

	// The camera (Chromium's fake device): a frame becomes the input.
	p.eval(`document.getElementById('camera-start').click()`, new(any))
	p.wait(`document.getElementById('camera-video').videoWidth > 0`, 30*time.Second)
	n = p.renders()
	p.eval(`document.getElementById('camera-take').click()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.source.name === 'the camera picture'`, n), 60*time.Second)
	p.eval(`document.getElementById('camera-stop').click()`, new(any))
	p.screenshot("camera.png")

	// Cancelling: the engine stops at its next progress report.
	for _, method := range []string{"scorecam", "smoothgrad"} {
		var msg string
		p.eval(`new Promise((resolve) => {
  const job = cnnlens.computeCAM(cnnlensPage.state.input.id, {method: '`+method+`'});
  job.cancel();
  job.promise.then(() => resolve('finished'), (e) => resolve(e.code + '/' + e.message));
})`, &msg)
		if msg != "cancelled/cancelled" {
			t.Errorf("cancelled %s: %q", method, msg)
		}
	}
	// The progress bar shows during Integrated Gradients (50 steps).
	n = p.renders()
	p.eval(`(() => { window.sawProgress = false; const pr = document.getElementById('progress');
  new MutationObserver(() => { if (!pr.hidden) window.sawProgress = true; }).observe(pr, {attributes: true});
  const e = document.getElementById('method'); e.value = 'integrated-gradients'; e.dispatchEvent(new Event('change')); })()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === 'integrated-gradients'`, n), 60*time.Second)
	var saw bool
	p.eval(`window.sawProgress`, &saw)
	if !saw {
		t.Errorf("no progress bar during Integrated Gradients")
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestInsideNetwork: the "Inside the network" views on the bundled model:
// kernels, feature maps and gradients with a channel's numbers, the
// Grad-CAM breakdown, activation maximisation with progress and cancel,
// rotated filters and pooling backward, following the page's model,
// image, class and layer, also on a phone-sized screen.
func TestInsideNetwork(t *testing.T) {
	p := openMain(t)
	var ignore any
	js := func(expr string) { t.Helper(); p.eval(expr, &ignore) }
	change := func(id, value string) {
		t.Helper()
		js(fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('change')); })()`, id, value))
	}
	renders := func(view string) int {
		t.Helper()
		var n int
		p.eval(fmt.Sprintf(`(cnnlensPage.inside.renders[%q] || 0)`, view), &n)
		return n
	}
	// after runs an action and waits until view has drawn again.
	after := func(view string, action func()) {
		t.Helper()
		n := renders(view)
		action()
		p.wait(fmt.Sprintf(`(cnnlensPage.inside.renders[%q] || 0) > %d`, view, n), 60*time.Second)
	}
	open := func(view string) {
		t.Helper()
		after(view, func() { js(fmt.Sprintf(`document.querySelector('#inside [role=tab][data-view=%q]').click()`, view)) })
	}
	last := func(view string, out any) {
		t.Helper()
		p.eval(fmt.Sprintf(`cnnlensPage.inside.last[%q]`, view), out)
	}
	layerChannels := func() (string, int) {
		t.Helper()
		var l struct {
			Output string
			Shape  []int
		}
		p.eval(`cnnlensPage.state.model.layers.find((l) => l.output === cnnlensPage.state.layer)`, &l)
		return l.Output, l.Shape[1]
	}

	// Kernels: the first convolution, one RGB tile a filter, each tile
	// drawn (not constant), laid out as reported.
	open("kernels")
	type kernels struct {
		Layer, Mode                               string
		Filters, Shown, Tiles, PerFilter, Cols    int
		CellWidth, CellHeight, Pad, Width, Height int
	}
	var k kernels
	last("kernels", &k)
	var firstConv struct {
		Output string
		Shape  []int
	}
	p.eval(`cnnlensPage.state.model.convLayers[0]`, &firstConv)
	if k.Layer != firstConv.Output || k.Mode != "rgb" || k.Tiles != firstConv.Shape[0] || k.Filters != firstConv.Shape[0] {
		t.Errorf("kernels of the first convolution %s (%v): %+v", firstConv.Output, firstConv.Shape, k)
	}
	rows := (k.Tiles + k.Cols - 1) / k.Cols
	if k.Width != k.Cols*k.CellWidth+(k.Cols+1)*k.Pad || k.Height != rows*k.CellHeight+(rows+1)*k.Pad {
		t.Errorf("kernel grid %d×%d does not hold %d tiles in %d columns of %d×%d", k.Width, k.Height, k.Tiles, k.Cols, k.CellWidth, k.CellHeight)
	}
	const tileColours = `((id, k) => {
  const c = document.getElementById(id);
  const ctx = c.getContext('2d');
  const out = [];
  for (let i = 0; i < k.tiles; i++) {
    const x = k.pad + (i % k.cols) * (k.cellWidth + k.pad), y = k.pad + Math.floor(i / k.cols) * (k.cellHeight + k.pad);
    const d = ctx.getImageData(x, y, k.cellWidth, Math.floor(k.cellHeight / 2)).data;
    const s = new Set();
    for (let j = 0; j < d.length; j += 4) s.add((d[j] << 16) | (d[j + 1] << 8) | d[j + 2]);
    out.push(s.size);
  }
  return out;
})('k-canvas', cnnlensPage.inside.last.kernels)`
	var perTile []int
	p.eval(tileColours, &perTile)
	if len(perTile) != k.Tiles {
		t.Errorf("%d tiles measured, %d drawn", len(perTile), k.Tiles)
	}
	for i, n := range perTile {
		if n < 2 {
			t.Errorf("kernel tile %d is one colour", i)
		}
	}
	if s := p.canvas("k-canvas"); s.Colors < 30 {
		t.Errorf("kernel canvas: %+v", s)
	}
	// Clicking a tile gives that filter's numbers.
	js(`(() => { const k = cnnlensPage.inside.last.kernels, c = document.getElementById('k-canvas'), r = c.getBoundingClientRect();
  const i = 5, x = k.pad + (i % k.cols) * (k.cellWidth + k.pad) + k.cellWidth / 2, y = k.pad + Math.floor(i / k.cols) * (k.cellHeight + k.pad) + k.cellHeight / 2;
  c.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: r.left + x * r.width / c.width, clientY: r.top + y * r.height / c.height})); })()`)
	var detail string
	p.eval(`document.getElementById('k-detail').textContent`, &detail)
	if !strings.HasPrefix(detail, "Filter 5:") || !strings.Contains(detail, "‖w‖") {
		t.Errorf("clicked filter 5: %q", detail)
	}
	// A deeper layer per input channel, as magnitudes, and per-filter scales.
	var second struct {
		Output string
		Shape  []int
	}
	p.eval(`cnnlensPage.state.model.convLayers[1]`, &second)
	after("kernels", func() { change("k-layer", second.Output) })
	last("kernels", &k)
	if k.Mode != "magnitude" || k.Tiles != second.Shape[0] {
		t.Errorf("auto mode on %s (%v): %+v", second.Output, second.Shape, k)
	}
	after("kernels", func() { change("k-mode", "channels") })
	last("kernels", &k)
	if want := min(second.Shape[0], 64) * min(second.Shape[1], 16); k.Mode != "channels" || k.Tiles != want || k.PerFilter != min(second.Shape[1], 16) {
		t.Errorf("channels mode on %v: %d tiles (%d a filter), want %d", second.Shape, k.Tiles, k.PerFilter, want)
	}
	const pixels = `(() => { const c = document.getElementById('k-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return h; })()`
	var before, afterPer int
	p.eval(pixels, &before)
	after("kernels", func() { js(`document.getElementById('k-per').click()`) })
	p.eval(pixels, &afterPer)
	if before == afterPer {
		t.Errorf("per-filter scale drew the same picture")
	}
	p.screenshot("inside-kernels.png")

	// Feature maps: one tile per channel of the page's layer; a click
	// shows that channel over the image with its numbers.
	open("maps")
	layer, channels := layerChannels()
	var tiles int
	p.eval(`document.querySelectorAll('#m-grid canvas').length`, &tiles)
	if tiles != channels {
		t.Errorf("feature maps of %s: %d tiles for %d channels", layer, tiles, channels)
	}
	type stat struct {
		Channel                int
		Mean, Min, Max, Weight float64
	}
	var maps struct {
		Layer    string
		Grad     bool
		Class    int
		Channels int
		Stats    []stat
		Order    []int
	}
	last("maps", &maps)
	if maps.Layer != layer || maps.Channels != channels || len(maps.Stats) != channels {
		t.Errorf("feature maps: %s, %d channels, %d stats", maps.Layer, maps.Channels, len(maps.Stats))
	}
	clickTile := func(k int) int {
		t.Helper()
		var c int
		after("channel", func() {
			p.eval(fmt.Sprintf(`(() => { const f = document.querySelectorAll('#m-grid figure')[%d]; f.click(); return Number(f.dataset.channel); })()`, k), &c)
		})
		return c
	}
	c := clickTile(3)
	var ch struct {
		Channel int
		Grad    bool
		Stat    stat
	}
	last("channel", &ch)
	var statsText string
	p.eval(`document.getElementById('m-stats').textContent`, &statsText)
	if ch.Channel != c || ch.Stat != maps.Stats[c] || ch.Grad {
		t.Errorf("clicked channel %d: shown %+v, grid stats %+v", c, ch, maps.Stats[c])
	}
	for _, want := range []string{fmt.Sprintf("Channel %d of", c), "mean", "min", "max", "Grad-CAM weight"} {
		if !strings.Contains(statsText, want) {
			t.Errorf("channel numbers %q lack %q", statsText, want)
		}
	}
	var base struct{ Width, Height int }
	p.eval(`cnnlensPage.state.input`, &base)
	if s := p.canvas("m-overlay"); s.W != base.Width || s.H != base.Height || s.Colors < 20 {
		t.Errorf("channel over the image: %+v, picture %d×%d", s, base.Width, base.Height)
	}
	// Gradients, sorted by Grad-CAM weight; the channel shown follows.
	after("maps", func() { change("m-what", "grad") })
	after("maps", func() { change("m-order", "weight") })
	last("maps", &maps)
	p.eval(`document.querySelectorAll('#m-grid canvas').length`, &tiles)
	if !maps.Grad || tiles != channels || len(maps.Order) != channels {
		t.Errorf("gradients: grad %v, %d tiles, %d ordered", maps.Grad, tiles, len(maps.Order))
	}
	for i := 1; i < len(maps.Order); i++ {
		if maps.Stats[maps.Order[i]].Weight > maps.Stats[maps.Order[i-1]].Weight {
			t.Fatalf("not sorted by weight: %v", maps.Order)
		}
	}
	p.wait(`cnnlensPage.inside.last.channel.grad === true`, 30*time.Second)
	p.eval(`document.getElementById('m-stats').textContent`, &statsText)
	if !strings.Contains(statsText, "gradient") {
		t.Errorf("gradient channel numbers: %q", statsText)
	}
	// The page's class and layer drive the view.
	after("maps", func() { change("class", "2") })
	last("maps", &maps)
	if maps.Class != 2 {
		t.Errorf("gradients of class %d after choosing class 2", maps.Class)
	}
	var spatial []string
	p.eval(`[...document.querySelectorAll('#layer optgroup:first-child option')].map(o => o.value)`, &spatial)
	after("maps", func() { change("layer", spatial[1]) })
	layer, channels = layerChannels()
	p.eval(`document.querySelectorAll('#m-grid canvas').length`, &tiles)
	if layer != spatial[1] || tiles != channels {
		t.Errorf("layer %s: %d tiles for %d channels", layer, tiles, channels)
	}
	p.screenshot("inside-maps.png")

	// The Grad-CAM breakdown: a bar per channel, the top ones drawn.
	open("breakdown")
	var bars, top, bRows int
	p.eval(`document.querySelectorAll('#b-bars .bar').length`, &bars)
	p.eval(`document.querySelectorAll('#b-bars .bar.top').length`, &top)
	p.eval(`document.querySelectorAll('#b-rows figure').length`, &bRows)
	if bars != channels || top != min(8, channels) || bRows != top {
		t.Errorf("breakdown of %s (%d channels): %d bars, %d top, %d rows", layer, channels, bars, top, bRows)
	}
	var bd struct {
		Class   int
		Weights []float64
		Top     []int
	}
	last("breakdown", &bd)
	if bd.Class != 2 || len(bd.Weights) != channels {
		t.Errorf("breakdown: class %d, %d weights", bd.Class, len(bd.Weights))
	}
	for i := 1; i < len(bd.Top); i++ {
		if bd.Weights[bd.Top[i]] > bd.Weights[bd.Top[i-1]] {
			t.Errorf("top channels not by weight: %v", bd.Top)
		}
	}
	if s := p.canvas("b-overlay"); s.Colors < 20 {
		t.Errorf("breakdown heatmap: %+v", s)
	}
	p.screenshot("inside-breakdown.png")
	// A layer without a spatial map: a message, and the page goes on.
	var flat string
	p.eval(`cnnlensPage.state.model.layers.find((l) => l.shape.length === 2).output`, &flat)
	n := len(p.insideErrors())
	change("layer", flat)
	p.wait(fmt.Sprintf(`cnnlensPage.inside.errors.length > %d`, n), 30*time.Second)
	var msg string
	p.eval(`document.getElementById('message-text').textContent`, &msg)
	if !strings.Contains(msg, "How Grad-CAM is built") || !strings.Contains(msg, "spatial") {
		t.Errorf("breakdown of %s: message %q", flat, msg)
	}
	after("breakdown", func() { change("layer", spatial[len(spatial)-1]) })

	// Activation maximisation: a class logit, with progress pictures.
	after("maximize", func() {
		js(`document.querySelector('#inside [role=tab][data-view=maximize]').click()`)
		change("x-objective", "class")
		js(`(() => { window.sawMaxProgress = false; const pr = document.getElementById('x-progress');
  new MutationObserver(() => { if (!pr.hidden) window.sawMaxProgress = true; }).observe(pr, {attributes: true});
  document.getElementById('x-steps').value = '24'; document.getElementById('x-run').click(); })()`)
	})
	var mx struct {
		Cancelled     bool
		Steps, Class  int
		Start, Final  float64
		Width, Height int
	}
	last("maximize", &mx)
	var saw bool
	var pictures int
	p.eval(`window.sawMaxProgress`, &saw)
	p.eval(`cnnlensPage.inside.progressPictures`, &pictures)
	if mx.Cancelled || mx.Steps != 24 || mx.Class != 2 || !saw || pictures < 6 {
		t.Errorf("maximise class 2 for 24 steps: %+v; progress shown %v, %d pictures", mx, saw, pictures)
	}
	if !(mx.Final > mx.Start) {
		t.Errorf("the logit did not grow: %v → %v", mx.Start, mx.Final)
	}
	if s := p.canvas("x-canvas"); s.W != mx.Width || s.Colors < 50 {
		t.Errorf("maximised picture: %+v", s)
	}
	// Cancel stops it, keeping the picture so far.
	js(`(() => { document.getElementById('x-steps').value = '5000'; document.getElementById('x-run').click(); })()`)
	p.wait(`cnnlensPage.inside.maximizing && cnnlensPage.inside.progress.total === 5000 && cnnlensPage.inside.progress.done >= 3`, 60*time.Second)
	after("maximize", func() { js(`document.getElementById('x-cancel').click()`) })
	last("maximize", &mx)
	var info string
	p.eval(`document.getElementById('x-info').textContent`, &info)
	if !mx.Cancelled || mx.Steps >= 5000 || !strings.Contains(info, "cancelled") {
		t.Errorf("cancelled: %+v, %q", mx, info)
	}
	// The gallery: the first channels of the layer, one by one.
	after("gallery", func() {
		change("x-objective", "channel")
		js(`(() => { document.getElementById('x-steps').value = '8'; document.getElementById('x-gallery-n').value = '3'; document.getElementById('x-gallery').click(); })()`)
	})
	var gallery int
	p.eval(`document.querySelectorAll('#x-gallery-grid canvas').length`, &gallery)
	if gallery != 3 {
		t.Errorf("gallery: %d pictures, want 3", gallery)
	}
	p.screenshot("inside-maximize.png")

	// Rotated filters: the list follows the threshold.
	open("rotations")
	after("rotations", func() { change("r-threshold", "0.5") })
	var rot struct {
		Threshold float64
		Pairs     []struct {
			A, B      int
			Transform string
			Score     float64
		}
		Drawn  int
		Chance float64
	}
	last("rotations", &rot)
	var items int
	p.eval(`document.querySelectorAll('#r-list li').length`, &items)
	if rot.Threshold != 0.5 || items != min(len(rot.Pairs), 24) || rot.Drawn != items {
		t.Errorf("rotations at 0.5: %d pairs, %d listed, %d drawn", len(rot.Pairs), items, rot.Drawn)
	}
	for _, pr := range rot.Pairs {
		if pr.Score < 0.5 || pr.Transform == "" || pr.A >= pr.B {
			t.Errorf("pair %+v", pr)
		}
	}
	t.Logf("rotated filters at 0.5: %d pairs, %.1f by chance", len(rot.Pairs), rot.Chance)
	var rinfo string
	p.eval(`document.getElementById('r-info').textContent`, &rinfo)
	if rot.Chance < 0 || !strings.Contains(rinfo, "shuffled") {
		t.Errorf("rotation summary without the chance baseline (%v): %q", rot.Chance, rinfo)
	}
	p.screenshot("inside-rotations.png")

	// Pooling backward: a max-pool's gradient is sparse below; global
	// average pooling spreads it.
	open("pooling")
	type pool struct {
		Op                                                     string
		Channel, Best, Channels                                int
		Fan                                                    float64
		NonzeroAbove, NonzeroBelow, ChannelAbove, ChannelBelow int
	}
	var pl pool
	last("pooling", &pl)
	if pl.Op != "MaxPool" || pl.NonzeroAbove == 0 || pl.NonzeroBelow == 0 || float64(pl.NonzeroBelow) > float64(pl.NonzeroAbove)*pl.Fan || pl.NonzeroBelow > pl.NonzeroAbove {
		t.Errorf("max-pool: %+v", pl)
	}
	var pstats string
	p.eval(`document.getElementById('p-stats').textContent`, &pstats)
	if !strings.Contains(pstats, fmt.Sprintf("above %s", commas(pl.NonzeroAbove))) || !strings.Contains(pstats, fmt.Sprintf("below %s", commas(pl.NonzeroBelow))) {
		t.Errorf("pooling numbers: %q for %+v", pstats, pl)
	}
	var pColours []int
	p.eval(`[...document.querySelectorAll('#p-figs canvas')].map((c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
  for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); return s.size; })`, &pColours)
	if len(pColours) != 3 || pColours[0] < 8 || pColours[2] < 3 {
		t.Errorf("pooling pictures (input, gradient above, below): %v colours", pColours)
	}
	var gap string
	p.eval(`(cnnlensPage.state.model.poolingLayers.find((l) => l.op === 'GlobalAveragePool') || {}).output || ''`, &gap)
	if gap != "" {
		after("pooling", func() { change("p-layer", gap) })
		last("pooling", &pl)
		if pl.Op != "GlobalAveragePool" || pl.NonzeroBelow < pl.NonzeroAbove {
			t.Errorf("global average pooling: %+v", pl)
		}
	}
	after("pooling", func() { change("p-channel", "2") })
	last("pooling", &pl)
	if pl.Channel != 2 {
		t.Errorf("pooling channel %d, want 2", pl.Channel)
	}
	p.screenshot("inside-pooling.png")
	// A new image redraws the open view.
	after("pooling", func() { js(`document.querySelectorAll('#samples button')[1].click()`) })

	// A phone-sized screen: nothing wider than the screen.
	p.run(chromedp.EmulateViewport(390, 844))
	open("maps")
	var overflow int
	p.eval(`document.documentElement.scrollWidth - window.innerWidth`, &overflow)
	if overflow > 0 {
		t.Errorf("at 390 px wide the page is %d px wider than the screen", overflow)
	}
	p.screenshot("inside-phone.png")
	// There the picture comes first, the controls after it.
	var order struct{ Stage, Controls, Inside float64 }
	p.eval(`(() => { const y = (id) => document.getElementById(id).getBoundingClientRect().top;
		return {stage: y('stage'), controls: y('controls'), inside: y('inside')}; })()`, &order)
	if !(order.Stage < order.Controls && order.Controls < order.Inside) {
		t.Errorf("at 390 px wide the picture should come first, then the controls, then the views inside: tops %+v", order)
	}

	if errs := p.insideErrors(); len(errs) != n+1 {
		t.Errorf("errors in the inside views: %v", errs)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

func (p *page) insideErrors() []string {
	p.t.Helper()
	var errs []string
	p.eval(`cnnlensPage.inside.errors`, &errs)
	return errs
}

// commas writes n as toLocaleString('en') does.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestEmbedSnippetOtherOrigin: the snippet "Copy embed snippet" makes,
// pasted as it is into a page of another site (another origin, a server
// without cnnlens's files), draws: the <iframe> and the <cnn-lens>
// element, with no failed request and no console error.
func TestEmbedSnippetOtherOrigin(t *testing.T) {
	p := openMain(t)
	var snippet string
	p.eval(`(async () => { document.getElementById('copy-embed').click(); await new Promise(r => setTimeout(r, 100)); return document.getElementById('embed-snippet').value; })()`, &snippet)
	t.Logf("snippet:\n%s", snippet)
	if !strings.Contains(snippet, `image="`+baseURL+`/samples/`) {
		t.Errorf("the snippet's image is not an absolute URL on the site:\n%s", snippet)
	}

	// The other site: its own server on another port, and 127.0.0.1
	// rather than localhost.
	docs := t.TempDir()
	host := `<!doctype html><meta charset="utf-8"><title>Docs on another site</title><link rel="icon" href="data:,">
<style>body { font: 15px system-ui, sans-serif; margin: 16px; } cnn-lens { width: 300px; vertical-align: top; }</style>
<script>
window.iframeMessages = [];
window.addEventListener('message', (e) => { if (e.data && e.data.cnnlens) window.iframeMessages.push(e.data); });
document.addEventListener('cnnlens-render', (e) => { window.rendered = e.detail.method; });
document.addEventListener('cnnlens-error', (e) => { window.elementError = e.detail; });
</script>
<h1>Our docs</h1><p>What the model looks at, embedded with the snippet:</p>
` + snippet + "\n"
	if err := os.WriteFile(filepath.Join(docs, "index.html"), []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(recordFailures(http.FileServer(http.Dir(docs))))
	defer other.Close()
	if strings.Contains(other.URL, "localhost") || other.URL == baseURL {
		t.Fatalf("not another origin: %s and %s", other.URL, baseURL)
	}
	n := failureCount()
	p.run(chromedp.Navigate(other.URL + "/index.html"))
	p.wait(`window.elementError || (window.rendered && window.iframeMessages.length > 0)`, 120*time.Second)
	var xerr string
	p.eval(`window.elementError || ''`, &xerr)
	if xerr != "" {
		t.Errorf("<cnn-lens> on another site: %s", xerr)
	}
	var st elementStats
	p.eval(elementCanvas+`(document.querySelector('cnn-lens'))`, &st)
	if st.Err || st.W < 32 || st.Colors < 16 {
		t.Errorf("<cnn-lens> on another site drew %+v", st)
	}
	t.Logf("<cnn-lens>: %dx%d, %d colours, %q", st.W, st.H, st.Colors, st.Text)
	// It says what it drew and what its colours mean, on the other site too.
	var bar []string
	p.eval(`[...document.querySelector('cnn-lens').shadowRoot.querySelectorAll('.cbar-ticks span')].map((s) => s.textContent)`, &bar)
	if len(bar) != 2 || !strings.Contains(bar[0], "no evidence") || !strings.Contains(st.Text, "where the evidence for") {
		t.Errorf("<cnn-lens> on another site: colour bar %q, caption %q", bar, st.Text)
	}
	var msgs []map[string]any
	p.eval(`window.iframeMessages`, &msgs)
	if len(msgs) == 0 || msgs[0]["cnnlens"] != "render" {
		t.Errorf("the iframe: %v", msgs)
	}
	t.Logf("the iframe says: %v", msgs)
	p.screenshot("embed-other-origin.png")
	if f := failuresSince(n); len(f) > 0 {
		t.Errorf("failed requests: %v", f)
	}
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestOwnFiles: a model file not named .onnx is loaded as ONNX; a model
// with 1000 outputs and no labels gets ImageNet's class names; labels that
// are not text, or do not count the outputs, and a file that is not ONNX
// are refused with a message, and the page goes on working.
func TestOwnFiles(t *testing.T) {
	p := openMain(t)
	drop := func(files ...string) {
		t.Helper()
		js := `(async () => { const dt = new DataTransfer();`
		for _, f := range files {
			js += `dt.items.add(new File([await (await fetch('/fixtures/` + f + `')).arrayBuffer()], '` + f + `'));`
		}
		js += `window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, cancelable: true})); })()`
		p.eval(js, new(any))
	}
	message := func(want string) string {
		t.Helper()
		p.wait(`document.getElementById('message-text').textContent.includes(`+fmt.Sprintf("%q", want)+`)`, 60*time.Second)
		var m string
		p.eval(`document.getElementById('message-text').textContent`, &m)
		return m
	}

	n := p.renders()
	drop("resnet-export")
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.state.model.name === 'resnet-export'`, n), 60*time.Second)
	var got struct {
		Top, From string
		Labels    int
	}
	p.eval(`({Top: document.querySelector('#top5 li button span').textContent, From: cnnlensPage.state.model.labelsFrom, Labels: cnnlensPage.state.model.labels.length})`, &got)
	if !strings.HasSuffix(got.Top, "tabby") || got.From != "imagenet" || got.Labels != 1000 {
		t.Errorf("a 1000-class model without labels: %+v, want top-1 \"tabby\" from imagenet", got)
	}
	t.Logf("1000 outputs: top-1 %q (labels from %s); %s", got.Top, got.From, message("ImageNet"))
	p.screenshot("own-model-imagenet.png")

	// Seven labels for 1000 outputs.
	p.eval(`document.getElementById('message-text').textContent = ''`, new(any))
	drop("seven.txt")
	m := message("7 names but the model has 1000 outputs")
	t.Logf("seven labels: %s", m)
	// Labels that are not text.
	drop("binary.txt")
	m = message("not a text file")
	t.Logf("binary labels: %s", m)
	// A file that is neither an image nor text, and not ONNX.
	drop("weights.dat")
	m = message("not an ONNX model")
	t.Logf("weights.dat: %s", m)
	var name string
	p.eval(`cnnlensPage.state.model.name + ' ' + cnnlensPage.state.model.labels[281]`, &name)
	if name != "resnet-export tabby" {
		t.Errorf("after the refused files the model is %q", name)
	}
	// The page still works: another method draws.
	n = p.renders()
	p.eval(`(() => { const e = document.getElementById('method'); e.value = 'layercam'; e.dispatchEvent(new Event('change')); })()`, new(any))
	p.wait(fmt.Sprintf(`cnnlensPage.renders > %d && cnnlensPage.lastRun.method === 'layercam'`, n), 60*time.Second)

	// The JS API says the same, with code bad_card.
	var codes []string
	p.eval(`(async () => {
  const out = [];
  const code = async (f) => { try { await f(); out.push('none'); } catch (e) { out.push(e.code + ': ' + e.message); } };
  await code(() => cnnlens.readLabels(new Uint8Array([104, 105, 0, 1, 2])));
  await code(() => cnnlens.configureModel(cnnlensPage.state.model, {labels: ['a', 'b']}));
  out.push(await cnnlens.fileKind(new File([new Uint8Array([0, 1, 2, 3])], 'x')));
  out.push(await cnnlens.fileKind(new File(['cat\ndog\n'], 'names')));
  out.push(await cnnlens.fileKind(new File([new Uint8Array([0x89, 80, 78, 71, 13, 10])], 'picture')));
  return out;
})()`, &codes)
	want := []string{"bad_card: labels: not a text file", "bad_card: labels: the file has 2 names but the model has 1000 outputs", "model", "labels", "image"}
	for i, w := range want {
		if i >= len(codes) || !strings.HasPrefix(codes[i], w) {
			t.Errorf("API %d: %q, want %q", i, codes, w)
			break
		}
	}
	t.Logf("API: %q", codes)
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
