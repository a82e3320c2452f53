// A saved trace opened in the page: a trace JSON (the page's own export, `gradtrace trace
// --json`, gradtrace.record's run.save) picked from a file or dropped on the page. It shows as a
// saved run does; the page's own controls stay, so Run starts afresh. The first part is DOM-free,
// so node can test it.

const LISTS = ["variables", "steps", "passes", "diagnostics"];

// Why `doc` is not a trace document the page can show, or null.
export function traceProblem(doc) {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    return "not a trace: a trace JSON is an object";
  }
  if (typeof doc.schema !== "string" || !doc.schema.startsWith("gradtrace/")) {
    return "not a gradtrace trace: it has no \"schema\": \"gradtrace/...\"";
  }
  if (doc.schema !== "gradtrace/1") {
    return `a trace of another version of gradtrace (${doc.schema}): this page reads gradtrace/1`;
  }
  const missing = LISTS.filter((key) => !Array.isArray(doc[key]));
  if (!doc.graph || !Array.isArray(doc.graph.nodes) || !Array.isArray(doc.graph.edges)) {
    missing.unshift("graph");
  }
  return missing.length ? `a trace with no ${missing.join(", ")}: was it cut short?` : null;
}

// The DOM part: a file picker (`input`, a hidden file input behind `button`) and drops anywhere
// on the page, each file read and handed to `open(doc, name)`, or its problem to `refuse`.
export function wireOpenTrace(input, button, open, refuse) {
  const read = async (file) => {
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch {
      refuse(`${file.name} is not JSON`);
      return;
    }
    const problem = traceProblem(doc);
    if (problem) { refuse(`${file.name}: ${problem}`); } else { open(doc, file.name); }
  };
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    if (input.files.length) { read(input.files[0]); }
    input.value = ""; // the same file again is a new choice
  });
  window.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types.includes("Files")) { event.preventDefault(); }
  });
  window.addEventListener("drop", (event) => {
    const file = event.dataTransfer?.files[0];
    if (!file) { return; }
    event.preventDefault(); // not navigated away to the file
    read(file);
  });
}
