"""``graph_info``: what a graph holds and roughly what it costs: nodes per op, parameters, and an
estimate of floating-point operations per op type (for ``python -m graphc info``).

FLOPs are estimates of the arithmetic, not of time: a multiply-add counts 2, an elementwise op 1 per
output element, a reduction 1 per input element (a pooling window: kh*kw per output element), a fused
node each of its body ops once per loop element; data movement (reshape, transpose, gather) counts 0.
Unknown (``None``) dimensions are taken as ``batch``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.types import TensorType

MOVES_DATA = {
    "Reshape", "ReshapeLike", "ExpandDims", "Squeeze", "Transpose", "BroadcastTo", "BroadcastLike",
    "Concat", "Stack", "Split", "SplitLike", "GetItem", "Take", "Pad", "Shape", "Size", "Placeholder",
    "Constant", "ReadVariable", "Assign", "Group", "InitVariables", "StopGradient", "Cast",
}  # fmt: skip


@dataclass
class GraphInfo:
    """Counts for one graph: nodes per op type, parameters, FLOPs per op type."""

    nodes: int
    ops: Counter = field(default_factory=Counter)
    parameters: int = 0
    trainable_parameters: int = 0
    flops: Counter = field(default_factory=Counter)
    batch: int = 1

    def __str__(self) -> str:
        lines = [
            f"nodes: {self.nodes}",
            f"parameters: {self.parameters:,} ({self.trainable_parameters:,} trainable)",
            f"FLOPs per run (None dims = {self.batch}): {sum(self.flops.values()):,}",
            "",
            f"{'op':24s} {'nodes':>6s} {'FLOPs':>16s}",
        ]
        for op, count in sorted(self.ops.items(), key=lambda kv: (-self.flops[kv[0]], kv[0])):
            lines.append(f"{op:24s} {count:6d} {self.flops[op]:16,d}")
        return "\n".join(lines)


def graph_info(graph: Graph, batch: int = 1) -> GraphInfo:
    """Count ``graph``'s nodes, parameters and estimated FLOPs (``None`` dims taken as ``batch``).

    Raises:
        TypeError: ``graph`` is not a ``Graph``, or ``batch`` is not a whole number.
        ValueError: ``batch`` is negative.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 784), name="x")
        ...     w = gc.Variable(gc.init.zeros((784, 10)), name="w")
        ...     y = gc.relu(x @ w)
        >>> info = gc.viz.graph_info(g, batch=32)
        >>> info.parameters, info.flops["MatMul"], info.flops["Relu"]
        (7840, 501760, 320)
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph_info counts a Graph's nodes, got {type(graph).__name__}")
    # a fractional batch made fractional FLOPs, which GraphInfo's table then failed to print
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
        raise TypeError(f"batch must be a whole number (the size taken for None dimensions), got {batch!r}")
    if batch < 0:
        raise ValueError(f"batch must be >= 0 (the size taken for None dimensions), got {batch}")
    info = GraphInfo(nodes=len(graph.nodes), batch=batch)
    for node in graph.nodes:
        info.ops[node.op.type_name] += 1
        info.flops[node.op.type_name] += node_flops(node, batch)
    for var in graph.variables.values():
        size = math.prod(var.shape)
        info.parameters += size
        if getattr(var, "trainable", True):
            info.trainable_parameters += size
    return info


def _size(t: TensorType, batch: int) -> int:
    return math.prod(batch if d is None else d for d in t.shape)


def node_flops(node: Node, batch: int = 1, types: Mapping[Tensor, TensorType] | None = None) -> int:
    """The estimated floating-point operations of one run of ``node``; ``types`` (concrete types
    per tensor, as a run plan knows them) replaces the graph's types where it has them."""
    op = node.op.type_name
    if op in MOVES_DATA or not node.outputs:
        return 0

    def typ(t: Tensor) -> TensorType:
        return types[t] if types is not None and t in types else t.type

    out = sum(_size(typ(t), batch) for t in node.outputs)
    if op == "MatMul":
        # the inner dimension: a's last, or where a does not know it, b's (rows; a 1-D b's only one)
        a, b = typ(node.inputs[0]).shape, typ(node.inputs[1]).shape
        k = a[-1] if a[-1] is not None else b[-2] if len(b) >= 2 else b[0]
        return 2 * out * (batch if k is None else k)
    if op in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"):
        w = typ(node.inputs[1] if op != "Conv2DBackpropFilter" else node.inputs[2])
        c_out, c_in, kh, kw = (batch if d is None else d for d in w.shape)
        y = (
            typ(node.outputs[0])
            if op == "Conv2D"
            else typ(node.inputs[0 if op != "Conv2DBackpropFilter" else 1])
        )
        return 2 * _size(y, batch) * c_in * kh * kw
    if op == "FusedOp":  # each body op (a trailing reduction too) runs once per loop element
        shapes = [tuple(batch if d is None else d for d in typ(t).shape) for t in node.inputs]
        loop = math.prod(np.broadcast_shapes(*shapes)) if shapes else 1
        return max(loop, *(_size(typ(t), batch) for t in node.outputs)) * len(node.op.body)
    if op in ("MaxPool2D", "AvgPool2D"):  # a reduction over each window: 1 per element read
        kh, kw = node.op.kernel
        return out * kh * kw
    if node.inputs and out < _size(typ(node.inputs[0]), batch):  # a reduction
        return _size(typ(node.inputs[0]), batch)
    return out
