"""Run plans (runtime/cpu/plan.py): buffers reused across runs, and never while someone still holds them."""

import sys
import threading

import numpy as np
import pytest
from numba.core import types

import graphc as gc
from graphc.runtime.cpu.plan import POOL_SIZE, OutputPool


def _backend(fn):
    return fn.executable.backend


def test_a_plan_is_made_once_per_input_shape_signature(graph):
    x = gc.placeholder("float32", (None, 4), name="x")
    f = gc.function([x], gc.tanh(x * 2.0) + 1.0)
    f(np.ones((3, 4), np.float32))
    plan = _backend(f).plan(((3, 4),))
    f(np.ones((3, 4), np.float32))
    assert _backend(f).plan(((3, 4),)) is plan
    f(np.ones((5, 4), np.float32))
    assert _backend(f).plan(((5, 4),)) is not plan


def test_a_new_batch_size_gives_the_same_numbers_as_the_reference(graph):
    x = gc.placeholder("float32", (None, 6), name="x")
    w = gc.Variable(np.arange(12, dtype=np.float32).reshape(6, 2) / 10, name="w")
    y = gc.reduce_sum(gc.relu(gc.matmul(x, w) - 1.0), axis=0)
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    for n in (1, 7, 3, 7):
        a = np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)


def test_intermediates_live_in_the_same_arena_across_runs(graph):
    x = gc.placeholder("float32", (8, 8), name="x")
    h = gc.matmul(x, x)  # not elementwise: stays its own node, its output an arena intermediate
    f = gc.function([x], gc.reduce_sum(gc.exp(h)))
    f(np.eye(8, dtype=np.float32))
    plan = _backend(f).plan(((8, 8),))
    arena = [p for p in plan.placement.values() if isinstance(p, np.ndarray)]
    assert arena and plan.arena_bytes > 0
    before = [a.__array_interface__["data"][0] for a in arena]
    f(np.eye(8, dtype=np.float32) * 2)
    assert [a.__array_interface__["data"][0] for a in arena] == before


def test_a_fetched_array_the_user_keeps_is_not_overwritten_by_the_next_run(graph):
    x = gc.placeholder("float32", (4,), name="x")
    f = gc.function([x], gc.exp(x) * 2.0)
    first = f(np.zeros(4, np.float32))
    second = f(np.ones(4, np.float32))
    np.testing.assert_allclose(first, 2.0)
    np.testing.assert_allclose(second, 2 * np.e, rtol=1e-6)


def test_a_fetched_view_of_an_intermediate_survives_the_next_run(graph):
    x = gc.placeholder("float32", (2, 3), name="x")
    h = gc.matmul(x, gc.constant(np.eye(3, dtype=np.float32)))
    f = gc.function([x], gc.transpose(h))  # numpy's transpose returns a view of h's storage
    first = f(np.ones((2, 3), np.float32))
    f(np.full((2, 3), 5.0, np.float32))
    np.testing.assert_array_equal(first, np.ones((3, 2)))


def test_variable_updates_are_double_buffered_not_reallocated(graph):
    w = gc.Variable(np.zeros(1000, np.float32), name="w")
    x = gc.placeholder("float32", (1000,), name="x")
    f = gc.function([x], gc.reduce_sum(w), updates=[(w, w * 0.5 + x)])
    for _ in range(10):
        f(np.ones(1000, np.float32))
    pools = [p for p in _backend(f).plan(((1000,),)).placement.values() if isinstance(p, OutputPool)]
    assert pools and all(len(p.arrays) <= POOL_SIZE for p in pools)
    np.testing.assert_allclose(f.session.run(w), 2 - 0.5**9, rtol=1e-6)


def test_a_failed_run_leaves_variables_and_later_runs_intact(graph):
    w = gc.Variable(np.ones(3, np.float32), name="w")
    idx = gc.placeholder("int64", (None,), name="idx")
    picked = gc.take(gc.constant(np.arange(3, dtype=np.float32)), idx)
    f = gc.function([idx], gc.reduce_sum(picked), updates=[(w, w * 2.0)])
    f(np.array([0]))
    with pytest.raises(gc.RunError):
        f(np.array([7]))
    np.testing.assert_array_equal(f.session.run(w), [2, 2, 2])
    f(np.array([1]))
    np.testing.assert_array_equal(f.session.run(w), [4, 4, 4])


def test_threads_running_one_function_at_once_get_their_own_results(graph):
    x = gc.placeholder("float32", (64, 64), name="x")
    f = gc.function([x], gc.reduce_sum(gc.tanh(gc.matmul(x, x)), axis=1))
    inputs = [np.full((64, 64), k / 640, np.float32) for k in range(8)]
    expected = [np.tanh(a @ a).sum(axis=1) for a in inputs]
    errors = []

    def worker(k):
        for _ in range(30):
            got = f(inputs[k])
            if not np.allclose(got, expected[k], rtol=1e-4):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_output_pool_reuses_only_arrays_nobody_else_holds():
    pool = OutputPool((3,), np.dtype(np.float32))
    a = pool.get()
    b = pool.get()  # a is still held here
    assert b is not a
    del a
    c = pool.get()
    assert c is not b and len(pool.arrays) == 2


def _mlp_inference():
    x = gc.placeholder("float32", (None, 6), name="x")
    w1 = gc.Variable(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4), name="w1")
    w2 = gc.Variable(np.linspace(1, -1, 8, dtype=np.float32).reshape(4, 2), name="w2")
    b = gc.Variable(np.array([0.5, -0.5], np.float32), name="b")
    return x, gc.matmul(gc.relu(gc.matmul(x, w1)), w2) + b


def _segment_sources(fn) -> list[str]:
    plan = next(p for p in _backend(fn)._plans.values() if p is not None)
    return [
        v.py_func.__module__
        for k, v in plan.driver.__globals__.items()
        if k.startswith("g") and hasattr(v, "py_func")
    ]


def test_consecutive_numba_kernels_run_as_one_segment_with_the_reference_numbers(graph):
    x, y = _mlp_inference()
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    a = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
    assert len(_segment_sources(cpu)) == 1


def test_a_new_batch_size_reuses_the_segment_it_compiled(graph):
    x, y = _mlp_inference()
    f = gc.function([x], y)
    f(np.ones((3, 6), np.float32))
    first = _segment_sources(f)
    _backend(f)._plans.clear()
    f(np.ones((9, 6), np.float32))
    assert _segment_sources(f) == first  # the same content-named module: nothing new to compile


def test_a_non_contiguous_feed_runs_the_steps_one_by_one_with_the_same_numbers(graph):
    x, y = _mlp_inference()
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    a = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32).T  # F-ordered view
    b = np.random.default_rng(2).standard_normal((5, 12)).astype(np.float32)[:, ::2]  # strided
    np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
    np.testing.assert_allclose(cpu(b), ref(b), rtol=1e-5)


def test_feeds_of_other_layouts_after_the_segment_entry_point_was_taken_give_the_same_numbers(graph):
    x, y = _mlp_inference()
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    rng = np.random.default_rng(3)
    c = rng.standard_normal((5, 6)).astype(np.float32)
    f = np.asfortranarray(rng.standard_normal((5, 6)).astype(np.float32))
    strided = rng.standard_normal((5, 12)).astype(np.float32)[:, ::2]
    for a in (c, c, f, strided, c, f):  # the second C call runs the entry point the first one found
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
    plan = next(p for p in _backend(cpu)._plans.values() if p is not None)
    assert any(
        k.startswith("entry") and not hasattr(v, "py_func") for k, v in plan.driver.__globals__.items()
    )


def test_variable_values_are_kept_c_contiguous(graph):
    w = gc.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    x = gc.placeholder("float32", (3, 2), name="x")
    swap = gc.function([x], [], updates=[(w, gc.transpose(x))])  # numpy's transpose: an F-ordered view
    swap(np.arange(6, dtype=np.float32).reshape(3, 2))
    y = gc.function([], gc.matmul(w, gc.constant(np.eye(3, dtype=np.float32))) * 2.0)
    np.testing.assert_array_equal(y(), np.arange(6).reshape(3, 2).T * 2)
    assert swap.session._values["w"].flags.c_contiguous


def test_a_scalar_made_inside_a_segment_is_read_after_it_is_written(graph):
    # a GEMM, then t + 1 and 1 - 0.9 ** (t + 1) (one scalar kernel), then y * that: one segment whose
    # last kernel reads as a scalar what the one before it wrote in the same call
    x = gc.placeholder("float32", (1, 4), name="x")
    y = gc.matmul(x, gc.constant(np.eye(4, dtype=np.float32)))
    t = gc.Variable(np.float32(0.0), name="t")
    t1 = t + 1.0
    scale = 1.0 - gc.power(gc.constant(np.float32(0.9)), t1)
    cpu = gc.function([x], y * scale, updates=[(t, t1)], session=gc.Session())
    ref = gc.function([x], y * scale, updates=[(t, t1)], session=gc.Session(device="reference"))
    a = np.arange(4, dtype=np.float32).reshape(1, 4)
    for _ in range(3):
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-6)
    (segment,) = [s for name, s in cpu.executable.sources().items() if name.startswith("__plan_1x4__g")]
    assert segment.count(" f") >= 3  # the three kernels are in it


@pytest.mark.parametrize("reduce", [lambda v: gc.reduce_sum(v, axis=0), lambda v: gc.reduce_mean(v)])
def test_a_fused_reduction_runs_inside_a_segment_for_every_batch_size(graph, reduce):
    x = gc.placeholder("float32", (None, 6), name="x")
    w = gc.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(6, 2), name="w")
    y = reduce(gc.relu(gc.matmul(x, w)) * 3.0)
    cpu = gc.function([x], y)
    ref = gc.function([x], y, device="reference")
    sources = []
    for n in (3, 7):
        a = np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
        (segment,) = [s for k, s in cpu.executable.sources().items() if k.startswith(f"__plan_{n}x6__g")]
        sources.append(segment)
    assert sources[0] == sources[1]  # one source: the second batch size compiled nothing


def test_a_fused_column_sum_inside_a_segment_over_many_rows_adds_in_float64(graph):
    # 3000 rows: the column loop moves its float32 blocks into float64 sums, in scratch the plan
    # passes to the segment (a running float32 sum of 3000 values near 2 is ~1e-4 off)
    x = gc.placeholder("float32", (None, 6), name="x")
    w = gc.Variable(np.full((6, 2), 0.25, np.float32), name="w")
    y = gc.reduce_sum(gc.relu(gc.matmul(x, w)) * 3.0, axis=0)
    cpu = gc.function([x], y)
    a = np.random.default_rng(3).uniform(0.5, 2.0, (3000, 6)).astype(np.float32)
    want = np.sum(np.maximum(a.astype(np.float64) @ np.full((6, 2), 0.25), 0) * 3.0, axis=0)
    for _ in range(2):  # the second run reuses the scratch
        np.testing.assert_allclose(cpu(a), want, rtol=1e-6)
    (segment,) = [s for k, s in cpu.executable.sources().items() if k.startswith("__plan_3000x6__g")]
    calls = [line.strip() for line in segment.splitlines() if line.startswith("    f")]
    assert len(calls) == 2 and calls[1].endswith(", a5)")  # the column sum, its scratch the last argument


def test_a_new_length_of_an_unknown_last_axis_compiles_no_new_segment(graph):
    # softmax rows, a trailing sum, a row input of that length and column sums over it: every loop
    # bound is read from the arrays' shapes, so the segments' sources do not change with the length
    x = gc.placeholder("float32", (None, None), name="x")
    b = gc.placeholder("float32", (None,), name="b")
    h = gc.softmax(x * 2.0) * 3.0 + gc.relu(x + b)
    y = [gc.reduce_sum(h, axis=1), gc.reduce_mean(h * b, axis=0), gc.reduce_sum(gc.exp(x) * b)]
    cpu = gc.function([x, b], y)
    ref = gc.function([x, b], y, device="reference")
    segments = []
    for length in (5, 9):
        rng = np.random.default_rng(length)
        a, row = rng.standard_normal((4, length), np.float32), rng.standard_normal(length, np.float32)
        for got, want in zip(cpu(a, row), ref(a, row), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        plan = f"__plan_4x{length}_{length}__g"
        segments.append(sorted(s for k, s in cpu.executable.sources().items() if k.startswith(plan)))
    assert segments[0] and segments[0] == segments[1]


def _pair_lines(fn) -> list[str]:
    plan = next(p for p in _backend(fn)._plans.values() if p is not None)
    return [line for line in plan.source.splitlines() if "pair(" in line]


def test_the_gradients_of_a_convolution_run_as_a_pair_with_the_reference_numbers(graph):
    rng = np.random.default_rng(5)
    x = gc.placeholder("float32", (None, 16, 16, 16), name="x")
    w = gc.Variable(rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1, name="w")
    loss = gc.reduce_sum(gc.relu(gc.conv2d(x, w, padding=1)) ** 2)
    gx, gw = gc.grad(loss, [x, w])
    cpu, ref = gc.function([x], [gx, gw]), gc.function([x], [gx, gw], device="reference")
    a = rng.standard_normal((8, 16, 16, 16)).astype(np.float32)
    for got, want in zip(cpu(a), ref(a), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    if gc.runtime.cpu.threads.pairs_possible():
        assert len(_pair_lines(cpu)) == 1


def _products(shared_input: bool):
    """Two independent 64x512x512 products in a program that runs kernels on the pool (a conv), so
    that they are GEMMs held to one BLAS thread, the kind a plan runs as a pair."""
    rng = np.random.default_rng(6)
    x = gc.placeholder("float32", (64, 512), name="x")
    img = gc.placeholder("float32", (2, 1, 8, 8), name="img")
    w1 = gc.Variable(rng.standard_normal((512, 512)).astype(np.float32) * 0.05, name="w1")
    w2 = gc.Variable(rng.standard_normal((512, 512)).astype(np.float32) * 0.05, name="w2")
    k = gc.Variable(np.ones((1, 1, 3, 3), np.float32), name="k")
    t = gc.tanh(x)
    u = t if shared_input else gc.exp(x * 0.1)
    a, b = gc.matmul(t, w1), gc.matmul(u, w2)
    outs = [gc.relu(a) + b * 2.0, gc.reduce_sum(gc.conv2d(img, k))]
    cpu, ref = gc.function([x, img], outs), gc.function([x, img], outs, device="reference")
    feeds = rng.standard_normal((64, 512)).astype(np.float32), np.ones((2, 1, 8, 8), np.float32)
    for _ in range(2):
        for got, want in zip(cpu(*feeds), ref(*feeds), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    return cpu


def test_independent_large_products_run_as_a_pair_with_the_reference_numbers(graph):
    cpu = _products(shared_input=True)
    if gc.runtime.cpu.threads.pairs_possible():
        assert len(_pair_lines(cpu)) == 1


def test_a_product_never_runs_beside_one_whose_output_takes_the_buffer_it_reads(graph):
    # tanh(x) is read last by the first product: plan_memory gives its buffer to the second's output
    cpu = _products(shared_input=False)
    assert _pair_lines(cpu) == []


def test_a_product_never_runs_beside_one_whose_output_takes_the_buffer_it_writes(graph):
    # the first product is only a control input: its output, read by nobody, dies where it is made,
    # and plan_memory gives its buffer to the second's output (tanh(x) and tanh(y) are read later);
    # run at once, both GEMMs wrote one buffer (at 320x320x320: sums off by up to 1.3e4 in some runs)
    rng = np.random.default_rng(8)
    x = gc.placeholder("float32", (64, 512), name="x")
    y = gc.placeholder("float32", (64, 512), name="y")
    img = gc.placeholder("float32", (2, 1, 8, 8), name="img")
    w1 = gc.Variable(rng.standard_normal((512, 512)).astype(np.float32) * 0.05, name="w1")
    w2 = gc.Variable(rng.standard_normal((512, 512)).astype(np.float32) * 0.05, name="w2")
    k = gc.Variable(np.ones((1, 1, 3, 3), np.float32), name="k")
    t, u = gc.tanh(x * 0.5), gc.tanh(y * 0.5)
    a, b = gc.matmul(t, w1), gc.matmul(u, w2)
    with gc.control_dependencies([a]):
        total = gc.reduce_sum(b * 2.0 + t + u, axis=0)
    outs = [total, gc.reduce_sum(gc.conv2d(img, k))]
    cpu, ref = gc.function([x, y, img], outs), gc.function([x, y, img], outs, device="reference")
    feeds = (
        np.full((64, 512), 3.0, np.float32),
        rng.standard_normal((64, 512)).astype(np.float32),
        np.ones((2, 1, 8, 8), np.float32),
    )
    for _ in range(3):
        for got, want in zip(cpu(*feeds), ref(*feeds), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert _pair_lines(cpu) == []


def test_a_constant_of_another_layout_in_a_segment_gives_the_reference_numbers(graph):
    x = gc.placeholder("float32", (5, 6), name="x")
    w = gc.Variable(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4), name="w")
    c = gc.constant(np.asfortranarray(np.arange(20, dtype=np.float32).reshape(5, 4)))
    y = gc.relu(gc.matmul(x, w) + c) * 2.0
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    a = np.random.default_rng(7).standard_normal((5, 6)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)


def test_the_plan_in_use_is_kept_when_new_shapes_crowd_the_executable(graph):
    from graphc.runtime.cpu.executable import MAX_PLANS
    from graphc.runtime.state import RunState

    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([gc.tanh(x) * 2.0 + 1.0], [x])
    plans = exe.backend._plans
    exe.run([np.ones(5, np.float32)], RunState(graph, {}, {}, 0))
    hot = plans[((5,),)]
    for n in range(100, 100 + 3 * MAX_PLANS):
        exe.run([np.ones(5, np.float32)], RunState(graph, {}, {}, 0))
        exe.run([np.ones(n, np.float32)], RunState(graph, {}, {}, 0))
    assert plans[((5,),)] is hot and len(plans) == MAX_PLANS


def _plans_alive_after_batch_sizes(run, backend) -> int:
    """Run 2 * MAX_PLANS batch sizes twice each (the second call takes the direct path); the number of
    run plans still alive afterwards."""
    import gc as python_gc
    import weakref

    from graphc.runtime.cpu.executable import MAX_PLANS

    plans = []
    for n in range(1, 2 * MAX_PLANS + 1):
        for _ in range(2):
            run(np.ones(n, np.float32))
        plans.append(weakref.ref(backend()._plans[((n,),)]))
    python_gc.collect()
    return sum(p() is not None for p in plans)


def test_a_plan_the_executable_drops_is_freed_though_a_functions_direct_path_ran_it(graph):
    from graphc.runtime.cpu.executable import MAX_PLANS

    x = gc.placeholder("float32", (None,), name="x")
    f = gc.function([x], gc.tanh(x) * 2.0 + 1.0)
    assert _plans_alive_after_batch_sizes(f, lambda: _backend(f)) == MAX_PLANS


def test_a_plan_the_executable_drops_is_freed_though_session_runs_direct_path_ran_it(graph):
    from graphc.runtime.cpu.executable import MAX_PLANS

    x = gc.placeholder("float32", (None,), name="x")
    y = gc.tanh(x) * 2.0 + 1.0
    with gc.Session() as sess:

        def backend():
            ((exe, _, _),) = sess._cache.values()
            return exe.backend

        assert _plans_alive_after_batch_sizes(lambda a: sess.run(y, {x: a}), backend) == MAX_PLANS


def test_errors_of_runs_in_several_threads_name_each_runs_own_node(graph):
    from graphc.runtime.cpu.plan import StepOfThread

    x = gc.placeholder("float32", (None,), name="x")
    shared_driver = gc.compile([gc.tanh(x)], [x]).backend._driver  # runs in many threads at once
    assert isinstance(shared_driver.__globals__["step"], StepOfThread)
    step, seen = StepOfThread(), []
    step[0] = 1

    def other():
        step[0] = 2
        seen.append(step[0])

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert step[0] == 1 and seen == [2]


def test_an_arena_too_large_to_allocate_names_a_node(graph):
    # 2**64 floats: numpy refuses the arena buffer at once ("Maximum allowed dimension exceeded", which
    # named nothing); the run names the node, as the reference device does
    x = gc.placeholder("float32", (1,), name="x")
    y = gc.broadcast_to(x, (2**32, 2**32)) * 2.0
    with pytest.raises(gc.RunError, match=r"node '.*' \(\w+\) created at .*test_plan.py"):
        gc.function([x], y, device="cpu")(np.ones(1, np.float32))


def test_an_arena_too_large_for_a_fused_value_names_the_users_node(graph):
    # exp(where(c, a, b)) is fused into 'big_fused' (FusedOp), a node the user never made: the error
    # names the user's node that computes the value. 2**63 floats: numpy refuses the buffer at once
    c = gc.placeholder("bool", (1, 1, None), name="c")
    a = gc.placeholder("float32", (None, 1, 1), name="a")
    b = gc.placeholder("float32", (1, None, 1), name="b")
    z = gc.exp(gc.where(c, a, b), name="big")
    f = gc.function([c, a, b], gc.reduce_sum(gc.matmul(z, z)), device="cpu")  # z lives in the arena
    n = 2**21
    feeds = np.ones((1, 1, n), bool), np.ones((n, 1, 1), np.float32), np.ones((1, n, 1), np.float32)
    with pytest.raises(gc.RunError, match=r"node 'big' \(Exp\) created at .*test_plan.py.*its value of f32"):
        f(*feeds)


def test_a_child_forked_while_another_thread_runs_an_executable_runs_its_plans(graph):
    import os
    import time

    x = gc.placeholder("float32", (None, 4), name="x")
    f = gc.function([x], gc.tanh(x) * 2.0 + 1.0)
    a = np.ones((3, 4), np.float32)
    f(a)
    f(a)
    token = _backend(f)._free.pop()  # as a run in another thread holds it
    try:
        pid = os.fork()
        if pid == 0:
            try:
                general = []
                execute = f.session._execute
                f.session._execute = lambda *args: general.append(1) or execute(*args)
                f(a)  # the direct path: the plan's driver, without the session
                os._exit(0 if not general else 1)
            except BaseException:  # noqa: BLE001 - any failure is the child's status
                os._exit(2)
        deadline, status = time.monotonic() + 10, None
        while status is None and time.monotonic() < deadline:
            finished, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if finished else None
            time.sleep(0.02)
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        _backend(f)._free.append(token)
    assert status == 0


def test_a_long_run_of_kernels_is_cut_into_segments_of_at_most_max_segment_calls(graph, monkeypatch):
    # Numba's compile of one segment grows faster than its length: 100 updates in one segment took
    # 9.6 s to compile, in segments of 16 about half
    from graphc.runtime.cpu import plan as plan_module

    monkeypatch.setattr(plan_module, "MAX_SEGMENT_CALLS", 3)
    vs = [gc.Variable(np.float32(i), name=f"v{i}") for i in range(8)]
    f = gc.function([], [], updates=[(v, v * 2.0 + 1.0) for v in vs])
    f()
    f()
    sources = _backend(f).plan(()).segment_sources.values()
    calls = sorted(sum(line.startswith("    f") for line in s.splitlines()) for s in sources)
    assert calls == [2, 3, 3], calls
    np.testing.assert_array_equal(gc.function([], vs)(), [(i * 2 + 1) * 2 + 1 for i in range(8)])


def test_a_kernel_called_with_a_constant_inside_a_segment_is_compiled_once(graph):
    # a bare integer in a segment's call is typed Literal[int](4) there, and Numba compiled the kernel
    # a second time for it, 0.1-0.3 s each, beside the int64 version Python's calls use
    x = gc.placeholder("float32", (None, 6), name="x")
    w = gc.Variable(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4), name="w")
    b = gc.Variable(np.full(4, 0.5, np.float32), name="b")
    loss = gc.reduce_mean(gc.relu(gc.matmul(x, w) + b))
    gw, gb = gc.grad(loss, [w, b])
    f = gc.function([x], loss, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    f(np.ones((4, 6), np.float32))
    kernels = []
    for source in _backend(f).plan(((4, 6),)).segment_sources.values():
        for line in source.splitlines():
            if line.startswith("from graphc_k_"):
                module, name = line.split()[1], line.split()[3]
                kernels.append(getattr(sys.modules[module], name))
    assert kernels
    literal = [s for k in kernels for s in k.signatures if any(isinstance(t, types.Literal) for t in s)]
    assert literal == []


def test_segments_of_the_same_kernels_share_one_generated_source(graph, monkeypatch):
    # each segment named its parameters after the plan's buffers (v675), so a block of layers repeated
    # 500 times made 157 distinct segment sources, each compiled cold: 127 s for a 1500-op graph
    from graphc.runtime.cpu import plan as plan_module

    monkeypatch.setattr(plan_module, "MAX_SEGMENT_CALLS", 2)
    x = gc.placeholder("float32", (2, 3), name="x")
    w = gc.constant(np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3))
    y = x
    for _ in range(6):
        y = gc.softmax(gc.matmul(y, w))
    cpu, ref = gc.function([x], y), gc.function([x], y, device="reference")
    a = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
    sources = list(_backend(cpu).plan(((2, 3),)).segment_sources.values())
    assert len(sources) == 6 and len(set(sources)) == 1, len(set(sources))
