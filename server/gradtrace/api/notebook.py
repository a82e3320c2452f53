"""gradtrace in a notebook: ``%load_ext gradtrace``, then a ``%%gradtrace`` cell is recorded and
its run shown below it, interactive and offline (no CDN, no server).

    %%gradtrace [--device cpu|cuda] [--passes N] [--isolated]

The cell runs in the notebook's own namespace (gradtrace.record), or, ``--isolated``, in the
sandboxed worker the web app uses (it sees none of the notebook's variables).

What is shown is one output of three forms, so that every frontend shows one:
- ``text/html``: an ``<iframe sandbox="allow-scripts" srcdoc=...>`` holding the standalone page.
  JupyterLab, Notebook 7, VS Code (which runs a notebook's HTML in a shared page) and Colab (in a
  sandbox of its own) all show a srcdoc iframe. The page is gzipped and base64-encoded inside it
  and written out by a few lines of script: a 3,000-node run stays under Jupyter's default
  ``iopub_data_rate_limit`` (1 MB a second);
- ``image/svg+xml``: the graph as boxes and arrows (picture.py), for GitHub and nbviewer, which
  run no script;
- ``text/plain``: the CLI's report.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import html
import shlex
import types

from gradtrace.trace.report import render
from gradtrace.web.standalone import prints_of, saved_run

MAX_OUTPUT_BYTES = 1_000_000  # Jupyter's default iopub_data_rate_limit, a second's worth
FRAME_HEIGHT = 720  # px: the page's editor, graph and panels, legible side by side

# Unpacks the page and writes it over this frame's own document (DecompressionStream is in every
# browser a notebook runs in). Written, not put in a frame of its own: a 4 MB srcdoc is parsed
# a third slower, and the page would start a frame later.
_LOADER = """<!doctype html><meta charset="utf-8"><title>gradtrace</title><script>
(async () => {
  const text = atob("%s");
  const packed = new Uint8Array(text.length); // a loop: ten times Uint8Array.from's speed
  for (let i = 0; i < text.length; i++) { packed[i] = text.charCodeAt(i); }
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
  const page = await new Response(stream).text();
  document.open();
  document.write(page);
  document.close();
})();
</script>"""


class RunFailed(Exception):
    """An isolated cell's snippet raised, in the worker: what it raised, and where."""


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(_cell_magic(ipython), "cell", "gradtrace")


def _cell_magic(ipython):
    def gradtrace(line: str, cell: str):
        """Record this cell and show its autograd graph, forward values and backward pass."""
        args = _options().parse_args(shlex.split(line))
        if args.isolated:
            document, prints = _isolated(cell, args)
            failed = document["error"]
            error = failed and RunFailed(f"{failed['type']}: {failed['message']}"
                                         + (f" (line {failed['line']})" if failed["line"] else ""))
        else:
            run = _in_process(ipython, cell, args)
            document, prints, error = run.document, run.prints, run.exception
        from IPython.display import display

        display(output(document, prints, cell), raw=True)
        if error is not None:
            raise error  # the cell fails as it would have, once its run is shown

    return gradtrace


class _Options(argparse.ArgumentParser):
    def error(self, message: str):
        """A bad option is the cell's usage error, said in one line (IPython's UsageError), not
        argparse's exit."""
        from IPython.core.error import UsageError

        raise UsageError(f"%%gradtrace: {message} (options: --device cpu|cuda, --passes N, "
                         "--isolated)")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--passes takes a whole number from 1, not {text!r}")
    return int(text)


def _options() -> argparse.ArgumentParser:
    options = _Options(prog="%%gradtrace", add_help=False)
    options.add_argument("--device", choices=("cpu", "cuda"), default=None)
    options.add_argument("--passes", type=_count, default=None,
                         help="a loop's first passes to keep in full")
    options.add_argument("--isolated", action="store_true",
                         help="run the cell in the sandboxed worker, apart from this notebook")
    return options


def _in_process(ipython, cell: str, args):
    """The cell recorded in the notebook's namespace, compiled as IPython compiles a cell (its
    source in linecache under the cell's own file name, so steps name its lines)."""
    from gradtrace.api.recording import record

    source = ipython.transform_cell(cell)
    filename = ipython.compile.cache(source)
    code = compile(source, filename, "exec")
    return record(types.FunctionType(code, ipython.user_ns), device=args.device,
                  passes=args.passes)


def _isolated(cell: str, args) -> tuple[dict, list[dict]]:
    from gradtrace.runner import run_snippet

    events: list[dict] = []
    passes = f"first{args.passes}" if args.passes else None
    document = run_snippet(cell, device=args.device or "cpu", passes=passes, events=events)
    return document, prints_of(events)


def output(document: dict, prints: list[dict], code: str) -> dict:
    """The MIME bundle that shows a run (see the module's docstring). Past MAX_OUTPUT_BYTES the
    page holds a compact run: its summaries without their listed values; past it still, only
    the picture and the text are shown, and they say so."""
    from gradtrace.drawing.picture import svg

    bundle = {"image/svg+xml": svg(document), "text/plain": render(document, "this cell")}
    room = MAX_OUTPUT_BYTES - sum(len(part.encode()) for part in bundle.values())
    for shown in (lambda: document, lambda: compact(document)):  # compact only when needed
        frame = _frame(shown(), prints, code)
        if len(frame) <= room:
            return {"text/html": frame, **bundle}
    bundle["text/plain"] += ("\n(the interactive view of this run is over "
                             f"{MAX_OUTPUT_BYTES // 1_000_000} MB: save it with gradtrace.record "
                             "and run.save('run.html'))")
    return bundle


def _frame(document: dict, prints: list[dict], code: str) -> str:
    # level 3: a 3,000-node run packs in a third of level 6's time, about 15% bigger
    packed = base64.b64encode(gzip.compress(saved_run(document, prints, code).encode(),
                                            compresslevel=3, mtime=0)).decode()
    return (f'<iframe sandbox="allow-scripts" srcdoc="{html.escape(_LOADER % packed)}" '
            f'style="width: 100%; height: {FRAME_HEIGHT}px; border: 1px solid #ccc" '
            f'title="gradtrace"></iframe>')


def compact(document: dict) -> dict:
    """``document`` with no summary's listed values (nor histogram): its shape and statistics
    stay, and the graph, steps and passes whole."""
    def without_values(value):
        if isinstance(value, dict):
            return {k: without_values(v) for k, v in value.items()
                    if not (k in ("values", "hist") and "shape" in value)}
        if isinstance(value, list):
            return [without_values(v) for v in value]
        return value

    return without_values(document)
