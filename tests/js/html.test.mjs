import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeHtml } from "../../static/js/html.js";

test("markup characters become entities, in content and in either kind of quoted attribute", () => {
  assert.equal(escapeHtml(`<img src=x onerror="a('b')"> & co`),
               "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt; &amp; co");
  assert.equal(escapeHtml("&lt;"), "&amp;lt;"); // escaped once more, so it shows as written
});

test("any value becomes text: numbers, null, undefined", () => {
  assert.equal(escapeHtml(3.5), "3.5");
  assert.equal(escapeHtml(null), "null");
  assert.equal(escapeHtml(undefined), "undefined");
  assert.equal(escapeHtml("x · ∇ — ✓"), "x · ∇ — ✓");
});
