// A 2-D drawing context that writes SVG: the part of CanvasRenderingContext2D that canvas.js and
// glyphs.js use, so the one drawing code makes both the screen and the SVG export. Text is
// measured by a real canvas context (`measure`), so it is laid out as on screen. Pure apart from
// that, for `node --test`.

const f = (v) => String(Math.round(v * 100) / 100);
const xml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                          '"': "&quot;" })[c]);
const ANCHOR = { left: "start", start: "start", center: "middle", right: "end", end: "end" };
const BASELINE = { middle: "middle", top: "hanging", hanging: "hanging" };

export class SvgContext {
  constructor(width, height, background, measure) {
    this.width = width;
    this.height = height;
    this.background = background;
    this.measure = measure;
    this.parts = [];
    this.d = "";
    this.at = [0, 0];
    this.dash = [];
    this.fillStyle = "#000";
    this.strokeStyle = "#000";
    this.lineWidth = 1;
    this.textAlign = "start";
    this.textBaseline = "alphabetic";
    this._font = "10px sans-serif";
  }

  get font() { return this._font; }
  set font(value) { this._font = value; if (this.measure) { this.measure.font = value; } }
  measureText(text) { return this.measure ? this.measure.measureText(text) : { width: 0 }; }

  setTransform() {} // drawn at 1 unit a pixel
  clearRect() {}
  drawImage() {} // the far-away bitmap cache: exports draw at a scale that does not use it
  setLineDash(dash) { this.dash = [...dash]; }

  beginPath() { this.d = ""; }
  moveTo(x, y) { this.d += `M${f(x)} ${f(y)}`; this.at = [x, y]; }
  lineTo(x, y) { this.d += `L${f(x)} ${f(y)}`; this.at = [x, y]; }
  closePath() { this.d += "Z"; }
  bezierCurveTo(x1, y1, x2, y2, x, y) {
    this.d += `C${f(x1)} ${f(y1)} ${f(x2)} ${f(y2)} ${f(x)} ${f(y)}`;
    this.at = [x, y];
  }

  arc(x, y, r, start, end) { // whole circles and arcs drawn clockwise, as canvas.js uses them
    const point = (a) => [x + r * Math.cos(a), y + r * Math.sin(a)];
    const [sx, sy] = point(start);
    this.d += `${this.d ? "L" : "M"}${f(sx)} ${f(sy)}`;
    if (end - start >= 2 * Math.PI - 1e-9) { // two halves: one SVG arc cannot close on itself
      const [mx, my] = point(start + Math.PI);
      this.d += `A${f(r)} ${f(r)} 0 0 1 ${f(mx)} ${f(my)}A${f(r)} ${f(r)} 0 0 1 ${f(sx)} ${f(sy)}`;
    } else {
      const [ex, ey] = point(end);
      this.d += `A${f(r)} ${f(r)} 0 ${end - start > Math.PI ? 1 : 0} 1 ${f(ex)} ${f(ey)}`;
    }
    this.at = point(end);
  }

  // The corner canvas's arcTo draws: a line to where the circle of radius r touches the line
  // to (x1, y1), then the arc to where it touches the line on to (x2, y2).
  arcTo(x1, y1, x2, y2, r) {
    const [x0, y0] = this.at;
    const [ax, ay, bx, by] = [x0 - x1, y0 - y1, x2 - x1, y2 - y1];
    const [la, lb] = [Math.hypot(ax, ay), Math.hypot(bx, by)];
    const cross = ax * by - ay * bx;
    if (!la || !lb || !r || Math.abs(cross) < 1e-9) { this.lineTo(x1, y1); return; }
    const angle = Math.acos(Math.max(-1, Math.min(1, (ax * bx + ay * by) / (la * lb))));
    const d = r / Math.tan(angle / 2);
    const [t1x, t1y] = [x1 + (ax / la) * d, y1 + (ay / la) * d];
    const [t2x, t2y] = [x1 + (bx / lb) * d, y1 + (by / lb) * d];
    this.lineTo(t1x, t1y);
    this.d += `A${f(r)} ${f(r)} 0 0 ${cross < 0 ? 1 : 0} ${f(t2x)} ${f(t2y)}`;
    this.at = [t2x, t2y];
  }

  fill() { this.parts.push(`<path d="${this.d}" fill="${xml(this.fillStyle)}"/>`); }

  stroke() {
    const dash = this.dash.length ? ` stroke-dasharray="${this.dash.map(f).join(" ")}"` : "";
    this.parts.push(`<path d="${this.d}" fill="none" stroke="${xml(this.strokeStyle)}" `
      + `stroke-width="${f(this.lineWidth)}"${dash}/>`);
  }

  fillRect(x, y, w, h) {
    this.parts.push(`<rect x="${f(x)}" y="${f(y)}" width="${f(w)}" height="${f(h)}" `
      + `fill="${xml(this.fillStyle)}"/>`);
  }

  fillText(text, x, y) {
    const baseline = BASELINE[this.textBaseline];
    this.parts.push(`<text x="${f(x)}" y="${f(y)}" style="font: ${xml(this._font)}" `
      + `text-anchor="${ANCHOR[this.textAlign] || "start"}"`
      + `${baseline ? ` dominant-baseline="${baseline}"` : ""} fill="${xml(this.fillStyle)}">`
      + `${xml(text)}</text>`);
  }

  toString() {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${f(this.width)}" `
      + `height="${f(this.height)}" viewBox="0 0 ${f(this.width)} ${f(this.height)}">`
      + `<rect width="100%" height="100%" fill="${xml(this.background)}"/>`
      + `${this.parts.join("")}</svg>`;
  }
}
