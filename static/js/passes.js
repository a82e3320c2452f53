// The "keep passes" field: which backward passes of a training loop the server records in full
// (the others keep only their loss), as `gradtrace trace --passes` reads it. The page checks only
// the length and the characters; the server reads the spec (passplan.py) and answers one it
// cannot read with a `rejected` event that says why. The choice is kept for the tab
// (sessionStorage), as the token is. The first part is DOM-free, so node can test it.

export const DEFAULT_PASSES = "first10,sample,last10"; // passplan.py's DEFAULT
export const MAX_PASSES_CHARS = 200; // passplan.py's _MAX_SPEC_CHARS
const STORAGE_KEY = "gradtrace-passes";
const ALLOWED = /^[A-Za-z0-9,\- ]*$/;

// Suggestions offered under the field: [spec, what it keeps].
export const PASS_PRESETS = [
  [DEFAULT_PASSES, "the default: the first 10, a sparse sample, the last 10"],
  ["first10", "the first 10 only"],
  ["first10,last10", "the first 10 and the last 10"],
  ["every100", "every 100th pass"],
  ["all", "every pass (slow and large on a long loop)"],
];

const squeezed = (text) => String(text ?? "").replace(/\s+/g, "");

// Why the field's text may not be sent, or null. Only the shape: the server reads the items.
export function passesProblem(text) {
  const spec = String(text ?? "").trim();
  if (spec.length > MAX_PASSES_CHARS) {
    return `keep passes is ${spec.length} characters long; the limit is ${MAX_PASSES_CHARS}`;
  }
  if (!ALLOWED.test(spec)) {
    return "keep passes may hold only letters, digits, commas, hyphens and spaces "
      + "(items such as first10, last10, sample, every50, 7, 100-110 or all)";
  }
  return null;
}

// The spec to send with a run, or null to leave the field out: empty, or the default itself.
export function passesToSend(text) {
  const spec = String(text ?? "").trim();
  return spec === "" || squeezed(spec) === DEFAULT_PASSES ? null : spec;
}

// A run's payload, with `passes` only when the user chose other passes than the default.
export function runPayload(code, device, passesText, seeded = true) {
  const passes = passesToSend(passesText);
  return { code, device, ...(passes === null ? {} : { passes }),
           ...(seeded ? {} : { seeded: false }) }; // (the server seeds unless told not to)
}

// The field's text kept by an earlier load of this tab ("" when none).
export function keptPasses(storage) {
  return storage.getItem(STORAGE_KEY) || "";
}

// The field's text kept for reloads; the default (or nothing) leaves nothing behind.
export function keepPasses(storage, text) {
  const spec = String(text ?? "").trim();
  if (passesToSend(spec) === null) { storage.removeItem(STORAGE_KEY); }
  else { storage.setItem(STORAGE_KEY, spec); }
}

// Whether a rejection is about the passes the run asked for (passplan.py names `--passes`).
export function blamesPasses(message) {
  return typeof message === "string" && /--passes\b/.test(message);
}

// The DOM part: the field's text from the tab's storage, kept as it changes, and its presets.
// `flag(problem)` marks the field as the cause of a refusal (null clears it); an edit clears the
// mark, unless the new text fails the page's own check.
export function wirePasses(input, storage) {
  input.value = keptPasses(storage);
  const list = input.list;
  if (list && !list.options.length) {
    list.replaceChildren(...PASS_PRESETS.map(([spec, label]) => new Option(label, spec)));
  }
  const flag = (problem) => {
    input.classList.toggle("invalid", Boolean(problem));
    if (problem) { input.setAttribute("aria-invalid", "true"); }
    else { input.removeAttribute("aria-invalid"); }
  };
  input.addEventListener("input", () => {
    keepPasses(storage, input.value);
    flag(passesProblem(input.value));
  });
  return { flag };
}
