"""CPU pooling kernels (runtime/cpu/pool.py) beyond the op table's samples, against the reference device:
overlapping, strided and padded windows, the benchmark CNN's pools at batch 2, ties and NaNs in max
pooling, float64, unknown dims and an empty batch."""

import numpy as np
import pytest

import graphc as gc
from graphc.ops.conv_grad import avg_pool2d_grad, max_pool2d_gather, max_pool2d_grad
from tests.runtime.cpu.test_conv import _compare, _rand

POOL_CASES = {
    "k2": (2, None, 0),
    "k3_s1_overlap": (3, 1, 0),
    "k3_s2_pad1": (3, 2, 1),
    "rect_pad": ((3, 2), (1, 2), (1, 0)),
    "k2_s1_pad1": (2, 1, 1),
    "stride_over_kernel": (2, 3, 0),
}


def _pools(kernel, stride, padding):
    kw = {"stride": stride, "padding": padding}

    def build(x, gy, g):
        return [
            gc.max_pool2d(x, kernel, **kw),
            max_pool2d_grad(x, gy, kernel, **kw),
            max_pool2d_gather(x, g, kernel, **kw),
            gc.avg_pool2d(x, kernel, **kw),
            avg_pool2d_grad(gy, x, kernel, **kw),
        ]

    return build


def _pool_arrays(x, kernel, stride, padding):
    g = gc.Graph()
    with g.as_default(), gc.Session(g, device="reference") as sess:
        y = sess.run(gc.max_pool2d(x, kernel, stride=stride, padding=padding))
    return [x, _rand(*y.shape, dtype=x.dtype, seed=3), _rand(*x.shape, dtype=x.dtype, seed=4)]


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_attributes(case):
    x = _rand(2, 3, 9, 8)
    kernels = _compare(_pools(*case), _pool_arrays(x, *case), rtol=1e-5)
    assert all(k.name.startswith("numba[") for k in kernels)


@pytest.mark.parametrize(("c", "hw"), [(16, 32), (32, 16), (64, 8), (128, 4)])
def test_cnn_pools_at_batch_2(c, hw):
    x = np.maximum(_rand(2, c, hw, hw), 0)  # after a ReLU: many tied zeros
    _compare(_pools(2, None, 0), _pool_arrays(x, 2, None, 0), rtol=1e-5)


@pytest.mark.parametrize("case", [(2, None, 0), (3, 1, 1)], ids=["k2", "k3_s1_pad1"])
def test_max_pool_ties_go_to_the_first_max(case):
    x = np.random.default_rng(5).integers(-2, 2, size=(2, 2, 7, 6)).astype("float32")  # many ties
    x[0, 0] = -np.inf  # a plane where every window is all -inf: a real pixel still gets the gradient
    _compare(_pools(*case), _pool_arrays(x, *case), rtol=1e-6)


@pytest.mark.parametrize("case", [(2, None, 0), (3, 1, 1)], ids=["k2", "k3_s1_pad1"])
def test_max_pool_nans(case):
    x = _rand(2, 2, 7, 6)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[1, 1, 0, 0] = np.nan  # windows with one and with two NaNs
    x[1, 0, 3:5, 3:5] = np.nan
    arrays = _pool_arrays(x, *case)
    g = gc.Graph()
    with g.as_default():
        phs = [gc.placeholder("float32", a.shape) for a in arrays]
        outs = _pools(*case)(*phs)
        feeds = dict(zip(phs, arrays, strict=True))
        with gc.Session(g, device="reference") as ref, gc.Session(g, device="cpu") as cpu:
            want, got = ref.run(outs, feeds), cpu.run(outs, feeds)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_float64_pools():
    x = _rand(2, 3, 7, 7, dtype="float64")
    _compare(_pools(3, 2, 1), _pool_arrays(x, 3, 2, 1), rtol=1e-12)


def test_pool_with_unknown_dims_and_empty_batch():
    x = _rand(3, 2, 5, 7)
    static = [(None, None, None, None)] * 3
    _compare(_pools(3, 2, 1), _pool_arrays(x, 3, 2, 1), static=static, rtol=1e-5)
    empty = np.zeros((0, 2, 5, 7), "float32")
    _compare(_pools(3, 2, 1), _pool_arrays(empty, 3, 2, 1), static=static)


def test_global_average_pool_of_a_large_window_stays_near_float64():
    # 4096 taps of 0.1: a running float32 sum of the window drifted 3.9e-5 from the mean
    x = np.full((1, 2, 64, 64), 0.1, "float32")
    g = gc.Graph()
    with g.as_default(), gc.Session(g, device="cpu") as sess:
        ph = gc.placeholder("float32", x.shape)  # a placeholder: a constant would be folded by numpy
        got = sess.run(gc.avg_pool2d(ph, 64), {ph: x})
    np.testing.assert_allclose(got, x.astype("float64").mean(axis=(2, 3), keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_average_pool_gradient_under_many_overlapping_windows_stays_near_float64(device):
    # a 64x64 window at stride 1: the middle pixels take a share of 4096 windows, which a running
    # float32 sum added 3.9e-5 off
    k, h = 64, 128
    gy_value = np.full((1, 1, h - k + 1, h - k + 1), 0.1, "float32")
    g = gc.Graph()
    with g.as_default(), gc.Session(g, device=device) as sess:
        x = gc.placeholder("float32", (1, 1, h, h))
        gy = gc.placeholder("float32", gy_value.shape)
        (gx,) = gc.grad(gc.avg_pool2d(x, k, stride=1), [x], grad_cost=gy)
        got = sess.run(gx, {x: np.zeros((1, 1, h, h), "float32"), gy: gy_value})
    want = np.zeros((h, h))
    for a in range(k):
        for b in range(k):
            want[a : a + h - k + 1, b : b + h - k + 1] += gy_value[0, 0].astype("float64") / (k * k)
    np.testing.assert_allclose(got[0, 0], want, rtol=1e-6)
