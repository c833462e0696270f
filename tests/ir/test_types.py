"""Shapes, broadcasting with unknown dimensions, axes and dtype promotion."""

import numpy as np
import pytest

import graphc as gc
from graphc.ir import dtypes
from graphc.ir.types import TensorType, broadcast_shapes, normalize_axes, normalize_axis


@pytest.mark.parametrize(
    ("a", "b", "out"),
    [
        ((3, 4), (4,), (3, 4)),
        ((None, 4), (1, 4), (None, 4)),
        ((None, 1), (1, 5), (None, 5)),
        ((None,), (3,), (3,)),
        ((None,), (None,), (None,)),
        ((2, 1, 3), (4, 1), (2, 4, 3)),
        ((), (2, 2), (2, 2)),
        ((0, 3), (1, 3), (0, 3)),
    ],
)
def test_broadcast_shapes_follow_numpy_with_unknown_dims(a, b, out):
    assert broadcast_shapes(a, b) == out
    concrete_a = tuple(5 if d is None else d for d in a)
    if None not in a and None not in b:
        assert np.broadcast_shapes(concrete_a, b) == out


def test_incompatible_broadcast_names_both_shapes():
    with pytest.raises(gc.ShapeError, match=r"\(3, 4\) and \(5,\)"):
        broadcast_shapes((3, 4), (5,))


def test_build_time_broadcast_error_names_the_node():
    with gc.Graph().as_default():
        a = gc.placeholder("float32", (3, 4), name="a")
        b = gc.placeholder("float32", (5,), name="b")
        with pytest.raises(gc.ShapeError, match=r"node 'add' \(Add\) created at .*test_types.py:\d+"):
            _ = a + b


def test_normalize_axis_handles_negative_and_out_of_range():
    assert normalize_axis(-1, 3) == 2
    with pytest.raises(gc.AxisError, match="axis 3 is out of range for a tensor of rank 3"):
        normalize_axis(3, 3)
    assert normalize_axes(None, 2) == (0, 1)
    assert normalize_axes((-1, 0), 3) == (0, 2)
    with pytest.raises(gc.AxisError, match="repeated"):
        normalize_axes((1, -2), 3)


def test_tensor_type_prints_short_form():
    assert str(TensorType((None, 128), np.dtype("float32"))) == "f32[?,128]"
    assert str(TensorType((), np.dtype("bool"))) == "bool[]"


@pytest.mark.parametrize(
    ("x", "scalar", "out"),
    [
        ("float32", 0.5, "float32"),
        ("float64", 2, "float64"),
        ("int32", 1, "int32"),
        ("int32", 0.5, "float64"),  # as numpy 2: a float scalar cannot stay int32
    ],
)
def test_python_scalars_are_weak(x, scalar, out):
    with gc.Graph().as_default():
        t = gc.placeholder(x, (2,), name="t")
        assert gc.multiply(t, scalar).dtype == np.dtype(out)


def test_a_python_float_meeting_an_integer_tensor_keeps_its_float64_value(graph):
    # the result is float64 (as numpy 2); the scalar was made float32 first, which rounded it
    i = gc.placeholder("int32", (3,), name="i")
    outs = [gc.equal(i, 16777217.0), i * 0.1, gc.where(i > 0, i, 0.1)]
    iv = np.array([16777217, 3, -7], np.int32)
    want = [np.equal(iv, 16777217.0), iv * 0.1, np.where(iv > 0, iv, 0.1)]
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            for got, w in zip(sess.run(outs, {i: iv}), want, strict=True):
                assert got.dtype == w.dtype
                np.testing.assert_array_equal(got, w)


def test_tensor_promotion_follows_numpy():
    assert dtypes.result_type(dtypes.int32, dtypes.float32) == np.float64
    assert dtypes.result_type(dtypes.float32, dtypes.float64) == np.float64


def test_float_ops_on_integers_give_float32():
    with gc.Graph().as_default():
        i = gc.placeholder("int64", (2,), name="i")
        assert gc.exp(i).dtype == np.float32
        assert (i / i).dtype == np.float32


def test_unsupported_dtype_is_rejected():
    with pytest.raises(gc.DTypeError, match="unsupported dtype float16"):
        gc.placeholder("float16", (2,))


def test_arithmetic_on_bool_is_rejected_naming_the_node():
    with gc.Graph().as_default():
        b = gc.placeholder("bool", (2,), name="b")
        with pytest.raises(gc.DTypeError, match=r"node 'add'.*bool"):
            gc.add(b, b)
