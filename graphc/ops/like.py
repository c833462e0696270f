"""Ops whose output shape is another tensor's run-time shape, and ``stop_gradient``.

Gradients need "sum this back to x's shape" and "broadcast this to x's shape" when x has dimensions
known only at run time; these ops take the shape from their second input (``like``), whose values are
never read. They are each other's adjoints, so gradients of gradients stay graphs. ``unbroadcast`` picks
the cheapest correct form: nothing, a static ``reduce_sum``, or ``SumLike`` when only the run time can
tell whether a dimension was broadcast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, broadcast_shapes, format_shape
from graphc.ops.core import apply, as_tensor


@dataclass(frozen=True)
class BroadcastLike(Op):
    """x broadcast (numpy rules) to the run-time shape of ``like``; ``like``'s values are not read."""

    view_of_input = True

    def infer(self, x: TensorType, like: TensorType):
        if x.ndim > like.ndim:
            raise ShapeError(f"cannot broadcast {x} to the shape of {like}: rank is larger")
        return (TensorType(broadcast_shapes(x.shape, like.shape), x.dtype),)

    def reference(self, x, like):
        return np.broadcast_to(x, like.shape)

    def vjp(self, node, gy):
        x = node.inputs[0]
        return sum_like(gy, x), None


@dataclass(frozen=True)
class SumLike(Op):
    """g summed down to the run-time shape of ``like`` (the adjoint of ``BroadcastLike``): over g's
    leading axes, and over each axis where ``like`` has size 1 and g does not."""

    def infer(self, g: TensorType, like: TensorType):
        if g.ndim < like.ndim:
            raise ShapeError(f"cannot sum {g} down to the shape of {like}: rank is smaller")
        return (TensorType(like.shape, g.dtype),)

    def reference(self, g, like):
        from graphc.ops.reduce import _sum  # reduce builds on this module's ops

        lead = g.ndim - like.ndim
        acc = dtypes.sum_dtype(g.dtype, None)  # None: numpy's own
        # _sum: float64 pairwise over leading axes too (numpy's column sums are running sums)
        out = _sum(g, tuple(range(lead)), acc, False) if lead else g
        axes = tuple(i for i, d in enumerate(like.shape) if d == 1 and out.shape[i] != 1)
        out = _sum(out, axes, acc, True) if axes else out
        if out.shape != like.shape:
            raise ShapeError(f"cannot sum {format_shape(g.shape)} down to {format_shape(like.shape)}")
        out = np.asarray(out, dtype=g.dtype)
        # nothing summed: a copy, never the input object itself (a session hands an array that owns
        # its memory out as it is, and a fed one would be the user's own); not a view either, which
        # only ``view_of_input`` ops may return (memory planning keeps their input alive)
        return out.copy() if out is g else out

    def vjp(self, node, gy):
        g = node.inputs[0]
        return broadcast_like(gy, g), None


@dataclass(frozen=True)
class ReshapeLike(Op):
    """x reshaped to the run-time shape of ``like`` (same number of elements)."""

    view_of_input = True

    def infer(self, x: TensorType, like: TensorType):
        if None not in x.shape and None not in like.shape and math.prod(x.shape) != math.prod(like.shape):
            raise ShapeError(f"cannot reshape {x} to the shape of {like}: sizes differ")
        return (TensorType(like.shape, x.dtype),)

    def reference(self, x, like):
        return x.reshape(like.shape)

    def vjp(self, node, gy):
        return reshape_like(gy, node.inputs[0]), None


@dataclass(frozen=True)
class StopGradient(Op):
    """x, unchanged; no gradient flows through it."""

    view_of_input = True

    def infer(self, x: TensorType):
        return (x,)

    def reference(self, x):
        return x.view()  # a view, as the other view ops give: never the input object itself

    vjp = not_differentiable("stop_gradient blocks gradients by definition")


def broadcast_like(x, like: Tensor, name: str | None = None) -> Tensor:
    """``x`` broadcast to the run-time shape of ``like`` (its values are not read).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     with gc.Session() as sess:
        ...         sess.run(gc.broadcast_like(1.0, x), {x: [[5.0, 6.0]]})
        array([[1., 1.]], dtype=float32)
    """
    x = as_tensor(x, dtype=like.dtype if not isinstance(x, Tensor) else None, graph=like.graph)
    if x.shape == like.shape and None not in like.shape:
        return x
    return apply(BroadcastLike(), [x, like], name)


def sum_like(g: Tensor, like: Tensor, name: str | None = None) -> Tensor:
    """``g`` summed down to the run-time shape of ``like`` (the adjoint of ``broadcast_like``).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3), name="x")
        ...     b = gc.placeholder("float32", (None, 1), name="b")
        ...     s = gc.sum_like(x, b)  # whether b's first axis was broadcast, only the run tells
        ...     with gc.Session() as sess:
        ...         ones = [[1.0, 1.0, 1.0]] * 2
        ...         [sess.run(s, {x: ones, b: fed}).tolist() for fed in ([[0.0], [0.0]], [[0.0]])]
        [[[3.0], [3.0]], [[6.0]]]
    """
    if g.shape == like.shape and None not in like.shape:
        return g
    return apply(SumLike(), [g, like], name)


def reshape_like(x: Tensor, like: Tensor, name: str | None = None) -> Tensor:
    """``x`` reshaped to the run-time shape of ``like``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3), name="x")
        ...     y = gc.reshape_like(gc.constant([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), x)
        >>> y.shape
        (None, 3)
        >>> with gc.Session(g) as sess:
        ...     sess.run(y, {x: [[0.0, 0.0, 0.0]] * 2})  # x's values are not read
        array([[0., 1., 2.],
               [3., 4., 5.]], dtype=float32)
    """
    if x.shape == like.shape and None not in like.shape:
        return x
    return apply(ReshapeLike(), [x, like], name)


def zeros_like(x: Tensor, dtype=None, name: str | None = None) -> Tensor:
    """Zeros of ``x``'s run-time shape and dtype (or ``dtype``).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     with gc.Session() as sess:
        ...         sess.run(gc.zeros_like(gc.constant([1, 2])))
        array([0, 0])
    """
    return broadcast_like(as_tensor(np.zeros((), dtype or x.dtype), graph=x.graph), x, name)


def ones_like(x: Tensor, dtype=None, name: str | None = None) -> Tensor:
    """Ones of ``x``'s run-time shape and dtype (or ``dtype``).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     with gc.Session() as sess:  # the shape is the fed one
        ...         sess.run(gc.ones_like(x, dtype="int32"), {x: [[5.0, 6.0]]})
        array([[1, 1]], dtype=int32)
    """
    return broadcast_like(as_tensor(np.ones((), dtype or x.dtype), graph=x.graph), x, name)


def stop_gradient(x, name: str | None = None) -> Tensor:
    """``x`` itself when run, but ``graphc.grad`` treats it as a constant.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float64", (), name="x")
        ...     y = x * gc.stop_gradient(x)  # d/dx = stop_gradient(x), not 2x
        ...     dx = gc.grad(y, x)
        ...     with gc.Session() as sess:
        ...         float(sess.run(dx, {x: 3.0}))
        3.0
    """
    return apply(StopGradient(), [as_tensor(x)], name)


def unbroadcast(g: Tensor, node, i: int) -> Tensor:
    """The gradient ``g`` (shaped like elementwise ``node``'s output) summed back to input ``i``'s shape.

    Axes the input lacks, and axes where it has static size 1, are summed statically. An axis where the
    input's size is unknown while the output's may be larger (another input is not statically 1 there)
    could have been broadcast at run time: then ``SumLike`` decides when the graph runs.
    """
    x = node.inputs[i]
    lead = g.ndim - x.ndim
    static_axes = []
    for axis, d in enumerate(x.shape):
        out_d = g.shape[lead + axis]
        if d == 1 and out_d != 1:
            static_axes.append(lead + axis)
        elif d is None and out_d != 1 and _others_may_be_larger(node, i, x.ndim - axis):
            return sum_like(g, x)
    from graphc.ops.reduce import reduce_sum  # reduce builds on this module's ops

    if lead:
        g = reduce_sum(g, axis=tuple(range(lead)))
    if static_axes:
        g = reduce_sum(g, axis=tuple(a - lead for a in static_axes), keepdims=True)
    return g


def _others_may_be_larger(node, i: int, from_end: int) -> bool:
    """Whether another input of ``node`` may be larger than 1 on the axis ``from_end`` from the end."""
    for j, t in enumerate(node.inputs):
        if j != i and t.ndim >= from_end and t.shape[t.ndim - from_end] != 1:
            return True
    return False


__all__ = ["broadcast_like", "ones_like", "reshape_like", "stop_gradient", "sum_like", "zeros_like"]
