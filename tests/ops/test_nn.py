"""softmax and log_softmax: build-time errors, attribute normalization, shape inference, extremes."""

import numpy as np
import pytest

import graphc as gc


def _run(t, feeds=None):
    with gc.Session() as sess:
        return sess.run(t, feeds)


def test_axis_out_of_range_names_the_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"softmax.*test_nn.py.*axis 2 is out of range"):
        gc.softmax(x, axis=2)


def test_scalar_input_is_an_axis_error(graph):
    with pytest.raises(gc.AxisError, match=r"log_softmax.*test_nn.py"):
        gc.log_softmax(gc.constant(1.0))


def test_bool_input_is_a_dtype_error(graph):
    x = gc.placeholder("bool", (3,))
    with pytest.raises(gc.DTypeError, match=r"softmax.*test_nn.py.*bool"):
        gc.softmax(x)


def test_negative_axis_is_normalized(graph):
    x = gc.placeholder("float32", (2, 3, 4))
    assert gc.softmax(x, axis=-1).op == gc.softmax(x, axis=2).op
    assert gc.log_softmax(x, axis=-3).op == gc.log_softmax(x, axis=0).op
    assert gc.softmax(x).op.axis == 2


def test_unknown_dims_are_kept(graph):
    x = gc.placeholder("float32", (None, 5, None))
    assert gc.softmax(x, axis=1).shape == (None, 5, None)
    assert gc.log_softmax(x).shape == (None, 5, None)


def test_integer_input_gives_float32_and_float64_stays(graph):
    assert gc.softmax(gc.placeholder("int64", (3,))).dtype == np.float32
    assert gc.log_softmax(gc.placeholder("int32", (3,))).dtype == np.float32
    assert gc.softmax(gc.placeholder("float64", (3,))).dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_extreme_inputs_is_finite_and_exact(graph, dtype):
    x = gc.constant(np.array([[1e4, -1e4], [1e4, 1e4], [-1e4, -1e4]], dtype))
    got = _run(gc.softmax(x))
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]], dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_of_extreme_inputs_is_finite_and_exact(graph, dtype):
    x = gc.constant(np.array([[1e4, -1e4], [-1e4, -1e4]], dtype))
    got = _run(gc.log_softmax(x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [[0.0, -2e4], [-np.log(2), -np.log(2)]], rtol=1e-6)


def test_softmax_sums_to_one_along_the_axis_with_a_run_time_batch(graph):
    x = gc.placeholder("float32", (None, 4))
    got = _run(gc.softmax(x, axis=0), {x: np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)})
    assert got.shape == (7, 4)
    np.testing.assert_allclose(got.sum(axis=0), np.ones(4), rtol=1e-6)


def test_exp_of_log_softmax_is_softmax(graph):
    x = gc.constant(np.random.default_rng(1).normal(size=(3, 5)))
    a, b = _run([gc.exp(gc.log_softmax(x)), gc.softmax(x)])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_softmax_outputs_sum_to_a_constant_so_their_sum_has_zero_gradient(graph):
    x = gc.placeholder("float64", (None, 5))
    gx = gc.grad(gc.reduce_sum(gc.softmax(x)), x)
    got = _run(gx, {x: np.random.default_rng(2).normal(size=(3, 5))})
    np.testing.assert_allclose(got, np.zeros((3, 5)), atol=1e-15)


def test_log_softmax_gradient_is_finite_for_extreme_inputs(graph):
    # d sum_j log_softmax(x)_j / dx = 1 - n * softmax(x): exact even where softmax underflows
    x = gc.placeholder("float64", (2,))
    gx = gc.grad(gc.reduce_sum(gc.log_softmax(x)), x)
    np.testing.assert_allclose(_run(gx, {x: [0.0, -1e4]}), [-1.0, 1.0], rtol=1e-12)
