"""Linear algebra: matrix products (``matmul``, ``dot``) and axis permutation (``transpose``).

``MatMul`` follows ``numpy.matmul`` exactly: stacks of matrices with broadcast leading dimensions, and
1-D operands promoted to a row (left) or a column (right) whose dimension is then removed. ``dot`` is a
plain function over ``matmul`` and ``multiply`` for the cases where ``numpy.dot`` agrees with them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, broadcast_shapes, format_shape, normalize_axis
from graphc.ops.core import apply, as_tensor, as_tensors_like
from graphc.ops.elementwise import multiply
from graphc.ops.like import sum_like
from graphc.ops.reduce import reduce_sum
from graphc.ops.shape import expand_dims, squeeze


@dataclass(frozen=True)
class MatMul(Op):
    """a @ b as ``numpy.matmul``: sum_k a[..., i, k] * b[..., k, j], leading dims broadcast.

    A 1-D ``a`` is a row (its ``i`` dimension is removed from the result), a 1-D ``b`` a column (its
    ``j`` dimension is removed). Output dtype: the promoted input dtype; bool is rejected.
    """

    default_name: ClassVar[str] = "matmul"

    def infer(self, a: TensorType, b: TensorType) -> tuple[TensorType]:
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul needs operands of rank >= 1, got shapes {format_shape(a.shape)} and "
                f"{format_shape(b.shape)}; use multiply for scalars"
            )
        if dtypes.is_bool(a.dtype) or dtypes.is_bool(b.dtype):
            raise DTypeError(f"matmul does not take bool operands (got {a} and {b}); cast them first")
        a2 = a.shape if a.ndim >= 2 else (1, *a.shape)
        b2 = b.shape if b.ndim >= 2 else (*b.shape, 1)
        ka, kb = a2[-1], b2[-2]
        if ka is not None and kb is not None and ka != kb:
            raise ShapeError(
                f"inner dimensions differ: a has shape {format_shape(a.shape)} and b has shape "
                f"{format_shape(b.shape)} ({ka} != {kb})"
            )
        try:
            batch = broadcast_shapes(a2[:-2], b2[:-2])
        except ShapeError as e:
            raise ShapeError(
                f"batch dimensions of a {format_shape(a.shape)} and b {format_shape(b.shape)} "
                f"do not broadcast: {e.message}"
            ) from None
        rows = (a2[-2],) if a.ndim >= 2 else ()
        cols = (b2[-1],) if b.ndim >= 2 else ()
        shape = (*batch, *rows, *cols)
        return (TensorType(shape, dtypes.result_type(a.dtype, b.dtype)),)

    def reference(self, a, b):
        return np.asarray(np.matmul(a, b), dtype=dtypes.result_type(a.dtype, b.dtype))

    def vjp(self, node, gy):
        # on the promoted operands (a 1-D a is a row, a 1-D b a column): ga = gy @ b^T, gb = a^T @ gy,
        # summed over the batch dims each operand was broadcast along, then demoted back to 1-D
        a, b = node.inputs
        a2 = a if a.ndim >= 2 else expand_dims(a, 0)
        b2 = b if b.ndim >= 2 else expand_dims(b, 1)
        g = gy if b.ndim >= 2 else expand_dims(gy, -1)
        g = g if a.ndim >= 2 else expand_dims(g, -2)
        # an inner size unknown at build time is checked only when this node runs, and ga = g @ b^T takes
        # b's size: a gradient run without this node gave a (1, 3) a (1, 4) gradient for a (4, 1) b. The
        # transposes of the gradient products wait for this node then.
        checks = [node] if a2.shape[-1] is None or b2.shape[-2] is None else []
        ga = gb = None
        if dtypes.is_float(a.dtype):
            with node.graph.control_dependencies(checks):
                bt = _swap_last(b2)
            ga = _sum_batch(matmul(g, bt), a2, b2)
            ga = ga if a.ndim >= 2 else squeeze(ga, 0)
        if dtypes.is_float(b.dtype):
            with node.graph.control_dependencies(checks):
                at = _swap_last(a2)
            gb = _sum_batch(matmul(at, g), b2, a2)
            gb = gb if b.ndim >= 2 else squeeze(gb, 1)
        return ga, gb


def _swap_last(x: Tensor) -> Tensor:
    return transpose(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


def _sum_batch(g: Tensor, x: Tensor, other: Tensor) -> Tensor:
    """``g``, shaped like the product of ``x`` and ``other`` (both rank >= 2), summed back to ``x``'s
    shape over the batch dims ``x`` lacks or has as 1. Where x's batch dim is unknown and other's may
    be larger, only the run time can tell whether it was broadcast: ``sum_like`` decides then."""
    lead = g.ndim - x.ndim
    size1_axes = []
    for axis, d in enumerate(x.shape[:-2]):
        from_end = x.ndim - axis
        other_d = other.shape[other.ndim - from_end] if other.ndim >= from_end else 1
        if d is None and other_d != 1:
            return sum_like(g, x)
        if d == 1 and g.shape[lead + axis] != 1:
            size1_axes.append(axis)
    if lead:
        g = reduce_sum(g, tuple(range(lead)))
    return reduce_sum(g, tuple(size1_axes), keepdims=True) if size1_axes else g


@dataclass(frozen=True)
class Transpose(Op):
    """y[i_0, ..., i_n] = x permuted: y's axis k is x's axis ``axes[k]`` (as ``numpy.transpose``)."""

    view_of_input = True

    axes: tuple[int, ...]

    def infer(self, x: TensorType) -> tuple[TensorType]:
        if not isinstance(self.axes, tuple):  # as transpose() makes it; an int was a raw TypeError
            raise AxisError(f"Transpose axes must be a tuple of ints, got {self.axes!r}")
        perm = tuple(normalize_axis(a, x.ndim) for a in self.axes)  # rejects non-ints, out of range
        if perm != self.axes or sorted(perm) != list(range(x.ndim)):
            raise AxisError(
                f"axes {self.axes} are not a permutation of range({x.ndim}) for a tensor of shape "
                f"{format_shape(x.shape)}"
            )
        return (TensorType(tuple(x.shape[a] for a in self.axes), x.dtype),)

    def reference(self, x):
        return np.transpose(x, self.axes)

    def vjp(self, node, gy):
        return (transpose(gy, tuple(int(a) for a in np.argsort(self.axes))),)  # the inverse permutation


# --- user functions ------------------------------------------------------------------------------


def matmul(a, b, name: str | None = None) -> Tensor:
    """Matrix product ``a @ b`` with ``numpy.matmul`` semantics (batched, broadcast, 1-D operands).

    Args:
        a: a tensor (or array) of rank >= 1.
        b: a tensor (or array) of rank >= 1; ``a``'s last dimension must equal ``b``'s second-to-last
            (its only one when 1-D).
        name: the node's name.

    Returns:
        The product, of the promoted dtype of ``a`` and ``b``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 8, 3), name="x")
        ...     w = gc.constant(np.ones((3, 5), np.float32))
        ...     y = gc.matmul(x, w)
        >>> y.shape
        (None, 8, 5)
    """
    a, b = as_tensors_like(a, b)
    return apply(MatMul(), [a, b], name)


def transpose(x, axes=None, name: str | None = None) -> Tensor:
    """``x`` with its axes permuted: output axis k is input axis ``axes[k]`` (``None`` reverses them).

    Negative axes count from the end, as in numpy; ``x.T`` is ``transpose(x)``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3, 4), name="x")
        >>> gc.transpose(x, (0, -1, 1)).shape, x.T.shape
        ((None, 4, 3), (4, 3, None))
    """
    x = as_tensor(x)
    if axes is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        # any 1-D sequence, as numpy.transpose takes it: an array of axes (np.argsort's) was one
        # "axis" and refused with "axis must be an int, got array([2, 0, 1])"
        sequence = isinstance(axes, (tuple, list, range)) or (isinstance(axes, np.ndarray) and axes.ndim == 1)
        perm = tuple(axes) if sequence else (axes,)
        with contextlib.suppress(AxisError):  # else left as given: infer raises with the node's name
            perm = tuple(normalize_axis(a, x.ndim) for a in perm)
    return apply(Transpose(perm), [x], name)


def dot(a, b, name: str | None = None) -> Tensor:
    """``numpy.dot`` for scalars (a product), 1-D and 2-D operands, and an N-D ``a`` with a 1-D or 2-D ``b``.

    Those cases are ``multiply`` (a 0-D operand) or ``matmul`` (the rest). An N-D ``b`` (rank >= 3),
    where ``numpy.dot`` pairs every stack of ``a`` with every stack of ``b``, raises
    ``NotImplementedError``: use ``matmul`` for batched products, or reshape to 2-D.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.constant([1.0, 2.0, 3.0])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.dot(v, v))
        array(14., dtype=float32)
    """
    a, b = as_tensors_like(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b, name=name)
    if b.ndim >= 3:
        raise NotImplementedError(
            f"dot with an operand b of rank {b.ndim} (shape {format_shape(b.shape)}) is not supported; "
            "use matmul for batched products, or reshape the operands to 2-D (tensordot style) first"
        )
    return matmul(a, b, name=name)


__all__ = ["dot", "matmul", "transpose"]
