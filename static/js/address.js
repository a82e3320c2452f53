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
