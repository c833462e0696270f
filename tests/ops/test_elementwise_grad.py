"""Subgradient conventions of elementwise ops at their kinks and ties (as PyTorch)."""

import numpy as np
import pytest

import graphc as gc


def _grads(build, *values):
    with gc.Graph().as_default():
        xs = [gc.placeholder("float64", np.shape(v), name=f"x{i}") for i, v in enumerate(values)]
        out = build(*xs)
        grads = gc.grad(gc.reduce_sum(out), xs)
        with gc.Session() as sess:
            return sess.run(grads, dict(zip(xs, values, strict=True)))


def test_relu_has_slope_zero_at_zero():
    (g,) = _grads(gc.relu, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


def test_abs_has_slope_zero_at_zero():
    (g,) = _grads(gc.abs, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("fn", [gc.maximum, gc.minimum])
def test_maximum_and_minimum_split_ties_in_half(fn):
    gx, gy = _grads(fn, np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    winner_x = [0.5, 0.0, 1.0] if fn is gc.maximum else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(gx, winner_x)
    np.testing.assert_array_equal(gy, 1.0 - np.array(winner_x))


def test_clip_passes_the_gradient_at_its_bounds():
    (g,) = _grads(lambda x: gc.clip(x, -1.0, 1.0), np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_bounds_get_the_gradient_where_they_are_the_output():
    gx, glow, ghigh = _grads(gc.clip, np.array([-2.0, 0.0, 2.0]), np.array(-1.0), np.array(1.0))
    np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0])
    assert glow == 1.0 and ghigh == 1.0


def test_where_routes_the_gradient_by_the_condition():
    with gc.Graph().as_default():
        x = gc.placeholder("float64", (3,), name="x")
        y = gc.placeholder("float64", (3,), name="y")
        gx, gy = gc.grad(gc.reduce_sum(gc.where(x > 0, x, y)), [x, y])
        with gc.Session() as sess:
            got = sess.run([gx, gy], {x: [1.0, -1.0, 2.0], y: [5.0, 5.0, 5.0]})
    np.testing.assert_array_equal(got[0], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0])


def test_power_at_zero_base_has_finite_gradients():
    gx, gp = _grads(gc.power, np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 3.0]))
    np.testing.assert_array_equal(gx, [0.0, 0.0, 12.0])
    np.testing.assert_allclose(gp, [0.0, 0.0, 8.0 * np.log(2.0)])


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize("base_dtype", ["int64", "int32", "float32"])
def test_power_exponent_gradient_takes_the_log_in_the_outputs_dtype(base_dtype, device):
    # x ** y with a float64 y is float64: d/dy = x ** y * log(x) must be too, not a float32 log
    base, y_value = np.array([3, 7], base_dtype), np.array([0.5, 2.5])
    with gc.Graph().as_default():
        y = gc.placeholder("float64", (2,), name="y")
        gy = gc.grad(gc.reduce_sum(gc.power(gc.constant(base), y)), y)
        with gc.Session(device=device) as sess:
            got = sess.run(gy, {y: y_value})
    want = np.power(base.astype("float64"), y_value) * np.log(base.astype("float64"))
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_floor_divide_is_not_differentiable():
    with gc.Graph().as_default():
        x = gc.placeholder("float64", (2,), name="x")
        with pytest.raises(gc.GraphcError, match="does not depend"):
            gc.grad(gc.reduce_sum(x // 2.0), x)
