"""Reductions: sum, mean, max, min, prod and logsumexp over axes, and argmax/argmin along one axis.

Every reduction takes ``axis`` (an int, a tuple of ints, or ``None`` for all axes) and ``keepdims`` as
numpy does. The user functions normalize the axes (non-negative, sorted) before building the op, so
``axis=-1`` and ``axis=ndim - 1`` give equal ops. Reduced dimensions may be unknown (``None``); the
dimensions that are not reduced keep what they were.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, normalize_axes, normalize_axis
from graphc.ops.core import apply, as_tensor
from graphc.ops.elementwise import cast, equal, exp, floor_divide
from graphc.ops.like import broadcast_like
from graphc.ops.shape import expand_dims, size


def _sum(x: np.ndarray, axes: tuple[int, ...], dtype, keepdims: bool) -> np.ndarray:
    """``np.sum(x, axes, dtype=dtype, keepdims=keepdims)``, added pairwise along the reduced axes where
    x is float64. numpy adds pairwise only along the innermost run of memory; over leading axes its
    sum is a running one: float64 column sums over 10^6 rows of 0.1 were 1.3e-11 relative off (the
    CPU loops: 1.4e-13). Such x is copied with the reduced axes last. float32 values add in float64
    (``dtypes.sum_dtype``) and integers exactly: a running sum of them is accurate enough."""
    if x.dtype != dtypes.float64 or (
        axes == tuple(range(x.ndim - len(axes), x.ndim)) and x.flags.c_contiguous
    ):
        return np.sum(x, axis=axes, dtype=dtype, keepdims=keepdims)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.ascontiguousarray(x.transpose(*kept, *axes))
    total = np.sum(
        moved.reshape(*moved.shape[: len(kept)], math.prod(x.shape[a] for a in axes)), axis=-1, dtype=dtype
    )
    if keepdims:
        total = total.reshape(tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return total


class Reduction(Op):
    """Base of the reductions: drops the reduced axes (or keeps them as 1 with ``keepdims``)."""

    abstract = True
    keepdims: bool

    def reduced_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes this op reduces on a tensor of rank ``ndim``; raises ``AxisError`` if invalid."""
        raise NotImplementedError

    def out_dtype(self, dtype: np.dtype) -> np.dtype:
        return dtype

    def keep_reduced_dims(self, g: Tensor, ndim: int) -> Tensor:
        """``g``, shaped like this reduction's output on a rank-``ndim`` input, with the reduced axes
        present as size 1, so that it broadcasts against the input. Reduced axes that lead (0, 1, ...)
        are left out: numpy's broadcasting adds them on the left (a full reduction's gradient needs no
        expand_dims node, one call fewer per step)."""
        if self.keepdims:
            return g
        axes = self.reduced_axes(ndim)
        lead = next((i for i, a in enumerate(axes) if a != i), len(axes))
        for axis in axes[lead:]:  # ascending: each lands at its final position
            g = expand_dims(g, axis - lead)
        return g

    def infer(self, x: TensorType) -> tuple[TensorType]:
        if not isinstance(self.keepdims, bool):
            # the user functions pass a bool; an op from ``apply`` or a loaded file may hold anything, and
            # the CPU kernels kept the axes for a truthy keepdims='no' where numpy's reference refused it
            raise ShapeError(f"{self.type_name} keepdims must be True or False, got {self.keepdims!r}")
        axes = self.reduced_axes(x.ndim)
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if self.keepdims or i not in axes)
        return (TensorType(shape, self.out_dtype(x.dtype)),)


@dataclass(frozen=True)
class Reduce(Reduction):
    """Base of the reductions over a set of axes (``axes`` sorted, non-negative, unique)."""

    abstract = True
    axes: tuple[int, ...]
    keepdims: bool = False

    def reduced_axes(self, ndim: int) -> tuple[int, ...]:
        axes = normalize_axes(self.axes, ndim)
        if axes != self.axes:
            # kernels and CSE rely on one spelling per reduction; the user functions normalize
            raise AxisError(f"{self.type_name} axes must be sorted and non-negative: got {self.axes}")
        return axes


@dataclass(frozen=True)
class Sum(Reduce):
    """sum of x over ``axes``. Output dtype: x's (bool gives int64, as numpy)."""

    def out_dtype(self, dtype):
        return dtypes.DEFAULT_INT if dtypes.is_bool(dtype) else dtype

    def reference(self, x):
        out = self.out_dtype(x.dtype)
        total = _sum(x, self.axes, dtypes.sum_dtype(x.dtype, out), self.keepdims)
        return np.asarray(total, dtype=out)

    def vjp(self, node, gy):
        x = node.inputs[0]
        return (broadcast_like(self.keep_reduced_dims(gy, x.ndim), x),)


@dataclass(frozen=True)
class Prod(Reduce):
    """product of x over ``axes`` (1 over an empty axis). Output dtype: x's (bool gives int64)."""

    def out_dtype(self, dtype):
        return dtypes.DEFAULT_INT if dtypes.is_bool(dtype) else dtype

    def reference(self, x):
        out = self.out_dtype(x.dtype)
        # float32 factors multiply in float64, as sums add (dtypes.sum_dtype) and the CPU loops do:
        # numpy's float32 product overflows midway ([1e30, 1e30, 1e-30, 1e-30] gives inf, not 1) and
        # drifts (3e-4 after 10^5 factors near 1)
        total = np.prod(x, axis=self.axes, dtype=dtypes.sum_dtype(x.dtype, out), keepdims=self.keepdims)
        return np.asarray(total, dtype=out)

    def vjp(self, node, gy):
        from graphc.ops.reduce_grad import prod_others  # it builds on this module's reductions

        # the product of the other elements, not out / x: exact where x has zeros
        x = node.inputs[0]
        return (self.keep_reduced_dims(gy, x.ndim) * prod_others(x, self.axes),)


@dataclass(frozen=True)
class Mean(Reduce):
    """sum(x) / n over ``axes``, n the number of reduced elements (NaN when n = 0). Output: float."""

    def out_dtype(self, dtype):
        return dtypes.float_result(dtype)

    def reference(self, x):
        out = self.out_dtype(x.dtype)
        # every dtype (integers, float32, float64) is summed in float64, then rounded once
        count = math.prod(x.shape[a] for a in self.axes)
        total = _sum(x, self.axes, dtypes.float64, self.keepdims)
        with np.errstate(invalid="ignore"):  # 0 / 0 over an empty axis is NaN, as numpy's mean
            return np.asarray(total / count, dtype=out)

    def vjp(self, node, gy):
        x, y = node.inputs[0], node.outputs[0]
        dims = [x.shape[a] for a in self.axes]
        # a dim unknown at build time: counted when the graph runs (exact in int64; 0 only when x is empty)
        if None not in dims:
            count = float(math.prod(dims))
        else:  # y's static size when known (not 0): one size node fewer
            n = math.prod(y.shape) if None not in y.shape else 0
            count = cast(floor_divide(size(x), n or size(y)) if n != 1 else size(x), gy.dtype)
        return (broadcast_like(self.keep_reduced_dims(gy / count, x.ndim), x),)


@dataclass(frozen=True)
class Max(Reduce):
    """max of x over ``axes`` (NaN if any is NaN; an empty axis is a run-time error). Dtype: x's."""

    def reference(self, x):
        return np.asarray(np.max(x, axis=self.axes, keepdims=self.keepdims))

    def vjp(self, node, gy):
        return (_extremum_grad(self, node, gy),)


@dataclass(frozen=True)
class Min(Reduce):
    """min of x over ``axes`` (NaN if any is NaN; an empty axis is a run-time error). Dtype: x's."""

    def reference(self, x):
        return np.asarray(np.min(x, axis=self.axes, keepdims=self.keepdims))

    def vjp(self, node, gy):
        return (_extremum_grad(self, node, gy),)


def _extremum_grad(op: Reduce, node, gy: Tensor) -> Tensor:
    """The gradient of max or min: it goes to the elements equal to the result, split evenly among
    ties (as PyTorch's amax/amin and TF's reduce_max). A NaN result gives NaN, as PyTorch."""
    x, y = node.inputs[0], node.outputs[0]
    hit = cast(equal(x, op.keep_reduced_dims(y, x.ndim)), gy.dtype)
    count = reduce_sum(hit, op.axes, keepdims=True)
    return hit * (op.keep_reduced_dims(gy, x.ndim) / count)


@dataclass(frozen=True)
class LogSumExp(Reduce):
    """log(sum(exp(x))) over ``axes`` = m + log(sum(exp(x - m))), m = max x. Output: float.

    All -inf (or an empty axis) gives -inf, not NaN; +inf gives +inf.
    """

    default_name: ClassVar[str] = "logsumexp"

    def out_dtype(self, dtype):
        return dtypes.float_result(dtype)

    def reference(self, x):
        x = x.astype(self.out_dtype(x.dtype))
        m = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        # an infinite max would give inf - inf = NaN; shifting by 0 there is exact anyway
        m = np.where(np.isfinite(m), m, np.zeros((), x.dtype))
        with np.errstate(divide="ignore"):  # log(0) = -inf when every term is exp(-inf)
            acc = dtypes.sum_dtype(x.dtype, None)
            total = _sum(np.exp(x - m), self.axes, acc, True)
            out = np.log(total).astype(x.dtype) + m
        if not self.keepdims:
            out = np.squeeze(out, axis=self.axes)
        return np.asarray(out, dtype=x.dtype)

    def vjp(self, node, gy):
        # d/dx = exp(x - out), the softmax over the axes, divided by its own sum: out is rounded to x's
        # dtype, and exp(x - out) carried that rounding as a factor common to the group (each of the
        # float32 [1000, 1000] got 0.49998, of [1e7, 1e7] 0.37, where the softmax is 0.5)
        x, y = node.inputs[0], node.outputs[0]
        p = exp(x - self.keep_reduced_dims(y, x.ndim))
        return (self.keep_reduced_dims(gy, x.ndim) * (p / reduce_sum(p, self.axes, keepdims=True)),)


@dataclass(frozen=True)
class ArgReduce(Reduction):
    """Base of argmax/argmin: the index along ``axis`` (``None``: into the flattened tensor)."""

    abstract = True
    axis: int | None = None
    keepdims: bool = False

    def reduced_axes(self, ndim: int) -> tuple[int, ...]:
        if self.axis is None:
            return tuple(range(ndim))
        axis = normalize_axis(self.axis, ndim)
        if axis != self.axis:
            raise AxisError(f"{self.type_name} axis must be non-negative: got {self.axis}")
        return (axis,)

    def out_dtype(self, dtype):
        return dtypes.int64

    vjp = not_differentiable("an index: integer output, piecewise constant in x")


@dataclass(frozen=True)
class ArgMax(ArgReduce):
    """index of the first maximum of x along ``axis`` (of the first NaN if any). Output: int64."""

    default_name: ClassVar[str] = "argmax"

    def reference(self, x):
        return np.asarray(np.argmax(x, axis=self.axis, keepdims=self.keepdims), dtype=np.int64)


@dataclass(frozen=True)
class ArgMin(ArgReduce):
    """index of the first minimum of x along ``axis`` (of the first NaN if any). Output: int64."""

    default_name: ClassVar[str] = "argmin"

    def reference(self, x):
        return np.asarray(np.argmin(x, axis=self.axis, keepdims=self.keepdims), dtype=np.int64)


# --- user functions ------------------------------------------------------------------------------


def _axes_attr(axis, ndim: int) -> tuple:
    """``axis`` as a ``Reduce.axes`` attribute: normalized when valid, else as given, so that the op's
    ``infer`` raises the error with the node's name and the user's line."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    try:
        return normalize_axes(axes, ndim)
    except AxisError:
        return axes


def _keepdims(value):
    """``keepdims`` as numpy reads it: a bool, or an integer (1 keeps the axes). Anything else (``'no'``,
    which ``bool()`` made True, or ``None``) is left for the op to refuse, naming the node."""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return bool(value)
    return value


def _reduce(cls: type[Reduce], x, axis, keepdims: bool, name: str | None) -> Tensor:
    x = as_tensor(x)
    return apply(cls(_axes_attr(axis, x.ndim), _keepdims(keepdims)), [x], name)


def _arg_reduce(cls: type[ArgReduce], x, axis, keepdims: bool, name: str | None) -> Tensor:
    x = as_tensor(x)
    if axis is not None:
        with contextlib.suppress(AxisError):  # else left as given: infer raises with the node's name
            axis = normalize_axis(axis, x.ndim)
    return apply(cls(axis, _keepdims(keepdims)), [x], name)


def reduce_sum(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Sum of ``x`` over ``axis`` (an int, a tuple, or ``None`` for all axes), as ``numpy.sum``.

    Integer tensors keep their dtype; bool tensors give int64.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([[1.0, 2.0], [3.0, 4.0]])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.reduce_sum(x, axis=0))
        array([4., 6.], dtype=float32)
    """
    return _reduce(Sum, x, axis, keepdims, name)


def reduce_mean(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Mean of ``x`` over ``axis``, as ``numpy.mean``: float (integers give float32), NaN if empty.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([[1, 2], [3, 5]])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.reduce_mean(x, axis=-1, keepdims=True))
        array([[1.5],
               [4. ]], dtype=float32)
    """
    return _reduce(Mean, x, axis, keepdims, name)


def reduce_max(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Maximum of ``x`` over ``axis``, as ``numpy.max`` (an empty axis is a run-time error).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3), name="x")
        ...     y = gc.reduce_max(x, axis=1)
        >>> y.shape
        (None,)
    """
    return _reduce(Max, x, axis, keepdims, name)


def reduce_min(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Minimum of ``x`` over ``axis``, as ``numpy.min`` (an empty axis is a run-time error).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("int32", (2, None, 4), name="x")
        ...     y = gc.reduce_min(x, axis=(0, 2), keepdims=True)
        >>> y.shape, y.dtype
        ((1, None, 1), dtype('int32'))
    """
    return _reduce(Min, x, axis, keepdims, name)


def reduce_prod(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Product of ``x`` over ``axis``, as ``numpy.prod`` (1 over an empty axis).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([[1, 2], [3, 4]])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.reduce_prod(x))
        array(24)
    """
    return _reduce(Prod, x, axis, keepdims, name)


def reduce_logsumexp(x, axis=None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow (as ``scipy.special.logsumexp``).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([1000.0, 1000.0])
        ...     with gc.Session() as sess:
        ...         round(float(sess.run(gc.reduce_logsumexp(x))), 3)
        1000.693
    """
    return _reduce(LogSumExp, x, axis, keepdims, name)


def argmax(x, axis: int | None = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Index (int64) of the first maximum along ``axis``; ``None`` indexes the flattened tensor.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.argmax(x, axis=1))
        array([1, 0])
    """
    return _arg_reduce(ArgMax, x, axis, keepdims, name)


def argmin(x, axis: int | None = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Index (int64) of the first minimum along ``axis``; ``None`` indexes the flattened tensor.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.constant([[1.0, 5.0], [-7.0, 0.0]])
        ...     with gc.Session() as sess:
        ...         sess.run(gc.argmin(x))
        array(2)
    """
    return _arg_reduce(ArgMin, x, axis, keepdims, name)


# numpy's names for the same functions (they shadow the builtins only inside graphc's namespaces)
sum = reduce_sum  # noqa: A001
mean = reduce_mean
max = reduce_max  # noqa: A001
min = reduce_min  # noqa: A001
prod = reduce_prod
logsumexp = reduce_logsumexp

__all__ = [
    "argmax",
    "argmin",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "sum",
]
