"""Reductions: what the sample table cannot express (build-time errors, static shapes with unknown
dimensions, attribute normalization, run-time errors)."""

import math

import numpy as np
import pytest

import graphc as gc
from graphc.ops.reduce import ArgMax, Sum


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


# --- gradients (the sample table checks them against finite differences away from ties and zeros) ---


def _grad_values(graph, fn, x_value, static=None):
    """d sum(fn(x)) / dx at ``x_value`` (float64)."""
    x = gc.placeholder("float64", static or np.shape(x_value))
    dx = gc.grad(gc.reduce_sum(fn(x)), x)
    with gc.Session() as sess:
        return sess.run(dx, {x: np.asarray(x_value, np.float64)})


@pytest.mark.parametrize("fn", [gc.reduce_max, gc.reduce_min])
def test_max_and_min_gradients_split_ties_evenly(graph, fn):
    # as PyTorch's amax/amin and TF's reduce_max: each element equal to the result gets gy / count
    x = [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [-1.0, 3.0, -1.0]]
    got = _grad_values(graph, lambda t: fn(t, axis=1), x)
    expected = {
        gc.reduce_max: [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]],
        gc.reduce_min: [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]],
    }[fn]
    np.testing.assert_array_equal(got, np.asarray(expected))


def test_max_over_all_axes_splits_ties_across_the_whole_tensor(graph):
    got = _grad_values(graph, gc.reduce_max, [[4.0, 1.0], [4.0, 4.0]], static=(None, 2))
    np.testing.assert_array_equal(got, [[1 / 3, 0.0], [1 / 3, 1 / 3]])


def test_mean_gradient_divides_by_the_run_time_count(graph):
    got = _grad_values(graph, lambda t: gc.reduce_mean(t, axis=(0, 1)), np.ones((5, 2, 3)), (None, 2, 3))
    np.testing.assert_array_equal(got, np.full((5, 2, 3), 0.1))


def _ancestor_ops(t):
    seen, stack = set(), [t.node]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(i.node for i in n.inputs)
    return [type(n.op).__name__ for n in seen]


def test_full_mean_gradient_needs_no_expand_dims_and_one_size(graph):
    """The loss's mean over the batch: its gradient broadcasts the scalar (no expand_dims of it), and
    divides by the input's size only (the output's static size 1 is not counted at run time)."""
    x = gc.placeholder("float32", (None,), name="x")
    ops = _ancestor_ops(gc.grad(gc.reduce_mean(x), x))
    assert "ExpandDims" not in ops and ops.count("Size") == 1, ops


@pytest.mark.parametrize("axes", [(0,), (0, 1), (0, 2), (1,), (1, 2)])
def test_mean_gradient_over_axes_broadcasts_back_to_x(graph, axes):
    value = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    got = _grad_values(graph, lambda t: gc.reduce_mean(t * t, axis=axes), value, (None, 3, None))
    np.testing.assert_allclose(got, 2 * value / np.prod([value.shape[a] for a in axes]), rtol=1e-12)


def _others(row, skip):
    return np.prod([v for k, v in enumerate(row) if k not in skip])


ZEROS = [[2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 5.0, -1.0], [0.0, 0.0, 0.0, 2.0], [1.0, -2.0, 3.0, 0.5]]


def test_prod_gradient_is_exact_where_x_has_zeros(graph):
    # the product of the other elements, not out / x (0 / 0 at a zero)
    got = _grad_values(graph, lambda t: gc.reduce_prod(t, axis=1), ZEROS)
    expected = [[_others(row, {j}) for j in range(4)] for row in ZEROS]
    np.testing.assert_array_equal(got, expected)


def test_prod_second_derivatives_are_exact_where_x_has_zeros(graph):
    # d2 prod / dx_j dx_m = product of the elements other than j and m (0 on the diagonal)
    w = np.random.default_rng(0).normal(size=(4, 4))
    x = gc.placeholder("float64", (None, 4))
    (dx,) = gc.grad(gc.reduce_sum(gc.reduce_prod(x, axis=1)), [x])
    hw = gc.grad(gc.reduce_sum(dx * w), x)
    with gc.Session() as sess:
        got = sess.run(hw, {x: np.asarray(ZEROS)})
    hessians = [
        [[0.0 if j == m else _others(row, {j, m}) for m in range(4)] for j in range(4)] for row in ZEROS
    ]
    expected = np.einsum("rjm,rj->rm", np.asarray(hessians), w)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_float32_prod_gradient_does_not_overflow_midway(graph, device):
    # a float32 prefix product of [1e30, 1e30, 1e-30, 1e-30] overflows at 1e60: the gradient was
    # [0, 0, inf, inf], where every product of three is finite
    rows = np.array([[1e30, 1e30, 1e-30, 1e-30], [1e-30, 1e-30, 1e30, 1e30]], np.float32)
    x = gc.placeholder("float32", (None, 4))
    dx = gc.grad(gc.reduce_sum(gc.reduce_prod(x, axis=1)), x)
    with gc.Session(device=device) as sess:
        got = sess.run(dx, {x: rows})
    expected = [[_others(row, {j}) for j in range(4)] for row in rows.astype(np.float64)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize("scale", [1e3, 1e7])
def test_logsumexp_gradient_is_the_softmax_where_the_result_rounds(graph, device, scale):
    # float32 rounds logsumexp([s, s]) = s + log 2 to a multiple of s's ulp: exp(x - out) was
    # 0.49998 at s = 1e3 and 0.37 at s = 1e7; the softmax is 0.5
    x_value = np.array([[1.0, 1.0, 0.0], [2.0, -1.0, 0.5]], np.float32) + np.float32(scale)
    x = gc.placeholder("float32", (None, 3))
    dx = gc.grad(gc.reduce_sum(gc.reduce_logsumexp(x, axis=1)), x)
    with gc.Session(device=device) as sess:
        got = sess.run(dx, {x: x_value})
    shifted = np.exp(x_value.astype(np.float64) - x_value.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-6)


def test_argmax_and_argmin_have_no_gradient(graph):
    x = gc.placeholder("float64", (3,))
    y = gc.reduce_sum(gc.cast(gc.argmax(x), "float64") + gc.cast(gc.argmin(x), "float64"))
    assert gc.grad(y, x, unconnected="none") is None


# numpy's float32 sum over a leading axis is a running float32 sum: 8e-4 off at 140 K rows of ~1
_ROWS = np.random.default_rng(7).uniform(0.5, 1.5, (140_000, 4)).astype(np.float32)


@pytest.mark.parametrize(
    "build, oracle",
    [(gc.reduce_sum, lambda v: v.sum(0)), (gc.reduce_mean, lambda v: v.mean(0))],
    ids=["sum", "mean"],
)
def test_the_reference_accumulates_float32_column_sums_in_float64(graph, build, oracle):
    x = gc.placeholder("float32", (None, 4), name="x")
    got = gc.function([x], build(x, 0), device="reference")(_ROWS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, oracle(_ROWS.astype(np.float64)), rtol=1e-6)


def test_the_reference_sum_like_accumulates_float32_in_float64(graph):
    g = gc.placeholder("float32", (None, 4), name="g")
    like = gc.placeholder("float32", (1, 4), name="like")
    summed = gc.function([g, like], gc.sum_like(g, like), device="reference")
    got = summed(_ROWS, np.zeros((1, 4), np.float32))
    np.testing.assert_allclose(got, _ROWS.astype(np.float64).sum(0, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("like_shape", [(2,), (1, 2)], ids=["leading", "size-1"])
def test_the_reference_sum_like_adds_float64_pairwise(graph, like_shape):
    # numpy's float64 sum over a leading axis is a running one: 1.3e-11 off at 10^6 rows of 0.1
    rows = np.full((1_000_000, 2), 0.1)
    g = gc.placeholder("float64", (None, 2), name="g")
    like = gc.placeholder("float64", (None,) * len(like_shape), name="like")
    summed = gc.function([g, like], gc.sum_like(g, like), device="reference")
    got = summed(rows, np.zeros(like_shape))
    np.testing.assert_allclose(got, np.full(like_shape, math.fsum(rows[:, 0])), rtol=1e-13)


def test_the_reference_logsumexp_over_a_leading_axis_sums_in_float64(graph):
    x = gc.placeholder("float32", (None, 4), name="x")
    got = gc.function([x], gc.reduce_logsumexp(x, 0), device="reference")(_ROWS)
    rows = _ROWS.astype(np.float64)
    m = rows.max(0)
    np.testing.assert_allclose(got, m + np.log(np.exp(rows - m).sum(0)), rtol=1e-7)


def test_the_reference_multiplies_float32_products_in_float64(graph):
    # numpy's float32 product overflows midway ([1e30, 1e30, 1e-30, 1e-30] gives inf, the reverse 0)
    # and drifts (3e-4 after 10^5 factors near 1); the CPU's loops multiply in float64
    x = gc.placeholder("float32", (None, None), name="x")
    prod = gc.function([x], [gc.reduce_prod(x, 1), gc.reduce_prod(x, 0)], device="reference")
    rows = np.array([[1e30, 1e30, 1e-30, 1e-30], [1e-30, 1e-30, 1e30, 1e30]], np.float32)
    near_one = (1.0 + np.random.default_rng(0).uniform(-1e-4, 1e-4, (1, 100_000))).astype(np.float32)
    for value in (rows, near_one):
        got = prod(value)
        assert got[0].dtype == np.float32
        np.testing.assert_allclose(got[0], np.prod(value.astype(np.float64), 1), rtol=1e-6)
        np.testing.assert_allclose(got[1], np.prod(value.astype(np.float64), 0), rtol=1e-6)


@pytest.mark.parametrize(
    "op", [gc.ir.OPS["Sum"]((1,), "no"), gc.ir.OPS["Max"]((1,), None), gc.ir.OPS["ArgMax"](1, 0.5)]
)
def test_a_reduction_made_without_the_user_function_refuses_a_keepdims_that_is_not_a_bool(graph, op):
    # gc.apply and loaded files build the op from its attributes alone: the CPU kernels kept the axes
    # for keepdims='no' (truthy) where the reference device failed with numpy's TypeError
    x = gc.placeholder("float32", (2, 3), name="x")
    with pytest.raises(gc.ShapeError, match=rf"node 'y' \({op.type_name}\).*keepdims must be True or False"):
        gc.apply(op, [x], name="y")


def test_reduce_sum_refuses_a_keepdims_numpy_would_not_read(graph):
    # bool('no') is True: the axes were kept silently
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(
        gc.ShapeError, match=r"'sum'.*test_reduce.py.*keepdims must be True or False, got 'no'"
    ):
        gc.reduce_sum(x, axis=0, keepdims="no")


@pytest.mark.parametrize("build", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_the_reference_adds_float64_column_sums_pairwise(graph, build):
    # numpy's float64 sum over a leading axis is a running one: 1.3e-11 off at 10^6 rows of 0.1
    rows = np.full((1_000_000, 2), 0.1)
    x = gc.placeholder("float64", (None, 2), name="x")
    got = gc.function([x], build(x, 0), device="reference")(rows)
    exact = math.fsum(rows[:, 0]) / (rows.shape[0] if build is gc.reduce_mean else 1)
    np.testing.assert_allclose(got, [exact, exact], rtol=1e-13)
