"""Scalar helper functions that generated kernels call by name from the ops' ``scalar`` expressions
(``"sigmoid({0})"``, ``"maximum({0}, {1})"``): the few elementwise ops whose numpy semantics (NaN
propagation, stability) a plain Python expression would get wrong inside ``njit``."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_OPTIONS = {"inline": "always", "error_model": "numpy", "cache": True}


@njit(**_OPTIONS)
def sigmoid(x):
    if x >= 0:
        z = math.exp(-x)
        return 1.0 / (1.0 + z)
    z = math.exp(x)
    return z / (1.0 + z)


@njit(**_OPTIONS)
def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(**_OPTIONS)
def relu(x):
    if x > 0 or x != x:  # NaN stays NaN, as np.maximum(x, 0)
        return x
    return type(x)(0)  # a zero of x's type: ``x * 0`` is NaN at -inf


@njit(**_OPTIONS)
def maximum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b  # a tie gives b, as np.maximum: maximum(0.0, -0.0) is -0.0


@njit(**_OPTIONS)
def minimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


@njit(**_OPTIONS)
def sign(x):
    if x > 0:
        return type(x)(1)  # of x's type: ``x - x + 1`` is NaN at inf
    if x < 0:
        return type(x)(-1)
    if x == 0:
        return type(x)(0)  # +0 for -0 too, as np.sign
    return x  # NaN


@njit(**_OPTIONS)
def int_power(x, y):
    """x ** y for integers: a negative exponent is an error, as in numpy (Python's ``**`` would give a
    float, and the kernel's integer cast of it garbage)."""
    if y < 0:
        raise ValueError("integers to negative integer powers are not allowed")
    return x**y


@njit(**_OPTIONS)
def int_floor_divide(x, y):
    """x // y for integers, as numpy's: the lowest integer // -1 overflows back to itself (Numba's ``//``
    gives 0 there, to dodge the CPU's division trap), and // 0 gives 0."""
    if y == -1:
        return -x  # wraps: -(-2**63) is -2**63, as in numpy
    return x // y


def _numpy_casts(dtype) -> tuple[int, int, int]:
    """What numpy's ``astype(dtype)`` makes of NaN, +inf and -inf on this machine: the C cast numpy
    compiles, which on x86 gives the lowest integer for all three (and for any float out of range)."""
    with np.errstate(invalid="ignore"):
        return tuple(int(v) for v in np.array([np.nan, np.inf, -np.inf]).astype(dtype))


_I32_NAN, _I32_HIGH, _I32_LOW = _numpy_casts(np.int32)
_I64_NAN, _I64_HIGH, _I64_LOW = _numpy_casts(np.int64)


# float -> int conversions defined for every float. LLVM's ``fptosi`` (Numba's ``np.int32(x)``) is
# poison for NaN and values out of range, and LLVM folds with that: in a fused loop
# ``cast(cast(x, int32), float32) == x`` became "x is integral", True at inf and 3e9, where numpy's
# -2**31 differs from x. Only values whose truncation fits reach the conversion here.


@njit(**_OPTIONS)
def float_to_int32(x):
    if x != x:
        return np.int32(_I32_NAN)
    if x >= 2147483648.0:
        return np.int32(_I32_HIGH)
    if x <= -2147483649.0:  # above it, x truncates to -2**31 or more
        return np.int32(_I32_LOW)
    return np.int32(x)


@njit(**_OPTIONS)
def float_to_int64(x):
    if x != x:
        return np.int64(_I64_NAN)
    if x >= 9223372036854775808.0:
        return np.int64(_I64_HIGH)
    if x < -9223372036854775808.0:  # the next float64 below -2**63 is 2048 lower: it does not fit
        return np.int64(_I64_LOW)
    return np.int64(x)
