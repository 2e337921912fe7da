// The cnnlens page: wires the controls to the engine (cnnlens.js).
import * as api from './cnnlens.js';
import { initInside } from './inside.js';
import { colorbar, place, absMax, num } from './colorbar.js';

window.cnnlens = api;

const $ = (id) => document.getElementById(id);

const METHOD_NAMES = {
  gradcam: 'Grad-CAM',
  hirescam: 'HiResCAM',
  'gradcam-elementwise': 'Grad-CAM element-wise',
  gradcampp: 'Grad-CAM++',
  xgradcam: 'XGrad-CAM',
  layercam: 'LayerCAM',
  eigencam: 'EigenCAM',
  eigengradcam: 'EigenGrad-CAM',
  scorecam: 'Score-CAM',
  ablationcam: 'AblationCAM',
  fullgrad: 'FullGrad',
  cam: 'CAM (class weights)',
  guidedbackprop: 'Guided backprop',
  'guided-gradcam': 'Guided Grad-CAM',
  saliency: 'Saliency (gradient)',
  smoothgrad: 'SmoothGrad',
  'integrated-gradients': 'Integrated Gradients',
};
const METHOD_ORDER = Object.keys(METHOD_NAMES);
const methodName = (m) => (DESCRIPTIONS.get(m) || {}).name || METHOD_NAMES[m] || m;

// DESCRIPTIONS: each method's name, group, one-line description, formula and
// paper, from web/methods.json (the table docs/methods.md is made from too).
const DESCRIPTIONS = new Map();
const descriptionsReady = fetch(api.assetURL('methods.json'))
  .then((r) => (r.ok ? r.json() : []))
  .then((list) => { for (const d of list) DESCRIPTIONS.set(d.id, d); })
  .catch(() => {});
// The methods that explain at the input rather than at a layer.
const INPUT_METHODS = new Set(['fullgrad', 'guidedbackprop', 'guided-gradcam', 'saliency', 'smoothgrad', 'integrated-gradients',
  'occlusion', 'featureablation', 'inputxgradient', 'deconvolution', 'deeplift', 'lrp', 'gradientshap', 'smoothgrad-sq', 'vargrad']);
function methodGroup(m) {
  const d = DESCRIPTIONS.get(m);
  if (d && d.group) return d.group;
  return INPUT_METHODS.has(m) ? 'input' : 'layer';
}
// usesLayer: the method reads the chosen layer (guided Grad-CAM does, for its Grad-CAM half).
const usesLayer = (m) => methodGroup(m) === 'layer' || m === 'guided-gradcam';

// page is what the tests read: counters and the last run.
const page = {
  renders: 0,
  errors: [],
  lastRun: null,
  firstHeatmapMs: null,
  marks: {},
  state: null,
};
window.cnnlensPage = page;

const state = {
  manifest: null,
  model: null,        // ModelInfo
  bundled: null,      // the bundled model's manifest entry, if any
  source: null,       // {kind: 'url'|'blob'|'imagedata'|'tensor', value, name, sample?}
  input: null,        // InputInfo of the current input
  base: null,         // ImageBitmap of the input picture
  method: 'gradcam',
  layer: '',
  classIndex: -1,
  contrast: '',
  augSmooth: false,
  eigenSmooth: false,
  target: 'logit',    // the score explained: logit, softmax or rest
  colormap: 'jet',
  alpha: 0.5,
  view: 'overlay',
  result: null,       // last cam result (maps kept for re-rendering)
  grid: [],           // [{method, result, canvas, caption}]
};
page.state = state;

function mark(name) {
  page.marks[name] = performance.now();
  try { performance.mark('cnnlens-' + name); } catch (_) { /* old browsers */ }
}

// ---------------------------------------------------------------- messages

let messageTimer = 0;
function showError(text) {
  console.warn('cnnlens:', text);
  page.errors.push(text);
  const box = $('message');
  box.className = '';
  $('message-text').textContent = text;
  box.hidden = false;
  clearTimeout(messageTimer);
}
function showInfo(text, ms = 4000) {
  const box = $('message');
  box.className = 'info';
  $('message-text').textContent = text;
  box.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { box.hidden = true; }, ms);
}
function clearMessage() { $('message').hidden = true; }
// clearError hides an error once a later request has succeeded (an info
// message stays for its time).
function clearError() {
  const box = $('message');
  if (!box.hidden && box.className === '') box.hidden = true;
}
$('message-close').onclick = clearMessage;

function setStatus(text) { $('status').textContent = text; }

// The "Inside the network" views (inside.js) follow the model, image,
// class, layer and colormap chosen here.
const inside = initInside({ state, page, showError, labelOf });

// ---------------------------------------------------------------- drawing

function drawBitmap(canvas, bmp) {
  if (!bmp) return;
  canvas.width = bmp.width;
  canvas.height = bmp.height;
  canvas.getContext('2d').drawImage(bmp, 0, 0);
  bmp.close();
}

function drawResult(res) {
  previewGen++; // a preview still on its way is older than this map
  dropOpening();
  drawBitmap($('overlay'), res.overlay);
  drawBitmap($('heat'), res.heat);
  const layerMap = res.raw && res.rawWidth > 0 && methodGroup(res.method) === 'layer';
  if (res.rawImage && layerMap) {
    drawBitmap($('raw'), res.rawImage);
    $('raw-caption').textContent = `the map at the layer, ${res.rawWidth}×${res.rawHeight}, before ReLU and upsampling`;
  } else {
    if (res.rawImage) res.rawImage.close();
    const c = $('raw');
    c.getContext('2d').clearRect(0, 0, c.width, c.height);
    $('raw-caption').textContent = 'no layer map: this method works on the input pixels';
  }
  drawBars(res, layerMap);
  page.renders++;
  document.body.dataset.renders = page.renders;
}

// targetText names what was explained: "star", or "star rather than circle".
function targetText(res) {
  if (state.contrast !== '') return `${labelOf(res.classIndex)} rather than ${labelOf(Number(state.contrast))}`;
  const score = { softmax: ' (its probability)', rest: ' (its ReST score)' }[state.target] || '';
  return labelOf(res.classIndex) + score;
}

// drawBars puts a colour bar under each map, saying what its colours mean.
function drawBars(res, layerMap) {
  const what = targetText(res);
  if (res.channels === 3) {
    const note = 'The gradient itself, its three channels shown as red, green and blue: grey is 0, brighter or darker means a larger gradient.';
    const bar = () => colorbar({ colormap: 'gray', min: -1, max: 1, signed: true, low: '', high: '', note, title: 'colours: the input gradient, scaled' });
    place($('cbar-main'), bar());
    place($('cbar-heat'), bar());
    place($('cbar-raw'), null);
    return;
  }
  const layer = methodGroup(res.method) === 'layer';
  const rawMax = layerMap ? Math.max(...res.raw.subarray(0, res.rawWidth * res.rawHeight)) : NaN;
  const note = layer
    ? `0 = no evidence for ${what}, 1 = the strongest evidence${Number.isFinite(rawMax) && rawMax > 0 ? ` (Σ w·A = ${num(rawMax)} at the layer)` : ''}.`
    : `0 = the pixels that matter least for ${what}, 1 = those that matter most.`;
  const bar = () => colorbar({ colormap: state.colormap, min: 0, max: 1, low: layer ? 'no evidence' : 'least', high: layer ? 'strongest' : 'most', note });
  place($('cbar-main'), bar());
  place($('cbar-heat'), bar());
  if (layerMap) {
    const s = absMax(res.raw.subarray(0, res.rawWidth * res.rawHeight));
    place($('cbar-raw'), colorbar({ colormap: 'rdbu', min: -s, max: s, signed: true, note: `red raises the score of ${what}, blue lowers it, white is 0; ReLU keeps only the red.` }));
  } else place($('cbar-raw'), null);
}

// explainLine is the sentence under the picture: what the map is, or why
// it is empty.
function explainLine(res) {
  const box = $('explain');
  const what = targetText(res);
  const m = methodName(res.method);
  const where = res.layer ? ` at ${layerTitle(res.layer, res)}` : '';
  let text, warn = false;
  let lo = Infinity, hi = -Infinity;
  for (const v of res.cam) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const layerMap = res.raw && res.rawWidth > 0 && methodGroup(res.method) === 'layer';
  const rawMax = layerMap ? Math.max(...res.raw.subarray(0, res.rawWidth * res.rawHeight)) : NaN;
  if (layerMap && !(rawMax > 0) && res.method !== 'eigencam' && res.method !== 'eigengradcam') {
    warn = true;
    text = `No positive evidence for ${what}${where}: the weighted sum of the feature maps is ≤ 0 everywhere (largest ${num(rawMax)}), so ReLU leaves nothing and the map is empty. Try another layer or class.`;
  } else if (!(hi - lo > 1e-6)) {
    warn = true;
    text = `${m} for ${what}${where} is the same at every position, so it cannot point anywhere` + (res.rawWidth * res.rawHeight === 1 ? ': the layer is 1×1 (after global pooling).' : '.');
  } else if (res.method === 'eigencam') {
    text = `${m}${where}: the main pattern in the layer's feature maps, the same whatever the class.`;
  } else if (state.model.segmentation && methodGroup(res.method) === 'layer') {
    const region = state.segMask && state.segMask.classIndex === res.classIndex
      ? `the region you clicked (${state.segMask.pixels} output pixels)` : `every pixel predicted as ${what}`;
    text = `${m} for ${what}${where}, its scores summed over ${region}: where the evidence for ${what} there lies.`;
  } else if (methodGroup(res.method) === 'layer') {
    text = `${m} for ${what}${where}: where the evidence for ${what} lies.`;
  } else {
    text = `${m} for ${what}: which pixels of the image the score of ${what} depends on most.`;
  }
  box.textContent = text;
  box.classList.toggle('warn', warn);
  page.explain = text;
}

function drawBase() {
  if (!state.base) return;
  const c = $('input-canvas');
  c.width = state.base.width;
  c.height = state.base.height;
  c.getContext('2d').drawImage(state.base, 0, 0);
}

function fmt(ms) { return ms == null ? '–' : ms < 10 ? ms.toFixed(2) : ms.toFixed(1); }

function labelOf(i) {
  const labels = (state.model && state.model.labels) || [];
  return labels[i] != null && labels[i] !== '' ? labels[i] : `class ${i}`;
}

// ---------------------------------------------------------------- model

function modelInfoText(m) {
  const shape = m.inputShape.slice(1).join('×');
  const parts = [`input ${m.input} ${shape}`, `${m.classes} classes`];
  if (m.macs) parts.push(`${(m.macs / 1e6).toFixed(m.macs < 1e7 ? 2 : 0)} M multiply-adds`);
  parts.push(`opset ${m.opset}`);
  if (m.producer) parts.push(m.producer);
  const c = m.card || {};
  if (typeof c.test_accuracy === 'number') parts.push(`test accuracy ${(100 * c.test_accuracy).toFixed(1)}%`);
  return `${m.name}: ${parts.join(' · ')}`;
}

function fillModelUI() {
  const m = state.model;
  $('model-info').textContent = modelInfoText(m);
  const c = m.card || {};
  $('model-info').title = [c.architecture, c.data, c.test_set].filter(Boolean).join('\n');
  $('in-c').value = m.inputShape[1];
  $('in-h').value = m.inputShape[2];
  $('in-w').value = m.inputShape[3];
  $('in-mean').value = m.mean.map((v) => +v.toFixed(4)).join(', ');
  $('in-std').value = m.std.map((v) => +v.toFixed(4)).join(', ');
  const sel = $('model-select');
  sel.value = state.bundled ? state.bundled.name : '';

  state.layer = m.defaultLayer || m.suggestedLayer || '';
  state.layout = m.layerLayout || '';
  $('layout').value = state.layout;
  state.segMask = null;
  fillLayers();

  // Classes.
  for (const id of ['class', 'contrast']) {
    const s = $(id);
    s.textContent = '';
    const first = document.createElement('option');
    first.value = '';
    first.textContent = id === 'class' ? 'top-1 (predicted)' : '— (no contrast)';
    s.append(first);
    for (let i = 0; i < m.classes; i++) {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = `${i} · ${labelOf(i)}`;
      s.append(o);
    }
  }
  state.classIndex = -1;
  state.contrast = '';
  $('class').value = '';
  $('contrast').value = '';
  inside.changed('model');
}

// spatialLayer: a layer with a map over the image: N×C×H×W with H·W > 1,
// or, read as a transformer's tokens, N×T×C (auto does so for 3-D values).
const spatialLayer = (l) => {
  if (!l.shape) return false;
  const layout = state.layout || (state.model && state.model.layerLayout) || '';
  if (l.shape.length === 3) return layout === '' || layout === 'tokens' ? l.layout === 'tokens' || l.shape[1] > 1 : false;
  if (l.shape.length !== 4) return false;
  return layout === 'nhwc' ? l.shape[1] * l.shape[2] > 1 : l.shape[2] * l.shape[3] > 1;
};

// layerTitle names a layer the way a student reads it: "block 4 (16×16)"
// for /block4/relu/Relu_output_0, "layer 4.1 (7×7)" for ResNet's
// /layer4/layer4.1/relu_1/Relu_output_0, else the node's name.
function layerTitle(name, res) {
  if (!name) return '';
  const l = state.model && state.model.layers.find((x) => x.output === name);
  let title = '';
  for (const part of name.replace(/^\//, '').split('/')) {
    if (/^(block|layer|stage|features|encoder_layer|encoder|decoder|stem|backbone)[._-]?\d+([._]\d+)*$/i.test(part)) title = part;
  }
  title = title ? title.replace(/^([a-z_]+?)[._-]?(\d)/i, '$1 $2').replace(/_/g, ' ') : ((l && l.node) || name);
  // The map's size: as computed (a result), else from the shape and layout.
  if (res && res.layer === name && res.rawWidth > 0) return `${title} (${res.rawHeight}×${res.rawWidth})`;
  const sh = l && l.shape;
  const layout = state.layout || (state.model && state.model.layerLayout) || '';
  if (sh && sh.length === 4) return title + (layout === 'nhwc' ? ` (${sh[1]}×${sh[2]})` : ` (${sh[2]}×${sh[3]})`);
  return title;
}

// fillLayers lists the layers the method can use first; a CAM needs a
// spatial map, so layers without one (a vector such as the logits) are
// listed greyed out with the reason. The views inside the network share
// the choice.
function fillLayers() {
  const m = state.model;
  if (!m) return;
  const layer = $('layer');
  layer.textContent = '';
  const cam = methodGroup(state.method) === 'layer';
  const spatial = document.createElement('optgroup');
  spatial.label = cam ? `layers with a spatial map (what ${methodName(state.method)} needs)` : 'layers with a spatial map';
  const other = document.createElement('optgroup');
  other.label = cam ? `not for ${methodName(state.method)}: no spatial map (a vector has no “where”)` : 'other layers';
  for (const l of m.layers) {
    const o = document.createElement('option');
    o.value = l.output;
    const shape = l.shape && l.shape.length ? l.shape.slice(1).join('×') : '?';
    o.textContent = `${l.node || l.output} · ${l.op} · ${shape}`;
    if (l.output === m.suggestedLayer) o.textContent += ' (suggested)';
    const ok = spatialLayer(l);
    if (!ok && cam) o.disabled = true;
    (ok ? spatial : other).append(o);
  }
  layer.append(spatial, other);
  layer.value = state.layer;
  layerNote();
}

function layerNote() {
  const m = state.method;
  let text = '';
  if (!usesLayer(m)) text = `${methodName(m)} explains at the input pixels: it does not use the layer (the layer still drives the views inside the network).`;
  else if (state.layer) text = `A ${methodName(m)} map has the layer's resolution, ${layerTitle(state.layer).replace(/^.*\((.*)\)$/, '$1') || '?'}, before it is upsampled to the image: later layers know more about classes, earlier ones see finer detail.`;
  $('layer-note').textContent = text;
}

// describeViews puts each view's sentence, formula and paper (from
// methods.json, id "view:NAME") at the top of its panel.
function describeViews() {
  const panels = { dff: 'dff' };
  for (const tab of document.querySelectorAll('#inside [role=tab][data-view]')) panels[tab.dataset.view] = tab.getAttribute('aria-controls');
  for (const [view, id] of Object.entries(panels)) {
    const d = DESCRIPTIONS.get('view:' + view);
    const panel = $(id);
    if (!d || !panel || panel.querySelector(':scope > .view-desc')) continue;
    const p = document.createElement('p');
    p.className = 'small method-desc view-desc';
    describeInto(p, d);
    panel.prepend(p);
    const tab = document.querySelector(`#inside [role=tab][data-view="${view}"]`);
    if (tab) tab.title = d.line;
  }
}

function describeMethod() {
  const box = $('method-desc');
  const d = DESCRIPTIONS.get(state.method);
  box.textContent = '';
  if (d) describeInto(box, d);
}

// describeInto writes a description: its sentence, formula and paper.
function describeInto(box, d) {
  box.append(d.line + ' ');
  const f = document.createElement('code');
  f.textContent = d.formula;
  const a = document.createElement('a');
  a.href = d.paper.url;
  a.target = '_blank';
  a.rel = 'noopener';
  a.textContent = d.paper.title;
  box.append(f, a);
}

function fillSamples() {
  const box = $('samples');
  box.textContent = '';
  const titles = { photos: 'photos', shapes: 'shapes scenes', fashion: 'Fashion-MNIST', scenes: 'scenes' };
  const groups = new Map();
  for (const s of state.manifest.samples) {
    if (!groups.has(s.group)) groups.set(s.group, []);
    groups.get(s.group).push(s);
  }
  for (const [group, samples] of groups) {
    const h = document.createElement('div');
    h.className = 'group small';
    h.textContent = titles[group] || group;
    box.append(h);
    for (const s of samples) {
      const b = document.createElement('button');
      b.type = 'button';
      b.title = s.name + (s.model ? ` (for the ${s.model} model)` : '');
      b.dataset.file = s.file;
      b.setAttribute('aria-pressed', 'false');
      const img = document.createElement('img');
      // Thumbnails load after the first heatmap, not against the engine.
      img.dataset.src = api.assetURL(s.file);
      img.alt = s.name;
      img.onload = () => { if (img.naturalWidth <= 64) img.style.imageRendering = 'pixelated'; };
      b.append(img);
      b.onclick = () => chooseSample(s);
      box.append(b);
    }
  }
}

function loadThumbnails() {
  for (const img of $('samples').querySelectorAll('img[data-src]')) {
    img.src = img.dataset.src;
    img.removeAttribute('data-src');
  }
}

function markSample() {
  for (const b of $('samples').querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(!!(state.source && state.source.sample && state.source.sample.file === b.dataset.file)));
  }
}

async function chooseSample(s) {
  // A sample made for another bundled model switches to that model.
  if (s.model && (!state.bundled || state.bundled.name !== s.model)) {
    const entry = state.manifest.models.find((m) => m.name === s.model);
    if (entry) {
      const ok = await switchModel(() => api.loadModel(api.assetURL(entry.file), entry.card || null), entry, false);
      if (!ok) return;
    }
  }
  await setSource({ kind: 'url', value: api.assetURL(s.file), name: s.name, sample: s });
}

async function switchModel(load, entry, reloadInput = true) {
  setStatus('Loading the model…');
  let info;
  try {
    info = await load();
  } catch (err) {
    showError(`Could not load the model: ${err.message}`);
    setStatus(state.model ? `Model: ${state.model.name}` : 'No model');
    return false;
  }
  const old = state.model;
  state.model = info;
  state.bundled = entry;
  state.pending = null;
  if (old && old.id !== info.id) api.disposeModel(old).catch(() => {});
  fillModelUI();
  setStatus(`Model: ${info.name}`);
  clearMessage();
  if (reloadInput && state.source) await setSource(state.source);
  return true;
}

// loadModelFiles takes a model and its labels; kind(file) says which a file
// is (by default .json and .txt are labels, and any other file is tried as
// ONNX, whatever its name).
async function loadModelFiles(files, kind = (f) => (/\.(json|txt)$/i.test(f.name) ? 'labels' : 'model')) {
  const onnx = files.find((f) => kind(f) === 'model');
  const cardFile = files.find((f) => kind(f) === 'labels');
  let card;
  if (cardFile) {
    try {
      card = await api.readLabels(cardFile);
    } catch (err) {
      showError(`Could not read ${cardFile.name}: ${err.message}`);
      return;
    }
  }
  if (!onnx) {
    if (card && state.pending) {
      state.pending.card = { ...(state.pending.card || {}), ...card };
      showInfo(`${cardFile.name}: kept for ${state.pending.file.name}; give its input size and click Apply.`, 8000);
    } else if (card) {
      await applyCard(card, cardFile.name);
    }
    return;
  }
  await loadOwnModel(onnx, card || null);
}

// loadOwnModel loads a model from a file. A model whose input size is not
// fixed waits (state.pending) for the size fields.
async function loadOwnModel(file, card) {
  setStatus('Loading the model…');
  let info;
  try {
    info = await api.loadModel(file, card);
  } catch (err) {
    if (err.code === 'dynamic_sizes') {
      state.pending = { file, card };
      $('preprocess').open = true;
      showError(`${file.name}: ${err.message}. Set C, H and W under “Input size and normalisation” and click Apply.`);
    } else {
      showError(`Could not load ${file.name}: ${err.message}`);
    }
    setStatus(state.model ? `Model: ${state.model.name}` : 'No model');
    return false;
  }
  state.pending = null;
  const ok = await switchModel(async () => info, null);
  if (ok && !card) {
    $('preprocess').open = true;
    const names = info.labelsFrom === 'imagenet'
      ? 'Its 1000 classes are named as ImageNet\'s (torchvision\'s order); give other labels if they are not'
      : 'Add its labels';
    showInfo(`Loaded ${file.name}. Check its input size and normalisation below the model. ${names} (a JSON card or list, or a text file with one label a line).`, 8000);
  }
  return ok;
}

async function applyCard(card, name) {
  try {
    state.model = await api.configureModel(state.model, card);
  } catch (err) {
    showError(`Could not apply ${name}: ${err.message}`);
    return;
  }
  const keep = { cls: state.classIndex, layer: state.layer };
  fillModelUI();
  if (keep.layer) { state.layer = keep.layer; $('layer').value = keep.layer; }
  showInfo(`${name}: ${card.labels ? card.labels.length + ' labels' : 'applied'}.`);
  if (state.source) await setSource(state.source);
}

function parseList(s) {
  const v = s.split(/[\s,]+/).filter(Boolean).map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw new Error(`"${s}" is not a list of numbers`);
  return v;
}

$('preprocess-apply').onclick = async () => {
  let card;
  try {
    card = {
      input_shape: [+$('in-c').value, +$('in-h').value, +$('in-w').value],
      mean: parseList($('in-mean').value),
      std: parseList($('in-std').value),
    };
  } catch (err) {
    showError(err.message);
    return;
  }
  if (state.pending) {
    await loadOwnModel(state.pending.file, { ...(state.pending.card || {}), ...card });
    return;
  }
  await applyCard(card, 'Input size and normalisation');
};
const presets = { 'preset-imagenet': [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]], 'preset-half': [[0.5], [0.5]], 'preset-none': [[0], [1]] };
for (const [id, [mean, std]] of Object.entries(presets)) {
  $(id).onclick = () => {
    const c = +$('in-c').value || 3;
    const rep = (v) => (v.length === c ? v : Array(c).fill(v[0])).join(', ');
    $('in-mean').value = rep(mean);
    $('in-std').value = rep(std);
  };
}

$('model-select').onchange = async () => {
  const entry = state.manifest.models.find((m) => m.name === $('model-select').value);
  if (!entry) return;
  const ok = await switchModel(() => api.loadModel(api.assetURL(entry.file), entry.card || null), entry, false);
  if (!ok) return;
  const s = state.manifest.samples.find((x) => x.model === entry.name);
  if (s && (!state.source || !state.source.sample || state.source.sample.model !== entry.name)) await setSource({ kind: 'url', value: api.assetURL(s.file), name: s.name, sample: s });
  else if (state.source) await setSource(state.source);
};
$('model-open').onclick = () => $('model-file').click();
$('labels-open').onclick = () => $('labels-file').click();
$('model-file').onchange = async (e) => { const f = [...e.target.files]; e.target.value = ''; await loadModelFiles(f); };
$('labels-file').onchange = async (e) => { const f = [...e.target.files]; e.target.value = ''; await loadModelFiles(f, () => 'labels'); };

// ---------------------------------------------------------------- input

async function setSource(source) {
  if (!state.model) return;
  // A new picture: the job in flight is for the old one, so stop it, and
  // show the new picture at once.
  if (pendingAsk) pendingAsk(false);
  if (running) { again = false; running.cancel(); }
  previewSource(source);
  setStatus('Reading the image…');
  let input;
  try {
    let src;
    if (source.kind === 'tensor') src = { tensor: source.value };
    else src = { image: source.value };
    src.method = state.method; // its forward pass at the precision the method needs
    // The page's first map, the opening view's: asked for with the input,
    // so that the engine computes it right after the forward pass (runOne
    // then takes it: computeCAM with the same options).
    if (page.opening && page.firstHeatmapMs == null && !state.result && !state.model.segmentation &&
        source.sample && source.sample.file === page.opening.sample) {
      src.cam = { ...camOptions(state.method), render: { colormap: state.colormap, alpha: state.alpha } };
    }
    input = await api.setInput(state.model.id, src);
  } catch (err) {
    showError(`Could not use ${source.name || 'the image'}: ${err.message}`);
    setStatus(`Model: ${state.model.name}`);
    return false;
  }
  const old = state.input;
  state.input = input;
  state.source = source;
  if (old) api.engine().call('disposeInput', { input: old.id }).catch(() => {});
  state.segMask = null;
  if (!page.marks.input) mark('input');
  // The page's first map is asked for at once, before the predictions are
  // shown and before the picture of the input (the engine answers in
  // order; the map needs neither).
  const first = page.firstHeatmapMs == null ? recompute() : null;
  markSample();
  clearMessage();
  showSegmentation();
  setStatus(`Model: ${state.model.name} · forward pass ${fmt(input.forwardMs)} ms`);
  showPredictions();
  const base = () => api.baseImage(input.id).then((r) => {
    if (state.input !== input) { r.image.close(); return; }
    if (state.base) state.base.close();
    state.base = r.image;
    drawBase();
    showSegmentation();
  }).catch(() => {});
  if (first) {
    await first;
    base();
  } else {
    base();
    await recompute();
  }
  inside.changed('input');
  return true;
}

// previewSource draws a new picture in place of the old map while the
// engine reads it, so the picture and its caption never disagree.
let previewGen = 0;
async function previewSource(source) {
  // The opening view already shows this picture, with its map.
  if (page.opening && !state.result && source.sample && source.sample.file === page.opening.sample) return;
  const gen = ++previewGen;
  let bmp = null;
  try {
    if (source.kind === 'blob' || source.kind === 'imagedata') bmp = await createImageBitmap(source.value);
    else if (source.kind === 'url') bmp = await createImageBitmap(await (await fetch(source.value)).blob());
  } catch (_) { return; /* the engine says what is wrong with it */ }
  if (!bmp) return;
  if (gen !== previewGen) { bmp.close(); return; }
  dropOpening();
  const c = $('overlay');
  const scale = Math.max(1, Math.floor(256 / Math.max(bmp.width, bmp.height)));
  c.width = bmp.width * scale;
  c.height = bmp.height * scale;
  const ctx = c.getContext('2d');
  ctx.imageSmoothingEnabled = scale === 1;
  ctx.drawImage(bmp, 0, 0, c.width, c.height);
  bmp.close();
  $('overlay-caption').textContent = `${source.name || 'the new image'}: computing its map…`;
  $('explain').textContent = '';
  place($('cbar-main'), null);
}

// A multi-label model (card "multilabel": true) scores each class with its
// own sigmoid: its top 5 shows sigmoid(logit), and the classes it finds
// present (probability ≥ 0.5) are listed, each a button to explain it.
function multilabel() {
  return !!(state.bundled && state.bundled.card && state.bundled.card.multilabel);
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

function showPresent(target) {
  let box = $('present');
  let sub = $('top5-title');
  if (!multilabel()) {
    if (box) box.remove();
    if (sub) sub.remove();
    $('pred-title').textContent = 'Top 5';
    return;
  }
  $('pred-title').textContent = 'Found in the picture (probability ≥ 50%): click one to explain it';
  if (!box) {
    box = document.createElement('div');
    box.id = 'present';
    $('pred-title').after(box);
  }
  if (!sub) {
    sub = document.createElement('h3');
    sub.id = 'top5-title';
    sub.textContent = 'The five highest scores (each class its own sigmoid: they need not add up to 100%)';
    $('top5').before(sub);
  }
  box.textContent = '';
  const logits = state.input.logits || [];
  const found = [];
  for (let i = 0; i < logits.length; i++) {
    if (sigmoid(logits[i]) >= 0.5) found.push(i);
  }
  found.sort((a, b) => logits[b] - logits[a]);
  if (!found.length) box.append('nothing: no class reaches 50%');
  for (const i of found) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.index = i;
    b.setAttribute('aria-pressed', String(i === target));
    b.title = `explain ${labelOf(i)}`;
    b.textContent = `${labelOf(i)} ${(sigmoid(logits[i]) * 100).toFixed(1)}%`;
    b.onclick = () => { $('class').value = String(i); setClass(); };
    box.append(b);
  }
}

function showPredictions() {
  const ol = $('top5');
  ol.textContent = '';
  // Hidden in the page's HTML until the first pass has classes to show.
  $('predictions').hidden = !state.input.top5.length;
  const target = state.classIndex >= 0 ? state.classIndex : (state.input.top5[0] || {}).index;
  showPresent(target);
  for (const p0 of state.input.top5) {
    const p = multilabel() ? { ...p0, prob: sigmoid(p0.logit) } : p0;
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.index = p.index;
    b.setAttribute('aria-pressed', String(p.index === target));
    b.title = `logit ${p.logit.toFixed(3)} · click to explain this class`;
    const name = document.createElement('span');
    name.textContent = `${p.index} · ${labelOf(p.index)}`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${(p.prob * 100).toFixed(1)}%`;
    bar.append(fill);
    const pr = document.createElement('span');
    pr.className = 'p';
    pr.textContent = `${(p.prob * 100).toFixed(1)}%`;
    b.append(name, bar, pr);
    b.onclick = () => { $('class').value = String(p.index); setClass(); };
    li.append(b);
    ol.append(li);
  }
}

function setClass() {
  if (state.model && state.model.segmentation) setTimeout(showSegmentation, 0);
  const v = $('class').value;
  state.classIndex = v === '' ? -1 : Number(v);
  state.contrast = $('contrast').value;
  // A contrast is a difference of logits: the score is the logit then.
  $('target').disabled = state.contrast !== '';
  if (state.contrast !== '') { state.target = 'logit'; $('target').value = 'logit'; }
  if (state.input) showPredictions();
  recompute();
  inside.changed('target');
}

$('image-open').onclick = () => $('image-file').click();
$('image-file').onchange = async (e) => {
  const f = e.target.files[0];
  e.target.value = '';
  if (f) await setSource({ kind: 'blob', value: f, name: f.name });
};

// Camera: a frame of the video becomes the input.
let stream = null;
$('camera-start').onclick = async () => {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch (err) {
    showError(`No camera: ${err.message}`);
    return;
  }
  $('camera-video').srcObject = stream;
  $('camera').hidden = false;
};
function stopCamera() {
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null;
  $('camera').hidden = true;
}
$('camera-stop').onclick = stopCamera;
$('camera-take').onclick = async () => {
  const v = $('camera-video');
  if (!v.videoWidth) return;
  const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
  const ctx = c.getContext('2d');
  ctx.drawImage(v, 0, 0);
  await setSource({ kind: 'imagedata', value: ctx.getImageData(0, 0, c.width, c.height), name: 'the camera picture' });
};

// Drag and drop: images become the input, text files labels, any other file a model.
let dragDepth = 0;
window.addEventListener('dragenter', (e) => { e.preventDefault(); dragDepth++; $('drop').hidden = false; });
window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; $('drop').hidden = true; } });
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', async (e) => {
  e.preventDefault();
  dragDepth = 0;
  $('drop').hidden = true;
  await handleFiles([...e.dataTransfer.files]);
});

async function handleFiles(files) {
  if (!files.length) return;
  // Images by type, name or first bytes; text is labels; anything else is
  // tried as an ONNX model.
  const kinds = new Map(await Promise.all(files.map(async (f) => [f, await api.fileKind(f)])));
  const modelish = files.filter((f) => kinds.get(f) !== 'image');
  const images = files.filter((f) => kinds.get(f) === 'image');
  if (modelish.length) await loadModelFiles(modelish, (f) => kinds.get(f));
  if (images.length) await setSource({ kind: 'blob', value: images[0], name: images[0].name });
}
page.handleFiles = handleFiles;

// ---------------------------------------------------------------- compute

let running = null;   // {cancel} of the run in flight
let again = false;    // settings changed while running

function camOptions(method) {
  const opts = {
    method,
    layer: state.layer,
    classIndex: state.classIndex,
    contrast: state.contrast === '' ? null : state.contrast,
    kind: state.target,
    augSmooth: state.augSmooth,
    eigenSmooth: state.eigenSmooth,
    ...optionValues(method),
  };
  if (method === 'refinecam') opts.layer = refineLayers();
  if (state.layout) opts.layout = state.layout;
  // A segmentation model: the class's scores summed over a region (the
  // pixels predicted as the class unless a region was clicked).
  if (state.model.segmentation) {
    opts.classIndex = segClass();
    if (state.segMask && state.segMask.classIndex === opts.classIndex) {
      Object.assign(opts, { mask: state.segMask.mask, maskWidth: state.segMask.width, maskHeight: state.segMask.height });
    }
  }
  return opts;
}

// ---------------------------------------------------------------- segmentation

// PALETTE: one colour a class of a segmentation (cycled past 20).
const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194],
  [127, 127, 127], [188, 189, 34], [23, 190, 207], [174, 199, 232], [255, 187, 120], [152, 223, 138], [255, 152, 150],
  [197, 176, 213], [196, 156, 148], [247, 182, 210], [199, 199, 199], [219, 219, 141], [158, 218, 229]];
const segColour = (k) => PALETTE[k % PALETTE.length];

// segClass: the class explained on a segmentation model: the one chosen,
// else the class at most pixels other than class 0 (background, by
// torchvision's convention) when there is one.
function segClass() {
  if (state.classIndex >= 0) return state.classIndex;
  const seg = state.input && state.input.segmentation;
  if (!seg || !seg.classes.length) return -1;
  const other = seg.classes.find((c) => c.index !== 0);
  return (other || seg.classes[0]).index;
}

function showSegmentation() {
  const seg = state.input && state.input.segmentation;
  $('seg').hidden = !seg;
  if (!seg) return;
  const c = $('seg-canvas');
  const scale = Math.max(1, Math.floor(448 / Math.max(seg.width, seg.height)));
  c.width = seg.width * scale;
  c.height = seg.height * scale;
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (state.base) ctx.drawImage(state.base, 0, 0, c.width, c.height);
  const img = ctx.getImageData(0, 0, c.width, c.height);
  const chosen = state.segMask && state.segMask.classIndex === segClass() ? state.segMask.mask : null;
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      const p = Math.floor(y / scale) * seg.width + Math.floor(x / scale);
      const k = seg.argmax[p];
      const col = segColour(k);
      const i = 4 * (y * c.width + x);
      const a = chosen ? (chosen[p] ? 0.7 : 0.2) : (k === segClass() ? 0.65 : 0.4);
      for (let ch = 0; ch < 3; ch++) img.data[i + ch] = Math.round((1 - a) * img.data[i + ch] + a * col[ch]);
      img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  const total = seg.width * seg.height;
  $('seg-caption').textContent = `The predicted class of each of the output's ${seg.width}×${seg.height} pixels over the image` + (chosen ? '; the region explained is brighter.' : '.');
  const legend = $('seg-legend');
  legend.textContent = '';
  for (const k of seg.classes) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.index = k.index;
    b.setAttribute('aria-pressed', String(k.index === segClass() && !chosen));
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = `rgb(${segColour(k.index).join(',')})`;
    b.append(sw, `${k.label || labelOf(k.index)} · ${k.pixels} px (${(100 * k.pixels / total).toFixed(1)}%)`);
    b.title = `explain ${k.label || labelOf(k.index)} over all its pixels`;
    b.onclick = () => { state.segMask = null; $('class').value = String(k.index); setClass(); };
    legend.append(b);
  }
}

// A click on the segmentation explains the clicked class over the region
// (its 4-connected pixels of that class) around the click.
$('seg-canvas').onclick = (e) => {
  const seg = state.input && state.input.segmentation;
  if (!seg) return;
  const c = $('seg-canvas');
  const r = c.getBoundingClientRect();
  const x = Math.min(seg.width - 1, Math.floor((e.clientX - r.left) / r.width * seg.width));
  const y = Math.min(seg.height - 1, Math.floor((e.clientY - r.top) / r.height * seg.height));
  const k = seg.argmax[y * seg.width + x];
  const mask = new Uint8Array(seg.width * seg.height);
  const stack = [y * seg.width + x];
  mask[stack[0]] = 1;
  let n = 0;
  while (stack.length) {
    const p = stack.pop();
    n++;
    const px = p % seg.width, py = (p - px) / seg.width;
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      const qx = px + dx, qy = py + dy;
      if (qx < 0 || qy < 0 || qx >= seg.width || qy >= seg.height) continue;
      const q = qy * seg.width + qx;
      if (!mask[q] && seg.argmax[q] === k) { mask[q] = 1; stack.push(q); }
    }
  }
  state.segMask = { classIndex: k, mask, width: seg.width, height: seg.height, pixels: n };
  $('class').value = String(k);
  setClass();
};

// METHOD_OPTIONS: each method's own settings, as controls under the method
// list (the names are the JS API's cam options).
const METHOD_OPTIONS = {
  fem: [{ key: 'femK', label: 'k: a position counts where A > mean + k·std', value: 2, step: 0.5, min: 0 }],
  finercam: [
    { key: 'finerAlpha', label: 'α: how much of the similar classes to subtract', value: 1, step: 0.1, min: 0 },
    { key: 'finerCompare', label: 'compare with classes (blank: the 3 closest)', type: 'text', value: '' },
  ],
  refinecam: [{ key: 'base', label: 'map of each layer', type: 'select', value: 'gradcampp', choices: ['gradcampp', 'gradcam', 'layercam', 'hirescam', 'xgradcam'] }],
  randomcam: [{ key: 'seed', label: 'seed', value: 1, step: 1 }],
  smoothgrad: [{ key: 'samples', label: 'noisy copies', value: 25, step: 1, min: 1 }, { key: 'seed', label: 'seed', value: 1, step: 1 }],
  'integrated-gradients': [{ key: 'steps', label: 'steps along the path', value: 50, step: 1, min: 1 }],
  // Captum's: blank keeps the engine's default (an eighth of the image's side for the window and the squares).
  occlusion: [
    { key: 'window', label: 'window (px; blank: ⅛ of the side)', value: '', step: 1, min: 1 },
    { key: 'stride', label: 'stride (px; blank: half the window)', value: '', step: 1, min: 1 },
  ],
  featureablation: [{ key: 'superpixel', label: 'square side (px; blank: ⅛ of the side)', value: '', step: 1, min: 1 }],
  gradientshap: [{ key: 'samples', label: 'samples', value: 5, step: 1, min: 1 }, { key: 'seed', label: 'seed', value: 1, step: 1 }],
  'smoothgrad-sq': [{ key: 'samples', label: 'noisy copies', value: 25, step: 1, min: 1 }, { key: 'noise', label: 'noise σ (fraction of the range)', value: 0.15, step: 0.05, min: 0 }, { key: 'seed', label: 'seed', value: 1, step: 1 }],
  vargrad: [{ key: 'samples', label: 'noisy copies', value: 25, step: 1, min: 1 }, { key: 'noise', label: 'noise σ (fraction of the range)', value: 0.15, step: 0.05, min: 0 }, { key: 'seed', label: 'seed', value: 1, step: 1 }],
};
state.opts = {};
function optionValues(method) {
  const out = {};
  for (const o of METHOD_OPTIONS[method] || []) {
    const v = (state.opts[method] || {})[o.key] ?? o.value;
    if (v === '' || v == null) continue;
    out[o.key] = o.type === 'text' || o.type === 'select' ? v : Number(v);
  }
  return out;
}
function fillOptions() {
  const box = $('method-opts');
  box.textContent = '';
  const method = state.method;
  for (const o of METHOD_OPTIONS[method] || []) {
    const label = document.createElement('label');
    label.append(o.label + ' ');
    let input;
    if (o.type === 'select') {
      input = document.createElement('select');
      for (const c of o.choices) {
        const opt = document.createElement('option');
        opt.value = c;
        opt.textContent = methodName(c);
        input.append(opt);
      }
    } else {
      input = document.createElement('input');
      input.type = o.type === 'text' ? 'text' : 'number';
      if (o.step != null) input.step = o.step;
      if (o.min != null) input.min = o.min;
    }
    input.dataset.key = o.key;
    input.value = String((state.opts[method] || {})[o.key] ?? o.value);
    input.onchange = () => {
      state.opts[method] = { ...(state.opts[method] || {}), [o.key]: input.value };
      recompute();
    };
    label.append(input);
    box.append(label);
  }
  if (method === 'refinecam') {
    const label = document.createElement('label');
    label.append('with the layer ');
    const sel = document.createElement('select');
    sel.id = 'refine-layer';
    for (const l of state.model.layers.filter(spatialLayer)) {
      const o = document.createElement('option');
      o.value = l.output;
      o.textContent = layerTitle(l.output) + ' · ' + (l.node || l.output);
      sel.append(o);
    }
    sel.value = refineLayers()[0];
    sel.onchange = () => { state.refineWith = sel.value; recompute(); };
    label.append(sel);
    box.append(label);
  }
}
// refineLayers: RefineCAM multiplies the maps of two layers: the chosen
// one and (by default) the last earlier layer of a finer resolution.
function refineLayers() {
  const spatial = state.model.layers.filter(spatialLayer);
  const i = spatial.findIndex((l) => l.output === state.layer);
  let other = state.refineWith;
  if (!other || !spatial.some((l) => l.output === other)) {
    const cur = spatial[i];
    const finer = spatial.slice(0, Math.max(i, 0)).reverse().find((l) => cur && l.shape[2] > cur.shape[2]);
    other = (finer || spatial[Math.max(0, i - 1)] || {}).output;
  }
  return other && other !== state.layer ? [other, state.layer] : [state.layer];
}

// showProgress: the method, passes done of the total, and the time left
// at the pace so far.
let progressStart = { t: 0, done: 0, method: '' };
function showProgress(done, total, method = state.method) {
  const p = $('progress');
  const now = performance.now();
  if (p.hidden || progressStart.method !== method || done < progressStart.done) progressStart = { t: now, done, method };
  p.hidden = false;
  p.max = total;
  p.value = done;
  $('cancel').hidden = false;
  let left = '';
  const rate = (done - progressStart.done) / (now - progressStart.t);
  if (done > progressStart.done && rate > 0 && done < total) left = ` · about ${duration((total - done) / rate)} left`;
  $('progress-text').textContent = `${methodName(method)}: ${done} of ${total} passes${left}`;
  page.progress = { method, done, total, text: $('progress-text').textContent };
}
function hideProgress() { $('progress').hidden = true; $('cancel').hidden = true; $('progress-text').textContent = ''; }
function duration(ms) {
  const s = ms / 1000;
  return s < 1.5 ? '1 s' : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

// Slow methods run one pass per channel or per sample: estimate the time
// from this image's forward pass, and ask first when it is over ~10 s.
function passesOf(method) {
  const l = state.model && state.model.layers.find((x) => x.output === (state.layer || state.model.defaultLayer));
  const channels = l && l.shape && l.shape.length === 4 ? l.shape[1] : 0;
  switch (method) {
    case 'scorecam': return { n: channels, each: 1, what: `${channels} forward passes, one per channel of the layer` };
    case 'ablationcam': return { n: channels, each: 0.6, what: `${channels} partial forward passes, one per channel of the layer` };
    case 'smoothgrad': {
      const n = Number(optionValues(method).samples) || 25;
      return { n, each: 3, what: `${n} forward and backward passes on noisy copies` };
    }
    case 'integrated-gradients': return { n: Number(optionValues(method).steps) || 50, each: 3, what: `${Number(optionValues(method).steps) || 50} forward and backward passes along the path` };
    case 'smoothgrad-sq': case 'vargrad': case 'gradientshap': {
      const n = Number(optionValues(method).samples) || (method === 'gradientshap' ? 5 : 25);
      return { n, each: 3, what: `${n} forward and backward passes on noisy copies` };
    }
    case 'occlusion': case 'featureablation': {
      const info = state.model.inputShape, side = Math.min(info[2], info[3]);
      const o = optionValues(method);
      const w = Number(o.window || o.superpixel) || Math.max(1, Math.floor(side / 8));
      const st = method === 'occlusion' ? (Number(o.stride) || Math.max(1, Math.floor(w / 2))) : w;
      const per = Math.ceil((side - (method === 'occlusion' ? w : 0)) / st) + (method === 'occlusion' ? 1 : 0);
      return { n: per * per, each: 1, what: `${per * per} forward passes, one per ${method === 'occlusion' ? 'window position' : 'square'}` };
    }
    default: return null;
  }
}
// perPass: the time of one forward pass of this model, as measured on a
// slow job that finished (ms per pass), else the smaller of the image's own
// pass (which includes compiling the code on the first one) and 1 ms per 4
// million multiply-adds.
const pace = new Map(); // model id → ms per forward pass
page.pace = pace;
function perPass() {
  const m = state.model;
  if (pace.has(m.id)) return pace.get(m.id);
  const f = state.input && state.input.forwardMs > 0 ? state.input.forwardMs : Infinity;
  const byMacs = m.macs ? m.macs / 4e6 : Infinity;
  const v = Math.min(f, byMacs);
  return Number.isFinite(v) ? v : 0;
}
function estimateMs(method) {
  const p = passesOf(method);
  if (!p || !state.input) return 0;
  return p.n * p.each * perPass() * (state.augSmooth ? 6 : 1);
}
// learnPace: the time a slow job took (on the page's clock: a job divided
// over several workers reports only its own part) per pass.
function learnPace(res, ms) {
  const p = passesOf(res.method);
  if (p && p.n > 0 && ms > 0) pace.set(state.model.id, ms / (p.n * p.each * (state.augSmooth ? 6 : 1)));
}
const LONG_MS = 10000;
const approved = new Set(); // "method|input|layer" the visitor said yes to
function askFirst(method) {
  const est = estimateMs(method);
  const key = `${method}|${state.input && state.input.id}|${state.layer}|${state.augSmooth}`;
  if (est <= LONG_MS || approved.has(key)) return true; // no question: go on at once
  const box = $('confirm-long');
  $('confirm-text').textContent = `${methodName(method)} needs ${passesOf(method).what}: about ${duration(est)} here. Run it?`;
  $('confirm-skip').hidden = false;
  box.hidden = false;
  page.asked = { method, estimateMs: est };
  return new Promise((resolve) => {
    const done = (yes, withdrawn = false) => {
      pendingAsk = null;
      if (yes) {
        approved.add(key);
        box.hidden = true;
      } else if (withdrawn) {
        box.hidden = true;
      } else {
        // Not now: the offer stays, without the question.
        $('confirm-text').textContent = `${methodName(method)} not run: it would take about ${duration(est)}.`;
        $('confirm-skip').hidden = true;
        $('confirm-run').onclick = () => { approved.add(key); box.hidden = true; recompute(); };
      }
      resolve(yes);
    };
    $('confirm-run').onclick = () => done(true);
    $('confirm-skip').onclick = () => done(false);
    pendingAsk = (yes) => done(yes, true);
  });
}
let pendingAsk = null; // a question on screen; a new request withdraws it
$('cancel').onclick = () => { if (running) { again = false; running.cancel(); } };

/** recompute runs the current method (or every method) and draws. */
async function recompute() {
  if (!state.input) return;
  if (pendingAsk) pendingAsk(false);
  if (running) { again = true; running.cancel(); return; }
  document.body.classList.add('busy');
  try {
    do {
      again = false;
      if (state.view === 'grid') await runGrid();
      else if (state.view === 'dff') await runDFF();
      else await runOne();
    } while (again);
  } finally {
    document.body.classList.remove('busy');
    hideProgress();
  }
}

async function runOne() {
  const input = state.input;
  $('confirm-long').hidden = true;
  // A CAM of a layer without a spatial map: say so, run nothing.
  const l = state.model.layers.find((x) => x.output === state.layer);
  if (l && !spatialLayer(l) && methodGroup(state.method) === 'layer') {
    const e = $('explain');
    e.textContent = `${methodName(state.method)} needs a layer with a spatial map (channels × height × width); ${l.node || l.output} is ${l.shape.slice(1).join('×')}, a vector with no “where”. Pick a layer from the first group.`;
    e.classList.add('warn');
    $('timing').textContent = '';
    return;
  }
  const ok = askFirst(state.method);
  if (ok !== true && !(await ok)) {
    $('timing').textContent = '';
    return;
  }
  if (again || state.input !== input) return;
  const t0 = performance.now();
  const method = state.method;
  const job = api.computeCAM(input.id, { ...camOptions(method), render: { colormap: state.colormap, alpha: state.alpha }, onProgress: (d, t) => showProgress(d, t, method) });
  running = job;
  let res;
  try {
    res = await job.promise;
  } catch (err) {
    running = null;
    if (err.code === 'cancelled') { if (!again) $('timing').textContent = `${methodName(state.method)}: cancelled`; return; }
    if (err.code === 'input_gone' && state.source) { again = false; await setSource(state.source); return; }
    showError(`${methodName(state.method)}: ${err.message}`);
    return;
  }
  running = null;
  if (again || state.input !== input) { for (const k of ['overlay', 'heat', 'rawImage']) if (res[k]) res[k].close(); return; }
  state.result = res;
  learnPace(res, performance.now() - t0);
  drawResult(res);
  explainLine(res);
  clearError();
  const pageMs = performance.now() - t0;
  $('overlay-caption').textContent = `${methodName(res.method)} · ${targetText(res)}` + (res.layer ? ` · ${layerTitle(res.layer, res)}` : '');
  $('timing').textContent = timingText(res, pageMs);
  page.lastRun = { method: res.method, classIndex: res.classIndex, layer: res.layer, ms: res.ms, forwardMs: res.forwardMs, backwardMs: res.backwardMs, reusedForwardMs: res.reusedForwardMs, pageMs, width: res.width, height: res.height };
  if (page.firstHeatmapMs == null) {
    mark('first-heatmap');
    Object.assign(page.marks, api.engine().times);
    if (!page.marks['first-heatmap-shown']) mark('first-heatmap-shown');
    page.firstHeatmapMs = performance.now();
    loadThumbnails();
  }
  updateSnippet();
}

async function runGrid() {
  const grid = $('grid');
  grid.textContent = '';
  state.grid = [];
  const target = state.classIndex >= 0 ? labelOf(state.classIndex) : 'the top class';
  $('explain').classList.remove('warn');
  $('explain').textContent = `Every method for ${target}` + (state.layer ? ` (the CAMs at ${layerTitle(state.layer)})` : '') + ': each map scaled to 0..1. Click one to see it alone.';
  const bar = colorbar({ colormap: state.colormap, min: 0, max: 1, low: 'no evidence', high: 'strongest', note: 'Each map on its own scale: 0 = its weakest evidence, 1 = its strongest; compare where, not how much.' });
  bar.classList.add('grid-bar');
  grid.append(bar);
  // The slow ones (a forward pass per channel or per sample) come last.
  const slow = ['smoothgrad', 'integrated-gradients', 'ablationcam', 'scorecam'];
  const methods = [...sortedMethods().filter((m) => !slow.includes(m)), ...slow.filter((m) => sortedMethods().includes(m))];
  const t0 = performance.now();
  for (let i = 0; i < methods.length; i++) {
    const method = methods[i];
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 150;
    const cap = document.createElement('figcaption');
    cap.textContent = `${methodName(method)}…`;
    fig.append(canvas, cap);
    grid.append(fig);
    $('timing').textContent = `All methods: ${i + 1} of ${methods.length} (${methodName(method)})`;
    const est = estimateMs(method);
    if (est > LONG_MS) {
      fig.classList.add('skipped');
      cap.textContent = `${methodName(method)}: not run here (about ${duration(est)}); click to run it on its own`;
      canvas.onclick = () => { $('method').value = method; state.method = method; describeMethod(); fillLayers(); setView('overlay'); };
      continue;
    }
    const tm = performance.now();
    const job = api.computeCAM(state.input.id, { ...camOptions(method), render: { colormap: state.colormap, alpha: state.alpha }, onProgress: (d, t) => showProgress(d, t, method) });
    running = job;
    try {
      const res = await job.promise;
      running = null;
      hideProgress();
      drawBitmap(canvas, res.overlay);
      for (const k of ['heat', 'rawImage']) if (res[k]) res[k].close();
      cap.textContent = `${methodName(method)} · ${fmt(res.ms)} ms${res.workers > 1 ? ` on ${res.workers} workers` : ''}`;
      canvas.title = `${methodName(method)}: show on its own`;
      canvas.onclick = () => { $('method').value = method; state.method = method; setView('overlay'); };
      state.grid.push({ method, result: res, canvas, caption: cap });
      learnPace(res, performance.now() - tm);
    } catch (err) {
      running = null;
      hideProgress();
      if (err.code === 'cancelled') {
        cap.textContent = `${methodName(method)}: cancelled`;
        fig.classList.add('failed');
        if (!again) $('timing').textContent = 'All methods: cancelled';
        return;
      }
      fig.classList.add('failed');
      cap.textContent = `${methodName(method)}: ${err.message}`;
      cap.title = err.message;
    }
    if (again) return;
  }
  clearError();
  page.renders++;
  document.body.dataset.renders = page.renders;
  $('timing').textContent = `All ${methods.length} methods in ${fmt(performance.now() - t0)} ms`;
}

// timingText says what ran: the image's forward pass is run once, when it
// is loaded, and reused by every map; extra passes (Score-CAM's masked
// images, SmoothGrad's noisy copies) and the backward pass are this map's.
function timingText(res, pageMs) {
  const parts = [];
  parts.push(`forward pass reused (run once for this image, ${fmt(res.reusedForwardMs)} ms)`);
  if (res.forwardMs > 0.05) parts.push(`more forward passes ${fmt(res.forwardMs)} ms`);
  if (res.backwardMs > 0.05) parts.push(`backward ${fmt(res.backwardMs)} ms`);
  else if (methodGroup(res.method) !== 'layer' || !['eigencam', 'scorecam', 'ablationcam', 'cam'].includes(res.method)) parts.push('gradients reused');
  if (res.workers > 1) parts.push(`its passes divided among ${res.workers} workers`);
  const where = res.workers > 1 ? 'in all' : 'in the engine';
  return `${methodName(res.method)}: ${parts.join(' · ')} · ${fmt(res.ms)} ms ${where}, ${fmt(pageMs)} ms with drawing`;
}

// fillMethods lists the methods in three groups: maps at a layer (the CAM
// family), attributions on the input pixels, and Captum's.
function fillMethods() {
  const sel = $('method');
  sel.textContent = '';
  const titles = { layer: 'Class activation maps (at a layer)', input: 'Attributions on the input pixels', captum: 'Captum\'s attributions' };
  const groups = {};
  for (const m of sortedMethods()) {
    const g = methodGroup(m);
    if (!groups[g]) {
      groups[g] = document.createElement('optgroup');
      groups[g].label = titles[g] || g;
    }
    const o = document.createElement('option');
    o.value = m;
    o.textContent = methodName(m);
    const d = DESCRIPTIONS.get(m);
    if (d) o.title = d.line;
    groups[g].append(o);
  }
  for (const g of ['layer', 'input', 'captum']) if (groups[g]) sel.append(groups[g]);
  sel.value = state.method;
}

function sortedMethods() {
  const ms = api.engine().methods || [];
  return [...ms].sort((a, b) => {
    const ia = METHOD_ORDER.indexOf(a), ib = METHOD_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0); // (ids are ASCII: no collator, whose start costs tens of ms)
  });
}

/** redraw draws the kept maps again with the current colormap and opacity. */
let redrawing = null;
let redrawAgain = false;
async function redraw() {
  if (redrawing) { redrawAgain = true; return; }
  redrawing = (async () => {
    do {
      redrawAgain = false;
      try {
        if (state.view === 'grid') {
          for (const g of state.grid) {
            const r = await api.renderMap(state.input.id, g.result, { colormap: state.colormap, alpha: state.alpha });
            drawBitmap(g.canvas, r.overlay);
            for (const k of ['heat', 'rawImage']) if (r[k]) r[k].close();
          }
          page.renders++;
        } else if (state.result && state.input) {
          const r = await api.renderMap(state.input.id, state.result, { colormap: state.colormap, alpha: state.alpha });
          drawResult({ ...state.result, ...r });
        }
      } catch (err) {
        showError(err.message);
      }
    } while (redrawAgain);
  })();
  await redrawing;
  redrawing = null;
}

// ---------------------------------------------------------------- controls

$('method').onchange = () => {
  state.method = $('method').value;
  describeMethod();
  fillOptions();
  // A CAM needs a spatial layer: from a vector layer, go back to the model's default.
  const l = state.model && state.model.layers.find((x) => x.output === state.layer);
  if (methodGroup(state.method) === 'layer' && l && !spatialLayer(l)) {
    state.layer = state.model.defaultLayer || state.model.suggestedLayer || state.layer;
    inside.changed('layer');
  }
  fillLayers();
  recompute();
};
$('layer').onchange = () => { state.layer = $('layer').value; layerNote(); recompute(); inside.changed('layer'); };
$('class').onchange = setClass;
$('contrast').onchange = setClass;
$('target').onchange = () => { state.target = $('target').value; recompute(); };
$('layout').onchange = () => { state.layout = $('layout').value; fillLayers(); recompute(); };
$('aug-smooth').onchange = () => { state.augSmooth = $('aug-smooth').checked; recompute(); };
$('eigen-smooth').onchange = () => { state.eigenSmooth = $('eigen-smooth').checked; recompute(); };
$('colormap').onchange = () => { state.colormap = $('colormap').value; redraw(); updateSnippet(); inside.changed('colormap'); };
$('alpha').oninput = () => {
  state.alpha = Number($('alpha').value);
  $('alpha-out').textContent = state.alpha.toFixed(2);
  redraw();
  inside.changed('colormap');
};
for (const r of document.querySelectorAll('input[name=view]')) r.onchange = () => setView(r.value);

function setView(view) {
  const prev = state.view;
  state.view = view;
  for (const r of document.querySelectorAll('input[name=view]')) r.checked = r.value === view;
  $('views').className = 'view-' + (view === 'side' ? 'side' : 'overlay');
  $('views').hidden = view === 'grid' || view === 'dff';
  $('grid').hidden = view !== 'grid';
  $('dff').hidden = view !== 'dff';
  $('dff-n-label').hidden = view !== 'dff';
  if (view === 'grid' || prev === 'grid' || view === 'dff' || prev === 'dff') recompute();
}
$('dff-n').onchange = () => { if (state.view === 'dff') recompute(); };

function drawConcepts(canvas, bmp) {
  const w = Math.round(bmp.width / 2); // the legend is as wide as the picture
  canvas.width = w;
  canvas.height = bmp.height;
  canvas.getContext('2d').drawImage(bmp, 0, 0, w, bmp.height, 0, 0, w, bmp.height);
  bmp.close();
}

// runDFF: Deep Feature Factorization splits the layer's activations into a
// few concepts (non-negative matrix factorisation) and colours the image
// by the concept that dominates each place; the legend gives each
// concept's top classes through the model's head.
async function runDFF() {
  const input = state.input;
  const n = Math.max(1, Math.min(16, Number($('dff-n').value) || 4));
  const t0 = performance.now();
  $('timing').textContent = `Deep Feature Factorization: ${n} concepts…`;
  let res;
  try {
    res = await api.dff(input.id, { layer: state.layer, n, top: 3 });
  } catch (err) {
    showError(`Concepts (DFF): ${err.message}`);
    return;
  }
  if (again || state.input !== input) { if (res.overlay) res.overlay.close(); return; }
  // The engine's picture has its own legend on the right; the page shows the
  // picture alone and the legend as text below.
  drawConcepts($('dff-canvas'), res.overlay);
  $('dff-caption').textContent = `${n} concepts of ${layerTitle(res.layer, res)}: ‖A − WH‖/‖A‖ = ${(100 * res.relError).toFixed(1)}% of the activations left unexplained`;
  const ol = $('dff-legend');
  ol.textContent = '';
  for (const c of res.concepts) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = `rgb(${c.color.join(',')})`;
    const txt = document.createElement('span');
    const top = (c.topClasses || []).map((k) => `${k.label || labelOf(k.class)} ${(100 * k.prob).toFixed(0)}%`).join(', ');
    txt.textContent = `concept ${c.index + 1}` + (top ? `: most like ${top}` : '');
    li.append(sw, txt);
    ol.append(li);
  }
  $('explain').classList.remove('warn');
  $('explain').textContent = `Deep Feature Factorization at ${layerTitle(res.layer, res)}: the layer's feature maps split into ${n} concepts; each place of the image takes the colour of its strongest concept, brighter where it is stronger.`;
  $('timing').textContent = `Concepts (DFF): ${fmt(res.ms)} ms in the engine, ${fmt(performance.now() - t0)} ms with drawing`;
  page.dff = { n: res.concepts.length, relError: res.relError, layer: res.layer };
  page.renders++;
  document.body.dataset.renders = page.renders;
  clearError();
}

// ---------------------------------------------------------------- metrics

// METRICS: what each number says, for a student.
const METRICS = [
  ['dropInConfidence', 'drop in confidence', 'how much the score falls when the image is multiplied by the map, dimming what the map leaves out (lower is better)', (v) => `${(100 * v).toFixed(1)}%`],
  ['increaseInConfidence', 'increase in confidence', 'whether that dimmed image scores higher than the original (1: yes)', (v) => String(+v.toFixed(3))],
  ['confidenceChange', 'confidence change', 'score of the dimmed image minus score of the image (higher is better)', (v) => num(v)],
  ['roadCombined', 'ROAD combined', 'score lost removing the least relevant pixels minus removing the most relevant, halved and averaged over 10–90 % removed (higher is better)', (v) => num(v)],
  ['complexity', 'complexity', 'the map\'s mean value: how much of the image it covers (lower is simpler)', (v) => num(v)],
  ['coherency', 'coherency', 'how closely the map computed on the dimmed image matches this one (1: exactly)', (v) => num(v)],
  ['arcc', 'ARCC', 'harmonic mean of coherency, 1 − complexity and ROAD: one score for all three (higher is better)', (v) => num(v)],
];
let metricsJob = null;
$('metrics-run').onclick = async () => {
  if (!state.input) return;
  if (metricsJob) { metricsJob.cancel(); return; }
  const job = api.metrics(state.input.id, { ...camOptions(state.method), onProgress: (d, t) => { $('metrics-status').textContent = `${d} of ${t} passes…`; } });
  metricsJob = job;
  $('metrics-run').textContent = 'Cancel';
  $('metrics-status').textContent = 'scoring…';
  try {
    const r = await job.promise;
    const body = $('metrics-table').querySelector('tbody');
    body.textContent = '';
    for (const [key, name, what, show] of METRICS) {
      if (typeof r[key] !== 'number') continue;
      const tr = document.createElement('tr');
      const a = document.createElement('td');
      a.textContent = name;
      const v = document.createElement('td');
      v.className = 'v';
      v.textContent = show(r[key]);
      const d = document.createElement('td');
      d.className = 'd';
      d.textContent = what;
      tr.append(a, v, d);
      body.append(tr);
    }
    $('metrics-table').hidden = false;
    $('metrics-status').textContent = `${methodName(r.method || state.method)} for ${labelOf(r.classIndex)} · ${fmt(r.ms)} ms`;
    page.metrics = r;
  } catch (err) {
    $('metrics-status').textContent = err.code === 'cancelled' ? 'cancelled' : '';
    if (err.code !== 'cancelled') showError(`Metrics: ${err.message}`);
  } finally {
    metricsJob = null;
    $('metrics-run').textContent = 'Score the current map';
  }
};

// ---------------------------------------------------------------- download, embed

$('download').onclick = async () => {
  let canvas = $('overlay');
  if (state.view === 'grid' && state.grid.length) canvas = gridCanvas();
  const blob = await new Promise((r) => canvas.toBlob(r, 'image/png'));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `cnnlens-${state.view === 'grid' ? 'all-methods' : state.method}-${state.result ? state.result.classIndex : 'x'}.png`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
};

function gridCanvas() {
  const cell = 224, pad = 8, capH = 18, cols = Math.ceil(Math.sqrt(state.grid.length));
  const rows = Math.ceil(state.grid.length / cols);
  const c = document.createElement('canvas');
  c.width = cols * (cell + pad) + pad;
  c.height = rows * (cell + capH + pad) + pad;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.fillStyle = '#222';
  ctx.font = '12px sans-serif';
  state.grid.forEach((g, i) => {
    const x = pad + (i % cols) * (cell + pad), y = pad + Math.floor(i / cols) * (cell + capH + pad);
    ctx.drawImage(g.canvas, x, y, cell, cell);
    ctx.fillText(methodName(g.method), x, y + cell + 13);
  });
  return c;
}

/** snippet is the embed code for the current view, or a note on why not. */
function snippet() {
  const base = new URL('.', location.href).href;
  const params = new URLSearchParams();
  const notes = [];
  if (state.bundled) params.set('model', state.bundled.name);
  else notes.push('your model is not on this site: put it on yours and set model= to its URL');
  // Absolute URLs: the snippet works pasted into a page on any site (a
  // relative image would resolve against that page).
  if (state.source && state.source.sample) params.set('image', new URL(state.source.sample.file, base).href);
  else if (state.source && state.source.kind === 'url') params.set('image', new URL(state.source.value, location.href).href);
  else notes.push('your image never left this page: put it online and set image= to its URL');
  params.set('method', state.method);
  if (state.layer && state.model && state.layer !== state.model.defaultLayer) params.set('layer', state.layer);
  if (state.classIndex >= 0) params.set('class', String(state.classIndex));
  if (state.contrast !== '') params.set('contrast', state.contrast);
  if (state.colormap !== 'jet') params.set('colormap', state.colormap);
  if (state.alpha !== 0.5) params.set('alpha', String(state.alpha));
  const iframe = `<iframe src="${base}embed.html?${params}" width="360" height="470" style="border:0" title="cnnlens"></iframe>`;
  const attrs = [...params].map(([k, v]) => ` ${k}="${v.replace(/"/g, '&quot;')}"`).join('');
  const element = `<script type="module" src="${base}cnnlens.js"></script>\n<cnn-lens${attrs}></cnn-lens>`;
  return (notes.length ? `<!-- ${notes.join('; ')} -->\n` : '') + iframe + '\n\n' + element;
}

function updateSnippet() {
  const t = $('embed-snippet');
  if (!t.hidden) t.value = snippet();
}

$('copy-embed').onclick = async () => {
  const t = $('embed-snippet');
  t.hidden = false;
  t.value = snippet();
  try {
    await navigator.clipboard.writeText(t.value);
    showInfo('Embed snippet copied.');
  } catch (_) {
    t.select();
    showInfo('Select and copy the snippet below.');
  }
};

// ---------------------------------------------------------------- start

// samplePixels resolves with a sample's pre-decoded pixels as ImageData
// (null when they are missing or do not fit its size).
async function samplePixels(sample) {
  const r = await fetch(api.assetURL(sample.pixels));
  if (!r.ok) return null;
  const b = await r.arrayBuffer();
  if (b.byteLength !== 4 * sample.width * sample.height) return null;
  return new ImageData(new Uint8ClampedArray(b), sample.width, sample.height);
}

// showOpening keeps the opening view while the engine starts: the map of
// the first sample that this engine computed when the site was built
// (manifest.opening), which `make site` puts in the page as an image in
// front of the main canvas, so that it shows as soon as the page is parsed.
// The engine then computes the same map and draws it on the canvas (the
// same pixels), and the image goes (dropOpening).
function showOpening(manifest, sample) {
  const img = $('opening-view');
  if (!img) return;
  const o = manifest.opening;
  if (!o || !sample || o.sample !== sample.file || o.model !== manifest.defaultModel || state.method !== o.method ||
      state.colormap !== o.colormap || state.alpha !== o.alpha || state.target !== o.kind || state.classIndex !== -1 ||
      state.layer !== '') {
    dropOpening();
    return;
  }
  page.opening = o; // (its caption is in the page too)
  // When it was painted (Element Timing), else when it had loaded.
  const shown = (t) => { if (page.marks['first-heatmap-shown'] == null) page.marks['first-heatmap-shown'] = t; };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.identifier === 'opening-view') shown(e.renderTime || e.loadTime);
    }).observe({ type: 'element', buffered: true });
  } catch (_) { /* no Element Timing */ }
  if (!('PerformanceElementTiming' in window)) {
    if (img.complete) shown(performance.now());
    else img.addEventListener('load', () => shown(performance.now()), { once: true });
  }
}

// dropOpening removes the opening view's image, uncovering the main canvas.
function dropOpening() {
  const img = $('opening-view');
  if (img) img.remove();
}

async function main() {
  mark('start');
  let manifest;
  try {
    manifest = await api.manifest;
  } catch (err) {
    showError(`This site is incomplete: ${err.message}`);
    return;
  }
  state.manifest = manifest;
  const model = $('model-select');
  for (const m of manifest.models) {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.title;
    model.append(o);
  }
  const own = document.createElement('option');
  own.value = '';
  own.textContent = 'your model';
  own.disabled = true;
  model.append(own);
  fillSamples();
  const sample = manifest.samples.find((s) => s.model === manifest.defaultModel) || manifest.samples[0];
  // Fetch the sample while the engine starts: its pixels, decoded when
  // the site was built, where the manifest has them (no image file to
  // decode on the way to the first heatmap), else the file.
  const sampleImage = !sample ? null : (sample.pixels ? samplePixels(sample) : Promise.resolve(null))
    .then((px) => px || fetch(api.assetURL(sample.file)).then((r) => (r.ok ? r.blob() : null)))
    .catch(() => null);

  showOpening(manifest, sample);
  // Until the engine lists its methods and colormaps (filled once the first
  // map is drawn), their menus show the current choices, as the map's
  // caption names them.
  for (const [id, value, text] of [['method', state.method, methodName(state.method)], ['colormap', state.colormap, state.colormap]]) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    $(id).append(o);
  }

  api.engine().addEventListener('crash', (e) => showError(`The engine stopped (${e.detail}); it restarts with the next request.`));
  try {
    await api.ready;
  } catch (err) {
    showError(`The engine did not start: ${err.message}`);
    setStatus('Engine failed');
    if (page.opening) $('overlay-caption').textContent = `${methodName(page.opening.method)} · ${page.opening.label} · computed when this site was built (the engine did not start here)`;
    return;
  }
  mark('ready');
  Object.assign(page.marks, api.engine().times);
  state.model = api.currentModel();
  state.bundled = manifest.models.find((m) => m.name === manifest.defaultModel) || null;
  fillModelUI();
  setStatus(`Model: ${state.model.name}`);
  // The first map first: its forward pass is asked for now, and the method
  // and colour menus are filled once the map is drawn, so that the page's
  // thread (the menus' layout, the browser's form tracking) leaves both
  // cores to the engine meanwhile (docs/performance.md).
  const first = !sample ? null : sampleImage.then(async (image) => { // ImageData, a Blob or null
    const kind = !image ? 'url' : image instanceof Blob ? 'blob' : 'imagedata';
    await setSource({ kind, value: image || api.assetURL(sample.file), name: sample.name, sample });
    state.source = { kind: 'url', value: api.assetURL(sample.file), name: sample.name, sample };
  });
  // (A failed first map is reported, and the menus are filled all the same.)
  if (first) await first.catch((err) => showError(err.message));
  await api.methods();
  fillMethods();
  descriptionsReady.then(() => { fillMethods(); describeMethod(); fillLayers(); fillOptions(); describeViews(); });
  const cms = await api.colormaps();
  $('colormap').textContent = '';
  for (const c of cms) {
    const o = document.createElement('option');
    o.value = c;
    o.textContent = c;
    $('colormap').append(o);
  }
  $('colormap').value = state.colormap;
}

main().catch((err) => showError(err.message)).finally(() => setTimeout(loadThumbnails, 0));
