// cnnlens.js — see what a CNN looks at, in the browser.
//
// An ES module: the JavaScript API of the cnnlens engine (Go, compiled to
// WebAssembly, running in a Web Worker) and the <cnn-lens> custom element.
//
//   import { ready, loadModel, predict, cam } from './cnnlens.js';
//   await ready;                                   // engine + default model
//   const { top5 } = await predict({ image: blob });
//   const { cam: map, width, height } = await cam({ image: blob, method: 'gradcam' });
//
//   <script type="module" src="cnnlens.js"></script>
//   <cnn-lens model="models/shapes.onnx" image="samples/shapes-1.png"
//             method="gradcam" layer="" class=""></cnn-lens>
//
// Every URL is relative to this file, so a site works under any sub-path.
// No image or model leaves the page: files are read locally and handed to
// the worker as transferable buffers.

const BASE = new URL('.', import.meta.url);

// ---------------------------------------------------------------- worker

/**
 * EngineError is every error of this API: message for people, code for
 * programs (web/README.md lists the codes: 'not_image', 'input_gone',
 * 'dynamic_sizes', 'cancelled', …), op the request that failed.
 */
export class EngineError extends Error {
  constructor(message, op, code = 'internal') { super(message); this.name = 'EngineError'; this.op = op; this.code = code; }
}

/**
 * Engine is one worker running the Go engine. Requests are queued and run
 * one at a time; each returns a promise. A worker that dies (out of memory,
 * a Go runtime crash) is replaced on the next request, and the models it had
 * are loaded again.
 */
class Engine extends EventTarget {
  constructor() {
    super();
    this.nextId = 1;
    this.pending = new Map();
    this.models = new Map(); // model id → {bytes, card} to reload after a crash
    this.generation = 0;
    this._start();
  }

  _start() {
    this.generation++;
    const gen = this.generation;
    this.started = new Promise((resolve, reject) => {
      this._resolveStart = resolve;
      this._rejectStart = reject;
    });
    this.started.catch(() => {});
    const boot = typeof window !== 'undefined' && window.cnnlensBoot;
    let worker;
    let queued = [];
    if (gen === 1 && boot && boot.worker && boot.base === BASE.href && !boot.taken) {
      // boot.js started the worker already: take it and its messages so far.
      boot.taken = true;
      worker = boot.worker;
      queued = boot.queue.splice(0);
    } else {
      worker = this._newWorker();
    }
    this.worker = worker;
    worker.onmessage = (e) => this._onMessage(e.data, gen);
    worker.onerror = (e) => {
      e.preventDefault();
      this._fatal(gen, 'the engine worker failed: ' + (e.message || 'could not load worker.js'));
    };
    for (const m of queued) this._onMessage(m, gen);
  }

  _newWorker() {
    const workerURL = new URL('worker.js', BASE);
    let worker;
    if (workerURL.origin === location.origin) {
      worker = new Worker(workerURL);
    } else {
      // Embedded from another origin: a worker must be same-origin, so start
      // one from a blob that imports the real script.
      const src = `self.cnnlensBase=${JSON.stringify(BASE.href)};importScripts(${JSON.stringify(workerURL.href)});`;
      worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    }
    worker.postMessage({ op: 'start', wasm: new URL('cnnlens.wasm', BASE).href });
    return worker;
  }

  _onMessage(m, gen) {
    if (gen !== this.generation) return;
    if (m.type === 'ready') {
      this.methods = m.methods;
      this.divisible = m.divisible || [];
      this.divisibleOps = m.divisibleOps || [];
      this.colormaps = m.colormaps;
      this.colormapTables = m.colormapTables || {};
      this.startMs = m.startMs;
      this._times(m.times);
      this._resolveStart();
      return;
    }
    if (m.type === 'fatal') { this._fatal(gen, m.error); return; }
    if (m.times && m.id) this._times(m.times);
    const p = this.pending.get(m.id);
    if (!p) { if (m.progress && m.progress.image) m.progress.image.close(); return; }
    if (m.progress) {
      // A progress report may carry a picture (maximize); the third argument
      // is the whole report. A picture nobody takes is closed.
      if (p.onProgress) p.onProgress(m.progress.done, m.progress.total, m.progress);
      else if (m.progress.image) m.progress.image.close();
      return;
    }
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new EngineError(m.error, p.op, m.code || 'internal'));
  }

  // _times keeps the worker's start-up marks (ms since the epoch) on the
  // page's performance.now() scale.
  _times(times) {
    if (!this.times) this.times = {};
    for (const [k, v] of Object.entries(times || {})) this.times[k] = v - performance.timeOrigin;
  }

  _fatal(gen, message) {
    if (gen !== this.generation) return;
    console.error('cnnlens:', message);
    this._rejectStart(new EngineError(message, 'start', 'crashed'));
    for (const [, p] of this.pending) p.reject(new EngineError(message, p.op, 'crashed'));
    this.pending.clear();
    try { this.worker.terminate(); } catch (_) { /* gone */ }
    this.crashed = message;
    this.dispatchEvent(new CustomEvent('crash', { detail: message }));
  }

  async _restart() {
    this.crashed = null;
    this._start();
    await this.started;
    // Load the models again under their old ids: the worker numbers models
    // from 1 in load order, so reload them in that order.
    const old = [...this.models.entries()].sort((a, b) => a[0] - b[0]);
    this.models.clear();
    this._remap = new Map();
    for (const [id, m] of old) {
      const info = await this._call('loadModel', { bytes: m.bytes.slice(0), card: m.card });
      this._remap.set(id, info.id);
      this.models.set(info.id, m);
    }
  }

  /** call sends a request and resolves with its result. */
  async call(op, args = {}, transfer = [], onProgress = null) {
    if (op === 'disposeInput' && this === engineSingleton) {
      inputSources.delete(args.input);
      const p = prepared.get(args.input);
      if (p) {
        prepared.delete(args.input);
        p.job.promise.then(closePictures, () => {});
      }
    }
    // The worker keeps requests that come before the engine has started.
    if (this.crashed) await this._restart();
    if (this._remap && args.model && this._remap.has(args.model)) args = { ...args, model: this._remap.get(args.model) };
    return this._call(op, args, transfer, onProgress);
  }

  _call(op, args, transfer = [], onProgress = null) {
    const promise = this._expect(op, onProgress);
    this.worker.postMessage({ ...args, id: promise.id, op }, transfer);
    return promise;
  }

  // _expect numbers a request and resolves with its answer: _call's, or one
  // that another request carries (next, which the worker runs right after
  // that one).
  _expect(op, onProgress = null) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, op });
    });
    promise.id = id;
    return promise;
  }

  /** start sends a request and returns {id, promise} so that it can be cancelled. */
  start(op, args, onProgress) {
    const state = { id: 0 };
    state.promise = (async () => {
      if (this.crashed) await this._restart();
      const p = this._call(op, args, [], onProgress);
      state.id = p.id;
      return p;
    })();
    return state;
  }

  cancel(id) { if (id) this.worker.postMessage({ op: 'cancel', target: id }); }
}

let engineSingleton = null;
/** engine returns the module's shared engine (one worker per page). */
export function engine() {
  if (!engineSingleton) engineSingleton = new Engine();
  return engineSingleton;
}

// ---------------------------------------------------------------- inputs

/** parseLabels reads a model card (JSON object), a JSON list or a text file (one label a line). */
export function parseLabels(text) {
  const t = text.trim();
  if (t.startsWith('{')) return JSON.parse(t);
  if (t.startsWith('[')) return { labels: JSON.parse(t) };
  return { labels: t.split(/\r?\n/).map((s) => s.trim()) };
}

// textOf decodes bytes as UTF-8 text, or returns null for a file that is
// not text (a zero byte, or bytes that are not UTF-8).
function textOf(bytes, partial = false) {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: partial });
  } catch (_) {
    return null;
  }
}

/**
 * readLabels reads a labels file (File, Blob, ArrayBuffer or string): a
 * model card (JSON object), a JSON list or one label a line. It rejects
 * with code 'bad_card' a file that is not text or not valid JSON; the
 * engine refuses labels whose count is not the model's number of outputs.
 */
export async function readLabels(source) {
  let text = source;
  if (typeof source !== 'string') {
    let bytes;
    if (source instanceof Blob) bytes = new Uint8Array(await source.arrayBuffer());
    else if (ArrayBuffer.isView(source)) bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    else bytes = new Uint8Array(source);
    text = textOf(bytes);
    if (text == null) {
      throw new EngineError('labels: not a text file: give a JSON card, a JSON list of names or a text file with one name a line', 'labels', 'bad_card');
    }
  }
  if (!text.trim()) throw new EngineError('labels: the file is empty', 'labels', 'bad_card');
  try {
    return parseLabels(text);
  } catch (err) {
    throw new EngineError(`labels: not valid JSON: ${err.message}`, 'labels', 'bad_card');
  }
}

const IMAGE_NAME = /\.(png|jpe?g|gif|bmp|tiff?|webp|avif|svg|ico)$/i;

function imageMagic(b) {
  const s = (i, str) => [...str].every((c, k) => b[i + k] === c.charCodeAt(0));
  return (b[0] === 0x89 && s(1, 'PNG')) || (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) || s(0, 'GIF8') ||
    s(0, 'BM') || (s(0, 'RIFF') && s(8, 'WEBP')) || s(0, 'II*\0') || s(0, 'MM\0*') || s(4, 'ftyp') ||
    (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0);
}

/**
 * fileKind says what a file given to a page is: 'model' (.onnx, and any
 * file that is neither an image nor text: it is tried as ONNX), 'labels'
 * (.json, .txt or other text: a card or labels) or 'image'.
 */
export async function fileKind(file) {
  const name = file.name || '';
  if (/\.onnx$/i.test(name)) return 'model';
  if (/\.(json|txt)$/i.test(name)) return 'labels';
  if (/^image\//.test(file.type || '') || IMAGE_NAME.test(name)) return 'image';
  const head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  if (imageMagic(head)) return 'image';
  const text = head.length ? textOf(head, true) : null;
  if (text != null) return /^\s*<(\?xml|svg)/i.test(text) ? 'image' : 'labels';
  return 'model';
}

let imagenet = null;
/**
 * imagenetLabels resolves with ImageNet's 1000 class names in torchvision's
 * order (the site's imagenet-classes.txt, fetched once), or null when the
 * site does not have them.
 */
export function imagenetLabels() {
  if (!imagenet) {
    imagenet = fetch(new URL('imagenet-classes.txt', BASE))
      .then((r) => (r.ok ? r.text() : ''))
      .then((t) => {
        const names = t.trim().split(/\r?\n/).map((x) => x.trim());
        return names.length === 1000 ? names : null;
      })
      .catch(() => null);
  }
  return imagenet;
}

async function fetchBytes(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new EngineError(`${what} ${url}: ${err.message}`, 'fetch', 'fetch');
  }
  if (!res.ok) throw new EngineError(`${what} ${url}: HTTP ${res.status}`, 'fetch', 'fetch');
  return res.arrayBuffer();
}

async function fetchCard(url) {
  try {
    const res = await fetch(url);
    if (!res.ok) return null;
    return parseLabels(await res.text());
  } catch (_) {
    return null;
  }
}

function resolveURL(u) {
  return new URL(u, document.baseURI).href;
}

/**
 * modelURL turns a model attribute into a URL: a bare name ("shapes")
 * names a bundled model (models/shapes.onnx); anything else is a URL
 * relative to the page.
 */
export function modelURL(name) {
  if (/^[\w-]+$/.test(name)) return new URL(`models/${name}.onnx`, BASE).href;
  return resolveURL(name);
}

function sameOrigin(url) {
  try { return new URL(url, location.href).origin === location.origin; } catch (_) { return false; }
}

/**
 * inputMessage turns {tensor | image} into the worker's setInput message
 * (without the model) and its transfer list. Images given as files or
 * URLs are decoded by the engine (as the CLI does); pixels already decoded
 * by the browser cross as RGBA.
 */
async function inputMessage(src) {
  if (src.tensor) {
    const t = src.tensor instanceof Float32Array ? src.tensor.slice() : new Float32Array(src.tensor);
    return [{ kind: 'tensor', data: t }, [t.buffer]];
  }
  let img = src.image;
  if (img == null) throw new EngineError('give an image or a tensor', 'input', 'bad_request');
  if (typeof img === 'string') img = await fetchBytes(resolveURL(img), 'image');
  if (img instanceof Blob) img = await img.arrayBuffer();
  if (img instanceof ArrayBuffer) return [{ kind: 'encoded', data: img }, [img]];
  if (ArrayBuffer.isView(img)) {
    const b = img.buffer.slice(img.byteOffset, img.byteOffset + img.byteLength);
    return [{ kind: 'encoded', data: b }, [b]];
  }
  if (typeof HTMLImageElement !== 'undefined' && img instanceof HTMLImageElement) {
    if (!img.complete) await img.decode();
    const u = img.currentSrc || img.src;
    if (u && (sameOrigin(u) || u.startsWith('data:') || u.startsWith('blob:'))) {
      const b = await fetchBytes(u, 'image');
      return [{ kind: 'encoded', data: b }, [b]];
    }
  }
  if (typeof ImageData !== 'undefined' && img instanceof ImageData) {
    const d = new Uint8ClampedArray(img.data);
    return [{ kind: 'rgba', data: d, width: img.width, height: img.height }, [d.buffer]];
  }
  // Anything drawable: canvas, video frame, ImageBitmap, cross-origin <img>.
  const w = img.naturalWidth || img.videoWidth || img.width;
  const h = img.naturalHeight || img.videoHeight || img.height;
  if (!w || !h) throw new EngineError('the image has no pixels', 'input', 'bad_request');
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0, w, h);
  const d = ctx.getImageData(0, 0, w, h).data;
  return [{ kind: 'rgba', data: d, width: w, height: h }, [d.buffer]];
}

/**
 * setInput gives the engine an input for a model and runs the forward pass.
 * It resolves with {id, logits, top5, forwardMs, width, height}. A file the
 * engine cannot decode but the browser can (AVIF, SVG, …) is decoded by the
 * browser. src.method, when given, is the method to be computed first: the
 * forward pass runs at the precision that method needs, so that it is not
 * run twice (another method's is run when first asked for).
 */
export async function setInput(modelId, src) {
  const eng = engine();
  const [msg, transfer] = await inputMessage(src);
  if (src.method) msg.method = src.method;
  let bytes = null;
  if (msg.kind === 'encoded') bytes = msg.data.slice(0);
  const keep = { ...msg, data: msg.data.slice(0) };
  // src.cam: the map to compute right after (computeCAM's options); the
  // engine starts it as soon as the input is set, and computeCAM with the
  // same options on this input takes it.
  let then = null;
  if (src.cam && !eng.crashed) {
    const args = camArgs(0, src.cam);
    if (src.cam.render) args.render = src.cam.render;
    const answer = eng._expect('cam');
    answer.catch(() => {});
    msg.next = { ...args, id: answer.id, op: 'cam', from: 'input' };
    then = { key: camKey(args), job: { promise: answer, cancel: () => eng.cancel(answer.id) } };
  }
  try {
    const r = await eng.call('setInput', { ...msg, model: modelId }, transfer);
    keepSource(r.id, modelId, keep, r.forwardMs);
    if (then) prepared.set(r.id, then);
    return r;
  } catch (err) {
    if (!bytes || err.code !== 'not_image') throw err;
    let bmp;
    try {
      bmp = await createImageBitmap(new Blob([bytes]));
    } catch (_) {
      throw err;
    }
    const [m2, t2] = await inputMessage({ image: bmp });
    if (src.method) m2.method = src.method;
    const keep2 = { ...m2, data: m2.data.slice(0) };
    const r = await eng.call('setInput', { ...m2, model: modelId }, t2);
    keepSource(r.id, modelId, keep2, r.forwardMs);
    return r;
  }
}

// ---------------------------------------------------------------- worker pool
//
// SmoothGrad, ScoreCAM, AblationCAM and Integrated Gradients divide into
// independent pieces (noisy copies, masked inputs, batches of ablated
// channels, points of the path: the engine's divisible methods), and so do
// the metrics (their ROAD batches): computeCAM and metrics run them on
// a pool of workers, each with an engine of its own (no shared memory, so
// no special headers), by default min(hardwareConcurrency, 8) of them. The
// main engine computes the first piece, which tells how many there are;
// helpers load the model and set the input meanwhile; the rest is divided
// evenly; the main engine finishes the map from every piece's data, so the
// map is the one a single worker computes, bit for bit. A helper that
// fails leaves its share to the main engine. maximizeGallery (below)
// divides a gallery's channels the same way.

const inputSources = new Map(); // input id → {model, msg}: what setInput sent, to set it on helpers
const MAX_SOURCES = 8;

function keepSource(id, model, msg, forwardMs) {
  inputSources.set(id, { model, msg, forwardMs });
  while (inputSources.size > MAX_SOURCES) inputSources.delete(inputSources.keys().next().value);
}

let workerCount = Math.max(1, Math.min((typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1, 8));
const helpers = []; // Engines beside the main one, started when first needed

/** workers returns how many workers the divisible methods use. */
export function workers() { return workerCount; }

/** setWorkers sets how many workers the divisible methods use (1–8); extra helpers are stopped. */
export function setWorkers(n) {
  workerCount = Math.max(1, Math.min(8, Math.floor(Number(n)) || 1));
  for (const h of helpers.splice(workerCount - 1)) { try { h.worker.terminate(); } catch (_) { /* gone */ } }
}

// helperModel loads the main engine's model id into helper h (again when
// its card changed) and returns the helper's id for it.
async function helperModel(h, id) {
  const m = engine().models.get(id);
  if (!m) throw new EngineError('the model is not loaded', 'cam', 'model_gone');
  let hm = h.mirror.get(id);
  if (!hm || hm.source !== m) {
    const info = await h.call('loadModel', { bytes: m.bytes.slice(0), card: m.card });
    hm = { id: info.id, source: m, card: m.card };
    h.mirror.set(id, hm);
  } else if (hm.card !== m.card) {
    await h.call('configure', { model: hm.id, card: m.card });
    hm.card = m.card;
  }
  return hm.id;
}

// helperInput sets the main engine's input on helper h; resolves with the
// helper's input id.
async function helperInput(h, input) {
  const src = inputSources.get(input);
  if (!src) throw new EngineError('the input is gone', 'cam', 'input_gone');
  const model = await helperModel(h, src.model);
  const msg = { ...src.msg, data: src.msg.data.slice(0) };
  const r = await h.call('setInput', { ...msg, model }, [msg.data.buffer || msg.data]);
  return r.id;
}

function helperEngines(n) {
  while (helpers.length < n) {
    const h = new Engine();
    h.mirror = new Map();
    helpers.push(h);
  }
  return helpers.slice(0, n);
}

// dividedCAM computes a divisible method (op 'cam'), or the metrics (op
// 'metrics': their ROAD passes), on the main engine and n-1 helpers.
function dividedCAM(eng, input, args, opts, n, op = 'cam') {
  const running = []; // [engine, state] of the parts under way
  let cancelled = false;
  const done = new Map();
  let total = 0;
  const partArgs = { ...args };
  delete partArgs.render;
  const part = (e, id, lo, hi) => {
    const key = `${lo}`;
    const st = e.start(op, { ...partArgs, input: id, part: [lo, hi] }, (d) => {
      done.set(key, d);
      if (opts.onProgress && total) {
        let sum = 0;
        for (const v of done.values()) sum += v;
        opts.onProgress(Math.min(sum, total), total);
      }
    });
    running.push([e, st]);
    return st.promise.then((r) => { done.set(key, hi - lo); return r.pieces; });
  };
  const promise = (async () => {
    const t0 = performance.now();
    const hs = helperEngines(n - 1);
    const hin = hs.map((h) => helperInput(h, input).then((id) => ({ h, id }), () => null));
    try {
      const first = await (async () => {
        const st = eng.start(op, { ...partArgs, part: [0, 1] });
        running.push([eng, st]);
        return st.promise;
      })();
      total = first.pieceCount;
      done.set('0', 1);
      const rest = total - 1;
      // A helper first sets the input (a forward pass, and for Ablation-CAM
      // a second one): when the rest takes the main engine less than that
      // (Ablation-CAM at a network's last layer), it computes the rest alone.
      const src = inputSources.get(input);
      const alone = first.pieceMs >= 0 && src && src.forwardMs > 0 && first.pieceMs * rest < src.forwardMs;
      const ready = [{ h: eng, id: input }, ...(alone ? [] : (await Promise.all(hin)).filter(Boolean))];
      const k = ready.length;
      const shares = await Promise.all(ready.map(async ({ h, id }, i) => {
        const lo = 1 + Math.floor(rest * i / k), hi = 1 + Math.floor(rest * (i + 1) / k);
        if (lo >= hi) return new Float32Array(0);
        if (cancelled) throw new EngineError('cancelled', op, 'cancelled');
        try {
          return await part(h, id, lo, hi);
        } catch (err) {
          if (h === eng || cancelled || err.code === 'cancelled') throw err;
          return part(eng, input, lo, hi); // the helper failed: the main engine takes its share
        }
      }));
      let len = first.pieces.length;
      for (const p of shares) len += p.length;
      const pieces = new Float32Array(len);
      pieces.set(first.pieces, 0);
      let off = first.pieces.length;
      for (const p of shares) { pieces.set(p, off); off += p.length; }
      if (cancelled) throw new EngineError('cancelled', op, 'cancelled');
      const fin = eng.start(op, { ...args, pieces });
      running.push([eng, fin]);
      const res = await fin.promise;
      // The last request only combines the pieces: the result's time is
      // the whole divided job's, from the first piece to the combination.
      res.ms = performance.now() - t0;
      res.workers = k;
      return res;
    } finally {
      Promise.all(hin).then((rs) => {
        for (const r of rs) if (r) r.h.call('disposeInput', { input: r.id }).catch(() => {});
      });
    }
  })();
  const cancel = () => {
    cancelled = true;
    for (const [e, st] of running) e.cancel(st.id);
  };
  return { promise, cancel };
}

// ---------------------------------------------------------------- API

let current = null; // ModelInfo of the model the API uses
const modelCache = new Map(); // URL → Promise<ModelInfo>

/**
 * loadModel loads an ONNX model from an ArrayBuffer, a Blob or a URL, with
 * an optional model card {labels, input_shape, mean, std, default_layer}
 * (for a URL, NAME.json beside NAME.onnx is read when no card is given),
 * makes it the API's current model and resolves with its ModelInfo:
 * {id, layers: [{node, op, output, shape}], inputShape, labels, labelsFrom
 *  ('card', 'imagenet': a 1000-class model without labels gets ImageNet's
 *  class names, or '': none), mean, std,
 *  suggestedLayer, defaultLayer, classes, macs, convLayers: [{node, output,
 *  shape: [O, I, kh, kw], group}], poolingLayers: [{node, op, output, input}], …}.
 */
export async function loadModel(source, card) {
  const info = await openModel(source, card);
  current = info;
  return info;
}

/** openModel loads a model like loadModel without making it current. */
export async function openModel(source, card) {
  const eng = engine();
  let bytes = source;
  let name = 'model';
  if (typeof source === 'string') {
    const url = resolveURL(source);
    name = decodeURIComponent(url.split('/').pop().split('?')[0]);
    const [b, c] = await Promise.all([
      fetchBytes(url, 'model'),
      card === undefined ? fetchCard(url.replace(/\.onnx(\?.*)?$/, '.json')) : card,
    ]);
    bytes = b;
    card = c;
  } else if (source instanceof Blob) {
    name = source.name || name;
    bytes = await source.arrayBuffer();
  } else if (ArrayBuffer.isView(source)) {
    bytes = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength);
  }
  if (!(bytes instanceof ArrayBuffer)) throw new EngineError('loadModel needs an ArrayBuffer, a Blob or a URL', 'loadModel', 'bad_request');
  const keep = bytes.slice(0);
  let info = await eng.call('loadModel', { bytes, card: card || null }, [bytes]);
  let labelsFrom = card && card.labels && card.labels.length ? 'card' : '';
  if (!labelsFrom && info.classes === 1000) {
    // A 1000-class model without labels: an ImageNet classifier (a
    // torchvision export) most likely, so name its classes.
    const names = await imagenetLabels();
    if (names) {
      const withNames = { ...(card || {}), labels: names };
      try {
        info = await eng.call('configure', { model: info.id, card: withNames });
        card = withNames;
        labelsFrom = 'imagenet';
      } catch (_) { /* keep the numbers */ }
    }
  }
  eng.models.set(info.id, { bytes: keep, card: card || null });
  info.name = name;
  info.card = card || null;
  info.labelsFrom = labelsFrom;
  return info;
}

/**
 * configureModel changes a model's input size, normalisation or labels:
 * the fields given replace the model's, the others are kept.
 */
export async function configureModel(info, card) {
  const merged = { ...(info.card || {}), ...card };
  const out = await engine().call('configure', { model: info.id, card: merged });
  out.name = info.name;
  out.card = merged;
  out.labelsFrom = card.labels ? 'card' : info.labelsFrom;
  engine().models.get(info.id).card = out.card;
  if (current && current.id === info.id) current = out;
  return out;
}

/** disposeModel frees a model in the engine. */
export function disposeModel(info) {
  engine().models.delete(info.id);
  for (const h of helpers) {
    const hm = h.mirror.get(info.id);
    if (hm) { h.mirror.delete(info.id); h.call('disposeModel', { model: hm.id }).catch(() => {}); }
  }
  return engine().call('disposeModel', { model: info.id });
}

function needModel(opts) {
  const m = opts.model || current;
  if (!m) throw new EngineError('no model is loaded', 'cam', 'model_gone');
  return m;
}

/**
 * predict runs the model on {tensor: Float32Array NCHW} or {image: ImageData |
 * HTMLImageElement | Blob | URL} and resolves with {logits, top5: [{index,
 * label, prob, logit}]}. For a segmentation model (output 1×K×H×W) it also
 * has segmentation: {width, height, argmax: Int32Array (H×W class indices),
 * classes: [{index, label, pixels}] (the classes present, most pixels
 * first)}, and top5 lists those classes with prob = their share of pixels.
 */
export async function predict(opts) {
  if (!opts.model && !current) await ready;
  const m = needModel(opts);
  const r = await setInput(m.id, opts);
  engine().call('disposeInput', { input: r.id });
  return { logits: r.logits, top5: r.top5, forwardMs: r.forwardMs, segmentation: r.segmentation };
}

/**
 * cam computes a map: {tensor | image, layer, layout?, classIndex, method,
 * augSmooth, eigenSmooth, contrast?, kind? ('logit' | 'softmax' | 'rest'),
 * femK?, finerCompare?, finerAlpha?, base?, seed?, steps?, samples?,
 * noise?, window?, stride?, superpixel? (ATTR_PARAMS), segClass?, mask?,
 * maskWidth?, maskHeight?, render?: {colormap, alpha}, onProgress?}
 * resolves with {cam: Float32Array (H×W in 0..1; H×W×3 for guided methods),
 * width, height, classIndex, ms, forwardMs, backwardMs, score, layer,
 * layout, attr? (the input methods' attribution, Float32Array C×H×W like
 * `cnnlens cam -out-attr`), delta? (its convergence delta)}, the same
 * numbers as `cnnlens cam -fast -out-cam`. layout ('auto', 'nchw', 'nhwc',
 * 'tokens') says how the layer's value is laid out (default: the card's
 * layer_layout, else auto). For a segmentation model, segClass (or
 * classIndex) is the class explained over mask (an array of the output's
 * H×W, or maskWidth×maskHeight resized nearest; non-zero pixels count), by
 * default over the pixels predicted as that class.
 */
export async function cam(opts) {
  if (!opts.model && !current) await ready;
  const m = needModel(opts);
  const input = opts.input || (await setInput(m.id, opts)).id;
  try {
    return await computeCAM(input, opts).promise;
  } finally {
    if (!opts.input) engine().call('disposeInput', { input });
  }
}

/**
 * computeCAM starts a map for an input set with setInput; it returns
 * {promise, cancel()} (ScoreCAM and AblationCAM report progress and can be
 * stopped).
 */
export function computeCAM(input, opts = {}) {
  const args = camArgs(input, opts);
  if (opts.render) args.render = opts.render;
  const eng = engine();
  const ready = prepared.get(input);
  if (ready) {
    prepared.delete(input);
    if (ready.key === camKey(args)) return ready.job;
    ready.job.promise.then(closePictures, () => {}); // asked for something else meanwhile
  }
  if (workerCount > 1 && !args.augSmooth && (eng.divisible || []).includes(args.method) && inputSources.has(input)) {
    return dividedCAM(eng, input, args, opts, workerCount);
  }
  const state = eng.start('cam', args, opts.onProgress);
  return { promise: state.promise, cancel: () => eng.cancel(state.id) };
}

/**
 * ATTR_PARAMS are the input attributions' parameters that camArgs passes
 * on (absent: the engine's defaults): steps (integrated-gradients),
 * samples and noise (smoothgrad, smoothgrad-sq, vargrad, gradientshap; the
 * seed is `seed`), window and stride (occlusion), superpixel
 * (featureablation); see docs/methods.md.
 */
export const ATTR_PARAMS = ['steps', 'samples', 'noise', 'window', 'stride', 'superpixel'];

/**
 * camArgs is a cam or metrics message: the target (kind 'logit' | 'softmax'
 * | 'rest', or a contrast), layer ('' : the model's default; several
 * separated by commas for refinecam) and the method options femK (fem),
 * finerCompare (array of classes) and finerAlpha (finercam), base
 * (refinecam's and finercam's per-layer method), seed (randomcam and the
 * random input attributions) and ATTR_PARAMS.
 */
// prepared: the maps started with an input (setInput's src.cam), by input
// id, until computeCAM takes them.
const prepared = new Map();

// camKey tells cam requests apart, but for their input.
function camKey(args) {
  const { input, ...rest } = args;
  return JSON.stringify(rest);
}

function closePictures(res) {
  for (const k of ['overlay', 'heat', 'rawImage']) if (res && res[k] && res[k].close) res[k].close();
}

function camArgs(input, opts) {
  const args = {
    input,
    method: opts.method || 'gradcam',
    layer: Array.isArray(opts.layer) ? opts.layer.join(',') : (opts.layer || ''),
    kind: opts.contrast != null && opts.contrast !== '' ? 'contrast' : (opts.kind || opts.target || 'logit'),
    class: opts.classIndex == null || opts.classIndex === '' ? -1 : Number(opts.classIndex),
    other: opts.contrast == null || opts.contrast === '' ? -1 : Number(opts.contrast),
    augSmooth: !!opts.augSmooth,
    eigenSmooth: !!opts.eigenSmooth,
    layout: opts.layout || '',
  };
  for (const k of ['femK', 'finerAlpha', 'seed', ...ATTR_PARAMS]) {
    if (opts[k] != null && opts[k] !== '') args[k] = Number(opts[k]);
  }
  if (opts.base) args.base = String(opts.base);
  if (opts.finerCompare != null && opts.finerCompare !== '') {
    const list = Array.isArray(opts.finerCompare) ? opts.finerCompare : String(opts.finerCompare).split(',');
    args.finerCompare = list.map(Number);
  }
  if (opts.segClass != null && opts.segClass !== '') args.class = Number(opts.segClass);
  if (opts.mask) Object.assign(args, { mask: opts.mask, maskWidth: opts.maskWidth || 0, maskHeight: opts.maskHeight || 0 });
  return args;
}

/**
 * metrics scores an input's map for a method (the cam options as
 * computeCAM, plus roadNoise (0.01; 0: none) and roadPercentiles ([10, …,
 * 90])); it returns {promise, cancel()}, the promise resolving with
 * {method, classIndex, score, scoreOnMasked, confidenceChange,
 * dropInConfidence, increaseInConfidence, roadPercentiles, roadMorf,
 * roadLerf, roadCombined, complexity, coherency, arccRoadCombined, arcc,
 * ms}, the numbers of `cnnlens metrics -json`.
 */
export function metrics(input, opts = {}) {
  const args = camArgs(input, opts);
  if (opts.roadNoise != null && opts.roadNoise !== '') args.roadNoise = Number(opts.roadNoise);
  if (opts.roadPercentiles) args.roadPercentiles = opts.roadPercentiles.map(Number);
  const eng = engine();
  // Divided like the methods: each worker computes the map and its share of
  // ROAD's perturbed inputs; the main one scores the rest from them.
  if (workerCount > 1 && (eng.divisibleOps || []).includes('metrics') && inputSources.has(input)) {
    return dividedCAM(eng, input, args, opts, workerCount, 'metrics');
  }
  const state = eng.start('metrics', args, opts.onProgress);
  return { promise: state.promise, cancel: () => eng.cancel(state.id) };
}

/**
 * dff factorises an input's layer into concepts (Deep Feature
 * Factorization): {layer ('' : the model's default), n (5), top (3)}
 * resolves with {layer, relError, width, height, ms, overlay: ImageBitmap
 * (the concepts over the picture with a legend on the right), concepts:
 * [{index, color: [r, g, b], label, topClasses: [{class, label, logit,
 * prob}], map: Float32Array (height×width in 0..1)}]}.
 */
export function dff(input, { layer = '', n = 5, top = 3 } = {}) {
  return engine().call('dff', { input, layer, n: Number(n), top: Number(top) });
}

/** render redraws an input's last map with a colormap and an opacity. */
export function render(input, { colormap = 'jet', alpha = 0.5 } = {}) {
  return engine().call('render', { input, colormap, alpha });
}

/** renderMap draws a map kept by the page (a result of computeCAM) over its input again. */
export function renderMap(input, res, { colormap = 'jet', alpha = 0.5 } = {}) {
  return engine().call('renderMap', {
    input, cam: res.cam, width: res.width, height: res.height, channels: res.channels,
    raw: res.raw, rawWidth: res.rawWidth, rawHeight: res.rawHeight, colormap, alpha,
  });
}

// ---------------------------------------------------------------- inside the network
//
// Pictures come back as ImageBitmaps (close them when drawn); numbers as
// plain arrays. Requests on an input (setInput's id) reuse its forward pass.

function modelId(opts) {
  const m = opts.model == null ? current : opts.model;
  if (m == null) throw new EngineError('no model is loaded', 'inspect', 'model_gone');
  return typeof m === 'number' ? m : m.id;
}

function targetArgs(opts) {
  return {
    kind: opts.contrast != null && opts.contrast !== '' ? 'contrast' : (opts.kind || 'logit'),
    class: opts.classIndex == null || opts.classIndex === '' ? -1 : Number(opts.classIndex),
    other: opts.contrast == null || opts.contrast === '' ? -1 : Number(opts.contrast),
  };
}

/**
 * filters draws a convolution's kernels: {model?, layer ('' : the first
 * convolution), mode: 'auto'|'rgb'|'channels'|'magnitude', perFilter,
 * max, maxInputs, tile, colormap, labels} resolves with {image: ImageBitmap
 * (the grid), layer, mode, filters, shown, inputs, kh, kw, perFilter (tiles
 * a filter), tiles, cols, cellWidth, cellHeight, pad, scale, stats: [{filter,
 * min, max, norm, scale}]}. Tile i sits at column i % cols, row
 * floor(i / cols), each cell cellWidth×cellHeight with pad pixels around.
 */
export async function filters(opts = {}) {
  if (opts.model == null && !current) await ready;
  return engine().call('filters', {
    model: modelId(opts), layer: opts.layer || '', mode: opts.mode || 'auto', perFilter: !!opts.perFilter,
    max: opts.max || 0, maxInputs: opts.maxInputs || 0, tile: opts.tile || 0, colormap: opts.colormap || '',
    labels: opts.labels !== false,
  });
}

/**
 * featureMaps draws every channel of a layer for an input: {layer,
 * gradients (d target / d activation instead), weights (Grad-CAM weights
 * for activations too), classIndex, contrast, order: 'index'|'mean'|'max'|
 * 'weight'|'abs-weight', max, tile, shared} resolves with {layer, grad,
 * class, channels, height, width, stats: [{channel, mean, min, max,
 * weight}] (by channel), order (the channels drawn, in order), tiles:
 * [ImageBitmap] (tiles[k] is channel order[k]), ms}.
 */
export function featureMaps(input, opts = {}) {
  return engine().call('featureMaps', {
    input, layer: opts.layer || '', grad: !!opts.gradients, weights: !!opts.weights, ...targetArgs(opts),
    order: opts.order || 'index', max: opts.max || 0, tile: opts.tile || 0, shared: !!opts.shared,
  });
}

/**
 * channelMap draws one channel large: {layer, channel, gradients, weights,
 * classIndex, contrast, colormap, alpha} resolves with {overlay: ImageBitmap
 * (over the input's picture), cells: ImageBitmap (cellSize pixels a value),
 * values: Float32Array (height×width), stat: {channel, mean, min, max,
 * weight}, layer, channel, grad, class, width, height, cellSize}.
 */
export function channelMap(input, opts = {}) {
  return engine().call('channel', {
    input, layer: opts.layer || '', channel: Number(opts.channel) || 0, grad: !!opts.gradients, weights: !!opts.weights,
    ...targetArgs(opts), colormap: opts.colormap || 'jet', alpha: opts.alpha == null ? 0.5 : Number(opts.alpha),
  });
}

/**
 * gradcamBreakdown shows how Grad-CAM builds its heatmap: {layer,
 * classIndex, contrast, top (channels shown, 8), tile, colormap, alpha}
 * resolves with {weights: [w_c] (every channel), order (channels by
 * weight), top, maps: [ImageBitmap] (A_c of each top channel, viridis on
 * mapLo[k]…mapHi[k]), grads: [ImageBitmap] (d target / dA_c, RdBu on
 * ±gradScale[k]; gradMin[k]…gradMax[k] its range), scaled: [ImageBitmap]
 * (w_c·A_c, RdBu on ±scaledScale[k]), sum, relu (RdBu on ±scale), overlay
 * (the colormap on 0…heatMax), score, topShare, sumMin, sumMax, layer,
 * class, channels, height, width}.
 */
export function gradcamBreakdown(input, opts = {}) {
  return engine().call('breakdown', {
    input, layer: opts.layer || '', ...targetArgs(opts), top: opts.top || 0, tile: opts.tile || 0,
    colormap: opts.colormap || 'jet', alpha: opts.alpha == null ? 0.5 : Number(opts.alpha),
  });
}

/**
 * maximize starts activation maximisation: gradient ascent on the input
 * for the picture that most excites {layer, channel} or, with classIndex
 * ≥ 0, a class's logit. Options (left out: the engine's default; 0 turns a
 * regulariser off): steps (256), lr (0.05), seed, jitter (8 px), rotate
 * (5°), scale (0.05), tv (0.05), blur (σ px, 0), blurEvery (4), l2 (0),
 * decorrelate, fourier, every (a picture in the progress report every
 * this many steps, 8), model. onProgress(done, total, {objective, image?:
 * ImageBitmap}) follows it. Returns {promise, cancel()}: the promise
 * resolves with {image: ImageBitmap, objective: Float32Array (per step),
 * start, final, steps, cancelled (cancel() keeps the picture so far),
 * layer, channel, class, channels, height, width, ms}.
 */
export function maximize(opts = {}) {
  const args = maximizeArgs(opts);
  const eng = engine();
  const state = eng.start('maximize', args, opts.onProgress);
  return { promise: state.promise, cancel: () => eng.cancel(state.id) };
}

// maximizeArgs is a maximize message.
function maximizeArgs(opts) {
  const args = { model: modelId(opts), layer: opts.layer || '', channel: Number(opts.channel) || 0 };
  args.class = opts.classIndex == null || opts.classIndex === '' ? -1 : Number(opts.classIndex);
  for (const k of ['steps', 'lr', 'seed', 'jitter', 'rotate', 'scale', 'tv', 'blur', 'blurEvery', 'l2', 'every']) {
    if (opts[k] != null && opts[k] !== '') args[k] = Number(opts[k]);
  }
  args.decorrelate = !!opts.decorrelate;
  args.fourier = !!opts.fourier;
  return args;
}

/**
 * maximizeGallery maximises several channels of a layer, each as
 * maximize({...opts, layer, channel}), on the pool of workers (the
 * channels in contiguous ranges, one range a worker; each worker loads the
 * model once). Each channel's result is the one a single worker computes.
 * opts: {layer, channels: [c…], model?, the options of maximize but
 * onProgress, onResult(channel, result) (as each finishes), onStep(channel,
 * done, total)}. Returns {promise, cancel()}: the promise resolves with the
 * results in the order of channels (those not reached after cancel() are
 * left out).
 */
export function maximizeGallery(opts = {}) {
  const main = engine();
  const channels = (opts.channels || []).map(Number);
  const results = new Array(channels.length);
  const running = []; // [engine, state]
  let cancelled = false;
  const one = { ...opts };
  for (const k of ['channels', 'onResult', 'onStep', 'onProgress']) delete one[k];
  const k = Math.max(1, Math.min(workerCount, channels.length));
  const run = async (e, model, lo, hi) => {
    for (let i = lo; i < hi && !cancelled; i++) {
      const args = maximizeArgs({ ...one, model, channel: channels[i] });
      const st = e.start('maximize', args, (d, t, p) => {
        if (p && p.image) p.image.close();
        if (opts.onStep) opts.onStep(channels[i], d, t);
      });
      running.push([e, st]);
      const r = await st.promise;
      results[i] = r;
      if (opts.onResult) opts.onResult(channels[i], r);
      if (r.cancelled) cancelled = true;
    }
  };
  const mainModel = modelId(opts);
  const promise = (async () => {
    const hs = helperEngines(k - 1);
    await Promise.all([{ e: main, h: null }, ...hs.map((h) => ({ e: h, h }))].map(async ({ e, h }, w) => {
      const lo = Math.floor(channels.length * w / k), hi = Math.floor(channels.length * (w + 1) / k);
      if (lo >= hi) return;
      if (!h) return run(main, mainModel, lo, hi);
      let model;
      try {
        model = await helperModel(h, mainModel);
      } catch (_) {
        return run(main, mainModel, lo, hi); // the helper failed: the main engine takes its share
      }
      try {
        return await run(h, model, lo, hi);
      } catch (err) {
        if (cancelled || err.code === 'cancelled') throw err;
        const rest = [];
        for (let i = lo; i < hi; i++) if (!results[i]) rest.push(i);
        if (rest.length) return run(main, mainModel, rest[0], hi);
      }
    }));
    return results.filter(Boolean);
  })();
  const cancel = () => {
    cancelled = true;
    for (const [e, st] of running) e.cancel(st.id);
  };
  return { promise, cancel };
}

/**
 * rotations finds filters of a convolution that are rotations (90°, 180°,
 * 270°) or flips of one another: {model?, layer ('' : the first
 * convolution), threshold (cosine similarity, 0.8), max (pairs drawn, 24),
 * perFilter, tile, chance (shuffles for the chance baseline, 0: none)}
 * resolves with {pairs: [{a, b, transform, score, identity}] (all, best
 * first), tiles: [[ImageBitmap ×3]] (A, A transformed, B for the first max
 * pairs, drawn in mode 'rgb' or 'magnitude' on ±scales[k]), chance (mean pairs with each filter's weights shuffled, -1 when
 * not asked), layer, filters, kh, kw, threshold, ms}.
 */
export async function rotations(opts = {}) {
  if (opts.model == null && !current) await ready;
  return engine().call('rotations', {
    model: modelId(opts), layer: opts.layer || '', threshold: opts.threshold == null ? 0 : Number(opts.threshold),
    max: opts.max || 0, perFilter: !!opts.perFilter, tile: opts.tile || 0, chance: opts.chance || 0,
  });
}

/**
 * poolingBackward shows how a pooling layer routes the gradient on an
 * input: {layer ('' : the first pooling layer), channel (left out: the
 * channel with the most gradient), classIndex, contrast, tile} resolves
 * with {tiles: [ImageBitmap ×3] (the input, viridis on inLo…inHi; the
 * gradient above, enlarged to the input's size, and below, RdBu on
 * ±scale; zoom screen pixels a value), input, gradAbove, gradBelow
 * (Float32Array: the channel's numbers), kernel, strides, op,
 * node, above, below, channels, height, width, outHeight, outWidth,
 * channel, best, fan (input cells an output cell covers), nonzeroAbove,
 * nonzeroBelow (the whole layer), channelAbove, channelBelow, sumAbove,
 * sumBelow (the channel shown), class}.
 */
export function poolingBackward(input, opts = {}) {
  return engine().call('pooling', {
    input, layer: opts.layer || '', channel: opts.channel == null || opts.channel === '' ? -1 : Number(opts.channel),
    ...targetArgs(opts), tile: opts.tile || 0,
  });
}

/** baseImage resolves with {image: ImageBitmap}, the picture an input's overlays are drawn on. */
export function baseImage(input) { return engine().call('base', { input }); }

/** methods resolves with the engine's method names. */
export async function methods() { await engine().started; return engine().methods; }

/** colormaps resolves with the engine's colormap names. */
export async function colormaps() { await engine().started; return engine().colormaps; }

/** currentModel is the ModelInfo the API uses. */
export function currentModel() { return current; }

/** manifest is the site's list of bundled models and samples (manifest.json). */
export const manifest = (typeof window !== 'undefined' && window.cnnlensBoot && window.cnnlensBoot.manifest && window.cnnlensBoot.base === BASE.href)
  ? window.cnnlensBoot.manifest
  : fetch(new URL('manifest.json', BASE)).then((r) => {
    if (!r.ok) throw new EngineError(`manifest.json: HTTP ${r.status}`, 'manifest', 'fetch');
    return r.json();
  });
manifest.catch(() => {});

/** assetURL resolves a path from the manifest against the site. */
export function assetURL(path) { return new URL(path, BASE).href; }

/** ready resolves when the engine and the default model are loaded. */
export const ready = (async () => {
  const eng = engine();
  const man = await manifest;
  const def = man.models.find((m) => m.name === man.defaultModel) || man.models[0];
  if (!def) throw new EngineError('this site has no bundled model', 'ready');
  const info = openModel(assetURL(def.file), def.card || null);
  modelCache.set(assetURL(def.file), info);
  await eng.started;
  const def0 = await info;
  if (!current) current = def0; // unless loadModel was called meanwhile
})();
ready.catch((err) => console.error('cnnlens:', err.message));

/** modelFor loads (once) the model at a URL or with a bundled name. */
export function modelFor(name) {
  const url = name ? modelURL(name) : null;
  if (!url) return ready.then(() => current);
  if (!modelCache.has(url)) {
    const p = openModel(url);
    p.catch(() => modelCache.delete(url));
    modelCache.set(url, p);
  }
  return modelCache.get(url);
}

/** defaultSample is the URL of the first sample for a bundled model. */
export async function defaultSample(info) {
  const man = await manifest;
  const entry = man.models.find((m) => info && info.name && m.file.endsWith('/' + info.name));
  const name = entry ? entry.name : man.defaultModel;
  const s = man.samples.find((x) => x.model === name) || man.samples[0];
  return s ? assetURL(s.file) : null;
}

export const version = '0.1';

// ---------------------------------------------------------------- <cnn-lens>

const ATTRS = ['model', 'image', 'method', 'layer', 'layout', 'class', 'contrast', 'colormap', 'alpha', 'aug-smooth', 'eigen-smooth',
  'view', 'mode', 'per-filter', 'gradients', 'order', 'channel', 'steps', 'seed'];

/** VIEWS are the element's view attribute values ('cam', the default, is the heatmap). */
export const VIEWS = ['cam', 'filters', 'featuremaps', 'breakdown', 'maximize'];

// methodNames: each method's display name, from the site's methods.json
// (the ids where it cannot be read).
let namesPromise = null;
function methodNames() {
  if (!namesPromise) {
    namesPromise = fetch(new URL('methods.json', BASE).href)
      .then((r) => (r.ok ? r.json() : []))
      .then((l) => Object.fromEntries(l.map((d) => [d.id, d.name])))
      .catch(() => ({}));
  }
  return namesPromise;
}

function closeBitmaps(v) {
  if (!v) return;
  if (Array.isArray(v)) { for (const b of v) closeBitmaps(b); return; }
  if (typeof ImageBitmap !== 'undefined' && v instanceof ImageBitmap) v.close();
}

function fmt(v) {
  if (v == null || Number.isNaN(v)) return '–';
  const x = Math.abs(v);
  if (x === 0) return '0';
  if (x >= 1e4 || x < 1e-3) return v.toExponential(2);
  return v.toPrecision(3);
}

/**
 * <cnn-lens model image method layer layout class contrast colormap alpha
 * aug-smooth eigen-smooth> draws a heatmap over an image (layout: auto,
 * nchw, nhwc or tokens, for a transformer's layer; on a segmentation
 * model, class is the class explained over its predicted pixels). model is a bundled
 * name ("shapes") or a URL; image a URL (default: the model's first
 * sample); the rest as on the page. It fires "cnnlens-render" with the
 * result when drawn and "cnnlens-error" when something failed.
 *
 * view picks another picture (the page's "Inside the network" views):
 * "filters" (layer, mode, per-filter) a convolution's kernels;
 * "featuremaps" (image, layer, gradients, order, class) a layer's channels;
 * "breakdown" (image, layer, class) how Grad-CAM builds its heatmap;
 * "maximize" (layer, channel, class, steps = 64, seed) activation
 * maximisation, drawn as it evolves.
 */
export class CNNLensElement extends HTMLElement {
  static get observedAttributes() { return ATTRS; }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>
:host { display: inline-block; font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 100%; }
figure { margin: 0; }
canvas { display: block; width: 100%; height: auto; image-rendering: auto; background: #eee; border-radius: 4px; }
canvas.pixels { image-rendering: pixelated; }
figcaption { padding: 4px 2px; color: #444; }
.err { color: #b00020; }
.cbar { font-size: 11px; color: #555; }
.cbar-ramp { display: block; width: 100%; height: 8px; border-radius: 2px; }
.cbar-ticks { display: flex; justify-content: space-between; }
</style><figure><canvas width="224" height="224" part="canvas"></canvas><figcaption part="caption">loading…</figcaption><div part="colorbar"></div></figure>`;
    this.canvas = root.querySelector('canvas');
    this.caption = root.querySelector('figcaption');
    this.bar = root.querySelector('[part=colorbar]');
    this._timer = 0;
    this._seq = 0;
    this._job = null;
  }

  connectedCallback() { this._schedule(); }
  disconnectedCallback() { this._stopJob(); }
  attributeChangedCallback() { if (this.isConnected) this._schedule(); }

  _schedule() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._draw(), 0);
  }

  _stopJob() {
    if (this._job) { this._job.cancel(); this._job = null; }
  }

  _classIndex(info) {
    const classAttr = this.getAttribute('class');
    let classIndex = classAttr == null || classAttr === '' ? -1 : Number(classAttr);
    if (classAttr && Number.isNaN(classIndex)) classIndex = (info.labels || []).indexOf(classAttr);
    return classIndex;
  }

  // _inputFor gives the engine the element's image (once per model and image).
  async _inputFor(info) {
    const image = this.getAttribute('image') ? resolveURL(this.getAttribute('image')) : await defaultSample(info);
    if (!image) throw new EngineError('no image: set the image attribute', 'cnn-lens');
    const key = info.id + ' ' + image;
    if (this._inputKey !== key) {
      if (this._input) engine().call('disposeInput', { input: this._input.id }).catch(() => {});
      this._input = null;
      this._inputKey = null;
      this._input = await setInput(info.id, { image });
      this._inputKey = key;
    }
    return this._input;
  }

  _labelOf(info, k) { return (info.labels && info.labels[k]) || `class ${k}`; }

  // _show draws a bitmap (closing it) into the canvas.
  _show(bmp, pixels) {
    this.canvas.classList.toggle('pixels', !!pixels);
    this.canvas.width = bmp.width;
    this.canvas.height = bmp.height;
    this.canvas.getContext('2d').drawImage(bmp, 0, 0);
    bmp.close();
  }

  // _layout draws rows of {bmp, label, w, h} cells onto the canvas, each
  // cell at w×h (default: the bitmap's size) with its label below.
  _layout(rows, pixels) {
    const pad = 4, text = 14;
    const width = Math.max(...rows.map((r) => r.reduce((s, c) => s + (c.w || c.bmp.width) + pad, pad)));
    const heights = rows.map((r) => Math.max(...r.map((c) => c.h || c.bmp.height)) + (r.some((c) => c.label) ? text : 0));
    const height = heights.reduce((s, h) => s + h + pad, pad);
    const c = this.canvas;
    c.classList.toggle('pixels', !!pixels);
    c.width = width;
    c.height = height;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingEnabled = !pixels;
    ctx.fillStyle = '#333';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    let y = pad;
    rows.forEach((r, i) => {
      let x = pad;
      for (const cell of r) {
        const w = cell.w || cell.bmp.width, h = cell.h || cell.bmp.height;
        ctx.drawImage(cell.bmp, x, y, w, h);
        if (cell.label) ctx.fillText(cell.label, x, y + h + 2, w);
        x += w + pad;
      }
      y += heights[i] + pad;
    });
    closeBitmaps(rows.map((r) => r.map((cell) => cell.bmp)));
  }

  async _draw() {
    const seq = ++this._seq;
    this._stopJob();
    const a = (n) => this.getAttribute(n);
    try {
      const view = (a('view') || 'cam').trim().toLowerCase();
      if (!VIEWS.includes(view)) throw new EngineError(`unknown view "${a('view')}": use ${VIEWS.join(', ')}`, 'cnn-lens');
      const info = await modelFor(a('model'));
      if (seq !== this._seq) return;
      const draw = {
        cam: this._drawCAM, filters: this._drawFilters, featuremaps: this._drawMaps,
        breakdown: this._drawBreakdown, maximize: this._drawMaximize,
      }[view];
      const out = await draw.call(this, info, seq);
      if (!out || seq !== this._seq) return;
      this.caption.className = '';
      this.caption.textContent = out.caption;
      this.result = out.res;
      this.dispatchEvent(new CustomEvent('cnnlens-render', { detail: out.res, bubbles: true, composed: true }));
    } catch (err) {
      if (seq !== this._seq) return;
      this.caption.className = 'err';
      this.caption.textContent = err.message;
      this.dispatchEvent(new CustomEvent('cnnlens-error', { detail: err.message, bubbles: true, composed: true }));
    }
  }

  async _drawCAM(info, seq) {
    const a = (n) => this.getAttribute(n);
    const input = await this._inputFor(info);
    if (seq !== this._seq) return null;
    const res = await computeCAM(input.id, {
      method: a('method') || 'gradcam',
      layer: a('layer') || '',
      layout: a('layout') || '',
      classIndex: this._classIndex(info),
      contrast: a('contrast'),
      augSmooth: this.hasAttribute('aug-smooth'),
      eigenSmooth: this.hasAttribute('eigen-smooth'),
      render: { colormap: a('colormap') || 'jet', alpha: a('alpha') == null ? 0.5 : Number(a('alpha')) },
    }).promise;
    if (seq !== this._seq) { closeBitmaps([res.overlay, res.heat, res.rawImage]); return null; }
    this._show(res.overlay, false);
    for (const k of ['heat', 'rawImage']) if (res[k]) res[k].close();
    // What the map is, and what its colours mean.
    const names = await methodNames();
    const m = res.method || a('method') || 'gradcam';
    const what = this._labelOf(info, res.classIndex);
    const layerMethod = !!res.layer;
    const { colorbar } = await import('./colorbar.js');
    if (seq !== this._seq) return null;
    this.bar.textContent = '';
    if (res.channels !== 3) {
      this.bar.append(colorbar({ colormap: a('colormap') || 'jet', min: 0, max: 1, low: layerMethod ? 'no evidence' : 'least', high: layerMethod ? 'strongest' : 'most' }));
    }
    const line = layerMethod ? `where the evidence for ${what} lies` : `the pixels ${what}'s score depends on most`;
    return { res, caption: `${names[m] || m} for ${what}: ${line} · ${res.ms.toFixed(1)} ms` };
  }

  async _drawFilters(info, seq) {
    this.bar.textContent = '';
    const a = (n) => this.getAttribute(n);
    const mode = a('mode') || 'auto';
    const res = await filters({
      model: info, layer: a('layer') || '', mode, perFilter: this.hasAttribute('per-filter'),
      labels: mode !== 'channels', max: mode === 'channels' ? 64 : 0, colormap: a('colormap') || '',
    });
    if (seq !== this._seq) { closeBitmaps(res.image); return null; }
    this._show(res.image, true);
    res.image = null;
    return { res, caption: `${res.layer} · ${res.filters} filters of ${res.inputs}×${res.kh}×${res.kw} · ${res.mode}${this.hasAttribute('per-filter') ? ' · per filter' : ` · ±${fmt(res.scale)}`}` };
  }

  async _drawMaps(info, seq) {
    this.bar.textContent = '';
    const a = (n) => this.getAttribute(n);
    const input = await this._inputFor(info);
    if (seq !== this._seq) return null;
    const res = await featureMaps(input.id, {
      layer: a('layer') || '', gradients: this.hasAttribute('gradients'), weights: true,
      classIndex: this._classIndex(info), contrast: a('contrast'), order: a('order') || 'index', tile: 48,
    });
    if (seq !== this._seq) { closeBitmaps(res.tiles); return null; }
    const n = res.tiles.length;
    const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
    const rows = [];
    res.tiles.forEach((bmp, k) => {
      if (k % cols === 0) rows.push([]);
      rows[rows.length - 1].push({ bmp, label: `#${res.order[k]}` });
    });
    if (n) this._layout(rows, true);
    res.tiles = [];
    const what = res.grad ? `gradients d ${this._labelOf(info, res.class)} / d activation` : 'activations';
    return { res, caption: `${res.layer} · ${res.channels} channels of ${res.height}×${res.width} · ${what} · by ${a('order') || 'index'}` };
  }

  async _drawBreakdown(info, seq) {
    this.bar.textContent = '';
    const a = (n) => this.getAttribute(n);
    const input = await this._inputFor(info);
    if (seq !== this._seq) return null;
    const res = await gradcamBreakdown(input.id, {
      layer: a('layer') || '', classIndex: this._classIndex(info), contrast: a('contrast'), tile: 64,
      colormap: a('colormap') || 'jet', alpha: a('alpha') == null ? 0.5 : Number(a('alpha')),
    });
    const all = [res.maps, res.scaled, res.sum, res.relu, res.overlay];
    closeBitmaps(res.grads); // this view draws no gradients
    res.grads = [];
    if (seq !== this._seq) { closeBitmaps(all); return null; }
    // Row 1: A_c of the top channels; row 2: w_c·A_c; row 3: Σ, ReLU, heatmap.
    const t = res.maps.length ? res.maps[0].width : 64;
    const big = 2 * t + 4;
    const fit = (b) => ({ w: Math.round(big * b.width / Math.max(b.width, b.height)), h: Math.round(big * b.height / Math.max(b.width, b.height)) });
    const rows = [
      res.top.map((c, k) => ({ bmp: res.maps[k], label: `A${c}` })),
      res.top.map((c, k) => ({ bmp: res.scaled[k], label: `${fmt(res.weights[c])}·A${c}` })),
      [
        { bmp: res.sum, label: `Σ all ${res.channels}`, ...fit(res.sum) },
        { bmp: res.relu, label: 'ReLU', ...fit(res.relu) },
        { bmp: res.overlay, label: 'Grad-CAM', ...fit(res.overlay) },
      ],
    ].filter((r) => r.length);
    this._layout(rows, false);
    for (const k of ['maps', 'scaled']) res[k] = [];
    for (const k of ['sum', 'relu', 'overlay']) res[k] = null;
    return { res, caption: `Grad-CAM for ${this._labelOf(info, res.class)} at ${res.layer} · top ${res.top.length} of ${res.channels} channels carry ${(100 * res.topShare).toFixed(0)}% of Σ|w·A|` };
  }

  async _drawMaximize(info, seq) {
    this.bar.textContent = '';
    const a = (n) => this.getAttribute(n);
    const steps = a('steps') == null || a('steps') === '' ? 64 : Number(a('steps'));
    const classIndex = this._classIndex(info);
    const what = classIndex >= 0 ? `the logit of ${this._labelOf(info, classIndex)}` : `channel ${Number(a('channel')) || 0} of ${a('layer') || info.defaultLayer || 'the default layer'}`;
    const job = maximize({
      model: info, layer: a('layer') || '', channel: a('channel'), classIndex, steps, seed: a('seed'),
      every: Math.max(1, Math.floor(steps / 16)),
      onProgress: (k, total, p) => {
        if (seq !== this._seq) { closeBitmaps(p.image); return; }
        if (p.image) this._show(p.image, true);
        this.caption.className = '';
        this.caption.textContent = `${what} · step ${k} of ${total} · objective ${fmt(p.objective)}`;
      },
    });
    this._job = job;
    let res;
    try {
      res = await job.promise;
    } finally {
      if (this._job === job) this._job = null;
    }
    if (seq !== this._seq) { closeBitmaps(res.image); return null; }
    this._show(res.image, true);
    res.image = null;
    const done = res.class >= 0 ? `the logit of ${this._labelOf(info, res.class)}` : `channel ${res.channel} of ${res.layer}`;
    return { res, caption: `${done} · ${res.cancelled ? 'cancelled after ' : ''}${res.steps} steps · objective ${fmt(res.start)} → ${fmt(res.final)} · ${(res.ms / 1000).toFixed(1)} s` };
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('cnn-lens')) {
  customElements.define('cnn-lens', CNNLensElement);
}
