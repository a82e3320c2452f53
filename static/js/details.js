// The values the server keeps until asked (`inspect`, server/gradtrace/kept.py): a summary that
// lists more than a few values travels with its statistics, a preview for its glyph and `kept`,
// the id to ask for the rest by; a node's saved entries travel as names with `kept: true`.
// `details` maps a request's key to the server's reply. DOM-free, so node can test it.

const keyOf = (request) => (request.summary !== undefined ? `summary:${request.summary}`
  : `node:${request.node}`);

// `summary` as whole as the replies so far make it. A kept one not asked for yet goes into
// `wanted` (key -> request), so that the caller asks once and draws again with the reply.
export function wholeSummary(details, summary, wanted) {
  if (!summary || !Number.isInteger(summary.kept)) { return summary; }
  const request = { summary: summary.kept };
  const reply = details.get(keyOf(request));
  if (reply === undefined) { wanted.set(keyOf(request), request); }
  return reply && !reply.error ? reply.value : summary;
}

// `node` with its saved entries, when the server has answered for them; otherwise as it is, and
// a node whose entries were kept goes into `wanted`.
export function wholeSaved(details, node, wanted) {
  if (!node || !(node.saved || []).some((e) => e.kept)) { return node; }
  const request = { node: node.id };
  const reply = details.get(keyOf(request));
  if (reply === undefined) { wanted.set(keyOf(request), request); }
  return reply && !reply.error ? { ...node, saved: reply.saved } : node;
}
