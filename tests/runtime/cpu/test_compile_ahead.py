"""Segments compiled ahead in a helper process: the types it is given are those the first run uses,
what it saves the run loads instead of compiling, and it goes when told."""

import atexit
import os
import pickle
import signal
import subprocess
import sys

import numba.core.caching
import numba.core.config
import numpy as np
import pytest
from numba.core import event

import graphc as gc
from graphc.runtime.cpu import cache, compile_ahead
from tests.runtime.cpu.test_training import _mlp_step


@pytest.fixture
def fresh_caches(tmp_path, monkeypatch):
    """Empty kernel and Numba caches, in this process and in the helpers it starts."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "graphc"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path / "numba"))
    saved = dict(cache._modules)
    cache._modules.clear()
    yield tmp_path
    # the modules loaded here leave; those loaded before (a generated module's name is its source's
    # hash: the same names) are what later segments import again
    for name in list(cache._modules):
        sys.modules.pop(name, None)
    cache._modules.clear()
    cache._modules.update(saved)
    sys.modules.update(saved)


def _batch(n=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)


class _SegmentCompiles(event.Listener):
    def __init__(self):
        self.count = 0

    def on_start(self, ev):
        self.count += ev.data["dispatcher"].py_func.__name__ == "segment"

    def on_end(self, ev):
        pass


def test_the_predicted_types_are_those_the_first_run_calls_each_segment_with(fresh_caches, monkeypatch):
    seen = []
    monkeypatch.setattr(compile_ahead, "enabled", lambda: True)  # the plan collects jobs only then
    monkeypatch.setattr(compile_ahead, "start", lambda jobs: seen.extend(jobs))  # no helper
    step = _mlp_step("cpu")
    step(*_batch())
    assert len(seen) >= 3  # the forward pass, the backward pass and the Adam updates
    for _source, dispatcher, argtypes, _imports in seen:
        assert argtypes in dispatcher.overloads, (argtypes, list(dispatcher.overloads))


def test_the_first_run_loads_what_the_helper_compiled(fresh_caches, monkeypatch):
    start = compile_ahead.start
    helpers = []

    def start_and_wait(jobs):
        ahead = start(jobs)
        assert ahead is not None
        ahead.process.wait(timeout=600)  # as if the run reached each segment after the helper
        helpers.append(ahead.process.returncode)
        return ahead

    monkeypatch.setattr(compile_ahead, "MIN_ARGUMENTS", 1)
    monkeypatch.setattr(compile_ahead, "enabled", lambda: True)
    monkeypatch.setattr(compile_ahead, "start", start_and_wait)
    listener = _SegmentCompiles()
    event.register("numba:compile", listener)
    try:
        loss = float(_mlp_step("cpu")(*_batch()))
    finally:
        event.unregister("numba:compile", listener)
    assert helpers == [0]
    assert listener.count == 0  # every segment came from the helper's cache entries
    reference = float(_mlp_step("reference")(*_batch()))
    np.testing.assert_allclose(loss, reference, rtol=1e-5)


def test_the_helper_stays_off_when_turned_off(monkeypatch):
    monkeypatch.setenv("GRAPHC_COMPILE_AHEAD", "0")
    assert not compile_ahead.enabled()


def test_a_helper_never_starts_helpers(monkeypatch):
    monkeypatch.setenv(compile_ahead._IN_HELPER, "1")
    assert not compile_ahead.enabled()


def test_no_helper_where_the_program_is_not_a_python_interpreter(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")  # an embedding program runs the code
    assert not compile_ahead.enabled()


def test_stop_ends_the_helper(fresh_caches, monkeypatch):
    real_start, seen = compile_ahead.start, []
    monkeypatch.setattr(compile_ahead, "enabled", lambda: True)
    monkeypatch.setattr(compile_ahead, "start", lambda jobs: seen.extend(jobs))
    with gc.Graph().as_default():
        _mlp_step("cpu")(*_batch())
    monkeypatch.setattr(compile_ahead, "_cached", lambda dispatcher: False)  # compile them again
    ahead = real_start(seen)
    assert ahead is not None
    process = ahead.process
    assert process.poll() is None
    ahead.stop()
    assert process.poll() is not None and ahead.process is None


def test_a_helper_that_dies_before_it_reads_its_jobs_is_no_helper(monkeypatch):
    monkeypatch.setattr(compile_ahead, "enabled", lambda: True)
    monkeypatch.setattr(compile_ahead, "_cached", lambda dispatcher: False)
    monkeypatch.setattr(compile_ahead, "_BOOTSTRAP", "import os; os._exit(0)")
    # jobs far larger than a pipe's buffer: the write fails once the helper is gone
    jobs = [("x" * (1 << 22), None, tuple(range(compile_ahead.MIN_ARGUMENTS)), [])]
    assert compile_ahead.start(jobs) is None


def _predicted_and_called(monkeypatch, fetch, feeds, values):
    """(predicted types, the types the first run called the segment with) of each segment job."""
    seen = []
    monkeypatch.setattr(compile_ahead, "enabled", lambda: True)  # the plan collects jobs only then
    monkeypatch.setattr(compile_ahead, "start", lambda jobs: seen.extend(jobs))  # no helper
    gc.function(feeds, fetch, session=gc.Session(device="cpu"))(*values)
    assert seen
    return [(argtypes, list(dispatcher.overloads)) for _source, dispatcher, argtypes, _imports in seen]


def test_a_transpose_of_one_row_is_predicted_c_contiguous_as_numba_types_it(fresh_caches, monkeypatch):
    with gc.Graph().as_default():
        x = gc.placeholder("float32", (None, 5))
        fetch = gc.matmul(gc.transpose(x * 2.0), x + 1.0) * 2.0 + 1.0  # (5, 1) @ (1, 5) at batch 1
        values = [np.ones((1, 5), np.float32)]
        for predicted, called in _predicted_and_called(monkeypatch, fetch, [x], values):
            assert predicted in called, (predicted, called)


def test_a_fortran_ordered_constant_is_predicted_f_contiguous(fresh_caches, monkeypatch):
    with gc.Graph().as_default():
        x = gc.placeholder("float32", (None, 3))
        c = gc.constant(np.asfortranarray(np.arange(9, dtype=np.float32).reshape(3, 3)))
        fetch = gc.matmul(x * 2.0, c) * 3.0 + 1.0
        values = [np.ones((2, 3), np.float32)]
        for predicted, called in _predicted_and_called(monkeypatch, fetch, [x], values):
            assert predicted in called, (predicted, called)


def test_a_stop_while_the_helper_writes_a_cache_file_leaves_no_temporary_file(tmp_path, monkeypatch):
    files = numba.core.caching.IndexDataCacheFile
    monkeypatch.setattr(files, "_open_for_write", files._open_for_write)  # put back after the helper's
    previous = signal.getsignal(signal.SIGTERM)
    try:
        compile_ahead.helper({"jobs": pickle.dumps([])})  # a helper with nothing to do: its set-up
        writer = object.__new__(files)  # _open_for_write reads nothing of the instance
        with pytest.raises(compile_ahead._Stopped), writer._open_for_write(str(tmp_path / "f.nbc")) as f:
            f.write(b"half")
            os.kill(os.getpid(), signal.SIGTERM)  # the parent's stop, in the middle of a save
            f.write(b" and the rest")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert os.listdir(tmp_path) == ["f.nbc"]
    assert (tmp_path / "f.nbc").read_bytes() == b"half and the rest"


class _MkdirAtExit:
    """Unpickled, registers ``os.mkdir(path)`` to run at the interpreter's normal exit."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return atexit.register, (os.mkdir, self.path)


def test_the_helper_leaves_without_the_interpreters_teardown(tmp_path):
    # the teardown of a process with Numba and graphc loaded took 0.25-0.4 s, which stop waited for
    # at the end of the first run
    marker = tmp_path / "torn-down"
    manifest = {"path": sys.path, "jobs": pickle.dumps([]), "at_exit": _MkdirAtExit(str(marker))}
    bootstrap = [sys.executable, "-c", compile_ahead._BOOTSTRAP]
    subprocess.run(bootstrap, input=pickle.dumps(manifest), check=True, timeout=120)
    assert not marker.exists()
