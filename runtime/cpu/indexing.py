"""CPU kernels for graphc/ops/indexing.py and its gradient: ``one_hot``, ``take`` and ``take``'s
scatter-add gradient (``TakeGrad``), as Numba loops.

``take`` along any axis is a gather of rows of a 3-D view: x as (P, A, B) with A the gathered axis, the
output as (P, n, B) for n indices. ``TakeGrad`` scatters the same way and adds (repeated indices
accumulate, as ``np.add.at``, in float64 as the reference). Both check every index first and leave a
bad one to the op's numpy reference, which raises the op's own error (the executable names the node),
so a run fails before it writes anything. ``one_hot`` along the last axis writes each row once; along
another axis it stays the reference's (no graph here makes one).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from graphc.ir.graph import Node
from graphc.ops.indexing import OneHot, Take
from graphc.ops.indexing_grad import TakeGrad
from graphc.runtime.cpu.registry import Kernel, cpu_kernel, quiet
from graphc.runtime.cpu.segment import NjitCall

_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_OPTIONS)
def one_hot_rows(indices, out, on, off):
    """out (n, depth): row i is ``off`` but ``on`` at column indices[i] (if in range)."""
    depth = out.shape[1]
    for i in range(indices.shape[0]):
        for j in range(depth):
            out[i, j] = off
        k = indices[i]
        if k >= 0 and k < depth:
            out[i, k] = on


@njit(**_OPTIONS)
def _first_bad(indices, size):
    for i in range(indices.shape[0]):
        if indices[i] < -size or indices[i] >= size:
            return i
    return -1


@njit(**_OPTIONS)
def take_rows(x, indices, out):
    """out[p, i, :] = x[p, indices[i], :] for x (P, A, B), out (P, n, B); -1, or the first bad index
    position (nothing written)."""
    size = x.shape[1]
    bad = _first_bad(indices, size)
    if bad >= 0:
        return bad
    for p in range(x.shape[0]):
        for i in range(indices.shape[0]):
            k = indices[i] + size if indices[i] < 0 else indices[i]
            for b in range(x.shape[2]):
                out[p, i, b] = x[p, k, b]
    return -1


@njit(**_OPTIONS)
def take_grad_rows(g, indices, out):
    """out (P, A, B) = 0, then out[p, indices[i], :] += g[p, i, :]; -1, or the first bad index position.
    The sums add in float64, as the reference's (a running float32 sum of 5 x 10^4 repeats of 0.1 is
    5e-4 off), and in the reference's order, into one row of float64 at a time: the index positions
    are first grouped by the row they add to (a counting sort, which keeps their order). A float64
    plane of the whole table had doubled the memory of an embedding's gradient (205 MB beside the
    output's 102 MB for a 50000 x 512 table) and was written and read three times."""
    size = out.shape[1]
    bad = _first_bad(indices, size)
    if bad >= 0:
        return bad
    n, width = indices.shape[0], out.shape[2]
    start = np.zeros(size + 1, np.int64)  # row a's positions are order[start[a]:start[a + 1]]
    for i in range(n):
        k = indices[i] + size if indices[i] < 0 else indices[i]
        start[k + 1] += 1
    for a in range(size):
        start[a + 1] += start[a]
    order = np.empty(n, np.int64)
    filled = start[:size].copy()
    for i in range(n):
        k = indices[i] + size if indices[i] < 0 else indices[i]
        order[filled[k]] = i
        filled[k] += 1
    acc = np.empty(width, np.float64)
    for p in range(out.shape[0]):
        for a in range(size):
            for b in range(width):
                acc[b] = 0
            for j in range(start[a], start[a + 1]):
                i = order[j]
                for b in range(width):
                    acc[b] += g[p, i, b]
            for b in range(width):
                out[p, a, b] = acc[b]
    return -1


def _split(shape: tuple, axis: int, span: int = 1) -> tuple[int, int, int]:
    """(P, A, B): the dims before ``axis``, the ``span`` dims from it, and those after, multiplied."""
    return math.prod(shape[:axis]), math.prod(shape[axis : axis + span]), math.prod(shape[axis + span :])


@cpu_kernel.register(OneHot)
def one_hot_kernel(op, node: Node) -> Kernel:
    (indices,) = node.inputs
    op = op.normalize(indices.type)
    reference = quiet(op.reference)
    if op.axis != indices.ndim:
        return Kernel(lambda i: (reference(i),), "numpy[OneHot]", notes=["not the last axis"])
    dtype = np.dtype(op.dtype)
    on, off = dtype.type(op.on_value), dtype.type(op.off_value)

    def into(idx, out):
        flat = np.ascontiguousarray(idx).reshape(-1)
        # the row count spelled out: numpy cannot infer -1 in (-1, 0) (depth 0: an empty output)
        one_hot_rows(flat, out.reshape(flat.shape[0], op.depth), on, off)

    def fn(idx):
        out = np.empty((*idx.shape, op.depth), dtype)
        into(idx, out)
        return (out,)

    def bind(in_shapes, out_shapes):
        if not op.depth:
            return None
        into.njit = NjitCall(one_hot_rows, _one_hot_args(op.depth, dtype, on, off), ("C",))
        return into

    return Kernel(fn, "loop[OneHot]", notes=["a Numba loop"], bind=bind)


def _one_hot_args(depth: int, dtype: np.dtype, on, off):
    def args(ins, outs):
        return [
            f"{ins[0]}.reshape(-1)",
            f"{outs[0]}.reshape(-1, {depth})",
            f"np.{dtype.name}({_literal(on)})",
            f"np.{dtype.name}({_literal(off)})",
        ]

    return args


def _literal(value: np.generic) -> str:
    """``value`` as a Python expression the generated segment can read: numpy scalars' reprs
    (``np.float32(-inf)``) spell inf and nan as names the segment's module does not define."""
    v = value.item()
    if isinstance(v, float) and not math.isfinite(v):
        return "np.nan" if math.isnan(v) else ("np.inf" if v > 0 else "-np.inf")
    return repr(v)


@cpu_kernel.register(Take)
def take_kernel(op, node: Node) -> Kernel:
    x, indices = node.inputs
    op = op.normalize(x.type, indices.type)
    reference = quiet(op.reference)

    def into(x, idx, out):
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        p, a, b = _split(x.shape, op.axis)
        flat = np.ascontiguousarray(idx).reshape(-1)
        if take_rows(x.reshape(p, a, b), flat, out.reshape(p, flat.shape[0], b)) >= 0:
            reference(x, idx)  # raises the op's IndexError

    def fn(x, idx):
        out = np.empty(x.shape[: op.axis] + idx.shape + x.shape[op.axis + 1 :], x.dtype)
        into(x, idx, out)
        return (out,)

    return Kernel(fn, "loop[Take]", notes=["a Numba gather"], bind=lambda ins, outs: into)


@cpu_kernel.register(TakeGrad)
def take_grad_kernel(op, node: Node) -> Kernel:
    g, indices, like = node.inputs
    axis = op.axis % like.ndim
    reference = quiet(op.reference)

    def into(g, idx, like, out):
        if g.shape != out.shape[:axis] + idx.shape + out.shape[axis + 1 :]:
            # a gradient of another shape (of the same size, it would be scattered as if reshaped)
            out[...] = reference(g, idx, like)  # numpy's add.at: broadcast, or the op's error
            return
        if not g.flags.c_contiguous:
            g = np.ascontiguousarray(g)
        p, a, b = _split(out.shape, axis)
        flat = np.ascontiguousarray(idx).reshape(-1)
        if take_grad_rows(g.reshape(p, flat.shape[0], b), flat, out.reshape(p, a, b)) >= 0:
            reference(g, idx, like)  # raises the op's IndexError

    def fn(g, idx, like):
        out = np.empty(like.shape, g.dtype)
        into(g, idx, like, out)
        return (out,)

    return Kernel(fn, "loop[TakeGrad]", notes=["a Numba scatter-add"], bind=lambda ins, outs: into)
