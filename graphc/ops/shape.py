"""Shape ops: reshape, expand_dims, squeeze, broadcast_to, concat, stack, split, and the run-time
``shape`` and ``size`` of a tensor (define layer; indexing, gathering and padding are in ``indexing.py``).

Target shapes, axes and sizes are static attributes. Each op's ``normalize(*input_types)`` checks its
attributes against the inputs' types and returns the canonical op (axes non-negative, ``-1`` resolved
where the size is known), so equal computations give equal ops. ``infer`` normalizes too, which is how
bad attributes raise an error that names the node. A ``None`` dimension that the static type cannot
check is checked by numpy when the graph runs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError, GraphcError, ShapeError
from graphc.ir.graph import Node, Tensor, making
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, broadcasts_to, format_shape, normalize_axes, normalize_axis
from graphc.ops.core import apply_node, as_tensor, as_tensors_like
from graphc.ops.elementwise import cast
from graphc.ops.like import reshape_like, sum_like, zeros_like


def apply_normalized(op: Op, inputs: list[Tensor], name: str | None) -> Node:
    """Apply ``op`` in its canonical form. An op whose attributes do not fit the inputs is applied as
    given, so that its ``infer`` raises the error with the node's name and the user's line."""
    with contextlib.suppress(GraphcError):
        op = op.normalize(*(t.type for t in inputs))
    return apply_node(op, inputs, name)


def static_dims(dims, what: str) -> tuple[int, ...]:
    """``dims`` as a tuple of ints (``-1`` allowed; callers check their own rules), else ShapeError.
    ``dims`` is an op's attribute, a tuple as the user functions make it: a list (from ``apply``) ran on
    the reference device and failed on the CPU with "unhashable type: 'list'", an int with a raw
    TypeError."""
    if not isinstance(dims, tuple):
        raise ShapeError(f"{what} must be a tuple of ints, got {dims!r}")
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise ShapeError(f"{what} must hold static ints, got {d!r} in {tuple(dims)!r}")
        out.append(int(d))
    return tuple(out)


def _merge_dims(dims, what: str) -> int | None:
    """The one known size among ``dims`` (``None`` if all unknown); ShapeError if they disagree."""
    known = {d for d in dims if d is not None}
    if len(known) > 1:
        raise ShapeError(f"{what} must agree, got sizes {sorted(known)}")
    return known.pop() if known else None


@dataclass(frozen=True)
class Reshape(Op):
    """x with the same elements in row-major order and shape ``shape`` (at most one -1: inferred)."""

    view_of_input = True

    shape: tuple

    def normalize(self, x: TensorType) -> Reshape:
        target = static_dims(self.shape, "a reshape target")
        if any(d < -1 for d in target) or target.count(-1) > 1:
            raise ShapeError(f"invalid reshape target {target}: use sizes >= 0 and at most one -1")
        given = math.prod(d for d in target if d != -1)
        size = None if None in x.shape else math.prod(x.shape)
        bad = f"cannot reshape {format_shape(x.shape)} into {format_shape(target)}"
        if size is not None:
            if -1 in target:
                if given == 0 or size % given:
                    raise ShapeError(f"{bad}: the size {size} does not fit -1")
                target = tuple(size // given if d == -1 else d for d in target)
            elif size != given:
                raise ShapeError(f"{bad}: sizes {size} and {given} differ")
        elif -1 in target and given == 0:  # numpy cannot infer it whatever the size, 0 included
            raise ShapeError(f"{bad}: -1 cannot be inferred beside a dimension of size 0")
        elif -1 not in target:
            # the unknown dims multiply the known ones by some m >= 0 (m = 0 when one of them is 0)
            part = math.prod(d for d in x.shape if d is not None)
            if (part and given % part) or (not part and given):
                raise ShapeError(f"{bad}: the size is a multiple of {part}, {given} is not")
        return replace(self, shape=target)

    def infer(self, x: TensorType) -> tuple[TensorType]:
        target = self.normalize(x).shape
        return (TensorType(tuple(None if d == -1 else d for d in target), x.dtype),)

    def reference(self, x):
        return np.reshape(x, self.shape)

    def vjp(self, node, gy):
        x = node.inputs[0]
        # with a size unknown at build time, only this node checks x's size against the target when it
        # runs: a gradient run without it gave x of (5, 3) reshaped to (1, 6) a (2, 3) gradient
        with node.graph.control_dependencies([node] if None in x.shape else []):
            if x.shape.count(None) == 0 or (x.shape.count(None) == 1 and 0 not in x.shape):
                return (reshape(gy, tuple(-1 if d is None else d for d in x.shape)),)
            return (reshape_like(gy, x),)


def _axes_tuple(op: Op) -> None:
    """``op.axis`` is a tuple, as the user functions make it (see ``static_dims``)."""
    if not isinstance(op.axis, tuple):
        raise AxisError(f"{op.type_name} axes must be a tuple of ints, got {op.axis!r}")


@dataclass(frozen=True)
class ExpandDims(Op):
    """x with new size-1 axes at positions ``axis`` (positions in the output)."""

    view_of_input = True

    axis: tuple

    def normalize(self, x: TensorType) -> ExpandDims:
        _axes_tuple(self)
        return replace(self, axis=normalize_axes(self.axis, x.ndim + len(self.axis)))

    def infer(self, x: TensorType) -> tuple[TensorType]:
        axes = self.normalize(x).axis
        dims = iter(x.shape)
        shape = tuple(1 if i in axes else next(dims) for i in range(x.ndim + len(axes)))
        return (TensorType(shape, x.dtype),)

    def reference(self, x):
        return np.expand_dims(x, self.axis)

    def vjp(self, node, gy):
        return (squeeze(gy, self.normalize(node.inputs[0].type).axis),)


@dataclass(frozen=True)
class Squeeze(Op):
    """x without the size-1 axes ``axis`` (an unknown axis must be 1 at run time)."""

    view_of_input = True

    axis: tuple

    def normalize(self, x: TensorType) -> Squeeze:
        _axes_tuple(self)
        axes = normalize_axes(self.axis, x.ndim)
        for a in axes:
            if x.shape[a] not in (1, None):
                raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]} in {format_shape(x.shape)}")
        return replace(self, axis=axes)

    def infer(self, x: TensorType) -> tuple[TensorType]:
        axes = self.normalize(x).axis
        return (TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype),)

    def reference(self, x):
        out = np.squeeze(x, axis=self.axis)
        # numpy hands back x itself when there is no axis to squeeze (squeeze(x) of a tensor with no
        # static size-1 axis): a view, as the other view ops give, never the input object (a session
        # hands out an array that owns its memory as it is: a fetched squeeze of a feed was the user's
        # own array, and fetching y with squeeze(y) gave one array twice)
        return out.view() if out is x else out

    def vjp(self, node, gy):
        x = node.inputs[0]
        axes = self.normalize(x.type).axis
        # an unknown axis is checked to be 1 only when this node runs: a gradient run without it gave x
        # of (4, 3) squeezed on axis 0 a (1, 3) gradient
        with node.graph.control_dependencies([node] if any(x.shape[a] is None for a in axes) else []):
            return (expand_dims(gy, axes),)


@dataclass(frozen=True)
class BroadcastTo(Op):
    """x broadcast (numpy rules) to the static shape ``shape``."""

    view_of_input = True

    shape: tuple

    def normalize(self, x: TensorType) -> BroadcastTo:
        target = static_dims(self.shape, "a broadcast_to target")
        if not broadcasts_to(x.shape, target) or any(t < 0 for t in target):
            raise ShapeError(f"cannot broadcast {format_shape(x.shape)} to {format_shape(target)}")
        return replace(self, shape=target)

    def infer(self, x: TensorType) -> tuple[TensorType]:
        return (TensorType(self.normalize(x).shape, x.dtype),)

    def reference(self, x):
        # a copy: np.broadcast_to returns a read-only view with zero strides
        return np.array(np.broadcast_to(x, self.shape))

    def vjp(self, node, gy):
        from graphc.ops.reduce import reduce_sum  # reduce builds on this module

        x = node.inputs[0]
        target = self.normalize(x.type).shape
        lead = len(target) - x.ndim
        pairs = list(zip(x.shape, target[lead:], strict=True))
        # an unknown dim is checked (1 or the target's size) only when this node runs: a gradient run
        # without it gave x of (3,) broadcast to (1,) a (1,) gradient
        checked = None in x.shape
        with node.graph.control_dependencies([node] if checked else []):
            if any(d is None and t != 1 for d, t in pairs):
                return (sum_like(gy, x),)  # only the run time tells whether x was 1 there
            g = reduce_sum(gy, axis=tuple(range(lead))) if lead else gy
            axes = tuple(i for i, (d, t) in enumerate(pairs) if d == 1 and t != 1)
            g = reduce_sum(g, axis=axes, keepdims=True) if axes else g
            # nothing summed: gy itself, so a reshape_like (a view) is the node that waits
            return (reshape_like(g, x) if checked and g is gy else g,)


def _same_rank_and_dtype(types: tuple[TensorType, ...], what: str) -> None:
    if not types:
        raise ShapeError(f"{what} needs at least one tensor")
    if len({t.ndim for t in types}) > 1:
        raise ShapeError(f"{what} inputs must have one rank, got {', '.join(str(t) for t in types)}")
    if len({t.dtype for t in types}) > 1:
        raise DTypeError(f"{what} inputs must have one dtype, got {', '.join(str(t) for t in types)}")


def zero_d_int(item):
    """A 0-d integer array as its int, as numpy reads it (``operator.index``): ``x[:, np.array(2)]`` is
    ``x[:, 2]`` and ``np.split(x, np.array(2))`` two pieces there; anything else as it is."""
    if isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu":
        return int(item)
    return item


def _off_axis(t: Tensor, axis: int) -> tuple:
    """``t``'s static dims other than ``axis``."""
    return t.shape[:axis] + t.shape[axis + 1 :]


@dataclass(frozen=True)
class Concat(Op):
    """The inputs joined along ``axis``; the other dimensions agree. One dtype (``concat`` casts)."""

    axis: int

    def normalize(self, *xs: TensorType) -> Concat:
        _same_rank_and_dtype(xs, "concat")
        return replace(self, axis=normalize_axis(self.axis, xs[0].ndim))

    def infer(self, *xs: TensorType) -> tuple[TensorType]:
        axis = self.normalize(*xs).axis
        shape = []
        for i, dims in enumerate(zip(*(t.shape for t in xs), strict=True)):
            if i == axis:
                shape.append(None if None in dims else sum(dims))
            else:
                shape.append(_merge_dims(dims, f"concat inputs' sizes on axis {i}"))
        return (TensorType(tuple(shape), xs[0].dtype),)

    def reference(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def vjp(self, node, gy):
        axis = self.normalize(*(t.type for t in node.inputs)).axis
        sizes = [t.shape[axis] for t in node.inputs]
        from graphc.ops.indexing_grad import split_like  # the gradient ops build on this module

        # unknown dims off the axis are checked against the other inputs' only when this node runs: a
        # gradient run without it gave y of (4, 3), joined on axis 1 to x of (2, 3), a (2, 3) gradient
        checked = len(node.inputs) > 1 and any(d is None for t in node.inputs for d in _off_axis(t, axis))
        with node.graph.control_dependencies([node] if checked else []):
            if None not in sizes:
                return tuple(split(gy, sizes, axis))
            return tuple(split_like(gy, node.inputs, axis))


@dataclass(frozen=True)
class Stack(Op):
    """The inputs (one shape) stacked along a new axis ``axis`` of the output."""

    axis: int

    def normalize(self, *xs: TensorType) -> Stack:
        _same_rank_and_dtype(xs, "stack")
        return replace(self, axis=normalize_axis(self.axis, xs[0].ndim + 1))

    def infer(self, *xs: TensorType) -> tuple[TensorType]:
        axis = self.normalize(*xs).axis
        shapes = zip(*(t.shape for t in xs), strict=True)
        dims = [_merge_dims(d, f"stack inputs' sizes on axis {i}") for i, d in enumerate(shapes)]
        dims.insert(axis, len(xs))
        return (TensorType(tuple(dims), xs[0].dtype),)

    def reference(self, *xs):
        return np.stack(xs, axis=self.axis)

    def vjp(self, node, gy):
        # unknown dims are checked against the other inputs' only when this node runs: a gradient run
        # without it gave y of (4, 3), stacked with x of (2, 3), a (2, 3) gradient
        checked = len(node.inputs) > 1 and any(None in t.shape for t in node.inputs)
        with node.graph.control_dependencies([node] if checked else []):
            return tuple(unstack(gy, self.normalize(*(t.type for t in node.inputs)).axis))


@dataclass(frozen=True)
class Split(Op):
    """x cut along ``axis`` into consecutive pieces of sizes ``sizes`` (one output per piece).

    ``sizes`` may be an int n before normalization: n equal pieces of a known, divisible axis.
    """

    view_of_input = True  # numpy's pieces are views of x

    axis: int
    sizes: int | tuple

    def normalize(self, x: TensorType) -> Split:
        axis = normalize_axis(self.axis, x.ndim)
        dim = x.shape[axis]
        if isinstance(self.sizes, (bool, np.bool_)):  # an int to Python, never a number of pieces
            raise ShapeError(f"split takes a number of pieces or their sizes, got {self.sizes!r}")
        if isinstance(self.sizes, (int, np.integer)):
            n = int(self.sizes)
            if n <= 0 or dim is None or dim % n:
                raise ShapeError(
                    f"cannot split axis {axis} of {format_shape(x.shape)} into {n} equal pieces "
                    "(it needs a known size divisible by the number of pieces)"
                )
            return replace(self, axis=axis, sizes=(dim // n,) * n)
        sizes = static_dims(self.sizes, "split sizes")
        if sizes.count(-1) == 1 and min(sizes) >= -1:  # TF1's -1: the rest
            if dim is None:
                return replace(self, axis=axis, sizes=sizes)  # its size known when the graph runs
            rest = dim - (sum(sizes) + 1)
            sizes = tuple(rest if n == -1 else n for n in sizes) if rest >= 0 else sizes
        if sizes and min(sizes) < 0:
            raise ShapeError(
                f"split sizes {sizes} of axis {axis} of {format_shape(x.shape)}: sizes must be >= 0 "
                "(one -1, the rest, needs the axis large enough)"
            )
        if not sizes or (dim is not None and sum(sizes) != dim):
            raise ShapeError(f"split sizes {sizes} do not add up to axis {axis} of {format_shape(x.shape)}")
        return replace(self, axis=axis, sizes=sizes)

    def infer(self, x: TensorType) -> tuple[TensorType, ...]:
        op = self.normalize(x)
        put = lambda n: x.shape[: op.axis] + (None if n == -1 else n,) + x.shape[op.axis + 1 :]  # noqa: E731
        return tuple(TensorType(put(n), x.dtype) for n in op.sizes)

    def reference(self, x):
        sizes = self.sizes
        if not isinstance(sizes, tuple) or -1 in sizes:
            # the forms infer reads but only split() normalizes (gc.apply, a loaded file): n pieces, or a
            # -1 for the rest; they failed here with "'int' object is not iterable" or "do not add up"
            sizes = self.normalize(TensorType(x.shape, x.dtype)).sizes
        if sum(sizes) != x.shape[self.axis]:
            raise ValueError(f"split sizes {sizes} do not add up to axis {self.axis} of {x.shape}")
        parts = np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)
        return parts[0] if len(parts) == 1 else tuple(parts)

    def vjp(self, node, gy):
        x = node.inputs[0]
        axis = self.normalize(x.type).axis
        # an axis of unknown size is checked against the sizes only when this node runs: a gradient run
        # without it gave x of (5, 1) split into [1, 2] a (3, 1) gradient
        checked = x.shape[axis] is None
        with node.graph.control_dependencies([node] if checked else []):
            g = concat_or_zeros(gy, node.outputs, axis)
            # one piece: concat_or_zeros returns gy itself, so a reshape_like (a view) is the node that waits
            return (reshape_like(g, x) if checked and g is gy else g,)


@dataclass(frozen=True)
class Shape(Op):
    """The run-time shape of x as an int64 vector of length ndim."""

    def infer(self, x: TensorType) -> tuple[TensorType]:
        return (TensorType((x.ndim,), dtypes.int64),)

    def reference(self, x):
        return np.array(x.shape, dtype=np.int64)

    vjp = not_differentiable("the shape is an integer and does not depend on x's values")


@dataclass(frozen=True)
class Size(Op):
    """The run-time number of elements of x, an int64 scalar."""

    def infer(self, x: TensorType) -> tuple[TensorType]:
        return (TensorType((), dtypes.int64),)

    def reference(self, x):
        return np.array(x.size, dtype=np.int64)

    vjp = not_differentiable("the size is an integer and does not depend on x's values")


def concat_or_zeros(gy, pieces: tuple[Tensor, ...], axis: int) -> Tensor:
    """The gradients ``gy`` (one tensor, or a tuple with ``None`` for zeros) of the consecutive
    ``pieces`` of a tensor cut along ``axis``, joined back: the adjoint of cutting."""
    gys = gy if isinstance(gy, tuple) else (gy,)
    parts = [zeros_like(y) if g is None else g for g, y in zip(gys, pieces, strict=True)]
    return parts[0] if len(parts) == 1 else concat(parts, axis)


# --- user functions ------------------------------------------------------------------------------


def _one_dtype(values) -> list[Tensor]:
    """``values`` as tensors of one dtype, promoted as numpy's ``concatenate`` does."""
    if isinstance(values, Tensor) or not isinstance(values, (list, tuple)):
        raise TypeError("expected a list or tuple of tensors")
    tensors = as_tensors_like(*values)
    if len({t.ndim for t in tensors}) > 1:  # refused by the op: with the user's types, not promoted ones
        return tensors
    dtype = dtypes.result_type(*(t.dtype for t in tensors)) if tensors else None
    return [cast(t, dtype) for t in tensors]


def _as_tuple(value) -> tuple:
    """An int or a sequence of ints as a tuple. Anything else (2.0, None) becomes a one-entry tuple that
    the op's ``normalize`` rejects with an error naming the node (``tuple(2.0)`` raised a bare
    TypeError, "'float' object is not iterable")."""
    if isinstance(value, np.ndarray):
        return tuple(value) if value.ndim else (value.item(),)
    return tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, Tensor)) else (value,)


def reshape(x, shape, name: str | None = None) -> Tensor:
    """``x`` with the static shape ``shape`` (ints; one may be -1, computed from the others).

    The -1 dimension is known at build time when x's size is, else it is ``None`` in the output type.
    A ShapeError says when the sizes cannot match, as far as the static shapes tell.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2, 3))
        ...     gc.reshape(x, (-1, 6)).shape, gc.reshape(gc.constant([[1, 2, 3]]), -1).shape
        ((None, 6), (3,))
    """
    x = as_tensor(x)
    if isinstance(shape, Tensor):
        raise TypeError(f"reshape needs a static shape, got the tensor {shape.name}")
    return apply_normalized(Reshape(_as_tuple(shape)), [x], name).outputs[0]


def expand_dims(x, axis, name: str | None = None) -> Tensor:
    """``x`` with new size-1 axes at ``axis`` (an int or a tuple of output positions), as numpy.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gc.expand_dims(gc.placeholder("float32", (None, 3)), -1).shape
        (None, 3, 1)
    """
    x = as_tensor(x)
    return apply_normalized(ExpandDims(_as_tuple(axis)), [x], name).outputs[0]


def squeeze(x, axis=None, name: str | None = None) -> Tensor:
    """``x`` without the size-1 axes ``axis`` (an int or a tuple; a ShapeError if one's size is known
    and not 1; an unknown one must be 1 when the graph runs). ``axis=None`` removes every axis whose
    static size is 1 and keeps the unknown ones, so the output rank is known at build time.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (1, None, 1))
        ...     gc.squeeze(x).shape, gc.squeeze(x, axis=1).shape
        ((None,), (1, 1))
    """
    x = as_tensor(x)
    if axis is None:
        axis = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return apply_normalized(Squeeze(_as_tuple(axis)), [x], name).outputs[0]


def broadcast_to(x, shape, name: str | None = None) -> Tensor:
    """``x`` broadcast to the static ``shape`` (numpy rules).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gc.broadcast_to(gc.constant([1.0, 2.0]), (3, 2)).shape
        (3, 2)
    """
    x = as_tensor(x)
    return apply_normalized(BroadcastTo(_as_tuple(shape)), [x], name).outputs[0]


def concat(values, axis: int = 0, name: str | None = None) -> Tensor:
    """The tensors ``values`` joined along ``axis``; dtypes promote as in numpy.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2))
        ...     gc.concat([x, x, [[0.0, 0.0]]], axis=0).shape, gc.concat([x, x], axis=-1).shape
        ((None, 2), (None, 4))
    """
    return apply_normalized(Concat(axis), _one_dtype(values), name).outputs[0]


concatenate = concat


def stack(values, axis: int = 0, name: str | None = None) -> Tensor:
    """The tensors ``values`` (one shape) stacked along a new axis ``axis``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2))
        ...     gc.stack([x, x, x], axis=-1).shape
        (None, 2, 3)
    """
    return apply_normalized(Stack(axis), _one_dtype(values), name).outputs[0]


def split(x, num_or_size_splits, axis: int = 0, name: str | None = None) -> list[Tensor]:
    """``x`` cut along ``axis`` into a list of tensors: ``num_or_size_splits`` is an int n (n equal
    pieces of an axis whose size is known and divisible by n) or the sizes of the pieces (their sum is
    the axis size; an unknown one is checked when the graph runs). One size may be -1, the rest of the
    axis, as in TF1 (of unknown size where the axis' is).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 6))
        ...     [t.shape for t in gc.split(x, [1, 5], axis=1)], len(gc.split(x, 3, axis=1))
        ([(None, 1), (None, 5)], 3)
    """
    x = as_tensor(x)
    sizes = num_or_size_splits
    if isinstance(sizes, (bool, np.bool_)):
        pass  # not a number of pieces: Split.normalize refuses it, naming the node
    elif isinstance(sizes := zero_d_int(sizes), (int, np.integer)):
        # a 0-d integer array is a number of pieces, as for np.split and TF1: made a tuple of sizes,
        # split(x, np.array(2)) on an axis of size 2 gave one piece of size 2, not two of size 1
        sizes = int(sizes)
    else:
        sizes = _as_tuple(sizes)
    return list(apply_normalized(Split(axis, sizes), [x], name).outputs)


def unstack(x, axis: int = 0, name: str | None = None) -> list[Tensor]:
    """``x`` cut along ``axis`` (of known size) into a list of tensors without that axis.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     [t.shape for t in gc.unstack(gc.placeholder("float32", (None, 2)), axis=1)]
        [(None,), (None,)]
    """
    x = as_tensor(x)
    with making("Split", name):  # the split it was to make, and the line
        axis = normalize_axis(axis, x.ndim)
        if x.shape[axis] is None:
            raise ShapeError(f"unstack needs a known size on axis {axis}, got {x.name} of {x.type}")
    if x.shape[axis] == 0:
        return []  # no pieces, as TF1's unstack (split cannot make 0 pieces)
    return [squeeze(p, axis) for p in split(x, x.shape[axis], axis, name=name)]


def shape(x, name: str | None = None) -> Tensor:
    """The run-time shape of ``x``, an int64 vector.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3))
        ...     with gc.Session() as sess:
        ...         sess.run(gc.shape(x), {x: [[1.0, 2.0, 3.0]]})
        array([1, 3])
    """
    return apply_node(Shape(), [as_tensor(x)], name).outputs[0]


def size(x, name: str | None = None) -> Tensor:
    """The run-time number of elements of ``x``, an int64 scalar.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3))
        ...     with gc.Session() as sess:
        ...         int(sess.run(gc.size(x), {x: [[1.0, 2.0, 3.0]] * 4}))
        12
    """
    return apply_node(Size(), [as_tensor(x)], name).outputs[0]


__all__ = [
    "broadcast_to",
    "concat",
    "concatenate",
    "expand_dims",
    "reshape",
    "shape",
    "size",
    "split",
    "squeeze",
    "stack",
    "unstack",
]
