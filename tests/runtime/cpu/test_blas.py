"""runtime/cpu/blas.py: the GEMM intrinsic against numpy (transposes, windows, alpha and beta), the
layout constant, and cached code that finds the BLAS symbol again in a fresh process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from graphc.runtime.cpu import blas


@njit(cache=False)
def _window_gemm(ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    blas.gemm(ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc)


@njit(cache=False)
def _is_row_major(x):
    return blas.row_major(x)


def _window(flat: np.ndarray, offset: int, rows: int, cols: int, ld: int) -> np.ndarray:
    """The (rows, cols) matrix whose rows start ``ld`` elements apart from ``offset`` in ``flat``."""
    return np.lib.stride_tricks.as_strided(flat[offset:], (rows, cols), (ld * flat.itemsize, flat.itemsize))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy_on_windows_of_bigger_arrays(dtype, trans_a, trans_b):
    rng = np.random.default_rng(0)
    m, n, k = 5, 4, 7
    ra, ca = (k, m) if trans_a else (m, k)
    rb, cb = (n, k) if trans_b else (k, n)
    a_off, lda, b_off, ldb, c_off, ldc = 3, ca + 2, 1, cb + 5, 2, n + 3
    a = rng.standard_normal(a_off + ra * lda).astype(dtype)
    b = rng.standard_normal(b_off + rb * ldb).astype(dtype)
    c = rng.standard_normal(c_off + m * ldc).astype(dtype)
    op_a, op_b = _window(a, a_off, ra, ca, lda), _window(b, b_off, rb, cb, ldb)
    op_a, op_b = (op_a.T if trans_a else op_a), (op_b.T if trans_b else op_b)
    expected = c.copy()
    window = _window(expected, c_off, m, n, ldc)
    window[:] = 2.0 * (op_a @ op_b) + 0.5 * window  # outside the window, c must stay as it was

    _window_gemm(trans_a, trans_b, m, n, k, 2.0, a, a_off, lda, b, b_off, ldb, 0.5, c, c_off, ldc)

    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemm_with_beta_one_accumulates_into_the_output():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.ones((3, 2))
    c = np.full((2, 2), 10.0)
    for _ in range(2):
        _window_gemm(False, False, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 1, c, 0, 2)
    np.testing.assert_array_equal(c, 10 + 2 * (a @ b))


def test_row_major_is_the_layout_of_the_type():
    x = np.zeros((3, 4), np.float32)
    assert _is_row_major(x) is True
    assert _is_row_major(np.asfortranarray(x)) is False


def test_row_major_refuses_a_strided_array():
    with pytest.raises(TypingError):
        _is_row_major(np.zeros((4, 6), np.float32)[:, ::2])


def test_cached_code_calling_gemm_runs_in_a_fresh_process(tmp_path):
    module = tmp_path / "uses_gemm.py"
    module.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from numba import njit
            from graphc.runtime.cpu import blas

            @njit(cache=True)
            def product(a, b, out):
                blas.gemm(False, False, a.shape[0], b.shape[1], a.shape[1], 1, a, 0, a.shape[1],
                          b, 0, b.shape[1], 0, out, 0, out.shape[1])
            """
        )
    )
    code = textwrap.dedent(
        """
        import numpy as np
        import uses_gemm

        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        b = np.arange(8, dtype=np.float32).reshape(4, 2)
        out = np.empty((3, 2), np.float32)
        uses_gemm.product(a, b, out)
        assert np.array_equal(out, a @ b), out
        print(sum(uses_gemm.product.stats.cache_hits.values()))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    hits = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        assert run.returncode == 0, run.stderr
        hits.append(int(run.stdout.strip()))
    assert hits == [0, 1]  # compiled, then loaded from the cache and linked to the BLAS again
