// "Inside the network": the page's views of a model's insides, on the
// engine's inspect requests (cnnlens.js: filters, featureMaps, channelMap,
// gradcamBreakdown, maximize, rotations, poolingBackward).
//
// app.js owns the model, image, class and layer; it tells this module when
// one of them changes (changed('model' | 'input' | 'target' | 'layer' |
// 'colormap')) and the open view redraws when it depends on it.
import * as api from './cnnlens.js';

const $ = (id) => document.getElementById(id);

export function fmtNum(v) {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return v.toPrecision(3);
}

function drawBitmap(canvas, bmp) {
  if (!bmp) return;
  canvas.width = bmp.width;
  canvas.height = bmp.height;
  canvas.getContext('2d').drawImage(bmp, 0, 0);
  bmp.close();
}

function closeAll(v) {
  if (!v) return;
  if (Array.isArray(v)) { for (const b of v) closeAll(b); return; }
  if (typeof ImageBitmap !== 'undefined' && v instanceof ImageBitmap) v.close();
}

// Draw a small picture enlarged by an integer factor (CSS pixels) that
// fits the width; max-width: 100% keeps it on a phone.
function zoomCanvas(canvas, maxWidth = 640, maxZoom = 4) {
  const z = Math.max(1, Math.min(maxZoom, Math.floor(maxWidth / Math.max(1, canvas.width))));
  canvas.style.width = `${canvas.width * z}px`;
}

function figure(bmp, caption, cls = '') {
  const fig = document.createElement('figure');
  if (cls) fig.className = cls;
  const c = document.createElement('canvas');
  drawBitmap(c, bmp);
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(c, cap);
  return fig;
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

const gone = (err) => err.code === 'input_gone';

/**
 * initInside wires the "Inside the network" section. ctx: {state, page,
 * showError, labelOf, openChannel?}. It returns {changed(what), refresh()}.
 */
export function initInside(ctx) {
  const { state, page, showError, labelOf } = ctx;
  const ins = {
    view: null,
    channel: null,     // the feature-map channel shown large
    kernels: null,     // the last filters() result (layout for clicks)
    detail: null,      // the last channelMap() result (values for hover)
    job: null,         // the maximize job in flight
    galleryStop: false,
  };
  const info = { view: null, renders: {}, last: {}, errors: [] };
  page.inside = info;

  const target = () => ({
    classIndex: state.classIndex,
    contrast: state.contrast === '' ? null : state.contrast,
  });
  const targetText = (cls) => {
    if (state.contrast !== '' && state.contrast != null) return `${labelOf(cls)} rather than ${labelOf(Number(state.contrast))}`;
    return labelOf(cls);
  };
  const done = (view, summary) => {
    info.renders[view] = (info.renders[view] || 0) + 1;
    info.last[view] = summary;
  };
  const fail = (title, err) => {
    if (gone(err) || err.code === 'cancelled') return;
    info.errors.push(err.message);
    showError(`${title}: ${err.message}`);
  };

  // ---------------------------------------------------------------- views

  const views = {
    kernels: { title: 'Kernels', deps: ['model'], update: updateKernels },
    maps: { title: 'Feature maps', deps: ['model', 'input', 'target', 'layer', 'colormap'], update: updateMaps },
    breakdown: { title: 'How Grad-CAM is built', deps: ['model', 'input', 'target', 'layer', 'colormap'], update: updateBreakdown },
    maximize: { title: 'Activation maximisation', deps: ['model', 'target', 'layer'], update: updateMaximize },
    rotations: { title: 'Rotated filters', deps: ['model'], update: updateRotations },
    pooling: { title: 'Pooling backward', deps: ['model', 'input', 'target'], update: updatePooling },
  };

  for (const b of document.querySelectorAll('#inside [role=tab]')) {
    b.onclick = () => open(b.dataset.view === ins.view ? null : b.dataset.view);
  }

  function open(view) {
    ins.view = view;
    info.view = view;
    for (const b of document.querySelectorAll('#inside [role=tab]')) b.setAttribute('aria-selected', String(b.dataset.view === view));
    for (const v of Object.keys(views)) $('in-' + v).hidden = v !== view;
    $('inside-hint').hidden = !!view;
    refresh();
  }

  let running = false;
  let again = false;
  async function refresh() {
    if (!ins.view) return;
    if (running) { again = true; return; }
    running = true;
    try {
      do {
        again = false;
        const v = ins.view;
        if (!v || !state.model) break;
        const t0 = performance.now();
        $('inside-status').textContent = '· computing…';
        try {
          await views[v].update();
          $('inside-status').textContent = v === 'maximize' ? '' : `· ${Math.round(performance.now() - t0)} ms`;
        } catch (err) {
          $('inside-status').textContent = '';
          fail(views[v].title, err);
        }
      } while (again);
    } finally {
      running = false;
    }
  }

  function changed(what) {
    if (what === 'model') fillPickers();
    if (ins.view && views[ins.view].deps.includes(what)) refresh();
  }

  // ---------------------------------------------------------------- pickers

  function fillPickers() {
    const m = state.model;
    if (!m) return;
    cancelMaximize();
    for (const id of ['k-layer', 'r-layer']) {
      const sel = $(id);
      const keep = sel.value;
      sel.textContent = '';
      for (const c of m.convLayers || []) {
        const [o, i, kh, kw] = c.shape;
        sel.append(option(c.output, `${c.node || c.output} · ${o} filters ${i}×${kh}×${kw}`));
      }
      if (!sel.options.length) sel.append(option('', 'no convolution with stored weights'));
      if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    }
    const pl = $('p-layer');
    const keep = pl.value;
    pl.textContent = '';
    for (const p of m.poolingLayers || []) pl.append(option(p.output, `${p.node || p.output} · ${p.op}`));
    if (!pl.options.length) pl.append(option('', 'no pooling layer'));
    if ([...pl.options].some((o) => o.value === keep)) pl.value = keep;
    $('p-channel').value = '';
    ins.channel = null;
    $('m-detail').hidden = true;
    $('x-gallery-grid').textContent = '';
  }

  const layerInfo = () => (state.model && state.model.layers.find((l) => l.output === state.layer)) || null;
  const layerChannels = () => { const l = layerInfo(); return l && l.shape && l.shape.length >= 2 ? l.shape[1] : 0; };

  // ---------------------------------------------------------------- kernels

  async function updateKernels() {
    const layer = $('k-layer').value;
    if (!layer) { $('k-info').textContent = 'This model has no convolution with stored weights.'; return; }
    // Each input channel: a row a filter (no captions), at most 64 rows.
    const perChannel = $('k-mode').value === 'channels';
    const r = await api.filters({ model: state.model, layer, mode: $('k-mode').value, perFilter: $('k-per').checked, labels: !perChannel, max: perChannel ? 64 : 0 });
    const c = $('k-canvas');
    drawBitmap(c, r.image);
    zoomCanvas(c, 720, 3);
    c.dataset.tiles = r.tiles;
    ins.kernels = r;
    const how = {
      rgb: 'each filter as colour (its 3 input channels; grey is zero)',
      channels: `one row a filter${r.shown < r.filters ? ` (the first ${r.shown})` : ''}, one tile an input channel${r.perFilter < r.inputs ? ` (the first ${r.perFilter} of ${r.inputs})` : ''}; red positive, blue negative, white zero`,
      magnitude: `each filter as Σ|w| over its ${r.inputs} input channels`,
    }[r.mode];
    $('k-info').textContent = `${r.layer}: ${r.filters} filters of ${r.inputs}×${r.kh}×${r.kw}${r.group > 1 ? ` (${r.group} groups)` : ''}, drawn ${how}; ${$('k-per').checked ? 'each filter on its own scale' : `one scale for all, ±${fmtNum(r.scale)}`}. Click a filter for its numbers.`;
    $('k-detail').textContent = '';
    done('kernels', { layer: r.layer, mode: r.mode, filters: r.filters, shown: r.shown, tiles: r.tiles, perFilter: r.perFilter, cols: r.cols, cellWidth: r.cellWidth, cellHeight: r.cellHeight, pad: r.pad, width: c.width, height: c.height });
  }

  $('k-canvas').onclick = (e) => {
    const r = ins.kernels;
    if (!r) return;
    const c = e.currentTarget;
    const x = e.offsetX * c.width / c.clientWidth, y = e.offsetY * c.height / c.clientHeight;
    const col = Math.floor((x - r.pad / 2) / (r.cellWidth + r.pad)), row = Math.floor((y - r.pad / 2) / (r.cellHeight + r.pad));
    if (col < 0 || col >= r.cols || row < 0) return;
    const i = row * r.cols + col;
    if (i >= r.tiles) return;
    const f = Math.floor(i / r.perFilter), ch = i % r.perFilter;
    const s = r.stats[f];
    $('k-detail').textContent = `Filter ${f}${r.mode === 'channels' ? `, input channel ${ch}` : ''}: weights ${fmtNum(s.min)} … ${fmtNum(s.max)}, ‖w‖ ${fmtNum(s.norm)}, largest |w| ${fmtNum(s.scale)}`;
    info.last.kernelClick = { filter: f, channel: ch };
  };
  $('k-layer').onchange = refresh;
  $('k-mode').onchange = refresh;
  $('k-per').onchange = refresh;

  // ---------------------------------------------------------------- feature maps

  const mapsGrad = () => $('m-what').value === 'grad';

  async function updateMaps() {
    if (!state.input) return;
    const input = state.input;
    const grad = mapsGrad();
    const r = await api.featureMaps(input.id, {
      layer: state.layer, gradients: grad, weights: true, ...target(),
      order: $('m-order').value, shared: $('m-shared').checked, tile: 48,
    });
    if (state.input !== input) { closeAll(r.tiles); return; }
    const grid = $('m-grid');
    grid.textContent = '';
    r.order.forEach((c, k) => {
      const s = r.stats[c];
      const fig = figure(r.tiles[k], `#${c}`);
      fig.dataset.channel = c;
      fig.tabIndex = 0;
      fig.setAttribute('role', 'button');
      fig.title = `channel ${c}: mean ${fmtNum(s.mean)}, min ${fmtNum(s.min)}, max ${fmtNum(s.max)}, Grad-CAM weight ${fmtNum(s.weight)}`;
      fig.onclick = () => showChannel(c);
      fig.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); showChannel(c); } };
      if (c === ins.channel) fig.classList.add('selected');
      grid.append(fig);
    });
    const what = grad ? `gradients d ${targetText(r.class)} / d activation (blue negative, red positive)` : 'activations';
    const by = $('m-order').selectedOptions[0].textContent;
    $('m-info').textContent = `${r.layer}: ${r.channels} channels of ${r.height}×${r.width}, ${what}, sorted by ${by}${r.height * r.width === 1 ? ' (one value a channel)' : ''}. Click a channel to see it over the image.`;
    ins.maps = r;
    done('maps', { layer: r.layer, grad: r.grad, class: r.class, channels: r.channels, height: r.height, width: r.width, tiles: r.tiles.length, order: r.order, stats: r.stats });
    if (ins.channel != null && ins.channel < r.channels) await showChannel(ins.channel, false);
    else { ins.channel = null; $('m-detail').hidden = true; }
  }

  async function showChannel(c, scroll = true) {
    if (!state.input) return;
    ins.channel = c;
    for (const f of $('m-grid').children) f.classList.toggle('selected', Number(f.dataset.channel) === c);
    const grad = mapsGrad();
    let r;
    try {
      r = await api.channelMap(state.input.id, { layer: state.layer, channel: c, gradients: grad, weights: true, ...target(), colormap: state.colormap, alpha: state.alpha });
    } catch (err) {
      fail('Feature maps', err);
      return;
    }
    if (ins.channel !== c) { closeAll([r.overlay, r.cells]); return; }
    drawBitmap($('m-overlay'), r.overlay);
    drawBitmap($('m-cells'), r.cells);
    ins.detail = r;
    const s = r.stat;
    const parts = [`mean ${fmtNum(s.mean)}`, `min ${fmtNum(s.min)}`, `max ${fmtNum(s.max)}`];
    if (r.class >= 0) parts.push(`Grad-CAM weight ${fmtNum(s.weight)} (for ${targetText(r.class)})`);
    $('m-stats').textContent = `Channel ${c} of ${r.layer} (${r.width}×${r.height}${grad ? ', gradient' : ''}): ${parts.join(', ')}`;
    $('m-hover').textContent = 'the values (hover for one)';
    $('m-detail').hidden = false;
    $('m-maximize').hidden = r.grad;
    info.last.channel = { channel: c, grad: r.grad, layer: r.layer, stat: s };
    info.renders.channel = (info.renders.channel || 0) + 1;
    if (scroll && $('m-detail').scrollIntoView) $('m-detail').scrollIntoView({ block: 'nearest' });
  }

  $('m-cells').onmousemove = (e) => {
    const r = ins.detail;
    if (!r) return;
    const c = e.currentTarget;
    const x = Math.floor(e.offsetX * c.width / c.clientWidth / r.cellSize);
    const y = Math.floor(e.offsetY * c.height / c.clientHeight / r.cellSize);
    if (x < 0 || y < 0 || x >= r.width || y >= r.height) return;
    $('m-hover').textContent = `(${x}, ${y}): ${fmtNum(r.values[y * r.width + x])}`;
  };
  $('m-maximize').onclick = () => {
    if (ins.channel == null) return;
    $('x-objective').value = 'channel';
    $('x-channel').value = ins.channel;
    open('maximize');
  };
  for (const id of ['m-what', 'm-order', 'm-shared']) $(id).onchange = refresh;

  // ---------------------------------------------------------------- breakdown

  async function updateBreakdown() {
    if (!state.input) return;
    const input = state.input;
    const r = await api.gradcamBreakdown(input.id, { layer: state.layer, ...target(), top: Number($('b-top').value), tile: 64, colormap: state.colormap, alpha: state.alpha });
    if (state.input !== input) { closeAll([r.maps, r.scaled, r.sum, r.relu, r.overlay]); return; }
    // 1. the weights, one bar a channel
    const bars = $('b-bars');
    bars.textContent = '';
    const big = Math.max(...r.weights.map(Math.abs)) || 1;
    const top = new Set(r.top);
    r.weights.forEach((w, c) => {
      const b = document.createElement('div');
      b.className = 'bar' + (w < 0 ? ' neg' : '') + (top.has(c) ? ' top' : '');
      b.dataset.channel = c;
      b.title = `channel ${c}: weight ${fmtNum(w)}${top.has(c) ? ' (shown below)' : ''}`;
      const fill = document.createElement('span');
      fill.style.height = `${(50 * Math.abs(w) / big).toFixed(2)}%`;
      b.append(fill);
      b.onclick = () => { $('m-what').value = 'act'; ins.channel = c; open('maps'); };
      bars.append(b);
    });
    // 2. the top channels: A_c, × w_c, = w_c·A_c
    const rows = $('b-rows');
    rows.textContent = '';
    r.top.forEach((c, k) => {
      const row = document.createElement('div');
      row.className = 'b-row';
      const times = document.createElement('span');
      times.className = 'op';
      times.textContent = `× ${fmtNum(r.weights[c])} =`;
      row.append(figure(r.maps[k], `A${c}`), times, figure(r.scaled[k], `w·A${c}`));
      rows.append(row);
    });
    // 3. the sum, its ReLU and the heatmap over the picture
    drawBitmap($('b-sum'), r.sum);
    drawBitmap($('b-relu'), r.relu);
    drawBitmap($('b-overlay'), r.overlay);
    $('b-sum-cap').textContent = `Σ over all ${r.channels} channels: ${fmtNum(r.sumMin)} … ${fmtNum(r.sumMax)}`;
    $('b-info').textContent = `${targetText(r.class)} (score ${fmtNum(r.score)}) at ${r.layer}, ${r.channels} channels of ${r.height}×${r.width}. ` +
      `Bars: each channel's weight (red positive, blue negative; the ${r.top.length} largest are outlined and drawn below, carrying ${(100 * r.topShare).toFixed(0)}% of Σ|w·A|). ` +
      `Weighted maps, the sum and the ReLU share one colour scale, ±${fmtNum(r.scale)}. Click a bar for that channel's map.`;
    done('breakdown', { layer: r.layer, class: r.class, channels: r.channels, weights: r.weights, top: r.top, topShare: r.topShare, score: r.score, sumMin: r.sumMin, sumMax: r.sumMax });
  }
  $('b-top').onchange = refresh;

  // ---------------------------------------------------------------- maximise

  const maxClass = () => (state.classIndex >= 0 ? state.classIndex : (state.input && state.input.top5[0] ? state.input.top5[0].index : 0));

  function updateMaximize() {
    const n = layerChannels();
    const isClass = $('x-objective').value === 'class';
    $('x-channel').disabled = isClass;
    if (n) $('x-channel').max = n - 1;
    $('x-target').textContent = isClass
      ? `Gradient ascent on the input for the picture with the largest logit of ${labelOf(maxClass())} (the class chosen under Explain).`
      : `Gradient ascent on the input for the picture with the largest mean of one channel of ${state.layer}${n ? ` (${n} channels; pick the layer under Explain)` : ''}.`;
  }

  function maxOptions() {
    const num = (id) => Number($(id).value);
    return {
      model: state.model, steps: num('x-steps'), lr: num('x-lr'), seed: num('x-seed'),
      jitter: num('x-jitter'), rotate: num('x-rotate'), scale: num('x-scale'), tv: num('x-tv'),
      blur: num('x-blur'), l2: num('x-l2'), decorrelate: $('x-decorrelate').checked, fourier: $('x-fourier').checked,
    };
  }

  function maxBusy(on) {
    $('x-run').disabled = on;
    $('x-gallery').disabled = on;
    $('x-cancel').hidden = !on;
    $('x-progress').hidden = !on;
    info.maximizing = on;
  }

  function drawCurve(values) {
    const c = $('x-curve');
    const ctx = c.getContext('2d');
    const w = c.width, h = c.height, pad = 6;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    if (values.length < 1) return;
    const lo = Math.min(...values), hi = Math.max(...values);
    const span = hi - lo || 1;
    const n = Math.max(values.length - 1, 1);
    ctx.strokeStyle = '#2458d3';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = pad + (w - 2 * pad) * i / n, y = h - pad - (h - 2 * pad) * (v - lo) / span;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = '#5c6270';
    ctx.font = '11px sans-serif';
    ctx.fillText(fmtNum(hi), pad + 2, pad + 10);
    ctx.fillText(fmtNum(lo), pad + 2, h - pad - 2);
  }

  // runMaximize runs one maximisation, drawing its progress into
  // x-canvas, and resolves with its result (or null on error).
  async function runMaximize(opts, onStep) {
    const curve = [];
    const t0 = performance.now();
    const job = api.maximize({
      ...opts,
      every: 4,
      onProgress: (k, total, p) => {
        curve.push(p.objective);
        if (p.image) {
          drawBitmap($('x-canvas'), p.image);
          info.progressPictures = (info.progressPictures || 0) + 1;
        }
        if (onStep) onStep(k, total);
        const per = (performance.now() - t0) / k;
        $('x-info').textContent = `step ${k} of ${total} · objective ${fmtNum(p.objective)} · ${per < 1000 ? `${Math.round(per)} ms` : `${(per / 1000).toFixed(1)} s`} a step`;
        if (k % 4 === 0 || k === total) drawCurve(curve);
        info.progress = { done: k, total, objective: p.objective };
      },
    });
    ins.job = job;
    try {
      const r = await job.promise;
      drawBitmap($('x-canvas'), r.image);
      drawCurve(Array.from(r.objective));
      return r;
    } finally {
      if (ins.job === job) ins.job = null;
    }
  }

  function maxTarget() {
    return $('x-objective').value === 'class'
      ? { classIndex: maxClass() }
      : { layer: state.layer, channel: Number($('x-channel').value) || 0 };
  }

  $('x-run').onclick = async () => {
    if (ins.job || !state.model) return;
    maxBusy(true);
    ins.galleryStop = false;
    const t = maxTarget();
    const what = t.classIndex != null ? `the logit of ${labelOf(t.classIndex)}` : `channel ${t.channel} of ${t.layer}`;
    const pr = $('x-progress');
    pr.value = 0;
    try {
      const r = await runMaximize({ ...maxOptions(), ...t }, (k, total) => { pr.max = total; pr.value = k; });
      $('x-info').textContent = `${what}: ${r.cancelled ? `cancelled after ${r.steps} steps` : `${r.steps} steps`} · objective ${fmtNum(r.start)} on the starting noise → ${fmtNum(r.final)} · ${(r.ms / 1000).toFixed(1)} s`;
      done('maximize', { cancelled: r.cancelled, steps: r.steps, start: r.start, final: r.final, class: r.class, channel: r.channel, layer: r.layer, width: r.width, height: r.height });
    } catch (err) {
      if (err.code === 'cancelled') $('x-info').textContent = `${what}: cancelled`;
      else fail('Activation maximisation', err);
    } finally {
      maxBusy(false);
    }
  };

  $('x-gallery').onclick = async () => {
    if (ins.job || !state.model) return;
    const n = Math.min(Number($('x-gallery-n').value) || 8, layerChannels() || 1);
    const grid = $('x-gallery-grid');
    grid.textContent = '';
    maxBusy(true);
    ins.galleryStop = false;
    const layer = state.layer;
    const steps = Number($('x-steps').value) || 128;
    const pr = $('x-progress');
    pr.max = n * steps;
    pr.value = 0;
    let made = 0;
    try {
      for (let c = 0; c < n && !ins.galleryStop; c++) {
        const r = await runMaximize({ ...maxOptions(), layer, channel: c }, (k) => { pr.value = c * steps + k; });
        // runMaximize drew the result into x-canvas: keep a copy.
        const fig = document.createElement('figure');
        const canvas = document.createElement('canvas');
        canvas.width = $('x-canvas').width;
        canvas.height = $('x-canvas').height;
        canvas.getContext('2d').drawImage($('x-canvas'), 0, 0);
        const cap = document.createElement('figcaption');
        cap.textContent = `#${c} · ${fmtNum(r.final)}`;
        fig.title = `channel ${c} of ${layer}: objective ${fmtNum(r.start)} → ${fmtNum(r.final)}`;
        fig.append(canvas, cap);
        fig.onclick = () => { $('x-objective').value = 'channel'; $('x-channel').value = c; };
        grid.append(fig);
        made++;
        info.gallery = made;
        if (r.cancelled) break;
      }
      $('x-info').textContent = `gallery: ${made} of ${n} channels of ${layer}`;
      done('gallery', { layer, channels: made, of: n });
    } catch (err) {
      if (err.code !== 'cancelled') fail('Activation maximisation', err);
      $('x-info').textContent = `gallery: ${made} of ${n} channels of ${layer} (stopped)`;
    } finally {
      maxBusy(false);
    }
  };

  function cancelMaximize() {
    ins.galleryStop = true;
    if (ins.job) ins.job.cancel();
  }
  $('x-cancel').onclick = cancelMaximize;
  $('x-objective').onchange = updateMaximize;

  // ---------------------------------------------------------------- rotations

  async function updateRotations() {
    const layer = $('r-layer').value;
    if (!layer) { $('r-info').textContent = 'This model has no convolution with stored weights.'; return; }
    const th = Number($('r-threshold').value);
    // The chance baseline (4 shuffles) when the layer is small enough to
    // search 4 more times quickly.
    const conv = (state.model.convLayers || []).find((c) => c.output === layer);
    const size = conv ? conv.shape[0] * conv.shape[0] * conv.shape[1] * conv.shape[2] * conv.shape[3] : Infinity;
    const r = await api.rotations({ model: state.model, layer, threshold: th, max: 24, chance: size <= 2e7 ? 4 : 0 });
    const list = $('r-list');
    list.textContent = '';
    r.images.forEach((img, k) => {
      const p = r.pairs[k];
      const li = document.createElement('li');
      const c = document.createElement('canvas');
      c.className = 'pixelated';
      drawBitmap(c, img);
      zoomCanvas(c, 300, 2);
      const t = document.createElement('span');
      t.textContent = `filter ${p.b} ≈ ${p.transform.replace('_', ' ')} of filter ${p.a} · similarity ${p.score.toFixed(3)} (untransformed ${p.identity.toFixed(3)})`;
      li.append(c, t);
      list.append(li);
    });
    const sq = r.kh === r.kw;
    const chance = r.chance >= 0 ? ` With each filter's weights shuffled, ${r.chance.toFixed(1)} pairs pass on average: that many are chance.` : '';
    $('r-info').textContent = r.pairs.length
      ? `${r.pairs.length} pair${r.pairs.length > 1 ? 's' : ''} of the ${r.filters} filters (${r.kh}×${r.kw}) of ${r.layer} match under a ${sq ? 'rotation by 90°, 180° or 270° or a flip' : '180° rotation or a flip'} with cosine similarity ≥ ${th.toFixed(2)}, clearly better than untransformed` +
        (r.pairs.length > r.images.length ? `; the best ${r.images.length} are drawn` : '') + `. Each row: filter A, A transformed, filter B.${chance}`
      : `No pair of the ${r.filters} filters of ${r.layer} matches under a rotation or flip with similarity ≥ ${th.toFixed(2)}: lower the threshold.${chance}`;
    done('rotations', { layer: r.layer, filters: r.filters, threshold: r.threshold, pairs: r.pairs, drawn: r.images.length, chance: r.chance });
  }
  $('r-layer').onchange = refresh;
  $('r-threshold').oninput = () => { $('r-threshold-out').textContent = Number($('r-threshold').value).toFixed(2); };
  $('r-threshold').onchange = refresh;

  // ---------------------------------------------------------------- pooling

  async function updatePooling() {
    if (!state.input) return;
    const layer = $('p-layer').value;
    if (!layer) { $('p-info').textContent = 'This model has no pooling layer (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool).'; return; }
    const input = state.input;
    const ch = $('p-channel').value;
    const r = await api.poolingBackward(input.id, { layer, channel: ch === '' ? null : Number(ch), ...target(), tile: 96 });
    if (state.input !== input) { closeAll(r.image); return; }
    const c = $('p-canvas');
    drawBitmap(c, r.image);
    zoomCanvas(c, 720, 2);
    $('p-channel').max = r.channels - 1;
    $('p-channel').placeholder = `auto (${r.best})`;
    const fan = r.fan;
    const why = {
      MaxPool: `A max-pool passes each output's gradient to the one input that was its window's maximum; the other inputs get zero. So below there are at most as many non-zero gradients as above (each output covers ${fan} inputs): the gradient is sparse.`,
      GlobalMaxPool: `A global max-pool passes each channel's gradient to the one position that was the channel's maximum; the other ${r.height * r.width - 1} get zero.`,
      AveragePool: `An average pool shares each output's gradient equally among the ${fan} inputs of its window (1/${fan} each), so every input under a gradient gets a share: dense, and smaller.`,
      GlobalAveragePool: `Global average pooling spreads each channel's one gradient evenly over all ${r.height}×${r.width} positions: every position gets 1/${r.height * r.width} of it.`,
    }[r.op] || '';
    $('p-info').textContent = `${r.node} (${r.op}): ${r.channels}×${r.height}×${r.width} below → ${r.channels}×${r.outHeight}×${r.outWidth} above, gradient of ${targetText(r.class)}. ${why}`;
    const total = (n) => n.toLocaleString('en');
    $('p-stats').textContent = `Non-zero gradients, all channels: above ${total(r.nonzeroAbove)} of ${total(r.channels * r.outHeight * r.outWidth)}, ` +
      `below ${total(r.nonzeroBelow)} of ${total(r.channels * r.height * r.width)}. ` +
      `Channel ${r.channel}${r.channel === r.best ? ' (the one with the most gradient)' : ''}: above ${r.channelAbove}, below ${r.channelBelow}; ` +
      `sum of the gradient above ${fmtNum(r.sumAbove)}, below ${fmtNum(r.sumBelow)}.`;
    done('pooling', { op: r.op, layer: r.above, channel: r.channel, best: r.best, fan: r.fan, channels: r.channels, nonzeroAbove: r.nonzeroAbove, nonzeroBelow: r.nonzeroBelow, channelAbove: r.channelAbove, channelBelow: r.channelBelow, sumAbove: r.sumAbove, sumBelow: r.sumBelow });
  }
  $('p-layer').onchange = () => { $('p-channel').value = ''; refresh(); };
  $('p-channel').onchange = refresh;

  return { changed, refresh, open };
}
