// Reads cases ({name, document, grads}) as JSON on stdin, where `grads` is what plain torch gave
// each input's .grad, and prints, for each case, the caption of every frame. Then checks every
// chain-rule clause, "so it sends G × L = S to name": G × L is S, and S is torch's gradient of
// that input. Exits 1 with the failures listed. Run by tests/test_captions.py.
import { readFileSync } from "node:fs";
import { captionAt } from "../../static/js/captions.js";
import { buildTimeline } from "../../static/js/timeline.js";

const numbers = (text) => (text.startsWith("[") ? text.slice(1, -1).split(", ") : [text])
  .map(Number);
const close = (a, b) => a.length === b.length
  && a.every((x, i) => Math.abs(x - b[i]) <= 2e-3 * Math.max(1, Math.abs(b[i])));
const CLAUSE = /so it sends (?:(\[[^\]]+\]|[-\d.e+]+) × (\[[^\]]+\]|[-\d.e+]+) = )?(\[[^\]]+\]|[-\d.e+]+) to (\w+)/g;

const failures = [];
const out = [];
for (const { name, document, grads } of JSON.parse(readFileSync(0, "utf8"))) {
  const frames = buildTimeline(document);
  const captions = frames.map((_, i) => captionAt(document, frames, i));
  out.push({ name, captions });
  let checked = 0;
  for (const caption of captions) {
    const total = new Map(); // a node that uses an input twice (a * a) sends to it twice
    for (const [, g, l, s, input] of caption.matchAll(CLAUSE)) {
      if (!(input in grads)) { continue; }
      checked++;
      const sent = numbers(s);
      const sum = total.get(input) || sent.map(() => 0);
      total.set(input, sum.map((v, i) => v + sent[i]));
      if (g !== undefined) {
        const [gs, ls] = [numbers(g), numbers(l)];
        const product = sent.map((_, i) => gs[gs.length === 1 ? 0 : i] * ls[ls.length === 1 ? 0 : i]);
        if (!close(product, sent)) { failures.push(`${name}: ${g} × ${l} is not ${s}`); }
      }
    }
    for (const [input, sent] of total) {
      const torch = grads[input].length === 1 ? sent.map(() => grads[input][0]) : grads[input];
      if (!close(sent, torch)) { failures.push(`${name}: sends ${sent} to ${input}, torch ${torch}`); }
    }
  }
  if (!checked) { failures.push(`${name}: no clause names an input: ${captions.join(" | ")}`); }
}
console.log(JSON.stringify(out));
if (failures.length) { console.error(failures.join("\n")); process.exit(1); }
