"""Placeholders and constants (graphc/ops/sources.py) made without their user functions, as ``apply``
and loaded files make them: the op checks what ``placeholder`` and ``constant`` would refuse."""

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS


@pytest.mark.parametrize(
    ("op", "error", "message"),
    [
        (OPS["Placeholder"](np.dtype("float32"), (-1, 3)), gc.ShapeError, "invalid dimension -1"),
        (OPS["Placeholder"](np.dtype("float32"), None), gc.ShapeError, "shape must be given"),
        (OPS["Placeholder"]("float32", (3,)), gc.DTypeError, "dtype must be a numpy dtype"),
        (OPS["Placeholder"](np.dtype("float16"), (3,)), gc.DTypeError, "unsupported dtype float16"),
    ],
    ids=["negative-dim", "no-shape", "dtype-name", "float16"],
)
def test_a_placeholder_made_without_the_user_function_refuses_what_placeholder_refuses(
    graph, op, error, message
):
    # a placeholder of shape (-1, 3) refused every feed; no shape or a dtype name failed with raw errors
    with pytest.raises(error, match=rf"node 'p' \(Placeholder\).*{message}"):
        gc.apply(op, [], name="p")


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.array(["a", "b"]), "unsupported dtype <U1"), ([1.0, 2.0], "must be a numpy array, got list")],
    ids=["strings", "list"],
)
def test_a_constant_made_without_the_user_function_refuses_values_constant_refuses(graph, value, message):
    # an array of strings ran on both devices; a list failed with AttributeError: no attribute 'shape'
    with pytest.raises(gc.DTypeError, match=rf"node 'c' \(Constant\).*{message}"):
        gc.apply(OPS["Constant"](value), [], name="c")


def test_a_constant_made_from_a_writable_array_keeps_its_value_when_the_array_changes(graph):
    arr = np.array([1.0, 2.0], np.float32)
    c = gc.apply(OPS["Constant"](arr), [])
    arr[0] = 5.0
    with gc.Session(device="reference") as sess:
        got = sess.run(c)
    np.testing.assert_array_equal(got, [1.0, 2.0])


def test_a_constant_made_from_a_read_only_view_keeps_its_value_when_the_viewed_array_changes(graph):
    row = np.array([1.0, 2.0, 3.0], np.float32)
    c = gc.apply(OPS["Constant"](np.broadcast_to(row, (2, 3))), [])  # read-only, but row is writable
    expected = np.broadcast_to(row, (2, 3)).copy()
    row[:] = 100.0
    with gc.Session(device="reference") as sess:
        got = sess.run(c)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_python_int_beyond_int64_next_to_a_float_tensor_is_its_float_value_as_in_numpy(graph, dtype):
    # numpy holds 2**100 as an object, and the weak scalar of x * 2**100 was refused ("cannot make a
    # tensor from int"), where numpy 2 computes it in x's dtype
    x = gc.placeholder(dtype, (2,), name="x")
    xv = np.array([1.0, -0.5], dtype)
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            got = sess.run(x * 2**100, {x: xv})
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, xv * 2**100)


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        (2**64, None, r"int64 value from 18446744073709551616: outside \["),
        (2**64, "int32", r"int32 value from 18446744073709551616: outside \["),
        (2**64, "bool", r"bool value from 18446744073709551616: only 0 and 1"),
        (10**400, "float64", r"float64 value from an integer of 401 digits: outside its range"),
        (10**40, "float32", r"float32 value from 1e\+40: outside its range"),
    ],
    ids=["int64", "int32", "bool", "beyond-float64", "beyond-float32"],
)
def test_a_python_int_beyond_int64_a_dtype_cannot_hold_names_the_range(graph, value, dtype, message):
    with pytest.raises(gc.DTypeError, match=message):
        gc.constant(value, dtype)
