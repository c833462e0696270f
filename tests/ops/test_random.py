"""random_uniform and random_normal: TF1 seeding, per-run streams, run-time shapes, atomic runs."""

import numpy as np
import pytest

import graphc as gc


def _draws(t, runs=2, feeds=None):
    """``runs`` successive values of ``t`` in one new session."""
    with gc.Session(t.graph) as sess:
        return [sess.run(t, feeds) for _ in range(runs)]


def _build_two(graph_seed=None, seeds=(None, None)):
    """A fresh graph with two uniform ops; returns their tensors."""
    g = gc.Graph()
    with g.as_default():
        if graph_seed is not None:
            gc.set_random_seed(graph_seed)
        return tuple(gc.random_uniform((4,), seed=s) for s in seeds)


# --- seeds ---------------------------------------------------------------------------------------


def test_same_seeds_give_the_same_numbers_in_two_sessions(graph):
    gc.set_random_seed(1)
    r = gc.random_normal((3, 2), seed=5)
    first, second = _draws(r), _draws(r)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_successive_runs_give_new_numbers(graph):
    r = gc.random_uniform((100,), seed=3)
    a, b = _draws(r)
    assert not np.array_equal(a, b)


def test_graph_seed_alone_gives_distinct_but_reproducible_ops():
    a1, b1 = _build_two(graph_seed=7)
    a2, b2 = _build_two(graph_seed=7)
    assert a1.op.seed == (7, 0) and b1.op.seed == (7, 1)
    (va1,), (vb1,) = _draws(a1, 1), _draws(b1, 1)
    (va2,), (vb2,) = _draws(a2, 1), _draws(b2, 1)
    assert not np.array_equal(va1, vb1)
    np.testing.assert_array_equal(va1, va2)
    np.testing.assert_array_equal(vb1, vb2)


def test_op_seed_alone_pairs_with_graph_seed_zero_and_is_reproducible():
    (a1,), (a2,) = _build_two(seeds=(11,)), _build_two(seeds=(11,))
    assert a1.op.seed == (0, 11)
    np.testing.assert_array_equal(_draws(a1, 1)[0], _draws(a2, 1)[0])


def test_different_graph_seeds_give_different_numbers():
    (a1,), (a2,) = _build_two(graph_seed=1, seeds=(11,)), _build_two(graph_seed=2, seeds=(11,))
    assert not np.array_equal(_draws(a1, 1)[0], _draws(a2, 1)[0])


def test_no_seeds_differ_between_sessions(graph):
    r = gc.random_uniform((100,))
    assert r.op.seed is None
    assert not np.array_equal(_draws(r, 1)[0], _draws(r, 1)[0])


def test_two_unseeded_ops_in_one_session_differ(graph):
    a, b = gc.random_uniform((100,)), gc.random_uniform((100,))
    with gc.Session() as sess:
        va, vb = sess.run([a, b])
    assert not np.array_equal(va, vb)


def test_a_failed_run_does_not_advance_the_random_stream(graph):
    r = gc.random_uniform((5,), seed=2)
    p = gc.placeholder("float32", (None,), name="p")
    bad = p + gc.constant([1.0, 2.0, 3.0])
    expected = _draws(r, 2)
    with gc.Session() as sess:
        first = sess.run(r)
        with pytest.raises(gc.RunError):
            sess.run([r, bad], {p: np.zeros(2, np.float32)})
        second = sess.run(r)
    np.testing.assert_array_equal(first, expected[0])
    np.testing.assert_array_equal(second, expected[1])


def test_a_givens_copy_of_a_random_op_continues_its_stream(graph):
    n, m = gc.placeholder("int64", (), name="n"), gc.placeholder("int64", (), name="m")
    r = gc.random_uniform((n,), seed=4, name="r")
    with gc.Session() as sess:
        f = gc.function([m], r, givens={n: m + 1}, session=sess)  # re-applies r on m + 1
        draws = [sess.run(r, {n: 3}), f(2), sess.run(r, {n: 3}), f(2)]
    # four runs of one op: four different draws (the copy replayed the original's numbers)
    assert len({v.tobytes() for v in draws}) == 4
    np.testing.assert_array_equal(draws, _draws(r, 4, {n: 3}))  # the op's sequence, in order


# --- shapes and dtypes -----------------------------------------------------------------------------


def test_run_time_dim_from_a_placeholder_gives_that_shape(graph):
    n = gc.placeholder("int64", (), name="n")
    r = gc.random_normal((n, 3))
    assert r.shape == (None, 3) and r.op.shape == (None, 3)
    with gc.Session() as sess:
        assert sess.run(r, {n: 4}).shape == (4, 3)
        assert sess.run(r, {n: 0}).shape == (0, 3)


def test_one_d_shape_tensor_gives_all_dims_at_run_time(graph):
    s = gc.placeholder("int32", (2,), name="s")
    r = gc.random_uniform(s)
    assert r.shape == (None, None)
    with gc.Session() as sess:
        assert sess.run(r, {s: np.array([2, 5], np.int32)}).shape == (2, 5)


def test_constant_shape_tensor_gives_a_static_shape(graph):
    assert gc.random_uniform(gc.constant([2, 3])).shape == (2, 3)
    assert gc.random_uniform((gc.constant(4), 1)).shape == (4, 1)


def test_numpy_array_shapes_give_static_shapes(graph):
    assert gc.random_uniform(np.array(4)).shape == (4,)
    assert gc.random_normal(np.array([2, 3])).shape == (2, 3)


def test_normal_statistics_are_within_tolerance(graph):
    r = gc.random_normal((200, 100), mean=-3.0, stddev=2.0, seed=4)
    (value,) = _draws(r, 1)
    # standard errors: 2 / sqrt(20000) = 0.014 for the mean, about 0.01 for the std
    assert abs(value.mean() - -3.0) < 0.07
    assert abs(value.std() - 2.0) < 0.05


def test_uniform_statistics_and_bounds(graph):
    (value,) = _draws(gc.random_uniform((20000,), minval=2.0, maxval=4.0, seed=8), 1)
    assert value.min() >= 2.0 and value.max() < 4.0
    assert abs(value.mean() - 3.0) < 0.03


def test_float64_dtype_works(graph):
    u = gc.random_uniform((3,), dtype="float64", seed=1)
    z = gc.random_normal((3,), dtype=np.float64, seed=1)
    assert u.dtype == np.float64 and z.dtype == np.float64
    with gc.Session() as sess:
        vu, vz = sess.run([u, z])
    assert vu.dtype == np.float64 and vz.dtype == np.float64


@pytest.mark.parametrize("make", [gc.random_uniform, gc.random_normal])
def test_a_scalar_draw_feeds_a_cpu_kernel_as_the_reference_computes(graph, make):
    # unoptimized, the draw reaches the relu kernel on its own (not fused into one loop)
    r = make((), dtype="float64", seed=1)
    outs = [gc.relu(r), gc.tanh(gc.cast(gc.relu(r), "float32"))]
    with gc.Session(device="reference") as ref, gc.Session(device="cpu", optimize=False) as cpu:
        want, got = ref.run(outs), cpu.run(outs)
        assert isinstance(cpu.run(r), np.ndarray)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_random_ops_are_stateful_and_reference_is_deterministic(graph):
    r = gc.random_uniform((2, 3), seed=1)
    assert r.op.stateful
    np.testing.assert_array_equal(r.op.reference(), r.op.reference())
    assert r.op.reference().dtype == np.float32


# --- errors ----------------------------------------------------------------------------------------


def test_integer_dtype_is_a_dtype_error(graph):
    with pytest.raises(gc.DTypeError, match="float32 or float64"):
        gc.random_uniform((3,), dtype="int32")


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda t: gc.random_uniform((2,), minval=t), "minval"),
        (lambda t: gc.random_uniform((2,), maxval=t), "maxval"),
        (lambda t: gc.random_normal((2,), mean=t), "mean"),
        (lambda t: gc.random_normal((2,), stddev=t), "stddev"),
    ],
    ids=["minval", "maxval", "mean", "stddev"],
)
def test_a_tensor_distribution_parameter_is_a_type_error_naming_it(graph, make, param):
    # it failed in the range check, telling the user to use graphc.where for an if never written
    with pytest.raises(TypeError, match=f"{param} must be a number, got the tensor lo"):
        make(gc.placeholder("float32", (), name="lo"))


def test_float_run_time_dim_is_a_dtype_error_naming_the_node(graph):
    n = gc.placeholder("float32", (), name="n")
    with pytest.raises(gc.DTypeError, match=r"random_normal.*test_random.py.*int64"):
        gc.random_normal((n, 2))


def test_shape_tensor_of_unknown_length_is_a_shape_error(graph):
    s = gc.placeholder("int64", (None,), name="s")
    with pytest.raises(gc.ShapeError, match=r"random_uniform.*test_random.py.*known length"):
        gc.random_uniform(s)


def test_constant_shape_tensor_of_rank_two_is_a_shape_error_naming_the_node(graph):
    with pytest.raises(gc.ShapeError, match=r"random_uniform.*test_random.py.*scalars or 1-D"):
        gc.random_uniform(gc.constant([[2, 3]]))  # was read as the shape (2, 3)


def test_negative_static_dim_is_a_shape_error(graph):
    with pytest.raises(gc.ShapeError, match="invalid dimension -1"):
        gc.random_uniform((2, -1))


@pytest.mark.parametrize("shape", [None, 3.0])
def test_a_shape_that_is_no_sequence_is_a_shape_error_naming_the_node(graph, shape):
    # iterating it failed with Python's "'NoneType' object is not iterable"
    with pytest.raises(gc.ShapeError, match=rf"^node 'r' \(RandomNormal\) .*: invalid shape {shape!r}"):
        gc.random_normal(shape, name="r")


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: gc.random_uniform((2, -1), name="r"), gc.ShapeError),
        (lambda: gc.random_normal((2,), dtype="int32", name="r"), gc.DTypeError),
        (lambda: gc.random_uniform((2,), dtype="bogus", name="r"), gc.DTypeError),  # was numpy's TypeError
    ],
)
def test_a_shape_or_dtype_a_random_op_refuses_names_the_node_and_line(graph, make, error):
    with pytest.raises(
        error, match=r"^node 'r' \(Random(Uniform|Normal)\) created at .*test_random.py:\d+: "
    ):
        make()


def test_negative_run_time_dim_is_a_run_error_naming_the_node(graph):
    n = gc.placeholder("int64", (), name="n")
    r = gc.random_uniform((n,))
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"random_uniform.*test_random.py.*negative"):
        sess.run(r, {n: -2})


def test_bad_distribution_parameters_are_value_errors(graph):
    with pytest.raises(ValueError, match="minval <= maxval"):
        gc.random_uniform((2,), minval=1.0, maxval=0.0)
    with pytest.raises(ValueError, match="stddev >= 0"):
        gc.random_normal((2,), stddev=-1.0)


# --- gradients -------------------------------------------------------------------------------------


def test_random_ops_have_no_gradient_and_a_draw_acts_as_a_constant(graph):
    from graphc.ir.op import has_gradient_rule
    from graphc.ops.random import RandomNormal, RandomUniform

    assert not has_gradient_rule(RandomUniform) and not has_gradient_rule(RandomNormal)
    assert "random" in RandomNormal.vjp.not_differentiable
    x = gc.placeholder("float64", (3,), name="x")
    z = gc.random_normal((3,), mean=1.0, dtype="float64", seed=1)
    dx = gc.grad(gc.reduce_sum(x * z), x)
    with gc.Session() as sess:
        got, draw = sess.run([dx, z], {x: np.ones(3)})  # one run: the gradient sees the same draw
    np.testing.assert_array_equal(got, draw)


@pytest.mark.parametrize(("low", "high", "dtype"), [(-3e38, 3e38, "float32"), (-1.7e308, 1.7e308, "float64")])
def test_uniform_numbers_spread_over_a_span_wider_than_the_dtype(graph, low, high, dtype):
    r = gc.random_uniform((1000,), minval=low, maxval=high, dtype=dtype, seed=1)
    with gc.Session(device="reference") as sess:
        values = sess.run(r)
    assert np.isfinite(values).all() and values.min() < low / 2 and values.max() > high / 2


def test_a_float_seed_is_refused_rather_than_truncated(graph):
    with pytest.raises(TypeError, match="seed must be an int"):
        gc.random_uniform((2,), seed=1.7)  # was seed 1, the numbers of seed=1.2
    with pytest.raises(TypeError, match="integer"):
        gc.set_random_seed(1.7)


def test_random_parameters_the_dtype_cannot_hold_are_refused(graph):
    with pytest.raises(ValueError, match="minval=-1e\\+39 is not a finite float32"):
        gc.random_uniform((3,), minval=-1e39, maxval=1e39)
    with pytest.raises(ValueError, match="mean=1e\\+39"):
        gc.random_normal((3,), mean=1e39)


_F32 = np.dtype("float32")


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (gc.ir.OPS["RandomUniform"]((3,), _F32, 5.0, 1.0, (1, 2)), "minval <= maxval"),
        (gc.ir.OPS["RandomUniform"]((3,), _F32, float("nan"), 1.0), "minval=nan is not a finite float32"),
        (gc.ir.OPS["RandomNormal"]((3,), _F32, 0.0, -1.0), "stddev >= 0"),
        (gc.ir.OPS["RandomNormal"]((3,), _F32, 0.0, float("inf")), "stddev=inf is not a finite float32"),
        (gc.ir.OPS["RandomUniform"]((3,), np.dtype("int32")), "float32 or float64"),
        (gc.ir.OPS["RandomUniform"]((2.5,), _F32), r"invalid shape \(2.5,\)"),
        (gc.ir.OPS["RandomNormal"]((3,), _F32, seed=(1,)), "seed must be None or a pair of ints"),
    ],
    ids=["min-above-max", "nan-bound", "negative-stddev", "inf-stddev", "int-dtype", "float-dim", "one-seed"],
)
def test_a_random_op_made_without_the_user_function_checks_its_attributes(graph, op, message):
    # gc.apply and loaded files build the op from its attributes alone: minval 5 > maxval 1 drew from
    # [1, 5), NaN bounds and stddevs drew NaN, a negative stddev reflected numbers, silently; the rest
    # failed only when run, with numpy's errors
    with pytest.raises(gc.GraphcError, match=rf"node 'r' \({op.type_name}\).*{message}"):
        gc.apply(op, [], name="r")
