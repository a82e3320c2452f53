"""What a classroom's channels carry besides a run's batches, and the checks on it: a presenter's
view state (`sync`), checked when the presenter sends it and again wherever it is read back from
Redis, and the room's count of who is watching (`room`), checked when another process relays it.
"""

from __future__ import annotations

import math


def room_channels(room: str) -> tuple[str, str]:
    """The Socket.IO rooms a classroom sends to: every member's, and its presenters'."""
    return f"room:{room}", f"room:{room}:presenters"


MAX_CODE_CHARS = 64 * 1024
MAX_GROUPS = 10_000
MAX_NAME_CHARS = 300
MAX_STEP = 10_000_000

# The view state a presenter sends, and what each field may be.
SYNC_FIELDS = ("code", "step", "selected", "selected_name", "collapsed", "view", "internals")


def sync_problem(payload) -> str | None:
    """Why a `sync` message is malformed, or None. Every field is checked before any is kept."""
    if not isinstance(payload, dict):
        return "sync expects an object"
    unknown = set(payload) - set(SYNC_FIELDS)
    if unknown:
        return f"sync has unknown fields: {sorted(unknown)[:5]}"
    code = payload.get("code")
    if not isinstance(code, str) or len(code) > MAX_CODE_CHARS:
        return f"sync.code must be a string of at most {MAX_CODE_CHARS} characters"
    step = payload.get("step")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        return "sync.step must be a whole number of frames"
    selected = payload.get("selected")
    if selected is not None and (type(selected) is not int or not 0 <= selected <= 2**31):
        return "sync.selected must be a node id or null"
    name = payload.get("selected_name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_CHARS):
        return "sync.selected_name must be a short string or null"
    collapsed = payload.get("collapsed")
    if collapsed is not None and (
            not isinstance(collapsed, list) or len(collapsed) > MAX_GROUPS
            or any(not isinstance(p, str) or len(p) > MAX_NAME_CHARS for p in collapsed)):
        return "sync.collapsed must be a list of group paths or null"
    view = payload.get("view")
    if view is not None and not _is_view(view):
        return ("sync.view must be {cx, cy, scale, w, h, down}: finite numbers, a positive "
                "scale, a canvas size and whether the graph is drawn top to bottom")
    if type(payload.get("internals")) is not bool:
        return "sync.internals must be true or false"
    return None


def room_info_problem(info, room: str) -> str | None:
    """Why a `room` message to the room's channels (tell_members) is malformed, or None."""
    if not isinstance(info, dict) or set(info) != {"room", "watching", "allow_runs", "role"}:
        return "room expects {room, watching, allow_runs, role}"
    if info["room"] != room or info["role"] not in ("presenter", "viewer"):
        return "room names another room, or a role that is neither presenter nor viewer"
    if type(info["watching"]) is not int or not 0 <= info["watching"] <= 2**31:
        return "room.watching must be a count"
    if type(info["allow_runs"]) is not bool:
        return "room.allow_runs must be true or false"
    return None


def _is_view(view) -> bool:
    """{cx, cy, scale, w, h, down}: the world point at the centre of the presenter's canvas, its
    scale, the canvas's size in CSS pixels (a viewer fits the same region to its own canvas), and
    whether the graph is drawn top to bottom (the viewer draws it so too, or the point is
    elsewhere). ``down`` may be left out: across."""
    if not isinstance(view, dict) or not {"cx", "cy", "scale", "w", "h"} <= set(view) <= {
            "cx", "cy", "scale", "w", "h", "down"}:
        return False
    if type(view.get("down", False)) is not bool:
        return False
    numbers = [v for k, v in view.items() if k != "down"]
    return (all(type(v) in (int, float) and math.isfinite(v) and abs(v) < 1e9 for v in numbers)
            and view["scale"] > 0 and 0 < view["w"] < 1e5 and 0 < view["h"] < 1e5)
