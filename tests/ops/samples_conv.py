"""Samples for graphc/ops/conv.py: conv2d, max_pool2d and avg_pool2d.

Expected values come from explicit loops over output positions and kernel taps, with padding handled by
bounds checks (not by padding the array), so they share nothing with the ops' window-view references.
Shapes are small to keep the loops fast (and the gradient checks, which run on every sample).
"""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"
D = "float64"


def _conv_loops(x, w, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1)):
    """y[n,o,i,j] = sum over c, a, b of x[n, c, i*sh + a*dh - top, j*sw + b*dw - left] * w[o, c, a, b]."""
    n_, c_, h, wd = x.shape
    o_, _, kh, kw = w.shape
    top, bottom, left, right = pads
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n_, o_, oh, ow))
    for n in range(n_):
        for o in range(o_):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for c in range(c_):
                        for a in range(kh):
                            for b in range(kw):
                                r = i * stride[0] + a * dilation[0] - top
                                s = j * stride[1] + b * dilation[1] - left
                                if 0 <= r < h and 0 <= s < wd:
                                    total += float(x[n, c, r, s]) * float(w[o, c, a, b])
                    y[n, o, i, j] = total
    return y.astype(x.dtype)


def _pool_loops(x, kernel, stride, pad, reduce):
    """Each output is ``reduce`` of the in-bounds taps of its window and the number of padded taps."""
    n_, c_, h, w = x.shape
    oh = (h + 2 * pad[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * pad[1] - kernel[1]) // stride[1] + 1
    y = np.zeros((n_, c_, oh, ow))
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    taps, outside = [], 0
                    for a in range(kernel[0]):
                        for b in range(kernel[1]):
                            r, s = i * stride[0] + a - pad[0], j * stride[1] + b - pad[1]
                            if 0 <= r < h and 0 <= s < w:
                                taps.append(float(x[n, c, r, s]))
                            else:
                                outside += 1
                    y[n, c, i, j] = reduce(taps, outside)
    return y.astype(x.dtype)


def _max(taps, outside):
    return max(taps)  # padding is -inf: it never wins


def _mean_with_zeros(taps, outside):
    return sum(taps) / (len(taps) + outside)  # padded zeros count (count_include_pad=True)


def _conv(name, x, w, expect_kw, rtol=1e-5, **conv_kw):
    return Sample(
        "Conv2D",
        lambda a, b: gc.conv2d(a, b, **conv_kw),
        lambda a, b: _conv_loops(a, b, **expect_kw),
        (x, w),
        name=name,
        rtol=rtol,
        atol=1e-5,
    )


def _pairs(kernel, stride, padding):
    """(kernel, stride, padding) as pairs, the stride defaulting to the kernel."""

    def pair(v):
        return v if isinstance(v, tuple) else (v, v)

    return pair(kernel), pair(kernel if stride is None else stride), pair(padding)


def _pool(op, fn, reduce, name, x, kernel, stride=None, padding=(0, 0), **kw):
    kern, step, pads = _pairs(kernel, stride, padding)
    return Sample(
        op,
        lambda a: fn(a, kernel, stride=stride, padding=padding),
        lambda a: _pool_loops(a, kern, step, pads, reduce),
        (x,),
        name=name,
        rtol=1e-6,
        **kw,
    )


X = Arg((2, 3, 6, 5), F)
W = Arg((4, 3, 3, 3), F)

SAMPLES = [
    _conv("valid", X, W, {}),
    _conv("valid_string", X, W, {}, padding="valid"),
    _conv("stride2_pad1", X, W, {"stride": (2, 2), "pads": (1, 1, 1, 1)}, stride=2, padding=1),
    _conv(
        "asymmetric",
        X,
        Arg((2, 3, 2, 3), F),
        {"stride": (2, 1), "pads": (1, 1, 0, 0), "dilation": (1, 2)},
        stride=(2, 1),
        padding=(1, 0),
        dilation=(1, 2),
    ),
    _conv("dilation2", Arg((1, 2, 7, 7), F), Arg((3, 2, 3, 3), F), {"dilation": (2, 2)}, dilation=2),
    # "same", stride 2, kernel 2: 6 rows need no padding (3 outputs), 5 cols pad 1 at the right only
    _conv(
        "same_stride2",
        X,
        Arg((4, 3, 2, 2), F),
        {"stride": (2, 2), "pads": (0, 0, 0, 1)},
        stride=2,
        padding="same",
    ),
    # "same" with an odd total: 5 cols, k=4, stride 1 -> total 3: left 1, right 2
    _conv("same_odd_total", X, Arg((2, 3, 3, 4), F), {"pads": (1, 1, 1, 2)}, padding="SAME"),
    # H and W unknown when built: the pads are resolved from the run-time shape
    _conv(
        "same_unknown_hw",
        Arg((2, 3, 6, 5), F, static=(None, 3, None, None)),
        Arg((4, 3, 3, 2), F),
        {"stride": (2, 2), "pads": (0, 1, 0, 1)},
        stride=2,
        padding="same",
    ),
    _conv(
        "unknown_batch", Arg((3, 3, 6, 5), F, static=(None, 3, 6, 5)), W, {"pads": (1, 1, 1, 1)}, padding=1
    ),
    # 8 + 2 - 3 = 7 rows: not a multiple of the stride 3; column 5 is never read
    _conv(
        "stride3_dilation_unknown_batch",
        Arg((2, 2, 8, 6), F, static=(None, 2, 8, 6)),
        Arg((2, 2, 2, 3), F),
        {"stride": (3, 2), "pads": (1, 1, 0, 0), "dilation": (2, 1)},
        stride=(3, 2),
        padding=(1, 0),
        dilation=(2, 1),
    ),
    _conv("unknown_channels", Arg((1, 3, 4, 4), F, static=(1, None, 4, 4)), Arg((2, 3, 2, 2), F), {}),
    _conv("empty_batch", Arg((0, 3, 6, 5), F, static=(None, 3, 6, 5)), W, {}),
    _conv("pointwise", Arg((2, 3, 4, 4), D), Arg((5, 3, 1, 1), D), {}, rtol=1e-12),
    _conv("kernel_is_image", Arg((2, 3, 3, 3), D), Arg((1, 3, 3, 3), D), {}, rtol=1e-12),
    _conv(
        "one_pixel_image_padded",
        Arg((1, 1, 1, 1), F),
        Arg((1, 1, 3, 3), F),
        {"pads": (1, 1, 1, 1)},
        padding=1,
    ),
    _pool("MaxPool2D", gc.max_pool2d, _max, "k2", Arg((2, 3, 6, 4), F), 2),
    _pool("MaxPool2D", gc.max_pool2d, _max, "k3_s1", Arg((1, 2, 5, 5), F), 3, stride=1),
    _pool(
        "MaxPool2D", gc.max_pool2d, _max, "rect_kernel_stride", Arg((1, 2, 7, 6), D), (3, 2), stride=(2, 1)
    ),
    # all-negative input: zero padding would win the max, -inf padding never does
    _pool(
        "MaxPool2D",
        gc.max_pool2d,
        _max,
        "padded_negative",
        Arg((2, 2, 5, 5), F, low=-5.0, high=-1.0),
        3,
        stride=2,
        padding=1,
    ),
    _pool(
        "MaxPool2D",
        gc.max_pool2d,
        _max,
        "unknown_dims",
        Arg((2, 3, 5, 7), F, static=(None, None, None, None)),
        2,
    ),
    _pool(
        "MaxPool2D",
        gc.max_pool2d,
        _max,
        "unknown_batch_padded",
        Arg((2, 2, 5, 5), F, static=(None, 2, 5, 5)),
        3,
        stride=2,
        padding=1,
    ),
    _pool("MaxPool2D", gc.max_pool2d, _max, "empty_batch", Arg((0, 3, 4, 4), F, static=(None, 3, 4, 4)), 2),
    _pool(
        "MaxPool2D", gc.max_pool2d, _max, "pad_half_even_kernel", Arg((1, 1, 3, 3), F), 2, stride=1, padding=1
    ),
    _pool("AvgPool2D", gc.avg_pool2d, _mean_with_zeros, "k2", Arg((2, 3, 6, 4), F), 2),
    _pool(
        "AvgPool2D",
        gc.avg_pool2d,
        _mean_with_zeros,
        "k3_s2_pad1",
        Arg((2, 2, 5, 6), F),
        3,
        stride=2,
        padding=1,
    ),
    _pool(
        "AvgPool2D",
        gc.avg_pool2d,
        _mean_with_zeros,
        "rect",
        Arg((1, 2, 7, 6), D),
        (3, 2),
        stride=(2, 1),
        padding=(1, 0),
    ),
    _pool(
        "AvgPool2D",
        gc.avg_pool2d,
        _mean_with_zeros,
        "unknown_hw",
        Arg((2, 1, 5, 5), F, static=(2, 1, None, None)),
        2,
    ),
    _pool(
        "AvgPool2D",
        gc.avg_pool2d,
        _mean_with_zeros,
        "overlap_padded_unknown",
        Arg((2, 1, 5, 4), F, static=(None, 1, None, 4)),
        3,
        stride=1,
        padding=1,
    ),
    _pool("AvgPool2D", gc.avg_pool2d, _mean_with_zeros, "empty_channels", Arg((2, 0, 4, 4), F), 2),
    _pool("AvgPool2D", gc.avg_pool2d, _mean_with_zeros, "kernel1", Arg((1, 2, 3, 3), F), 1),
]
