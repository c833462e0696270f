"""runtime/cpu/threads.py: OpenMP's idle workers are told to sleep unless the user chose otherwise
(checked in fresh interpreters: OpenMP reads the variable when its library loads); two kernels run
as a pair."""

import os
import subprocess
import sys
import threading
import time

import pytest

CODE = "import os, graphc.runtime.cpu; print(os.environ['OMP_WAIT_POLICY'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_omp_wait_policy_default(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    run = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == expected


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
