"""Our own layered (Sugiyama-style) graph layout, so the HTML page needs neither Graphviz nor a server.

Steps, each simple and linear or near-linear in the graph's size: break cycles (collapsed scopes can
make them) by reversing DFS back edges; longest-path layering from the top, then sources moved down next
to their first consumer (constants and variables sit beside the op that reads them instead of all at
the top); long edges split by dummy nodes, one per layer crossed, where a source with several long
edges shares one trunk of dummies among them (a weight used by every step of a long chain would
otherwise cost dummies quadratic in the chain's length); a few barycenter sweeps reorder each layer to
reduce edge crossings (the best ordering seen is kept); x coordinates by weighted isotonic regression
(each layer placed as close as its order and the spacing allow to the mean of its neighbours, which
straightens long edges); edge endpoints spread along the node's top and bottom sides so parallel edges
stay apart; routes keep only the dummies where an edge bends (a straight run costs its two ends).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

#: gaps between boxes in a layer, between a box and a dummy (an edge's bend) and between layers
NODE_GAP, DUMMY_GAP, LAYER_GAP = 22.0, 8.0, 46.0
DUMMY_WIDTH = 6.0
#: a source with this many edges longer than one layer runs them through one shared trunk of dummies
SHARED_TRUNK = 3
MARGIN = 24.0
#: label metrics shared with the page's CSS: first line bold 12px sans, others 10.5px monospace
TITLE_CHAR, DETAIL_CHAR, LINE_HEIGHT, PAD_X, PAD_Y = 7.4, 6.4, 14.0, 12.0, 7.0
MAX_LINES, MAX_CHARS = 3, 34


@dataclass
class Box:
    """A node's place: center ``x``, ``y``, size ``w`` by ``h``, and its ``layer`` (0 is the top)."""

    x: float
    y: float
    w: float
    h: float
    layer: int


@dataclass
class Layout:
    """``boxes`` by id; ``routes[i]`` are the points of edge ``i`` (source end first): its two ends and
    the dummies where it bends, at most one per layer crossed (the inner points of a straight run are
    left out, so a piece may span several layers); the drawing's size."""

    boxes: dict[str, Box]
    routes: list[list[tuple[float, float]]]
    width: float
    height: float
    scopes: list[tuple[str, float, float, float, float]] = field(default_factory=list)  # name, x, y, w, h


def label_lines(label: str) -> list[str]:
    """The lines a box shows: at most ``MAX_LINES``, each at most ``MAX_CHARS`` (cut with an ellipsis).

    Example:
        >>> label_lines("Transpose\\naxes=(1, 0)")
        ['Transpose', 'axes=(1, 0)']
    """
    lines = label.split("\n") or [""]
    if len(lines) > MAX_LINES:
        lines = lines[: MAX_LINES - 1] + ["…"]
    return [line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…" for line in lines]


def label_size(label: str) -> tuple[float, float]:
    """The (width, height) of a box that fits ``label`` (see ``label_lines``).

    Example:
        >>> label_size("MatMul")
        (68.4, 28.0)
    """
    lines = label_lines(label)
    chars = max([len(lines[0]) * TITLE_CHAR] + [len(line) * DETAIL_CHAR for line in lines[1:]])
    return round(max(chars, 30.0) + 2 * PAD_X, 1), len(lines) * LINE_HEIGHT + 2 * PAD_Y


def layered_layout(
    ids: Sequence[str],
    edges: Sequence[tuple[str, str]],
    sizes: Mapping[str, tuple[float, float]],
    sweeps: int = 6,
) -> Layout:
    """Lay out a directed graph top to bottom: every id gets a ``Box``, every edge a polyline.

    ``ids`` in creation (topological) order give the best start; self loops and edges to unknown ids
    get an empty route. Cycles are allowed (drawn with some edges pointing up).

    Example:
        >>> lay = layered_layout(["a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c")],
        ...                      {k: (40.0, 20.0) for k in "abc"})
        >>> [lay.boxes[k].layer for k in "abc"]
        [0, 1, 2]
        >>> len(lay.routes[1])  # a -> c bends once, around b
        3
    """
    index = {v: i for i, v in enumerate(ids)}
    n = len(ids)
    pairs = [(index[s], index[d]) for s, d in edges if s in index and d in index and s != d]
    upward = _back_edges(n, pairs)
    dag = [(d, s) if (s, d) in upward else (s, d) for s, d in pairs]
    layer = _layers(n, dag)
    widths = [sizes[v][0] for v in ids]
    heights = [sizes[v][1] for v in ids]
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    # A long edge runs through dummies, one per layer crossed. A source with many long edges runs them
    # all through one trunk of dummies that each edge leaves at its target's layer: a tensor used by
    # every step of a long chain then costs one dummy per layer, not one per layer and use (quadratic).
    long_edges = Counter(s for s, d in dict.fromkeys(dag) if layer[d] - layer[s] > 1)
    trunks: dict[object, list[int]] = {}  # by source where shared, else by edge
    through: dict[tuple[int, int], tuple[list[int], int]] = {}  # DAG edge -> its trunk, dummies crossed
    for s, d in dict.fromkeys(dag):
        m = layer[d] - layer[s] - 1
        trunk = trunks.setdefault(s if long_edges[s] >= SHARED_TRUNK else (s, d), []) if m else []
        through[(s, d)] = trunk, m
        while len(trunk) < m:
            layer.append(layer[s] + 1 + len(trunk))
            widths.append(DUMMY_WIDTH)
            heights.append(0.0)
            succ.append([])
            pred.append([])
            _link(trunk[-1] if trunk else s, len(layer) - 1, succ, pred)
            trunk.append(len(layer) - 1)
        _link(trunk[m - 1] if m else s, d, succ, pred)
    total = len(layer)
    rows: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for v in range(total):  # creation order within a layer is the starting order
        rows[layer[v]].append(v)
    rows = _order(rows, succ, pred, sweeps)
    xs = _coordinates(rows, succ, pred, widths, n, _loads(through.values(), total))
    ys, y = [0.0] * total, MARGIN
    for row in rows:
        tallest = max(heights[v] for v in row)
        for v in row:
            ys[v] = y + tallest / 2
        y += tallest + LAYER_GAP
    left = min((xs[v] - widths[v] / 2 for v in range(total)), default=0.0)
    xs = [x - left + MARGIN for x in xs]
    boxes = {ids[i]: Box(xs[i], ys[i], widths[i], heights[i], layer[i]) for i in range(n)}
    hops = {edge: (trunk[0], trunk[m - 1]) if m else edge[::-1] for edge, (trunk, m) in through.items()}
    ports = _ports(hops, xs, ys, widths, heights)
    bends = {id(trunk): _bends([(xs[v], ys[v]) for v in trunk]) for trunk in trunks.values()}
    routes: list[list[tuple[float, float]]] = []
    for s, d in ((index.get(s), index.get(d)) for s, d in edges):
        if s is None or d is None or s == d:
            routes.append([])
            continue
        reverse = (s, d) in upward
        if reverse:
            s, d = d, s
        (first, last), (trunk, m) = hops[(s, d)], through[(s, d)]
        points = [ports[(s, first, "out")]]
        if m:
            kept = bends[id(trunk)]
            # the dummies where the trunk bends, then the one this edge leaves it from
            points += [(xs[trunk[k]], ys[trunk[k]]) for k in kept[: bisect_left(kept, m - 1)]]
            points.append((xs[last], ys[last]))
        points.append(ports[(last, d, "in")])
        routes.append(points[::-1] if reverse else points)
    width = max((xs[v] + widths[v] / 2 for v in range(total)), default=0.0) + MARGIN
    return Layout(boxes, routes, width, max(y - LAYER_GAP + MARGIN, 2 * MARGIN))


def _loads(through: Iterable[tuple[list[int], int]], total: int) -> list[int]:
    """How many edges run through each dummy (1 for real nodes), given each edge's trunk and how many of
    its dummies the edge crosses: a trunk's k-th dummy carries the edges that cross more than k."""
    load = [1] * total
    leaving: dict[int, tuple[list[int], list[int]]] = {}  # per trunk: edges leaving at each dummy
    for trunk, m in through:
        if m:
            if id(trunk) not in leaving:
                leaving[id(trunk)] = trunk, [0] * len(trunk)
            leaving[id(trunk)][1][m - 1] += 1
    for trunk, counts in leaving.values():
        carried = 0
        for k in range(len(trunk) - 1, -1, -1):
            carried += counts[k]
            load[trunk[k]] = carried
    return load


def _link(a: int, b: int, succ: list[list[int]], pred: list[list[int]]) -> None:
    succ[a].append(b)
    pred[b].append(a)


def _bends(points: Sequence[tuple[float, float]], tolerance: float = DUMMY_GAP / 2) -> list[int]:
    """Indices of the trunk points a route needs: the first, the last, and enough between that every
    left-out point lies within ``tolerance`` pixels (sideways) of the straight line joining the kept
    points around it: half the gap a dummy keeps from its neighbours, so the line keeps clear of the
    boxes and edges beside it. A long straight (or steadily slanting) trunk then costs a few points, not
    one per layer. Any point where a run could end may end it, so every route through the trunk may stop at
    any dummy: the run from the last kept point to there also stays within ``tolerance``."""
    kept = [0] if points else []
    lo, hi = -math.inf, math.inf  # the slopes (dx per dy) from the last kept point that fit the run
    for k in range(1, len(points)):
        (ax, ay), (x, y) = points[kept[-1]], points[k]
        slope = (x - ax) / (y - ay)
        if not lo <= slope <= hi:  # the run cannot reach point k: it ends at k - 1
            kept.append(k - 1)
            (ax, ay), lo, hi = points[k - 1], -math.inf, math.inf
            slope = (x - ax) / (y - ay)
        lo, hi = max(lo, slope - tolerance / (y - ay)), min(hi, slope + tolerance / (y - ay))
    if len(points) > 1:
        kept.append(len(points) - 1)
    return kept


def _back_edges(n: int, pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Edges that close a cycle in an iterative DFS (reversing them leaves a DAG)."""
    out: list[list[int]] = [[] for _ in range(n)]
    for s, d in pairs:
        out[s].append(d)
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 1:
                    back.add((v, w))
                elif state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(out[w])))
                    break
            else:
                state[v] = 2
                stack.pop()
    return back


def _layers(n: int, dag: list[tuple[int, int]]) -> list[int]:
    """Longest path from the sources, then nodes moved down to just above their first consumer where
    that shortens edges: sources always (a constant sits beside the op that reads it), other nodes when
    they have no more inputs from non-sources than consumers (an optimizer's update chain moves down
    to the gradient it waits for instead of stretching edges from the top)."""
    out: list[list[int]] = [[] for _ in range(n)]
    fed_by = [0] * n  # inputs from nodes that are not sources (sources follow a node down for free)
    indegree = [0] * n
    for s, d in dag:
        out[s].append(d)
        indegree[d] += 1
    source = [d == 0 for d in indegree]
    for s, d in dag:
        fed_by[d] += not source[s]
    layer = [0] * n
    ready = [v for v in range(n) if indegree[v] == 0]
    topo = []
    while ready:
        v = ready.pop()
        topo.append(v)
        for w in out[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(w)
    for v in reversed(topo):  # consumers are final before their producers move
        if out[v] and fed_by[v] <= len(out[v]):
            layer[v] = max(layer[v], min(layer[w] for w in out[v]) - 1)
    return layer


def _crossings(rows: list[list[int]], succ: list[list[int]]) -> int:
    """Edge crossings between consecutive layers: inversions of the lower ends (a Fenwick tree counts)."""
    total = 0
    for upper, lower in pairwise(rows):
        pos = {v: i for i, v in enumerate(lower)}
        ends = [pos[w] for v in upper for w in sorted(succ[v], key=pos.__getitem__)]
        tree = [0] * (len(lower) + 1)
        for seen, p in enumerate(ends):
            i, below = p + 1, 0
            while i > 0:
                below += tree[i]
                i -= i & -i
            total += seen - below  # earlier edges ending to the right of p cross this one
            i = p + 1
            while i <= len(lower):
                tree[i] += 1
                i += i & -i
    return total


def _order(rows: list[list[int]], succ, pred, sweeps: int) -> list[list[int]]:
    """Barycenter sweeps down and up; the ordering with the fewest crossings wins."""
    best, best_cost = [list(r) for r in rows], _crossings(rows, succ)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        order = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for i in order:
            fixed = rows[i - 1] if down else rows[i + 1]
            pos = {v: p for p, v in enumerate(fixed)}
            neighbours = pred if down else succ
            keys = {}
            for p, v in enumerate(rows[i]):
                near = [pos[w] for w in neighbours[v]]
                # nodes without neighbours on that side keep their place
                keys[v] = (sum(near) / len(near) if near else p * len(fixed) / max(len(rows[i]), 1), p)
            rows[i].sort(key=keys.__getitem__)
        cost = _crossings(rows, succ)
        if cost < best_cost:
            best, best_cost = [list(r) for r in rows], cost
    return best


def _coordinates(rows, succ, pred, widths, n_real: int, load: list[int]) -> list[float]:
    """x per node: layers packed, then alternately pulled toward upper and lower neighbours; ``load`` is
    how many edges run through each dummy."""
    xs = [0.0] * len(widths)

    def gap(a: int, b: int) -> float:
        between = NODE_GAP if a < n_real and b < n_real else DUMMY_GAP
        return (widths[a] + widths[b]) / 2 + between

    for row in rows:
        x = 0.0
        for k, v in enumerate(row):
            x = x + gap(row[k - 1], v) if k else 0.0
            xs[v] = x
    for sweep in range(8):
        sides = (pred,) if sweep % 3 == 0 else (succ,) if sweep % 3 == 1 else (pred, succ)
        for row in rows:
            targets, weights = [], []
            for v in row:
                near = [w for side in sides for w in (_onward(v, succ, n_real) if side is succ else side[v])]
                if near:
                    # dummy chains pull harder, by the edges they carry: long edges come out straight
                    weight = sum(
                        4.0 * min(load[v], load[w]) if v >= n_real and w >= n_real else 1.0 for w in near
                    )
                    targets.append(sum(xs[w] for w in near) / len(near))
                    weights.append(weight)
                else:
                    targets.append(xs[v])
                    weights.append(0.05)
            placed = _isotonic(targets, weights, [gap(a, b) for a, b in pairwise(row)])
            for v, x in zip(row, placed, strict=True):
                xs[v] = x
    return xs


def _onward(v: int, succ: list[list[int]], n_real: int) -> list[int]:
    """The successors that pull ``v`` sideways. Where a shared trunk of dummies goes on, only its next
    dummy: the trunk runs on straight instead of zigzagging toward each edge that leaves it here."""
    if v < n_real or len(succ[v]) == 1:
        return succ[v]
    return [w for w in succ[v] if w >= n_real] or succ[v]


def _isotonic(targets: list[float], weights: list[float], gaps: list[float]) -> list[float]:
    """Positions closest (weighted least squares) to ``targets`` with ``x[i+1] - x[i] >= gaps[i]``.

    Shifting by the cumulative gaps turns the constraint into ``y[i+1] >= y[i]``: pool adjacent
    violators solves that exactly in linear time.
    """
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for t, w, o in zip(targets, weights, offsets, strict=True):
        blocks.append([(t - o) * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, w2, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][2] += c
    ys = [b[0] / b[1] for b in blocks for _ in range(int(b[2]))]
    return [y + o for y, o in zip(ys, offsets, strict=True)]


def _ports(hops, xs, ys, widths, heights) -> dict[tuple[int, int, str], tuple[float, float]]:
    """Where each edge leaves its source's bottom and enters its target's top, spread along the side in
    the order of the other ends (so edges into one box neither cross nor overlap there). ``hops`` maps
    each DAG edge to its first hop's target and last hop's source; edges sharing a trunk share a port."""
    sides: dict[tuple[int, str], set[tuple[float, int, int]]] = {}
    for (s, d), (first, last) in hops.items():
        sides.setdefault((s, "out"), set()).add((xs[first], s, first))
        sides.setdefault((d, "in"), set()).add((xs[last], last, d))
    ports = {}
    for (v, side), found in sides.items():
        ends = sorted(found)
        span = widths[v] * 0.6
        dy = heights[v] / 2 if side == "out" else -heights[v] / 2
        for k, (_, a, b) in enumerate(ends):
            dx = 0.0 if len(ends) == 1 else span * (k / (len(ends) - 1) - 0.5)
            ports[(a, b, side)] = (xs[v] + dx, ys[v] + dy)
    return ports


def layout_view(view) -> Layout:
    """Lay out a ``GraphView``: boxes sized to their labels, plus a rectangle around the nodes of each name
    scope whose nodes lie close together (outer scopes padded more than the scopes inside them).

    Example:
        >>> import graphc as gc
        >>> from graphc.viz import graph_view
        >>> g = gc.Graph()
        >>> with g.as_default(), gc.name_scope("layer"):
        ...     y = gc.placeholder("float32", (2,), name="x") * 2.0
        >>> lay = layout_view(graph_view(g))
        >>> sorted(lay.boxes), [s[0] for s in lay.scopes]
        (['layer/const', 'layer/multiply', 'layer/x'], ['layer'])
    """
    ids = [v.id for v in view.nodes]
    sizes = {v.id: label_size(v.label) for v in view.nodes}
    lay = layered_layout(ids, [(e.src, e.dst) for e in view.edges], sizes)
    members: dict[tuple[str, ...], list[str]] = {}
    deepest: dict[tuple[str, ...], int] = {}
    for v in view.nodes:
        for k in range(1, len(v.scope) + 1):
            members.setdefault(v.scope[:k], []).append(v.id)
            deepest[v.scope[:k]] = max(deepest.get(v.scope[:k], 0), len(v.scope))
    centres = _Centres(lay.boxes.values())
    for scope, inside in sorted(members.items(), key=lambda item: len(item[0])):
        pad = 6.0 + 6.0 * (deepest[scope] - len(scope))
        boxes = [lay.boxes[i] for i in inside]
        x0 = min(b.x - b.w / 2 for b in boxes) - pad
        y0 = min(b.y - b.h / 2 for b in boxes) - pad - 10.0  # room for the scope's name
        x1 = max(b.x + b.w / 2 for b in boxes) + pad
        y1 = max(b.y + b.h / 2 for b in boxes) + pad
        # layering ignores scopes, so a scope's members may be scattered: a rectangle that would mostly
        # cover other nodes says nothing and hides the picture, so only compact scopes get one
        mine = sum(1 for b in boxes if x0 < b.x < x1 and y0 < b.y < y1)
        strangers = centres.count(x0, y0, x1, y1) - mine
        if strangers <= max(1, len(inside) // 4):
            lay.scopes.append(("/".join(scope), x0, y0, x1 - x0, y1 - y0))
    return lay


class _Centres:
    """Box centres by row (the boxes of a layer share their ``y``), each row sorted by ``x``: counting
    the centres inside a rectangle costs a bisection per row it spans. Looking at every box instead,
    once per scope, made a 10000-node chain in 3333 scopes take 3.6 s to lay out instead of 0.6."""

    def __init__(self, boxes: Iterable[Box]):
        rows: dict[float, list[float]] = {}
        for b in boxes:
            rows.setdefault(b.y, []).append(b.x)
        self.ys = sorted(rows)
        self.xs = [sorted(rows[y]) for y in self.ys]

    def count(self, x0: float, y0: float, x1: float, y1: float) -> int:
        """How many centres lie strictly inside the rectangle."""
        if not x0 < x1:
            return 0  # (an empty rectangle: the bisections would cross on centres at x0 == x1)
        rows = self.xs[bisect_right(self.ys, y0) : bisect_left(self.ys, y1)]
        return sum(bisect_left(xs, x1) - bisect_right(xs, x0) for xs in rows)
