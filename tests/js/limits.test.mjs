import { test } from "node:test";
import assert from "node:assert/strict";
import { codeSizeProblem, MAX_CODE_BYTES } from "../../static/js/limits.js";

test("code over 64 KiB of UTF-8 is refused with its size and the limit", () => {
  assert.equal(MAX_CODE_BYTES, 65536);
  assert.equal(codeSizeProblem("x".repeat(MAX_CODE_BYTES)), null); // at the limit: allowed
  assert.equal(codeSizeProblem("x".repeat(72000)), "the code is 70.3 KiB; the limit is 64 KiB");
  // bytes, not characters: 30,000 three-byte characters are 87.9 KiB
  assert.equal(codeSizeProblem("∇".repeat(30000)), "the code is 87.9 KiB; the limit is 64 KiB");
});
