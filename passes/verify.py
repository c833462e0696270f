"""``verify``: the invariants every pass must keep, checked after each pass in debug mode.

Types re-inferred from the inputs equal the stored ones; every input is produced earlier in the same
graph (so there is no dangling input and no cycle); names are unique; the program's inputs, outputs and
targets belong to the graph.
"""

from __future__ import annotations

from graphc.ir.errors import GraphcError
from graphc.ir.graph import Graph


class VerifyError(GraphcError, AssertionError):
    """A pass broke an invariant of the graph."""


def verify(graph: Graph) -> None:
    """Raise ``VerifyError`` naming the first node that breaks an invariant."""
    position = {node: i for i, node in enumerate(graph.nodes)}
    names: set[str] = set()
    for i, node in enumerate(graph.nodes):
        if node.graph is not graph:
            raise VerifyError("belongs to another graph", node.where)
        if node.name in names:
            raise VerifyError("duplicate node name", node.where)
        names.add(node.name)
        for t in node.inputs:
            if position.get(t.node, i) >= i:
                raise VerifyError(f"input {t.name} is not produced earlier in this graph", node.where)
        for c in node.control_inputs:
            if position.get(c, i) >= i:
                raise VerifyError(f"control input {c.name} is not earlier in this graph", node.where)
        try:
            types = node.op.infer(*(t.type for t in node.inputs))
        except Exception as e:  # noqa: BLE001 - a broken pass's node may fail any way: name it and the pass
            # a rule refusing its inputs (ShapeError without context, a TypeError for a wrong count)
            # is the broken invariant itself, not the user's error
            message = e.message if isinstance(e, GraphcError) else str(e)
            raise VerifyError(
                f"its types cannot be re-inferred: {type(e).__name__}: {message}", node.where
            ) from e
        if tuple(types) != tuple(t.type for t in node.outputs):
            got = ", ".join(str(t) for t in types)
            raise VerifyError(f"stored types differ from re-inferred ({got})", node.where)
    for t in (*graph.inputs, *graph.outputs):
        if t.node not in position:
            raise VerifyError(f"program tensor {t.name} is not in the graph")
    for n in graph.targets:
        if n not in position:
            raise VerifyError(f"program target {n.name} is not in the graph")
