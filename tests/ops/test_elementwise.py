"""Elementwise op semantics (graphc/ops/elementwise.py) beyond the op table's samples."""

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_power_of_one_half_is_pow_whatever_the_exponent_layout(graph, dtype):
    # numpy takes sqrt(x) for one broadcast exponent 0.5: NaN at -inf and -0.0 at -0.0, where pow
    # (the CPU loops, and numpy itself with the exponent given elementwise) gives inf and 0.0
    x = gc.placeholder(dtype, (5,), name="x")
    y = gc.placeholder(dtype, (5,), name="y")
    # a constant of repeated 0.5s: simplify makes it one scalar (the static shapes agree)
    outs = [x**0.5, gc.power(x, y), gc.power(x, gc.constant(np.full(5, 0.5, dtype)))]
    xv = np.array([-np.inf, -0.0, 0.0, 4.0, -4.0], dtype)
    yv = np.full(5, 0.5, dtype)
    with np.errstate(invalid="ignore"):
        want = np.power(xv, yv)  # elementwise exponents: pow's values
    for device in ("reference", "cpu"):
        for optimize in (False, True):
            with gc.Session(device=device, optimize=optimize) as sess:
                for got in sess.run(outs, {x: xv, y: yv}):
                    np.testing.assert_array_equal(got, want)
                    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
