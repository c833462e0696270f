"""Feed checking and conversion (``runtime/feeds.py``): what is accepted, converted or refused, and
that refusals name the placeholder."""

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float32"])
def test_an_empty_list_feeds_a_placeholder_of_any_dtype(graph, dtype):
    x = gc.placeholder(dtype, (None,), name="x")
    with gc.Session() as sess:
        out = sess.run(gc.shape(x), {x: []})
    np.testing.assert_array_equal(out, [0])


def test_an_empty_nested_list_feeds_an_int_placeholder_with_its_shape(graph):
    x = gc.placeholder("int64", (None, 0), name="x")
    with gc.Session() as sess:
        out = sess.run(x, {x: [[], []]})
    assert out.dtype == np.int64 and out.shape == (2, 0)


def test_a_ragged_nested_list_is_a_shape_error_naming_the_placeholder(graph):
    x = gc.placeholder("float32", (None, None), name="rows")
    with gc.Session() as sess, pytest.raises(gc.ShapeError, match=r"node 'rows'.*test_feeds.py:\d+.*ragged"):
        sess.run(x + 1.0, {x: [[1.0], [2.0, 3.0]]})


def test_a_tensor_fed_as_a_value_is_a_feed_error_naming_the_placeholder(graph):
    x = gc.placeholder("float32", (None,), name="x")
    with pytest.raises(gc.FeedError, match=r"feed for node 'x'.*fed the symbolic tensor multiply:0"):
        gc.Session().run(x + 1.0, {x: x * 2.0})
    with pytest.raises(gc.FeedError, match=r"feed for node 'x'.*fed the symbolic tensor"):
        gc.function([x], x + 1.0)(x * 2.0)


@pytest.mark.parametrize("value", [1e39, -1e300])
def test_a_python_float_outside_float32s_range_is_refused_not_made_inf(graph, value):
    x = gc.placeholder("float32", (None,), name="x")
    with gc.Session() as sess, pytest.raises(gc.DTypeError, match=r"node 'x'.*outside float32's range"):
        sess.run(x + 1.0, {x: [1.0, value]})


def test_python_infinities_and_nan_still_feed_a_float32_placeholder(graph):
    x = gc.placeholder("float32", (None,), name="x")
    with gc.Session() as sess:
        out = sess.run(x, {x: [float("inf"), float("-inf"), float("nan"), 1e-50]})
    np.testing.assert_array_equal(out, np.array([np.inf, -np.inf, np.nan, 1e-50], np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_python_ints_beyond_int64_feed_a_float_placeholder_as_other_ints_do(graph, dtype):
    # numpy holds 2**100 as an object: "fed a value of dtype object", where [2**62] fed the same
    # placeholder its float value
    x = gc.placeholder(dtype, (None,), name="x")
    with gc.Session() as sess:
        out = sess.run(x, {x: [2**100, -(2**64), 3]})
    np.testing.assert_array_equal(out, np.array([2.0**100, -(2.0**64), 3.0], dtype))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_python_ints_beyond_int64_fed_to_an_int_placeholder_name_its_range(graph, dtype):
    x = gc.placeholder(dtype, (None,), name="x")
    with (
        gc.Session() as sess,
        pytest.raises(gc.DTypeError, match=rf"node 'x'.*outside {dtype}'s range.*18446744073709551616"),
    ):
        sess.run(x, {x: [1, 2**64]})


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_integers_a_float64_placeholder_cannot_hold_exactly_are_refused(graph, dtype):
    x = gc.placeholder("float64", (None,), name="x")
    with gc.Session() as sess, pytest.raises(gc.DTypeError, match=r"node 'x'.*9007199254740993.*astype"):
        sess.run(x * 1.0, {x: np.array([1, 2**53 + 1], dtype)})


def test_integers_a_float64_placeholder_holds_exactly_are_converted(graph):
    x = gc.placeholder("float64", (None,), name="x")
    fed = np.array([-(2**63), 2**53, -(2**53) - 2, 2**62, 7], np.int64)  # all exact in float64
    with gc.Session() as sess:
        out = sess.run(x * 1.0, {x: fed})
    np.testing.assert_array_equal(out, fed.astype(np.float64))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_session_execute_checks_and_converts_its_feed_values_as_run_does(graph, device):
    x = gc.placeholder("float64", (None,), name="x")
    exe = gc.compile([x * 2.0 - 1.0, gc.reduce_sum(x * x)], feeds=[x], device=device)  # a CPU segment

    def want(value):
        value = np.asarray(value, np.float64)
        return [value * 2.0 - 1.0, np.sum(value * value)]

    with gc.Session(device=device) as sess:
        sess.execute(exe, [np.zeros(2, np.float64)])  # a first run (the CPU's plan and entry point)
        ints = np.full(2, np.float64(1.0).view(np.int64))  # as float64 bits: 1.0, as a number 4.6e18
        for value in (ints, [1.0, 2.0]):
            for got, expected in zip(sess.execute(exe, [value]), want(value), strict=True):
                np.testing.assert_allclose(got, expected, rtol=1e-15)
        with pytest.raises(gc.DTypeError, match=r"node 'x'.*complex128.*float64"):
            sess.execute(exe, [np.ones(2, np.complex128)])
        with pytest.raises(gc.ShapeError, match=r"node 'x'.*\(2, 2\)"):
            sess.execute(exe, [np.ones((2, 2))])


def test_a_fed_numpy_scalar_is_weak_as_a_python_scalar(graph):
    # as in graph construction and in TF1: a learning rate computed in float64, a step counter from
    # np.arange, feed float32 and int32 placeholders
    lr = gc.placeholder("float32", (), name="lr")
    step = gc.placeholder("int32", (), name="step")
    with gc.Session() as sess:
        got = sess.run([lr * 2.0, step + 1], {lr: np.float64(0.1) * 0.5, step: np.int64(7)})
        assert got[0].dtype == np.float32 and got[1].dtype == np.int32
        np.testing.assert_array_equal(got[0], np.float32(0.05) * 2)
        assert got[1] == 8


def test_a_fed_numpy_scalar_the_placeholder_cannot_take_is_refused_as_a_python_one(graph):
    x = gc.placeholder("int32", (), name="x")
    with gc.Session() as sess:
        with pytest.raises(gc.DTypeError, match=r"node 'x'.*outside int32's range"):
            sess.run(x + 1, {x: np.int64(2**40)})
        with pytest.raises(gc.DTypeError, match=r"node 'x'.*dtype float64, expected int32"):
            sess.run(x + 1, {x: np.float64(7.0)})
        with pytest.raises(gc.DTypeError, match=r"node 'x'.*fed a float64 array, expected int32"):
            sess.run(x + 1, {x: np.array(7.0)})  # a 0-d array is an array
