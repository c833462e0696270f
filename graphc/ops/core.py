"""Helpers every op family uses to build nodes: converting user values to tensors, picking the graph,
and applying an op.

User functions (``graphc.exp``, ``graphc.matmul``...) live next to their op classes and call
``apply(op, inputs)``; Python scalars and numpy arrays become ``Constant`` nodes here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir import dtypes
from graphc.ir.graph import Graph, Node, Tensor, get_default_graph
from graphc.ir.op import Op


def graph_of(*values) -> Graph:
    """The graph of the first tensor or op (node) among ``values`` (nested lists searched), else the
    default graph: ``group(init, train_op)`` of ops alone belongs to their graph too."""
    for v in values:
        if isinstance(v, (Tensor, Node)):
            return v.graph
        if isinstance(v, (list, tuple)):
            for item in v:
                if isinstance(item, (Tensor, Node)):
                    return item.graph
    return get_default_graph()


def as_tensor(value, dtype=None, graph: Graph | None = None, name: str | None = None) -> Tensor:
    """``value`` as a tensor: tensors pass through (checked against ``dtype``), anything else becomes a
    constant of ``dtype`` (or of its natural dtype: Python floats are float32).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     t = gc.as_tensor([1, 2])
        ...     t.dtype, gc.as_tensor(2.5).dtype, gc.as_tensor(3, dtype="float64").dtype, gc.as_tensor(t) is t
        (dtype('int64'), dtype('float32'), dtype('float64'), True)
    """
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtypes.as_dtype(dtype):
            from graphc.ir.errors import DTypeError

            raise DTypeError(f"expected a {np.dtype(dtype)} tensor, got {value.name} of {value.type}")
        return value
    from graphc.ops.sources import constant

    return constant(value, dtype=dtype, name=name, graph=graph)


def as_tensors_like(*values, graph: Graph | None = None) -> list[Tensor]:
    """Convert values for an elementwise op: Python scalars are weak and take a tensor neighbour's dtype.
    Constants go to ``graph`` (default: the graph of the values' tensors)."""
    graph = graph if graph is not None else graph_of(*values)
    tensors = [v for v in values if isinstance(v, Tensor)]
    like = dtypes.result_type(*(t.dtype for t in tensors)) if tensors else None
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, (bool, int, float, np.number, np.bool_)) and np.ndim(v) == 0:
            dtype = dtypes.scalar_dtype(v.item() if isinstance(v, np.generic) else v, like)
            if isinstance(v, np.generic) and like is None:
                dtype = dtypes.as_dtype(v.dtype)
            out.append(as_tensor(v, dtype=dtype, graph=graph))
        else:
            out.append(as_tensor(v, graph=graph))
    return out


def apply(op: Op, inputs: Sequence = (), name: str | None = None):
    """Apply ``op`` to ``inputs`` in their graph; returns the single output, or a tuple of outputs.

    Example:
        >>> import graphc as gc
        >>> from graphc.ops.elementwise import Add
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.apply(Add(), [gc.constant([1.0, 2.0]), 3.0], name="y")  # 3.0 becomes a constant
        ...     with gc.Session() as sess:
        ...         y.name, sess.run(y).tolist()
        ('y:0', [4.0, 5.0])
    """
    graph = graph_of(*inputs)
    inputs = [as_tensor(v, graph=graph) for v in inputs]
    node = graph.apply(op, inputs, name)
    return node.outputs[0] if len(node.outputs) == 1 else node.outputs


def apply_node(op: Op, inputs: Sequence = (), name: str | None = None, graph: Graph | None = None):
    """Apply ``op`` and return the node (for ops with zero or several outputs)."""
    graph = graph or graph_of(*inputs)
    inputs = [as_tensor(v, graph=graph) for v in inputs]
    return graph.apply(op, inputs, name)
