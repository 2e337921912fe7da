// "How does Grad-CAM see this?": a guided walk through Grad-CAM for the
// page's current image, class and layer, one step a screen with one
// sentence each, every map with its colour bar. It runs one breakdown
// request (the same numbers as "How Grad-CAM is built") and draws from it.
//
// Keyboard: → or Enter on Next goes on, ← goes back, Esc closes; focus
// stays in the dialog while it is open and returns to its opener.
import * as api from './cnnlens.js';
import { colorbar, num } from './colorbar.js';
import { constant, flatScales, miniBar, paintFlat, signedOpts, whyFlat } from './inside.js';

const SHOWN = 4; // channels drawn in the steps that show channels

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function canvasOf(bmp, cls = 'pixelated') {
  const c = el('canvas', cls);
  if (bmp) {
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext('2d').drawImage(bmp, 0, 0);
  }
  return c;
}

function closeAll(v) {
  if (!v) return;
  if (Array.isArray(v)) { for (const b of v) closeAll(b); return; }
  if (typeof ImageBitmap !== 'undefined' && v instanceof ImageBitmap) v.close();
}

function fig(bmp, caption, bar, cls = 'pixelated') {
  const f = el('figure', 'w-fig');
  f.append(canvasOf(bmp, cls), el('figcaption', '', caption));
  if (bar) f.append(bar);
  return f;
}

let open = null; // the dialog on screen

/**
 * openWalkthrough opens the walk-through for ctx.state (input, layer,
 * classIndex, contrast, model, colormap, alpha) with ctx.labelOf; ctx.info
 * (the inside views' test hooks) gets info.walk = {step, steps, title,
 * ready, error}. ctx.opener gets the focus back when it closes.
 */
export async function openWalkthrough(ctx) {
  const { state, labelOf, info = {}, opener } = ctx;
  if (open) open.close();
  const walk = { step: 0, steps: 8, title: '', ready: false, error: null, shown: [] };
  info.walk = walk;

  const back = el('div', 'walk-backdrop');
  const dlg = el('div', 'walk');
  dlg.setAttribute('role', 'dialog');
  dlg.setAttribute('aria-modal', 'true');
  dlg.setAttribute('aria-labelledby', 'walk-title');
  const head = el('div', 'walk-head');
  const count = el('span', 'walk-count small');
  const title = el('h2', 'walk-title');
  title.id = 'walk-title';
  const x = el('button', 'walk-x', '×');
  x.type = 'button';
  x.setAttribute('aria-label', 'Close the walk-through');
  head.append(count, x);
  const sentence = el('p', 'walk-sentence');
  sentence.id = 'walk-sentence';
  sentence.setAttribute('aria-live', 'polite');
  const body = el('div', 'walk-body');
  const nav = el('div', 'walk-nav');
  const prev = el('button', '', '← Back');
  prev.type = 'button';
  prev.id = 'walk-back';
  const dots = el('div', 'walk-dots');
  const next = el('button', 'primary', 'Next →');
  next.type = 'button';
  next.id = 'walk-next';
  nav.append(prev, dots, next);
  dlg.append(head, title, sentence, body, nav);
  back.append(dlg);
  document.body.append(back);

  let bitmaps = [];
  const close = () => {
    back.remove();
    document.removeEventListener('keydown', onKey, true);
    closeAll(bitmaps);
    bitmaps = [];
    open = null;
    walk.open = false;
    if (opener && opener.focus) opener.focus();
  };
  open = { close };
  walk.open = true;
  x.onclick = close;
  back.onclick = (e) => { if (e.target === back) close(); };

  title.textContent = 'How does Grad-CAM see this?';
  sentence.textContent = 'Computing the steps for this image…';
  x.focus();

  const onKey = (e) => {
    if (e.key === 'Escape') { e.preventDefault(); close(); return; }
    const typing = !walk.ready || (e.target && e.target.matches && e.target.matches('input, select, textarea'));
    if (e.key === 'ArrowRight' && !typing) { e.preventDefault(); go(walk.step + 1); return; }
    if (e.key === 'ArrowLeft' && !typing) { e.preventDefault(); go(walk.step - 1); return; }
    if (e.key === 'Tab') { // keep the focus in the dialog
      const f = [...dlg.querySelectorAll('button:not(:disabled)')];
      if (!f.length) return;
      const i = f.indexOf(document.activeElement);
      if (e.shiftKey && i <= 0) { e.preventDefault(); f[f.length - 1].focus(); }
      else if (!e.shiftKey && i === f.length - 1) { e.preventDefault(); f[0].focus(); }
    }
  };
  document.addEventListener('keydown', onKey, true);

  // The numbers: one breakdown and the picture.
  const input = state.input;
  if (!input || !state.model) { sentence.textContent = 'Load a model and an image first.'; walk.error = 'no input'; return; }
  const contrast = state.contrast === '' || state.contrast == null ? null : state.contrast;
  let r, base;
  try {
    [r, base] = await Promise.all([
      api.gradcamBreakdown(input.id, { layer: state.layer, classIndex: state.classIndex, contrast, top: SHOWN, tile: 128, colormap: state.colormap, alpha: state.alpha }),
      api.baseImage(input.id),
    ]);
  } catch (err) {
    sentence.textContent = `The walk-through could not be computed: ${err.message}`;
    walk.error = err.message;
    return;
  }
  bitmaps = [r.maps, r.grads, r.scaled, r.sum, r.relu, r.overlay, base.image];
  if (!open || open.close !== close) { closeAll(bitmaps); return; }

  walk.class = r.class;
  walk.layer = r.layer;
  const cls = labelOf(r.class) + (contrast != null ? ` rather than ${labelOf(Number(contrast))}` : '');
  const where = `${r.layer} (${r.height}×${r.width}, ${r.channels} channels)`;
  // A multi-label model (card "multilabel") scores each class with its own
  // sigmoid, as the main view shows it.
  const multi = !!(state.bundled && state.bundled.card && state.bundled.card.multilabel);
  const sigmoid = (z) => 1 / (1 + Math.exp(-z));
  const top5 = (input.top5 || []).map((p) => (multi ? { ...p, prob: sigmoid(p.logit) } : p));
  const top1 = top5[0];
  const pct = (p) => `${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%`;
  const present = multi ? top5.filter((p) => p.prob >= 0.5) : [];
  const and = (a) => (a.length > 1 ? `${a.slice(0, -1).join(', ')} and ${a[a.length - 1]}` : a[0] || '');
  const cm = state.colormap || 'jet';
  const flat = whyFlat(state.model, r.layer, r.gradMin.map((lo, k) => ({ min: lo, max: r.gradMax[k] })), r.height, r.width);
  const strip = (bmps, cap, barOf) => {
    const s = el('div', 'w-strip');
    r.top.forEach((c, k) => s.append(fig(bmps[k], cap(c, k), miniBar(barOf(c, k)))));
    return s;
  };
  const note = (text) => el('p', 'why', text);

  const steps = [
    {
      title: '1 · The image and what the network says',
      sentence: multi
        ? `The network looks at this ${input.width}×${input.height} picture and scores every class on its own; ${present.length ? `it finds ${and(present.map((p) => `${labelOf(p.index)} (${pct(p.prob)})`))}` : 'no class reaches 50%'}, and we ask where it sees ${cls}.`
        : `The network looks at this ${input.width}×${input.height} picture and gives every class a score; ${top1 ? `its top answer is ${labelOf(top1.index)} (${pct(top1.prob)})` : 'here are its answers'}, and we ask where it sees ${cls}.`,
      draw() {
        const row = el('div', 'w-row');
        row.append(fig(base.image, 'the input', null, ''));
        const ol = el('ol', 'w-top5');
        for (const p of top5) {
          const li = el('li', p.index === r.class ? 'chosen' : '');
          li.append(el('span', 'name', labelOf(p.index)), el('span', 'p', pct(p.prob)));
          const b = el('span', 'pbar');
          const f = el('span');
          f.style.width = `${(100 * p.prob).toFixed(1)}%`;
          b.append(f);
          li.append(b);
          ol.append(li);
        }
        const side = el('div');
        side.append(el('p', 'small', multi ? 'The five highest probabilities (each class its own: they need not add up to 100%):' : 'Probabilities (the top 5):'), ol, el('p', 'small', `Explained: ${cls}, score y = ${num(r.score)} (its logit).`));
        const others = present.filter((p) => p.index !== r.class).map((p) => labelOf(p.index));
        if (others.length) side.append(el('p', 'small', `To see ${and(others)} instead, close this walk-through and click it under the picture.`));
        row.append(side);
        return [row];
      },
    },
    {
      title: '2 · Feature maps A',
      sentence: `Layer ${where} turns the picture into ${r.channels} feature maps A, one per channel: yellow where that channel's pattern is strong, dark where it is absent (below: the ${SHOWN} that count most for ${cls}, each on its own colour scale).`,
      draw: () => [strip(r.maps, (c) => `A${c}`, (c, k) => ({ colormap: 'viridis', min: r.mapLo[k], max: r.mapHi[k] }))],
    },
    {
      title: '3 · Their gradients ∂y/∂A',
      sentence: `The gradient ∂y/∂A says, for every position of every map, how much the score y of ${cls} would rise (red) or fall (blue) if that value of A grew a little.`,
      draw: () => {
        const gs = flatScales(r, !!flat);
        const s = strip(r.grads, (c, k) => (constant({ min: r.gradMin[k], max: r.gradMax[k] }) ? `∂y/∂A${c}: ${num(r.gradMax[k])} everywhere` : `∂y/∂A${c}`), (c, k) => signedOpts(gs[k]));
        if (flat) [...s.querySelectorAll('figure > canvas')].forEach((cv, k) => paintFlat(cv, r.gradMax[k], gs[k]));
        return [s, ...(flat ? [note(`${flat} Here they share one colour scale, so the deeper the red, the larger the weight.`)] : [])];
      },
    },
    {
      title: '4 · The weights: the average of each gradient map',
      sentence: `Averaging each gradient map over its ${r.height * r.width} positions gives one weight w a channel: how much that channel as a whole counts for ${cls} (positive: for it, negative: against it).`,
      draw() {
        const big = Math.max(...r.weights.map(Math.abs)) || 1;
        const chart = el('div', 'bars w-bars');
        chart.setAttribute('role', 'img');
        chart.setAttribute('aria-label', `The ${r.channels} weights, from ${num(Math.min(...r.weights))} to ${num(Math.max(...r.weights))}`);
        const top = new Set(r.top);
        r.weights.forEach((w, c) => {
          const b = el('div', 'bar' + (w < 0 ? ' neg' : '') + (top.has(c) ? ' top' : ''));
          b.title = `channel ${c}: w = ${num(w)}`;
          const f = el('span');
          f.style.height = `${(50 * Math.abs(w) / big).toFixed(2)}%`;
          b.append(f);
          chart.append(b);
        });
        const list = el('p', 'small', `One bar a channel, 0 to ${r.channels - 1} from left to right; the middle line is w = 0, a full bar ±${num(big)}. Outlined (drawn in the next step): ` +
          r.top.map((c) => `w${c} = ${num(r.weights[c])}`).join(', ') + '.');
        return [chart, list];
      },
    },
    {
      title: '5 · Weighted maps w·A',
      sentence: 'Each feature map is multiplied by its weight: a map with a large positive weight keeps its bright places as evidence for the class (red), one with a negative weight turns them into evidence against it (blue).',
      draw: () => [strip(r.scaled, (c) => `${num(r.weights[c])} × A${c}`, (c, k) => signedOpts(r.scaledScale[k]))],
    },
    {
      title: '6 · Their sum Σ w·A',
      sentence: `Adding the weighted maps of all ${r.channels} channels gives one ${r.height}×${r.width} map: red where the evidence for ${cls} outweighs the evidence against it.`,
      draw: () => [fig(r.sum, `Σ w·A over all ${r.channels} channels: from ${num(r.sumMin)} to ${num(r.sumMax)}`, colorbar(signedOpts(r.scale, { low: 'against', high: 'for', note: 'White = 0: evidence for and against cancels.' })), 'pixelated w-big')],
    },
    {
      title: '7 · ReLU: only the positive evidence',
      sentence: r.heatMax > 0
        ? (r.sumMin >= 0
          ? 'The ReLU sets every negative value to 0 to keep only the places that speak for the class; here the sum is positive everywhere, so nothing changes.'
          : 'The ReLU sets every negative value to 0 (white): Grad-CAM keeps only the places that speak for the class.')
        : `The ReLU sets every negative value to 0, and here nothing is left: there is no positive evidence for ${cls} at this layer.`,
      draw: () => [(() => {
        const row = el('div', 'w-flow');
        const before = fig(r.sum, 'Σ w·A (step 6)', null, 'pixelated');
        before.classList.add('w-small');
        const after = fig(r.relu, 'ReLU(Σ w·A), on the same scale as the sum', colorbar(signedOpts(r.scale, { high: 'for', note: 'Nothing is negative any more: white = 0 = no positive evidence.' })), 'pixelated w-big');
        after.classList.add('w-overlay');
        row.append(before, el('span', 'w-arrow', '→ ReLU →'), after);
        return row;
      })(),
        ...(r.heatMax > 0 ? [] : [note(`No positive evidence for ${cls} at this layer: Σ w·A is ${r.sumMax < 0 ? 'negative' : 'zero or negative'} everywhere.`)])],
    },
    {
      title: '8 · Upsampled over the image: the heatmap',
      sentence: `Divided by its largest value and enlarged from ${r.height}×${r.width} to the picture's ${input.width}×${input.height}, the map is laid over the image: this is Grad-CAM's answer to “where is the ${cls}?”.`,
      draw: () => {
        const row = el('div', 'w-flow');
        const small = fig(r.relu, `the ${r.height}×${r.width} map of step 7`, null, 'pixelated');
        small.classList.add('w-small');
        row.append(small, el('span', 'w-arrow', '→'));
        row.append(fig(r.overlay, `Grad-CAM for ${cls} at ${r.layer}`, colorbar({
          colormap: cm, min: 0, max: 1, low: 'none', high: 'strongest',
          note: r.heatMax > 0 ? `1 = the largest value of ReLU(Σ w·A), ${num(r.heatMax)}; 0 = no positive evidence.` : 'The map is 0 everywhere: no positive evidence.',
        }), 'w-big'));
        row.lastChild.classList.add('w-overlay');
        return [row];
      },
    },
  ];
  walk.steps = steps.length;

  for (let i = 0; i < steps.length; i++) {
    const d = el('button', 'walk-dot');
    d.type = 'button';
    d.setAttribute('aria-label', `Step ${i + 1}: ${steps[i].title.replace(/^\d+ · /, '')}`);
    d.onclick = () => go(i);
    dots.append(d);
  }

  function go(i) {
    if (i < 0 || i >= steps.length) return;
    walk.step = i;
    const s = steps[i];
    title.textContent = s.title;
    sentence.textContent = s.sentence;
    count.textContent = `Step ${i + 1} of ${steps.length} · ${cls} at ${r.layer}`;
    body.textContent = '';
    body.append(...s.draw());
    prev.disabled = i === 0;
    next.textContent = i === steps.length - 1 ? 'Done' : 'Next →';
    [...dots.children].forEach((d, k) => d.setAttribute('aria-current', String(k === i)));
    walk.title = s.title;
    walk.shown[i] = true;
  }
  prev.onclick = () => go(walk.step - 1);
  next.onclick = () => (walk.step === steps.length - 1 ? close() : go(walk.step + 1));
  go(0);
  walk.ready = true;
  next.focus();
}
