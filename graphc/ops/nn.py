"""Neural-network ops that are primitives for numerical stability: ``softmax`` and ``log_softmax``.

Both are written as one op rather than ``exp(x) / reduce_sum(exp(x))`` because the stable form (shift by
the maximum along the axis first) cannot overflow, and ``log_softmax`` never takes the log of an
underflowed zero. They sit in the define layer (``graphc/ops``); backends register kernels per op type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, normalize_axis
from graphc.ops.core import apply, as_tensor
from graphc.ops.elementwise import exp
from graphc.ops.reduce import reduce_sum


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x)`` along ``axis``; an infinite or empty max shifts by 0 so no ``inf - inf`` appears."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return x - np.where(np.isfinite(m), m, 0).astype(x.dtype)


class _AlongAxis(Op):
    """Base of ops normalizing along one axis: float output, shape unchanged."""

    abstract = True

    def infer(self, x: TensorType) -> tuple[TensorType]:
        if dtypes.is_bool(x.dtype):
            raise DTypeError(f"{self.type_name} does not take bool inputs (got {x}); cast them first")
        normalize_axis(self.axis, x.ndim)
        return (TensorType(x.shape, dtypes.float_result(x.dtype)),)


@dataclass(frozen=True)
class Softmax(_AlongAxis):
    """softmax(x)_j = exp(x_j - max x) / sum_k exp(x_k - max x) along ``axis``.

    Float output (integer inputs give float32). Subtracting the maximum first keeps every exponent
    <= 0, so large inputs (1e4) cannot overflow.
    """

    axis: int = -1

    def reference(self, x):
        e = np.exp(_shifted(x.astype(dtypes.float_result(x.dtype)), self.axis))
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def vjp(self, node, gy):
        s = node.outputs[0]
        return (s * (gy - reduce_sum(gy * s, self.axis, keepdims=True)),)


@dataclass(frozen=True)
class LogSoftmax(_AlongAxis):
    """log_softmax(x)_j = (x_j - max x) - log(sum_k exp(x_k - max x)) along ``axis``.

    Float output (integer inputs give float32). Exact for inputs far below the maximum, where
    ``log(softmax(x))`` would give ``log(0) = -inf``.
    """

    axis: int = -1

    def reference(self, x):
        s = _shifted(x.astype(dtypes.float_result(x.dtype)), self.axis)
        return s - np.log(np.sum(np.exp(s), axis=self.axis, keepdims=True))

    def vjp(self, node, gy):
        return (gy - exp(node.outputs[0]) * reduce_sum(gy, self.axis, keepdims=True),)


def _axis(axis, ndim: int):
    """``axis`` made non-negative when valid; an invalid one is kept so ``infer`` reports it with the
    node's name and the user's line."""
    try:
        return normalize_axis(axis, ndim)
    except AxisError:
        return axis


def softmax(x, axis: int = -1, name: str | None = None) -> Tensor:
    """The softmax of ``x`` along ``axis``: non-negative values summing to 1 along that axis.

    Args:
        x: a float or integer tensor (integers give float32) of rank >= 1.
        axis: the axis to normalize along (negative counts from the end).
        name: the node name.

    Returns:
        A tensor of ``x``'s shape.

    Raises:
        AxisError: ``axis`` is out of range for ``x``'s rank.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.softmax(gc.constant([[0.0, 0.0], [1e4, 0.0]]))
        ...     with gc.Session() as sess:
        ...         sess.run(y)
        array([[0.5, 0.5],
               [1. , 0. ]], dtype=float32)
    """
    x = as_tensor(x)
    return apply(Softmax(_axis(axis, x.ndim)), [x], name)


def log_softmax(x, axis: int = -1, name: str | None = None) -> Tensor:
    """The log of the softmax of ``x`` along ``axis``, computed stably (no ``log(0)``).

    Args:
        x: a float or integer tensor (integers give float32) of rank >= 1.
        axis: the axis to normalize along (negative counts from the end).
        name: the node name.

    Returns:
        A tensor of ``x``'s shape.

    Raises:
        AxisError: ``axis`` is out of range for ``x``'s rank.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.log_softmax(gc.constant([0.0, -1e4]))
        ...     with gc.Session() as sess:
        ...         sess.run(y)
        array([     0., -10000.], dtype=float32)
    """
    x = as_tensor(x)
    return apply(LogSoftmax(_axis(axis, x.ndim)), [x], name)


__all__ = ["log_softmax", "softmax"]
