import { test } from "node:test";
import assert from "node:assert/strict";
import { codeFromHash, sessionToken, withoutToken } from "../../static/js/address.js";

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
