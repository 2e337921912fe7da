//go:build browser

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cnnlens/cnnlens/internal/testenv"
)

// The page's API for the newer methods: cam() with the method options and
// the ReST target, metrics() with ARCC and dff() give the oracle's numbers
// (tinycnn-ext).
func TestCAMFamilyAPI(t *testing.T) {
	if _, err := os.Stat(filepath.Join(oracleDir, "tinycnn-ext", "model.onnx")); err != nil {
		testenv.Missing(t, "no tinycnn-ext oracle at %s: %v", oracleDir, err)
	}
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlens && window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
	var out struct {
		Maps                  map[string]float64
		ROAD, Coherency, ARCC []float64
		DFFError, DFFRef      float64
		Concepts, Classes     int
		OverlayW, OverlayH    int
	}
	p.eval(`(async () => {
  const base = '/oracle/tinycnn-ext/';
  const f32 = async (u) => new Float32Array(await (await fetch(base + 'raw/' + u + '.f32')).arrayBuffer());
  const info = await cnnlens.loadModel(base + 'model.onnx');
  const x = await f32('input');
  const input = (await cnnlens.setInput(info.id, {tensor: x})).id;
  const mid = '/relu2/Relu_output_0', last = '/relu3/Relu_output_0';
  const cases = {
    'last.shapleycam_rest.cam': {method: 'shapleycam', kind: 'rest', layer: last},
    'mid.gradcam_rest.cam': {method: 'gradcam', kind: 'rest', layer: mid},
    'last.finercam.cam': {method: 'finercam', layer: last, finerCompare: [0, 4, 1], finerAlpha: 1},
    'mid.fem.cam': {method: 'fem', layer: mid, femK: 2},
    'refinecam.cam': {method: 'refinecam', layer: [mid, last]},
  };
  const maps = {};
  for (const [ref, opts] of Object.entries(cases)) {
    const r = await cnnlens.computeCAM(input, {...opts, classIndex: 3}).promise;
    const want = await f32(ref);
    let d = r.cam.length === want.length ? 0 : Infinity;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(r.cam[i] - want[i]));
    maps[ref] = d;
  }
  const m = await cnnlens.metrics(input, {method: 'gradcam', layer: last, classIndex: 3, roadNoise: 0, roadPercentiles: [20, 40, 60, 80]}).promise;
  const d = await cnnlens.dff(input, {layer: last, n: 4});
  return {
    Maps: maps,
    ROAD: [m.roadCombined, (await f32('metric.road0_combined.score'))[0]],
    Coherency: [m.coherency, (await f32('metric.arcc.coherency'))[0]],
    ARCC: [m.arcc, (await f32('metric.arcc0.score'))[0]],
    DFFError: d.relError, DFFRef: (await f32('dff.rel_error'))[0],
    Concepts: d.concepts.length, Classes: d.concepts[0].topClasses.length,
    OverlayW: d.overlay.width, OverlayH: d.overlay.height,
  };
})()`, &out)
	for ref, d := range out.Maps {
		t.Logf("%-26s max |browser − reference| = %.2g", ref, d)
		if !(d <= 2e-3) {
			t.Errorf("%s: max difference %g > 2e-3", ref, d)
		}
	}
	if len(out.Maps) != 5 {
		t.Errorf("%d maps compared, want 5", len(out.Maps))
	}
	for name, v := range map[string][]float64{"road_combined": out.ROAD, "coherency": out.Coherency, "arcc": out.ARCC} {
		t.Logf("%s: browser %.7g, reference %.7g", name, v[0], v[1])
		if len(v) != 2 || !(abs(v[0]-v[1]) <= 1e-3*abs(v[1])) {
			t.Errorf("%s: browser %v, reference %v", name, v[0], v[1])
		}
	}
	t.Logf("dff: relative error %.5f (scikit-learn %.5f), overlay %d×%d", out.DFFError, out.DFFRef, out.OverlayW, out.OverlayH)
	if !(out.DFFError > 0 && out.DFFError <= out.DFFRef*1.02) || out.Concepts != 4 || out.Classes != 3 || out.OverlayW != 2*out.OverlayH {
		t.Errorf("dff: %+v", out)
	}
}
