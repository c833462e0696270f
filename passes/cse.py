"""``cse``: common subexpression elimination: nodes with equal ops and equal inputs become one.

Ops are values (equal attributes, equal ops), so the key of a node is (op, inputs, control inputs).
Impure ops (placeholders, variable reads, assignments, random draws) are never merged.
requires: nothing. ensures: no two pure nodes have the same key.
"""

from __future__ import annotations

import numpy as np

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
            key = (node.op, _float_bits(node.op), inputs, control)
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


def _float_bits(op) -> tuple:
    """The op's float attributes spelled bit for bit: ops compare them with ``==``, where -0.0 equals
    0.0, but ``pad(x, constant_values=-0.0)`` is not ``pad(x)``."""
    return tuple(_bits(v) for v in op.attrs().values())


def _bits(value):
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    if isinstance(value, (tuple, list)):
        return tuple(_bits(v) for v in value)
    return None  # compared by the op's own equality
