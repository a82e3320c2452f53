"""Where in the snippet an op was called: the line and the exact source span of the expression.

Python 3.11+ keeps column positions for every bytecode instruction (``co_positions``), so the span
of ``w*x`` inside ``y = w*x + b`` is exact. Positions are cached per (code object, instruction), so
the lookup costs a frame walk and one dict probe per op.

Code recorded in the user's own process (gradtrace.record) may call into other files of the
user's (``users_files``): a module of their own, a helper in another notebook cell. A call there
is placed on that file's line. Such a line is a ``FileLine``: an int that knows its file, so it
travels wherever a line does (steps, nodes, passes), and the document writes the file beside it
(protocol.py). A line of the recorded file itself is a plain int.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig

SNIPPET_FILENAME = "<snippet>"


class FileLine(int):
    """A line of another of the user's files than the recorded one."""

    file: str

    def __new__(cls, line: int, file: str):
        made = super().__new__(cls, line)
        made.file = file
        return made


class SourceMap:
    """Maps the caller's position in the snippet to ``(line, span)``."""

    def __init__(self, source: str, filename: str = SNIPPET_FILENAME, users_files: bool = False):
        self.filename = filename
        self.lines = source.splitlines()
        self.users_files = users_files  # place calls in the user's other files there
        self._owned: dict[str, bool] = {filename: True}  # file name -> the user's own
        self._positions: dict = {}  # code object -> list of positions
        self._spans: dict = {}  # (code object, lasti) -> (line, span)

    def text(self, line: int | None) -> str:
        if line is None or not 1 <= line <= len(self.lines):
            return ""
        return self.lines[line - 1].strip()

    def owns(self, filename: str) -> bool:
        """Whether code in ``filename`` is the user's: the recorded file, or with
        ``users_files`` any file that is not Python's, torch's, gradtrace's or a package's."""
        found = self._owned.get(filename)
        if found is None:
            found = self._owned[filename] = self.users_files and is_users_file(filename)
        return found

    def locate(self, depth: int = 1) -> tuple[int | None, str]:
        frame = sys._getframe(depth + 1)  # (this runs for every op: kept lean)
        if self.users_files:
            owns = self.owns
            while frame is not None and not owns(frame.f_code.co_filename):
                frame = frame.f_back
        else:
            filename = self.filename
            while frame is not None and frame.f_code.co_filename != filename:
                frame = frame.f_back
        if frame is None:
            return None, ""
        code = frame.f_code
        key = (code, frame.f_lasti)
        found = self._spans.get(key)
        if found is None:
            found = self._spans[key] = self._span_at(code, frame.f_lasti, frame.f_lineno)
        return found

    def _span_at(self, code, lasti: int, lineno: int) -> tuple[int, str]:
        if code.co_filename == self.filename:
            lines, as_line = self.lines, int
        else:
            lines = [text.rstrip("\n") for text in linecache.getlines(code.co_filename)]
            as_line = lambda n: FileLine(n, code.co_filename)  # noqa: E731
        line, span = _position(code, lasti, lineno, lines, self._positions)
        return as_line(line), span


def _position(code, lasti: int, lineno: int, lines: list[str], cache: dict) -> tuple[int, str]:
    """The line and the exact text of the expression at instruction ``lasti`` of ``code``."""
    positions = cache.get(code)
    if positions is None:
        co_positions = getattr(code, "co_positions", None)  # Python 3.11+
        positions = cache[code] = list(co_positions()) if co_positions else []
    index = lasti // 2
    if 0 <= index < len(positions):
        line, end_line, col, end_col = positions[index]
        if (line is not None and line == end_line and col is not None
                and end_col is not None and 1 <= line <= len(lines)):
            return line, lines[line - 1][col:end_col]
        if line is not None:
            lineno = line
    text = lines[lineno - 1].strip() if 1 <= lineno <= len(lines) else ""
    return lineno, text


def _not_users() -> tuple[str, ...]:
    """Where code that is not the user's lives: Python's library, installed packages, torch's
    and gradtrace's own source."""
    import torch

    paths = sysconfig.get_paths()
    places = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    places |= {os.path.dirname(torch.__file__),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return tuple(os.path.join(os.path.realpath(p), "") for p in places)


_NOT_USERS: tuple[str, ...] | None = None


def is_users_file(filename: str) -> bool:
    """A file of the user's own: on disk (or a notebook cell's), and not under Python's library,
    an installed package, torch or gradtrace."""
    global _NOT_USERS
    if filename.startswith("<"):  # <string>, <frozen ...>: no file of anyone's to show
        return False
    if _NOT_USERS is None:
        _NOT_USERS = _not_users()
    path = os.path.realpath(filename)
    parts = path.split(os.sep)
    return ("site-packages" not in parts and "dist-packages" not in parts
            and not path.startswith(_NOT_USERS))
