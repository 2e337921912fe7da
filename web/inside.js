// "Inside the network": the page's views of a model's insides, on the
// engine's inspect requests (cnnlens.js: filters, featureMaps, channelMap,
// gradcamBreakdown, maximize, rotations, poolingBackward). Every map has a
// colour bar (colorbar.js) with the numbers of its data and what 0 means;
// a map that is empty or flat gets a sentence saying why; labels are HTML
// or text drawn at the screen's resolution, never pixels of the engine's
// pictures. The walk-through "How does Grad-CAM see this?" (walkthrough.js)
// is loaded when first opened.
//
// app.js owns the model, image, class and layer; it tells this module when
// one of them changes (changed('model' | 'input' | 'target' | 'layer' |
// 'colormap')) and the open view redraws when it depends on it.
import * as api from './cnnlens.js';
import { colorbar, num } from './colorbar.js';

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

// ---------------------------------------------------------------- colour scales

/** bar puts a colour bar into a holder (by id), replacing the one there. */
function bar(holder, opts) {
  const h = typeof holder === 'string' ? $(holder) : holder;
  h.textContent = '';
  if (!opts) return null;
  const b = colorbar(opts);
  h.append(b);
  return b;
}

/** miniBar is a small bar for one tile: its colours and its two ends. */
export function miniBar(opts) {
  const b = colorbar({ ...opts, title: '', note: '' });
  b.classList.add('mini');
  return b;
}

/** signedOpts: a diverging map drawn on ±s, white at 0. */
export function signedOpts(s, extra = {}) {
  return { colormap: 'rdbu', min: -s, max: s, signed: true, ...extra };
}

/**
 * paintFlat fills a canvas with the colour a flat map's value v gets on a
 * diverging scale ±scale (the engine's own RdBu table and index rule), so
 * that flat maps on one shared scale compare.
 */
export function paintFlat(canvas, v, scale) {
  const t = (api.engine().colormapTables || {}).rdbu;
  if (!t) return;
  const u = scale > 0 ? Math.fround(0.5 + 0.5 * (v / scale)) : 0.5;
  const i = u <= 0 ? 0 : u >= 1 ? 255 : Math.floor(Math.fround(255 * u));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = `rgb(${t[3 * i]}, ${t[3 * i + 1]}, ${t[3 * i + 2]})`;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

/** flatScales: each gradient tile's ±scale; one shared by all when flat. */
export function flatScales(r, flat) {
  if (!flat) return r.gradScale;
  const s = Math.max(0, ...r.gradScale);
  return r.gradScale.map(() => s);
}

/** relabel replaces a bar's end labels with words (a per-tile scale). */
function relabel(b, lo, hi, mid) {
  if (!b) return;
  b.querySelector('.lo').textContent = lo;
  b.querySelector('.hi').textContent = hi;
  if (mid != null && b.querySelector('.mid')) b.querySelector('.mid').textContent = mid;
}

/** constant: a channel whose values are all the same (min = max). */
export const constant = (s) => s.max - s.min <= 1e-6 * Math.max(Math.abs(s.max), Math.abs(s.min));
/** dead: a channel that is 0 everywhere. */
export const dead = (s) => s.min === 0 && s.max === 0;

/**
 * whyFlat says why every channel's gradient map is flat, or '' when one is
 * not: global average pooling right after the layer (from the model's
 * pooling list), else in general words.
 */
export function whyFlat(model, layer, stats, height, width) {
  if (height * width <= 1 || !stats.length || !stats.every(constant)) return '';
  const gap = (model.poolingLayers || []).find((p) => p.input === layer && p.op === 'GlobalAveragePool');
  if (gap) {
    return `The gradient is the same at every position: global average pooling follows this layer (${gap.node || gap.output}), so each of the ${height}×${width} positions of a channel counts equally for the score. Each gradient map is one flat colour, and its value is that channel's Grad-CAM weight.`;
  }
  return 'The gradient is the same at every position of each channel: at this layer every position of a channel counts equally for the score, so each gradient map is one flat colour (its value is the channel\'s Grad-CAM weight).';
}

const TRANSFORM_TEXT = {
  rot90: 'turned a quarter turn anticlockwise (90°)', rot180: 'turned upside down (180°)', rot270: 'turned a quarter turn clockwise (270°)',
  flip_h: 'mirrored left–right', flip_v: 'mirrored top–bottom', transpose: 'mirrored across its diagonal', antitranspose: 'mirrored across its other diagonal',
};

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
  // The walk-through is loaded when first asked for (startup stays as it is).
  $('walk-open').onclick = async () => {
    try {
      const { openWalkthrough } = await import('./walkthrough.js');
      await openWalkthrough({ state, labelOf, info, opener: $('walk-open') });
    } catch (err) {
      fail('How does Grad-CAM see this?', err);
    }
  };
  bar('x-bar', {
    colormap: 'gray', min: 0, max: 1, low: 'none', high: 'full',
    title: 'The picture\'s red, green and blue, each from 0 to 1',
    note: 'This is an input picture the network responds to strongly, not a map of values: its colours are the colours it likes.',
  });

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
    const r = await api.filters({ model: state.model, layer, mode: $('k-mode').value, perFilter: $('k-per').checked, labels: false, max: perChannel ? 64 : 0 });
    const c = $('k-canvas');
    // Each filter is labelled with text drawn at the screen's resolution
    // under its tile (its number, and its own scale when each filter has
    // one); a row a filter in channels mode is labelled in the line above.
    const layout = kernelGrid(c, r, !perChannel, $('k-per').checked);
    c.dataset.tiles = r.tiles;
    ins.kernels = { ...r, ...layout };
    const how = {
      rgb: 'each filter as colour (its 3 input channels; grey is zero)',
      channels: `one row a filter${r.shown < r.filters ? ` (the first ${r.shown})` : ''}, one tile an input channel${r.perFilter < r.inputs ? ` (the first ${r.perFilter} of ${r.inputs})` : ''}; red positive, blue negative, white zero`,
      magnitude: `each filter as Σ|w| over its ${r.inputs} input channels`,
    }[r.mode];
    $('k-info').textContent = `${r.layer}: ${r.filters} filters of ${r.inputs}×${r.kh}×${r.kw}${r.group > 1 ? ` (${r.group} groups)` : ''}, drawn ${how}; ${$('k-per').checked ? 'each filter on its own scale' : `one scale for all, ±${fmtNum(r.scale)}`}. Click a filter for its numbers.`;
    const per = $('k-per').checked;
    const s = per ? 1 : r.scale;
    const scales = r.stats.slice(0, r.shown).map((st) => st.scale);
    const perNote = per ? ` Each filter is on its own scale: ±1 is that filter's largest ${r.mode === 'magnitude' ? 'Σ|w|' : '|w|'} (from ${num(Math.min(...scales))} to ${num(Math.max(...scales))} across the filters; click a filter for its own).` : '';
    const kb = r.mode === 'rgb'
      ? bar('k-bar', signedOpts(s, { colormap: 'gray', low: 'negative', high: 'positive', title: 'Each pixel: the filter\'s weights on the red, green and blue of the input', note: `Mid grey = 0 on all three (the filter ignores that spot); a colour means it weighs red, green and blue differently: a red pixel responds to red light there, a cyan one to its absence.${perNote}` }))
      : r.mode === 'magnitude'
        ? bar('k-bar', signedOpts(s, { low: '', high: 'large', title: `Each pixel: Σ|w| over the filter's ${r.inputs} input channels`, note: `White = 0 (the filter ignores that spot in every input channel); Σ|w| is never negative, so only the white-to-red half is used.${perNote}` }))
        : bar('k-bar', signedOpts(s, { low: 'negative', high: 'positive', title: 'Each pixel: one weight', note: `White = 0 (that input is ignored there); red adds the input to the output, blue subtracts it.${perNote}` }));
    if (per) relabel(kb, '−1 × its largest', '+1 × its largest', '0');
    $('k-detail').textContent = '';
    done('kernels', { layer: r.layer, mode: r.mode, scale: r.scale, filters: r.filters, shown: r.shown, tiles: r.tiles, perFilter: r.perFilter, cols: r.cols, cellWidth: layout.cellWidth, cellHeight: layout.cellHeight, pad: layout.pad, labelHeight: layout.labelHeight, labels: layout.labels, width: c.width, height: c.height });
  }

  // kernelGrid redraws the engine's kernel grid (bitmap r.image, tiles
  // r.cellWidth×r.cellHeight r.pad apart) enlarged by a whole factor, with
  // room under each tile for its label, in canvas pixels at the screen's
  // resolution. It returns the new layout: tile i at column i % cols, row
  // ⌊i / cols⌋, each cellWidth×cellHeight (the label's labelHeight at its
  // bottom) with pad pixels around.
  function kernelGrid(c, r, labels, perFilter) {
    const bmp = r.image;
    const dpr = Math.max(1, Math.round(window.devicePixelRatio || 1));
    const zoom = Math.max(1, Math.min(3, Math.floor(720 / Math.max(1, bmp.width))));
    const cw = r.cellWidth * zoom, ch = r.cellHeight * zoom;
    const labelHeight = labels ? 16 : 0, pad = 4;
    const rows = Math.ceil(r.tiles / r.cols);
    const W = r.cols * cw + (r.cols + 1) * pad, H = rows * (ch + labelHeight) + (rows + 1) * pad;
    c.width = W * dpr;
    c.height = H * dpr;
    c.style.width = `${W}px`;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#282828';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.imageSmoothingEnabled = false;
    ctx.font = `${11 * dpr}px system-ui, -apple-system, "Segoe UI", sans-serif`;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    ctx.fillStyle = '#e8e8e8';
    const texts = [];
    for (let i = 0; i < r.tiles; i++) {
      const col = i % r.cols, row = Math.floor(i / r.cols);
      const sx = r.pad + col * (r.cellWidth + r.pad), sy = r.pad + row * (r.cellHeight + r.pad);
      const dx = pad + col * (cw + pad), dy = pad + row * (ch + labelHeight + pad);
      ctx.drawImage(bmp, sx, sy, r.cellWidth, r.cellHeight, dx * dpr, dy * dpr, cw * dpr, ch * dpr);
      if (labels) {
        const f = Math.floor(i / r.perFilter);
        const t = perFilter && r.stats[f] ? `${f} ±${num(r.stats[f].scale)}` : String(f);
        ctx.fillText(t, (dx + cw / 2) * dpr, (dy + ch + labelHeight / 2 + 1) * dpr, cw * dpr);
        texts.push(t);
      }
    }
    bmp.close();
    return { cellWidth: cw * dpr, cellHeight: (ch + labelHeight) * dpr, pad: pad * dpr, labelHeight: labelHeight * dpr, labels: texts };
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
    const deadCount = r.stats.filter(dead).length;
    let lo = Infinity, hi = -Infinity;
    for (const st of r.stats) { lo = Math.min(lo, st.min); hi = Math.max(hi, st.max); }
    const big = Math.max(-lo, hi);
    // Flat gradients (one value a map) are drawn on one shared scale, so
    // that their colours compare.
    const flat = grad ? whyFlat(state.model, r.layer, r.stats, r.height, r.width) : '';
    const shared = $('m-shared').checked || !!flat;
    r.order.forEach((c, k) => {
      const s = r.stats[c];
      const range = dead(s) ? '0 everywhere' : constant(s) ? `all ${num(s.max)}` : grad ? `±${num(Math.max(-s.min, s.max))}` : `${num(s.min)}…${num(s.max)}`;
      const fig = figure(r.tiles[k], $('m-shared').checked ? `#${c}` : `#${c} ${range}`);
      if (dead(s)) fig.classList.add('dead');
      if (flat && !$('m-shared').checked) paintFlat(fig.querySelector('canvas'), s.max, big);
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
    // The colour scale: one bar for all tiles, or the colours with each
    // tile's own range under it.
    if (grad) {
      const b = bar('m-bar', signedOpts(shared ? big : 1, {
        low: 'lowers the score', high: 'raises the score',
        title: `∂ score of ${targetText(r.class)} / ∂ activation${flat ? ': every map is flat, so one scale for all tiles' : shared ? ': one scale for all tiles' : ': each tile on its own scale (its ± under it)'}`,
        note: 'White = 0: a small change of the activation there would not change the score.',
      }));
      if (!shared) relabel(b, '− the tile\'s ±', '+ the tile\'s ±', '0');
    } else {
      const b = bar('m-bar', {
        colormap: 'viridis', min: shared ? lo : 0, max: shared ? hi : 1, low: 'lowest', high: 'highest',
        title: `Activation${shared ? ': one scale for all tiles' : ': each tile on its own scale (its range under it)'}`,
        note: `${lo >= 0 ? 'After a ReLU, 0 means the channel does not respond there. ' : ''}${shared ? 'A dark tile is near the layer\'s lowest value everywhere.' : 'A tile of one flat colour has the same value everywhere.'}`,
      });
      if (!shared) relabel(b, 'the tile\'s lowest', 'the tile\'s highest');
    }
    // Why a map is empty or flat.
    const notes = [];
    if (!grad && deadCount) notes.push(`${deadCount === r.channels ? 'Every channel' : `${deadCount} of the ${r.channels} channels`} ${deadCount === 1 ? 'is' : 'are'} 0 everywhere (marked “0 everywhere”): ${deadCount === 1 ? 'this channel is' : 'these channels are'} not active anywhere in this image (ReLU output 0).`);
    if (grad) {
      if (flat) notes.push(flat);
      else if (r.stats.every(dead)) notes.push(`The gradient is 0 everywhere: nothing at this layer changes the score of ${targetText(r.class)} (for example a ReLU or max-pool after it passes no gradient here).`);
    }
    $('m-note').textContent = notes.join(' ');
    $('m-note').hidden = !notes.length;
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
    if (r.grad) {
      bar('m-cells-bar', signedOpts(Math.max(-s.min, s.max), { low: 'lowers the score', high: 'raises the score', title: `∂ score / ∂ activation of channel ${c}`, note: 'White = 0: the score does not depend on that position.' }));
    } else {
      bar('m-cells-bar', { colormap: state.colormap, min: s.min, max: s.max, low: 'lowest', high: 'highest', title: `Activation of channel ${c}`, note: s.min >= 0 ? '0 = the channel does not respond there (ReLU output 0).' : '' });
    }
    const cn = dead(s) ? 'This channel is not active anywhere in this image (ReLU output 0): its map is empty, so it adds nothing to Grad-CAM whatever its weight.'
      : constant(s) ? `This ${r.grad ? 'gradient' : 'channel'} has the same value, ${num(s.max)}, at every position${r.grad ? ': every position counts equally for the score' : ''}.` : '';
    $('m-channel-note').textContent = cn;
    $('m-channel-note').hidden = !cn;
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
    const r = await api.gradcamBreakdown(input.id, { layer: state.layer, ...target(), top: Number($('b-top').value), tile: 96, colormap: state.colormap, alpha: state.alpha });
    if (state.input !== input) { closeAll([r.maps, r.grads, r.scaled, r.sum, r.relu, r.overlay]); return; }
    const cls = targetText(r.class);
    // 1. A: each top channel on its own scale
    const strip = (id, bmps, cap, barOf) => {
      const el = $(id);
      el.textContent = '';
      r.top.forEach((c, k) => {
        const fig = figure(bmps[k], cap(c, k));
        fig.dataset.channel = c;
        fig.append(miniBar(barOf(c, k)));
        el.append(fig);
      });
    };
    strip('b-maps', r.maps, (c) => `A${c}`, (c, k) => ({ colormap: 'viridis', min: r.mapLo[k], max: r.mapHi[k] }));
    // 2. ∂y/∂A
    // Flat gradients (one value a map) share one scale, so that their
    // colours compare; others each have their own.
    const stats = r.gradMin.map((lo, k) => ({ min: lo, max: r.gradMax[k] }));
    const flat = whyFlat(state.model, r.layer, stats, r.height, r.width);
    const gs = flatScales(r, !!flat);
    strip('b-grads', r.grads, (c, k) => (constant(stats[k]) ? `∂y/∂A${c} = ${num(r.gradMax[k])} everywhere` : `∂y/∂A${c}`),
      (c, k) => signedOpts(gs[k]));
    if (flat) [...$('b-grads').querySelectorAll('figure > canvas')].forEach((cv, k) => paintFlat(cv, r.gradMax[k], gs[k]));
    $('b-grad-text').textContent = `How much y, the score of ${cls}, would change if one value of the map grew: red raises the score, blue lowers it, white is 0.` +
      (flat ? ' These maps are flat, so they share one colour scale: the deeper the red, the larger the value.' : '');
    $('b-grad-note').textContent = flat;
    $('b-grad-note').hidden = !flat;
    // 3. the weights, one bar a channel
    const bars = $('b-bars');
    bars.textContent = '';
    const big = Math.max(...r.weights.map(Math.abs)) || 1;
    const top = new Set(r.top);
    r.weights.forEach((w, c) => {
      const b = document.createElement('div');
      b.className = 'bar' + (w < 0 ? ' neg' : '') + (top.has(c) ? ' top' : '');
      b.dataset.channel = c;
      b.title = `channel ${c}: weight ${fmtNum(w)}${top.has(c) ? ' (drawn in the other steps)' : ''}`;
      const fill = document.createElement('span');
      fill.style.height = `${(50 * Math.abs(w) / big).toFixed(2)}%`;
      b.append(fill);
      b.onclick = () => { $('m-what').value = 'act'; ins.channel = c; open('maps'); };
      bars.append(b);
    });
    $('b-bars-scale').textContent = `Channels 0 to ${r.channels - 1} from left to right; a full bar is w = ±${num(big)}, the middle line is 0. Drawn below: ` +
      r.top.map((c) => `w${c} = ${num(r.weights[c])}`).join(', ') + '.';
    // 4. w·A
    strip('b-rows', r.scaled, (c) => `${num(r.weights[c])} × A${c}`, (c, k) => signedOpts(r.scaledScale[k]));
    // 5–7. the sum, its ReLU and the heatmap over the picture
    drawBitmap($('b-sum'), r.sum);
    drawBitmap($('b-relu'), r.relu);
    drawBitmap($('b-overlay'), r.overlay);
    $('b-sum-cap').textContent = `Σ over all ${r.channels} channels: from ${num(r.sumMin)} to ${num(r.sumMax)}`;
    $('b-sum-text').textContent = `Adding every channel's weighted map (all ${r.channels}, not only the ${r.top.length} shown) gives one ${r.height}×${r.width} map: red where the evidence for ${cls} outweighs the evidence against it, blue where it does not.`;
    const sc = r.scale;
    bar('b-sum-bar', signedOpts(sc, { low: 'against', high: 'for', note: `White = 0: the channels' evidence for and against ${cls} cancels there.` }));
    bar('b-relu-bar', signedOpts(sc, { low: '', high: 'for', note: 'After the ReLU nothing is negative: white = 0 = no positive evidence.' }));
    bar('b-overlay-bar', {
      colormap: state.colormap, min: 0, max: 1, low: 'none', high: 'strongest',
      note: r.heatMax > 0 ? `1 = the largest value of ReLU(Σ w·A), ${num(r.heatMax)}; 0 = no positive evidence for ${cls}.` : `The map is 0 everywhere: no positive evidence for ${cls} at this layer.`,
    });
    $('b-overlay-cap').textContent = `Grad-CAM for ${cls} at ${r.layer} (${r.height}×${r.width}), scaled to 0…1 and laid over the image`;
    const empty = !(r.heatMax > 0);
    $('b-relu-note').textContent = empty ? `No positive evidence for ${cls} at this layer: Σ w·A is ${r.sumMax < 0 ? 'negative' : 'zero or negative'} everywhere, so the ReLU leaves nothing and Grad-CAM's map is empty. Try another layer or class.` : '';
    $('b-relu-note').hidden = !empty;
    $('b-info').textContent = `${cls} (score y = ${fmtNum(r.score)}) at ${r.layer}: ${r.channels} channels of ${r.height}×${r.width}. ` +
      `The ${r.top.length} channels with the largest weights are drawn; they carry ${(100 * r.topShare).toFixed(0)}% of Σ|w·A|.`;
    done('breakdown', { layer: r.layer, class: r.class, channels: r.channels, weights: r.weights, top: r.top, topShare: r.topShare, score: r.score, sumMin: r.sumMin, sumMax: r.sumMax,
      heatMax: r.heatMax, mapLo: r.mapLo, mapHi: r.mapHi, gradMin: r.gradMin, gradMax: r.gradMax, gradScale: gs, scaledScale: r.scaledScale, scale: r.scale, flat: !!flat, empty });
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
    // The channels run on the pool of workers (api.maximizeGallery); each
    // picture is the one a single worker draws, put in its channel's place
    // as it comes.
    const figs = [];
    for (let c = 0; c < n; c++) {
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.width = $('x-canvas').width;
      canvas.height = $('x-canvas').height;
      const cap = document.createElement('figcaption');
      cap.textContent = `#${c} · …`;
      fig.append(canvas, cap);
      fig.onclick = () => { $('x-objective').value = 'channel'; $('x-channel').value = c; };
      figs.push(fig);
    }
    const stepsDone = new Map();
    const job = api.maximizeGallery({
      ...maxOptions(), layer, channels: [...Array(n).keys()], every: 1 << 30,
      onStep: (c, k) => {
        stepsDone.set(c, k);
        let sum = 0;
        for (const v of stepsDone.values()) sum += v;
        pr.value = sum;
      },
      onResult: (c, r) => {
        const fig = figs[c];
        const cell = fig.querySelector('canvas');
        drawBitmap(cell, r.image);
        const big = $('x-canvas');
        big.width = cell.width;
        big.height = cell.height;
        big.getContext('2d').drawImage(cell, 0, 0);
        fig.querySelector('figcaption').textContent = `#${c} · ${fmtNum(r.final)}`;
        fig.title = `channel ${c} of ${layer}: objective ${fmtNum(r.start)} → ${fmtNum(r.final)}`;
        // The grid keeps channel order: a figure goes in once those before it are in.
        while (made < n && figs[made].title) grid.append(figs[made++]);
        info.gallery = made;
      },
    });
    ins.job = job;
    try {
      await job.promise;
      $('x-info').textContent = `gallery: ${made} of ${n} channels of ${layer}`;
      done('gallery', { layer, channels: made, of: n, workers: Math.min(api.workers(), n) });
    } catch (err) {
      if (err.code !== 'cancelled') fail('Activation maximisation', err);
      $('x-info').textContent = `gallery: ${made} of ${n} channels of ${layer} (stopped)`;
    } finally {
      if (ins.job === job) ins.job = null;
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
    $('r-threshold-out').textContent = th.toFixed(2);
    // The chance baseline (4 shuffles) when the layer is small enough to
    // search 4 more times quickly.
    const conv = (state.model.convLayers || []).find((c) => c.output === layer);
    const size = conv ? conv.shape[0] * conv.shape[0] * conv.shape[1] * conv.shape[2] * conv.shape[3] : Infinity;
    const r = await api.rotations({ model: state.model, layer, threshold: th, max: 24, chance: size <= 2e7 ? 4 : 0, tile: 96 });
    const list = $('r-list');
    list.textContent = '';
    r.tiles.forEach((three, k) => {
      const p = r.pairs[k];
      const li = document.createElement('li');
      const caps = [`filter ${p.a}`, `filter ${p.a}, ${TRANSFORM_TEXT[p.transform] || p.transform}`, `filter ${p.b}`];
      const figs = three.map((bmp, i) => {
        const f = figure(bmp, caps[i], 'r-fig');
        f.querySelector('canvas').classList.add('pixelated');
        return f;
      });
      const eq = document.createElement('span');
      eq.className = 'op';
      eq.textContent = '≈';
      const t = document.createElement('p');
      t.className = 'r-text';
      t.textContent = `Filter ${p.b} looks like filter ${p.a} ${TRANSFORM_TEXT[p.transform] || p.transform}: similarity ${p.score.toFixed(2)} (1 = identical), against ${p.identity.toFixed(2)} without the ${p.transform.startsWith('rot') ? 'turn' : 'mirror'}.`;
      const row = document.createElement('div');
      row.className = 'r-row';
      row.append(figs[0], figs[1], eq, figs[2]);
      li.append(row, t);
      list.append(li);
    });
    const s = r.scales.length ? Math.max(...r.scales) : 1;
    if (r.tiles.length) {
      bar('r-bar', r.mode === 'rgb'
        ? signedOpts(s, { colormap: 'gray', low: 'negative', high: 'positive', title: 'Each pixel: the filter\'s weights on the red, green and blue of the input (one scale for the layer)', note: 'Mid grey = 0 on all three: the filter ignores that spot.' })
        : signedOpts(s, { high: 'large', title: 'Each pixel: Σ|w| over the input channels (one scale for the layer)', note: 'White = 0: the filter ignores that spot; Σ|w| is never negative, so only the white-to-red half is used.' }));
    } else bar('r-bar', null);
    const sq = r.kh === r.kw;
    const chance = r.chance >= 0 ? ` With each filter's weights shuffled, ${r.chance.toFixed(1)} pairs pass on average: that many are chance.` : '';
    $('r-info').textContent = r.pairs.length
      ? `${r.pairs.length} pair${r.pairs.length > 1 ? 's' : ''} of the ${r.filters} filters (${r.kh}×${r.kw}) of ${r.layer} match under a ${sq ? 'rotation by 90°, 180° or 270° or a flip' : '180° rotation or a flip'} with cosine similarity ≥ ${th.toFixed(2)}, clearly better than untransformed` +
        (r.pairs.length > r.tiles.length ? `; the best ${r.tiles.length} are drawn` : '') + `. Each row: filter A, A turned or mirrored, and filter B that it resembles.${chance}`
      : `No pair of the ${r.filters} filters of ${r.layer} matches under a rotation or flip with similarity ≥ ${th.toFixed(2)}: lower the threshold.${chance}`;
    done('rotations', { layer: r.layer, filters: r.filters, threshold: r.threshold, pairs: r.pairs, drawn: r.tiles.length, chance: r.chance, mode: r.mode, scales: r.scales });
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
    const r = await api.poolingBackward(input.id, { layer, channel: ch === '' ? null : Number(ch), ...target(), tile: 192 });
    if (state.input !== input) { closeAll(r.tiles); return; }
    $('p-channel').max = r.channels - 1;
    $('p-channel').placeholder = `auto (${r.best})`;
    const cls = targetText(r.class);
    // The three pictures, labelled in HTML, on two scales.
    const figs = $('p-figs');
    figs.textContent = '';
    const caps = [
      `1 · The activation entering the pool: channel ${r.channel}, ${r.height}×${r.width}`,
      `2 · The gradient arriving from above: ${r.outHeight}×${r.outWidth}, each value drawn over the ${r.op.startsWith('Global') ? 'whole map' : 'window'} it came from`,
      `3 · The gradient the pool passes below: ${r.height}×${r.width}`,
    ];
    r.tiles.forEach((bmp, i) => {
      const f = figure(bmp, caps[i], 'p-fig');
      f.querySelector('canvas').classList.add('pixelated');
      figs.append(f);
    });
    const bars = $('p-bars');
    bars.textContent = '';
    bars.append(colorbar({ colormap: 'viridis', min: r.inLo, max: r.inHi, low: 'lowest', high: 'highest', title: '1 · activation', note: r.inLo >= 0 ? '0 = the channel does not respond there.' : '' }));
    bars.append(colorbar(signedOpts(r.scale, { low: 'lowers', high: 'raises', title: `2 and 3 · ∂ score of ${cls} / ∂ value, one scale`, note: 'White = 0: no gradient reaches that position.' })));
    const fan = r.fan;
    const why = {
      MaxPool: `A max-pool passes each output's gradient to the one input that was its window's maximum; the other inputs get zero. So below there are at most as many non-zero gradients as above (each output covers ${fan} inputs): the gradient is sparse.`,
      GlobalMaxPool: `A global max-pool passes each channel's gradient to the one position that was the channel's maximum; the other ${r.height * r.width - 1} get zero.`,
      AveragePool: `An average pool shares each output's gradient equally among the ${fan} inputs of its window (1/${fan} each), so every input under a gradient gets a share: dense, and smaller.`,
      GlobalAveragePool: `Global average pooling spreads each channel's one gradient evenly over all ${r.height}×${r.width} positions: every position gets 1/${r.height * r.width} of it.`,
    }[r.op] || '';
    $('p-info').textContent = `${r.node} (${r.op}): ${r.channels}×${r.height}×${r.width} below → ${r.channels}×${r.outHeight}×${r.outWidth} above, gradient of ${cls}. ${why}`;
    const win = poolWindow(r);
    const total = (n) => n.toLocaleString('en');
    $('p-stats').textContent = `Non-zero gradients, all channels: above ${total(r.nonzeroAbove)} of ${total(r.channels * r.outHeight * r.outWidth)}, ` +
      `below ${total(r.nonzeroBelow)} of ${total(r.channels * r.height * r.width)}. ` +
      `Channel ${r.channel}${r.channel === r.best ? ' (the one with the most gradient)' : ''}: above ${r.channelAbove}, below ${r.channelBelow}; ` +
      `sum of the gradient above ${fmtNum(r.sumAbove)}, below ${fmtNum(r.sumBelow)}.`;
    done('pooling', { op: r.op, layer: r.above, channel: r.channel, best: r.best, fan: r.fan, channels: r.channels, nonzeroAbove: r.nonzeroAbove, nonzeroBelow: r.nonzeroBelow, channelAbove: r.channelAbove, channelBelow: r.channelBelow, sumAbove: r.sumAbove, sumBelow: r.sumBelow,
      inLo: r.inLo, inHi: r.inHi, scale: r.scale, window: win });
  }

  // poolWindow shows one window up close, as numbers: the output cell with
  // the largest gradient above, the inputs under it and what each gets.
  function poolWindow(r) {
    const box = $('p-window');
    box.textContent = '';
    const k = r.kernel.slice(-2), st = r.strides.slice(-2);
    const [kh, kw] = k.length === 2 ? k : [r.height, r.width];
    const [sh, sw] = st.length === 2 ? st : [kh, kw];
    if (kh * kw > 64) return null;
    // The output cell with the largest gradient, among the windows whose
    // inputs are not all equal (a window of zeros shows nothing).
    const varied = (i) => {
      const y0 = Math.floor(i / r.outWidth) * sh, x0 = (i % r.outWidth) * sw;
      let lo = Infinity, hi = -Infinity;
      for (let y = y0; y < Math.min(y0 + kh, r.height); y++) {
        for (let x = x0; x < Math.min(x0 + kw, r.width); x++) { const v = r.input[y * r.width + x]; lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
      return hi > lo;
    };
    let o = -1;
    r.gradAbove.forEach((g, i) => { if ((o < 0 || Math.abs(g) > Math.abs(r.gradAbove[o])) && varied(i)) o = i; });
    if (o < 0) r.gradAbove.forEach((g, i) => { if (o < 0 || Math.abs(g) > Math.abs(r.gradAbove[o])) o = i; });
    const oy = Math.floor(o / r.outWidth), ox = o % r.outWidth;
    const y0 = oy * sh, x0 = ox * sw;
    const g = r.gradAbove[o];
    let best = -1, bestV = -Infinity;
    for (let y = y0; y < Math.min(y0 + kh, r.height); y++) {
      for (let x = x0; x < Math.min(x0 + kw, r.width); x++) {
        const v = r.input[y * r.width + x];
        if (v > bestV) { bestV = v; best = y * r.width + x; }
      }
    }
    const table = (title, values, mark) => {
      const fig = document.createElement('figure');
      const t = document.createElement('table');
      t.className = 'p-table';
      for (let y = y0; y < Math.min(y0 + kh, r.height); y++) {
        const tr = document.createElement('tr');
        for (let x = x0; x < Math.min(x0 + kw, r.width); x++) {
          const td = document.createElement('td');
          td.textContent = num(values[y * r.width + x]);
          if (mark && y * r.width + x === best) td.className = 'max';
          tr.append(td);
        }
        t.append(tr);
      }
      const cap = document.createElement('figcaption');
      cap.textContent = title;
      fig.append(t, cap);
      return fig;
    };
    const h = document.createElement('h3');
    h.textContent = `One window up close: output (${ox}, ${oy}) of channel ${r.channel}, where the gradient is largest`;
    const arrow = (text) => { const s = document.createElement('span'); s.className = 'op'; s.textContent = text; return s; };
    const above = document.createElement('figure');
    const one = document.createElement('table');
    one.className = 'p-table';
    one.innerHTML = '<tr><td></td></tr>';
    one.querySelector('td').textContent = num(g);
    const c2 = document.createElement('figcaption');
    c2.textContent = 'gradient above';
    above.append(one, c2);
    const isMax = r.op.endsWith('MaxPool');
    const row = document.createElement('div');
    row.className = 'p-row';
    row.append(table(`inputs in the ${kh}×${kw} window${isMax ? ' (largest outlined)' : ''}`, r.input, isMax), arrow('→ pool →'), above, arrow('→ backward →'), table('gradient below', r.gradBelow, isMax));
    const p = document.createElement('p');
    p.className = 'small';
    p.textContent = isMax
      ? `The window's largest input, ${num(bestV)}, was the one passed up, so it alone gets the gradient ${num(g)}; the other ${kh * kw - 1} get 0.`
      : `Every input of the window counted 1/${kh * kw} in the average, so each gets ${num(g)} / ${kh * kw} = ${num(g / (kh * kw))}.`;
    box.append(h, row, p);
    return { x: ox, y: oy, gradient: g, kh, kw, max: isMax ? bestV : null };
  }
  $('p-layer').onchange = () => { $('p-channel').value = ''; refresh(); };
  $('p-channel').onchange = refresh;

  return { changed, refresh, open };
}
