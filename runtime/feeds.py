"""Checking and converting fed values against the tensors they feed.

Python scalars and lists convert to the tensor's dtype when their kind fits (floats into a float32
placeholder; an empty list, which numpy makes float64, fits every dtype). Numpy scalars count as
Python scalars, weak as they are in graph construction (``{lr: np.float64(0.1) * decay}`` into a
float32 placeholder, ``{step: np.int64(7)}`` into an int32 one, its range checked), as TF1 takes them;
numpy arrays, 0-d ones included, must already have the dtype or cast to it safely (int32 into int64,
float32 into float64) so that no precision is lost silently: numpy calls int64 into float64 safe, so
those values are checked to be exact. A Python float is rounded to float32, but one outside float32's
range is refused rather than made infinite. A ragged nested list is a shape error.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, FeedError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.types import format_shape

_KIND_FITS = {"f": "fiub", "i": "iub", "u": "iub", "b": "b"}


def _described(value: np.ndarray) -> str:
    """'an int64 array': what the user fed, for an error."""
    article = "an" if value.dtype.name[0] in "aeiou" else "a"
    return f"{article} {value.dtype} array"


def check_feed(tensor: Tensor, value) -> np.ndarray:
    """``value`` as an array of the tensor's dtype and a shape its type admits, or a clear error."""
    want = tensor.dtype
    if type(value) is np.ndarray and value.dtype == want and tensor.type.is_compatible(value.shape):
        return value  # the common case, first: a run's fixed cost matters at batch 1
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)
        if arr.dtype != want:
            if not np.can_cast(arr.dtype, want, "safe"):
                raise DTypeError(
                    f"fed {_described(value)}, expected {want}: convert it with "
                    f".astype(np.{want.name}) to accept the loss of precision",
                    _where(tensor),
                )
            converted = arr.astype(want)
            inexact = _inexact_integer(arr, converted)
            if inexact is not None:  # numpy calls int64 -> float64 safe; above 2**53 it rounds
                raise DTypeError(
                    f"fed {_described(value)} holding {inexact}, which {want} cannot hold exactly: convert "
                    f"it with .astype(np.{want.name}) to accept the loss of precision",
                    _where(tensor),
                )
            arr = converted
    else:
        if isinstance(value, Tensor):
            # np.asarray said "symbolic tensor y:0 has no value while the graph is built; fetch it
            # with Session.run", naming neither the placeholder nor what to do (TF1 refuses it too)
            raise FeedError(
                f"fed the symbolic tensor {value.name}; a feed is a value (an array, a list, a number): "
                "run the tensor first, or build the graph on it in place of this placeholder "
                "(graphc.function's givens replace one tensor by another)",
                _where(tensor),
            )
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged nested lists: numpy cannot make one array of them
            raise ShapeError(f"fed a ragged nested sequence: {e}", _where(tensor)) from None
        if arr.dtype == object and arr.size and all(type(v) is int for v in arr.flat):
            arr = _big_ints(arr, want, tensor)
        if arr.size and arr.dtype.kind not in _KIND_FITS[want.kind]:
            raise DTypeError(f"fed a value of dtype {arr.dtype}, expected {want}", _where(tensor))
        if want.kind in "iu" and arr.dtype.kind in "iu" and arr.size:
            low, high = np.iinfo(want).min, np.iinfo(want).max
            if arr.min() < low or arr.max() > high:  # astype would wrap them around
                raise DTypeError(
                    f"fed integers outside {want}'s range [{low}, {high}] (from {arr.min()} to {arr.max()})",
                    _where(tensor),
                )
        with np.errstate(over="ignore"):
            converted = arr.astype(want)
        bad = dtypes.made_infinite(arr, converted)
        if bad is not None:
            raise DTypeError(
                f"fed {bad!r}, outside {want}'s range (largest magnitude {float(np.finfo(want).max):.7g})",
                _where(tensor),
            )
        arr = converted
    if not tensor.type.is_compatible(arr.shape):
        raise ShapeError(
            f"fed shape {format_shape(arr.shape)}, expected {format_shape(tensor.shape)} (? is any size)",
            _where(tensor),
        )
    return arr


def _big_ints(arr: np.ndarray, want: np.dtype, tensor: Tensor) -> np.ndarray:
    """Python ints beyond int64, which numpy holds as objects (a list of ints was "fed a value of
    dtype object"): their float64 values for a float tensor (its range is checked afterwards), the
    range error for an integer one; a bool tensor refuses them as it refuses any integer."""
    values, shown = dtypes.big_ints(arr)
    if want.kind == "f":
        if values is None:
            raise DTypeError(f"fed {shown}, outside {want}'s range", _where(tensor))
        return values
    if want.kind in "iu":
        info = np.iinfo(want)
        raise DTypeError(
            f"fed integers outside {want}'s range [{info.min}, {info.max}] ({shown})", _where(tensor)
        )
    return arr


def _inexact_integer(arr: np.ndarray, converted: np.ndarray) -> int | None:
    """An integer of ``arr`` that its float conversion ``converted`` does not hold exactly, or None.
    Only integers at least 2**(mantissa bits + 1) in magnitude can round, so only those are compared,
    as Python ints (a comparison in numpy would convert both sides to the float again)."""
    if arr.dtype.kind not in "iu" or converted.dtype.kind != "f" or not arr.size:
        return None
    if arr.dtype.itemsize * 8 <= np.finfo(converted.dtype).nmant + 1:
        return None  # every value fits the mantissa (int16 into float32, int32 into float64)
    big = np.abs(converted) >= 2.0 ** (np.finfo(converted.dtype).nmant + 1)
    if not big.any():
        return None
    for value, rounded in zip(arr[big].tolist(), converted[big].tolist(), strict=True):
        if int(rounded) != value:
            return value
    return None


def _where(tensor: Tensor) -> str:
    return f"feed for {tensor.node.where}"
