// What the page's address carries: the server's token in the query (`?token=`, as printed by
// `gradtrace serve`) and the editor's code in the fragment. Pure functions of strings and a
// storage object, so node can test them; main.js applies them to the page.

const TOKEN_KEY = "gradtrace-token";

// The token for this tab: the address's when it has one (a fresh link), else the one kept by an
// earlier load, so a reload still connects after the token has left the address bar.
export function sessionToken(search, storage) {
  const fresh = new URLSearchParams(search).get("token");
  if (fresh) {
    storage.setItem(TOKEN_KEY, fresh);
    return fresh;
  }
  return storage.getItem(TOKEN_KEY);
}

// The query with its token taken out and everything else left as written ("?present" stays
// "?present", where URLSearchParams would rewrite it as "?present=").
export function withoutToken(search) {
  const kept = search.replace(/^\?/, "").split("&")
    .filter((part) => part && new URLSearchParams(part).keys().next().value !== "token");
  return kept.length ? `?${kept.join("&")}` : "";
}

// The code in the fragment ("#print(1)" percent-encoded), or null when the fragment is not
// valid percent-encoding (cut short or edited by hand), which decodeURIComponent throws on.
export function codeFromHash(hash) {
  try {
    return decodeURIComponent(hash.replace(/^#/, ""));
  } catch {
    return null;
  }
}

// A share link's fragment: "#z=" and the code deflated (CompressionStream) in base64url, so a
// long snippet makes a short link. Opening one shows the code and waits for a click to run it.
export const SHARED = "#z=";

export async function sharedHash(code) {
  const stream = new Blob([code]).stream().pipeThrough(new CompressionStream("deflate"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let binary = "";
  for (const b of bytes) { binary += String.fromCharCode(b); }
  return SHARED + btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// The code of a share link's fragment; null when it is not one, or cannot be read (cut short,
// edited by hand, or not deflate at all). At most `limit` characters are inflated, so a small
// link cannot unpack into a huge page. The deflated bytes go in PIECE at a time, each read out
// before the next goes in: given them all at once, Chromium inflated a 1.4 MB link to a
// gigabyte before the first output could be counted (deflate expands a byte at most ~1,032
// times, so a piece is at most ~1 MB out).
const PIECE = 1024;
export async function codeFromSharedHash(hash, limit = 1 << 20) {
  if (!hash.startsWith(SHARED)) { return null; }
  const inflate = new DecompressionStream("deflate");
  const writer = inflate.writable.getWriter();
  const reader = inflate.readable.pipeThrough(new TextDecoderStream()).getReader();
  const feeding = (async () => {
    const binary = atob(hash.slice(SHARED.length).replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    for (let at = 0; at < bytes.length; at += PIECE) {
      await writer.write(bytes.subarray(at, at + PIECE)); // waits while the output is unread
    }
    await writer.close();
  })();
  feeding.catch(() => {}); // (a bad link fails the reads below too)
  try {
    let code = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) { await feeding; return code; }
      code += value;
      if (code.length > limit) { await reader.cancel(); return null; }
    }
  } catch {
    writer.abort().catch(() => {});
    return null;
  }
}
