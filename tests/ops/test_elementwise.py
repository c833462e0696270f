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


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (np.float32(0.0), np.float32(np.inf)),  # inf as an int32 was -2**31
        (np.float32(-3e9), np.float32(3e9)),  # outside int32's range
        (np.int64(-(2**40)), np.int64(2**40)),  # wrapped to 0 as int32s
    ],
    ids=["f32-inf", "f32-beyond-int32", "i64-beyond-int32"],
)
def test_clip_compares_with_tensor_bounds_of_another_dtype_in_the_promoted_dtype(graph, low, high):
    x = gc.placeholder("int32", (None,), name="x")
    lo = gc.placeholder(low.dtype, (), name="lo")
    hi = gc.placeholder(high.dtype, (), name="hi")
    y = gc.clip(x * 1, lo, hi)  # x * 1 is kept out of the feeds: the clip runs in a compiled loop
    xv = np.array([-5, 0, 3, 7], np.int32)
    want = np.clip(xv, low, high).astype(np.int32)
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            got = sess.run(y, {x: xv, lo: low, hi: high})
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want, err_msg=device)


@pytest.mark.parametrize("x_dtype", ["int32", "float32"])
@pytest.mark.parametrize("missing", ["low", "high"])
def test_clip_with_one_bound_keeps_x_dtype_as_with_two(graph, x_dtype, missing):
    # clip(x, None, hi) was minimum(x, hi): a float64 result for a float64 tensor bound, where
    # clip(x, lo, hi) gives x's dtype, and a Python 3.5 for an int32 x gave float64 where it is refused
    x = gc.placeholder(x_dtype, (None,), name="x")
    bound = gc.placeholder("float64", (), name="bound")
    low, high = (None, bound) if missing == "low" else (bound, None)
    y = gc.clip(x, low, high)
    assert y.dtype == np.dtype(x_dtype)
    xv, bv = np.array([-5, 0, 3, 7], x_dtype), np.float64(2.5)
    want = np.clip(xv, None if missing == "low" else bv, bv if missing == "low" else None).astype(x_dtype)
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            np.testing.assert_array_equal(sess.run(y, {x: xv, bound: bv}), want, err_msg=device)


@pytest.mark.parametrize("bounds", [(None, 3.5), (3.5, None), (0, 3.5)], ids=["high", "low", "both"])
def test_clip_refuses_a_scalar_bound_x_dtype_cannot_hold_with_one_bound_as_with_two(graph, bounds):
    # minimum(x, 3.5) of an int32 x made a float64 result where clip(x, 0, 3.5) refused the 3.5
    x = gc.placeholder("int32", (None,), name="x")
    with pytest.raises(gc.DTypeError, match=r"int32 value from 3.5"):
        gc.clip(x, *bounds)


@pytest.mark.parametrize(
    "op_name, n", [("Exp", 2), ("Negative", 2), ("Add", 3), ("Add", 1), ("Where", 2), ("Clip", 2)]
)
def test_an_elementwise_op_applied_to_another_number_of_inputs_is_refused(graph, op_name, n):
    # gc.apply and loaded files build the op without its user function: the reference gave a surplus
    # input to the numpy ufunc as its out, and exp(a, b) wrote exp(a) over b, the caller's fed array
    xs = [gc.placeholder("float32", (3,), name=f"x{i}") for i in range(n)]
    with pytest.raises(gc.ShapeError, match=rf"node 'y' \({op_name}\).*takes \d inputs?, got {n}"):
        gc.apply(gc.ir.OPS[op_name](), xs, name="y")


@pytest.mark.parametrize("dtype", ["int32", np.int32, np.dtype("float16")], ids=["name", "type", "float16"])
def test_a_cast_made_without_the_user_function_refuses_a_dtype_cast_would_not_make(graph, dtype):
    # cast() takes its dtype through as_dtype; Cast("int32") from gc.apply ran on the reference device
    # and failed on the CPU with a raw AttributeError, and a float16 Cast ran on the reference device only
    x = gc.placeholder("float32", (3,), name="x")
    with pytest.raises(gc.DTypeError, match=r"node 'y' \(Cast\).*dtype"):
        gc.apply(gc.ir.OPS["Cast"](dtype), [x], name="y")
