import { test } from "node:test";
import assert from "node:assert/strict";
import {
  blamesPasses, DEFAULT_PASSES, keepPasses, keptPasses, MAX_PASSES_CHARS, PASS_PRESETS,
  passesProblem, passesToSend, runPayload,
} from "../../static/js/passes.js";

const memory = () => {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)),
           removeItem: (k) => items.delete(k), size: () => items.size };
};

test("a run asks for passes only when the field says something other than the default", () => {
  assert.deepEqual(runPayload("x = 1", "cpu", ""), { code: "x = 1", device: "cpu" });
  assert.deepEqual(runPayload("x = 1", "cpu", "  "), { code: "x = 1", device: "cpu" });
  assert.deepEqual(runPayload("x = 1", "cpu", DEFAULT_PASSES), { code: "x = 1", device: "cpu" });
  assert.equal(passesToSend(" first10, sample, last10 "), null); // the default, spaced out
  assert.deepEqual(runPayload("x = 1", "cuda", " first2,last1 "),
                   { code: "x = 1", device: "cuda", passes: "first2,last1" });
  assert.equal(passesToSend("all"), "all");
  assert.equal(passesToSend("sample,first10,last10"), "sample,first10,last10"); // the server's word
});

test("only the length and the characters are checked here; the server reads the items", () => {
  for (const ok of ["", "first2,last1", "0-4, 100, last5", "every50", "all", "x", "lastx"]) {
    assert.equal(passesProblem(ok), null, ok);
  }
  assert.match(passesProblem("first2;last1"), /only letters, digits, commas, hyphens and spaces/);
  assert.match(passesProblem("<b>all</b>"), /only letters/);
  assert.match(passesProblem("first\n2"), /only letters/); // a newline is not a space
  assert.equal(passesProblem("1,".repeat(MAX_PASSES_CHARS / 2)), null); // 200: at the limit
  assert.equal(passesProblem("1,".repeat(101)),
               "keep passes is 202 characters long; the limit is 200");
});

test("the choice is kept for the tab, and the default leaves nothing behind", () => {
  const storage = memory();
  assert.equal(keptPasses(storage), "");
  keepPasses(storage, " first2,last1 ");
  assert.equal(keptPasses(storage), "first2,last1");
  keepPasses(storage, DEFAULT_PASSES);
  assert.equal(keptPasses(storage), "");
  assert.equal(storage.size(), 0);
  keepPasses(storage, "all");
  keepPasses(storage, "");
  assert.equal(storage.size(), 0);
});

test("a rejection names the passes when the server could not read them", () => {
  assert.ok(blamesPasses("cannot read 'x' in --passes 'x': use items such as first10, last10, "
                         + "sample, every50, 7, 100-110 or all, separated by commas"));
  assert.ok(blamesPasses("the range '9-1' in --passes is backwards or too long"));
  assert.ok(!blamesPasses("the code is over 64 KiB"));
  assert.ok(!blamesPasses(undefined));
});

test("every preset is a spec the page would send as written", () => {
  assert.equal(PASS_PRESETS[0][0], DEFAULT_PASSES);
  for (const [spec, label] of PASS_PRESETS) {
    assert.equal(passesProblem(spec), null, spec);
    assert.ok(label.length > 0);
  }
  assert.deepEqual(new Set(PASS_PRESETS.map(([spec]) => spec)).size, PASS_PRESETS.length);
});

test("a run left unseeded says so; a seeded one sends nothing more", () => {
  assert.deepEqual(runPayload("x = 1", "cpu", "", false),
                   { code: "x = 1", device: "cpu", seeded: false });
  assert.deepEqual(runPayload("x = 1", "cpu", "first2", true),
                   { code: "x = 1", device: "cpu", passes: "first2" });
});
