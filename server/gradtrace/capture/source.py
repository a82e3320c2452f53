"""Where in the snippet an op was called: the line and the exact source span of the expression.

Python 3.11+ keeps column positions for every bytecode instruction (``co_positions``), so the span
of ``w*x`` inside ``y = w*x + b`` is exact. Positions are cached per (code object, instruction), so
the lookup costs a frame walk and one dict probe per op.
"""

from __future__ import annotations

import sys

SNIPPET_FILENAME = "<snippet>"


class SourceMap:
    """Maps the caller's position in the snippet to ``(line, span)``."""

    def __init__(self, source: str, filename: str = SNIPPET_FILENAME):
        self.filename = filename
        self.lines = source.splitlines()
        self._positions: dict = {}  # code object -> list of positions
        self._spans: dict = {}  # (code object, lasti) -> (line, span)

    def text(self, line: int | None) -> str:
        if line is None or not 1 <= line <= len(self.lines):
            return ""
        return self.lines[line - 1].strip()

    def snippet_frame(self, depth: int = 1):
        """The innermost frame running snippet code, or None outside the snippet."""
        frame = sys._getframe(depth + 1)
        filename = self.filename
        while frame is not None and frame.f_code.co_filename != filename:
            frame = frame.f_back
        return frame

    def locate(self, depth: int = 1) -> tuple[int | None, str]:
        frame = sys._getframe(depth + 1)  # (snippet_frame, inlined: this runs for every op)
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
        positions = self._positions.get(code)
        if positions is None:
            co_positions = getattr(code, "co_positions", None)  # Python 3.11+
            positions = self._positions[code] = list(co_positions()) if co_positions else []
        index = lasti // 2
        if 0 <= index < len(positions):
            line, end_line, col, end_col = positions[index]
            if (line is not None and line == end_line and col is not None
                    and end_col is not None and 1 <= line <= len(self.lines)):
                return line, self.lines[line - 1][col:end_col]
            if line is not None:
                return line, self.text(line)
        return lineno, self.text(lineno)
