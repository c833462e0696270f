"""graphc: a static computation-graph compiler for Python.

Declare a graph with placeholders, variables and ops; run it with a ``Session`` or compile a callable
with ``graphc.function``. Everything users need is reached as ``graphc.<name>``.

Example:
    >>> import graphc as gc
    >>> g = gc.Graph()
    >>> with g.as_default():
    ...     x = gc.placeholder("float32", (None, 2), name="x")
    ...     w = gc.Variable([[1.0], [2.0]], name="w")
    ...     y = x @ w
    ...     with gc.Session() as sess:
    ...         sess.run(y, {x: [[1.0, 1.0]]})
    array([[3.]], dtype=float32)
"""

import operator

from graphc import init, testing, viz
from graphc.ir import (
    AxisError,
    DTypeError,
    FeedError,
    Graph,
    GraphcError,
    GraphMismatchError,
    Node,
    Op,
    RunError,
    ShapeError,
    Tensor,
    TensorType,
    control_dependencies,
    get_default_graph,
    name_scope,
    print_graph,
    reset_default_graph,
)
from graphc.ir.dtypes import bool_, float32, float64, int32, int64
from graphc.ops import *  # noqa: F403
from graphc.ops import abs  # noqa: A004
from graphc.passes.autodiff import grad
from graphc.runtime import Executable, Function, Session, compile, function, get_default_session
from graphc.serialize import LoadedGraph, SerializationError, load_graph, save_graph

__version__ = "0.1.0"


def set_random_seed(seed: int | None) -> None:
    """Set the default graph's seed: random ops and initializers become reproducible.

    Random ops given no seed of their own derive one from the graph seed and their creation order,
    as in TF1; the same seeds give the same numbers. ``None`` unsets it.

    Example:
        >>> import graphc as gc
        >>> def two_runs():
        ...     g = gc.Graph()
        ...     with g.as_default():
        ...         gc.set_random_seed(7)
        ...         r = gc.random_uniform((3,))
        ...         with gc.Session() as sess:
        ...             return sess.run(r).tolist(), sess.run(r).tolist()
        >>> first, second = two_runs()
        >>> two_runs() == (first, second), first == second  # reproducible; each run draws anew
        (True, False)
    """
    # operator.index refuses what int() would truncate: 1.7 as seed 1 gives the numbers of 1.2
    get_default_graph().seed = None if seed is None else operator.index(seed)
