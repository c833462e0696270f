"""Samples for graphc/ops/like.py: ops shaped by another tensor at run time, and stop_gradient."""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"

SAMPLES = [
    Sample(
        "BroadcastLike",
        gc.broadcast_like,
        lambda x, like: np.broadcast_to(x, like.shape).copy(),
        (Arg((1, 3), F), Arg((4, 3), F, static=(None, 3))),
    ),
    Sample(
        "BroadcastLike",
        gc.broadcast_like,
        lambda x, like: np.broadcast_to(x, like.shape).copy(),
        (Arg((2,), F, static=(None,)), Arg((3, 1, 2), F, static=(None, None, None))),
        name="rank_up_unknown",
    ),
    Sample(
        "SumLike",
        gc.sum_like,
        lambda g, like: g.sum(axis=0).sum(axis=0, keepdims=True),
        (Arg((2, 4, 3), F, static=(None, None, 3)), Arg((1, 3), F, static=(None, 3))),
    ),
    Sample(
        "SumLike",
        gc.sum_like,
        lambda g, like: g.sum(axis=1, keepdims=True),
        (Arg((4, 3), F, static=(None, 3)), Arg((4, 1), F, static=(None, None))),
        name="inner_axis",
    ),
    Sample(
        "SumLike",
        gc.sum_like,
        lambda g, like: g.copy(),
        (Arg((0, 3), F, static=(None, 3)), Arg((0, 3), F, static=(None, 3))),
        name="empty_no_op",
    ),
    Sample(
        "ReshapeLike",
        gc.reshape_like,
        lambda x, like: x.reshape(like.shape),
        (Arg((2, 6), F, static=(None, 6)), Arg((3, 2, 2), F, static=(None, 2, None))),
    ),
    Sample("StopGradient", gc.stop_gradient, lambda x: x.copy(), (Arg((2, 3), F, static=(None, 3)),)),
]
