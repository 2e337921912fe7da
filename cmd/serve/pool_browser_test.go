//go:build browser

package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Ablation-CAM, the metrics and the activation-maximisation gallery on two
// workers give one worker's results bit for bit (the bundled shapes model:
// its 64 channels make two batches of ablations), and the gallery button
// fills its grid from the pool.
func TestPoolDivides(t *testing.T) {
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlens && window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
	var out struct {
		Same     map[string]bool
		Progress map[string]bool
		MS       map[string][]float64
		Reported map[string]float64
		Ops      []string
		Channels int
	}
	p.eval(`(async () => {
  const info = await cnnlens.loadModel('models/shapes.onnx');
  const [, c, h, w] = info.inputShape;
  const x = new Float32Array(c * h * w).map((_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011));
  const input = (await cnnlens.setInput(info.id, {tensor: x})).id;
  const eng = cnnlens.engine();
  const out = {Same: {}, Progress: {}, MS: {}, Reported: {}, Ops: eng.divisibleOps,
    Channels: info.layers.find((l) => l.output === info.defaultLayer).shape[1]};
  const before = cnnlens.workers();
  const pixels = (bmp) => {
    const cv = new OffscreenCanvas(bmp.width, bmp.height);
    const g = cv.getContext('2d');
    g.drawImage(bmp, 0, 0);
    return Array.from(g.getImageData(0, 0, bmp.width, bmp.height).data);
  };
  const same = (a, b) => a.length === b.length && a.length > 0 && Array.from(a).every((v, i) => Object.is(v, b[i]));
  const timed = async (f) => { const t0 = performance.now(); const r = await f(); return [r, performance.now() - t0]; };
  const runs = {
    ablationcam: (onProgress) => cnnlens.computeCAM(input, {method: 'ablationcam', classIndex: 1, onProgress}).promise,
    metrics: (onProgress) => cnnlens.metrics(input, {method: 'gradcam', classIndex: 1, onProgress}).promise,
    gallery: () => cnnlens.maximizeGallery({model: info.id, layer: info.defaultLayer, channels: [0, 1, 2], steps: 6, seed: 3}).promise,
  };
  const key = {
    ablationcam: (r) => Array.from(r.cam),
    metrics: (r) => { const o = {...r}; delete o.ms; delete o.workers; return [JSON.stringify(o)]; },
    gallery: (rs) => rs.flatMap((r) => [r.channel, ...pixels(r.image), ...r.objective]),
  };
  for (const [name, run] of Object.entries(runs)) {
    out.MS[name] = [];
    const got = [];
    for (const n of [1, 2]) {
      cnnlens.setWorkers(n);
      let done = 0;
      const [r, ms] = await timed(() => run((d) => { done = Math.max(done, d); }));
      out.MS[name].push(ms);
      got.push(key[name](r));
      if (n === 2) out.Progress[name] = done > 0 || name === 'gallery';
      if (n === 2 && name !== 'gallery') out.Reported[name] = r.ms;
    }
    out.Same[name] = same(got[0], got[1]);
  }
  cnnlens.setWorkers(before);
  return out;
})()`, &out)
	if out.Channels != 64 {
		t.Errorf("the shapes model's default layer has %d channels, want 64 (two batches of ablations)", out.Channels)
	}
	if len(out.Ops) != 1 || out.Ops[0] != "metrics" {
		t.Errorf("divisible requests %v, want [metrics]", out.Ops)
	}
	for _, name := range []string{"ablationcam", "metrics", "gallery"} {
		t.Logf("%-11s 1 worker %.0f ms, 2 workers %.0f ms", name, out.MS[name][0], out.MS[name][1])
		if !out.Same[name] || !out.Progress[name] {
			t.Errorf("%s on two workers: the same as one worker's: %v, progress reported: %v", name, out.Same[name], out.Progress[name])
		}
		// A divided job's time is the whole job's (its last request only
		// combines the pieces), as the page's timing line and grid show it.
		if r, ok := out.Reported[name]; name != "gallery" && (!ok || r < 0.5*out.MS[name][1] || r > out.MS[name][1]+1) {
			t.Errorf("%s on two workers took %.1f ms; the result says %.1f ms", name, out.MS[name][1], r)
		}
	}

	// The gallery button: three channels, drawn in channel order.
	ip := &insidePage{page: p, t: t}
	ip.js(`cnnlens.setWorkers(2)`)
	ip.js(`document.querySelector('#inside [role=tab][data-view=maximize]').click()`)
	ip.after("gallery", func() {
		ip.js(`(() => { document.getElementById('x-steps').value = '6'; document.getElementById('x-gallery-n').value = '3'; document.getElementById('x-gallery').click(); })()`)
	})
	var grid []string
	ip.eval(`Array.from(document.querySelectorAll('#x-gallery-grid figcaption')).map((c) => c.textContent)`, &grid)
	if len(grid) != 3 || len(grid[0]) < 4 || grid[0][:3] != "#0 " || grid[2][:3] != "#2 " {
		t.Errorf("gallery grid %q, want channels #0 … #2", grid)
	}
}
