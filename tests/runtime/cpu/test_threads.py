"""runtime/cpu/threads.py: two kernels run as a pair; ranges of a split."""

import threading
import time

import pytest


def test_a_pair_runs_each_kernel_on_its_own_thread_with_its_splits_serial():
    from graphc.runtime.cpu.threads import run_pair, split

    def kernel(tag):
        ranges = split(lambda lo, hi: None, 4, 1 << 30, False, ())
        return tag, threading.get_ident(), ranges

    (a, ta, ra), (b, tb, rb) = run_pair(kernel, ("a",), kernel, ("b",), [0], 1)
    assert (a, b) == ("a", "b") and ta != tb and ra == rb == 1


def test_a_failing_second_kernel_of_a_pair_is_the_step_errors_name():
    from graphc.runtime.cpu.threads import run_pair

    def fail():
        raise ValueError("second")

    step = [7]
    with pytest.raises(ValueError, match="second"):
        run_pair(lambda: 1, (), fail, (), step, 8)
    assert step == [8]


def test_a_failing_first_kernel_of_a_pair_waits_for_the_second():
    from graphc.runtime.cpu.threads import run_pair

    finished = []

    def slow():
        time.sleep(0.05)
        finished.append(True)

    def fail():
        raise ValueError("first")

    step = [3]
    with pytest.raises(ValueError, match="first"):
        run_pair(fail, (), slow, (), step, 4)
    assert finished == [True] and step == [3]


def test_the_relay_runs_a_call_on_another_thread_and_returns_its_result():
    from graphc.runtime.cpu.threads import Relay

    relay = Relay()
    assert relay.start(lambda x: (x, threading.get_ident()), (5,))
    value, where = relay.wait()
    assert value == 5 and where != threading.get_ident()


def test_the_relay_hands_back_an_error_and_stays_usable():
    from graphc.runtime.cpu.threads import Relay

    def fail():
        raise ValueError("in the relay")

    relay = Relay()
    assert relay.start(fail, ())
    with pytest.raises(ValueError, match="in the relay"):
        relay.wait()
    assert relay.start(lambda: 3, ())
    assert relay.wait() == 3


def test_the_relay_refuses_a_second_caller_while_busy():
    from graphc.runtime.cpu.threads import Relay

    relay, gate = Relay(), threading.Event()
    assert relay.start(gate.wait, ())
    assert not relay.start(lambda: None, ())
    gate.set()
    relay.wait()


def test_split_runs_its_second_range_on_the_pool_while_the_relay_is_busy(monkeypatch):
    from graphc.runtime.cpu import threads

    if threads.numba.get_num_threads() < 2:
        pytest.skip("one thread: split runs a single range")
    gate, seen = threading.Event(), {}
    busy = threads.Relay()
    monkeypatch.setattr(threads, "relay", busy)
    assert busy.start(gate.wait, ())
    try:
        threads.split(
            lambda lo, hi: seen.setdefault(lo, threading.current_thread().name), 2, 1 << 30, False, ()
        )
    finally:
        gate.set()
        busy.wait()
    assert seen[0] == threading.current_thread().name and seen[1].startswith("graphc-cpu")


def test_split_waits_for_its_other_ranges_when_its_own_range_fails():
    from graphc.runtime.cpu import threads

    if threads.numba.get_num_threads() < 2:
        pytest.skip("one thread: split runs a single range")
    finished = []

    def ranges(lo, hi):
        if lo == 0:
            raise ValueError("first range")
        time.sleep(0.05)
        finished.append(lo)

    with pytest.raises(ValueError, match="first range"):
        threads.split(ranges, 2, 1 << 30, False, ())
    assert finished == [1]
    assert threads.relay.start(lambda: None, ())  # released for the next caller
    threads.relay.wait()


def test_split_waits_for_the_ranges_after_one_that_failed(monkeypatch):
    from graphc.runtime.cpu import threads

    monkeypatch.setattr(threads.numba, "get_num_threads", lambda: 3)  # three ranges, two handed off
    finished = []

    def ranges(lo, hi):
        if lo == 1:
            raise ValueError("second range")
        time.sleep(0.05)
        finished.append(lo)

    with pytest.raises(ValueError, match="second range"):
        threads.split(ranges, 3, 1 << 30, False, ())
    assert sorted(finished) == [0, 2]


def _in_a_forked_child(check) -> int:
    """The exit status of a forked child that runs ``check()`` (0 when it returns True)."""
    import os

    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if check() else 1)
        except BaseException:  # noqa: BLE001 - any failure is the child's status
            os._exit(2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1  # hung


def test_the_worker_pool_works_in_a_forked_child():
    from graphc.runtime.cpu import threads

    assert threads.workers().submit(lambda: 1).result(timeout=10) == 1  # the parent's worker exists
    assert _in_a_forked_child(lambda: threads.workers().submit(lambda: 42).result(timeout=10) == 42) == 0


def test_a_child_forked_while_openblas_is_held_starts_with_no_holders():
    from graphc.runtime.cpu.threads import OpenBlasThreads

    setting = [4]
    hold = OpenBlasThreads(lambda: (lambda: setting[0], lambda n: setting.__setitem__(0, n)))
    with hold:
        assert setting == [1]
        assert _in_a_forked_child(lambda: hold._users == 0) == 0
    assert setting == [4]


class _Interrupt(Exception):
    """What the test's alarm handler raises in the main thread (as KeyboardInterrupt would be)."""


def _interrupted_after(seconds: float, call):
    """Run ``call()`` with a signal handler raising ``_Interrupt`` ``seconds`` after the start."""
    import signal

    def interrupt(*_):
        raise _Interrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with pytest.raises(_Interrupt):
            call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_interrupted_relay_wait_waits_for_the_call_and_frees_the_relay():
    from graphc.runtime.cpu.threads import Relay

    finished = []

    def slow():
        time.sleep(0.3)
        finished.append(True)

    relay = Relay()
    assert relay.start(slow, ())
    _interrupted_after(0.05, relay.wait)
    assert finished == [True]  # the call may have been writing the caller's buffers
    assert relay.start(lambda: 3, ())  # and the relay is free again
    assert relay.wait() == 3


def test_an_interrupted_split_waits_for_its_range_on_the_pool(monkeypatch):
    from graphc.runtime.cpu import threads

    if threads.numba.get_num_threads() < 2:
        pytest.skip("one thread: split runs a single range")
    gate, finished = threading.Event(), []
    busy = threads.Relay()
    monkeypatch.setattr(threads, "relay", busy)
    assert busy.start(gate.wait, ())  # the split's second range goes to the pool

    def ranges(lo, hi):
        if lo:
            time.sleep(0.3)
            finished.append(lo)

    try:
        _interrupted_after(0.05, lambda: threads.split(ranges, 2, 1 << 30, False, ()))
    finally:
        gate.set()
        busy.wait()
    assert finished == [1]


def test_a_child_forked_while_openblas_is_held_gets_the_callers_setting_back():
    from graphc.runtime.cpu.threads import OpenBlasThreads

    setting = [4]
    hold = OpenBlasThreads(lambda: (lambda: setting[0], lambda n: setting.__setitem__(0, n)))
    with hold:
        assert _in_a_forked_child(lambda: setting == [4]) == 0  # not the holders' one thread
    assert setting == [4]


def test_the_idle_relay_keeps_no_reference_to_its_last_calls_arrays():
    import weakref

    import numpy as np

    from graphc.runtime.cpu.threads import Relay

    relay, array = Relay(), np.zeros(4)
    assert relay.start(lambda a: None, (array,))
    relay.wait()
    seen = weakref.ref(array)
    del array
    assert seen() is None  # a session's arena and outputs are freed with it


def test_an_interrupt_right_after_a_hand_off_still_waits_for_it_and_frees_the_relay(monkeypatch):
    from graphc.runtime.cpu import threads

    if threads.numba.get_num_threads() < 2:
        pytest.skip("one thread: split runs a single range")
    relay = threads.Relay()
    monkeypatch.setattr(threads, "relay", relay)
    go = relay._go

    class InterruptedRelease:  # a signal handler runs as the woken relay thread takes the GIL
        def acquire(self, *args):
            return go.acquire(*args)

        def release(self):
            go.release()
            raise _Interrupt

    relay._go = InterruptedRelease()
    finished = []

    def ranges(lo, hi):
        if lo:
            time.sleep(0.2)
            finished.append(lo)

    with pytest.raises(_Interrupt):
        threads.split(ranges, 2, 1 << 30, False, ())
    assert finished == [1]  # waited for: it may have been writing the caller's buffers
    relay._go = go
    assert relay.start(lambda: 3, ())  # and the relay is free again
    assert relay.wait() == 3


def test_a_pair_runs_on_the_calling_thread_alone_where_it_is_held_to_one_numba_thread():
    from graphc.runtime.cpu import threads

    before = threads.numba.get_num_threads()
    if before < 2:
        pytest.skip("one thread: no pairs anyway")

    def kernel():
        return threading.get_ident()

    threads.numba.set_num_threads(1)  # thread-local: a plan made before may have chosen pairs
    try:
        step = [3]
        first, second = threads.run_pair(kernel, (), kernel, (), step, 4)
    finally:
        threads.numba.set_num_threads(before)
    assert first == second == threading.get_ident() and step == [4]


def test_split_runs_every_range_once_the_pool_takes_no_more_work(monkeypatch):
    # while the interpreter exits, the pool refuses work that daemon threads' runs still hand off
    from concurrent.futures import ThreadPoolExecutor

    from graphc.runtime.cpu import threads

    monkeypatch.setattr(threads.numba, "get_num_threads", lambda: 3)  # three ranges, two handed off
    refusing = ThreadPoolExecutor(1)
    refusing.shutdown()
    monkeypatch.setattr(threads, "workers", lambda: refusing)
    finished = []
    assert threads.split(lambda lo, hi: finished.append(lo), 3, 1 << 30, False, ()) == 3
    assert sorted(finished) == [0, 1, 2]
