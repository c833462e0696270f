"""``prune``: keep only the nodes the program's outputs and targets need.

requires: a program graph (inputs/outputs/targets set). ensures: every node is needed.
"""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.passes.builder import GraphBuilder
from graphc.passes.program import needed_nodes


def prune(graph: Graph) -> Graph:
    """Drop nodes no output or target needs (placeholders of the program's inputs always stay)."""
    keep = set(needed_nodes([*graph.outputs, *graph.targets])) | {t.node for t in graph.inputs}
    if len(keep) == len(graph.nodes):
        return graph
    builder = GraphBuilder(graph)
    for node in graph.nodes:
        if node in keep:
            builder.copy(node)
    return builder.finish()
