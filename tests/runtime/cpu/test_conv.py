"""CPU conv kernels (runtime/cpu/conv.py) beyond the op table's samples, against the reference device: the
benchmark CNN's layers at batch 2 (forward and both gradients), strides, dilation, odd sizes (with
either window copy of runtime/cpu/im2col.py), "same" padding resolved at run time, float64, one thread
against several, BLAS's thread count given back, and a small CNN's gradients end to end.
Pooling: test_pool.py."""

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.ops.conv_grad import conv2d_backprop_filter, conv2d_backprop_input
from graphc.runtime.cpu import conv as cpu_conv
from graphc.runtime.cpu import threads as cpu_threads
from graphc.runtime.cpu.registry import cpu_kernel


def _rand(*shape, dtype="float32", seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _compare(build, arrays, static=None, rtol=1e-4):
    """Build ``build(*placeholders)`` (one tensor or a list), run it on both devices, compare; returns
    the graph's output nodes' kernels on the CPU (to check which implementation ran)."""
    g = gc.Graph()
    with g.as_default():
        phs = [
            gc.placeholder(a.dtype, a.shape if static is None else static[i], name=f"in{i}")
            for i, a in enumerate(arrays)
        ]
        out = build(*phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        feeds = dict(zip(phs, arrays, strict=True))
        with gc.Session(g, device="reference") as ref, gc.Session(g, device="cpu") as cpu:
            want, got = ref.run(outs, feeds), cpu.run(outs, feeds)
    for t, a, b in zip(outs, got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, t.name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max(initial=0))))
    return [cpu_kernel.build(t.node) for t in outs]


def _conv_and_grads(stride=1, padding=0, dilation=1):
    """(x, w, gy) -> [conv2d, its input gradient, its weight gradient] with these attributes."""
    kw = {"stride": stride, "padding": padding, "dilation": dilation}

    def build(x, w, gy):
        return [
            gc.conv2d(x, w, **kw),
            conv2d_backprop_input(gy, w, x, **kw),
            conv2d_backprop_filter(x, gy, w, **kw),
        ]

    return build


def _conv_case(x_shape, w_shape, dtype="float32", **kw):
    """Arrays (x, w, gy) for a conv with attributes ``kw``: gy has the forward output's shape."""
    x, w = _rand(*x_shape, dtype=dtype), _rand(*w_shape, dtype=dtype, seed=1)
    g = gc.Graph()
    with g.as_default(), gc.Session(g, device="reference") as sess:
        y = sess.run(gc.conv2d(x, w, **kw))
    return x, w, _rand(*y.shape, dtype=dtype, seed=2)


# --- convolution ---------------------------------------------------------------------------------

CNN = [(3, 16, 32), (16, 32, 16), (32, 64, 8), (64, 128, 4)]


@pytest.mark.parametrize(("c", "o", "hw"), CNN, ids=[f"{c}to{o}@{hw}" for c, o, hw in CNN])
def test_cnn_layers_at_batch_2(c, o, hw):
    arrays = _conv_case((2, c, hw, hw), (o, c, 3, 3), padding=1)
    kernels = _compare(_conv_and_grads(padding=1), arrays)
    assert [k.name for k in kernels] == [
        "numba[Conv2D]",
        "numba[Conv2DBackpropInput]",
        "numba[Conv2DBackpropFilter]",
    ]


CONV_CASES = {
    "stride2_odd": ((3, 2, 9, 7), (4, 2, 3, 3), {"stride": 2, "padding": 1}),
    "stride_over_kernel": ((2, 3, 11, 10), (2, 3, 2, 2), {"stride": 3}),  # pixels never read get 0
    "rect_stride_dilation": (
        (2, 2, 12, 9),
        (3, 2, 3, 2),
        {"stride": (3, 2), "padding": (2, 0), "dilation": (2, 3)},
    ),
    "dilation3_pad": ((1, 3, 10, 10), (2, 3, 3, 3), {"padding": 3, "dilation": 3}),
    "kernel5_pad2": ((2, 4, 7, 6), (5, 4, 5, 5), {"padding": 2}),
    "pointwise": ((2, 8, 5, 3), (6, 8, 1, 1), {}),
    "padding_over_kernel": ((1, 2, 4, 5), (3, 2, 2, 3), {"padding": (3, 4)}),  # all-zero border outputs
    "same_stride2_odd_total": ((2, 3, 7, 8), (4, 3, 4, 3), {"stride": 2, "padding": "same"}),
    "one_image_big_kernel": ((1, 1, 6, 6), (1, 1, 6, 6), {}),
    "blocked_small_images": ((40, 5, 3, 3), (7, 5, 3, 3), {"padding": 1}),  # blocks of 28 + 12 images
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_attributes(case):
    x_shape, w_shape, kw = case
    _compare(_conv_and_grads(**kw), _conv_case(x_shape, w_shape, **kw))


@pytest.mark.parametrize("gather_below", [0, 1 << 30], ids=["row_copies", "gathered"])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_both_window_copies_match_reference(case, gather_below, monkeypatch):
    """im2col/col2im copy output rows or gather through an offset table, chosen by the output's width:
    each of them, forced, on every geometry."""
    monkeypatch.setattr(cpu_conv, "GATHER_BELOW", gather_below)
    x_shape, w_shape, kw = case
    _compare(_conv_and_grads(**kw), _conv_case(x_shape, w_shape, **kw))


SHIFTED_CASES = {
    **CONV_CASES,
    "same_even_kernel": ((2, 4, 7, 8), (3, 4, 4, 2), {"padding": "same"}),  # borders 1/2 and 0/1
    "wide_and_deep": ((3, 16, 9, 12), (8, 16, 3, 3), {"padding": 1}),
    "full_borders": ((2, 3, 6, 7), (4, 3, 3, 3), {"padding": 2}),  # the input gradient's borders are 0
    "rows_only_borders": ((2, 3, 6, 7), (4, 3, 3, 2), {"padding": (2, 0)}),
}


@pytest.mark.parametrize("case", SHIFTED_CASES.values(), ids=SHIFTED_CASES.keys())
def test_shifted_gemms_match_reference_wherever_they_apply(case, monkeypatch):
    """Stride-1 convolutions without im2col (``_conv_shifted``), forced on every geometry by zero
    thresholds: the stride-1 cases take it (big borders included), the others keep im2col."""
    for name in ("SHIFTED_COLUMNS", "SHIFTED_DEPTH", "SHIFTED_FILTER_COLUMNS"):
        monkeypatch.setattr(cpu_conv, name, 0)
    x_shape, w_shape, kw = case
    _compare(_conv_and_grads(**kw), _conv_case(x_shape, w_shape, **kw))


def test_shifted_gemms_serve_the_cnn_middle_layer(monkeypatch):
    calls = []
    for name in ("_conv_shifted", "_conv_backprop_filter_shifted"):
        loop = getattr(cpu_conv, name)
        monkeypatch.setattr(
            cpu_conv, name, lambda *a, _loop=loop, _name=name: calls.append(_name) or _loop(*a)
        )
    _compare(_conv_and_grads(padding=1), _conv_case((2, 16, 16, 16), (32, 16, 3, 3), padding=1))
    assert sorted(set(calls)) == ["_conv_backprop_filter_shifted", "_conv_shifted"]
    assert calls.count("_conv_shifted") >= 2  # the forward and the input gradient


def test_shifted_gemms_in_float64():
    arrays = _conv_case((2, 16, 10, 10), (4, 16, 3, 3), dtype="float64", padding=1)
    _compare(_conv_and_grads(padding=1), arrays, rtol=1e-10)


@pytest.mark.parametrize("hw", [(6, 5), (9, 9), (4, 7), (1, 1)])
def test_same_padding_resolved_per_run(hw):
    """H and W unknown when the graph is built: every run resolves "same" from the fed shape."""
    kw = {"stride": 2, "padding": "same", "dilation": (1, 2)}
    arrays = _conv_case((2, 3, *hw), (4, 3, 3, 2), **kw)
    static = [(None, 3, None, None), (4, 3, 3, 2), (None, 4, None, None)]
    _compare(_conv_and_grads(**kw), arrays, static=static)


def test_float64_conv():
    arrays = _conv_case((2, 3, 8, 7), (4, 3, 3, 3), dtype="float64", stride=2, padding=1)
    kernels = _compare(_conv_and_grads(stride=2, padding=1), arrays, rtol=1e-10)
    assert kernels[0].name == "numba[Conv2D]"


def test_readonly_and_strided_inputs():
    x, w, gy = _conv_case((2, 3, 6, 6), (4, 3, 3, 3), padding=1)
    x_t = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-ordered planes
    w_ro = w.copy()
    w_ro.flags.writeable = False
    (kernel,) = _compare(lambda a, b: gc.conv2d(a, b, padding=1), [x, w])
    (got,) = kernel.fn(x_t, w_ro)
    (want,) = kernel.fn(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("channels", [8, 16], ids=["im2col", "shifted"])
def test_one_thread_and_several_agree(channels):
    x, w, gy = _conv_case((6, channels, 16, 16), (channels, channels, 3, 3), padding=1)
    kernels = _compare(_conv_and_grads(padding=1), [x, w, gy])
    inputs = [(x, w), (gy, w, x), (x, gy, w)]
    threaded = [k.fn(*a)[0] for k, a in zip(kernels, inputs, strict=True)]
    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = [k.fn(*a)[0] for k, a in zip(kernels, inputs, strict=True)]
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(threaded, serial, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not cpu_threads.scipy_blas.available, reason="scipy's OpenBLAS not found")
def test_blas_threads_are_given_back():
    blas = cpu_threads.scipy_blas
    before = blas.get()
    (kernel,) = _compare(
        lambda a, b: gc.conv2d(a, b, padding=1), list(_conv_case((8, 16, 16, 16), (16, 16, 3, 3)))[:2]
    )
    kernel.fn(_rand(8, 16, 16, 16), _rand(16, 16, 3, 3))
    assert blas.get() == before and blas._users == 0


# --- a CNN's gradients end to end ------------------------------------------------------------------


def test_cnn_gradients_match_reference():
    """conv3x3 pad 1 -> ReLU -> max pool 2, twice, then a sum of squares: the weight gradients and the
    input gradient (the graph's own autodiff), on both devices."""
    x, w1, w2 = _rand(2, 3, 16, 16), _rand(8, 3, 3, 3, seed=1) * 0.3, _rand(16, 8, 3, 3, seed=2) * 0.3

    def build(x, w1, w2):
        h = gc.max_pool2d(gc.relu(gc.conv2d(x, w1, padding=1)), 2)
        h = gc.max_pool2d(gc.relu(gc.conv2d(h, w2, padding=1)), 2)
        return list(gc.grad(gc.reduce_sum(h * h), [x, w1, w2]))

    _compare(build, [x, w1, w2])
