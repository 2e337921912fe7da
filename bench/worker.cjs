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
// ArrayBuffers are transferable here (no ImageBitmaps are asked for).
globalThis.postMessage = (msg, transfer) => {
  const tr = (transfer || []).filter((t) => t instanceof ArrayBuffer);
  parentPort.postMessage(msg, tr);
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
  if (!engine) { early.push(m); return; }
  engine.handle(m);
});

(async () => {
  const go = new Go();
  go.exit = (code) => parentPort.postMessage({ type: 'fatal', error: `the engine exited (code ${code})` });
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(workerData.wasm), go.importObject);
  go.run(instance).catch((err) => parentPort.postMessage({ type: 'fatal', error: String(err && err.stack || err) }));
})().catch((err) => parentPort.postMessage({ type: 'fatal', error: String(err && err.stack || err) }));
