"""Checking and converting fed values against the tensors they feed.

Python scalars and lists convert to the tensor's dtype when their kind fits (floats into a float32
placeholder; an empty list, which numpy makes float64, fits every dtype); numpy arrays must already
have the dtype or cast to it safely (int32 into int64, float32 into float64) so that no precision is
lost silently. A ragged nested list is a shape error.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.types import format_shape

_KIND_FITS = {"f": "fiub", "i": "iub", "u": "iub", "b": "b"}


def check_feed(tensor: Tensor, value) -> np.ndarray:
    """``value`` as an array of the tensor's dtype and a shape its type admits, or a clear error."""
    want = tensor.dtype
    if type(value) is np.ndarray and value.dtype == want and tensor.type.is_compatible(value.shape):
        return value  # the common case, first: a run's fixed cost matters at batch 1
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if arr.dtype != want:
            if not np.can_cast(arr.dtype, want, "safe"):
                raise DTypeError(
                    f"fed a {arr.dtype} array, expected {want}: convert it with "
                    f".astype(np.{want.name}) to accept the loss of precision",
                    _where(tensor),
                )
            arr = arr.astype(want)
    else:
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged nested lists: numpy cannot make one array of them
            raise ShapeError(f"fed a ragged nested sequence: {e}", _where(tensor)) from None
        if arr.size and arr.dtype.kind not in _KIND_FITS[want.kind]:
            raise DTypeError(f"fed a value of dtype {arr.dtype}, expected {want}", _where(tensor))
        if want.kind in "iu" and arr.dtype.kind in "iu" and arr.size:
            low, high = np.iinfo(want).min, np.iinfo(want).max
            if arr.min() < low or arr.max() > high:  # astype would wrap them around
                raise DTypeError(
                    f"fed integers outside {want}'s range [{low}, {high}] (from {arr.min()} to {arr.max()})",
                    _where(tensor),
                )
        arr = arr.astype(want)
    if not tensor.type.is_compatible(arr.shape):
        raise ShapeError(
            f"fed shape {format_shape(arr.shape)}, expected {format_shape(tensor.shape)} (? is any size)",
            _where(tensor),
        )
    return arr


def _where(tensor: Tensor) -> str:
    return f"feed for {tensor.node.where}"
