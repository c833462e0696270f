"""Samples for graphc/ops/reduce.py.

Expected values are numpy formulas in float64 (rounded to the output dtype) or written out, never
graphc's references.
"""

import numpy as np
from scipy.special import logsumexp

import graphc as gc
from graphc.ops.reduce_grad import ProdOthers
from tests.ops.samples import Arg, Sample

F = "float32"
M = Arg((3, 4), F)
CUBE = Arg((2, 3, 4), F)
BATCH = Arg((5, 4), F, static=(None, 4))  # run-time leading dim
EMPTY_ROWS = Arg((0, 3), F, static=(None, 3))
ONES = Arg((1, 4, 1), F)
I32 = Arg((3, 4), "int32", -5, 6)
I64 = Arg((3, 4), "int64", -5, 6)
BOOL = Arg((3, 4), "bool")
SCALAR = Arg((), F)
NEG_INF = -np.inf


def _f32(fn):
    """``fn`` computed in float64, rounded to float32 (an oracle more accurate than the op)."""
    return lambda x: np.asarray(fn(x.astype(np.float64)), np.float32)


def _lse(axis, keepdims=False):
    return _f32(lambda x: logsumexp(x, axis=axis, keepdims=keepdims))


def _s(op, build, expect, arg, name="", **kw):
    return Sample(op, build, expect, (arg,), name=name, **kw)


def _prod_others(axes):
    """The product of the other elements of each group, one element at a time (np.delete)."""

    def expect(x):
        out = np.empty(x.shape, np.float64)
        for idx in np.ndindex(*x.shape):
            group = x[tuple(slice(None) if a in axes else i for a, i in enumerate(idx))]
            pos = np.ravel_multi_index(tuple(idx[a] for a in axes), group.shape) if axes else 0
            out[idx] = np.prod(np.delete(group.astype(np.float64).ravel(), pos))
        return out.astype(x.dtype)

    return expect


def _po(axes, arg, name="", **kw):
    return _s("ProdOthers", lambda x: gc.apply(ProdOthers(axes), [x]), _prod_others(axes), arg, name, **kw)


SAMPLES = [
    # Sum
    _s("Sum", gc.reduce_sum, _f32(lambda x: x.sum()), M, rtol=1e-5),
    _s("Sum", lambda x: gc.sum(x, axis=1), _f32(lambda x: x.sum(1)), M, name="axis1", rtol=1e-5),
    _s(
        "Sum",
        lambda x: gc.reduce_sum(x, axis=(-1, 0), keepdims=True),
        _f32(lambda x: x.sum((0, 2), keepdims=True)),
        CUBE,
        name="neg_axes_keepdims",
        rtol=1e-5,
    ),
    _s("Sum", lambda x: gc.reduce_sum(x, 0), _f32(lambda x: x.sum(0)), BATCH, name="unknown_dim", rtol=1e-5),
    _s("Sum", lambda x: gc.reduce_sum(x, 1), _f32(lambda x: x.sum(1)), BATCH, name="keep_unknown", rtol=1e-5),
    _s("Sum", lambda x: gc.reduce_sum(x, 0), lambda x: np.zeros(3, F), EMPTY_ROWS, name="empty"),
    _s("Sum", lambda x: gc.reduce_sum(x, 1), lambda x: np.zeros((0,), F), EMPTY_ROWS, name="empty_kept"),
    _s("Sum", lambda x: gc.reduce_sum(x, (0, 2)), lambda x: x[0, :, 0], ONES, name="size1"),
    _s("Sum", lambda x: gc.reduce_sum(x, ()), lambda x: x, M, name="no_axes"),
    _s("Sum", gc.reduce_sum, lambda x: x, SCALAR, name="scalar"),
    _s("Sum", lambda x: gc.reduce_sum(x, 1), lambda x: x.sum(1).astype(np.int32), I32, name="int32"),
    _s("Sum", lambda x: gc.reduce_sum(x, 0), lambda x: x.astype(np.int64).sum(0), BOOL, name="bool"),
    # Mean
    _s("Mean", gc.reduce_mean, _f32(lambda x: x.mean()), M, rtol=1e-5),
    _s(
        "Mean",
        lambda x: gc.mean(x, axis=-2, keepdims=True),
        _f32(lambda x: x.mean(1, keepdims=True)),
        CUBE,
        name="neg_axis_keepdims",
        rtol=1e-5,
    ),
    _s(
        "Mean",
        lambda x: gc.reduce_mean(x, 0),
        _f32(lambda x: x.mean(0)),
        BATCH,
        name="unknown_dim",
        rtol=1e-5,
    ),
    _s("Mean", gc.reduce_mean, _f32(lambda x: x.mean()), BATCH, name="unknown_all", rtol=1e-5),
    _s(
        "Mean",
        lambda x: gc.reduce_mean(x, 1, keepdims=True),
        _f32(lambda x: x.mean(1, keepdims=True)),
        BATCH,
        name="keepdims_keep_unknown",
        rtol=1e-5,
    ),
    _s("Mean", lambda x: gc.reduce_mean(x, ()), lambda x: x, M, name="no_axes"),
    _s("Mean", lambda x: gc.reduce_mean(x, 1), _f32(lambda x: x.mean(1)), I64, name="int64"),
    _s("Mean", lambda x: gc.reduce_mean(x, 0), _f32(lambda x: x.mean(0)), BOOL, name="bool"),
    # NaN outputs: finite differences are meaningless
    _s(
        "Mean",
        lambda x: gc.reduce_mean(x, 0),
        lambda x: np.full(3, np.nan, F),
        EMPTY_ROWS,
        name="empty",
        tags=("no_grad",),
    ),
    _s("Mean", lambda x: gc.reduce_mean(x, 1), lambda x: np.zeros((0,), F), EMPTY_ROWS, name="empty_kept"),
    # Max and Min
    _s("Max", gc.reduce_max, lambda x: np.asarray(x.ravel()[np.argsort(x.ravel())[-1]]), M),
    _s(
        "Max",
        lambda x: gc.max(x, axis=-1, keepdims=True),
        lambda x: np.sort(x, axis=-1)[..., -1:],
        CUBE,
        name="neg_axis_keepdims",
    ),
    _s("Max", lambda x: gc.reduce_max(x, 0), lambda x: np.sort(x, 0)[-1], BATCH, name="unknown_dim"),
    _s("Max", gc.reduce_max, lambda x: np.asarray(np.sort(x.ravel())[-1]), BATCH, name="unknown_all"),
    _s(
        "Max",
        lambda x: gc.max(x, axis=(0, 2)),
        lambda x: np.sort(np.moveaxis(x, 1, 0).reshape(3, -1), 1)[:, -1],
        CUBE,
        name="axes",
    ),
    # ties: the gradient is split among them (test_reduce.py checks it); no finite differences there
    _s(
        "Max",
        lambda x: gc.reduce_max(x, 1),
        lambda x: np.array([3.0, 2.0], F),
        Arg((2, 3), F, value=[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]),
        name="ties",
        tags=("no_grad",),
    ),
    _s("Max", lambda x: gc.reduce_max(x, 1), lambda x: np.zeros((0,), F), EMPTY_ROWS, name="empty_kept"),
    _s("Max", lambda x: gc.reduce_max(x, 1), lambda x: np.sort(x, 1)[:, -1], I32, name="int32"),
    _s("Max", lambda x: gc.reduce_max(x, 1), lambda x: x.any(1), BOOL, name="bool"),
    _s(
        "Max",
        lambda x: gc.reduce_max(x, 1),
        lambda x: np.array([np.nan, 2.0], F),
        Arg((2, 2), F, value=[[1.0, np.nan], [2.0, -1.0]]),
        name="nan",
    ),
    _s("Min", gc.reduce_min, lambda x: np.asarray(np.sort(x.ravel())[0]), M),
    _s(
        "Min",
        lambda x: gc.min(x, axis=(0, -1)),
        lambda x: x[0, :, 0],
        ONES,
        name="size1",
    ),
    _s(
        "Min",
        lambda x: gc.reduce_min(x, 1, keepdims=True),
        lambda x: np.sort(x, 1)[:, :1],
        BATCH,
        name="keepdims",
    ),
    _s(
        "Min",
        lambda x: gc.reduce_min(x, (1, 2), keepdims=True),
        lambda x: np.sort(x.reshape(2, -1), 1)[:, :1, None],
        CUBE,
        name="axes_keepdims",
    ),
    _s("Min", lambda x: gc.reduce_min(x, 0), lambda x: np.sort(x, 0)[0], I64, name="int64"),
    # Prod
    _s("Prod", gc.reduce_prod, _f32(lambda x: x.prod()), Arg((2, 3), F, 0.5, 1.5), rtol=1e-5),
    _s(
        "Prod",
        lambda x: gc.prod(x, axis=-1, keepdims=True),
        _f32(lambda x: x.prod(-1, keepdims=True)),
        Arg((2, 3), F, -1.5, 1.5, static=(None, 3)),
        name="keepdims",
        rtol=1e-5,
    ),
    _s(
        "Prod",
        lambda x: gc.prod(x, axis=(0, 2)),
        _f32(lambda x: x.prod((0, 2))),
        Arg((2, 3, 4), F, -1.5, 1.5),
        name="axes",
        rtol=1e-5,
    ),
    _s(
        "Prod",
        gc.reduce_prod,
        _f32(lambda x: x.prod()),
        Arg((2, 3), F, 0.5, 1.5, static=(None, None)),
        name="unknown_all",
        rtol=1e-5,
    ),
    _s("Prod", lambda x: gc.reduce_prod(x, ()), lambda x: x, M, name="no_axes"),
    _s("Prod", lambda x: gc.reduce_prod(x, 0), lambda x: np.ones(3, F), EMPTY_ROWS, name="empty"),
    _s("Prod", lambda x: gc.reduce_prod(x, 1), lambda x: x.prod(1).astype(np.int32), I32, name="int32"),
    _s("Prod", lambda x: gc.reduce_prod(x, 1), lambda x: x.all(1).astype(np.int64), BOOL, name="bool"),
    # LogSumExp
    _s("LogSumExp", gc.reduce_logsumexp, _lse(None), M, rtol=1e-5),
    _s(
        "LogSumExp",
        lambda x: gc.logsumexp(x, axis=-1, keepdims=True),
        _lse(-1, keepdims=True),
        CUBE,
        name="neg_axis_keepdims",
        rtol=1e-5,
    ),
    _s("LogSumExp", lambda x: gc.logsumexp(x, 0), _lse(0), BATCH, name="unknown_dim", rtol=1e-5),
    _s(
        "LogSumExp",
        lambda x: gc.reduce_logsumexp(x, 1),
        lambda x: np.array([1000.0 + np.log(2.0), -1000.0 + np.log(2.0)], F),
        Arg((2, 2), F, value=[[1000.0, 1000.0], [-1000.0, -1000.0]]),
        name="large",
        rtol=1e-6,
    ),
    _s(
        "LogSumExp",
        lambda x: gc.reduce_logsumexp(x, 1),
        lambda x: np.array([NEG_INF, 0.0, np.inf], F),
        Arg((3, 2), F, value=[[NEG_INF, NEG_INF], [NEG_INF, 0.0], [np.inf, 1.0]]),
        name="infinite",
    ),
    _s(
        "LogSumExp",
        lambda x: gc.logsumexp(x, axis=(0, 2)),
        _lse((0, 2)),
        Arg((2, 3, 4), F, static=(None, 3, None)),
        name="axes_unknown",
        rtol=1e-5,
    ),
    # -inf outputs: finite differences are meaningless
    _s(
        "LogSumExp",
        lambda x: gc.logsumexp(x, 0),
        lambda x: np.full(3, NEG_INF, F),
        EMPTY_ROWS,
        name="empty",
        tags=("no_grad",),
    ),
    _s("LogSumExp", lambda x: gc.logsumexp(x, 1), _lse(1), I32, name="int32", rtol=1e-5),
    # ProdOthers (reduce_prod's gradient): exact with zeros, never out / x
    _po((1,), M, rtol=1e-5),
    _po((0, 2), CUBE, "axes", rtol=1e-5),
    _po((0,), BATCH, "unknown_dim", rtol=1e-5),
    _po(
        (1,),
        Arg((4, 3), F, value=[[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0], [1.0, -2.0, 4.0]]),
        "zeros",
    ),
    _po((), M, "no_axes"),
    _po((0,), EMPTY_ROWS, "empty"),
    _po((0, 1), Arg((2, 3), "float64"), "float64", rtol=1e-12),
    # ArgMax and ArgMin (ties and NaN: the first index)
    _s("ArgMax", gc.argmax, lambda x: np.asarray(np.flatnonzero(x == x.max())[0]), M),
    _s(
        "ArgMax",
        lambda x: gc.argmax(x, axis=-1),
        lambda x: np.array([1, 0, 1], np.int64),
        Arg((3, 3), "int32", value=[[1, 5, 5], [7, 0, 7], [0, 2, -1]]),
        name="ties_int32",
    ),
    _s(
        "ArgMax",
        lambda x: gc.argmax(x, axis=1, keepdims=True),
        lambda x: np.array([[1], [0]], np.int64),
        Arg((2, 3), F, static=(None, 3), value=[[1.0, np.nan, 9.0], [3.0, 2.0, 1.0]]),
        name="nan_keepdims",
    ),
    _s(
        "ArgMax",
        lambda x: gc.argmax(x, keepdims=True),
        lambda x: np.array([[[2]]], np.int64),
        Arg((1, 4, 1), F, value=[[[0.0], [1.0], [3.0], [2.0]]]),
        name="flat_keepdims",
    ),
    _s(
        "ArgMax", lambda x: gc.argmax(x, 1), lambda x: np.zeros((0,), np.int64), EMPTY_ROWS, name="empty_kept"
    ),
    _s(
        "ArgMin",
        lambda x: gc.argmin(x, axis=0),
        lambda x: np.array([1, 0, 0], np.int64),
        Arg((2, 3), F, static=(None, 3), value=[[1.0, -2.0, 0.0], [-1.0, 2.0, 0.0]]),
    ),
    _s(
        "ArgMin",
        gc.argmin,
        lambda x: np.array(3, np.int64),
        Arg((2, 2), "int64", value=[[4, 1], [3, -8]]),
        name="flat_int64",
    ),
    _s("ArgMin", gc.argmin, lambda x: np.array(0, np.int64), Arg((), "bool"), name="scalar"),
]
