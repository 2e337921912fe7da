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
  // The opening view's picture (manifest.opening), fetched as soon as the
  // manifest says where it is: the page shows it while the engine starts.
  boot.times = {};
  boot.opening = boot.manifest
    .then((m) => (m.opening ? fetch(new URL(m.opening.overlay, base)).then((r) => (r.ok ? r.blob() : null)) : null))
    .then((blob) => { boot.times['opening-fetched'] = performance.now(); return blob; })
    .catch(() => null);
  // Drawn into the page's main picture as soon as the parser has made it,
  // before the page's own scripts run (they take over from there).
  boot.opening.then((blob) => blob && createImageBitmap(blob)).then((bmp) => {
    if (!bmp) return;
    boot.times['opening-decoded'] = performance.now();
    const draw = () => {
      const c = document.getElementById('overlay');
      if (!c || boot.openingShown || window.cnnlensPage && window.cnnlensPage.renders > 0) { bmp.close(); return; }
      c.width = bmp.width;
      c.height = bmp.height;
      c.getContext('2d').drawImage(bmp, 0, 0);
      bmp.close();
      boot.openingShown = performance.now();
    };
    if (document.readyState === 'loading') document.addEventListener('readystatechange', draw, { once: true });
    else draw();
  }).catch(() => {});
})();
