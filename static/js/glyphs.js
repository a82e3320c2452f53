// Small pictures of a tensor's values: a heatmap for 2-D and up, a sparkline for 1-D, a histogram
// for a tensor too big to list. The data functions are pure (for `node --test`); the draw functions
// take a 2-D context.

const NUMBER = { nan: NaN, inf: Infinity, "-inf": -Infinity };
const toNumber = (v) => (Array.isArray(v) ? Math.hypot(v[0], v[1]) // complex: the magnitude
  : typeof v === "number" ? v : v in NUMBER ? NUMBER[v] : Number(v));

// The numbers a glyph draws: the values, or, for a summary whose values the server kept, its
// preview (kept.py: each value as the sixteenth of [min, max] it falls in, `x` if not finite)
// read back as the middle of that sixteenth; null when it has neither.
export function glyphValues(summary) {
  if (summary.values) { return summary.values.map(toNumber); }
  if (typeof summary.preview !== "string") { return null; }
  const lo = toNumber(summary.min);
  const span = toNumber(summary.max) - lo;
  return Array.from(summary.preview, (d) => {
    const level = parseInt(d, 16);
    return Number.isNaN(level) ? NaN : lo + (span * (level + 0.5)) / 16;
  });
}

// Which picture a summary gets, or null when its text says it all (a scalar, a few values).
export function glyphKind(summary, textLimit = 4) {
  if (!summary) { return null; }
  const count = summary.values ? summary.values.length
    : typeof summary.preview === "string" ? summary.preview.length : 0;
  if (count > textLimit) { return summary.shape.length >= 2 ? "heatmap" : "sparkline"; }
  if (!summary.values && summary.hist) { return "histogram"; }
  return null;
}

// The values as rows x cols numbers: the last dimension across, everything before it down.
export function heatGrid(summary) {
  const values = glyphValues(summary);
  const cols = summary.shape.length ? summary.shape[summary.shape.length - 1] || 1 : 1;
  return { rows: Math.max(Math.ceil(values.length / cols), 1), cols, values };
}

// The finite range of some numbers; [0, 0] when there is none.
export function finiteRange(values) {
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of values) {
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return lo > hi ? [0, 0] : [lo, hi];
}

// A colour-blind-safe diverging scale: blue below zero, orange above, paler near zero. A range
// that does not cross zero shades from pale to full in its own hue. NaN and Inf get `bad`.
export function cellColor(v, lo, hi, bad = "#cc79a7") {
  if (!Number.isFinite(v)) { return bad; }
  const span = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const t = Math.min(Math.abs(v) / span, 1);
  const [r, g, b] = v < 0 ? [0, 114, 178] : [230, 159, 0];
  const mix = (c) => Math.round(245 + (c - 245) * (0.15 + 0.85 * t));
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

// Bar heights (0..1) of a histogram, on a square-root scale so that a few outliers still show.
export function histogramBars(hist) {
  const top = Math.sqrt(Math.max(...hist, 1));
  return hist.map((c) => Math.sqrt(c) / top);
}

// Draws the glyph of `summary` inside the box (x, y, w, h); returns false when it has none.
export function drawGlyph(ctx, summary, x, y, w, h, ink) {
  const kind = glyphKind(summary);
  if (kind === "heatmap") { drawHeatmap(ctx, heatGrid(summary), x, y, w, h); }
  else if (kind === "sparkline") {
    drawSparkline(ctx, glyphValues(summary), x, y, w, h, ink);
  }
  else if (kind === "histogram") { drawHistogram(ctx, summary.hist, x, y, w, h, ink); }
  return kind !== null;
}

function drawHeatmap(ctx, grid, x, y, w, h) {
  const [lo, hi] = finiteRange(grid.values);
  const cw = w / grid.cols;
  const ch = Math.min(h / grid.rows, cw * 2);
  const top = y + (h - ch * grid.rows) / 2;
  grid.values.forEach((v, i) => {
    ctx.fillStyle = cellColor(v, lo, hi);
    // Overlap by a fraction of a pixel so no seams show between cells.
    ctx.fillRect(x + (i % grid.cols) * cw, top + Math.floor(i / grid.cols) * ch,
                 cw + 0.5, ch + 0.5);
  });
}

function drawSparkline(ctx, values, x, y, w, h, ink) {
  const [lo, hi] = finiteRange(values);
  const step = w / Math.max(values.length - 1, 1);
  ctx.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) { pen = false; return; } // a gap where NaN/Inf are
    const py = y + h - ((v - lo) / (hi - lo || 1)) * h;
    if (pen) { ctx.lineTo(x + i * step, py); } else { ctx.moveTo(x + i * step, py); }
    pen = true;
  });
  ctx.strokeStyle = ink;
  ctx.lineWidth = 1.25;
  ctx.stroke();
}

function drawHistogram(ctx, hist, x, y, w, h, ink) {
  const bars = histogramBars(hist);
  const bw = w / bars.length;
  ctx.fillStyle = ink;
  bars.forEach((b, i) => {
    ctx.fillRect(x + i * bw + 0.5, y + h - b * h, Math.max(bw - 1, 1), b * h);
  });
}
