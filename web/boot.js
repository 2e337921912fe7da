// boot.js: start the engine first. Loaded (not deferred) from the page's
// <head>, it starts the worker, which fetches, compiles and starts the Go
// engine while the rest of the page loads; cnnlens.js adopts this worker.
// The site build writes it into the pages (an inline script has no src:
// the page's own address is then the base).
'use strict';
(() => {
  const script = document.currentScript;
  const base = new URL('.', script && script.src ? script.src : location.href);
  const boot = window.cnnlensBoot = { base: base.href, queue: [] };
  try {
    boot.worker = new Worker(new URL('worker.js', base));
  } catch (err) {
    boot.error = err;
    return;
  }
  boot.worker.onmessage = (e) => boot.queue.push(e.data);
  boot.worker.onerror = (e) => {
    e.preventDefault();
    boot.queue.push({ type: 'fatal', error: 'the engine worker failed: ' + (e.message || 'could not load worker.js') });
  };
  // Compile the engine here while the worker starts up (both take a while;
  // the compiled module is then handed to the worker), or, where streaming
  // compilation is missing or fails (a host without the wasm MIME type),
  // let the worker fetch and compile it.
  const wasm = new URL('cnnlens.wasm', base).href;
  const start = (module) => {
    // When the module finished compiling, as milliseconds since the epoch
    // (the worker reports it with its own start-up steps).
    const compiled = performance.timeOrigin + performance.now();
    boot.worker.postMessage(module ? { op: 'start', wasm, module, compiled } : { op: 'start', wasm });
  };
  if (WebAssembly.compileStreaming) {
    WebAssembly.compileStreaming(fetch(wasm)).then(start, () => start(null));
  } else {
    start(null);
  }
  boot.manifest = fetch(new URL('manifest.json', base)).then((r) => {
    if (!r.ok) throw new Error(`manifest.json: HTTP ${r.status}`);
    return r.json();
  });
  boot.manifest.catch(() => {});
})();
