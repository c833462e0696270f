"""``fold_constants``: evaluate nodes whose inputs are all constants, with the op's numpy reference.

requires: nothing. ensures: no pure node with only constant inputs remains, except where the result
would be larger than FOLD_LIMIT elements (folding must not bloat the graph) or the op is stateful or
random, or the node (or a constant it reads) has control inputs, which a folded Constant would drop.
Never changes values: the reference is the definition of every op.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph
from graphc.ops.sources import Constant
from graphc.passes.builder import GraphBuilder
from graphc.passes.rewrite import constant_value

FOLD_LIMIT = 1 << 16  # elements: results above this stay computed at run time


def fold_constants(graph: Graph) -> Graph:
    """Replace constant subgraphs by Constant nodes holding their value."""
    builder = GraphBuilder(graph)
    changed = False
    for node in graph.nodes:
        new_inputs = [builder.tensors[t] for t in node.inputs]
        values = [constant_value(t) for t in new_inputs]  # None past a control input
        foldable = (
            node.inputs
            and not node.control_inputs  # a Constant in its place would drop them
            and all(v is not None for v in values)
            and node.op.pure
            and all(_size(t.type.shape) <= FOLD_LIMIT for t in node.outputs)
        )
        if not foldable:
            builder.copy(node)
            continue
        try:
            with np.errstate(all="ignore"):
                result = node.op.reference(*values)
        except Exception:  # noqa: BLE001 - left to run time, where the interpreter names the node
            builder.copy(node)
            continue
        results = (result,) if len(node.outputs) == 1 else tuple(result)
        if len(results) != len(node.outputs) or not all(
            t.type.is_compatible(np.shape(v)) for t, v in zip(node.outputs, results, strict=False)
        ):
            # a result its inferred type does not admit: a Constant of it would change the types the
            # graph was checked with; left to run time, where the interpreter's result check names it
            builder.copy(node)
            continue
        outs = []
        for i, (t, value) in enumerate(zip(node.outputs, results, strict=True)):
            arr = np.array(value, dtype=t.dtype, copy=True)
            arr.setflags(write=False)
            # node's own name is free (node is not copied); a suffixed one may be another node's
            name = node.name if len(node.outputs) == 1 else builder.graph.fresh_name(f"{node.name}_{i}")
            outs.append(builder.graph.add_node(Constant(arr), (), name, node.location).outputs[0])
        builder.replace(node, outs)
        changed = True
    return builder.finish() if changed else graph


def _size(shape) -> float:
    return float("inf") if None in shape else float(np.prod(shape, dtype=np.float64))
