"""Neural-network ops that are primitives for numerical stability: ``softmax``, ``log_softmax`` and
the fused loss ``sparse_softmax_cross_entropy``.

They are written as one op rather than ``exp(x) / reduce_sum(exp(x))`` because the stable form (shift by
the maximum along the axis first) cannot overflow, and ``log_softmax`` never takes the log of an
underflowed zero. The cross-entropy op also skips the one-hot product entirely (the ``stabilize`` pass
rewrites ``-sum(log_softmax(z) * one_hot(labels), -1)`` into it). They sit in the define layer
(``graphc/ops``); backends register kernels per op type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError, RunError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, format_shape, normalize_axis
from graphc.ops.core import apply, as_tensor, graph_of
from graphc.ops.elementwise import exp
from graphc.ops.indexing import one_hot
from graphc.ops.reduce import _sum, reduce_sum
from graphc.ops.shape import expand_dims


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x)`` along ``axis``; an infinite or empty max shifts by 0 so no ``inf - inf`` appears."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return x - np.where(np.isfinite(m), m, 0).astype(x.dtype)


def _sum_along(e: np.ndarray, axis: int) -> np.ndarray:
    """``e``'s sum along ``axis`` (kept as size 1), in e's dtype. numpy adds pairwise only along a
    contiguous last axis; along another (a softmax over axis 0, or of a transposed input) its sum is a
    running one, 1e-4 relative off at 10^4 rows of 0.1 in float32 and 1e-2 at 10^6 (float64: 1.3e-11),
    so those float32 sums add in float64 (``dtypes.sum_dtype``) and float64 ones pairwise
    (``reduce._sum``)."""
    axis = axis % e.ndim
    if axis == e.ndim - 1 and e.flags.c_contiguous:
        return np.sum(e, axis=axis, keepdims=True)
    return _sum(e, (axis,), dtypes.sum_dtype(e.dtype, None), True).astype(e.dtype, copy=False)


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
        return e / _sum_along(e, self.axis)

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
        return s - np.log(_sum_along(np.exp(s), self.axis))

    def vjp(self, node, gy):
        return (gy - exp(node.outputs[0]) * reduce_sum(gy, self.axis, keepdims=True),)


@dataclass(frozen=True)
class SoftmaxCrossEntropy(Op):
    """loss[...] = logsumexp(z[..., :]) - z[..., labels[...]] = -log_softmax(z)[..., labels[...]].

    Float logits ``z`` of shape (..., K) with K known at build time, integer ``labels`` of shape (...)
    (the same batch shape: no broadcasting). Output: z's dtype and batch shape. Computed from the
    max-shifted logits as ``log_softmax`` is, so it is finite for any finite logits. A label outside
    [0, K) is a run-time error (where the unfused ``one_hot`` form would silently give a loss of 0).
    """

    def infer(self, z: TensorType, labels: TensorType) -> tuple[TensorType]:
        if not dtypes.is_float(z.dtype):
            raise DTypeError(f"softmax cross-entropy needs float logits, got {z}")
        if not dtypes.is_int(labels.dtype):
            raise DTypeError(f"softmax cross-entropy needs int32 or int64 labels, got {labels}")
        if z.ndim == 0 or z.shape[-1] is None:
            raise ShapeError(f"logits {z} need a last (class) axis whose size is known at build time")
        if labels.ndim != z.ndim - 1:
            raise ShapeError(
                f"labels {labels} must have the logits' batch shape {format_shape(z.shape[:-1])}"
            )
        batch = []
        for a, b in zip(z.shape[:-1], labels.shape, strict=True):
            if a is not None and b is not None and a != b:
                raise ShapeError(
                    f"labels {labels} must have the logits' batch shape {format_shape(z.shape[:-1])}"
                )
            batch.append(a if a is not None else b)
        return (TensorType(tuple(batch), z.dtype),)

    def reference(self, z, labels):
        k = z.shape[-1]
        if labels.shape != z.shape[:-1]:
            raise RunError(f"labels of shape {labels.shape} do not match logits of shape {z.shape}")
        bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise RunError(f"label {int(bad.flat[0])} is out of range [0, {k}) for logits of shape {z.shape}")
        s = _shifted(z, -1)
        picked = np.take_along_axis(s, labels[..., None].astype(np.intp), axis=-1)[..., 0]
        # -(s_l - log sum exp s): the same rounding as -log_softmax(z)[label], its unfused form
        return np.asarray(-(picked - np.log(_sum_along(np.exp(s), -1)[..., 0])), dtype=z.dtype)

    def vjp(self, node, gy):
        z, labels = node.inputs
        # one_hot gives a row of zeros for a label outside [0, K): the gradient alone would silently be
        # softmax(z) there. Ordered after this node, whose reference checks the labels, a gradient run
        # fails as the loss does, even where nothing else needs the loss (a grad_cost, a batch of 1).
        # The order is put on the softmax, which reads what this node reads and is not fused: on the
        # one_hot it moved that node next to the softmax, and the CPU compiled the two as one more
        # segment (~1.4 s of cold compile in the MLP and CNN training steps)
        hot = one_hot(labels, z.shape[-1], dtype=z.dtype)
        with node.graph.control_dependencies([node]):
            p = softmax(z)
        return ((p - hot) * expand_dims(gy, -1), None)


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


def sparse_softmax_cross_entropy(logits, labels, name: str | None = None) -> Tensor:
    """The softmax cross-entropy of ``logits`` against integer class ``labels``, one loss per example:
    ``-log_softmax(logits)[..., label]``, computed stably (TF's
    ``sparse_softmax_cross_entropy_with_logits``).

    Args:
        logits: a float tensor of shape (..., K); K must be known at build time.
        labels: an int32 or int64 tensor of shape (...), each in [0, K).
        name: the node name.

    Returns:
        A tensor of shape (...) and the logits' dtype. Its gradient with respect to the logits is
        ``softmax(logits) - one_hot(labels)`` (times the incoming gradient); labels get none.

    Raises:
        ShapeError: the labels' shape is not the logits' batch shape, or K is unknown.
        DTypeError: the logits are not float or the labels not integer.
        RunError: (when the graph runs) a label outside [0, K).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     z = gc.constant([[0.0, 0.0], [1e4, 0.0]])
        ...     loss = gc.sparse_softmax_cross_entropy(z, gc.constant([1, 1]))
        ...     with gc.Session() as sess:
        ...         sess.run(loss)
        array([6.931472e-01, 1.000000e+04], dtype=float32)
    """
    graph = graph_of(logits, labels)
    inputs = [as_tensor(logits, graph=graph), as_tensor(labels, graph=graph)]
    return apply(SoftmaxCrossEntropy(), inputs, name)


#: TF's name for the same loss
sparse_softmax_cross_entropy_with_logits = sparse_softmax_cross_entropy

__all__ = [
    "log_softmax",
    "softmax",
    "sparse_softmax_cross_entropy",
    "sparse_softmax_cross_entropy_with_logits",
]
