"""Numba kernels for take, its scatter-add gradient and one_hot (runtime/cpu/indexing.py)."""

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu.registry import cpu_kernel


def _both(inputs, outputs):
    return gc.function(inputs, outputs), gc.function(inputs, outputs, device="reference")


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_take_along_any_axis_with_negative_and_repeated_indices(graph, axis):
    x = gc.placeholder("float32", (4, 5, 6), name="x")
    idx = gc.placeholder("int64", (2, 3), name="idx")
    cpu, ref = _both([x, idx], gc.take(x, idx, axis=axis))
    a = np.random.default_rng(0).standard_normal((4, 5, 6)).astype(np.float32)
    i = np.array([[0, -1, 2], [2, 2, -4]])
    np.testing.assert_array_equal(cpu(a, i), ref(a, i))
    assert cpu_kernel.build(cpu.executable.schedule[-1]).name == "loop[Take]"


@pytest.mark.parametrize("axis", [0, 1])
def test_take_gradient_adds_repeated_indices_like_add_at(graph, axis):
    x = gc.placeholder("float64", (6, 7), name="x")
    idx = gc.placeholder("int64", (9,), name="idx")
    y = gc.take(x, idx, axis=axis)
    weights = gc.constant(
        np.arange(np.prod((9, 7) if axis == 0 else (6, 9)), dtype=np.float64).reshape(
            (9, 7) if axis == 0 else (6, 9)
        )
    )
    (gx,) = gc.grad(gc.reduce_sum(y * weights), [x])
    cpu, ref = _both([x, idx], gx)
    i = np.array([0, 1, 1, 5, -1, 3, 3, 3, 0])
    a = np.ones((6, 7))
    np.testing.assert_array_equal(cpu(a, i), ref(a, i))
    names = [k.name for k in cpu.executable.backend.kernels.values()]
    assert "loop[TakeGrad]" in names


def test_take_with_an_index_out_of_range_is_a_run_error_naming_the_node(graph):
    x = gc.placeholder("float32", (3, 2), name="x")
    idx = gc.placeholder("int64", (None,), name="idx")
    f = gc.function([x, idx], gc.take(x, idx, name="gather"))
    with pytest.raises(gc.RunError, match="gather"):
        f(np.zeros((3, 2), np.float32), np.array([1, 3]))


def test_one_hot_rows_with_indices_out_of_range_all_off(graph):
    labels = gc.placeholder("int32", (None,), name="labels")
    cpu, ref = _both([labels], gc.one_hot(labels, 5, on_value=2.0, off_value=-1.0))
    i = np.array([0, 4, 5, -1, 2], np.int32)
    np.testing.assert_array_equal(cpu(i), ref(i))
    assert cpu_kernel.build(cpu.executable.schedule[-1]).name == "loop[OneHot]"


def test_a_large_gather_and_scatter_match_the_reference(graph):
    table = gc.placeholder("float32", (1000, 32), name="table")
    idx = gc.placeholder("int64", (None,), name="idx")
    (g,) = gc.grad(gc.reduce_sum(gc.take(table, idx) ** 2), [table])
    cpu, ref = _both([table, idx], g)
    rng = np.random.default_rng(1)
    t = rng.standard_normal((1000, 32)).astype(np.float32)
    i = rng.integers(-1000, 1000, 5000)
    np.testing.assert_allclose(cpu(t, i), ref(t, i), rtol=1e-5, atol=1e-5)


def test_a_scatter_along_a_middle_axis_adds_in_the_order_of_the_reference(graph):
    # float32 terms summed in float64 in index order, as numpy's add.at on the reference: equal bits,
    # with rows hit many times, once, or never, and negative indices naming the same rows
    g = gc.placeholder("float32", (3, None, 4), name="g")
    idx = gc.placeholder("int64", (None,), name="idx")
    like = gc.placeholder("float32", (3, 50, 4), name="like")
    from graphc.ops.indexing_grad import TakeGrad

    cpu, ref = _both([g, idx, like], gc.apply(TakeGrad(1), [g, idx, like]))
    rng = np.random.default_rng(2)
    i = np.concatenate([rng.integers(-50, 50, 3000), np.full(500, 7), np.full(500, -43)])
    values = (rng.standard_normal((3, i.size, 4)) * 10.0 ** rng.integers(-3, 4, (3, i.size, 4))).astype(
        np.float32
    )
    table = np.zeros((3, 50, 4), np.float32)
    np.testing.assert_array_equal(cpu(values, i, table), ref(values, i, table))


def test_one_hot_of_depth_zero_is_an_empty_array_as_on_the_reference(graph):
    labels = gc.placeholder("int64", (None,), name="labels")
    cpu, ref = _both([labels], gc.one_hot(labels, 0))
    i = np.array([0, 1, -1])
    np.testing.assert_array_equal(cpu(i), ref(i))
    assert cpu(i).shape == (3, 0)


@pytest.mark.parametrize("on, off", [(0.0, -np.inf), (np.inf, 0.0), (np.nan, 1.0)])
def test_one_hot_with_non_finite_values_runs_inside_a_segment(graph, on, off):
    labels = gc.placeholder("int64", (None,), name="labels")
    logits = gc.placeholder("float32", (None, 4), name="logits")
    # the add after the one_hot makes the two kernels one segment, whose source spells on and off
    cpu, ref = _both([labels, logits], gc.one_hot(labels, 4, on_value=on, off_value=off) + logits)
    i, z = np.array([1, 5, -1, 3]), np.ones((4, 4), np.float32)
    np.testing.assert_array_equal(cpu(i, z), ref(i, z))


def test_take_gradient_of_another_shape_is_an_error_as_in_the_reference(graph):
    # a (2, 3) gradient for 3 indices into (3, 2) rows has the right size: it was scattered as if
    # reshaped to (3, 2) instead of failing
    from graphc.ops.indexing_grad import TakeGrad

    g = gc.placeholder("float32", (None, None), name="g")
    idx = gc.placeholder("int64", (None,), name="idx")
    like = gc.placeholder("float32", (None, None), name="like")
    cpu, ref = _both([g, idx, like], gc.apply(TakeGrad(0), [g, idx, like]))
    args = (np.ones((2, 3), np.float32), np.array([0, 1, 2]), np.zeros((3, 2), np.float32))
    for f in (ref, cpu):
        with pytest.raises(gc.RunError, match="take_grad"):
            f(*args)
