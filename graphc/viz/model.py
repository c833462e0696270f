"""The view of a graph that every export draws: nodes with a kind, a label and details, edges with
types, name scopes, collapsed scopes and fused bodies.

``to_dot``, ``to_html`` and ``to_networkx`` all start from ``graph_view(x)``, so they show the same
thing. ``x`` may be a ``Graph``, a tensor/op or a list of them (what they depend on), or a compiled
executable (anything with ``program`` and ``source`` graphs: the optimized program by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.errors import GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.printing import ancestors

KINDS = ("placeholder", "variable", "constant", "update", "gradient", "fused", "op", "scope")
_UPDATE_OPS = ("Assign", "AssignAdd", "AssignSub", "InitVariables")


@dataclass(eq=False)  # boxes are compared by identity (one box may stand for many nodes)
class ViewNode:
    """One box: ``id`` is unique among the boxes of a view: the node name, or for a collapsed scope its
    path with a trailing ``/`` (``"dense/"``; a suffix is added in the rare case a node has that name)."""

    id: str
    label: str
    kind: str
    op: str
    scope: tuple[str, ...]
    attrs: dict[str, str] = field(default_factory=dict)
    types: list[str] = field(default_factory=list)
    location: str = ""
    grad_of: str | None = None
    body: list[str] = field(default_factory=list)  # FusedOp body, one line per instruction
    members: int = 1  # nodes inside a collapsed scope


@dataclass
class ViewEdge:
    src: str
    dst: str
    label: str
    control: bool = False


@dataclass
class GraphView:
    title: str
    nodes: list[ViewNode]
    edges: list[ViewEdge]


def resolve(x) -> tuple[Graph, list[Node], set[Node], str]:
    """(graph, nodes to draw, nodes that compute updates, title) for any drawable ``x``.

    Raises:
        TypeError: ``x`` is nothing drawable.
        GraphMismatchError: ``x`` lists tensors/ops of different graphs.
    """
    program = getattr(x, "program", None)
    if isinstance(program, Graph):
        updates = getattr(x, "updates", ())
        n = len(updates)
        update_nodes = {t.node for t in program.outputs[len(program.outputs) - n :]} if n else set()
        return program, list(program.nodes), update_nodes, "optimized program"
    if isinstance(x, Graph):
        return x, list(x.nodes), set(), "graph"
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    if not items or not all(isinstance(i, (Tensor, Node)) for i in items):
        raise TypeError("draw a Graph, tensors/ops (or a list of them), or a compiled executable")
    # nodes of two graphs may share names, and names are what boxes, edges and networkx nodes are keyed by
    stranger = next((i for i in items if i.graph is not items[0].graph), None)
    if stranger is not None:
        raise GraphMismatchError(
            f"cannot draw {items[0].name} and {stranger.name} together: they belong to different graphs"
        )
    nodes = ancestors(items)
    return nodes[0].graph, nodes, set(), ", ".join(i.name for i in items)


def graph_view(x, depth: int | None = None, title: str | None = None) -> GraphView:
    """The view of ``x``; scopes nested deeper than ``depth`` levels collapse into one node each.

    Raises:
        TypeError: ``depth`` is not a whole number.
        ValueError: ``depth`` is negative.
    """
    check_depth(depth)
    _, nodes, update_nodes, default_title = resolve(x)
    view_of: dict[Node, ViewNode] = {}
    collapsed: dict[str, ViewNode] = {}
    taken = {node.name for node in nodes}
    for node in nodes:
        scope = tuple(node.name.split("/")[:-1])
        if depth is not None and len(scope) > depth:
            key = "/".join(scope[: depth + 1])
            box = collapsed.get(key)
            if box is None:
                box = collapsed[key] = ViewNode(
                    _scope_id(key, taken), key.rsplit("/", 1)[-1], "scope", "scope", scope[:depth], members=0
                )
            box.members += 1
            box.label = f"{key.rsplit('/', 1)[-1]} ({box.members} nodes)"
            view_of[node] = box
        else:
            view_of[node] = _view_node(node, scope, update_nodes)
    edges: dict[tuple, ViewEdge] = {}
    drawn = set(view_of)
    for node in nodes:
        dst = view_of[node]
        for t in node.inputs:
            if t.node in drawn and view_of[t.node] is not dst:
                key = (view_of[t.node].id, dst.id, t.name)
                edges.setdefault(key, ViewEdge(view_of[t.node].id, dst.id, str(t.type)))
        for c in node.control_inputs:
            if c in drawn and view_of[c] is not dst:
                edges.setdefault((view_of[c].id, dst.id, "^"), ViewEdge(view_of[c].id, dst.id, "", True))
    unique = list(dict.fromkeys(view_of.values()))
    return GraphView(title or default_title, unique, list(edges.values()))


def printable(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\udcxx`` escape, so that it encodes as UTF-8.

    Python decodes the undecodable bytes of a file name as surrogates (``os.fsdecode``), so node names
    and source locations may hold them; strict UTF-8 cannot write them.

    Example:
        >>> print(printable("tr\\udce9in.py"))
        tr\\udce9in.py
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_depth(depth: int | None) -> None:
    """Refuse a ``depth`` that is not a whole number (``1.5`` failed deep inside, slicing scope paths)
    or is negative (it would collapse the whole graph into one nameless box)."""
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, (int, np.integer))):
        raise TypeError(f"depth must be None or a whole number >= 0, got {depth!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be None or >= 0 (0 collapses every top-level scope), got {depth}")


def _scope_id(path: str, taken: set[str]) -> str:
    """A box id for the collapsed scope ``path`` that no node name (nor other box) in ``taken`` has:
    edges and layouts are keyed by id, so a scope "dense" and a node "dense" must not share one."""
    candidate, k = f"{path}/", 1
    while candidate in taken:  # only when a node was explicitly named "dense/" (or "dense/#1", ...)
        candidate, k = f"{path}/#{k}", k + 1
    taken.add(candidate)
    return candidate


def _view_node(node: Node, scope: tuple[str, ...], update_nodes: set[Node]) -> ViewNode:
    op = node.op.type_name
    attrs = {k: _short(v) for k, v in node.op.attrs().items()}
    body = []
    if op == "FusedOp":
        attrs.pop("body", None)
        # the whole body text: the shortened attribute would cut bodies longer than 400 characters
        text = str(node.op.attrs().get("body", ""))
        body = [line.strip() for line in text.split(";") if line.strip()]
    kind = _kind(node, update_nodes)
    shown = {
        k: v for k, v in attrs.items() if k not in ("var_name", "value", "dtype", "shape") or kind == "op"
    }
    label = op if not shown else f"{op}\n" + ", ".join(f"{k}={v}" for k, v in shown.items())
    if kind == "variable":
        label = f"{attrs.get('var_name', node.name)}\nVariable"
    elif kind == "constant":
        label = f"Constant\n{attrs.get('value', '')}"
    elif kind == "placeholder":
        label = f"{node.name}\nPlaceholder"
    return ViewNode(
        id=node.name,
        label=label,
        kind=kind,
        op=op,
        scope=scope,
        attrs=attrs,
        types=[str(t.type) for t in node.outputs],
        location=f"{os.path.basename(node.location[0])}:{node.location[1]}",
        grad_of=node.grad_of.name if node.grad_of is not None else None,
        body=body,
    )


def _kind(node: Node, update_nodes: set[Node]) -> str:
    op = node.op.type_name
    if op == "Placeholder":
        return "placeholder"
    if op == "ReadVariable":
        return "variable"
    if op == "Constant":
        return "constant"
    if op in _UPDATE_OPS or node in update_nodes:
        return "update"
    if op == "FusedOp":
        return "fused"
    if node.grad_of is not None or node.name.startswith("gradients/") or "/gradients/" in node.name:
        return "gradient"
    return "op"


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, separator=",", precision=4).replace("\n", "")
        return f"{value.dtype}[{','.join(str(d) for d in value.shape)}]"
    if isinstance(value, np.dtype):
        return str(value)
    text = str(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 400 else text[:397] + "..."
