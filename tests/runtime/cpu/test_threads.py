"""runtime/cpu/threads.py: OpenMP's idle workers are told to sleep unless the user chose otherwise
(checked in fresh interpreters: OpenMP reads the variable when its library loads)."""

import os
import subprocess
import sys

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
