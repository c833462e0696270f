"""Samples for graphc/ops/shape.py: reshape, expand_dims, squeeze, broadcast_to, concat, stack, split,
shape and size. Float samples are gradient-checked too (tests/ops/test_grad_contract.py): ``None`` dims
and outputs left unused exercise the run-time forms of the gradient rules."""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"
CUBE = Arg((2, 3, 4), F)
BATCH = Arg((5, 2, 3), F, static=(None, 2, 3))  # run-time batch dim
EMPTY = Arg((0, 3), F, static=(None, 3))


def _shape_of(x):
    return np.array([x.shape[i] for i in range(x.ndim)], dtype=np.int64)


SAMPLES = [
    # Reshape
    Sample("Reshape", lambda x: gc.reshape(x, (4, 6)), lambda x: x.reshape(4, 6), (CUBE,)),
    Sample("Reshape", lambda x: x.reshape(6, -1), lambda x: x.reshape(6, 4), (CUBE,), name="minus_one"),
    Sample("Reshape", lambda x: x.reshape(-1), lambda x: x.ravel(), (CUBE,), name="flatten"),
    Sample(
        "Reshape",
        lambda x: gc.reshape(x, (-1, 6)),
        lambda x: x.reshape(len(x), 6),
        (BATCH,),
        name="unknown_batch",
    ),
    Sample(
        "Reshape",
        lambda x: gc.reshape(x, (3, 10)),
        lambda x: x.reshape(3, 10),
        (BATCH,),
        name="unknown_to_static",
    ),
    Sample(
        "Reshape",
        lambda x: gc.reshape(x, (-1, 3, 1)),
        lambda x: np.zeros((0, 3, 1), F),
        (EMPTY,),
        name="empty",
    ),
    Sample("Reshape", lambda x: gc.reshape(x, (1, 1)), lambda x: x[None, None], (Arg((), F),), name="scalar"),
    Sample(
        "Reshape",
        lambda x: gc.reshape(x, (-1, 2)),
        lambda x: x.reshape(-1, 2),
        (Arg((2, 4, 3), F, static=(None, None, 3)),),
        name="two_unknown",
    ),
    Sample(
        "Reshape",
        lambda x: x.reshape((2, 2)),
        lambda x: np.array([x[:2], x[2:]]),
        (Arg((4,), "int32", 0, 9),),
        name="int32",
    ),
    # ExpandDims
    Sample("ExpandDims", lambda x: gc.expand_dims(x, 0), lambda x: x[None], (Arg((3, 4), F),)),
    Sample(
        "ExpandDims",
        lambda x: gc.expand_dims(x, -1),
        lambda x: x[..., None],
        (Arg((4, 3), F, static=(None, 3)),),
        name="negative_axis",
    ),
    Sample(
        "ExpandDims",
        lambda x: gc.expand_dims(x, (0, 2)),
        lambda x: x[None, :, None],
        (Arg((3,), "bool"),),
        name="two_axes_bool",
    ),
    # Squeeze
    Sample("Squeeze", gc.squeeze, lambda x: x[0, :, 0, :], (Arg((1, 3, 1, 2), F),), name="all"),
    Sample(
        "Squeeze",
        lambda x: gc.squeeze(x, -1),
        lambda x: x[:, 0],
        (Arg((4, 1), F, static=(None, None)),),
        name="unknown_dim_named",
    ),
    Sample(
        "Squeeze",
        gc.squeeze,
        lambda x: x[:, 0],
        (Arg((0, 1), "int64", static=(None, 1)),),
        name="keeps_unknown",
    ),
    # BroadcastTo
    Sample("BroadcastTo", lambda x: gc.broadcast_to(x, (2, 3)), lambda x: np.array([x, x]), (Arg((3,), F),)),
    Sample(
        "BroadcastTo",
        lambda x: gc.broadcast_to(x, (4, 3)),
        lambda x: x * np.ones((1, 3), "int64"),
        (Arg((4, 1), "int64", 0, 9, static=(None, 1)),),
        name="unknown_dim",
    ),
    Sample(
        "BroadcastTo",
        lambda x: gc.broadcast_to(x, (2, 0, 3)),
        lambda x: np.zeros((2, 0, 3), F),
        (Arg((1, 3), F),),
        name="to_empty",
    ),
    Sample(
        "BroadcastTo",
        lambda x: gc.broadcast_to(x, (2, 4, 3)),
        lambda x: np.array([x * np.ones((4, 1), F)] * 2),
        (Arg((1, 3), F, static=(None, 3)),),
        name="unknown_dim_was_one",
    ),
    Sample(
        "BroadcastTo",
        lambda x: gc.broadcast_to(x, (2, 4, 3)),
        lambda x: np.array([x, x]),
        (Arg((4, 3), F, static=(None, 3)),),
        name="unknown_dim_was_full",
    ),
    Sample(
        "BroadcastTo",
        lambda x: gc.broadcast_to(x, (2, 4, 3)),
        lambda x: np.array([np.hstack([x] * 3)] * 2),
        (Arg((4, 1), F),),
        name="static_one_and_lead",
    ),
    # Concat
    Sample(
        "Concat",
        lambda x, y: gc.concat([x, y], axis=0),
        lambda x, y: np.vstack([x, y]),
        (Arg((4, 3), F, static=(None, 3)), Arg((2, 3), F)),
    ),
    Sample(
        "Concat",
        lambda x, y, z: gc.concatenate([x, y, z], axis=-1),
        lambda x, y, z: np.dstack([x, y, z]),
        (Arg((2, 3, 1), F), Arg((2, 3, 2), F, static=(None, 3, None)), Arg((2, 3, 0), F)),
        name="three_negative_axis",
    ),
    Sample(
        "Concat",
        lambda x, y: gc.concat([x, y, x], axis=1),
        lambda x, y: np.hstack([x, y, x]),
        (Arg((2, 3), F), Arg((2, 1), F)),
        name="static_sizes",
    ),
    Sample(
        "Concat",
        lambda x, y: gc.concat([x, y, x], axis=0),
        lambda x, y: np.vstack([x, y, x]),
        (Arg((3, 2), F, static=(None, 2)), Arg((1, 2), F, static=(None, None))),
        name="unknown_sizes",
    ),
    Sample(
        "Concat",
        lambda x, y: gc.concat([x, y]),
        lambda x, y: np.hstack([x.astype("float64"), y.astype("float64")]),
        (Arg((3,), "int32", 0, 9), Arg((2,), F)),
        name="promotes",
    ),
    Sample(
        "Concat",
        lambda x: gc.concat([x, [[7, 8]]], axis=0),
        lambda x: np.vstack([x, np.array([[7, 8]], "int64")]),
        (Arg((0, 2), "int64", static=(None, 2)),),
        name="empty_and_list",
    ),
    # Stack
    Sample(
        "Stack",
        lambda x, y: gc.stack([x, y]),
        lambda x, y: np.array([x, y]),
        (Arg((3, 2), F, static=(None, 2)), Arg((3, 2), F, static=(3, None))),
    ),
    Sample(
        "Stack",
        lambda x, y: gc.stack([x, y], axis=-1),
        lambda x, y: np.dstack([x, y]),
        (Arg((2, 3), "int32", 0, 9), Arg((2, 3), "int32", 0, 9)),
        name="last_axis_int",
    ),
    Sample("Stack", lambda x: gc.stack([x]), lambda x: x[None], (Arg((0,), F),), name="one_empty"),
    # Split
    Sample(
        "Split",
        lambda x: gc.split(x, 3, axis=1),
        lambda x: (x[:, 0:2], x[:, 2:4], x[:, 4:6]),
        (Arg((2, 6), F, static=(None, 6)),),
    ),
    Sample(
        "Split",
        lambda x: gc.split(x, [1, 0, 3], axis=-1),
        lambda x: (x[..., :1], x[..., 1:1], x[..., 1:]),
        (Arg((2, 4), "int64", 0, 9),),
        name="sizes_negative_axis",
    ),
    Sample(
        "Split",
        lambda x: gc.split(x, [2, 3]),
        lambda x: (x[:2], x[2:]),
        (Arg((5, 2), F, static=(None, 2)),),
        name="sizes_on_unknown_dim",
    ),
    Sample("Split", lambda x: gc.split(x, 1), lambda x: x, (Arg((3,), F),), name="one_piece"),
    Sample(
        "Split",
        lambda x: gc.split(x, [1, 2, 1], axis=1)[1],
        lambda x: x[:, 1:3],
        (Arg((3, 4), F, static=(None, 4)),),
        name="middle_piece_only",
    ),
    Sample(
        "Split",
        lambda x: gc.split(x, [2, 2])[0],
        lambda x: x[:2],
        (Arg((4, 2), F, static=(None, None)),),
        name="first_piece_only",
    ),
    Sample(
        "Split",
        lambda x: gc.unstack(x, axis=1),
        lambda x: (x[:, 0], x[:, 1]),
        (Arg((3, 2), F, static=(None, 2)),),
        name="unstack",
    ),
    Sample(
        "Split",
        lambda x: gc.unstack(x, axis=-1)[2],
        lambda x: x[..., 2],
        (Arg((2, 3), F, static=(None, 3)),),
        name="unstack_last_only",
    ),
    # Shape and Size
    Sample("Shape", gc.shape, _shape_of, (Arg((4, 3), F, static=(None, 3)),)),
    Sample("Shape", gc.shape, lambda x: np.zeros(0, "int64"), (Arg((), "int32", 0, 9),), name="scalar"),
    Sample("Shape", gc.shape, _shape_of, (Arg((0, 2), "bool", static=(None, None)),), name="empty"),
    Sample("Size", gc.size, lambda x: np.int64(len(x) * 3), (Arg((4, 3), F, static=(None, 3)),)),
    Sample("Size", gc.size, lambda x: np.int64(0), (EMPTY,), name="empty"),
    Sample("Size", gc.size, lambda x: np.int64(1), (Arg((), F),), name="scalar"),
]
