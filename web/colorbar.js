// Colour bars: every map on the page says what its colours mean. A bar is
// the colormap's own 256 colours (the engine's tables, so the bar and the
// map match exactly), the numbers at its ends (and at 0 for a signed map),
// words for the ends, and a line on what 0 means.
import { engine } from './cnnlens.js';

/** num formats a value for a bar's tick: 3 significant digits, no noise. */
export function num(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(+v.toPrecision(3));
}

/** ramp draws a colormap as a 256×1 canvas (stretched by CSS). */
export function ramp(colormap) {
  const c = document.createElement('canvas');
  c.width = 256;
  c.height = 1;
  c.className = 'cbar-ramp';
  const t = (engine().colormapTables || {})[colormap];
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(256, 1);
  for (let i = 0; i < 256; i++) {
    const g = t ? [t[3 * i], t[3 * i + 1], t[3 * i + 2]] : [i, i, i];
    img.data.set([g[0], g[1], g[2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/**
 * colorbar returns an element: the colours, the numbers under them and
 * what they mean.
 *   colormap: the map's colormap name
 *   min, max: the values at the two ends (a signed map: −s and s, 0 in the middle)
 *   signed:   mark 0 in the middle
 *   low, high: words for the ends ("no evidence", "strongest evidence")
 *   note:     one line under the bar (what 0 means, how it was scaled)
 */
export function colorbar({ colormap = 'jet', min = 0, max = 1, signed = false, low = '', high = '', note = '', title = '' } = {}) {
  const box = document.createElement('div');
  box.className = 'cbar';
  box.dataset.colormap = colormap;
  box.dataset.min = String(min);
  box.dataset.max = String(max);
  if (title) {
    const t = document.createElement('div');
    t.className = 'cbar-title';
    t.textContent = title;
    box.append(t);
  }
  box.append(ramp(colormap));
  const ticks = document.createElement('div');
  ticks.className = 'cbar-ticks';
  const tick = (text, cls) => {
    const s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    ticks.append(s);
  };
  tick(num(min) + (low ? ` ${low}` : ''), 'lo');
  if (signed) tick('0', 'mid');
  tick((high ? `${high} ` : '') + num(max), 'hi');
  box.append(ticks);
  if (note) {
    const n = document.createElement('div');
    n.className = 'cbar-note';
    n.textContent = note;
    box.append(n);
  }
  return box;
}

/** place puts a bar into a holder, replacing the one there. */
export function place(holder, bar) {
  holder.textContent = '';
  if (bar) holder.append(bar);
}

/** range returns the minimum and maximum of an array (NaNs skipped). */
export function range(a) {
  let lo = Infinity, hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/** absMax is max |v| (0 for an empty array). */
export function absMax(a) {
  let m = 0;
  for (const v of a) { const x = Math.abs(v); if (x > m) m = x; }
  return m;
}
