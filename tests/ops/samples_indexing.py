"""Samples for graphc/ops/indexing.py (basic indexing, take, one_hot and pad) and for the gradient ops of
graphc/ops/indexing_grad.py. Float samples are gradient-checked too (tests/ops/test_grad_contract.py)."""

import numpy as np

import graphc as gc
from graphc.ops.indexing_grad import GetItemGrad, PadGrad, TakeGrad, split_like
from tests.ops.samples import Arg, Sample

F = "float32"
GRID = Arg((4, 5), F)
BATCH = Arg((6, 4, 5), F, static=(None, 4, 5))


def _one_hot(i, depth, dtype=F, on=1, off=0):
    """Rows of an identity matrix with one extra row of zeros for indices outside [0, depth)."""
    rows = np.vstack([np.eye(depth), np.zeros((1, depth))])
    hot = rows[np.where((i >= 0) & (i < depth), i, depth)]
    return np.where(hot == 1, on, off).astype(dtype)


def _pad_positions(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each output position along one axis, the input position it copies (-1: the constant)."""
    out = []
    for i in range(-before, n + after):
        if 0 <= i < n or mode == "constant":
            out.append(i if 0 <= i < n else -1)
        elif mode == "edge":
            out.append(0 if i < 0 else n - 1)
        elif mode == "symmetric":  # period 2n: the axis, then the axis reversed
            j = i % (2 * n)
            out.append(j if j < n else 2 * n - 1 - j)
        else:  # reflect: period 2n - 2, without repeating the edges
            j = i % (2 * n - 2) if n > 1 else 0
            out.append(j if j < n else 2 * n - 2 - j)
    return np.array(out)


def _pad(x, pads, mode="constant", value=0):
    out = np.asarray(x)
    for axis, (b, a) in enumerate(pads):
        pos = _pad_positions(x.shape[axis], b, a, mode)
        out = np.moveaxis(np.moveaxis(out, axis, 0)[np.maximum(pos, 0)], 0, axis)
        if mode == "constant":
            mask = (pos < 0).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
            out = np.where(mask, np.asarray(value, x.dtype), out)
    return out


def _pad_adjoint(g, pads, mode):
    """Each element of g added onto the input element it was copied from (padding of constants dropped)."""
    out = np.asarray(g)
    for axis, (b, a) in enumerate(pads):
        n = g.shape[axis] - b - a
        acc = np.zeros((n,) + out.shape[:axis] + out.shape[axis + 1 :], g.dtype)
        for o, p in enumerate(_pad_positions(n, b, a, mode)):
            if p >= 0:
                acc[p] += np.take(out, o, axis=axis)
        out = np.moveaxis(acc, 0, axis)
    return out


def _scatter_add(g, indices, like, axis):
    """Zeros like ``like`` with g's slices added at ``indices`` along ``axis``, one index at a time."""
    out = np.zeros(like.shape, g.dtype)
    lead = (slice(None),) * axis
    for k in np.ndindex(indices.shape):
        out[(*lead, indices[k])] += g[(*lead, *k)]
    return out


def _index_scatter(g, like, item):
    """Zeros like ``like`` with g added at the positions ``like[item]`` reads."""
    out = np.zeros(like.size, g.dtype)
    np.add.at(out, np.arange(like.size).reshape(like.shape)[item].ravel(), g.ravel())
    return out.reshape(like.shape)


def _getitem_grad(item):
    """A sample's build for GetItemGrad: the normalized index of ``like[item]``."""
    return lambda g, like: gc.apply(GetItemGrad(like[item].op.index), [g, like])


SAMPLES = [
    # GetItem
    Sample("GetItem", lambda x: x[1:3], lambda x: x[[1, 2]], (GRID,)),
    Sample("GetItem", lambda x: x[:, 1:3], lambda x: x[:, [1, 2]], (BATCH,), name="unknown_batch"),
    Sample("GetItem", lambda x: x[..., -1], lambda x: x[:, :, 4], (BATCH,), name="ellipsis_negative"),
    Sample(
        "GetItem",
        lambda x: x[0, None, ::-1],
        lambda x: x[0][np.newaxis, [3, 2, 1, 0]],
        (BATCH,),
        name="newaxis_reversed",
    ),
    Sample("GetItem", lambda x: x[::2, -2], lambda x: x[[0, 2], 3], (GRID,), name="step_and_int"),
    Sample("GetItem", lambda x: x[:3], lambda x: x[[0, 1, 2]], (BATCH,), name="head_of_unknown"),
    Sample("GetItem", lambda x: x[-2:], lambda x: x[[4, 5]], (BATCH,), name="tail_of_unknown"),
    Sample("GetItem", lambda x: x[3:1], lambda x: x[[]], (BATCH,), name="empty_slice"),
    Sample(
        "GetItem",
        lambda x: x[1, 2],
        lambda x: np.int32(x.ravel()[7]),
        (Arg((3, 5), "int32", 0, 9),),
        name="to_scalar_int",
    ),
    Sample(
        "GetItem",
        lambda x: x[:, 0],
        lambda x: np.zeros(0, bool),
        (Arg((0, 3), "bool", static=(None, 3)),),
        name="empty_bool",
    ),
    Sample("GetItem", lambda x: x[...], lambda x: x + 0, (GRID,), name="everything"),
    Sample(
        "GetItem", lambda x: x[None, 1:-1:2], lambda x: x[[[1, 3]]], (Arg((6,), F),), name="newaxis_first"
    ),
    Sample(
        "GetItem",
        lambda x: x[::-1, 3:0:-2],
        lambda x: x[:, [3, 1]][::-1],
        (BATCH,),
        name="negative_steps_unknown",
    ),
    Sample(
        "GetItem",
        lambda x: x[-1, ..., None, ::-3],
        lambda x: x[5][:, None][..., [4, 1]],
        (BATCH,),
        name="last_of_unknown_ellipsis_newaxis",
    ),
    Sample(
        "GetItem",
        lambda x: x[1:-1, None, -2::-2],
        lambda x: x[1:-1, None][:, :, [3, 1]],
        (Arg((5, 5), F, static=(None, None)),),
        name="all_unknown",
    ),
    # Take
    Sample(
        "Take",
        lambda x, i: gc.take(x, i),
        lambda x, i: np.array([x[k] for k in i]),
        (Arg((4, 3), F), Arg((5,), "int64", -4, 4)),
    ),
    Sample(
        "Take",
        lambda x, i: gc.take(x, i, axis=-1),
        lambda x, i: np.stack([x[..., k] for k in i.ravel()], axis=-1).reshape(x.shape[:-1] + i.shape),
        (Arg((2, 3, 5), F, static=(None, 3, 5)), Arg((2, 2), "int32", 0, 5, static=(None, 2))),
        name="matrix_indices_last_axis",
    ),
    Sample(
        "Take",
        lambda x, i: x[i],
        lambda x, i: np.array([x[k] for k in i.ravel()]).reshape(i.shape + x.shape[1:]),
        (Arg((6, 2), "int64", 0, 9, static=(None, 2)), Arg((3, 1), "int64", 0, 6)),
        name="getitem_tensor",
    ),
    Sample(
        "Take",
        lambda x: x[[2, 0, 2]],
        lambda x: np.array([x[2], x[0], x[2]]),
        (Arg((3, 2), F),),
        name="getitem_list",
    ),
    Sample(
        "Take",
        lambda x, i: gc.take(x, i, axis=1),
        lambda x, i: x[:, [1, 1, 3, 1, 3]],
        (Arg((2, 4, 3), F, static=(None, 4, None)), Arg((5,), "int64", value=[1, 1, -1, 1, 3])),
        name="repeated_negative",
    ),
    Sample(
        "Take",
        lambda x, i: gc.take(x, i, axis=-1),
        lambda x, i: x[..., [[0, 2], [2, 2]]],
        (Arg((2, 3), F, static=(None, None)), Arg((2, 2), "int32", value=[[0, -1], [2, -1]])),
        name="repeated_matrix_unknown",
    ),
    Sample(
        "Take",
        lambda x, i: gc.take(x, i),
        lambda x, i: x[2],
        (Arg((3, 2), F, static=(None, 2)), Arg((), "int64", value=-1)),
        name="scalar_index",
    ),
    Sample(
        "Take",
        lambda x, i: gc.take(x, i, axis=1),
        lambda x, i: np.zeros((3, 0), F),
        (Arg((3, 4), F), Arg((0,), "int32", static=(None,))),
        name="empty_indices",
    ),
    # OneHot
    Sample(
        "OneHot",
        lambda i: gc.one_hot(i, 4),
        lambda i: _one_hot(i, 4),
        (Arg((6,), "int64", value=[0, 3, 1, 4, -1, -4]),),
        name="out_of_range",
    ),
    Sample(
        "OneHot",
        lambda i: gc.one_hot(i, 3, dtype="int32", axis=0, on_value=5, off_value=-1),
        lambda i: np.moveaxis(_one_hot(i, 3, "int32", 5, -1), -1, 0),
        (Arg((2, 4), "int32", 0, 3, static=(None, 4)),),
        name="axis0_values",
    ),
    Sample(
        "OneHot",
        lambda i: gc.one_hot(i, 2, dtype="bool", axis=-2),
        lambda i: np.moveaxis(_one_hot(i, 2, "bool"), -1, -2),
        (Arg((0, 3), "int64", 0, 2, static=(None, 3)),),
        name="empty_bool",
    ),
    # Pad
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((1, 0), (2, 1))),
        lambda x: _pad(x, ((1, 0), (2, 1))),
        (Arg((3, 4), F, static=(None, 4)),),
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, 2, constant_values=7),
        lambda x: _pad(x, ((2, 2), (2, 2)), value=7),
        (Arg((2, 3), "int32", 0, 5),),
        name="int_all_axes",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, (1, 2), mode="reflect"),
        lambda x: _pad(x, ((1, 2), (1, 2)), "reflect"),
        (Arg((3, 4), F),),
        name="reflect",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((0, 2), (3, 1)), mode="symmetric"),
        lambda x: _pad(x, ((0, 2), (3, 1)), "symmetric"),
        (Arg((3, 4), "float64", static=(None, 4)),),
        name="symmetric",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, [[2, 1]], mode="edge"),
        lambda x: _pad(x, ((2, 1),), "edge"),
        (Arg((3,), "int64", 0, 9),),
        name="edge",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((2, 1), (0, 3)), mode="edge"),
        lambda x: _pad(x, ((2, 1), (0, 3)), "edge"),
        (Arg((3, 2), F, static=(None, 2)),),
        name="edge_float",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((4, 5), (1, 0)), mode="reflect"),
        lambda x: _pad(x, ((4, 5), (1, 0)), "reflect"),
        (Arg((3, 2), F, static=(None, None)),),
        name="reflect_longer_than_axis",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((5, 3),), mode="symmetric"),
        lambda x: _pad(x, ((5, 3),), "symmetric"),
        (Arg((2,), F, static=(None,)),),
        name="symmetric_longer_than_axis",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((0, 0), (2, 2)), constant_values=1.5),
        lambda x: _pad(x, ((0, 0), (2, 2)), value=1.5),
        (Arg((2, 3), F, static=(None, None)),),
        name="constant_value_unknown",
    ),
    Sample(
        "Pad",
        lambda x: gc.pad(x, ((1, 1), (0, 0))),
        lambda x: np.zeros((2, 3), F),
        (Arg((0, 3), F, static=(None, 3)),),
        name="empty",
    ),
    # SplitLike (the gradient of concat when sizes are known at run time only)
    Sample(
        "SplitLike",
        lambda g, a, b: split_like(g, [a, b], 0),
        lambda g, a, b: (g[:2], g[2:]),
        (Arg((5, 3), F, static=(None, 3)), Arg((2, 3), "int32", static=(None, 3)), Arg((3, 1), F)),
    ),
    Sample(
        "SplitLike",
        lambda g, a, b: split_like(g, [a, b, a], -1)[1],
        lambda g, a, b: g[:, 1:4],
        (Arg((2, 5), F, static=(None, None)), Arg((2, 1), F, static=(None, None)), Arg((2, 3), F)),
        name="middle_piece_negative_axis",
    ),
    # GetItemGrad (the gradient of getitem)
    Sample(
        "GetItemGrad",
        _getitem_grad((slice(None, None, -1), slice(3, 0, -2))),
        lambda g, x: _index_scatter(g, x, (slice(None, None, -1), slice(3, 0, -2))),
        (Arg((6, 2, 5), F, static=(None, 2, 5)), BATCH),
        name="negative_steps",
    ),
    Sample(
        "GetItemGrad",
        _getitem_grad((-1, Ellipsis, None, slice(None, None, -3))),
        lambda g, x: _index_scatter(g, x, (-1, Ellipsis, None, slice(None, None, -3))),
        (Arg((4, 1, 2), F), Arg((6, 4, 5), "int64", 0, 9, static=(None, None, 5))),
        name="int_ellipsis_newaxis",
    ),
    # TakeGrad (the gradient of take)
    Sample(
        "TakeGrad",
        lambda g, i, x: gc.apply(TakeGrad(1), [g, i, x]),
        lambda g, i, x: _scatter_add(g, i, x, 1),
        (
            Arg((2, 5, 3), F, static=(None, None, 3)),
            Arg((5,), "int64", value=[1, 1, -1, 1, 3]),
            Arg((2, 4, 3), F, static=(None, None, None)),
        ),
        name="repeated_negative",
    ),
    Sample(
        "TakeGrad",
        lambda g, i, x: gc.apply(TakeGrad(-1), [g, i, x]),
        lambda g, i, x: _scatter_add(g, i, x, 1),
        (Arg((3, 2, 2), F), Arg((2, 2), "int32", value=[[0, -1], [-1, -1]]), Arg((3, 2), "int32")),
        name="matrix_indices_last_axis",
    ),
    Sample(
        "TakeGrad",
        lambda g, i, x: gc.apply(TakeGrad(0), [g, i, x]),
        lambda g, i, x: _scatter_add(g, i, x, 0),
        (Arg((0, 2), F, static=(None, 2)), Arg((0,), "int64", static=(None,)), Arg((3, 2), F)),
        name="empty_indices",
    ),
    # PadGrad (the gradient of pad; reflect, symmetric and edge accumulate the mirrored parts)
    *(
        Sample(
            "PadGrad",
            lambda g, mode=mode, pads=pads: gc.apply(PadGrad(pads, mode), [g]),
            lambda g, mode=mode, pads=pads: _pad_adjoint(g, pads, mode),
            (Arg(shape, F, static=(None,) * len(shape)),),
            name=mode,
        )
        for mode, pads, shape in [
            ("constant", ((1, 2), (0, 1)), (6, 3)),
            ("reflect", ((4, 5), (1, 1)), (12, 5)),
            ("symmetric", ((5, 0), (2, 3)), (7, 7)),
            ("edge", ((3, 2), (0, 0)), (6, 2)),
        ]
    ),
]
