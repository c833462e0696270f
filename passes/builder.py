"""``GraphBuilder``: how a pass makes its output graph: copy nodes from the source graph into a new one,
replace some, and remember which new tensor stands for which old one.

Passes never mutate their input graph; they build a new graph with the builder and hand back either it
or, when nothing changed, the input itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.graph import Graph, Node, Tensor


class GraphBuilder:
    """Builds a new program graph from ``source``, node by node, keeping a map old tensor -> new tensor."""

    def __init__(self, source: Graph):
        self.source = source
        self.graph = Graph()
        self.graph.variables = source.variables
        self.graph.seed = source.seed
        # the nodes a pass adds take no source node's name: that node, copied later, would be renamed,
        # and a random node's draw count is keyed by its name (a renamed one restarts its stream)
        self.graph.reserve_names(n.name for n in source.nodes)
        self.tensors: dict[Tensor, Tensor] = {}
        self.nodes: dict[Node, Node] = {}

    def copy(self, node: Node, inputs: Sequence[Tensor] | None = None, op=None) -> Node:
        """Add ``node`` to the new graph (with its inputs mapped, or ``inputs``; with ``op`` if given)."""
        new_inputs = [self.tensors[t] for t in node.inputs] if inputs is None else list(inputs)
        control = [self.nodes[n] for n in node.control_inputs if n in self.nodes]
        grad_of = self.nodes.get(node.grad_of, node.grad_of) if node.grad_of is not None else None
        new = self.graph.add_node(
            op if op is not None else node.op, new_inputs, node.name, node.location, control, grad_of
        )
        self.nodes[node] = new
        for old, t in zip(node.outputs, new.outputs, strict=True):
            self.tensors[old] = t
        return new

    def replace(self, node: Node, outputs: Sequence[Tensor]) -> None:
        """Make ``outputs`` (tensors of the new graph) stand for ``node``'s outputs."""
        for old, t in zip(node.outputs, outputs, strict=True):
            self.tensors[old] = t

    def finish(self) -> Graph:
        """The new graph, with the source's inputs, outputs and targets mapped into it."""
        g = self.graph
        g.inputs = tuple(self.tensors[t] for t in self.source.inputs)
        g.outputs = tuple(self.tensors[t] for t in self.source.outputs)
        g.targets = tuple(dict.fromkeys(self.nodes[n] for n in self.source.targets if n in self.nodes))
        return g
