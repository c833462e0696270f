"""Samples for graphc/ops/nn.py: softmax and log_softmax.

Expected values are the textbook formulas evaluated in float64 (fine for moderate inputs), or written
out by hand for extreme inputs where the textbook formula would overflow.
"""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"
D = "float64"


def _softmax(axis):
    def expect(x):
        e = np.exp(x.astype(D))
        out = e / e.sum(axis=axis, keepdims=True)
        return out.astype(x.dtype if x.dtype.kind == "f" else F)

    return expect


def _log_softmax(axis):
    def expect(x):
        x64 = x.astype(D)
        out = x64 - np.log(np.exp(x64).sum(axis=axis, keepdims=True))
        return out.astype(x.dtype if x.dtype.kind == "f" else F)

    return expect


# rows: huge equal-ish values, huge negative values, a mix of 1e4 and -1e4
EXTREME = Arg((3, 3), F, value=[[1e4, 1e4 - 1, 1e4 - 2], [-1e4, -1e4 - 1, -1e4 - 2], [1e4, -1e4, 0.0]])
_P = np.exp([0.0, -1.0, -2.0]) / np.exp([0.0, -1.0, -2.0]).sum()  # softmax of [0, -1, -2]
EXTREME_SOFTMAX = np.array([_P, _P, [1.0, 0.0, 0.0]], F)
EXTREME_LOG_SOFTMAX = np.array([np.log(_P), np.log(_P), [0.0, -2e4, -1e4]], F)

SAMPLES = [
    Sample("Softmax", gc.softmax, _softmax(-1), (Arg((3, 4), F),)),
    Sample("Softmax", lambda x: gc.softmax(x, axis=0), _softmax(0), (Arg((3, 4), F),), name="axis0"),
    Sample(
        "Softmax",
        lambda x: gc.softmax(x, axis=-2),
        _softmax(1),
        (Arg((2, 3, 4), D),),
        name="negative_axis_f64",
        rtol=1e-12,
    ),
    Sample(
        "Softmax",
        gc.softmax,
        _softmax(-1),
        (Arg((5, 4), F, static=(None, None)),),
        name="unknown_dims",
    ),
    Sample("Softmax", gc.softmax, _softmax(-1), (Arg((0, 4), F, static=(None, 4)),), name="empty_batch"),
    Sample("Softmax", gc.softmax, _softmax(-1), (Arg((2, 0), F),), name="empty_axis"),
    Sample("Softmax", gc.softmax, lambda x: np.ones_like(x), (Arg((3, 1), F),), name="size1_axis"),
    Sample("Softmax", gc.softmax, _softmax(-1), (Arg((2, 5), "int32", -3, 4),), name="int", rtol=1e-6),
    Sample("Softmax", gc.softmax, lambda x: EXTREME_SOFTMAX, (EXTREME,), name="extreme"),
    Sample(
        "Softmax",
        gc.softmax,
        lambda x: np.array([0.0, 0.5, 0.5], F),
        (Arg((3,), F, value=[-np.inf, 3.0, 3.0]),),
        name="minus_inf",
    ),
    Sample("LogSoftmax", gc.log_softmax, _log_softmax(-1), (Arg((3, 4), F),), rtol=1e-5),
    Sample(
        "LogSoftmax",
        lambda x: gc.log_softmax(x, axis=-3),
        _log_softmax(0),
        (Arg((2, 3, 4), D, static=(None, 3, None)),),
        name="negative_axis_unknown_dims",
        rtol=1e-12,
    ),
    Sample(
        "LogSoftmax",
        gc.log_softmax,
        _log_softmax(-1),
        (Arg((0, 3), F, static=(None, 3)),),
        name="empty_batch",
    ),
    Sample("LogSoftmax", gc.log_softmax, lambda x: np.zeros_like(x), (Arg((4, 1), F),), name="size1_axis"),
    Sample(
        "LogSoftmax", gc.log_softmax, _log_softmax(1), (Arg((2, 5), "int64", -3, 4),), name="int", rtol=1e-5
    ),
    Sample(
        "LogSoftmax", gc.log_softmax, lambda x: EXTREME_LOG_SOFTMAX, (EXTREME,), name="extreme", rtol=1e-6
    ),
]


def _cross_entropy(z, labels):
    """-log_softmax(z)[label] in float64 (scipy's logsumexp), rounded to z's dtype."""
    from scipy.special import logsumexp

    z64 = z.astype(D)
    picked = np.take_along_axis(z64, labels[..., None].astype(np.intp), axis=-1)[..., 0]
    return (logsumexp(z64, axis=-1) - picked).astype(z.dtype)


_XE = gc.sparse_softmax_cross_entropy
EXTREME_LABELS = Arg((3,), "int64", value=[2, 0, 1])

SAMPLES += [
    Sample("SoftmaxCrossEntropy", _XE, _cross_entropy, (Arg((4, 5), F), Arg((4,), "int64", 0, 5))),
    Sample(
        "SoftmaxCrossEntropy",
        _XE,
        _cross_entropy,
        (Arg((2, 3, 4), D), Arg((2, 3), "int32", 0, 4)),
        name="batch_2d_f64_int32",
        rtol=1e-12,
    ),
    Sample(
        "SoftmaxCrossEntropy",
        _XE,
        _cross_entropy,
        (Arg((6, 3), F, static=(None, 3)), Arg((6,), "int64", 0, 3, static=(None,))),
        name="unknown_batch",
    ),
    Sample(
        "SoftmaxCrossEntropy",
        _XE,
        _cross_entropy,
        (Arg((0, 3), F, static=(None, 3)), Arg((0,), "int64", 0, 3, static=(None,))),
        name="empty_batch",
    ),
    Sample(
        "SoftmaxCrossEntropy",
        _XE,
        _cross_entropy,
        (Arg((3,), D), Arg((), "int64", 0, 3)),
        name="single_example",
        rtol=1e-12,
    ),
    Sample(
        "SoftmaxCrossEntropy",
        _XE,
        lambda z, labels: np.array([-np.log(_P[2]), -np.log(_P[0]), 2e4], F),
        (EXTREME, EXTREME_LABELS),
        name="extreme",
        rtol=1e-6,
    ),
]
