"""The vectorizable float32 exp (runtime/cpu/fastexp.py) against float64 exp."""

import numpy as np

from graphc.runtime.cpu.cache import load_module
from graphc.runtime.cpu.fastexp import NAMES, exp32_lines

SOURCE = f"""import numpy as np
from numba import njit
from graphc.runtime.cpu.fastexp import {NAMES}


@njit(cache=True, error_model="numpy")
def exp_in_place(values):
{exp32_lines("values")}
"""


def _exp32(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    load_module(SOURCE).exp_in_place(out)  # the lines the softmax kernels paste, in a module of their own
    return out


def test_exp32_is_within_one_ulp_over_float32s_normal_range():
    x = np.random.default_rng(0).uniform(-87.3, 88.7, 200_000).astype(np.float32)
    x[:4] = [0.0, -1e-30, 1e-30, 88.72]
    want = np.exp(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(_exp32(x).view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1


def test_exp32_saturates_and_keeps_nan():
    x = np.array([np.inf, 89.0, -np.inf, -88.0, -1e4, np.nan, -0.0], np.float32)
    got = _exp32(x)
    np.testing.assert_array_equal(got[:5], [np.inf, np.inf, 0.0, 0.0, 0.0])
    assert np.isnan(got[5]) and got[6] == 1.0
