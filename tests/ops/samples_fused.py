"""Samples for graphc/ops/fused.py: FusedOps built directly (the fusion pass makes them in programs).

Expected values are numpy formulas written out (float64 where it matters, rounded to the output dtype),
never the body ops' references.
"""

import numpy as np

import graphc as gc
from graphc.ops.elementwise import Add, Cast, Exp, Greater, Multiply, Square, Tanh, Where
from graphc.ops.fused import FusedOp
from graphc.ops.reduce import LogSumExp, Max, Mean, Sum
from tests.ops.samples import Arg, Sample

F = "float32"
ROW_BCAST = (Arg((4, 3), F), Arg((3,), F))
UNKNOWN = (Arg((5, 3), F, static=(None, 3)), Arg((1, 3), F))


def _fused(body, n_inputs, outputs):
    op = FusedOp(tuple(body), n_inputs, tuple(outputs))
    return lambda *xs: gc.apply(op, list(xs))


def _f32(fn):
    return lambda *xs: np.asarray(fn(*(x.astype(np.float64) for x in xs)), np.float32)


def _lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m, axis=axis)


SAMPLES = [
    # exp(x) * y, y broadcast along rows
    Sample(
        "FusedOp",
        _fused([(Exp(), (0,)), (Multiply(), (2, 1))], 2, [3]),
        _f32(lambda x, y: np.exp(x) * y),
        ROW_BCAST,
        name="broadcast_chain",
        rtol=1e-6,
    ),
    # a run-time batch dim against a size-1 one: the output's first dim stays unknown
    Sample(
        "FusedOp",
        _fused([(Add(), (0, 1)), (Tanh(), (2,))], 2, [3]),
        _f32(lambda x, y: np.tanh(x + y)),
        UNKNOWN,
        name="unknown_dim",
        rtol=1e-6,
    ),
    # two outputs: the intermediate is used outside the fused node too
    Sample(
        "FusedOp",
        _fused([(Square(), (0,)), (Multiply(), (2, 1))], 2, [2, 3]),
        lambda x, y: (x * x, x * x * y),
        ROW_BCAST,
        name="two_outputs",
    ),
    # bool intermediate and a cast: max(x, y) written as where(x > y, x, y), then cast to int32
    Sample(
        "FusedOp",
        _fused([(Greater(), (0, 1)), (Where(), (2, 0, 1)), (Cast(np.dtype("int32")), (3,))], 2, [4]),
        lambda x, y: np.maximum(x, y).astype(np.int32),
        (Arg((4, 3), F, -5.0, 5.0), Arg((3,), F, -5.0, 5.0)),
        name="bool_and_cast",
    ),
    # a trailing sum over axis 1, returned with the value it reduces
    Sample(
        "FusedOp",
        _fused([(Square(), (0,)), (Multiply(), (2, 1)), (Sum((1,)), (3,))], 2, [3, 4]),
        lambda x, y: (x * x * y, _f32(lambda a, b: (a * a * b).sum(1))(x, y)),
        ROW_BCAST,
        name="trailing_sum",
        rtol=1e-5,
    ),
    Sample(
        "FusedOp",
        _fused([(Exp(), (0,)), (Mean((0,), keepdims=True), (1,))], 1, [2]),
        _f32(lambda x: np.exp(x).mean(0, keepdims=True)),
        (Arg((5, 3), F, static=(None, 3)),),
        name="trailing_mean_unknown_dim",
        rtol=1e-5,
    ),
    Sample(
        "FusedOp",
        _fused([(Multiply(), (0, 1)), (Max((0, 1)), (2,))], 2, [3]),
        lambda x, y: np.max(x * y),
        ROW_BCAST,
        name="trailing_max_all",
    ),
    Sample(
        "FusedOp",
        _fused([(Add(), (0, 1)), (LogSumExp((1,)), (2,))], 2, [3]),
        _f32(lambda x, y: _lse(x + y, 1)),
        ROW_BCAST,
        name="trailing_logsumexp",
        rtol=1e-5,
    ),
]
