// boot.js: start the engine first. Loaded (not deferred) from the page's
// <head>, it starts the worker, which fetches, compiles and starts the Go
// engine while the rest of the page loads; cnnlens.js adopts this worker.
'use strict';
(() => {
  const base = new URL('.', document.currentScript ? document.currentScript.src : location.href);
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
  boot.worker.postMessage({ op: 'start', wasm: new URL('cnnlens.wasm', base).href });
  boot.manifest = fetch(new URL('manifest.json', base)).then((r) => {
    if (!r.ok) throw new Error(`manifest.json: HTTP ${r.status}`);
    return r.json();
  });
  boot.manifest.catch(() => {});
})();
