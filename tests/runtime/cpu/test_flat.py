"""flat_view (runtime/cpu/flat.py): the 1-D view segments hand to the fused loops."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from graphc.runtime.cpu.flat import flat_view


@njit(cache=False)
def _double_flat(a):
    v = flat_view(a)
    for i in range(v.size):
        v[i] *= 2
    return v


@njit(cache=False)
def _sum_flat(a):
    v = flat_view(a)
    s = 0.0
    for i in range(v.size):
        s += v[i]
    return s, v.shape[0]


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)], ids=str)
def test_flat_view_writes_through_to_the_array_in_c_order(shape):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    view = _double_flat(a)
    np.testing.assert_array_equal(a, np.arange(a.size, dtype=np.float32).reshape(shape) * 2)
    assert view.shape == (a.size,) and np.shares_memory(view, a)


def test_flat_view_reads_read_only_arrays():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    a.setflags(write=False)
    assert _sum_flat(a) == (15.0, 6)


def test_flat_view_refuses_arrays_that_are_not_c_contiguous():
    with pytest.raises(TypingError):
        _sum_flat(np.ones((3, 4)).T)
