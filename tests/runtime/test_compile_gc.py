"""Fewer garbage collections while graphc and Numba compile (runtime/compile_gc.py)."""

import contextlib
import gc
import importlib
import threading

import numpy as np
import pytest

import graphc as gc_
from graphc.runtime import compile_gc
from graphc.runtime.compile_gc import YOUNG_THRESHOLD, fewer_collections
from graphc.runtime.cpu import executable


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_the_young_threshold_is_raised_inside_and_restored_after(thresholds):
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_are_restored_when_the_block_raises(thresholds):
    with pytest.raises(ValueError), fewer_collections():
        raise ValueError("a failed compile")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_nested_block_leaves_the_raise_to_the_outer_one(thresholds):
    with fewer_collections():
        with fewer_collections():
            pass
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_the_last_of_two_threads_to_leave_restores_the_thresholds(thresholds):
    entered, leave_first = threading.Barrier(2), threading.Event()
    seen = []

    def first():
        with fewer_collections():
            entered.wait()
        leave_first.set()

    t = threading.Thread(target=first)
    t.start()
    with fewer_collections():
        entered.wait()
        leave_first.wait()
        seen.append(gc.get_threshold()[0])  # the other thread has left; this block still runs
    t.join()
    assert seen == [YOUNG_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)


def test_automatic_collection_switched_off_by_a_zero_threshold_stays_off(thresholds):
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_only_the_first_run_with_new_shapes_runs_with_fewer_collections(graph, monkeypatch):
    runs = []
    inner = compile_gc.fewer_collections

    def recording():
        runs.append(True)
        return inner()

    monkeypatch.setattr(executable, "fewer_collections", recording)
    x = gc_.placeholder("float32", (None, 3), name="x")
    w = gc_.Variable(np.zeros(3, np.float32), name="w")
    # an update: every call goes through the executable's run (no direct path)
    f = gc_.function([x], gc_.exp(x) * 2.0, updates=[(w, w + gc_.reduce_sum(x, axis=0))])
    f(np.ones((2, 3), np.float32))
    f(np.ones((2, 3), np.float32))
    assert len(runs) == 1
    f(np.ones((4, 3), np.float32))
    assert len(runs) == 2


def test_compiling_a_function_runs_with_fewer_collections(graph, monkeypatch):
    compile_module = importlib.import_module("graphc.runtime.compile")  # the package exports the function
    seen = []
    inner = compile_gc.fewer_collections

    @contextlib.contextmanager
    def recording():
        with inner():
            seen.append(gc.get_threshold()[0])
            yield

    monkeypatch.setattr(compile_module, "fewer_collections", recording)
    x = gc_.placeholder("float32", (None, 3), name="x")
    gc_.function([x], gc_.exp(x) * 2.0)
    assert seen == [YOUNG_THRESHOLD]


def test_a_child_forked_inside_the_block_gets_the_thresholds_back():
    import os
    import time

    before = gc.get_threshold()
    with fewer_collections():
        pid = os.fork()
        if pid == 0:
            os._exit(0 if gc.get_threshold() == before else 1)
        deadline = time.monotonic() + 30
        while not (done := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert done[0] and os.waitstatus_to_exitcode(done[1]) == 0
    assert gc.get_threshold() == before
