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

// The JS API on a vision transformer (a layer of tokens, through the auto
// layout and a given one) and on a segmentation model (the predicted map,
// the classes present, a class explained over its pixels and over a
// mask): pytorch-grad-cam's maps within 2e-3.
func TestAPILayoutAndSegmentation(t *testing.T) {
	for _, c := range []string{"vit-tiny", "lraspp-seg"} {
		if _, err := os.Stat(filepath.Join(oracleDir, c, "model.onnx")); err != nil {
			testenv.Missing(t, "no oracle case %s at %s: %v", c, oracleDir, err)
		}
	}
	p := newPage(t)
	p.run(chromedp.Navigate(baseURL + "/index.html"))
	p.wait(`window.cnnlens && window.cnnlensPage && cnnlensPage.firstHeatmapMs != null`, 90*time.Second)
	var out struct {
		ViT      map[string]float64
		Layouts  []string
		Seg      map[string]float64
		Classes  []struct{ Index, Pixels int }
		ArgmaxOK bool
		Argmax   string
		BadMask  string
	}
	p.eval(`(async () => {
  const f32 = async (u) => new Float32Array(await (await fetch(u)).arrayBuffer());
  const diff = (a, b) => a.length !== b.length ? Infinity : a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const out = {ViT: {}, Seg: {}, Layouts: []};
  await cnnlens.loadModel('/oracle/vit-tiny/model.onnx', {});
  const vx = await f32('/oracle/vit-tiny/raw/input.f32');
  const vl = '/encoder/layers/encoder_layer_1/ln_1/LayerNormalization_output_0';
  for (const [m, layout] of [['gradcam', undefined], ['layercam', 'tokens'], ['scorecam', 'auto']]) {
    const r = await cnnlens.cam({tensor: vx, layer: vl, classIndex: 3, method: m, layout});
    out.ViT[m] = diff(r.cam, await f32('/oracle/vit-tiny/raw/last.' + m + '.cam.f32'));
    out.Layouts.push(r.layout + ' ' + r.rawWidth + 'x' + r.rawHeight);
  }
  await cnnlens.loadModel('/oracle/lraspp-seg/model.onnx', {});
  const sx = await f32('/oracle/lraspp-seg/raw/input.f32');
  const p = await cnnlens.predict({tensor: sx});
  const ref = new Uint8Array(await (await fetch('/oracle/lraspp-seg/raw/seg.argmax.u8')).arrayBuffer());
  out.Argmax = p.segmentation.argmax.constructor.name + ' ' + p.segmentation.width + 'x' + p.segmentation.height;
  out.ArgmaxOK = p.segmentation.argmax.length === ref.length && p.segmentation.argmax.every((c, i) => c === ref[i]);
  out.Classes = p.segmentation.classes.map(c => ({Index: c.index, Pixels: c.pixels}));
  const sl = '/model/backbone/backbone.16/backbone.16.2/HardSwish_output_0';
  const mask = await f32('/oracle/lraspp-seg/raw/seg.mask.f32');
  const u8 = Uint8Array.from(mask, v => v ? 1 : 0);
  for (const [name, opts] of [['segClass', {segClass: 3}], ['float mask', {segClass: 3, mask}], ['byte mask', {classIndex: 3, mask: u8, maskWidth: 128, maskHeight: 128}]]) {
    for (const m of ['gradcam', 'segeigencam']) {
      const r = await cnnlens.cam({tensor: sx, layer: sl, method: m, ...opts});
      out.Seg[name + ' ' + m] = r.classIndex !== 3 ? Infinity : diff(r.cam, await f32('/oracle/lraspp-seg/raw/last.' + m + '.cam.f32'));
    }
  }
  try { await cnnlens.cam({tensor: sx, layer: sl, segClass: 3, mask: new Float32Array(7)}); out.BadMask = 'computed'; } catch (e) { out.BadMask = e.code + ': ' + e.message; }
  return out;
})()`, &out)
	for m, d := range out.ViT {
		t.Logf("vit-tiny %-10s max |browser − pytorch-grad-cam| = %.2g", m, d)
		if !(d <= 2e-3) {
			t.Errorf("vit-tiny %s: max difference %g > 2e-3", m, d)
		}
	}
	for _, l := range out.Layouts {
		if l != "tokens 8x8" {
			t.Errorf("vit-tiny: layout %q, want tokens 8x8", l)
		}
	}
	for m, d := range out.Seg {
		t.Logf("lraspp-seg %-22s max |browser − pytorch-grad-cam| = %.2g", m, d)
		if !(d <= 2e-3) {
			t.Errorf("lraspp-seg %s: max difference %g > 2e-3", m, d)
		}
	}
	if len(out.Seg) != 6 || len(out.ViT) != 3 {
		t.Errorf("%d segmentation and %d ViT maps compared, want 6 and 3", len(out.Seg), len(out.ViT))
	}
	if !out.ArgmaxOK || out.Argmax != "Int32Array 128x128" {
		t.Errorf("segmentation argmax: %s, equal to the reference: %v", out.Argmax, out.ArgmaxOK)
	}
	if len(out.Classes) == 0 || out.Classes[0].Index != 3 || out.Classes[0].Pixels != 7294 {
		t.Errorf("classes present %+v: want class 3 first with 7294 pixels", out.Classes)
	}
	if out.BadMask != "bad_request: the mask has 7 values for 128×128" {
		t.Errorf("a mask of 7 values: %q", out.BadMask)
	}
}
