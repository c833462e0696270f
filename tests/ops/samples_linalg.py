"""Samples for graphc/ops/linalg.py (``dot`` builds ``MatMul`` or ``Multiply`` nodes).

Expected values use ``np.einsum`` in float64 (rounded to the output dtype), or explicit index
permutations, never graphc's references or ``np.matmul``.
"""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"


def _einsum(spec, dtype=F):
    def expect(a, b):
        return np.einsum(spec, a.astype(np.float64), b.astype(np.float64)).astype(dtype)

    return expect


BMM = "...ij,...jk->...ik"


def _mm(args, expect, name="", build=gc.matmul, **kw):
    return Sample("MatMul", build, expect, args, name=name, rtol=1e-5, atol=1e-5, **kw)


def _t(build, spec, arg, name=""):
    return Sample("Transpose", build, lambda x: np.einsum(spec, x), (arg,), name=name)


SAMPLES = [
    # MatMul
    _mm((Arg((3, 4), F), Arg((4, 5), F)), _einsum("ij,jk->ik")),
    _mm((Arg((3, 4), F), Arg((4, 5), F)), _einsum("ij,jk->ik"), "operator", build=lambda a, b: a @ b),
    _mm((Arg((2, 3, 4), F), Arg((4, 5), F)), _einsum(BMM), "batched_2d"),
    _mm((Arg((2, 1, 3, 4), F), Arg((5, 4, 2), F)), _einsum(BMM), "broadcast_batch"),
    _mm((Arg((4,), F), Arg((4, 5), F)), _einsum("j,jk->k"), "vector_matrix"),
    _mm((Arg((2, 3, 4), F), Arg((4,), F)), _einsum("bij,j->bi"), "matrix_vector"),
    _mm((Arg((4,), F), Arg((4,), F)), _einsum("i,i->"), "vector_vector"),
    _mm((Arg((4,), F), Arg((2, 4, 3), F)), _einsum("j,bjk->bk"), "vector_batch"),
    _mm(
        (Arg((5, 4), F, static=(None, 4)), Arg((4, 3), F, static=(4, None))),
        _einsum("ij,jk->ik"),
        "unknown_dims",
    ),
    _mm(
        (Arg((2, 3, 4), F, static=(None, 3, None)), Arg((4, 2), F, static=(None, 2))),
        _einsum(BMM),
        "unknown_inner",
    ),
    # batch dims known only at run time: b's (None) is 1 when run, so its gradient is summed then
    _mm(
        (Arg((3, 2, 4), F, static=(None, 2, 4)), Arg((1, 4, 5), F, static=(None, 4, 5))),
        _einsum(BMM),
        "runtime_broadcast",
    ),
    _mm(
        (Arg((2, 1, 3, 4), F, static=(None, 1, 3, 4)), Arg((5, 4, 2), F, static=(None, 4, 2))),
        _einsum(BMM),
        "broadcast_batch_unknown",
    ),
    _mm(
        (Arg((4,), F), Arg((2, 4, 3), F, static=(None, 4, None))),
        _einsum("j,bjk->bk"),
        "vector_batch_unknown",
    ),
    _mm(
        (Arg((2, 1, 3, 4), F, static=(2, None, 3, 4)), Arg((4,), F)),
        _einsum("abij,j->abi"),
        "batch_vector_unknown",
    ),
    _mm((Arg((3, 0), F), Arg((0, 2), F)), lambda a, b: np.zeros((3, 2), F), "empty_inner"),
    _mm((Arg((0, 3, 4), F, static=(None, 3, 4)), Arg((4, 2), F)), _einsum(BMM), "empty_batch"),
    _mm((Arg((1, 1), F), Arg((1, 5), F)), _einsum("ij,jk->ik"), "size1"),
    _mm(
        (Arg((3, 4), "int32", -4, 5), Arg((4, 2), "int32", -4, 5)),
        _einsum("ij,jk->ik", "int32"),
        "int32",
    ),
    _mm(
        (Arg((3, 4), "int32", -4, 5), Arg((4, 2), F)),
        _einsum("ij,jk->ik", "float64"),
        "int32_float32",
    ),
    _mm((Arg((3, 4), "float64"), Arg((4,), "float64")), _einsum("ij,j->i", "float64"), "float64"),
    # dot: numpy.dot where it agrees with matmul
    _mm((Arg((3, 4), F), Arg((4, 2), F)), lambda a, b: np.dot(a, b), "dot_2d", build=gc.dot),
    _mm((Arg((4,), F), Arg((4,), F)), lambda a, b: np.dot(a, b), "dot_1d", build=gc.dot),
    _mm((Arg((2, 3, 4), F), Arg((4, 5), F)), lambda a, b: np.dot(a, b), "dot_nd_2d", build=gc.dot),
    _mm((Arg((2, 3, 4), F), Arg((4,), F)), lambda a, b: np.dot(a, b), "dot_nd_1d", build=gc.dot),
    Sample("Multiply", gc.dot, np.dot, (Arg((), F), Arg((2, 3), F)), name="dot_scalar"),
    Sample(
        "Multiply",
        lambda a: gc.dot(a, 2.0),
        lambda a: np.dot(a, np.float32(2)),
        (Arg((3,), F),),
        name="dot_weak",
    ),
    # Transpose
    _t(gc.transpose, "ijk->kji", Arg((2, 3, 4), F)),
    _t(lambda x: x.T, "ij->ji", Arg((3, 4), F), "T"),
    _t(lambda x: gc.transpose(x, (1, 0, 2)), "ijk->jik", Arg((2, 3, 4), F), "axes"),
    _t(lambda x: gc.transpose(x, (-1, 0, -2)), "ijk->kij", Arg((2, 3, 4), "int32", -9, 9), "neg_axes_int32"),
    _t(lambda x: gc.transpose(x, [1, 0]), "ij->ji", Arg((5, 3), F, static=(None, 3)), "unknown_dim"),
    _t(gc.transpose, "ij->ji", Arg((0, 3), F, static=(None, 3)), "empty"),
    _t(gc.transpose, "ijk->kji", Arg((1, 4, 1), "bool"), "size1_bool"),
    _t(gc.transpose, "i->i", Arg((4,), F), "1d"),
    _t(gc.transpose, "->", Arg((), F), "scalar"),
]
