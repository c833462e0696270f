"""CPU reduction kernels (runtime/cpu/reduce.py) beyond the op table's small samples: 10^5-element
reductions, the column and middle-axes loops, NaN propagation, the numpy fallbacks and empty inputs."""

import math

import numpy as np
import pytest

import graphc as gc
from graphc.ops.reduce_grad import prod_others
from graphc.runtime.cpu.reduce import MAX_ROW, SOURCES, exp_loop_wins
from graphc.runtime.cpu.registry import cpu_kernel


def _run(build, x, static=None):
    """``build(placeholder)`` compiled for the CPU, run on ``x``; also the kernel's name."""
    g = gc.Graph()
    with g.as_default():
        ph = gc.placeholder(x.dtype, static if static is not None else x.shape, name="x")
        out = build(ph)
    with gc.Session(g, device="cpu") as sess:
        value = sess.run(out, {ph: x})
    return value, cpu_kernel.build(out.node).name


def _kernel(build, dtype, shape):
    """The CPU kernel for ``build(placeholder)``'s node, to call on arrays directly (any layout)."""
    g = gc.Graph()
    with g.as_default():
        out = build(gc.placeholder(dtype, shape, name="x"))
    return cpu_kernel.build(out.node)


def _f64(x):
    return x.astype(np.float64)


@pytest.mark.parametrize(
    "build, oracle",
    [
        (gc.reduce_sum, lambda x: x.sum()),
        (gc.reduce_mean, lambda x: x.mean()),
        (gc.reduce_max, lambda x: x.max()),
        (gc.reduce_min, lambda x: x.min()),
        (gc.reduce_logsumexp, lambda x: np.log(np.exp(x).sum())),
        (gc.reduce_prod, lambda x: np.prod(x)),
    ],
    ids=["sum", "mean", "max", "min", "logsumexp", "prod"],
)
def test_large_reductions_match_float64(build, oracle):
    x = np.random.default_rng(0).uniform(0.0, 1.0, 100_000).astype(np.float32)
    if oracle(np.ones(2)) == 1.0:  # prod: factors near 1 keep the product finite
        x = (1.0 + (x - 0.5) * 1e-4).astype(np.float32)
    got, _ = _run(build, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, oracle(_f64(x)), rtol=1e-4)


def test_large_sums_per_row_column_and_middle_axes():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, (4, 100_000)).astype(np.float32)
    got, name = _run(lambda t: gc.reduce_sum(t, 1), x)
    assert name == "loop[Sum]"
    np.testing.assert_allclose(got, _f64(x).sum(1), rtol=1e-4, atol=1e-4 * np.abs(x).sum(1).max())
    got, _ = _run(lambda t: gc.reduce_mean(t, 0), x.T.copy())  # the column loop over 10^5 rows
    np.testing.assert_allclose(got, _f64(x).mean(1), rtol=1e-4, atol=1e-4)
    cube = rng.normal(size=(8, 64, 5, 7)).astype(np.float32)
    got, _ = _run(lambda t: gc.reduce_sum(t, (1, 2), keepdims=True), cube)  # kept dims on both sides
    np.testing.assert_allclose(got, _f64(cube).sum((1, 2), keepdims=True), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [1, 0, None], ids=["rows", "columns", "all"])
def test_products_that_overflow_midway_in_float32_match_the_reference(axis):
    # [1e30, 1e30, 1e-30, 1e-30]: inf after two float32 factors, 1 in float64 (and the reverse 0)
    x = np.array([[1e30, 1e30, 1e-30, 1e-30], [1e-30, 1e-30, 1e30, 1e30], [3e38, 2.0, 0.25, 1.0]], np.float32)
    x = x if axis != 0 else np.ascontiguousarray(x.T)
    got, name = _run(lambda t: gc.reduce_prod(t, axis), x)
    g = gc.Graph()
    with g.as_default():
        ph = gc.placeholder("float32", x.shape, name="x")
        want = gc.Session(g, device="reference").run(gc.reduce_prod(ph, axis), {ph: x})
    assert name == "loop[Prod]"
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, np.prod(_f64(x), axis), rtol=1e-6)


def _reference(build, x, static=None):
    g = gc.Graph()
    with g.as_default():
        ph = gc.placeholder(x.dtype, static if static is not None else x.shape, name="x")
        return gc.Session(g, device="reference").run(build(ph), {ph: x})


@pytest.mark.parametrize("axis", [1, 0], ids=["rows", "columns"])
def test_means_of_values_whose_float32_sum_overflows_match_the_reference(axis):
    # 3000 values of 3e36: their float32 sum (and a float32 block of 2048 of them) is inf, their mean
    # 3e36; the reference sums in float64 and divides before rounding
    x = np.full((3000, 2), 3e36, np.float32) if axis == 0 else np.full((2, 3000), 3e36, np.float32)
    got, name = _run(lambda t: gc.reduce_mean(t, axis), x)
    assert name == "loop[Mean]"
    np.testing.assert_allclose(got, _reference(lambda t: gc.reduce_mean(t, axis), x), rtol=1e-6)
    np.testing.assert_allclose(got, [3e36, 3e36], rtol=1e-6)


def test_a_float64_row_product_that_overflows_in_the_vectorized_order_is_numpy_s():
    # numpy multiplies in order: inf from the eighth factor on. The vectorized loop multiplied the
    # 1e200s in some lanes (inf) and the 1e-200s in others (0): inf * 0, NaN, for both rows
    row = np.array([1e200, 1e-200] * 3 + [1e200, 1e200, 1e-200, 1e-200])
    x = np.stack([row, row[::-1], np.linspace(0.5, 2.0, row.size)])
    got, name = _run(lambda t: gc.reduce_prod(t, 1), x)
    assert name == "loop[Prod]"
    want = _reference(lambda t: gc.reduce_prod(t, 1), x)
    np.testing.assert_array_equal(want[:2], [np.inf, 0.0])  # reversed, it underflows first
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("axis", [1, 0], ids=["rows", "columns"])
def test_sums_that_overflow_midway_in_float32_match_the_reference(axis):
    # [3e38, 3e38, -3e38, ...]: inf in float32 after two terms, 3e38 in float64
    x = np.array([[3e38, 3e38, -3e38, 1.0], [-3e38, -3e38, 3e38, 2.0]], np.float32)
    x = x if axis == 1 else np.ascontiguousarray(x.T)
    got, name = _run(lambda t: gc.reduce_sum(t, axis), x)
    assert name == "loop[Sum]"
    np.testing.assert_allclose(got, _reference(lambda t: gc.reduce_sum(t, axis), x), rtol=1e-6)
    np.testing.assert_allclose(got, np.sum(_f64(x), axis), rtol=1e-6)


def test_a_fused_column_mean_of_values_whose_float32_sum_overflows_matches_the_reference():
    x = np.full((3000, 2), 3e36, np.float32)
    build = lambda t: gc.reduce_mean(gc.abs(t) * 1.0, 0)  # noqa: E731
    got, _ = _run(build, x, static=(None, 2))
    np.testing.assert_allclose(got, _reference(build, x, static=(None, 2)), rtol=1e-6)
    np.testing.assert_allclose(got, [3e36, 3e36], rtol=1e-6)


@pytest.mark.parametrize("rows", [5, 201], ids=["one-block", "many-blocks"])
@pytest.mark.parametrize("reduce", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_a_fused_column_reduction_whose_float32_block_overflows_midway_matches_the_reference(reduce, rows):
    # doubled, the column [1.5e38, 1.5e38, -1.5e38, -1.5e38, ..., 1.5e38] is inf after two float32
    # additions: the loop's blocks of rows added in float32 gave inf (or NaN) where the reference's
    # float64 sum is 3e38 (its mean 3e38 / rows)
    column = np.resize(np.float32([1.5e38, 1.5e38, -1.5e38, -1.5e38]), rows)
    x = np.stack([column, np.arange(rows, dtype=np.float32)], axis=1)
    build = lambda t: reduce(t * 2.0, 0)  # noqa: E731  (one fused loop: the product and its sum)
    got, _ = _run(build, x, static=(None, 2))
    want = _reference(build, x, static=(None, 2))
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("axis", [1, 0, None], ids=["rows", "columns", "all"])
@pytest.mark.parametrize("reduce", [gc.reduce_max, gc.reduce_min], ids=["max", "min"])
def test_max_min_keep_the_last_of_tied_zeros_as_numpy(reduce, axis):
    # numpy's max and min keep the last of tied values: the max of [0.0, -0.0] is -0.0, of [-0.0, 0.0]
    # 0.0; the loops kept the first (the other zero: 1 / max gave inf where numpy's is -inf)
    x = np.array([[0.0, -0.0, -1.0], [-0.0, 0.0, -2.0], [-0.0, -0.0, 0.0]], np.float32)
    for a in (x, x.T.copy()):
        got, name = _run(lambda t: reduce(t, axis), a)
        assert name == f"loop[{'Max' if reduce is gc.reduce_max else 'Min'}]"
        want = _reference(lambda t: reduce(t, axis), a)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_float64_stays_float64():
    x = np.random.default_rng(2).normal(size=(3, 1000))
    for build in (lambda t: gc.reduce_sum(t, 1), lambda t: gc.reduce_max(t, 0), gc.reduce_logsumexp):
        got, _ = _run(build, x)
        assert got.dtype == np.float64


@pytest.mark.parametrize("row", [8, MAX_ROW + 1])  # the Numba row loop and numpy's long-row path
@pytest.mark.parametrize("reduce", [gc.reduce_max, gc.reduce_min], ids=["max", "min"])
def test_max_min_propagate_nan(reduce, row):
    x = np.arange(3 * row, dtype=np.float32).reshape(3, row)
    x[0, row // 2] = np.nan
    x[2, -1] = np.nan
    for axis, expect_nan in ((1, [True, False, True]), (0, None)):
        got, _ = _run(lambda t, axis=axis: reduce(t, axis), x)
        want = np.max(x, axis) if reduce is gc.reduce_max else np.min(x, axis)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
        if expect_nan is not None:
            assert list(np.isnan(got)) == expect_nan


def test_nan_and_infinities_in_sums_and_logsumexp():
    x = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    got, _ = _run(lambda t: gc.reduce_sum(t, 1), x)
    np.testing.assert_array_equal(got, [np.nan, np.inf, -np.inf])
    got, _ = _run(lambda t: gc.reduce_logsumexp(t, 1), x)
    np.testing.assert_array_equal(got, [np.nan, np.inf, -np.inf])


def test_numba_loops_serve_the_common_cases():
    x = np.ones((128, 10), np.float32)
    for build in (
        lambda t: gc.reduce_sum(t, 1),
        lambda t: gc.reduce_sum(t, 0),
        gc.reduce_mean,
        gc.reduce_max,
    ):
        assert _run(build, x)[1].startswith("loop["), build
    # integers and non-contiguous axis sets stay numpy
    assert _run(lambda t: gc.reduce_sum(t, 1), x.astype(np.int32))[1] == "numpy[Sum]"
    assert _run(lambda t: gc.reduce_sum(t, (0, 2)), np.ones((2, 3, 4), np.float32))[1] == "numpy[Sum]"


def test_non_contiguous_inputs_agree():
    x = np.random.default_rng(3).normal(size=(6, 5)).astype(np.float32)
    for build in (lambda t: gc.reduce_sum(t, 1), lambda t: gc.reduce_max(t, 0), gc.reduce_logsumexp):
        kernel = _kernel(build, "float32", (5, 6))
        (got,) = kernel.fn(x.T)  # a transposed view, as a Transpose node passes it
        (want,) = kernel.fn(np.ascontiguousarray(x.T))
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_exp_threshold_sides_agree():
    rng = np.random.default_rng(4)
    for shape in [(64, 10), (32, 512)]:  # Numba loop, then numpy
        x = rng.normal(size=shape).astype(np.float32)
        got, _ = _run(lambda t: gc.reduce_logsumexp(t, 1), x)
        np.testing.assert_allclose(got, np.log(np.exp(_f64(x)).sum(1)), rtol=1e-5)
    assert exp_loop_wins(64, 10) and not exp_loop_wins(32, 512)


def test_empty_inputs():
    empty_rows = np.zeros((0, 3), np.float32)
    empty_axis = np.zeros((3, 0), np.float32)
    np.testing.assert_array_equal(_run(lambda t: gc.reduce_sum(t, 0), empty_rows)[0], np.zeros(3))
    np.testing.assert_array_equal(_run(lambda t: gc.reduce_sum(t, 1), empty_axis)[0], np.zeros(3))
    np.testing.assert_array_equal(_run(lambda t: gc.reduce_prod(t, 1), empty_axis)[0], np.ones(3))
    assert np.isnan(_run(lambda t: gc.reduce_mean(t, 1), empty_axis)[0]).all()
    assert _run(lambda t: gc.reduce_max(t, 1), empty_rows)[0].shape == (0,)
    np.testing.assert_array_equal(_run(lambda t: gc.reduce_logsumexp(t, 1), empty_axis)[0], [-np.inf] * 3)
    with pytest.raises(gc.RunError, match="zero-size"):
        _run(lambda t: gc.reduce_max(t, 1), empty_axis)


@pytest.mark.parametrize("axes", [(1,), (0,), (0, 1)])
def test_prod_others_exact_with_zeros(axes):
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]], np.float32)
    got, name = _run(lambda t: prod_others(t, axes), x)
    assert name == "loop[ProdOthers]"
    want = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        group = x[tuple(slice(None) if a in axes else i for a, i in enumerate(idx))]
        pos = np.ravel_multi_index(tuple(idx[a] for a in axes), group.shape)
        want[idx] = np.prod(np.delete(group.ravel(), pos))
    np.testing.assert_array_equal(got, want)


# 140 K rows of ~1: a running float32 column sum (numpy's order) is ~8e-4 off; 560 K elements also
# take the column sum split over the threads when fused
_ROWS = np.random.default_rng(7).uniform(0.5, 1.5, (140_000, 4)).astype(np.float32)


@pytest.mark.parametrize("rows", [140_000, 30_000], ids=["split", "serial"])
@pytest.mark.parametrize("build", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_a_fused_column_sum_over_many_rows_stays_near_float64(build, rows):
    x_value = _ROWS[:rows]
    got, _ = _run(lambda t: build(gc.maximum(t, 1.0) * 2.0, 0), x_value, static=(None, 4))
    oracle = np.sum if build is gc.reduce_sum else np.mean
    want = oracle(np.maximum(x_value.astype(np.float64), 1.0) * 2.0, axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("build", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_the_column_loop_over_many_rows_stays_near_float64(build):
    got, name = _run(lambda t: build(t, 0), _ROWS)
    assert name == f"loop[{'Sum' if build is gc.reduce_sum else 'Mean'}]"
    want = (np.sum if build is gc.reduce_sum else np.mean)(_ROWS.astype(np.float64), axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_logsumexp_rows_keep_terms_below_half_an_ulp_of_the_sum():
    # one row of 4096 (the Numba loop takes it): exp(-17) = 4.1e-8 is below half an ulp of the sum
    # 1.0, which a float32 accumulator drops; the reference adds in float64
    x = np.full((1, 4096), -17.0, np.float32)
    x[0, 0] = 0.0
    got, name = _run(lambda t: gc.reduce_logsumexp(t, 1), x)
    assert name.startswith("loop[")
    np.testing.assert_allclose(got, np.log(np.exp(_f64(x)).sum(1)), rtol=1e-5)


def test_a_reduction_kernel_shows_its_column_loop_too(graph):
    # a sum over the leading axis runs the column loop, which the shown source left out
    x = gc.placeholder("float32", (None, 3), name="x")
    exe = gc.compile([gc.reduce_sum(x, axis=0, name="total")], feeds=[x])
    with gc.Session() as sess:
        sess.execute(exe, [np.ones((4, 3), np.float32)])
    assert SOURCES["sum"][0] in exe.sources()["total"] and SOURCES["sum"][1] in exe.sources()["total"]


@pytest.mark.parametrize("axis", [None, 1], ids=["all", "rows"])
@pytest.mark.parametrize("build", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_a_fused_float64_sum_over_long_rows_stays_near_the_exact_sum(build, axis):
    # 2 x 10^6 values of 0.2: one running float64 sum in the loop was 5.6e-13 off (1e-11 at 10^7),
    # where numpy's pairwise sum is within 3e-16 of math.fsum
    x = np.full((2, 1_000_000), 0.1)
    got, _ = _run(lambda t: build(t * 2.0, axis), x)
    rows = [math.fsum(row) for row in x * 2.0]
    exact = math.fsum(rows) if axis is None else np.array(rows)
    if build is gc.reduce_mean:
        exact = exact / (x.size if axis is None else x.shape[1])
    np.testing.assert_allclose(got, exact, rtol=1e-13)


@pytest.mark.parametrize("build", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_the_float64_column_loop_over_many_rows_stays_near_the_exact_sum(build):
    # one running float64 sum of the 64-row blocks was 2.1e-13 off at 10^6 rows of 0.1 (numpy's
    # pairwise sum, which the reference adds, within 3e-16)
    x = np.full((1_000_000, 2), 0.1)
    got, name = _run(lambda t: build(t, 0), x)
    assert name == f"loop[{'Sum' if build is gc.reduce_sum else 'Mean'}]"
    exact = math.fsum(x[:, 0]) / (x.shape[0] if build is gc.reduce_mean else 1)
    np.testing.assert_allclose(got, [exact, exact], rtol=1e-13)
