// Speed benchmark of the page's engine: bin/cnnlens.wasm under Node.js,
// each worker a worker thread with an engine of its own (bench/worker.cjs),
// driven through the page's message protocol (wasm/js.go). With --peers 1
// it also runs ../shared/peers (TF.js 4.22 wasm, scalar and SIMD) on the
// same workloads and modes, alternating with the engine mode by mode.
//
//   node bench/bench.mjs --wasm bin/cnnlens.wasm --workloads resnet18 \
//     --modes forward,gradcam,saliency,smoothgrad,scorecam --workers 1,2 --peers 0
//
// Prints one JSON line per (engine, workload, mode, workers):
//   {"engine":"cnnlens","workload":"resnet18","mode":"gradcam","workers":1,
//    "median_ms":…,"runs":…,"status":"ok",…}
// median_ms is wall-clock time per run (setInput's forward pass and the
// map); cpu_median_ms the process's CPU time per run (every thread: the
// better figure for one worker when other processes share the cores);
// loadavg the 1-minute load average after the cell.
// `make bench` runs it (see docs/performance.md).
import { Worker } from 'node:worker_threads';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

function parseArgs(argv) {
  const o = {
    wasm: path.join(root, 'bin', 'cnnlens.wasm'),
    workloads: ['resnet18'],
    modes: ['forward', 'gradcam', 'saliency', 'smoothgrad', 'scorecam'],
    workers: [1],
    peers: true,
    shared: path.resolve(root, '..', 'shared'),
    cache: path.join(root, 'bin', 'bench'),
    runs: 5, // at least this many timed runs …
    minTime: 3, // … and at least this many seconds of them,
    maxRuns: 50,
    budget: 60, // unless that would take longer than this (then ≥ 1 run)
    warmupTime: 1.5,
    samples: 16,
    layer: '', // the layer of the layer methods ('' : the model's default)
    galleryChannels: 4, // gallery: channels maximised …
    galleryStepCount: 32, // … with this many steps each
  };
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--wasm': o.wasm = next(); break;
      case '--workloads': o.workloads = list(next()); break;
      case '--modes': o.modes = list(next()); break;
      case '--workers': o.workers = list(next()).map(Number); break;
      case '--peers': o.peers = next() !== '0'; break;
      case '--shared': o.shared = next(); break;
      case '--cache': o.cache = next(); break;
      case '--runs': o.runs = +next(); break;
      case '--min-time': o.minTime = +next(); break;
      case '--budget': o.budget = +next(); break;
      case '--warmup-time': o.warmupTime = +next(); break;
      case '--samples': o.samples = +next(); break;
      case '--layer': o.layer = next(); break;
      case '--gallery-channels': o.galleryChannels = +next(); break;
      case '--gallery-steps': o.galleryStepCount = +next(); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  for (const w of o.workers) {
    if (!Number.isInteger(w) || w < 1 || w > 64) throw new Error(`--workers: ${w} is not a worker count (1…64)`);
  }
  for (const m of o.modes) {
    if (!MODES[m]) throw new Error(`--modes: unknown mode ${m} (known: ${Object.keys(MODES).join(', ')})`);
  }
  for (const w of o.workloads) {
    if (!WORKLOADS[w]) throw new Error(`--workloads: unknown workload ${w} (known: ${Object.keys(WORKLOADS).join(', ')})`);
  }
  if (!(o.runs >= 1)) throw new Error('--runs must be at least 1');
  return o;
}

// Workloads: where the ONNX file comes from. The oracle's files are read in
// place; the peers' own exports (same graph builder as TF.js runs) are
// written to the cache.
const WORKLOADS = {
  tinycnn: { oracle: 'tinycnn/model.onnx', peer: 'tinycnn' },
  resnet18: { oracle: 'resnet18/model_bn.onnx', peer: 'resnet18' },
  mobilenet_v2: { peerBuild: 'mobilenet_v2', peer: 'mobilenet_v2' },
  resnet50: { peerBuild: 'resnet50', peer: 'resnet50' }, // bench/peers-ext.mjs
  scenes: { local: 'models/scenes.onnx' }, // the page's bundled models
  shapes: { local: 'models/shapes.onnx' },
};

// Modes: the requests of one run (after setInput, which runs the forward
// pass). split: the mode's work can be divided among workers.
const MODES = {
  forward: { cam: null, peer: 'forward' },
  gradcam: { cam: 'gradcam', peer: 'gradcam' },
  saliency: { cam: 'saliency', peer: 'saliency' },
  smoothgrad: { cam: 'smoothgrad', split: true, pieces: (o) => o.samples },
  scorecam: { cam: 'scorecam', split: true, pieces: (o, info) => layerChannels(info) },
  // Ablation-CAM: one piece per batch of 32 ablated channels (the first
  // part tells how many).
  ablationcam: { cam: 'ablationcam', split: true },
  // The metrics panel (metrics request): Grad-CAM's map scored by the
  // confidence change, ROAD (MoRF and LeRF) and ARCC; divided by ROAD's
  // perturbed inputs (the first part tells how many).
  metrics: { metrics: 'gradcam', split: true },
  // Activation maximisation of o.galleryChannels channels of the default
  // layer (o.gallerySteps steps each), divided by channels.
  gallery: { gallery: true, split: true },
  // Re-targeting: after the input's first Grad-CAM (not timed), another
  // class and other CAM methods at the same layer, each with its pictures
  // drawn (render); every request is timed on its own.
  retarget: { retarget: true },
};

// The re-targeting requests (after Grad-CAM of class cls), each timed.
const RETARGET = [
  { name: 'gradcam_other_class', method: 'gradcam', dcls: 1 },
  { name: 'gradcampp_same_class', method: 'gradcampp', dcls: 1 },
  { name: 'hirescam_third_class', method: 'hirescam', dcls: 2 },
  { name: 'eigencam', method: 'eigencam', dcls: 2 },
  { name: 'xgradcam_first_class', method: 'xgradcam', dcls: 0 },
];

// The channels of the model's default layer (Score-CAM's masked inputs).
function layerChannels(info) {
  const name = info.defaultLayer || info.suggestedLayer;
  const l = info.layers.find((l) => l.output === name || l.node === name);
  if (!l) throw new Error(`layer ${name} not found`);
  return l.shape[1];
}

async function modelBytes(o, name) {
  const w = WORKLOADS[name];
  if (w.local) {
    const f = path.join(root, w.local);
    return { file: f, bytes: fs.readFileSync(f) };
  }
  if (w.oracle) {
    const f = path.join(o.shared, 'oracle', w.oracle);
    if (!fs.existsSync(f)) throw new Error(`${name}: ${f} is missing`);
    return { file: f, bytes: fs.readFileSync(f) };
  }
  const f = path.join(o.cache, `${w.peerBuild}.onnx`);
  if (!fs.existsSync(f)) {
    const src = peerModels(o);
    const { WORKLOADS: PW } = await import(path.join(src, 'models.mjs'));
    const { graphToOnnx } = await import(path.join(src, 'onnx_writer.mjs'));
    fs.mkdirSync(o.cache, { recursive: true });
    fs.writeFileSync(f, graphToOnnx(PW[w.peerBuild].build()));
  }
  return { file: f, bytes: fs.readFileSync(f) };
}

// A deterministic input: the oracle's input.f32 beside the model when it
// has the right size, else a fixed pseudo-random normal image.
function inputFor(file, n) {
  const raw = path.join(path.dirname(file), 'raw', 'input.f32');
  if (fs.existsSync(raw) && fs.statSync(raw).size === 4 * n) {
    const b = fs.readFileSync(raw);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + 4 * n));
  }
  let a = 12345;
  const rnd = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rnd() + rnd() + rnd() - 1.5) * 2;
  return x;
}

// Engine is one worker thread with its engine.
class Engine {
  constructor(o) {
    this.w = new Worker(path.join(here, 'worker.cjs'), { workerData: { wasm: o.wasm, goroot: goroot() } });
    this.next = 1;
    this.pending = new Map();
    this.ready = new Promise((resolve, reject) => {
      this.w.on('message', (m) => {
        if (m.type === 'ready') { resolve(); return; }
        if (m.type === 'fatal') { reject(new Error(m.error)); this.failAll(m.error); return; }
        if (m.progress) return;
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok && m.result && typeof m.result === 'object') m.result.workerCpuMs = m.workerCpuMs;
        if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error));
      });
      this.w.on('error', (e) => { reject(e); this.failAll(String(e)); });
    });
  }
  failAll(msg) {
    for (const p of this.pending.values()) p.reject(new Error(msg));
    this.pending.clear();
  }
  call(op, msg = {}, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.w.postMessage({ ...msg, id, op }, transfer);
    });
  }
  terminate() { return this.w.terminate(); }
}

let gorootCache = null;
function goroot() {
  if (!gorootCache) gorootCache = execFileSync('go', ['env', 'GOROOT'], { encoding: 'utf8' }).trim();
  return gorootCache;
}

// One run of a mode: a fresh input (its forward pass), then the map. A
// divisible mode on several workers: each worker sets the input and
// computes its share of the pieces (cam request with part), and the first
// finishes the map from all of them (cam request with pieces), as the page
// does.
async function runOnce(o, pool, model, x, mode, opts) {
  const m = MODES[mode];
  if (m.retarget) return retargetOnce(o, pool[0], model[0], x, opts);
  if (m.gallery) return galleryOnce(o, pool, model, opts);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const split = m.split && pool.length > 1;
  const use = split ? pool : pool.slice(0, 1);
  // As the page: setInput names the method to be computed first, whose
  // precision tier the forward pass takes.
  const first = m.cam || m.metrics;
  const infos = await Promise.all(use.map((e, i) => e.call('setInput', { model: model[i], kind: 'tensor', data: x, method: first || undefined })));
  const op = m.metrics ? 'metrics' : 'cam';
  const req = { method: m.cam || m.metrics, class: opts.cls, samples: o.samples, layer: o.layer };
  let out = null;
  if (split) {
    // As the page: the first worker's part [0, 1) tells how many pieces
    // there are when the mode does not know.
    let first = null;
    let total = m.pieces ? m.pieces(o, opts.info) : 0;
    let lo0 = 0;
    if (!total) {
      first = await use[0].call(op, { ...req, input: infos[0].id, part: [0, 1] });
      total = first.pieceCount;
      lo0 = 1;
    }
    const rest = total - lo0;
    const parts = await Promise.all(use.map((e, i) => {
      const lo = lo0 + Math.floor(rest * i / use.length), hi = lo0 + Math.floor(rest * (i + 1) / use.length);
      if (lo >= hi) return { pieces: new Float32Array(0) };
      return e.call(op, { ...req, input: infos[i].id, part: [lo, hi] });
    }));
    if (first) parts.unshift(first);
    const n = parts.reduce((a, p) => a + p.pieces.length, 0);
    const pieces = new Float32Array(n);
    let off = 0;
    for (const p of parts) { pieces.set(p.pieces, off); off += p.pieces.length; }
    out = await use[0].call(op, { ...req, input: infos[0].id, pieces }, [pieces.buffer]);
  } else if (m.cam || m.metrics) {
    out = await use[0].call(op, { ...req, input: infos[0].id });
  }
  const dt = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  await Promise.all(use.map((e, i) => e.call('disposeInput', { input: infos[i].id })));
  let sum;
  if (m.metrics) sum = metricsChecksum(out);
  else sum = checksum(out ? out.cam : infos[0].logits);
  return { ms: dt, cpu: (cpu.user + cpu.system) / 1000, checksum: sum };
}

// metricsChecksum folds every number of a metrics reply but its time.
function metricsChecksum(r) {
  let s = 0;
  for (const [k, v] of Object.entries(r)) {
    if (k === 'ms' || k.endsWith('Ms')) continue; // times
    if (typeof v === 'number') s += v;
    else if (v && typeof v.length === 'number' && typeof v !== 'string') for (const e of v) s += e;
  }
  return s;
}

// retargetOnce: a fresh input and its first Grad-CAM (not timed), then the
// RETARGET requests, each timed (wall clock, from the request to its reply
// in the main thread, pictures drawn).
async function retargetOnce(o, e, model, x, opts) {
  const info = await e.call('setInput', { model, kind: 'tensor', data: x, method: 'gradcam' });
  const render = { colormap: 'jet', alpha: 0.5 };
  const base = { input: info.id, layer: o.layer, render };
  await e.call('cam', { ...base, method: 'gradcam', class: opts.cls });
  const each = {};
  const cpus = [];
  let sum = 0;
  for (const r of RETARGET) {
    const t0 = performance.now();
    const out = await e.call('cam', { ...base, method: r.method, class: opts.cls + r.dcls });
    each[r.name] = performance.now() - t0;
    cpus.push(out.workerCpuMs);
    sum += checksum(out.cam);
  }
  await e.call('disposeInput', { input: info.id });
  return { ms: median(Object.values(each)), cpuEach: cpus, checksum: sum, each };
}

// galleryOnce: activation maximisation of channels 0 … galleryChannels−1
// of the model's default layer (or --layer), the channels divided among
// the workers in contiguous ranges; the checksum folds every picture's
// pixels and objective curve, in channel order.
async function galleryOnce(o, pool, model, opts) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = o.galleryChannels;
  const layer = o.layer || opts.info.defaultLayer;
  const results = new Array(n);
  await Promise.all(pool.map(async (e, i) => {
    const lo = Math.floor(n * i / pool.length), hi = Math.floor(n * (i + 1) / pool.length);
    for (let c = lo; c < hi; c++) {
      results[c] = await e.call('maximize', { model: model[i], layer, channel: c, steps: o.galleryStepCount, seed: 1, every: 1 << 30 });
    }
  }));
  const dt = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  let sum = 0;
  for (const r of results) sum = sum * 3 + checksum(r.image.data) + checksum(r.objective);
  return { ms: dt, cpu: (cpu.user + cpu.system) / 1000, checksum: sum };
}

function checksum(a) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const round = (v) => Math.round(v * 100) / 100;

// Times a mode: warm-up runs (V8 tiers its code up) until warmupTime, then
// timed runs until both runs and minTime, within budget.
async function timeMode(o, pool, model, x, mode, opts) {
  const first = await runOnce(o, pool, model, x, mode, opts);
  const times = [];
  const cpus = [];
  const each = {};
  if (first.ms > 10000) {
    // Long: tiering is negligible; the first run counts.
    times.push(first.ms);
    cpus.push(first.cpu);
    if (first.each) throw new Error('a re-targeting run took over 10 s');
  } else {
    const w0 = performance.now();
    while (performance.now() - w0 < o.warmupTime * 1000) await runOnce(o, pool, model, x, mode, opts);
  }
  const t0 = performance.now();
  for (;;) {
    const el = (performance.now() - t0) / 1000;
    if (times.length >= o.maxRuns) break;
    if (times.length >= o.runs && el >= o.minTime) break;
    if (times.length >= 1 && el + median(times) / 1000 > o.budget) break;
    const r = await runOnce(o, pool, model, x, mode, opts);
    if (r.each) {
      for (const [k, v] of Object.entries(r.each)) {
        times.push(v);
        (each[k] ||= []).push(v);
      }
      cpus.push(...r.cpuEach);
    } else {
      times.push(r.ms);
      cpus.push(r.cpu);
    }
  }
  const eachMedian = {};
  for (const [k, v] of Object.entries(each)) eachMedian[k] = round(median(v));
  return {
    // retarget: each request's median, and cpu_median_ms the engine's
    // thread's CPU time per request (workerCpuMs).
    ...(first.each ? { each_median_ms: eachMedian } : {}),
    median_ms: round(median(times)), min_ms: round(Math.min(...times)), max_ms: round(Math.max(...times)),
    runs: times.length, cpu_median_ms: round(median(cpus)), checksum: first.checksum,
  };
}

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// peerModels writes the peers' graph builder with this bench's workloads
// (bench/peers-ext.mjs) appended, and its ONNX writer, to a folder of the
// cache, and returns the folder.
function peerModels(o) {
  const dir = path.join(o.cache, 'peers-models');
  fs.mkdirSync(dir, { recursive: true });
  const models = fs.readFileSync(path.join(o.shared, 'peers', 'models.mjs'), 'utf8') + '\n' +
    fs.readFileSync(path.join(here, 'peers-ext.mjs'), 'utf8');
  const f = path.join(dir, 'models.mjs');
  if (!fs.existsSync(f) || fs.readFileSync(f, 'utf8') !== models) fs.writeFileSync(f, models);
  fs.copyFileSync(path.join(o.shared, 'peers', 'onnx_writer.mjs'), path.join(dir, 'onnx_writer.mjs'));
  return dir;
}

// The peers' cells for one workload and mode, in child processes of their
// own harness (a copy in the cache with its npm packages, its models.mjs
// extended by peerModels).
function runPeers(o, workload, mode) {
  const dir = path.join(o.cache, 'peers');
  if (!fs.existsSync(path.join(dir, 'node_modules', '@tensorflow', 'tfjs-backend-wasm'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(path.join(o.shared, 'peers'), dir, { recursive: true });
    fs.rmSync(path.join(dir, 'results'), { recursive: true, force: true });
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`peers: npm ci failed in ${dir}`);
  }
  fs.copyFileSync(path.join(peerModels(o), 'models.mjs'), path.join(dir, 'models.mjs'));
  const out = [];
  for (const backend of ['tfjs-wasm-scalar', 'tfjs-wasm-simd']) {
    const r = spawnSync('node', ['bench.mjs', '--workload', WORKLOADS[workload].peer, '--backend', backend,
      '--frontend', 'core', '--mode', mode, '--json'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
    const lines = (r.stdout || '').split('\n').filter((l) => l.startsWith('{'));
    if (lines.length === 0) {
      out.push({ engine: 'tfjs', backend, workload, mode, workers: 1, status: 'error', error: (r.stderr || '').slice(-300) });
      continue;
    }
    for (const l of lines) {
      const p = JSON.parse(l);
      out.push({
        engine: 'tfjs', backend, workload, mode: p.mode || mode, workers: 1,
        median_ms: p.median_ms, runs: p.runs, status: p.status,
        min_ms: p.min_ms, max_ms: p.max_ms, cpu_median_ms: p.cpu_median_ms,
        others_busy_cores: p.others_busy_cores, engine_version: p.engine_version,
      });
    }
  }
  return out;
}

async function main() {
  const o = parseArgs(process.argv);
  if (!fs.existsSync(o.wasm)) throw new Error(`${o.wasm} is missing: run make wasm`);
  for (const workload of o.workloads) {
    const { file, bytes } = await modelBytes(o, workload);
    const pools = new Map();
    for (const n of o.workers) {
      const pool = Array.from({ length: n }, () => new Engine(o));
      await Promise.all(pool.map((e) => e.ready));
      const infos = await Promise.all(pool.map((e) => e.call('loadModel', { bytes: bytes.slice() })));
      pools.set(n, { pool, model: infos.map((i) => i.id), info: infos[0] });
    }
    const info = pools.get(o.workers[0]).info;
    const x = inputFor(file, info.inputShape.reduce((a, b) => a * b, 1));
    for (const mode of o.modes) {
      let one = null; // the checksum on one worker
      for (const n of o.workers) {
        const { pool, model } = pools.get(n);
        const line = { engine: 'cnnlens', workload, mode, workers: n };
        try {
          Object.assign(line, await timeMode(o, pool, model, x, mode, { cls: 1, info }));
          line.status = 'ok';
          // A mode that cannot be divided runs on one of the workers.
          line.split = !!(MODES[mode].split && n > 1);
          if (n === 1) one = line.checksum;
          else if (one !== null) line.same_as_one_worker = line.checksum === one;
        } catch (err) {
          line.status = 'error';
          line.error = String(err && err.message || err);
        }
        line.loadavg = round(os.loadavg()[0]);
        emit(line);
      }
      if (o.peers && MODES[mode].peer) for (const p of runPeers(o, workload, MODES[mode].peer)) emit({ ...p, loadavg: round(os.loadavg()[0]) });
    }
    for (const { pool } of pools.values()) await Promise.all(pool.map((e) => e.terminate()));
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err && err.message || err}\n`);
  process.exit(1);
});
