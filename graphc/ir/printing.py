"""The one text form of the IR, shared by ``print(graph)``, ``graphc.print_graph`` and error messages.

One line per node, in the spirit of a JAX jaxpr::

    dense/matmul:0 = MatMul(x:0, w:0)  : f32[?,128]   # train.py:14
"""

from __future__ import annotations

import os

import numpy as np

from graphc.ir.errors import GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor


def _attr(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            # each float as its dtype's shortest exact repr (the default 8 digits print 1 + 1e-9 as 1.)
            text = np.array2string(value, separator=",", formatter={"float_kind": str})
            return text.replace("\n", "")
        return f"<array {value.dtype}{list(value.shape)}>"
    if isinstance(value, np.dtype):
        return str(value)
    return repr(value)


def format_op(node: Node) -> str:
    attrs = node.op.attrs()
    shown = ", ".join(f"{k}={_attr(v)}" for k, v in attrs.items())
    return f"{node.op.type_name}[{shown}]" if shown else node.op.type_name


def format_node(node: Node) -> str:
    """One line: outputs = Op[attrs](inputs) : types   # file:line."""
    outs = ", ".join(t.name for t in node.outputs) or "_"
    args = ", ".join(t.name for t in node.inputs)
    if node.control_inputs:
        args += (", " if args else "") + "^" + ", ^".join(n.name for n in node.control_inputs)
    types = ", ".join(str(t.type) for t in node.outputs) or "()"
    where = f"{os.path.basename(node.location[0])}:{node.location[1]}"
    return f"{outs} = {format_op(node)}({args})  : {types}   # {where}"


def format_graph(graph: Graph, nodes=None) -> str:
    """The graph (or the listed ``nodes`` of it) as text, one node a line."""
    nodes = graph.nodes if nodes is None else nodes
    lines = [f"graph ({len(nodes)} nodes) {{"]
    lines += ["  " + format_node(n) for n in nodes]
    lines.append("}")
    return "\n".join(lines)


def ancestors(fetches, stop=frozenset()) -> list[Node]:
    """The nodes the given tensors/nodes depend on (data and control), in creation order, not looking
    past the tensors in ``stop`` (fed tensors: their producers are not needed, nor is a control input
    whose every output is fed, unless running it has effects)."""
    stack = [f.node if isinstance(f, Tensor) else f for f in fetches if f not in stop]
    seen: set[Node] = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(t.node for t in n.inputs if t not in stop)
        stack.extend(c for c in n.control_inputs if c.op.stateful or not _all_in(c.outputs, stop))
    return sorted(seen, key=lambda n: n.index)


def _all_in(tensors, stop) -> bool:
    return bool(tensors) and all(t in stop for t in tensors)


def print_graph(x=None, file=None) -> str:
    """Print (and return) the text form of a graph, of what the given tensors depend on, or of the
    optimized program of a compiled executable (``gc.compile(...)``).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     y = gc.exp(x)
        >>> text = gc.print_graph(y)  # doctest: +ELLIPSIS
        graph (2 nodes) {
          x:0 = Placeholder[dtype=float32, shape=(None, 2)]()  : f32[?,2]   # <doctest ...>:...
          exp:0 = Exp(x:0)  : f32[?,2]   # <doctest ...>:...
        }
    """
    from graphc.ir.graph import get_default_graph

    if x is None:
        text = format_graph(get_default_graph())
    elif isinstance(getattr(x, "program", None), Graph):  # a compiled Executable
        text = format_graph(x.program)
    elif isinstance(x, Graph):
        text = format_graph(x)
    else:
        items = list(x) if isinstance(x, (list, tuple)) else [x]
        for item in items:
            if not isinstance(item, (Tensor, Node)):  # ancestors() would fail on a missing .inputs
                raise TypeError(
                    "print_graph takes a graph, a compiled executable, or tensors/ops, "
                    f"got {type(item).__name__} {item!r:.60}"
                )
        graphs = {id(item.graph): item for item in items}
        if len(graphs) > 1:
            a, b = list(graphs.values())[:2]
            raise GraphMismatchError(f"print_graph: {a.name} and {b.name} belong to different graphs")
        nodes = ancestors(items)
        graph = nodes[0].graph if nodes else get_default_graph()
        text = format_graph(graph, nodes)
    print(text, file=file)
    return text
