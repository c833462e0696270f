"""CPU conv kernels (runtime/cpu/conv.py) beyond the op table's samples, against the reference device: the
benchmark CNN's layers at batch 2 (forward and both gradients), strides, dilation, odd sizes (with
either window copy of runtime/cpu/im2col.py), the shifted GEMMs and Winograd (runtime/cpu/winograd.py)
forced on every geometry, "same" padding resolved at run time, float64, one thread against several,
BLAS's thread count given back, and a small CNN's gradients end to end. Pooling: test_pool.py."""

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
        largest = float(np.abs(b[np.isfinite(b)]).max(initial=0))  # -inf windows must match exactly
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, largest))
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
    monkeypatch.setattr(cpu_conv, "WINOGRAD_DEPTH", 1 << 30)
    x_shape, w_shape, kw = case
    _compare(_conv_and_grads(**kw), _conv_case(x_shape, w_shape, **kw))


def _spy(monkeypatch, names) -> set[tuple]:
    """Record (name, output shape) of the conv loops called (each still runs; the threads' ranges of
    one call share the output)."""
    calls = set()
    for name in names:
        loop = getattr(cpu_conv, name)
        monkeypatch.setattr(
            cpu_conv, name, lambda *a, _loop=loop, _name=name: calls.add((_name, a[2].shape)) or _loop(*a)
        )
    return calls


def test_shifted_gemms_serve_5x5_kernels(monkeypatch):
    calls = _spy(monkeypatch, ("_conv_shifted",))
    _compare(_conv_and_grads(padding=2), _conv_case((2, 24, 16, 16), (16, 24, 5, 5), padding=2), rtol=2e-4)
    assert len(calls) == 2  # the forward and the input gradient


def test_shifted_gemms_in_float64(monkeypatch):
    monkeypatch.setattr(cpu_conv, "WINOGRAD_DEPTH", 1 << 30)
    arrays = _conv_case((2, 16, 10, 10), (4, 16, 3, 3), dtype="float64", padding=1)
    _compare(_conv_and_grads(padding=1), arrays, rtol=1e-10)


WINOGRAD_CASES = {
    **SHIFTED_CASES,
    "valid_odd_outputs": ((2, 3, 9, 8), (4, 3, 3, 3), {}),  # 7x6 outputs: a half tile at the bottom
    "same_3x3": ((3, 2, 5, 6), (3, 2, 3, 3), {"padding": "same"}),
    "one_pixel": ((2, 4, 1, 1), (3, 4, 3, 3), {"padding": 1}),
    "columns_only_borders": ((2, 2, 4, 5), (3, 2, 3, 3), {"padding": (0, 2)}),
    "one_image_per_block": ((3, 2, 34, 33), (2, 2, 3, 3), {"padding": 1}),  # 289 tiles: blocks of one
    "blocks_and_a_rest": ((70, 3, 4, 4), (2, 3, 3, 3), {"padding": 1}),  # blocks of 64 tiles: 64 + 6
}


@pytest.mark.parametrize("case", WINOGRAD_CASES.values(), ids=WINOGRAD_CASES.keys())
def test_winograd_matches_reference_wherever_it_applies(case, monkeypatch):
    """Winograd F(2x2, 3x3) forced on every geometry (a zero channel threshold): the 3x3 stride-1
    cases take it for all three kernels, the others keep theirs."""
    monkeypatch.setattr(cpu_conv, "WINOGRAD_DEPTH", 0)
    monkeypatch.setattr(cpu_conv, "WINOGRAD_TILES", 1 << 30)
    x_shape, w_shape, kw = case
    _compare(_conv_and_grads(**kw), _conv_case(x_shape, w_shape, **kw))


def test_winograd_serves_the_cnn_layers_from_16_channels(monkeypatch):
    calls = _spy(monkeypatch, ("conv_winograd", "filter_winograd"))
    for c, o, hw in CNN:
        _compare(_conv_and_grads(padding=1), _conv_case((2, c, hw, hw), (o, c, 3, 3), padding=1))
    # 16->32, 32->64, 64->128: all three kernels; 3->16 keeps im2col
    assert len(calls) == 9
    assert {shape[1] for _, shape in calls} == {16, 32, 64, 128}


def test_winograd_stops_past_16x16_outputs(monkeypatch):
    calls = _spy(monkeypatch, ("conv_winograd", "filter_winograd"))
    _compare(_conv_and_grads(padding=1), _conv_case((2, 16, 17, 16), (16, 16, 3, 3), padding=1))
    assert calls == set()


def test_winograd_in_float64(monkeypatch):
    calls = _spy(monkeypatch, ("conv_winograd",))
    arrays = _conv_case((3, 16, 9, 10), (17, 16, 3, 3), dtype="float64", padding=1)
    _compare(_conv_and_grads(padding=1), arrays, rtol=1e-10)
    assert len(calls) == 2


INFINITE_CASES = {
    "winograd": ((2, 16, 8, 8), (16, 16, 3, 3), 1),
    "shifted_3x3": ((2, 16, 20, 20), (16, 16, 3, 3), 1),
    "shifted_5x5": ((2, 24, 16, 16), (16, 24, 5, 5), 2),  # the weight gradient's shifted GEMMs too
}


@pytest.mark.parametrize("where", ["x", "gy", "w"])
@pytest.mark.parametrize("case", INFINITE_CASES.values(), ids=INFINITE_CASES.keys())
def test_an_infinite_operand_gives_the_reference_infinities_where_the_fast_loops_would_serve(case, where):
    """Winograd's transforms add and subtract neighbouring values (one inf meets itself as inf - inf),
    the shifted GEMMs multiply the zero border and their dropped columns (0 * inf): NaN where the
    reference's sums give +-inf. Operands that are not all finite take im2col."""
    x_shape, w_shape, padding = case
    x, w, gy = _conv_case(x_shape, w_shape, padding=padding)
    {"x": x, "gy": gy, "w": w}[where][1, 2, 2, 1] = np.inf
    _compare(_conv_and_grads(padding=padding), [x, w, gy], rtol=2e-4)


@pytest.mark.parametrize("large", ["x", "gy"])
def test_operands_near_the_float32_range_keep_off_winograd(large):
    """Finite values near 1e38 overflow in Winograd's transforms (sums of 4 values in, 9 planes out),
    then meet as inf - inf: NaN where the reference's values are finite (~1e36). They take im2col."""
    x, w, gy = _conv_case((2, 16, 8, 8), (16, 16, 3, 3), padding=1)
    w *= np.float32(1e-3)
    small = {"x": gy, "gy": x}[large]
    small *= np.float32(1e-3)
    big = {"x": x, "gy": gy}[large]
    big[...] = np.clip(big, -1, 1) * np.float32(1e38)
    _compare(_conv_and_grads(padding=1), [x, w, gy])


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


@pytest.mark.parametrize("channels", [8, 16], ids=["im2col", "winograd"])
def test_one_thread_and_several_agree(channels):
    """The threads' ranges of images give the same results as one thread: up to float32 rounding at
    the results' scale (the weight gradient adds the threads' partial sums: 1.5k products each)."""
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
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())


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
