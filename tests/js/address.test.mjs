import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import {
  codeFromHash, codeFromSharedHash, sessionToken, SHARED, sharedHash, withoutToken,
} from "../../static/js/address.js";

const memory = () => {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)) };
};

test("the address's token is kept for the tab, so a reload without it still has it", () => {
  const storage = memory();
  assert.equal(sessionToken("?token=abc&present", storage), "abc");
  assert.equal(sessionToken("?present", storage), "abc");
  assert.equal(sessionToken("", storage), "abc");
  assert.equal(sessionToken("?token=new", storage), "new"); // a fresh link wins
  assert.equal(sessionToken("", memory()), null);
});

test("the token leaves the query; everything else stays as written", () => {
  assert.equal(withoutToken("?token=abc"), "");
  assert.equal(withoutToken("?token=abc&present"), "?present");
  assert.equal(withoutToken("?present&token=abc&x=1%202"), "?present&x=1%202");
  assert.equal(withoutToken("?to%6Ben=abc&tokens=1"), "?tokens=1"); // named as the server reads it
  assert.equal(withoutToken(""), "");
});

test("the fragment's code, and null when it is not valid percent-encoding", () => {
  assert.equal(codeFromHash(`#${encodeURIComponent("print(1) % 2\n")}`), "print(1) % 2\n");
  assert.equal(codeFromHash(""), "");
  assert.equal(codeFromHash("#print(1)%"), null);
  assert.equal(codeFromHash("#%E0%A4%A"), null);
});

test("a share link round-trips its code, and a damaged one reads as none", async () => {
  const code = "import torch\nx = torch.ones(3, requires_grad=True)\n# é ✓\n";
  assert.equal(await codeFromSharedHash(await sharedHash(code)), code);
  assert.equal(await codeFromSharedHash("#z=not-deflate"), null);
});

test("a small link that would inflate to a huge page is refused without inflating it", async () => {
  // 256 MiB of one character, deflated to about 250 KiB: the old reader got it in 64 MiB
  // chunks (one per input chunk) before it could count, a gigabyte from a 1.36 MB link
  const bomb = deflateSync(Buffer.alloc(256 * 2 ** 20, 0x61), { level: 9 });
  const hash = SHARED + bomb.toString("base64url");
  global.gc?.();
  const before = process.memoryUsage();
  let peak = 0;
  const watch = setInterval(() => {
    const now = process.memoryUsage();
    peak = Math.max(peak, now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers);
  }, 1);
  const code = await codeFromSharedHash(hash);
  clearInterval(watch);
  assert.equal(code, null);
  assert.ok(peak < 48 * 2 ** 20, `held ${(peak / 2 ** 20).toFixed(0)} MiB while refusing it`);
});
