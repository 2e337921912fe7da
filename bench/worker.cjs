// One engine of the speed benchmark (bench.mjs): the page's engine
// (bin/cnnlens.wasm, wasm/js.go's message protocol) in a Node.js worker
// thread, as web/worker.js runs it in a Web Worker. The parent sends
// {id, op, ...} requests; replies and progress messages come back as the
// page would receive them.
'use strict';

const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');

globalThis.require = require;
globalThis.fs = fs;
globalThis.path = path;
globalThis.TextEncoder = require('node:util').TextEncoder;
globalThis.TextDecoder = require('node:util').TextDecoder;
globalThis.crypto ??= require('node:crypto');
require(path.join(workerData.goroot, 'lib', 'wasm', 'wasm_exec.js'));

// The engine posts its replies with the worker global's postMessage; only
// ArrayBuffers are transferable here: a picture (the OffscreenCanvas
// stand-in's bitmap, below) moves its pixels' buffer, as the page moves
// its ImageBitmaps.
// threadCPU is the CPU time this thread has run, in ms (Linux's
// schedstat, ns), or NaN where there is none: replies carry their
// request's (workerCpuMs), which the load of other processes does not
// inflate as it does the wall clock.
function threadCPU() {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch (_) {
    return NaN;
  }
}
const started = new Map(); // request id → threadCPU() when it came

globalThis.postMessage = (msg, transfer) => {
  if (msg && msg.ok !== undefined && started.has(msg.id)) {
    msg.workerCpuMs = threadCPU() - started.get(msg.id);
    started.delete(msg.id);
  }
  const tr = [];
  for (const t of transfer || []) {
    if (t instanceof ArrayBuffer) tr.push(t);
    else if (t && t.data && t.data.buffer instanceof ArrayBuffer) tr.push(t.data.buffer);
  }
  parentPort.postMessage(msg, tr);
};

// Pictures (render, maximize) are drawn into an OffscreenCanvas in the
// page's worker; Node.js has none, so this stand-in keeps the pixels the
// engine puts there and hands them back as {width, height, data} where the
// page gets an ImageBitmap.
globalThis.OffscreenCanvas ??= class {
  constructor(w, h) { this.width = w; this.height = h; this.data = null; }
  getContext() {
    return {
      createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(4 * w * h) }),
      putImageData: (d) => { this.data = d.data; },
    };
  }
  transferToImageBitmap() { return { width: this.width, height: this.height, data: this.data }; }
};

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => { const f = waiting.shift(); if (f) f(); };
globalThis.cnnlensYield = (f) => { waiting.push(f); channel.port2.postMessage(0); };

let engine = null;
const early = [];
globalThis.cnnlensStarted = (api) => {
  engine = api;
  parentPort.postMessage({ type: 'ready' });
  for (const m of early.splice(0)) engine.handle(m);
};

parentPort.on('message', (m) => {
  if (m && m.id !== undefined) started.set(m.id, threadCPU());
  if (!engine) { early.push(m); return; }
  engine.handle(m);
});

(async () => {
  const go = new Go();
  go.exit = (code) => parentPort.postMessage({ type: 'fatal', error: `the engine exited (code ${code})` });
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(workerData.wasm), go.importObject);
  go.run(instance).catch((err) => parentPort.postMessage({ type: 'fatal', error: String(err && err.stack || err) }));
})().catch((err) => parentPort.postMessage({ type: 'fatal', error: String(err && err.stack || err) }));
