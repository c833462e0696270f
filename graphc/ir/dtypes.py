"""The dtypes graphc supports and its promotion rules.

Tensors are float32, float64, int32, int64 or bool. Promotion between two tensors follows numpy's
``result_type``. Python scalars are *weak*: they take the dtype of the tensor they meet when their kind
fits (``x_f32 * 0.5`` stays float32, ``i_i32 + 1`` stays int32), as in numpy 2 (``i_i32 * 0.5`` is
float64 there and here). Numpy scalars are weak too, as TF1 and PyTorch treat them (numpy 2 makes them
strong): ``x_f32 * np.float64(0.5)`` stays float32. Ops that need a
float (true division, ``exp``, ``mean``...) turn integer and bool inputs into float32, the default float.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import DTypeError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

SUPPORTED = (float32, float64, int32, int64, bool_)
DEFAULT_FLOAT = float32
DEFAULT_INT = int64
SHORT_NAMES = {float32: "f32", float64: "f64", int32: "i32", int64: "i64", bool_: "bool"}


def as_dtype(dtype) -> np.dtype:
    """Normalize ``dtype`` (a numpy dtype, type or name such as ``"float32"``) to a supported dtype, in
    the machine's byte order."""
    if dtype is None:  # np.dtype(None) is float64, which would silently override a float32 default
        raise DTypeError("a dtype is required here, got None")
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"not a dtype: {dtype!r}") from e
    if not d.isnative:  # big-endian data (np.frombuffer(b, ">f4")) holds float32s all the same
        d = d.newbyteorder("=")
    if d not in SUPPORTED:
        names = ", ".join(str(s) for s in SUPPORTED)
        raise DTypeError(f"unsupported dtype {d}; graphc supports {names}")
    return d


def check_attribute(dtype, op_name: str) -> None:
    """An op's dtype attribute is what ``as_dtype`` makes (a supported numpy dtype in the machine's
    byte order), as every user function makes it; ops made by ``apply`` or from a loaded file hold what
    they were given: ``Cast("int32")`` ran on the reference device and failed on the CPU with a raw
    AttributeError, a float16 ``Cast`` ran on the reference device only."""
    if not isinstance(dtype, np.dtype) or as_dtype(dtype) != dtype:
        names = ", ".join(str(s) for s in SUPPORTED)
        raise DTypeError(f"{op_name} dtype must be a numpy dtype of {names}, got {dtype!r}")


def made_infinite(arr: np.ndarray, converted: np.ndarray) -> float | None:
    """The first finite value of ``arr`` that its float conversion ``converted`` made +-inf (1e39 into
    float32), or None. Constants and feeds accept rounding but refuse such an overflow."""
    if converted.dtype.kind != "f" or arr.dtype.kind != "f" or not arr.size:
        return None
    overflow = np.isinf(converted) & np.isfinite(arr)
    return arr[overflow].reshape(-1)[0].item() if overflow.any() else None


def big_ints(arr: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Python ints beyond int64, which numpy holds as objects: their float64 values (None where one
    is beyond every float), and the largest as an error shows it. Constants and feeds give them a
    float dtype's value, as numpy 2's weak scalars do, and name them when refusing them."""
    big = max(arr.flat, key=abs)
    shown = str(big) if len(str(big)) <= 40 else f"an integer of {len(str(abs(big)))} digits"
    try:
        return np.array([float(v) for v in arr.flat], dtype=np.float64).reshape(arr.shape), shown
    except OverflowError:
        return None, shown


def short_name(dtype: np.dtype) -> str:
    return SHORT_NAMES.get(dtype, str(dtype))


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def sum_dtype(dtype: np.dtype, out: np.dtype | None) -> np.dtype | None:
    """What the reference accumulates a sum of ``dtype`` values in, for a result of dtype ``out``:
    float64 for float32 values, whatever the axes. numpy's float32 sum is pairwise only along the
    contiguous axis; over leading axes it is a running float32 sum, off by ~5e-4 relative after 10^5
    rows, and the reference is the oracle the compiled kernels are held to."""
    return float64 if dtype == float32 else out


def is_int(dtype: np.dtype) -> bool:
    return dtype.kind in "iu"


def is_bool(dtype: np.dtype) -> bool:
    return dtype.kind == "b"


def result_type(*dtypes: np.dtype) -> np.dtype:
    """numpy's promotion over tensor dtypes (``int32 + float32 -> float64`` as in numpy)."""
    return np.result_type(*dtypes)


def float_result(dtype: np.dtype) -> np.dtype:
    """The dtype of a float-valued op on an input of ``dtype``: floats keep theirs, others get float32."""
    return dtype if is_float(dtype) else DEFAULT_FLOAT


def scalar_dtype(value, like: np.dtype | None = None) -> np.dtype:
    """The dtype a Python scalar takes next to a tensor of dtype ``like`` (weak typing)."""
    if isinstance(value, (bool, np.bool_)):
        return like if like is not None else bool_
    if isinstance(value, (int, np.integer)):
        if like is not None and not is_bool(like):
            return like
        return DEFAULT_INT
    if isinstance(value, (float, np.floating)):
        if like is not None and is_float(like):
            return like
        if like is not None and is_int(like):
            # as numpy 2: an integer tensor and a float promote to float64 (``result_type``) anyway, so
            # the scalar keeps its float64 value; made float32 first it was rounded (16777217.0 became
            # 16777216.0, so i == 16777217.0 was false at i = 16777217, and i * 0.1 was 1.5e-8 off)
            return float64
        return DEFAULT_FLOAT
    raise DTypeError(f"cannot make a tensor from {type(value).__name__} {value!r}")


def array_dtype(value) -> np.dtype:
    """The dtype of a constant made from ``value`` with no dtype given: Python floats give float32."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr.dtype if isinstance(value, np.ndarray | np.generic) else DEFAULT_FLOAT
    if arr.dtype.kind in "iu":
        return arr.dtype if isinstance(value, np.ndarray | np.generic) else DEFAULT_INT
    if arr.dtype.kind == "b":
        return bool_
    raise DTypeError(f"cannot make a tensor from {type(value).__name__} of dtype {arr.dtype}")
