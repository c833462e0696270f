"""Generated elementwise loops (runtime/cpu/elementwise.py): the flat, broadcast and parallel shapes."""

import os
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import cache, elementwise


def _both(inputs, build):
    cpu = gc.function(inputs, build(*inputs))
    ref = gc.function(inputs, build(*inputs), device="reference")
    return cpu, ref


@pytest.mark.parametrize("shape", [(7, 5), (1, 9), (3, 1), (1, 1), (1000,)])
def test_parallel_loops_split_rows_or_elements_with_the_reference_numbers(graph, monkeypatch, shape):
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)  # every loop takes the parallel variant
    x = gc.placeholder("float32", (None, *shape[1:]), name="x")
    bias = gc.Variable(np.linspace(-1, 1, shape[-1], dtype=np.float32), name="bias")
    cpu, ref = _both([x], lambda x: [gc.relu(x * 2.0 + bias), gc.exp(x) - x])
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for got, want in zip(cpu(a), ref(a), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_loop_over_more_than_the_threshold_takes_the_parallel_variant(graph, monkeypatch):
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 64)
    x = gc.placeholder("float32", (None,), name="x")
    f = gc.function([x], gc.tanh(x) * 3.0)
    f(np.ones(100, np.float32))
    f(np.ones(10, np.float32))
    loops = {
        shapes: [
            type(c.cell_contents).__name__
            for s in plan.steps.values()
            for name, c in zip(s.__code__.co_freevars, s.__closure__, strict=True)
            if name == "flat"
        ]
        for shapes, plan in f.executable.backend._plans.items()
    }
    assert loops[((100,),)] == ["SplitLoop"] and loops[((10,),)] == ["CPUDispatcher"]


def test_flat_loops_vectorize_over_the_whole_size_when_no_input_is_a_row(graph):
    x = gc.placeholder("float32", (4, 8), name="x")
    f = gc.function([x], gc.sqrt(gc.abs(x)) + 1.0)
    f(np.ones((4, 8), np.float32))
    (step,) = next(iter(f.executable.backend._plans.values())).steps.values()
    cells = dict(zip(step.__code__.co_freevars, step.__closure__, strict=True))
    # one row of 32: the inner loop is the one LLVM vectorizes
    assert (cells["rows"].cell_contents, cells["cols"].cell_contents) == (1, 32)


def _fused_kernel_names(fn) -> list[str]:
    return [k.name for k in fn.executable.backend.kernels.values()]


@pytest.mark.parametrize(
    ("reduce", "kind"),
    [
        (lambda v: gc.reduce_sum(v, axis=0), "cols"),
        (lambda v: gc.reduce_mean(v, axis=0), "cols"),
        (lambda v: gc.reduce_sum(v, axis=1), "rows"),
        (lambda v: gc.reduce_mean(v, axis=1, keepdims=True), "rows"),
        (lambda v: gc.reduce_sum(v), "all"),
        (lambda v: gc.reduce_mean(v), "all"),
    ],
)
def test_a_fused_sum_or_mean_is_accumulated_in_the_loop_with_the_reference_numbers(graph, reduce, kind):
    h = gc.placeholder("float32", (None, 24), name="h")
    g = gc.placeholder("float32", (None, 24), name="g")
    bias = gc.Variable(np.linspace(-1, 1, 24, dtype=np.float32), name="bias")
    cpu, ref = _both([h, g], lambda h, g: reduce(gc.where(h + bias > 0, g, 0.0)))
    assert "loop[FusedOp]" in _fused_kernel_names(cpu)
    rng = np.random.default_rng(3)
    for n in (1, 37, 600):
        a, b = (rng.standard_normal((n, 24)).astype(np.float32) for _ in range(2))
        np.testing.assert_allclose(cpu(a, b), ref(a, b), rtol=1e-5, atol=1e-6)
    plan = next(iter(cpu.executable.backend._plans.values()))
    (step,) = [s for s in plan.steps.values() if "fused" in s.__code__.co_freevars]
    fused = dict(zip(step.__code__.co_freevars, step.__closure__, strict=True))["fused"].cell_contents
    with open(fused[0].py_func.__code__.co_filename) as f:
        source = f.read()
    marker = {"cols": "acc_row[c] +=", "rows": "red[r] =", "all": "red[0] ="}[kind]
    assert marker in source and "o0[i]" not in source  # accumulated: no scratch array written


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1, None], ids=["cols", "rows", "all"])
@pytest.mark.parametrize("reduce", [gc.reduce_sum, gc.reduce_mean], ids=["sum", "mean"])
def test_a_fused_sum_computes_its_body_without_reassociating_it(graph, reduce, axis, dtype):
    # the accumulating loop is compiled with "reassoc" (its sums vectorize), which let LLVM fold the
    # body's (x * 2) * 0.5 to x: finite where numpy's x * 2 overflows to inf (and the sum is inf or NaN)
    x = gc.placeholder(dtype, (None, 4), name="x")
    cpu, ref = _both([x], lambda x: reduce((x * 2.0) * 0.5, axis))
    assert "loop[FusedOp]" in _fused_kernel_names(cpu)
    big = np.finfo(dtype).max / 1.5
    a = np.array([[big, 1.0, -big, 2.0], [3.0, big, 1.0, -1.0], [big, big, 1.0, 1.0]], dtype)
    want = ref(a)
    assert not np.isfinite(want).all()
    np.testing.assert_array_equal(cpu(a), want)


@pytest.mark.parametrize(
    ("shape", "reduce"),
    [
        ((24,), lambda v: gc.reduce_sum(v, axis=0)),
        ((24,), lambda v: gc.reduce_mean(v, axis=0)),
        ((4, 6), lambda v: gc.reduce_sum(v, axis=0)),  # a row of 6 repeated 4 times per kept value
        ((3, 4, 6), lambda v: gc.reduce_sum(v, axis=(0, 1))),
    ],
)
def test_a_big_column_sum_runs_on_every_thread_with_the_reference_numbers(graph, monkeypatch, shape, reduce):
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)
    monkeypatch.setattr(elementwise, "PARALLEL_SUM_ABOVE", 1)
    h = gc.placeholder("float32", (None, *shape), name="h")
    g = gc.placeholder("float32", (None, *shape), name="g")
    bias = gc.Variable(np.linspace(-1, 1, shape[-1], dtype=np.float32), name="bias")
    cpu, ref = _both([h, g], lambda h, g: [reduce(gc.where(h + bias > 0, g, 0.0)), g * 2.0 + h])
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 37, 600):  # fewer rows than threads, uneven ranges, many rows
        a, b = (rng.standard_normal((n, *shape)).astype(np.float32) for _ in range(2))
        for got, want in zip(cpu(a, b), ref(a, b), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if numba.get_num_threads() > 1:
        plan = cpu.executable.backend._plans[((600, *shape), (600, *shape))]
        steps = [s for s in plan.steps.values() if "reduce_fn" in s.__code__.co_freevars]
        calls = [
            dict(zip(s.__code__.co_freevars, s.__closure__, strict=True))["reduce_fn"].cell_contents
            for s in steps
        ]
        assert [type(c).__name__ for c in calls if c is not None] == ["SplitColumnSum"]
        reducing = [s for s, c in zip(steps, calls, strict=True) if c is not None]
        assert not hasattr(reducing[0], "njit")  # a parallel loop stays out of segments


def _split_doubled_column_sum(monkeypatch, width: int):
    """CPU and reference functions of the column sum of h * 2, split over the threads at any size."""
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)
    monkeypatch.setattr(elementwise, "PARALLEL_SUM_ABOVE", 1)
    h = gc.placeholder("float32", (None, width), name="h")
    return _both([h], lambda h: gc.reduce_sum(h * 2.0, axis=0))


@pytest.mark.skipif(numba.get_num_threads() < 2, reason="one thread: the column sum is not split")
def test_a_big_column_sum_overflowing_to_inf_warns_no_more_than_the_reference(graph, monkeypatch):
    # each thread's partial sum is finite and their total is not: numpy's sum of the partials warned
    # "overflow encountered in reduce" (an error under simplefilter("error")) where the reference is quiet
    cpu, ref = _split_doubled_column_sum(monkeypatch, 6)
    a = np.full((600, 6), 4e35, np.float32)  # 300 rows per thread: 2.4e38 each, 4.8e38 in all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, want = cpu(a), ref(a)
    np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(numba.get_num_threads() < 2, reason="one thread: the column sum is not split")
def test_a_big_column_sum_whose_thread_ranges_overflow_float32_matches_the_reference(graph, monkeypatch):
    # column 0 doubled: 300 rows of 2e37, then 300 of -2e37. Each thread's float32 partial sum was inf
    # or -inf and their total NaN, where the reference's float64 sum is 0; column 1's is inf
    cpu, ref = _split_doubled_column_sum(monkeypatch, 3)
    a = np.ones((600, 3), np.float32)
    a[:300, 0], a[300:, 0], a[:, 1] = 1e37, -1e37, 1e37
    want = ref(a)
    np.testing.assert_array_equal(np.isfinite(want), [True, False, True])
    np.testing.assert_array_equal(cpu(a), want)


def test_a_big_column_sum_run_on_more_threads_than_when_bound_matches_the_reference():
    # bound at 2 threads, run at 3: the per-thread partial sums must have a row for every range
    # (a subprocess: Numba's thread count is fixed at its start, and it allows more than the cores)
    code = textwrap.dedent(
        """
        import numba
        import numpy as np
        import graphc as gc
        from graphc.runtime.cpu import elementwise
        elementwise.PARALLEL_ABOVE = elementwise.PARALLEL_SUM_ABOVE = 1
        h = gc.placeholder("float32", (None, 6), name="h")
        y = gc.reduce_sum(gc.exp(h) * 2.0, axis=0)
        cpu, ref = gc.function([h], y), gc.function([h], y, device="reference")
        a = np.random.default_rng(0).standard_normal((600, 6)).astype(np.float32)
        numba.set_num_threads(2)
        cpu(a)
        numba.set_num_threads(3)
        np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)
        """
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "3"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_fused_reduction_with_a_non_contiguous_input_takes_the_scratch_path(graph):
    h = gc.placeholder("float32", (None, 5), name="h")
    cpu, ref = _both([h], lambda h: gc.reduce_sum(gc.exp(h) * 2.0, axis=0))
    a = np.random.default_rng(4).standard_normal((5, 9)).astype(np.float32).T  # F-ordered
    np.testing.assert_allclose(cpu(a), ref(a), rtol=1e-5)


@pytest.mark.parametrize("parallel", [False, True])
def test_a_channel_bias_over_nchw_is_read_once_per_row_with_the_reference_numbers(
    graph, monkeypatch, parallel
):
    if parallel:
        monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)
    x = gc.placeholder("float32", (None, 3, 4, 5), name="x")
    bias = gc.Variable(np.array([-0.5, 0.0, 0.5], np.float32).reshape(3, 1, 1), name="bias")
    cpu, ref = _both(
        [x],
        lambda x: [
            gc.relu(x + bias),
            gc.reduce_sum(gc.tanh(x * bias), axis=0),
            gc.reduce_mean(gc.exp(x - bias), axis=0),
        ],
    )
    for n in (1, 2, 7):
        a = np.random.default_rng(n).standard_normal((n, 3, 4, 5)).astype(np.float32)
        for got, want in zip(cpu(a), ref(a), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    plan = next(iter(cpu.executable.backend._plans.values()))
    patterns = [
        c.cell_contents
        for s in plan.steps.values()
        for name, c in zip(s.__code__.co_freevars, s.__closure__ or (), strict=True)
        if name == "pattern"
    ]
    assert "am" in patterns or "ma" in patterns


def _scale_and_shift(monkeypatch, seed: int):
    """x * scale + shift over NCHW with scale (C, 1, 1) and shift (N, C, 1, 1), every loop parallel:
    whether the CPU's numbers equal the reference's."""
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)
    x = gc.placeholder("float32", (None, 3, 4, 5), name="x")
    scale = gc.placeholder("float32", (3, 1, 1), name="scale")
    shift = gc.placeholder("float32", (None, 3, 1, 1), name="shift")
    cpu, ref = _both([x, scale, shift], lambda x, scale, shift: x * scale + shift)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 1, 1)).astype(np.float32)
    c = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
    np.testing.assert_allclose(cpu(a, b, c), ref(a, b, c), rtol=1e-6)


def test_a_parallel_loop_reads_values_per_row_of_different_lengths_with_the_reference_numbers(
    graph, monkeypatch
):
    # a (C, 1, 1) and an (N, C, 1, 1) value per row: ranges of rows must start where both repeat
    _scale_and_shift(monkeypatch, seed=5)


def test_a_parallel_loop_cuts_a_value_for_every_row_with_its_ranges(graph, monkeypatch):
    # an (N, C, 1, 1) shift has a value for every row: only the (C, 1, 1) scale fixes where ranges start
    counts = []
    split = elementwise.split

    def counting(part, count, *args):
        counts.append(count)
        return split(part, count, *args)

    monkeypatch.setattr(elementwise, "split", counting)
    _scale_and_shift(monkeypatch, seed=6)
    assert counts == [4]  # one range per image, not the whole loop as one


def test_an_input_broadcast_inside_its_dims_takes_the_broadcast_loop(graph):
    x = gc.placeholder("float32", (2, 3, 4), name="x")
    y = gc.placeholder("float32", (2, 1, 4), name="y")
    cpu, ref = _both([x, y], lambda x, y: x * y + 1.0)
    a = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((2, 1, 4)).astype(np.float32)
    np.testing.assert_allclose(cpu(a, b), ref(a, b), rtol=1e-6)


def test_read_pattern_classifies_rows_channel_values_and_scalars():
    shape = (8, 3, 4, 5)
    assert elementwise.read_pattern([shape, (5,)], shape) == ("ar", 5)
    assert elementwise.read_pattern([shape, (3, 1, 1)], shape) == ("am", 20)
    assert elementwise.read_pattern([shape, (1, 3, 4, 1)], shape) == ("am", 5)
    assert elementwise.read_pattern([(), shape], shape) == ("sa", 0)
    assert elementwise.read_pattern([shape, (3, 1, 1), (5,)], shape) == (None, 0)  # rows of 20 and 5
    assert elementwise.read_pattern([shape, (3, 1, 5)], shape) == (None, 0)


def test_the_allocating_path_reads_rows_channel_values_and_strided_inputs(graph):
    from graphc.runtime.cpu.registry import cpu_kernel

    x = gc.placeholder("float32", (2, 3, 4), name="x")
    bias = gc.placeholder("float32", (3, 1), name="bias")
    y = x * bias  # one Multiply node: its kernel's fn, called directly, allocates its output
    fn = cpu_kernel.build(y.node).fn
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 1)).astype(np.float32)
    for xa in (a, np.ascontiguousarray(a.transpose(2, 1, 0)).transpose(2, 1, 0)):  # C, then strided
        (got,) = fn(xa, b)
        np.testing.assert_allclose(got, a * b, rtol=1e-6)


def test_sign_of_negative_zero_is_positive_zero_as_numpy(graph):
    x = gc.placeholder("float32", (3,), name="x")
    got = gc.function([x], gc.sign(x))(np.array([-0.0, 0.0, np.nan], np.float32))
    want = np.sign(np.array([-0.0, 0.0, np.nan], np.float32))
    assert got.tobytes() == want.tobytes()


def _batch_mismatch_graph():
    """tanh(x) is (1, 4) at run time and k + tanh(x) is (5, 4), though both are f64[?,4] statically:
    the fusion pass groups them, and one loop over (5, 4) does not fit the smaller value."""
    x = gc.placeholder("float64", (None, 4), name="x")
    k = gc.placeholder("float64", (None, 1), name="k")
    m = gc.tanh(x)
    feeds = {x: np.full((1, 4), 0.5), k: np.arange(5.0).reshape(5, 1)}
    return m, k + m, feeds


def test_a_fused_sum_of_a_value_smaller_than_the_loop_is_not_a_sum_of_its_broadcast(graph):
    m, a, feeds = _batch_mismatch_graph()
    fetches = [a, gc.reduce_sum(m * 3.0), gc.reduce_logsumexp(m, axis=1, keepdims=True), m * 2.0]
    with gc.Session(device="reference") as ref, gc.Session() as cpu:
        for _ in range(2):  # the first run's allocating kernels, then the run plan's bound steps
            for got, want in zip(cpu.run(fetches, feeds), ref.run(fetches, feeds), strict=True):
                assert got.shape == want.shape
                np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_fused_body_is_one_loop_only_where_every_value_has_the_loop_shape(graph):
    m, a, feeds = _batch_mismatch_graph()
    exe = gc.compile([a, m * 2.0], list(feeds))
    (fused,) = [n for n in exe.program.nodes if n.op.type_name == "FusedOp"]
    loop = exe.backend.kernels[fused.name].fn
    fed = {t.name: value.shape for t, value in feeds.items()}
    in_shapes = [fed.get(t.name, t.shape) for t in fused.inputs]  # constants keep their static shape
    assert not loop.one_loop(in_shapes)
    assert loop.one_loop([(5, 4) if s == (1, 4) else s for s in in_shapes])


def test_a_fused_loop_remembers_a_bounded_number_of_input_shapes(graph):
    # every new plan and allocating call asks one_loop: the memo grew with every shape ever fed
    x = gc.placeholder("float32", (None, None), name="x")
    exe = gc.compile([gc.tanh(x * 2.0) + x * x], [x])
    (fused,) = [n for n in exe.program.nodes if n.op.type_name == "FusedOp"]
    loop = exe.backend.kernels[fused.name].fn
    for n in range(1, 3 * elementwise.MAX_ONE_LOOP_SHAPES):
        assert loop.one_loop([(n, 3) if t.shape == (None, None) else t.shape for t in fused.inputs])
    assert len(loop._one_loop) <= elementwise.MAX_ONE_LOOP_SHAPES


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_integer_power_with_a_negative_exponent_is_an_error_as_in_numpy(graph, device):
    x = gc.placeholder("int64", (3,), name="x")
    e = gc.placeholder("int64", (3,), name="e")
    y = gc.power(x, e) + 1  # fused on the cpu: the loop raises from inside
    with gc.Session(device=device) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [2, 3, -2], e: [3, 0, 5]}), [9, 2, -31])
        with pytest.raises(gc.RunError, match="negative integer powers"):
            sess.run(y, {x: [2, 3, 0], e: [-1, 2, 1]})


def test_an_integer_power_error_after_another_loop_names_the_power_node(graph):
    # one_hot, then a loop: two Numba kernels a segment would join, whose error named the one_hot
    labels = gc.placeholder("int32", (None,), name="labels")
    e = gc.placeholder("int64", (), name="e")
    y = gc.power(gc.one_hot(labels, 3, dtype="int64", name="hot") * 2 + 1, e, name="pow")
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {labels: [0, 2], e: 2}), [[9, 1, 1], [1, 1, 9]])
        with pytest.raises(gc.RunError, match=r"node 'pow' \(Power\).*negative integer powers"):
            sess.run(y, {labels: [0, 2], e: -1})


@pytest.mark.parametrize("reduce", [gc.reduce_max, gc.reduce_min])
@pytest.mark.parametrize("axis", [None, 0])
def test_a_fused_max_of_no_elements_names_the_reduction_node_as_the_reference_does(graph, reduce, axis):
    x = gc.placeholder("float32", (None, 3), name="x")
    peak = reduce(gc.tanh(x) * 2.0, axis=axis, name="peak")  # fused with the loop on the cpu
    messages = []
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            sess.run(peak, {x: np.ones((2, 3), np.float32)})  # the plan for batch 2 is made
            with pytest.raises(gc.RunError) as caught:
                sess.run(peak, {x: np.ones((0, 3), np.float32)})
        messages.append(str(caught.value))
    assert "node 'peak' (" in messages[0]
    assert messages[1] == messages[0]


def _cpu_and_reference(inputs, outs, *values):
    with np.errstate(all="ignore"):
        return gc.function(inputs, outs)(*values), gc.function(inputs, outs, device="reference")(*values)


def test_loops_do_not_cancel_terms_numpy_computes(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    outs = [(x + y) - y, x + (-x), gc.reduce_sum((x + y) - y)]
    xv = np.array([1.0, 1.0, np.nan, np.inf], np.float32)
    yv = np.array([np.inf, 1e30, 1.0, 1.0], np.float32)
    for got, want in zip(*_cpu_and_reference([x, y], outs, xv, yv), strict=True):
        np.testing.assert_array_equal(got, want)  # (x + y) - y is NaN at y = inf and 0 at y = 1e30


def test_division_by_a_subnormal_is_not_a_multiplication_by_its_inverse(graph):
    x = gc.placeholder("float32", (None,), name="x")
    s = gc.placeholder("float32", (), name="s")
    xv, sv = np.array([0.0, 1e-40, 1e-30], np.float32), np.float32(1e-39)
    for got, want in zip(*_cpu_and_reference([x, s], [x / s, gc.floor_divide(x, s)], xv, sv), strict=True):
        np.testing.assert_array_equal(got, want)  # 1 / 1e-39 is inf in float32


def test_maximum_and_minimum_of_tied_zeros_give_the_second_as_numpy(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    xv, yv = np.array([0.0, -0.0], np.float32), np.array([-0.0, 0.0], np.float32)
    outs = [gc.maximum(x, y), gc.minimum(x, y)]
    for got, want in zip(*_cpu_and_reference([x, y], outs, xv, yv), strict=True):
        assert np.signbit(got).tolist() == np.signbit(want).tolist()


def test_a_difference_of_equal_products_is_zero_as_in_numpy(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    xv = np.array([0.1, 1 / 3, 7.1, 1.1], np.float32)
    outs = [x * x - y * y, gc.sqrt(x * x - y * y)]  # a fused multiply-add leaves x*x's rounding error
    for got, want in zip(*_cpu_and_reference([x, y], outs, xv, xv.copy()), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_floor_division_of_the_lowest_integer_by_minus_one_wraps_as_numpy(graph, dtype):
    x = gc.placeholder(dtype, (None,), name="x")
    y = gc.placeholder(dtype, (None,), name="y")
    low = np.iinfo(dtype).min
    xv = np.array([low, low, low, 7, -7, 5], dtype)
    yv = np.array([-1, 2, 0, -1, 2, 0], dtype)
    got, want = _cpu_and_reference([x, y], [gc.floor_divide(x, y), gc.mod(x, y)], xv, yv)
    with np.errstate(all="ignore"):
        expected = [np.floor_divide(xv, yv), np.mod(xv, yv)]  # low // -1 overflows to low in numpy
    for g, w, e in zip(got, want, expected, strict=True):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(g, e)


def test_an_empty_output_reads_no_element_of_an_empty_input(monkeypatch):
    # a (0, 1) input over a (0, 0) output was read once per row of a one-row, zero-column flat loop:
    # a[0] of an empty array. Bounds-checked kernels make such a read an IndexError.
    load = elementwise.load_module

    def checked(source):
        kernel = numba.njit(boundscheck=True, error_model="numpy")(load(source).kernel.py_func)
        return type("Module", (), {"kernel": kernel})

    loop = elementwise.LoopKernel(
        elementwise.Body([(gc.ops.elementwise.Multiply(), (0, 1))], 2, [2], [np.dtype(np.float32)] * 2)
    )
    monkeypatch.setattr(elementwise, "load_module", checked)
    (out,) = loop(np.zeros((0, 1), np.float32), np.zeros((0, 0), np.float32))
    assert out.shape == (0, 0)


def test_a_loop_that_falls_back_to_numpy_warns_no_more_than_the_reference(graph):
    # a batch of 1 against a batch of 5 is not one loop: the fused node runs its numpy reference,
    # whose log(0) warned (an error under simplefilter("error")) where the reference device is quiet
    x = gc.placeholder("float32", (None, 4), name="x")
    y = gc.placeholder("float32", (None, 4), name="y")
    z = gc.log(x) * 2.0 + y
    xv, yv = np.zeros((1, 4), np.float32), np.ones((5, 4), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = gc.function([x, y], z)(xv, yv)
        want = gc.function([x, y], z, device="reference")(xv, yv)
    np.testing.assert_array_equal(got, want)


def test_fused_int64_arithmetic_wraps_around_as_numpy_before_the_next_op(graph):
    x = gc.placeholder("int64", (None,), name="x")
    y = gc.placeholder("int32", (None,), name="y")
    info = np.iinfo(np.int64)
    xv = np.array([info.max, info.min, 2**32 + 1, -3, 0], np.int64)
    yv = np.array([-1, 1, -7, 2**31 - 1, -(2**31)], np.int32)
    # signed overflow marked impossible let LLVM fold x + 1 > x to True and (x * 2) // 2 to x
    outs = [gc.greater(x + 1, x), gc.less(x - 1, x), (x * 2) // 2, gc.cast(gc.square(x), "bool"), (x + y) * y]
    for got, want in zip(*_cpu_and_reference([x, y], outs, xv, yv), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("src", ["float32", "float64"])
@pytest.mark.parametrize("dst", ["int32", "int64"])
def test_a_fused_float_to_int_cast_of_nan_or_out_of_range_values_is_numpy_s(graph, src, dst):
    # LLVM's float -> int conversion is undefined (poison) for NaN and values out of range, and it
    # folded cast(cast(x, int32), float32) == x to "x is integral": True at inf and 3e9, where numpy
    # makes them -2**31, which differs from x
    x = gc.placeholder(src, (None,), name="x")
    lo = gc.placeholder(src, (), name="lo")
    xv = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e19, -1e19, 2.5, -2.5, 7.0, -2147483648.0], src)
    outs = [
        gc.equal(gc.cast(gc.cast(x, dst), src), x),
        gc.cast(x * 2.0, dst) + 1,
        gc.clip(gc.cast(x, dst), lo, 5.0),  # an integer clipped to float bounds is converted back
    ]
    got, want = _cpu_and_reference([x, lo], outs, xv, np.array(np.nan, src))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_a_loop_kernel_shows_every_loop_its_segments_run(graph):
    # a bias read as a row and a sum accumulated in the loop: neither is the loop shown before a run
    x = gc.placeholder("float32", (None, 4), name="x")
    b = gc.placeholder("float32", (4,), name="b")
    exe = gc.compile([gc.relu(x + b), gc.reduce_sum(gc.exp(x) * 2.0, axis=1)], feeds=[x, b])
    with gc.Session() as sess:
        sess.execute(exe, [np.ones((3, 4), np.float32), np.ones(4, np.float32)])
    sources = exe.sources()
    segments = [s for name, s in sources.items() if name.startswith("__plan_")]
    imported = {
        line.split()[1] for s in segments for line in s.splitlines() if line.startswith("from graphc_k_")
    }
    assert len(imported) == 2
    for module in imported:
        (shown,) = [s for name, s in sources.items() if not name.startswith("__") and module in s]
        header = next(line for line in shown.splitlines() if module in line)
        source = shown.split(header + "\n", 1)[1].split("\n\n# ", 1)[0]
        assert cache.module_name(source) == module  # the code shown is the module that ran
    assert "acc +=" in sources["sum_fused"] and "a1[c]" in sources["relu_fused"]
