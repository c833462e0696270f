"""Gradient ops of the shape and indexing families: the adjoints of concat, getitem, take and pad.

Each one writes a gradient back into the run-time shape of the forward input (sizes that may be known
only when the graph runs) and has the forward op as its own gradient, so gradients of gradients stay
graphs. ``graphc.grad`` builds them through the forward ops' ``vjp`` rules; they are rarely applied by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, format_shape, normalize_axis
from graphc.ops.indexing import _DECODE, _PAD_MODES, GetItem, pad, take
from graphc.ops.shape import apply_normalized, concat_or_zeros, static_dims


def _fits(shape, want) -> bool:
    """Whether two static shapes may be equal at run time (``None`` matches any size)."""
    return len(shape) == len(want) and all(
        a is None or b is None or a == b for a, b in zip(shape, want, strict=True)
    )


@dataclass(frozen=True)
class SplitLike(Op):
    """g cut along ``axis`` into consecutive pieces, piece i of the run-time size of ``likes[i]`` on
    ``axis`` (the adjoint of ``concat`` when those sizes are known only at run time; values not read)."""

    view_of_input = True  # numpy's pieces are views of g

    axis: int

    def normalize(self, g: TensorType, *likes: TensorType) -> SplitLike:
        if not likes or any(t.ndim != g.ndim for t in likes):
            raise ShapeError(f"split_like needs tensors of the rank of {g}, got {', '.join(map(str, likes))}")
        axis = normalize_axis(self.axis, g.ndim)
        sizes = [t.shape[axis] for t in likes]
        if None not in sizes and g.shape[axis] is not None and sum(sizes) != g.shape[axis]:
            raise ShapeError(f"sizes {sizes} do not add up to axis {axis} of {format_shape(g.shape)}")
        return replace(self, axis=axis)

    def infer(self, g: TensorType, *likes: TensorType) -> tuple[TensorType, ...]:
        a = self.normalize(g, *likes).axis
        return tuple(TensorType(g.shape[:a] + (t.shape[a],) + g.shape[a + 1 :], g.dtype) for t in likes)

    def reference(self, g, *likes):
        sizes = [t.shape[self.axis] for t in likes]
        if sum(sizes) != g.shape[self.axis]:
            raise ValueError(f"sizes {sizes} do not add up to axis {self.axis} of {g.shape}")
        parts = np.split(g, np.cumsum(sizes)[:-1], axis=self.axis)
        return parts[0] if len(parts) == 1 else tuple(parts)

    def vjp(self, node, gy):
        return (concat_or_zeros(gy, node.outputs, self.axis), *(None for _ in node.inputs[1:]))


@dataclass(frozen=True)
class GetItemGrad(Op):
    """zeros of ``like``'s run-time shape with ``out[index] = g`` (the adjoint of ``GetItem(index)``;
    ``index`` is a normalized ``GetItem`` index; ``like``'s values are not read)."""

    index: tuple

    def infer(self, g: TensorType, like: TensorType) -> tuple[TensorType]:
        want = GetItem(self.index).infer(like)[0].shape
        if not _fits(g.shape, want):
            raise ShapeError(f"getitem_grad needs a gradient of shape {format_shape(want)}, got {g}")
        return (TensorType(like.shape, g.dtype),)

    def reference(self, g, like):
        out = np.zeros(like.shape, g.dtype)
        out[tuple(_DECODE[e[0]](e) for e in self.index)] = g
        return out

    def vjp(self, node, gy):
        return apply_normalized(GetItem(self.index), [gy], None).outputs[0], None


@dataclass(frozen=True)
class TakeGrad(Op):
    """zeros of ``like``'s run-time shape plus g scattered along ``axis`` at ``indices``: repeated
    indices add up, negative ones count from the end (the adjoint of ``take``; np.add.at)."""

    axis: int = 0

    def normalize(self, g: TensorType, indices: TensorType, like: TensorType) -> TakeGrad:
        if not dtypes.is_int(indices.dtype):
            raise DTypeError(f"take_grad indices must be int32 or int64, got {indices}")
        a = normalize_axis(self.axis, like.ndim)
        want = like.shape[:a] + indices.shape + like.shape[a + 1 :]
        if not _fits(g.shape, want):
            raise ShapeError(f"take_grad needs a gradient of shape {format_shape(want)}, got {g}")
        return replace(self, axis=a)

    def infer(self, g: TensorType, indices: TensorType, like: TensorType) -> tuple[TensorType]:
        self.normalize(g, indices, like)
        return (TensorType(like.shape, g.dtype),)

    def reference(self, g, indices, like):
        # float32 gradients add up in float64 (dtypes.sum_dtype): a repeated index is a running sum,
        # 5e-4 relative off in float32 after 5 x 10^4 repeats of 0.1 (3.5e-3 after 5 x 10^5)
        out = np.zeros(like.shape, dtypes.sum_dtype(g.dtype, g.dtype))
        a, k = self.axis % like.ndim, indices.ndim
        # the gathered axes in front, as out's axis is in front of the view: view[indices] has g's layout
        src = np.moveaxis(g, list(range(a, a + k)), list(range(k)))
        np.add.at(np.moveaxis(out, a, 0), indices, src)
        return out.astype(g.dtype, copy=False)

    def vjp(self, node, gy):
        return take(gy, node.inputs[1], self.axis), None, None


@dataclass(frozen=True)
class PadGrad(Op):
    """g with the padding of ``Pad(paddings, mode)`` cut off and every padded element added back onto
    the element it copies (the adjoint of ``pad``; constant mode drops the padding)."""

    paddings: tuple
    mode: str = "constant"

    def normalize(self, g: TensorType) -> PadGrad:
        if not isinstance(self.paddings, tuple):  # an int failed with a raw "not iterable"
            raise ShapeError(f"pad_grad paddings must be a tuple of pairs, got {self.paddings!r}")
        pairs = tuple(static_dims(p, "paddings") for p in self.paddings)
        if len(pairs) != g.ndim or any(len(p) != 2 or min(p) < 0 for p in pairs):
            raise ShapeError(f"paddings {self.paddings!r} do not fit {format_shape(g.shape)}")
        if self.mode not in _PAD_MODES:
            raise ShapeError(f"unknown pad mode {self.mode!r}; use one of {', '.join(_PAD_MODES)}")
        for i, (d, (b, a)) in enumerate(zip(g.shape, pairs, strict=True)):
            if d is not None and (d < b + a or (self.mode != "constant" and d == b + a and a + b > 0)):
                raise ShapeError(f"axis {i} of {format_shape(g.shape)} is too short for padding {(b, a)}")
        return replace(self, paddings=pairs)

    def infer(self, g: TensorType) -> tuple[TensorType]:
        pairs = self.normalize(g).paddings
        shape = tuple(None if d is None else d - b - a for d, (b, a) in zip(g.shape, pairs, strict=True))
        return (TensorType(shape, g.dtype),)

    def reference(self, g):
        out = g
        for axis, (b, a) in enumerate(self.paddings):
            n = g.shape[axis] - b - a
            if n < 0:
                raise ValueError(f"axis {axis} of {g.shape} is too short for padding {(b, a)}")
            # where each padded position copies from (-1: the constant), as np.pad itself pads
            if self.mode == "constant":
                source = np.pad(np.arange(n), (b, a), constant_values=-1)
            else:
                source = np.pad(np.arange(n), (b, a), mode=self.mode)
            keep = source >= 0
            acc = np.zeros((n,) + out.shape[:axis] + out.shape[axis + 1 :], g.dtype)
            np.add.at(acc, source[keep], np.moveaxis(out, axis, 0)[keep])
            out = np.moveaxis(acc, 0, axis)
        # a 0-d g (the gradient of a scalar's pad: no axes, nothing padded) is copied as it is:
        # np.ascontiguousarray makes a 0-d array 1-d (and would hand back g itself)
        return np.ascontiguousarray(out) if out.ndim else out.copy()

    def vjp(self, node, gy):
        return (pad(gy, self.paddings, self.mode),)


def split_like(g: Tensor, likes, axis: int, name: str | None = None) -> list[Tensor]:
    """``g`` cut along ``axis`` into pieces of the run-time sizes of ``likes`` on that axis."""
    return list(apply_normalized(SplitLike(axis), [g, *likes], name).outputs)


__all__: list[str] = []
