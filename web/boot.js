// boot.js: start the engine first. Loaded (not deferred) from the page's
// <head>, it starts the worker, which fetches, compiles and starts the Go
// engine while the rest of the page loads; cnnlens.js adopts this worker.
// The site build writes it into the pages (an inline script has no src:
// the page's own address is then the base), and before it the worker's
// source (wasm_exec.js and worker.js, a script element of type
// text/x-cnnlens-worker): the worker then starts from that text, with no
// request of its own to wait for, and fetches and compiles the engine on
// its own thread (streaming compilation), which neither the parser nor the
// page's layout holds up.
'use strict';
(() => {
  const script = document.currentScript;
  const base = new URL('.', script && script.src ? script.src : location.href);
  const boot = window.cnnlensBoot = { base: base.href, queue: [] };
  const wasm = new URL('cnnlens.wasm', base).href;
  try {
    const src = document.getElementById('cnnlens-worker');
    let url = null;
    if (src && src.type === 'text/x-cnnlens-worker') {
      // A worker started from a blob learns the site's address from
      // cnnlensBase (its own address is blob:…), and the engine's from
      // cnnlensWasm, which it starts at once.
      const text = `'use strict';\nself.cnnlensBase = ${JSON.stringify(base.href)};\nself.cnnlensWasm = ${JSON.stringify(wasm)};\n${src.textContent}`;
      try {
        url = URL.createObjectURL(new Blob([text], { type: 'text/javascript' }));
      } catch (_) { /* no blobs: load worker.js */ }
    }
    boot.worker = new Worker(url || new URL('worker.js', base));
  } catch (err) {
    boot.error = err;
    return;
  }
  boot.worker.onmessage = (e) => boot.queue.push(e.data);
  boot.worker.onerror = (e) => {
    e.preventDefault();
    boot.queue.push({ type: 'fatal', error: 'the engine worker failed: ' + (e.message || 'could not load worker.js') });
  };
  boot.worker.postMessage({ op: 'start', wasm }); // (a worker from worker.js waits for it)
  boot.manifest = fetch(new URL('manifest.json', base)).then((r) => {
    if (!r.ok) throw new Error(`manifest.json: HTTP ${r.status}`);
    return r.json();
  });
  boot.manifest.catch(() => {});
})();
