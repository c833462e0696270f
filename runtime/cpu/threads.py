"""Threads of the CPU kernels: one shared worker pool, ``split`` to run a loop over it, the holds that
keep both OpenBLAS copies in the process to one thread while our own threads are in charge. No kernel
uses Numba's ``prange``: its OpenMP workers spun on the core the next kernel needed (the CNN step 26
ms against 21 with them sleeping), and each parallel variant cost a compile (bench/NOTES.md).

Two OpenBLAS builds are loaded: scipy's (what ``blas.gemm`` and ``np.dot`` call in Numba; the conv
GEMMs) and numpy's (``np.matmul``; MatMul's large products). Each has its own thread pool, whose
worker spins on a core for a long while (OpenBLAS's THREAD_TIMEOUT, ~0.1 s) after every threaded
call before it sleeps. On a 2-core machine that spinning worker takes the core our conv threads
need: the CNN step measured 41 ms with numpy's worker spinning through it, against 28-32 ms with it
parked (bench/NOTES.md). Two holds follow from that:

- ``scipy_blas``: while ``split`` runs GEMMs on our threads, scipy's OpenBLAS runs on one thread (two
  2-thread GEMMs at once on 2 cores ran 5-10x slower);
- ``numpy_blas``: executables that run kernels on our threads (``uses_pool``) call numpy's GEMMs with
  one BLAS thread, so numpy's worker is never woken to spin against them. Other executables (the MLPs)
  keep numpy's 2-thread GEMMs, whose spinning worker costs them nothing.

The holds call OpenBLAS's own get/set_num_threads through ctypes (threadpoolctl is not a dependency),
reference-counted, and give the caller's setting back when the last user leaves. Where a library cannot
be found (another BLAS, another build), its hold is unavailable: kernels then run on one thread and
leave that BLAS its threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

import numba

from graphc.runtime.cpu import cython_blas

#: below this much work (multiply-adds, or pooled taps) a second thread costs more than it saves
THREAD_WORK = 1 << 18


#: op classes whose kernels run on the worker pool (filled by the modules that register them)
POOL_OPS: set[type] = set()


#: graph -> (its node count, ``uses_pool``'s answer)
_pool_use: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def uses_pool(graph) -> bool:
    """Whether a program graph runs any kernel on the worker pool (see ``numpy_blas``). Remembered per
    graph and node count: every matmul's kernel asks, and a scan of the graph for each made building a
    program's kernels quadratic (0.8 s of 5.3 for a 3600-node program with 600 matmuls)."""
    count = len(graph.nodes)
    known = _pool_use.get(graph)
    if known is not None and known[0] == count:
        return known[1]
    answer = any(type(node.op) in POOL_OPS for node in graph.nodes)
    _pool_use[graph] = (count, answer)
    return answer


class OpenBlasThreads:
    """Holds one OpenBLAS library to one thread while anyone is inside ``with hold:``, and gives back the
    caller's setting when the last one leaves. ``find()`` returns ``(get, set)`` ctypes functions or
    None; it runs at the first use, so that importing this module loads no library."""

    def __init__(self, find):
        self._find = find
        self._functions = None
        self._reset()
        os.register_at_fork(after_in_child=self._after_fork)

    def _reset(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 1

    def _after_fork(self):
        """In a forked child: the holders' threads did not survive the fork, and the library kept the
        one thread they set, which no holder would give back (the child's GEMMs ran on one thread for
        good): start with no holders and the caller's setting."""
        held, saved = self._users > 0, self._saved
        self._reset()
        if held and saved != 1:
            self._resolve()[1](saved)

    def _resolve(self):
        if self._functions is None:
            try:
                self._functions = self._find() or ()
            except (ImportError, OSError):
                self._functions = ()
        return self._functions

    @property
    def available(self) -> bool:
        return bool(self._resolve())

    def get(self) -> int:
        return self._resolve()[0]()

    def __enter__(self):
        get, put = self._resolve()
        with self._lock:
            if self._users == 0:
                self._saved = get()
                if self._saved != 1:
                    put(1)
            self._users += 1

    def __exit__(self, *exc):
        _, put = self._resolve()
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved != 1:
                put(self._saved)


def _functions_in(libraries: str):
    """The first OpenBLAS among the files matching ``libraries`` that exports get/set_num_threads."""
    for path in sorted(glob.glob(libraries)):
        lib = ctypes.CDLL(path)  # the loaded library itself: dlopen counts references
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):  # numpy's build is ILP64, its symbols end in 64_
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, put
    return None


def _scipy_openblas():
    import scipy

    cython_blas.load()  # loads the library (what Numba calls)

    return _functions_in(
        os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*")
    )


def _numpy_openblas():
    import numpy

    return _functions_in(
        os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs", "libscipy_openblas*")
    )


scipy_blas = OpenBlasThreads(_scipy_openblas)
numpy_blas = OpenBlasThreads(_numpy_openblas)
NO_LIMIT = contextlib.nullcontext()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> ThreadPoolExecutor:
    """The shared pool: one worker per Numba thread beyond the caller's own."""
    global _pool
    with _pool_lock:
        if _pool is None:
            size = max(1, numba.config.NUMBA_NUM_THREADS - 1)
            _pool = ThreadPoolExecutor(size, thread_name_prefix="graphc-cpu")
    return _pool


def _forget_pool() -> None:
    """In a forked child: the pool's threads did not survive, though it counts them as idle (it would
    queue work that no thread runs); the child makes a new pool when it needs one."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


class _Started:
    """A call handed to another thread, made before it starts (so that a caller interrupted at any
    point after the start has it): ``wait()`` returns its result or raises its error (and,
    interrupted, waits for the call to end before raising); ``finished()`` says whether waiting is
    over (``_wait_quietly``). Until the call starts, there is nothing to wait for."""

    __slots__ = ("relay", "number", "future")

    def __init__(self):
        self.relay = self.future = None
        self.number = 0

    def wait(self):
        if self.future is not None:
            try:
                return self.future.result()
            except BaseException:
                _until(self.future.done)  # interrupted: the call may still be writing the caller's buffers
                raise
        return None if self.relay is None else self.relay.wait(self.number)

    def finished(self) -> bool:
        if self.future is not None:
            return self.future.done()
        return self.relay is None or self.relay.finished(self.number)


class Relay:
    """A thread of its own that runs one call at a time, handed over with two locks: ~5 us to hand
    off and ~11 us until the sleeping thread runs it, against ~24 / ~35 us through
    ``ThreadPoolExecutor.submit`` (bench/NOTES.md). ``start`` returns 0 while another caller uses
    it (that caller then goes to the pool); ``wait`` returns the call's result or raises its error."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the thread does not survive a fork

    def _reset(self):
        self._busy = threading.Lock()
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = self._result = self._error = self._thread = None
        # calls started; the number of the last call that ended (set after ``_done`` is released);
        # the number of the last call waited for
        self._started = self._ended = self._waited = 0

    def start(self, fn, args: tuple, started: _Started | None = None) -> int:
        """Start ``fn(*args)``; the call's number (for ``wait``), or 0 while another caller uses it.
        ``started`` learns how to wait for the call before it starts: the woken thread asks for the
        GIL, and this thread, giving it up, runs a pending signal handler right after the start."""
        if not self._busy.acquire(blocking=False):
            return 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="graphc-relay", daemon=True)
            self._thread.start()
        self._started += 1
        number = self._started
        self._job = (fn, args, number)
        if started is not None:
            started.relay, started.number = self, number
        self._go.release()
        return number

    def finished(self, number: int) -> bool:
        """Whether call ``number`` was waited for (its result or error handed out, or dropped)."""
        return self._waited >= number

    def wait(self, number: int | None = None):
        """The result of call ``number`` (default: the last started), or its error; None where it was
        waited for already (a caller making sure, after an interrupt, with ``_wait_quietly``)."""
        number = self._started if number is None else number
        if self._waited >= number:
            return None
        try:
            self._done.acquire()
        except BaseException:
            # a signal handler raised in this thread (KeyboardInterrupt, an alarm) while the call
            # runs: it may still be writing the caller's buffers, and the relay stays busy until it
            # ends; wait for it, then raise (whether the interrupted acquire took ``_done`` or not,
            # it is held again afterwards, ready for the next call)
            def ended() -> bool:
                if self._ended != number:
                    return False
                self._done.acquire(blocking=False)  # (again, if interrupted here: it is held then)
                return True

            _until(ended)
            self._result = self._error = None
            self._waited = number
            self._busy.release()
            raise
        result, error = self._result, self._error
        self._result = self._error = None
        self._waited = number
        self._busy.release()
        if error is not None:
            raise error
        return result

    def _loop(self):
        go, done = self._go, self._done
        while True:
            go.acquire()
            fn, args, number = self._job
            self._job = None
            try:
                self._result = fn(*args)
            except BaseException as e:  # handed to the caller by ``wait``
                self._error = e
            # not kept while idle: the call's arrays (feeds, outputs, a plan's arena) would outlive
            # their session, and pooled outputs would look in use (``plan.OutputPool``)
            fn = args = None
            done.release()
            self._ended = number  # after the release: an interrupted ``wait`` then finds it released


relay = Relay()


def _until(condition) -> None:
    """Wait until ``condition()`` holds, through exceptions that signal handlers raise meanwhile."""
    while True:
        try:
            while not condition():
                time.sleep(0.001)
            return
        except BaseException:  # another interrupt: the caller raises the first one
            continue


def _hand_off(fn, args: tuple, started: _Started) -> None:
    """Start ``fn(*args)`` on another thread (the relay, or the pool while the relay is busy);
    ``started`` learns how to wait for it. Once the interpreter is exiting, the pool takes no more
    work, though daemon threads still run: their runs failed with "cannot schedule new futures after
    interpreter shutdown", a traceback at exit. The call then runs here, before the caller's part."""
    if relay.start(fn, args, started):
        return
    try:
        started.future = workers().submit(fn, *args)
    except RuntimeError:  # the pool refuses work (shut down): the ranges and pairs are independent
        started.future = _run_here(fn, args)


def _run_here(fn, args: tuple) -> Future:
    """``fn(*args)`` run in this thread, as a finished future (its error raised by ``wait``)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as e:  # noqa: BLE001 - handed to the caller by ``wait``, as the pool's would be
        future.set_exception(e)
    return future


def _wait_quietly(calls) -> None:
    """Wait until every started call is over, ignoring their errors (the caller is raising its own)
    and interrupts (the caller raises): a call still running may be writing the caller's buffers.
    A signal raised on entering ``wait`` (a pending one is raised as a function starts) skips the
    wait itself: hence the loop on ``finished``."""
    for call in calls:
        while True:
            try:
                if call.finished():
                    break
                call.wait()
            except BaseException:  # the call's error, or an interrupt: ``finished`` tells them apart
                continue


_local = threading.local()  # ``serial``: this thread runs one kernel of a pair (``run_pair``)


def pairs_possible() -> bool:
    """Whether two kernels can run at once, one on each thread (``run_pair``)."""
    return numba.get_num_threads() > 1


def _serially(fn, args):
    """``fn(*args)`` with every ``split`` inside it run on this thread alone."""
    before = getattr(_local, "serial", False)
    _local.serial = True
    try:
        return fn(*args)
    finally:
        _local.serial = before


def run_pair(first, first_args: tuple, second, second_args: tuple, step: list, second_index: int):
    """Run two independent kernels at once: ``second`` on another thread (the relay) and ``first``
    here, each on one thread (their ``split`` calls run serially), instead of one after the other on
    both threads. A hand-off costs a sleeping thread's wake-up on this VM, so one hand-off for two
    kernels saves one, and the two kernels keep their own data in their own core's cache. Returns
    both results; an error in ``second`` sets ``step[0] = second_index`` (the node errors name).
    A thread held to one Numba thread (``numba.set_num_threads(1)``, thread-local, maybe after the
    plan chose its pairs) runs both itself, one after the other, as its ``split`` calls run."""
    if not pairs_possible():
        first_result = first(*first_args)
        step[0] = second_index
        return first_result, second(*second_args)
    call = _Started()
    try:
        _hand_off(_serially, (second, second_args), call)
        first_result = _serially(first, first_args)
    except BaseException:
        _wait_quietly([call])  # the other thread may still be writing the outputs of ``second``
        raise
    try:
        second_result = call.wait()
    except BaseException:
        step[0] = second_index
        _wait_quietly([call])  # an interrupt on entering ``wait`` left it running
        raise
    return first_result, second_result


def split(fn, count: int, work: int, gemm: bool, args) -> int:
    """Run ``fn(*args, lo, hi)`` over [0, count) in one range per thread (the caller's thread takes
    the first) and return the number of ranges. ``args`` is a tuple, or ``t -> tuple`` for arguments
    that differ per range t. ``gemm``: the ranges call scipy's BLAS, which then runs on one thread, even
    on one range: these GEMMs are small, and OpenBLAS's own 2 threads made them 2-3x slower. Where it
    cannot be held to one thread, the whole range runs on the caller's thread, BLAS keeping its threads.
    """
    threads = min(count, numba.get_num_threads(), max(1, work // THREAD_WORK))
    if getattr(_local, "serial", False) or (gemm and not scipy_blas.available):
        threads = 1
    bounds = [count * t // threads for t in range(threads + 1)]
    calls = [(*(args(t) if callable(args) else args), bounds[t], bounds[t + 1]) for t in range(threads)]
    with scipy_blas if gemm and scipy_blas.available else NO_LIMIT:
        started = [_Started() for _ in calls[1:]]
        try:
            for call, arguments in zip(started, calls[1:], strict=True):
                _hand_off(fn, arguments, call)
            fn(*calls[0])
            for call in started:
                call.wait()
        except BaseException:
            _wait_quietly(started)  # the other ranges may still be writing (those waited for are over)
            raise
    return threads
