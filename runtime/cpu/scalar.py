"""Scalar helper functions that generated kernels call by name from the ops' ``scalar`` expressions
(``"sigmoid({0})"``, ``"maximum({0}, {1})"``): the few elementwise ops whose numpy semantics (NaN
propagation, stability) a plain Python expression would get wrong inside ``njit``."""

from __future__ import annotations

import math

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
