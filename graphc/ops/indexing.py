"""Indexing and gathering: numpy basic indexing (``x[1:3, None, ..., -1]``), ``take`` (gather along an
axis, also ``x[int_tensor]``), ``one_hot`` and ``pad`` (define layer; see ``shape.py`` for reshaping).

Index entries, depths and paddings are static attributes, normalized against the input's type as in
``shape.py`` (``apply_normalized``). Indices held in tensors are checked by numpy when the graph runs.
The gradient ops (scatters back into the input's run-time shape) are in ``indexing_grad.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, format_shape, normalize_axis
from graphc.ops.core import apply, as_tensor, graph_of
from graphc.ops.shape import apply_normalized, static_dims, zero_d_int
from graphc.ops.sources import exact_array

_FULL = ("slice", None, None, None)
#: index entries back to what numpy's ``x[...]`` takes
_DECODE = {
    "int": lambda e: e[1],
    "slice": lambda e: slice(*e[1:]),
    "newaxis": lambda e: None,
    "ellipsis": lambda e: Ellipsis,
}


def _slice_length(start, stop, step, dim: int | None) -> int | None:
    """The length of ``range(dim)[start:stop:step]``, or ``None`` when it depends on an unknown dim."""
    if dim is not None:
        return len(range(dim)[start:stop:step])
    # Every slice of 0 rows is empty, so the length is the same for every run-time size only when it
    # is 0 for every size. The clamped bounds are piecewise linear in the size n, with kinks at |start|
    # and |stop| (give or take one), so their difference, which decides emptiness whatever |step|
    # is, is largest at a kink, at 0, or, when it grows with n, past them all (x[-3:3:-1] is empty up
    # to n = 6, one row at 7): those few sizes decide. (Trying every n up to the bounds hung on
    # x[:sys.maxsize].)
    a, b = abs(start or 0), abs(stop or 0)
    sizes = {0, 1, a - 1, a, a + 1, b - 1, b, b + 1, 3 * (a + b) + 3}
    return 0 if all(not range(n)[start:stop:step] for n in sizes if n >= 0) else None


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_entry(entry) -> None:
    """One index entry in one of the four forms, its numbers ints. The user function encodes every
    entry so; ``apply`` and loaded files give them as they are, and numpy reads a bool as a mask:
    ``("int", False)`` was inferred as ``x[0]`` but ran as ``x[False]``, an empty array that the CPU
    loop after it read as 4 floats of uninitialized memory."""
    kind = entry[0] if isinstance(entry, tuple) and entry else None
    ok = (
        (kind == "int" and len(entry) == 2 and _is_int(entry[1]))
        or (kind == "slice" and len(entry) == 4 and all(b is None or _is_int(b) for b in entry[1:]))
        or (kind in ("newaxis", "ellipsis") and len(entry) == 1)
    )
    if not ok:
        raise ShapeError(
            f"invalid index entry {entry!r}: use ('int', i), ('slice', start, stop, step) with ints or "
            "None, ('newaxis',) or ('ellipsis',)"
        )


def _normalize_entry(entry: tuple, dim: int | None) -> tuple:
    """An int or slice entry on an axis of size ``dim`` in canonical form (non-negative where known)."""
    if entry[0] == "int":
        i = entry[1]
        if dim is None:
            return entry
        if not -dim <= i < dim:
            raise AxisError(f"index {i} is out of range for an axis of size {dim}")
        return ("int", i % dim)
    start, stop, step = entry[1:]
    step = 1 if step is None else step
    if step == 0:
        raise ShapeError("slice step cannot be zero")
    if dim is None:
        return ("slice", 0 if start is None and step > 0 else start, stop, step)
    start, stop, step = slice(start, stop, step).indices(dim)
    if not range(start, stop, step):
        # one spelling for every empty slice: indices() gives start -1 for x[-5::-1] on 4 rows,
        # which as a bound would mean the last row
        return ("slice", 0, 0, 1)
    # indices() spells "to the end" as dim (step > 0) or -1 (step < 0), which a slice reads otherwise
    if step > 0:
        return ("slice", start, None if stop == dim else stop, step)
    return ("slice", None if start == dim - 1 else start, None if stop == -1 else stop, step)


@dataclass(frozen=True)
class GetItem(Op):
    """x[index], numpy basic indexing. ``index`` holds ``("int", i)``, ``("slice", start, stop, step)``,
    ``("newaxis",)`` and (before normalization) ``("ellipsis",)`` entries; normalized, it has one int or
    slice entry per axis of x."""

    view_of_input = True

    index: tuple

    def normalize(self, x: TensorType) -> GetItem:
        if not isinstance(self.index, tuple):
            raise ShapeError(f"a GetItem index is a tuple of entries, got {self.index!r}")
        for e in self.index:
            _check_entry(e)
        kinds = [e[0] for e in self.index]
        if kinds.count("ellipsis") > 1:
            raise AxisError("an index can only have a single ellipsis ('...')")
        used = kinds.count("int") + kinds.count("slice")
        if used > x.ndim:
            raise AxisError(f"too many indices ({used}) for a tensor of rank {x.ndim}")
        entries = self.index if "ellipsis" in kinds else (*self.index, ("ellipsis",))
        dims = iter(x.shape)
        out = []
        for e in entries:
            if e[0] == "ellipsis":
                out.extend(_normalize_entry(_FULL, next(dims)) for _ in range(x.ndim - used))
            else:
                out.append(e if e[0] == "newaxis" else _normalize_entry(e, next(dims)))
        return replace(self, index=tuple(out))

    def infer(self, x: TensorType) -> tuple[TensorType]:
        dims = iter(x.shape)
        shape = []
        for e in self.normalize(x).index:
            if e[0] == "newaxis":
                shape.append(1)
            elif e[0] == "slice":
                shape.append(_slice_length(*e[1:], next(dims)))
            else:
                next(dims)
        return (TensorType(tuple(shape), x.dtype),)

    def reference(self, x):
        return np.asarray(x[tuple(_DECODE[e[0]](e) for e in self.index)])

    def vjp(self, node, gy):
        from graphc.ops.indexing_grad import GetItemGrad  # the gradient ops build on this module

        x = node.inputs[0]
        return (apply(GetItemGrad(self.normalize(x.type).index), [gy, x]),)


@dataclass(frozen=True)
class Take(Op):
    """x gathered along ``axis`` at integer ``indices`` (any rank; negative ones count from the end):
    shape ``x.shape[:axis] + indices.shape + x.shape[axis+1:]``. Out of range is a run-time error."""

    axis: int = 0

    def normalize(self, x: TensorType, indices: TensorType) -> Take:
        if not dtypes.is_int(indices.dtype):
            raise DTypeError(f"take indices must be int32 or int64, got {indices}")
        return replace(self, axis=normalize_axis(self.axis, x.ndim))

    def infer(self, x: TensorType, indices: TensorType) -> tuple[TensorType]:
        a = self.normalize(x, indices).axis
        return (TensorType(x.shape[:a] + indices.shape + x.shape[a + 1 :], x.dtype),)

    def reference(self, x, indices):
        return np.take(x, indices, axis=self.axis)

    def vjp(self, node, gy):
        from graphc.ops.indexing_grad import TakeGrad  # the gradient ops build on this module

        x, indices = node.inputs
        return apply(TakeGrad(self.normalize(x.type, indices.type).axis), [gy, indices, x]), None


def _exact_scalar(value, dtype: np.dtype, op_name: str) -> int | float | bool:
    """``value`` as a Python scalar of ``dtype`` by the rule of constants: an integer dtype holds it
    exactly, or a DTypeError (``astype`` turned 2**40 into 0, 1.5 into 1 and NaN into -2**31, and a
    float32 one_hot made 1e39 inf). The op's ``normalize`` checks its own values with it: ops made by
    ``apply`` or from a loaded file never met their user function."""
    arr = exact_array(value, dtype)
    if arr.size != 1:
        raise ShapeError(f"{op_name} takes a scalar here, got {value!r:.60} of shape {arr.shape}")
    return arr.item()


@dataclass(frozen=True)
class OneHot(Op):
    """out[..., j, ...] = on_value if indices[...] == j else off_value, for j in [0, depth) along the
    new axis ``axis``. Indices outside [0, depth), negative ones included, give all off_value."""

    depth: int
    axis: int = -1
    dtype: np.dtype = dtypes.float32
    on_value: int | float | bool = 1
    off_value: int | float | bool = 0

    def normalize(self, indices: TensorType) -> OneHot:
        if not dtypes.is_int(indices.dtype):
            raise DTypeError(f"one_hot indices must be int32 or int64, got {indices}")
        (depth,) = static_dims((self.depth,), "one_hot depth")
        if depth < 0:
            raise ShapeError(f"one_hot depth must be >= 0, got {depth}")
        d = dtypes.as_dtype(self.dtype)
        on, off = (_exact_scalar(v, d, "OneHot") for v in (self.on_value, self.off_value))
        axis = normalize_axis(self.axis, indices.ndim + 1)
        return replace(self, depth=depth, axis=axis, dtype=d, on_value=on, off_value=off)

    def infer(self, indices: TensorType) -> tuple[TensorType]:
        op = self.normalize(indices)
        shape = indices.shape[: op.axis] + (op.depth,) + indices.shape[op.axis :]
        return (TensorType(shape, op.dtype),)

    def reference(self, indices):
        axis = self.axis % (indices.ndim + 1)
        classes = np.arange(self.depth).reshape([-1 if i == axis else 1 for i in range(indices.ndim + 1)])
        hot = np.expand_dims(indices, axis) == classes
        return np.where(hot, self.on_value, self.off_value).astype(self.dtype)

    vjp = not_differentiable("one_hot's input is integer indices")


_PAD_MODES = ("constant", "reflect", "symmetric", "edge")


@dataclass(frozen=True)
class Pad(Op):
    """x padded by ``paddings[i] = (before, after)`` on each axis i, numpy's ``np.pad`` with ``mode``
    (constant: ``constant_values``; reflect and symmetric mirror without or with the edge; edge)."""

    paddings: tuple
    mode: str = "constant"
    constant_values: int | float | bool = 0

    def normalize(self, x: TensorType) -> Pad:
        pairs = self.paddings if isinstance(self.paddings, tuple) else (self.paddings,)
        if len(pairs) == 2 and not isinstance(pairs[0], tuple):
            pairs = (pairs,)
        pairs = tuple((p, p) if isinstance(p, (int, np.integer)) else p for p in pairs)
        if len(pairs) == 1:
            pairs = pairs * x.ndim
        if len(pairs) != x.ndim or any(not isinstance(p, tuple) or len(p) != 2 for p in pairs):
            raise ShapeError(f"paddings {self.paddings!r} do not fit {format_shape(x.shape)}")
        pairs = tuple(static_dims(p, "paddings") for p in pairs)
        if any(min(p) < 0 for p in pairs):
            raise ShapeError(f"paddings must be >= 0, got {self.paddings!r}")
        if self.mode not in _PAD_MODES:
            raise ShapeError(f"unknown pad mode {self.mode!r}; use one of {', '.join(_PAD_MODES)}")
        for i, (d, p) in enumerate(zip(x.shape, pairs, strict=True)):
            if self.mode != "constant" and d == 0 and any(p):
                raise ShapeError(f"pad mode {self.mode!r} cannot extend axis {i} of size 0")
        value = _exact_scalar(self.constant_values, x.dtype, "Pad")
        return replace(self, paddings=pairs, constant_values=value)

    def infer(self, x: TensorType) -> tuple[TensorType]:
        pairs = self.normalize(x).paddings
        shape = tuple(None if d is None else d + b + a for d, (b, a) in zip(x.shape, pairs, strict=True))
        return (TensorType(shape, x.dtype),)

    def reference(self, x):
        # a 0-d x has no axes, so its normalized paddings are (), which np.pad refuses ("`pad_width`
        # must be of integral type": np.asarray(()) is float) where it pads a scalar by any width as a
        # copy of the scalar
        widths = self.paddings if self.paddings != () else 0
        if self.mode == "constant":
            return np.pad(x, widths, constant_values=np.asarray(self.constant_values, x.dtype))
        return np.pad(x, widths, mode=self.mode)

    def vjp(self, node, gy):
        op = self.normalize(node.inputs[0].type)
        if op.mode == "constant":  # the padding is constant: the gradient is the middle of gy
            index = tuple(("slice", b, -a if a else None, 1) for b, a in op.paddings)
            return (apply_normalized(GetItem(index), [gy], None).outputs[0],)
        from graphc.ops.indexing_grad import PadGrad  # the gradient ops build on this module

        return (apply(PadGrad(op.paddings, op.mode), [gy]),)


# --- user functions ------------------------------------------------------------------------------


def _encode(item) -> tuple:
    """One entry of a user's index as a hashable attribute entry."""
    item = zero_d_int(item)
    if item is None:
        return ("newaxis",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        return ("slice", *(_static_bound(b) for b in (item.start, item.stop, item.step)))
    if isinstance(item, (bool, np.bool_)):
        raise NotImplementedError("boolean mask indexing is not supported (its shape depends on values)")
    if isinstance(item, (int, np.integer)):
        return ("int", int(item))
    if isinstance(item, (Tensor, list, np.ndarray)):
        raise NotImplementedError(
            "an array or tensor index is supported only alone, on the first axis (x[idx]); "
            "use graphc.take(x, idx, axis) for other axes"
        )
    raise TypeError(f"invalid index {item!r}: use ints, slices, None, ... or an int tensor")


def _static_bound(b):
    b = zero_d_int(b)
    if b is None or (isinstance(b, (int, np.integer)) and not isinstance(b, bool)):
        return None if b is None else int(b)
    if isinstance(b, Tensor):
        raise NotImplementedError(f"slice bounds must be static ints, got the tensor {b.name}")
    raise TypeError(f"slice bounds must be ints or None, got {b!r}")


def getitem(x, index, name: str | None = None) -> Tensor:
    """``x[index]`` with numpy's basic indexing, or ``take(x, index, axis=0)`` for an integer index
    tensor, list or array. ``Tensor.__getitem__`` calls this.

    Args:
        x: a tensor.
        index: ints (negative count from the end), slices with static int bounds, ``None`` (a new
            axis), ``...``, or a tuple of them; or an integer tensor/array indexing the first axis.
            Boolean masks are not supported (the output shape would depend on the values).
        name: the node name.

    Raises:
        AxisError: an int index out of range of a known dimension, or too many indices.
        NotImplementedError: a boolean mask, or an index tensor inside a tuple.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 4, 5))
        ...     x[:, 1:3].shape, x[..., -1].shape, x[0, None, ::-1].shape, x[:3].shape
        ((None, 2, 5), (None, 4), (1, 4, 5), (None, 4, 5))
    """
    x = as_tensor(x)
    if isinstance(index, (Tensor, list, np.ndarray)):
        indices = _as_indices(index, x)
        if dtypes.is_bool(indices.dtype):
            raise NotImplementedError(
                f"boolean mask indexing is not supported (x[mask] has a shape that depends on the "
                f"values of {indices.name}); use graphc.where"
            )
        return take(x, indices, axis=0, name=name)
    items = index if isinstance(index, tuple) else (index,)
    return apply_normalized(GetItem(tuple(_encode(i) for i in items)), [x], name).outputs[0]


def _as_indices(indices, x: Tensor) -> Tensor:
    """``indices`` as a tensor in ``x``'s graph. numpy reads an empty list as integer indices
    (``x[[]]`` is empty), where a constant made from it is float32, which take rejects."""
    if isinstance(indices, (list, tuple)) and len(indices) == 0:
        indices = np.zeros(0, np.int64)
    return as_tensor(indices, graph=x.graph)


def take(x, indices, axis: int = 0, name: str | None = None) -> Tensor:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (numpy's ``np.take``, TF's ``gather``).

    The output shape is ``x.shape[:axis] + indices.shape + x.shape[axis+1:]``; negative indices count
    from the end; an out-of-range index fails when the graph runs.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.take(gc.constant([[1, 2], [3, 4], [5, 6]]), [2, -3])
        ...     with gc.Session() as sess:
        ...         sess.run(y)
        array([[5, 6],
               [1, 2]])
    """
    x = as_tensor(x, graph=graph_of(x, indices))
    return apply_normalized(Take(axis), [x, _as_indices(indices, x)], name).outputs[0]


def one_hot(
    indices, depth: int, dtype="float32", axis: int = -1, on_value=1, off_value=0, name: str | None = None
) -> Tensor:
    """One-hot vectors of length ``depth`` for integer ``indices`` along a new axis ``axis``, as TF:
    indices outside ``[0, depth)`` (negative ones included) give rows of ``off_value``. ``on_value`` and
    ``off_value`` are taken in ``dtype``, which must hold them exactly (as for constants).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.one_hot(gc.constant([0, 2, -1]), 3, dtype="int32")
        ...     with gc.Session() as sess:
        ...         sess.run(y)
        array([[1, 0, 0],
               [0, 0, 1],
               [0, 0, 0]], dtype=int32)
    """
    indices = as_tensor(indices)
    if isinstance(depth, Tensor):
        raise TypeError(f"one_hot needs a static depth, got the tensor {depth.name}")
    # the dtype and the values are checked by OneHot.normalize, which names the node
    op = OneHot(depth, axis, dtype, on_value, off_value)
    return apply_normalized(op, [indices], name).outputs[0]


def _nested_tuple(value):
    """Lists and arrays as (nested) tuples, so that attributes built from them are hashable."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()  # pad(x, np.array(1)), as np.pad takes it; iterating it raised a bare TypeError
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_nested_tuple(v) for v in value)
    return value


def pad(x, paddings, mode: str = "constant", constant_values=0, name: str | None = None) -> Tensor:
    """``x`` padded as numpy's ``np.pad``.

    Args:
        x: a tensor.
        paddings: ``((before, after), ...)`` per axis, or one int or one pair for every axis.
        mode: "constant", "reflect", "symmetric" or "edge".
        constant_values: the fill value of "constant" mode (a scalar, taken in x's dtype, which must
            hold it exactly: 1.5 or 2**40 for an int32 x is a DTypeError, as for constants).
        name: the node name.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.pad(gc.constant([1, 2, 3]), (1, 2), mode="edge")
        ...     with gc.Session() as sess:
        ...         sess.run(y)
        array([1, 1, 2, 3, 3, 3])
    """
    x = as_tensor(x)
    if not np.isscalar(constant_values):
        raise TypeError(f"constant_values must be a scalar, got {constant_values!r}")
    return apply_normalized(Pad(_nested_tuple(paddings), str(mode), constant_values), [x], name).outputs[0]


__all__ = ["getitem", "one_hot", "pad", "take"]
