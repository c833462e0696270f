"""``cse``: common subexpression elimination: nodes with equal ops and equal inputs become one.

Ops are values (equal attributes, equal ops), so the key of a node is (op, inputs, control inputs).
Impure ops (placeholders, variable reads, assignments, random draws) are never merged.
requires: nothing. ensures: no two pure nodes have the same key.
"""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.passes.builder import GraphBuilder


def cse(graph: Graph) -> Graph:
    """Merge pure nodes computing the same op on the same inputs."""
    builder = GraphBuilder(graph)
    seen: dict[tuple, object] = {}
    changed = False
    for node in graph.nodes:
        inputs = tuple(builder.tensors[t] for t in node.inputs)
        control = tuple(builder.nodes[c] for c in node.control_inputs if c in builder.nodes)
        if node.op.pure:
            key = (node.op, inputs, control)
            same = seen.get(key)
            if same is not None:
                builder.replace(node, same.outputs)
                builder.nodes[node] = same
                changed = True
                continue
            seen[key] = builder.copy(node)
        else:
            builder.copy(node)
    return builder.finish() if changed else graph
