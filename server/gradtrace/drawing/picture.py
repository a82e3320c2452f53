"""A run's graph as a still SVG picture: for where no script runs (a notebook on GitHub or
nbviewer), beside the interactive page. Boxes at the layout's places (layout.py), a leaf green,
an op blue and the loss bold, each with its name and its operation; arrows as data flows.
"""

from __future__ import annotations

from html import escape

from gradtrace.drawing.layout import LAYER_GAP, ROW_GAP

BOX_W, BOX_H = 140, 44
MARGIN = 20
MAX_NODES = 600  # more would be a picture of specks: past it, the picture says so
STYLE = {"leaf": ("#fdf6e3", "#2e8b57"), "op": ("#ffffff", "#3b6ea8"),
         "function": ("#ffffff", "#8a4baf"), "output": ("#ffffff", "#222222")}


def svg(document: dict) -> str:
    nodes, edges = document["graph"]["nodes"], document["graph"]["edges"]
    if not nodes or len(nodes) > MAX_NODES:
        why = ("no autograd graph was recorded" if not nodes else
               f"{len(nodes):,} nodes: open the interactive view above to explore them")
        return _frame(520, 60, f'<text x="{MARGIN}" y="35" {_FONT}>{escape(why)}</text>')
    first_layer, first_row = min(n["layer"] for n in nodes), min(n["row"] for n in nodes)
    place = {n["id"]: (MARGIN + (n["layer"] - first_layer) * LAYER_GAP,
                       MARGIN + (n["row"] - first_row) * ROW_GAP) for n in nodes}
    parts = [_edge(place[e["src"]], place[e["dst"]]) for e in edges
             if e["src"] in place and e["dst"] in place]
    for n in nodes:
        x, y = place[n["id"]]
        fill, stroke = STYLE.get(n["kind"], STYLE["op"])
        title = _short(n["label"] or n["op"] or n["name"])
        weight = ' font-weight="bold"' if n["kind"] in ("output", "leaf") else ""
        parts.append(
            f'<g><title>{escape(n["name"])}: line {n["line"]}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2 if n["kind"] == "output" else 1.2}"/>'
            f'<text x="{x + BOX_W / 2}" y="{y + 18}" text-anchor="middle" {_FONT}{weight}>'
            f'{escape(title)}</text>'
            f'<text x="{x + BOX_W / 2}" y="{y + 34}" text-anchor="middle" {_SMALL}>'
            f'{escape(_short(n["name"]))}</text></g>')
    width = max(x for x, _ in place.values()) + BOX_W + MARGIN
    height = max(y for _, y in place.values()) + BOX_H + MARGIN
    return _frame(width, height, "".join(parts))


_FONT = 'font-family="sans-serif" font-size="13" fill="#222"'
_SMALL = 'font-family="sans-serif" font-size="10" fill="#666"'


def _edge(start: tuple[float, float], end: tuple[float, float]) -> str:
    """An arrow from one box's right side to another's left. One that passes over layers
    between them runs in the free lane under its source's row, not under the boxes there."""
    (x1, y1), (x2, y2) = start, end
    a, b = (x1 + BOX_W, y1 + BOX_H / 2), (x2, y2 + BOX_H / 2)
    if x2 - x1 <= LAYER_GAP:
        path = f"M{a[0]} {a[1]} C{a[0] + 20} {a[1]} {b[0] - 20} {b[1]} {b[0]} {b[1]}"
    else:
        lane = y1 + BOX_H + (ROW_GAP - BOX_H) / 2
        path = (f"M{a[0]} {a[1]} C{a[0] + 12} {a[1]} {a[0] + 4} {lane} {a[0] + 16} {lane} "
                f"L{b[0] - 16} {lane} C{b[0] - 4} {lane} {b[0] - 12} {b[1]} {b[0]} {b[1]}")
    return (f'<path d="{path}" fill="none" stroke="#c58a3a" stroke-width="2" '
            'marker-end="url(#arrow)"/>')


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _frame(width: float, height: float, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
            f'viewBox="0 0 {width:g} {height:g}"><defs><marker id="arrow" viewBox="0 0 10 10" '
            'refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
            '<path d="M0 0L10 5L0 10z" fill="#c58a3a"/></marker></defs>'
            f'<rect width="100%" height="100%" fill="#fafafa"/>{body}</svg>')
