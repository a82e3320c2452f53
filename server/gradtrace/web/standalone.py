"""The standalone page: one HTML file that holds the page, its player and a run's trace, and
replays it in any browser with no server (a teacher puts it on a course page).

The page's ES modules are bundled here into one inline module script: each module becomes a
function scope that returns its exports, in dependency order, and each import becomes a
destructuring of the module it names. The page's own sources keep to the forms this reads
(``import { a, b as c } from "./x.js"``, ``import * as x from "./x.js"``, ``export function``,
``export const``); anything else is refused, so the bundle never silently breaks. The socket
client is left out: main.js replays the trace in the file when there is no server to talk to.
The trace goes in a JSON block (``"__GRADTRACE_TRACE__"``), which the page fills when it exports,
or standalone_file fills here (the in-process API, `gradtrace trace --html`).

The template is rendered with Jinja alone, not Flask: a file is made with no server too.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jinja2

from gradtrace.trace import jsonio
from gradtrace.web.devices import Devices

ENTRY = "main.js"
SOCKET_CLIENT = "../vendor/socket.io-client/socket.io.esm.min.js"
TRACE_PLACEHOLDER = '"__GRADTRACE_TRACE__"'
# The page's files: links to the checkout's static/, templates/ and examples/, which a wheel
# carries here (pyproject's package-data)
ASSETS = Path(__file__).resolve().parent

_IMPORT = re.compile(r'^import\s+(?:\{([^}]*)\}|\*\s+as\s+(\w+))\s+from\s+"([^"]+)";\s*$',
                     re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(function|const|let|class)\s+(\w+)", re.MULTILINE)
_OTHER = re.compile(r"^\s*(import|export)\b", re.MULTILINE)


class BundleError(ValueError):
    """A module uses a form of import or export that the bundler does not read."""


def bundle(js_dir: Path) -> str:
    """The page's modules, from ENTRY down, as one script's text."""
    order: list[str] = []
    sources: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:  # before the check below: a module in a cycle is already read
            raise BundleError(f"{name} imports itself through {' -> '.join(trail)}")
        if name in sources:
            return
        text = (js_dir / name).read_text(encoding="utf-8")
        sources[name] = text
        for match in _IMPORT.finditer(text):
            target = match[3]
            if target != SOCKET_CLIENT:
                visit(_module_name(target, name), (*trail, name))
        order.append(name)

    visit(ENTRY, ())
    return "\n".join(_scoped(name, sources[name]) for name in order)


def _module_name(target: str, importer: str) -> str:
    if not target.startswith("./") or "/" in target[2:]:
        raise BundleError(f"{importer} imports {target}: only ./module.js is bundled")
    return target[2:]


def _var(name: str) -> str:
    return "__module_" + re.sub(r"\W", "_", name)


def _scoped(name: str, text: str) -> str:
    """One module as a function scope returning its exports."""
    exports = [m[2] for m in _EXPORT.finditer(text)]

    def imported(match: re.Match) -> str:
        names, star, target = match[1], match[2], match[3]
        if target == SOCKET_CLIENT:
            return "const io = null; // no server: the file replays the trace it holds"
        source = _var(_module_name(target, name))
        if star:
            return f"const {star} = {source};"
        parts = [p.strip() for p in names.split(",") if p.strip()]
        pairs = [p.replace(" as ", ": ") for p in parts]
        return f"const {{ {', '.join(pairs)} }} = {source};"

    body = _IMPORT.sub(imported, text)
    body = _EXPORT.sub(lambda m: m[0].replace("export ", "", 1), body)
    stray = _OTHER.search(body)
    if stray:
        line = body[: stray.start()].count("\n") + 1
        raise BundleError(f"{name}, line {line}: an import or export the bundler does not read")
    return (f"const {_var(name)} = (() => {{\n{body}\nreturn {{ {', '.join(exports)} }};\n}})();"
            f" // {name}")


def _inline(text: str) -> str:
    """Text safe inside a <script> or <style> element: nothing in it can close the element."""
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)


@functools.lru_cache(maxsize=4)
def standalone_page(static_dir: Path, template_dir: Path) -> str:
    """The page as one file, with an empty trace block for the page to fill. It runs nothing:
    its device menu is the cpu's alone. Made once a process: the page's files do not change
    under it."""
    read = lambda path: _inline((static_dir / path).read_text(encoding="utf-8"))  # noqa: E731
    devices = Devices()
    devices.cuda_absent("a saved page shows its run and runs nothing")
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir),
                                   autoescape=True)
    return templates.get_template("index.html").render(
        capabilities=devices.report(), standalone={
            "styles": [read("vendor/codemirror/codemirror.css"), read("css/app.css")],
            "scripts": [read("vendor/codemirror/codemirror.js"),
                        read("vendor/codemirror/mode/python/python.js")],
            "bundle": _inline(bundle(static_dir / "js")),
            "trace": TRACE_PLACEHOLDER,
        })


def prints_of(events: list[dict]) -> list[dict]:
    """What a run printed, from its events: each piece with the steps and passes begun before."""
    return [{"text": e["text"], "step": e.get("step"), "passes": e.get("passes")}
            for e in events if e["type"] == "stdout"]


def saved_run(document: dict, prints: list[dict], code: str) -> str:
    """The standalone page holding a run, as the page's export fills it: its trace document, what
    it printed (prints_of) and its code. ``<`` is written as \\u003c, so no text in it can end
    the block."""
    data = jsonio.dumps({"document": document, "prints": prints, "code": code})
    page = standalone_page(ASSETS / "static", ASSETS / "templates")
    return page.replace(TRACE_PLACEHOLDER, data.replace(b"<", b"\\u003c").decode(), 1)
