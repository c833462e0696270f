"""Extracting the program graph the compiler works on: what the fetches and updates need, with every fed
tensor turned into a placeholder, as a new self-contained graph (``inputs``, ``outputs``, ``targets``).

The user's graph is never touched: passes optimize the program graph, and a new program is extracted for
each (fetches, feeds, updates) a session compiles.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.errors import FeedError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.printing import ancestors
from graphc.ops.sources import Placeholder
from graphc.passes.builder import GraphBuilder


def needed_nodes(targets: Sequence[Tensor | Node], stop: set[Tensor] = frozenset()) -> list[Node]:
    """The nodes ``targets`` need (data and control inputs), not looking past ``stop``, in graph order."""
    return ancestors(targets, stop)


def extract_program(
    graph: Graph, outputs: Sequence[Tensor], targets: Sequence[Node], feeds: Sequence[Tensor]
) -> Graph:
    """A new graph computing ``outputs`` and running ``targets`` from placeholders standing for ``feeds``.

    Raises FeedError naming a placeholder that is needed but not fed.
    """
    fed = set(feeds)
    builder = GraphBuilder(graph)
    placeholders = {}
    for t in dict.fromkeys(feeds):
        node = builder.graph.add_node(Placeholder(t.dtype, t.shape), (), t.node.name, t.node.location)
        builder.tensors[t] = placeholders[t] = node.outputs[0]
    for node in needed_nodes([*outputs, *targets], fed):
        if isinstance(node.op, Placeholder):
            # one message for every caller: graphc.function and compile have no feed_dict to add it to
            raise FeedError(
                "placeholder is needed by the fetches but was not fed; add it to feed_dict (to a "
                "graphc.function's inputs, or graphc.compile's feeds)",
                node.where,
            )
        builder.copy(node)
        for t in node.outputs:  # one output of a multi-output node fed, another computed
            if t in fed:
                builder.tensors[t] = placeholders[t]
    program = builder.graph
    program.inputs = tuple(builder.tensors[t] for t in feeds)
    program.outputs = tuple(builder.tensors[t] for t in outputs)
    program.targets = tuple(builder.nodes[n] for n in targets)
    return program
