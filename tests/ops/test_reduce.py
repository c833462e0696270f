"""Reductions: what the sample table cannot express (build-time errors, static shapes with unknown
dimensions, attribute normalization, run-time errors)."""

import numpy as np
import pytest

import graphc as gc
from graphc.ops.reduce import ArgMax, Sum


@pytest.fixture
def graph():
    g = gc.Graph()
    with g.as_default():
        yield g


def test_out_of_range_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"'sum'.*test_reduce.py.*axis 2 is out of range"):
        gc.reduce_sum(x, axis=2)


def test_out_of_range_axis_in_tuple_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"'mean'.*test_reduce.py.*axis -3"):
        gc.reduce_mean(x, axis=(0, -3))


def test_repeated_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"'max'.*test_reduce.py.*repeated axis"):
        gc.reduce_max(x, axis=(1, -1))


def test_argmax_out_of_range_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3,))
    with pytest.raises(gc.AxisError, match=r"'argmax'.*test_reduce.py.*axis 1 is out of range"):
        gc.argmax(x, axis=1)


def test_non_integer_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"'prod'.*test_reduce.py.*must be an int"):
        gc.reduce_prod(x, axis=1.0)


def test_negative_axis_gives_the_same_op_as_positive(graph):
    x = gc.placeholder("float32", (2, 3, 4))
    assert gc.reduce_sum(x, axis=-1).op == gc.reduce_sum(x, axis=2).op
    assert gc.argmin(x, axis=-3).op == gc.argmin(x, axis=0).op


def test_axes_are_sorted_and_none_means_all(graph):
    x = gc.placeholder("float32", (2, 3, 4))
    assert gc.reduce_logsumexp(x, axis=(2, -3)).op.axes == (0, 2)
    assert gc.reduce_sum(x).op == gc.reduce_sum(x, axis=[0, 1, 2]).op


def test_op_built_with_unnormalized_axes_is_rejected(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"sorted and non-negative"):
        graph.apply(Sum(axes=(-1,)), [x])
    with pytest.raises(gc.AxisError, match=r"non-negative"):
        graph.apply(ArgMax(axis=-1), [x])


def test_reducing_unknown_dims_drops_them_and_keeps_the_others(graph):
    x = gc.placeholder("float32", (None, 3, None))
    assert gc.reduce_sum(x, axis=1).shape == (None, None)
    assert gc.reduce_mean(x, axis=0).shape == (3, None)
    assert gc.reduce_max(x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert gc.reduce_min(x).shape == ()
    assert gc.argmax(x, axis=2, keepdims=True).shape == (None, 3, 1)
    assert gc.argmin(x, keepdims=True).shape == (1, 1, 1)


@pytest.mark.parametrize(
    ("fn", "dtype", "expected"),
    [
        (gc.reduce_sum, "int32", "int32"),
        (gc.reduce_sum, "bool", "int64"),
        (gc.reduce_prod, "bool", "int64"),
        (gc.reduce_mean, "int32", "float32"),
        (gc.reduce_mean, "float64", "float64"),
        (gc.reduce_logsumexp, "int64", "float32"),
        (gc.reduce_max, "int32", "int32"),
        (gc.reduce_min, "bool", "bool"),
        (gc.argmax, "float64", "int64"),
    ],
)
def test_output_dtype_follows_numpy_with_float32_for_float_results(graph, fn, dtype, expected):
    x = gc.placeholder(dtype, (2, 3))
    assert fn(x, axis=1).dtype == np.dtype(expected)


def test_numpy_names_are_the_tf_functions():
    assert gc.sum is gc.reduce_sum
    assert gc.mean is gc.reduce_mean
    assert gc.max is gc.reduce_max
    assert gc.min is gc.reduce_min
    assert gc.prod is gc.reduce_prod
    assert gc.logsumexp is gc.reduce_logsumexp


def test_keepdims_and_name_reach_the_node(graph):
    x = gc.placeholder("float32", (2, 3))
    y = gc.reduce_sum(x, axis=0, keepdims=1, name="total")
    assert y.op.keepdims is True
    assert y.node.name == "total"


def test_max_over_a_run_time_empty_axis_raises_run_error_naming_node(graph):
    x = gc.placeholder("float32", (None, 3))
    y = gc.reduce_max(x, axis=0)
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"'max'.*test_reduce.py"):
        sess.run(y, {x: np.zeros((0, 3), np.float32)})


def test_argmax_over_a_run_time_empty_tensor_raises_run_error_naming_node(graph):
    x = gc.placeholder("float32", (None,))
    y = gc.argmax(x)
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"'argmax'.*test_reduce.py"):
        sess.run(y, {x: np.zeros((0,), np.float32)})
