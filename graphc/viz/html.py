"""``to_html``: one self-contained HTML page that shows a graph, with no Graphviz, server or network.

The graph is laid out in Python by our own layered layout (``graphc.viz.layout``) and drawn as inline
SVG; plain JavaScript (``graphc.viz.html_assets``) adds pan and zoom, a name search and a details panel
(op, attributes, output types, the user's ``file:line``, ``grad_of``, a fused op's body). A compiled
executable is shown as two graphs side by side, before and after optimization, with the per-pass
statistics below. The node data travels as JSON in a ``<script type="application/json">`` tag with
``<``, ``>`` and ``&`` escaped, so no name can end the script; every text in the SVG/HTML is escaped.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from html import escape
from types import SimpleNamespace

from graphc.ir.graph import Graph
from graphc.viz.html_assets import CSS, JS
from graphc.viz.layout import LAYER_GAP, LINE_HEIGHT, MAX_LINES, PAD_Y, Layout, label_lines, layout_view
from graphc.viz.model import KINDS, GraphView, graph_view

_RADIUS = {"placeholder": 12.0, "constant": 3.0}
_DETAIL = ' class="d"'  # attribute lines under the op name
_HANDLE = (LAYER_GAP + MAX_LINES * LINE_HEIGHT + 2 * PAD_Y) / 2  # half the tallest one-layer step
_SURROGATE = re.compile("[\ud800-\udfff]")


def to_html(x, path: str | os.PathLike, depth: int | None = None, title: str | None = None) -> str:
    """Write a self-contained HTML page showing ``graph_view(x, depth)`` to ``path``; return the path.

    ``x`` is anything ``graph_view`` draws: a ``Graph``, tensors/ops, or a compiled executable (which
    shows its source and optimized program side by side, with the per-pass statistics). The file is
    written atomically (a temporary file, then ``os.replace``).

    Example:
        >>> import os, tempfile
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.relu(gc.placeholder("float32", (None, 3), name="x") * 2.0)
        >>> path = to_html(g, os.path.join(tempfile.mkdtemp(), "graph.html"), title="relu")
        >>> page = open(path, encoding="utf-8").read()
        >>> page.startswith("<!DOCTYPE html>") and "Relu" in page and "https://" not in page
        True
    """
    if isinstance(getattr(x, "program", None), Graph) and hasattr(x, "source") and hasattr(x, "stats"):
        # the source program computes the same update values (its last outputs): drawn as updates too
        source = SimpleNamespace(program=x.source, updates=getattr(x, "updates", ()))
        before, after = graph_view(source, depth, title="source program"), graph_view(x, depth)
        panes = [("before optimization", before), ("after optimization", after)]
        heading = title or f"compiled executable: {len(before.nodes)} → {len(after.nodes)} nodes"
        stats = list(x.stats)
    else:
        view = graph_view(x, depth)
        panes, heading, stats = [("", view)], title or view.title, None
    page = _page(heading, [(name, view, layout_view(view)) for name, view in panes], stats)
    return _write_atomic(path, page)


def _write_atomic(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: readers never
    see half a page."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".graphc-", suffix=".html.tmp", dir=folder)
    try:
        # backslashreplace: a lone surrogate (an undecodable file name) shows as its \udcxx escape,
        # as _json_for_script writes it, instead of failing the write
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        # mkstemp makes the file private (0600); a page is for sharing, like any file open() makes
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _json_for_script(value) -> str:
    """JSON that is safe inside a ``<script>`` element: ``</script>`` or ``<!--`` in a name cannot end
    or confuse it (``\\u003c`` is the same string to ``JSON.parse``). A lone surrogate becomes the text
    of its escape, as in the rest of the page (see ``printable``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # raw surrogates occur only inside JSON strings: "\\" + "udcxx" there is a backslash and "udcxx"
    text = _SURROGATE.sub(lambda m: f"\\\\u{ord(m[0]):04x}", text)
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(ch, code)
    return text.replace("\u2029", "\\u2029")


def _page(heading: str, panes: list[tuple[str, GraphView, Layout]], stats) -> str:
    data = {"title": heading, "panes": [_pane_data(name, view, lay) for name, view, lay in panes]}
    sections = "".join(_pane_html(k, name, view, lay) for k, (name, view, lay) in enumerate(panes))
    legend = "".join(f'<span><i class="sw k-{k}"></i>{k}</span>' for k in KINDS if k != "scope")
    legend += '<span><i class="sw k-scope"></i>collapsed scope</span>'
    legend += '<span><i class="sw scope-box"></i>name scope</span>'
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(heading)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(heading)}</h1>"
        '<input id="search" type="search" placeholder="search node names (Enter: next)" autocomplete="off">'
        '<span id="search-count"></span>'
        '<label><input type="checkbox" id="show-scopes" checked> scopes</label>'
        f'<div class="legend">{legend}</div></header>\n'
        f'<main><div id="panes">{sections}</div>\n'
        '<aside id="side"><div id="details"><p class="hint">Click a node to see its details. Drag to pan, '
        "wheel to zoom; edge types show when zoomed in.</p></div>"
        f"{_stats_html(stats)}</aside></main>\n"
        f'<script type="application/json" id="graph-data">{_json_for_script(data)}</script>\n'
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )


def _pane_data(name: str, view: GraphView, lay: Layout) -> dict:
    index = {v.id: i for i, v in enumerate(view.nodes)}
    nodes = []
    for v in view.nodes:
        box = lay.boxes[v.id]
        nodes.append(
            {
                "id": v.id,
                "label": v.label,
                "kind": v.kind,
                "op": v.op,
                "scope": "/".join(v.scope),
                "attrs": v.attrs,
                "types": v.types,
                "location": v.location,
                "grad_of": v.grad_of,
                "body": v.body,
                "members": v.members,
                "x": round(box.x, 1),
                "y": round(box.y, 1),
            }
        )
    edges = [
        {"s": index[e.src], "d": index[e.dst], "label": e.label, "control": e.control} for e in view.edges
    ]
    return {"name": name, "title": view.title, "nodes": nodes, "edges": edges, "bounds": _bounds(lay)}


def _bounds(lay: Layout) -> list[float]:
    """The drawing's extent, scope rectangles included (they may reach past the layout's margin)."""
    x0 = min([0.0] + [s[1] for s in lay.scopes])
    y0 = min([0.0] + [s[2] for s in lay.scopes])
    x1 = max([lay.width] + [s[1] + s[3] for s in lay.scopes])
    y1 = max([lay.height] + [s[2] + s[4] for s in lay.scopes])
    return [round(v, 1) for v in (x0, y0, x1, y1)]


def _pane_html(k: int, name: str, view: GraphView, lay: Layout) -> str:
    count = f"{name or view.title}: {len(view.nodes)} nodes, {len(view.edges)} edges"
    buttons = "".join(
        f'<button type="button" data-zoom="{z}" title="{t}">{s}</button>'
        for z, s, t in (("in", "+", "zoom in"), ("out", "−", "zoom out"), ("fit", "fit", "show everything"))
    )
    return (
        f'<section class="pane" data-pane="{k}"><div class="pane-head"><span>{escape(count)}</span>'
        f"<span>{buttons}</span></div>{_svg(k, view, lay)}</section>"
    )


def _svg(k: int, view: GraphView, lay: Layout) -> str:
    parts = [
        f'<svg class="canvas" role="img" aria-label="graph"><defs>'
        f'<marker id="arrow{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto"><path d="M0,0L10,5L0,10z" fill="#8a8a8a"/></marker>'
        f'<marker id="arrow{k}hi" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        f'orient="auto"><path d="M0,0L10,5L0,10z" fill="#d32f2f"/></marker></defs>'
        f'<style>#panes section[data-pane="{k}"] .edge.incident {{ marker-end: url(#arrow{k}hi); }}</style>'
        '<g class="viewport">'
    ]
    for name, x, y, w, h in lay.scopes:
        parts.append(
            f'<g class="scope"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6"/>'
            f'<text x="{x + 6:.1f}" y="{y + 12:.1f}">{escape(name)}</text></g>'
        )
    index = {v.id: i for i, v in enumerate(view.nodes)}
    kind = {v.id: v.kind for v in view.nodes}
    labels = []
    label_at: dict[tuple[float, float], list[str]] = {}
    for edge, points in zip(view.edges, lay.routes, strict=True):
        if not points:
            continue
        cls = "edge control" if edge.control else "edge"
        if kind[edge.src] == "gradient":
            cls += " from-gradient"
        parts.append(
            f'<path class="{cls}" data-s="{index[edge.src]}" data-d="{index[edge.dst]}" '
            f'd="{_curve(points)}" marker-end="url(#arrow{k})"/>'
        )
        if edge.label:
            (ax, ay), (bx, by) = points[0], points[1]
            # edges that share their first piece (a source's long edges share a trunk) share a spot:
            # a type already shown there is left out, another goes below it
            there = label_at.setdefault((round(ax + bx, 1), round(ay + by, 1)), [])
            if edge.label not in there:
                labels.append(
                    f'<text class="elabel" x="{(ax + bx) / 2 + 4:.1f}" '
                    f'y="{(ay + by) / 2 + 3 + 10 * len(there):.1f}">{escape(edge.label)}</text>'
                )
                there.append(edge.label)
    for i, v in enumerate(view.nodes):
        parts.append(_node_svg(i, v, lay.boxes[v.id]))
    parts += labels  # above the boxes: a type is never hidden behind a node
    parts.append("</g></svg>")
    return "".join(parts)


def _node_svg(i: int, v, box) -> str:
    x0, y0 = box.x - box.w / 2, box.y - box.h / 2
    lines = label_lines(v.label)
    shadow = ""
    if v.kind == "scope":  # a collapsed scope looks like a stack of boxes
        shadow = f'<rect x="4" y="4" width="{box.w:.1f}" height="{box.h:.1f}" rx="4" opacity="0.6"/>'
    texts = "".join(
        f'<text{_DETAIL if n else ""} x="{box.w / 2:.1f}" y="{PAD_Y + LINE_HEIGHT * n + 11:.1f}">'
        f"{escape(line)}</text>"
        for n, line in enumerate(lines)
    )
    badge = f'<text class="badge" x="{box.w - 6:.1f}" y="11">∇</text>' if v.kind == "gradient" else ""
    return (
        f'<g class="node k-{v.kind}" data-i="{i}" transform="translate({x0:.1f},{y0:.1f})">'
        f"<title>{escape(v.id)}</title>{shadow}"
        f'<rect width="{box.w:.1f}" height="{box.h:.1f}" rx="{_RADIUS.get(v.kind, 4.0)}"/>{texts}{badge}</g>'
    )


def _curve(points: list[tuple[float, float]]) -> str:
    """A smooth path through the route's points: cubic pieces with vertical tangents at every point.

    A piece spanning one layer has its handles at half its height; a longer piece (the layout left out
    the points of a straight run) keeps handles of the longest one-layer piece, so it is drawn straight
    between short bends instead of as one wide S.
    """
    (x, y), rest = points[0], points[1:]
    d = [f"M{x:.1f},{y:.1f}"]
    for nx, ny in rest:
        mid = math.copysign(min(abs(ny - y) / 2, _HANDLE), ny - y)
        d.append(f"C{x:.1f},{y + mid:.1f} {nx:.1f},{ny - mid:.1f} {nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return "".join(d)


def _stats_html(stats) -> str:
    if stats is None:
        return ""
    rows = []
    for s in stats:
        hits = ", ".join(f"{name}: {n}" for name, n in sorted(s.hits.items())) or "—"
        rows.append(
            f"<tr><td>{escape(s.name)}</td><td>{s.nodes_before}</td><td>{s.nodes_after}</td>"
            f"<td>{s.nodes_after - s.nodes_before:+d}</td><td>{s.seconds * 1e3:.2f}</td>"
            f"<td>{escape(hits)}</td></tr>"
        )
    total = sum(s.seconds for s in stats) * 1e3
    first, last = (stats[0].nodes_before, stats[-1].nodes_after) if stats else (0, 0)
    return (
        '<section id="stats"><details open><summary>optimization passes</summary><table>'
        "<thead><tr><th>pass</th><th>nodes before</th><th>after</th><th>Δ</th><th>ms</th><th>rule hits</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody><tfoot><tr><td>total</td><td>{first}</td><td>{last}</td>"
        f"<td>{last - first:+d}</td><td>{total:.2f}</td><td></td></tr></tfoot></table></details></section>"
    )
