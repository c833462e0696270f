"""Tensor types: a shape (``None`` for a dimension known only at run time) and a dtype.

Also the shape arithmetic every op's ``infer`` shares: numpy broadcasting with unknown dimensions and
axis normalization. These helpers raise ``ShapeError``/``AxisError`` without node context; the graph
adds the node when the op is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, ShapeError

Shape = tuple  # tuple[int | None, ...]


@dataclass(frozen=True)
class TensorType:
    """The static type of a tensor: ``shape`` with ``None`` for run-time dimensions, and ``dtype``.

    Example:
        >>> import graphc as gc
        >>> t = gc.TensorType((None, 3), gc.float32)
        >>> str(t), t.ndim, t.is_compatible((8, 3)), t.is_compatible((8, 4))
        ('f32[?,3]', 2, True, False)
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gc.placeholder("float32", (None, 3)).type == t
        True
    """

    shape: Shape
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{dtypes.short_name(self.dtype)}[{dims}]"

    def is_compatible(self, shape: tuple[int, ...]) -> bool:
        """True when a concrete ``shape`` fits this type's shape (``None`` matches any size)."""
        if len(shape) != len(self.shape):
            return False
        # a plain loop, not all(...): this runs for every result the reference device checks
        for d, s in zip(self.shape, shape, strict=True):  # noqa: SIM110
            if d is not None and d != s:
                return False
        return True


def format_shape(shape: Shape) -> str:
    return (
        "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    )


def make_shape(shape) -> Shape:
    """Normalize a user shape (int, sequence of int/None) to a tuple, rejecting negative sizes."""
    if shape is None:
        raise ShapeError("shape must be given")
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            out.append(int(d))
        else:
            raise ShapeError(f"invalid dimension {d!r} in shape {tuple(shape)!r}")
    return tuple(out)


def broadcasts_to(shape: Shape, target: tuple[int, ...]) -> bool:
    """Whether numpy broadcasts an array of ``shape`` to the known ``target``: each dimension 1 or the
    target's (``None``, unknown, is checked when the graph runs)."""
    lead = len(target) - len(shape)
    return lead >= 0 and all(d in (1, None, t) for d, t in zip(shape, target[lead:], strict=True))


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting of shapes that may hold ``None`` (unknown) dimensions.

    ``None`` against 1 or ``None`` stays unknown; ``None`` against n > 1 becomes n (a run-time check
    catches a mismatch).
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dims = [s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            listed = " and ".join(format_shape(s) for s in shapes)
            raise ShapeError(f"shapes {listed} cannot be broadcast together (axis {i - ndim})")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(axis: int, ndim: int) -> int:
    """``axis`` in ``[-ndim, ndim)`` as a non-negative int, else ``AxisError``."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise AxisError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise AxisError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return int(axis) % ndim if ndim else 0


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``None`` (all axes), an int or a sequence of ints as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    axes = tuple(normalize_axis(a, ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise AxisError(f"repeated axis in {tuple(axis)!r}")
    return tuple(sorted(axes))
