"""The graph IR: graphs, nodes, tensors, ops, types, dtypes, errors and the text form."""

from graphc.ir.errors import (
    AxisError,
    DTypeError,
    FeedError,
    GraphcError,
    GraphMismatchError,
    RunError,
    ShapeError,
)
from graphc.ir.graph import (
    Graph,
    Node,
    Tensor,
    control_dependencies,
    get_default_graph,
    name_scope,
    reset_default_graph,
)
from graphc.ir.op import OPS, Op
from graphc.ir.printing import print_graph
from graphc.ir.types import TensorType

__all__ = [
    "OPS",
    "AxisError",
    "DTypeError",
    "FeedError",
    "Graph",
    "GraphMismatchError",
    "GraphcError",
    "Node",
    "Op",
    "RunError",
    "ShapeError",
    "Tensor",
    "TensorType",
    "control_dependencies",
    "get_default_graph",
    "name_scope",
    "print_graph",
    "reset_default_graph",
]
