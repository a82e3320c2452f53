import { test } from "node:test";
import assert from "node:assert/strict";
import { SvgContext } from "../../static/js/svg.js";

test("text from the trace is escaped, and shapes become paths", () => {
  const svg = new SvgContext(100, 50, "#fff", null);
  svg.fillStyle = "#123";
  svg.textAlign = "center";
  svg.fillText('<script>alert("x")</script> & more', 10, 20);
  svg.beginPath();
  svg.moveTo(0, 0);
  svg.arcTo(10, 0, 10, 10, 4); // a rounded corner: a line, then a clockwise arc
  svg.setLineDash([4, 3]);
  svg.stroke();
  svg.beginPath();
  svg.arc(5, 5, 2, 0, 2 * Math.PI);
  svg.fill();
  const text = svg.toString();
  assert.ok(!text.includes("<script>"));
  assert.ok(text.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"));
  assert.ok(text.includes('text-anchor="middle"'));
  assert.ok(text.includes('d="M0 0L6 0A4 4 0 0 1 10 4" fill="none"'));
  assert.ok(text.includes('stroke-dasharray="4 3"'));
  assert.match(text, /d="M7 5A2 2 0 0 1 3 5A2 2 0 0 1 7 5"/); // a whole circle: two halves
});
