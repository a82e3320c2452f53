// A node's title too long for its box goes onto two lines, and is shortened only if it still
// does not fit. Pure (text is measured by the caller's `measure`), for `node --test`.

// Where a line may end: after a space, a comma or an underscore, or before a dot, a bracket or a
// parenthesis (`model.blocks[1]` | `.attn.c_attn.weight`, `token_embeddings_` | `after_norm`).
const BREAK_AFTER = new Set([" ", ",", "_"]);
const BREAK_BEFORE = new Set([".", "[", "("]);

// A break inside a name (at a dot, bracket or underscore) counts as this much longer than one
// between words, so `wte(idx) +` | `self.wpe(pos)` wins over `wte(idx) + self` | `.wpe(pos)`.
const INSIDE_A_NAME = 1.15;

// The title as the slices it is drawn in: [text] when it fits `room`, else two slices, joined
// they are `text` again. `label = value` breaks before its " = " when both parts fit, so a value
// stays whole beside its sign; otherwise at the break that makes the longer line shortest,
// between words where that is not much longer; a title with no break is cut where its first
// line is full. The second line may still not fit: the caller shortens it (canvas.fit).
export function splitTitle(measure, text, room) {
  if (measure(text) <= room) { return [text]; }
  const width = (part) => measure(part.trim());
  let best = null;
  for (let i = 1; i < text.length; i++) {
    if (!BREAK_AFTER.has(text[i - 1]) && !BREAK_BEFORE.has(text[i])) { continue; }
    const [a, b] = [text.slice(0, i), text.slice(i)];
    if (!a.trim() || !b.trim()) { continue; }
    const longer = Math.max(width(a), width(b));
    if (text.startsWith("= ", i) && longer <= room) { return [a, b]; } // `label` | `= value`
    const cost = text[i - 1] === " " ? longer : longer * INSIDE_A_NAME;
    if (best === null || cost < best.cost) { best = { a, b, cost }; }
  }
  if (best !== null && width(best.a) <= room) { return [best.a, best.b]; }
  let end = 1; // no break that fits: as much as fits on the first line
  while (end < text.length - 1 && measure(text.slice(0, end + 1)) <= room) { end += 1; }
  return [text.slice(0, end), text.slice(end)];
}

// The width the two lines of a title need, at best (the longer line's), for sizing a box.
export function wrappedWidth(measure, text, room) {
  const lines = splitTitle(measure, text, room);
  return Math.max(...lines.map((line) => measure(line.trim())));
}
