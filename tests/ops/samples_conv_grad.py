"""Samples for graphc/ops/conv_grad.py: conv2d's transposes and the pooling gradients.

Expected values come from explicit loops over output positions and kernel taps that send each output's
gradient back to the pixels it read (bounds checks, no padded arrays), so they share nothing with the
ops' scatter references. On ties a max-pool window's gradient goes to its first max in row-major order.
"""

import itertools

import numpy as np

from graphc.ops import conv_grad as cg
from tests.ops.samples import Arg, Sample
from tests.ops.samples_conv import D, F, W, X, _max, _pairs, _pool_loops


def _taps(i, j, kernel, stride, pads, dilation=(1, 1)):
    """(a, b, r, s) for each tap of output (i, j) in row-major order: (r, s) the unpadded pixel it reads."""
    for a, b in itertools.product(range(kernel[0]), range(kernel[1])):
        yield a, b, i * stride[0] + a * dilation[0] - pads[0], j * stride[1] + b * dilation[1] - pads[2]


def _conv_grads_loops(x, w, gy, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1)):
    """(gx, gw) of conv2d: every product x[n,c,r,s] * w[o,c,a,b] that made y[n,o,i,j] sends gy back."""
    gx, gw = np.zeros(x.shape), np.zeros(w.shape)
    n_, o_, oh, ow = gy.shape
    for n, o, i, j in itertools.product(range(n_), range(o_), range(oh), range(ow)):
        for a, b, r, s in _taps(i, j, w.shape[2:], stride, pads, dilation):
            if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]:
                gx[n, :, r, s] += gy[n, o, i, j] * w[o, :, a, b]
                gw[o, :, a, b] += gy[n, o, i, j] * x[n, :, r, s]
    return gx.astype(gy.dtype), gw.astype(gy.dtype)


def _first_max(x, n, c, i, j, kernel, stride, pad):
    """The pixel (r, s) of window (i, j) holding its first max in row-major order (ties: the first)."""
    best = None
    for _, _, r, s in _taps(i, j, kernel, stride, (pad[0], pad[0], pad[1], pad[1])):
        if 0 <= r < x.shape[2] and 0 <= s < x.shape[3] and (best is None or x[n, c, r, s] > x[(n, c, *best)]):
            best = (r, s)
    return best


def _max_pool_grad_loops(x, gy, kernel, stride, pad):
    gx = np.zeros(x.shape)
    for n, c, i, j in itertools.product(*map(range, gy.shape)):
        gx[(n, c, *_first_max(x, n, c, i, j, kernel, stride, pad))] += gy[n, c, i, j]
    return gx.astype(gy.dtype)


def _max_pool_gather_loops(x, g, kernel, stride, pad):
    y = np.zeros(_pool_loops(x, kernel, stride, pad, _max).shape)
    for n, c, i, j in itertools.product(*map(range, y.shape)):
        y[n, c, i, j] = g[(n, c, *_first_max(x, n, c, i, j, kernel, stride, pad))]
    return y.astype(g.dtype)


def _avg_pool_grad_loops(gy, x, kernel, stride, pad):
    gx = np.zeros(x.shape)
    for n, c, i, j in itertools.product(*map(range, gy.shape)):
        for _, _, r, s in _taps(i, j, kernel, stride, (pad[0], pad[0], pad[1], pad[1])):
            if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]:
                gx[n, c, r, s] += gy[n, c, i, j] / (kernel[0] * kernel[1])  # padded taps take their share
    return gx.astype(gy.dtype)


def _conv_grads(name, x, w, gy, expect_kw, **conv_kw):
    """Samples of both of conv2d's transposes (gradient ops) for one conv2d configuration."""
    return [
        Sample(
            "Conv2DBackpropInput",
            lambda g, k, a: cg.conv2d_backprop_input(g, k, a, **conv_kw),
            lambda g, k, a: _conv_grads_loops(a, k, g, **expect_kw)[0],
            (gy, w, x),
            name=name,
            rtol=1e-5,
            atol=1e-5,
        ),
        Sample(
            "Conv2DBackpropFilter",
            lambda a, g, k: cg.conv2d_backprop_filter(a, g, k, **conv_kw),
            lambda a, g, k: _conv_grads_loops(a, k, g, **expect_kw)[1],
            (x, gy, w),
            name=name,
            rtol=1e-5,
            atol=1e-5,
        ),
    ]


def _pool_grad(op, fn, loops, name, args, kernel, stride=None, padding=(0, 0)):
    """A sample of a pooling gradient op: ``fn(a, b, kernel, ...)``, expected ``loops(a, b, ...)``."""
    kern, step, pads = _pairs(kernel, stride, padding)
    return Sample(
        op,
        lambda a, b: fn(a, b, kernel, stride=stride, padding=padding),
        lambda a, b: loops(a, b, kern, step, pads),
        args,
        name=name,
        rtol=1e-5,
    )


# overlapping 2x2 windows (stride 1) with tied maxima: only each window's first max gets its gradient
TIES = Arg((1, 1, 4, 4), F, value=[[[[1, 1, 0, 2], [1, 1, 2, 2], [0, 3, 3, 0], [3, 3, 0, 0]]]])

SAMPLES = [
    *_conv_grads(
        "stride2_pad1",
        X,
        W,
        Arg((2, 4, 3, 3), F),
        {"stride": (2, 2), "pads": (1, 1, 1, 1)},
        stride=2,
        padding=1,
    ),
    # 6 - 3 = 3 rows: not a multiple of the stride, row 5 is never read and gets 0
    *_conv_grads(
        "unread_row",
        Arg((1, 2, 6, 7), F),
        Arg((3, 2, 3, 3), F),
        Arg((1, 3, 2, 3), F),
        {"stride": (2, 2)},
        stride=2,
    ),
    *_conv_grads(
        "stride3_dilation_unknown_batch",
        Arg((2, 2, 8, 6), F, static=(None, 2, 8, 6)),
        Arg((2, 2, 2, 3), F),
        Arg((2, 2, 3, 2), F, static=(None, 2, 3, 2)),
        {"stride": (3, 2), "pads": (1, 1, 0, 0), "dilation": (2, 1)},
        stride=(3, 2),
        padding=(1, 0),
        dilation=(2, 1),
    ),
    *_conv_grads(
        "asymmetric",
        X,
        Arg((2, 3, 2, 3), F),
        Arg((2, 2, 4, 1), F),
        {"stride": (2, 1), "pads": (1, 1, 0, 0), "dilation": (1, 2)},
        stride=(2, 1),
        padding=(1, 0),
        dilation=(1, 2),
    ),
    # "same" kept as the mode (H, W unknown when built), resolved from x's run-time shape: (0, 1, 0, 1)
    *_conv_grads(
        "same_unknown_hw",
        Arg((2, 3, 6, 5), F, static=(None, 3, None, None)),
        Arg((4, 3, 3, 2), F),
        Arg((2, 4, 3, 3), F, static=(None, 4, None, None)),
        {"stride": (2, 2), "pads": (0, 1, 0, 1)},
        stride=2,
        padding="same",
    ),
    *_conv_grads("pointwise_f64", Arg((2, 3, 4, 4), D), Arg((5, 3, 1, 1), D), Arg((2, 5, 4, 4), D), {}),
    _pool_grad(
        "AvgPool2DGrad",
        cg.avg_pool2d_grad,
        _avg_pool_grad_loops,
        "k3_s2_pad1",
        (Arg((2, 2, 3, 3), F), Arg((2, 2, 5, 6), F)),
        3,
        stride=2,
        padding=1,
    ),
    _pool_grad(  # row and column 4 are never read
        "AvgPool2DGrad",
        cg.avg_pool2d_grad,
        _avg_pool_grad_loops,
        "k2_unread",
        (Arg((1, 2, 2, 2), F), Arg((1, 2, 5, 5), F)),
        2,
    ),
    _pool_grad(
        "AvgPool2DGrad",
        cg.avg_pool2d_grad,
        _avg_pool_grad_loops,
        "overlap_padded_unknown",
        (
            Arg((2, 1, 5, 4), F, static=(None, 1, None, None)),
            Arg((2, 1, 5, 4), F, static=(None, 1, None, None)),
        ),
        3,
        stride=1,
        padding=1,
    ),
    _pool_grad(
        "AvgPool2DGrad",
        cg.avg_pool2d_grad,
        _avg_pool_grad_loops,
        "rect_f64",
        (Arg((1, 2, 4, 5), D), Arg((1, 2, 7, 6), D)),
        (3, 2),
        stride=(2, 1),
        padding=(1, 0),
    ),
    _pool_grad(
        "MaxPool2DGrad",
        cg.max_pool2d_grad,
        _max_pool_grad_loops,
        "k3_s1_overlap",
        (Arg((1, 2, 5, 5), F), Arg((1, 2, 3, 3), F)),
        3,
        stride=1,
    ),
    _pool_grad(
        "MaxPool2DGrad",
        cg.max_pool2d_grad,
        _max_pool_grad_loops,
        "k3_s2_pad1_negative",
        (Arg((2, 2, 5, 5), F, low=-5.0, high=-1.0), Arg((2, 2, 3, 3), F)),
        3,
        stride=2,
        padding=1,
    ),
    _pool_grad(
        "MaxPool2DGrad",
        cg.max_pool2d_grad,
        _max_pool_grad_loops,
        "k2_unknown",
        (Arg((2, 3, 5, 7), F, static=(None,) * 4), Arg((2, 3, 2, 3), F, static=(None,) * 4)),
        2,
    ),
    _pool_grad(
        "MaxPool2DGrad",
        cg.max_pool2d_grad,
        _max_pool_grad_loops,
        "rect_f64",
        (Arg((1, 2, 7, 6), D), Arg((1, 2, 3, 5), D)),
        (3, 2),
        stride=(2, 1),
    ),
    _pool_grad(
        "MaxPool2DGrad",
        cg.max_pool2d_grad,
        _max_pool_grad_loops,
        "ties",
        (TIES, Arg((1, 1, 3, 3), F)),
        2,
        stride=1,
    ),
    _pool_grad(
        "MaxPool2DGather",
        cg.max_pool2d_gather,
        _max_pool_gather_loops,
        "k3_s1_overlap",
        (Arg((1, 2, 5, 5), F), Arg((1, 2, 5, 5), F)),
        3,
        stride=1,
    ),
    _pool_grad(
        "MaxPool2DGather",
        cg.max_pool2d_gather,
        _max_pool_gather_loops,
        "k3_s2_pad1_unknown",
        (
            Arg((2, 2, 5, 5), D, static=(None, 2, None, None)),
            Arg((2, 2, 5, 5), D, static=(None, 2, None, None)),
        ),
        3,
        stride=2,
        padding=1,
    ),
    _pool_grad(
        "MaxPool2DGather",
        cg.max_pool2d_gather,
        _max_pool_gather_loops,
        "ties",
        (TIES, Arg((1, 1, 4, 4), F)),
        2,
        stride=1,
    ),
]
