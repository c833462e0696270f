"""The direct call path of graphc.function (runtime/direct.py): repeated read-only calls skip the
session, and everything it cannot do goes through the session with the same results and errors."""

import warnings

import numpy as np
import pytest

import graphc as gc


def _count_session_runs(f, monkeypatch) -> list:
    calls = []
    execute = f.session._execute  # the general path's run, on checked feeds

    def counting(exe, feeds):
        if exe is f.executable:  # the reference function of a test shares the session
            calls.append(exe)
        return execute(exe, feeds)

    monkeypatch.setattr(f.session, "_execute", counting)
    return calls


def _mlp():
    x = gc.placeholder("float32", (None, 6), name="x")
    w = gc.Variable(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4), name="w")
    b = gc.Variable(np.array([0.5, -0.5, 0.25, 0.0], np.float32), name="b")
    return x, w, gc.relu(gc.matmul(x, w) + b) * 2.0


def test_a_repeated_call_with_known_shapes_skips_the_session(graph, monkeypatch):
    x, _, y = _mlp()
    f, ref = gc.function([x], y), gc.function([x], y, device="reference")
    calls = _count_session_runs(f, monkeypatch)
    a = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_allclose(f(a), ref(a), rtol=1e-6)
    assert len(calls) == 1


def test_a_function_with_numpy_kernels_takes_the_direct_path_and_stays_quiet(graph, monkeypatch):
    # concat and split run as numpy calls; the arithmetic ones (sum_like's overflowing sum) silence
    # numpy's warnings themselves, so no run needs an errstate block, and the direct path serves them
    x = gc.placeholder("float32", (None, 4), name="x")
    left, right = gc.split(gc.concat([x, x * 2.0], axis=1), 2, axis=1)
    y = [left + right, gc.sum_like(x * 1e38, gc.reduce_sum(x, axis=0, keepdims=True))]
    f, ref = gc.function([x], y), gc.function([x], y, device="reference")
    calls = _count_session_runs(f, monkeypatch)
    a = np.full((3, 4), 2.0, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning would fail the run
        for _ in range(3):
            for got, want in zip(f(a), ref(a), strict=True):
                np.testing.assert_array_equal(got, want)
    assert len(calls) == 1


def test_new_shapes_and_values_that_need_converting_go_through_the_session(graph, monkeypatch):
    x, _, y = _mlp()
    f, ref = gc.function([x], y), gc.function([x], y, device="reference")
    calls = _count_session_runs(f, monkeypatch)
    a = np.arange(12, dtype=np.float32).reshape(2, 6) / 10
    f(a)
    np.testing.assert_allclose(f(a[:1]), ref(a[:1]), rtol=1e-6)  # a new batch size
    np.testing.assert_allclose(f(a.tolist()), ref(a), rtol=1e-6)  # a list: converted
    assert len(calls) == 3
    f(a[:1])
    assert len(calls) == 3  # the second batch size is known now


def test_the_direct_path_sees_variables_that_another_function_changed(graph):
    x, w, y = _mlp()
    f = gc.function([x], y)
    scale = gc.function([], [], updates=[(w, w * 0.5)])
    a = np.ones((2, 6), np.float32)
    first = f(a)
    f(a)
    scale()
    np.testing.assert_allclose(f(a), gc.function([x], y, device="reference")(a), rtol=1e-6)
    assert not np.allclose(f(a), first)


def test_a_returned_array_is_not_overwritten_by_the_next_direct_call(graph):
    x, _, y = _mlp()
    f = gc.function([x], y)
    ones, twos = np.ones((2, 6), np.float32), np.full((2, 6), 2.0, np.float32)
    f(ones)
    first = f(ones)
    expected = first.copy()
    f(twos)
    np.testing.assert_array_equal(first, expected)


def test_an_error_on_the_direct_path_names_the_node(graph):
    table = gc.Variable(np.arange(8, dtype=np.float32).reshape(4, 2), name="table")
    idx = gc.placeholder("int64", (3,), name="idx")
    f = gc.function([idx], gc.take(table, idx, name="lookup") * 2.0)
    f(np.array([0, 1, 3]))
    f(np.array([0, 1, 3]))
    with pytest.raises(gc.GraphcError, match="lookup"):
        f(np.array([0, 9, 3]))
    np.testing.assert_array_equal(f(np.array([3, 0, 0])), [[12, 14], [0, 2], [0, 2]])


@pytest.mark.parametrize("kind", ["updates", "random"])
def test_functions_that_change_state_always_go_through_the_session(graph, monkeypatch, kind):
    x, w, y = _mlp()
    if kind == "updates":
        f = gc.function([x], y, updates=[(w, w + 1.0)])
    else:
        f = gc.function([x], y + gc.random_uniform((4,), seed=3))
    calls = _count_session_runs(f, monkeypatch)
    a = np.ones((2, 6), np.float32)
    results = [f(a) for _ in range(3)]
    assert len(calls) == 3
    assert not np.array_equal(results[1], results[2])


def test_session_run_takes_the_direct_path_for_a_structure_it_ran_before(graph, monkeypatch):
    x, w, y = _mlp()
    sess = gc.Session()
    calls = []
    execute = sess._execute
    monkeypatch.setattr(sess, "_execute", lambda exe, feeds: calls.append(exe) or execute(exe, feeds))
    a = np.random.default_rng(4).standard_normal((3, 6)).astype(np.float32)
    want = gc.function([x], y, device="reference")(a)
    for _ in range(3):
        np.testing.assert_allclose(sess.run(y, {x: a}), want, rtol=1e-6)
    assert len(calls) == 1
    sess.run(w.assign(w * 2.0))  # a run that writes: through the session; the direct path sees it
    ref = gc.Session(device="reference")
    ref.run(w.assign(w * 2.0))
    np.testing.assert_allclose(sess.run(y, {x: a}), ref.run(y, {x: a}), rtol=1e-6)


def test_a_failing_direct_call_raises_without_running_again_through_the_session(graph, monkeypatch):
    table = gc.Variable(np.arange(8, dtype=np.float32).reshape(4, 2), name="table")
    idx = gc.placeholder("int64", (3,), name="idx")
    f = gc.function([idx], gc.take(table, idx, name="lookup") * 2.0)
    f(np.array([0, 1, 3]))
    calls = _count_session_runs(f, monkeypatch)
    with pytest.raises(gc.RunError, match="lookup.*out of bounds"):
        f(np.array([0, 9, 3]))
    assert calls == []  # the whole computation ran once, not twice


def test_an_exception_a_signal_handler_raises_during_a_direct_call_is_not_lost(graph):
    import signal
    import time

    x = gc.placeholder("float32", (None, 256), name="x")
    f = gc.function([x], gc.reduce_sum(gc.matmul(gc.tanh(x), gc.transpose(x))))
    a = np.random.default_rng(0).standard_normal((2000, 256)).astype(np.float32)
    f(a)
    start = time.perf_counter()
    f(a)
    took = time.perf_counter() - start

    def time_limit(*_):
        raise TimeoutError("time limit")

    previous = signal.signal(signal.SIGALRM, time_limit)
    signal.setitimer(signal.ITIMER_REAL, took / 4)
    try:
        # it was swallowed: the direct path ran everything again on the general path and returned
        with pytest.raises((TimeoutError, gc.RunError), match="time limit"):
            f(a)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
