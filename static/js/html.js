// Text made safe to put into HTML, as an element's content or a quoted attribute's value.
// Everything a trace carries comes from an untrusted worker, so every value placed in markup
// goes through here, numbers included: a field that should be a number may arrive as a string.

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]);
}
