"""`gradtrace open FILE`: a saved run shown in the browser, read-only. FILE is a trace JSON
(`gradtrace trace --json`, gradtrace.record's run.save, the page's export) or a standalone HTML
file (the page's export, `--html`, run.save). It is served, as the standalone page that replays
it, by a small server of its own on loopback, which serves that page and nothing else.
"""

from __future__ import annotations

import http.server
import json
from pathlib import Path

from gradtrace.web.standalone import TRACE_PLACEHOLDER, saved_run

MAX_FILE_BYTES = 512 * 2**20


def page_for(path: Path) -> str:
    """The standalone page showing the run in ``path``; ValueError saying why there is none."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is over {MAX_FILE_BYTES // 2**20} MiB")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        if 'id="gradtrace-trace"' not in text or TRACE_PLACEHOLDER in text:
            raise ValueError(f"{path} is not a page gradtrace saved with a run in it")
        return text
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema != "gradtrace/1":
        raise ValueError(f"{path} is not a gradtrace/1 trace (its schema: {schema!r})")
    code = (f"# {path.name}: a saved trace. Its code is not saved with it: its steps name the "
            "lines of the code that made it.\n")
    return saved_run(document, [], code)


def server(page: str, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1 (``port`` 0: any free one) that answers GET / with ``page``."""
    body = page.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/":
                self.send_error(404, "gradtrace open serves one page, at /")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # no line per request on the console

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
