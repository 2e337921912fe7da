// cnnlens engine worker: loads the Go engine (cnnlens.wasm) and passes the
// page's requests to it. Everything heavy runs here, so the page never
// freezes. Messages:
//   page → worker  {op: 'start', wasm: URL, module?: WebAssembly.Module}
//                  {id, op, ..., next?}     a request (see wasm/js.go); next: the
//                                           request to run right after it, with
//                                           its result's id under next.from
//                  {op: 'cancel', target}   stop request `target`
//   worker → page  {type: 'ready', methods, divisible, divisibleOps, colormaps, startMs}
//                  {id, ok, result|error, code, times?}  a reply; code tells
//                                           errors apart (web/README.md); the
//                                           first ones carry the start-up times
//                  {id, progress: {done, total}}
//                  {type: 'fatal', error}   the engine stopped; start a new worker
'use strict';

// Started from a blob (by boot.js, from the copy of wasm_exec.js and this
// file that the site build writes into the page, or by the module embedded
// from another origin), the worker learns the site's address from
// cnnlensBase; the page's copy has wasm_exec.js in it already.
if (typeof Go === 'undefined') importScripts(new URL('wasm_exec.js', self.cnnlensBase || self.location.href).href);

// Go calls cnnlensYield(f) to let this event loop run (so that a cancel
// message gets in) and to be called back right after.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => { const f = waiting.shift(); if (f) f(); };
self.cnnlensYield = (f) => { waiting.push(f); channel.port2.postMessage(0); };

let engine = null;
let dead = null;
const early = [];
let t0 = 0;
// Times of the start-up steps, as milliseconds since the epoch (the page
// turns them into its own performance.now() scale).
const times = {};
const stamp = (name) => { times[name] = performance.timeOrigin + performance.now(); };

self.cnnlensStarted = (api) => {
  stamp('goStarted');
  engine = api;
  postMessage({
    type: 'ready',
    methods: Array.from(api.methods),
    divisible: Array.from(api.divisible || []),
    divisibleOps: Array.from(api.divisibleOps || []),
    colormaps: Array.from(api.colormaps),
    colormapTables: api.colormapTables,
    startMs: performance.now() - t0,
    times,
  });
  for (const m of early.splice(0)) dispatch(m);
};

// The first requests are timed too (`op#id>` when received, `op#id<` when
// answered), and the times travel with the answers, for the page's
// start-up marks.
const firstTimed = 6;
const timedOps = new Map();
// A request may carry the one to run right after it (next: {id, op, ...,
// from}): once the engine has answered the first, the worker hands it the
// second at once, with the first one's result id under the name `from`,
// with no round trip through the page (the page's first map: its input,
// then its map).
const following = new Map(); // request id → the request that follows it
const post = self.postMessage.bind(self);
self.postMessage = (m, transfer) => {
  if (m && m.id && !m.progress) {
    const op = timedOps.get(m.id);
    if (op) {
      timedOps.delete(m.id);
      stamp(`${op}#${m.id}<`);
      m.times = times;
      if (m.id >= firstTimed) delete self.cnnlensPhase;
    }
    const n = following.get(m.id);
    if (n) {
      following.delete(m.id);
      if (m.ok) {
        n[n.from] = m.result.id;
        delete n.from;
        // Go posts this answer from inside its loop: the next request
        // goes in once Go is back waiting for requests.
        queueMicrotask(() => dispatch(n));
      } else {
        post({ id: n.id, ok: false, error: m.error, code: m.code });
      }
    }
  }
  return post(m, transfer);
};

// The engine stamps the steps of its start and of its first requests.
self.cnnlensPhase = (name) => { if (!times[name]) stamp(name); };

function dispatch(m) {
  if (m.next) {
    following.set(m.id, m.next);
    delete m.next;
  }
  if (m.id && m.id <= firstTimed && m.op !== 'cancel') {
    timedOps.set(m.id, m.op);
    stamp(`${m.op}#${m.id}>`);
  }
  if (dead) {
    if (m.id) postMessage({ id: m.id, ok: false, error: dead, code: 'crashed' });
    return;
  }
  try {
    if (m.op === 'cancel') engine.cancel(m.target);
    else engine.handle(m);
  } catch (err) {
    fatal('the engine stopped: ' + (err && err.message || err));
    if (m.id) postMessage({ id: m.id, ok: false, error: dead, code: 'crashed' });
  }
}

function fatal(msg) {
  if (dead) return;
  dead = msg;
  postMessage({ type: 'fatal', error: msg });
}

async function start(m) {
  t0 = performance.now();
  if (m.compiled) times.compiled = m.compiled;
  stamp('workerStart');
  try {
    const go = new Go();
    let exitCode = 0;
    go.exit = (code) => { exitCode = code; };
    let module = m.module;
    if (!module) {
      try {
        module = await WebAssembly.compileStreaming(fetch(m.wasm));
      } catch (err) {
        // A host that does not send application/wasm: compile from bytes.
        const r = await fetch(m.wasm);
        if (!r.ok) throw new Error(`${m.wasm}: HTTP ${r.status}`);
        module = await WebAssembly.compile(await r.arrayBuffer());
      }
      stamp('compiled');
    }
    const instance = await WebAssembly.instantiate(module, go.importObject);
    stamp('instantiated');
    go.run(instance).then(
      () => fatal('the engine stopped (exit code ' + exitCode + ')'),
      (err) => fatal('the engine crashed: ' + (err && err.message || err)));
  } catch (err) {
    fatal('could not start the engine: ' + (err && err.message || err));
  }
}

let started = false;
self.onmessage = (e) => {
  const m = e.data;
  if (m.op === 'start') {
    if (!started) start(m);
    started = true;
    return;
  }
  if (!engine && !dead) { early.push(m); return; }
  dispatch(m);
};

self.addEventListener('error', (e) => fatal('the engine crashed: ' + e.message));
self.addEventListener('unhandledrejection', (e) => fatal('the engine crashed: ' + (e.reason && e.reason.message || e.reason)));

// Started by boot.js, the worker knows the engine's address
// (cnnlensWasm) and starts it at once: the page's start message is handed
// over only once the page's thread has heard that this script ran, and
// that thread is busy parsing and laying out the page meanwhile.
if (self.cnnlensWasm) {
  started = true;
  start({ op: 'start', wasm: self.cnnlensWasm });
}
