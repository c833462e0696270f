"""GEMM with BLAS's whole interface, callable from Numba: transposes, leading dimensions, offsets into an
array, alpha and beta.

``np.dot(a, b, out)`` inside Numba takes whole 2-D arrays only, and typing and lowering it costs ~0.2 s
of compile per call site and layout (bench/NOTES.md): a kernel with six GEMM call sites paid over a
second of cold compile for them. ``gemm`` below is one intrinsic that lowers to a single call, so it
compiles like any scalar call, and it reaches what ``np.dot`` cannot: accumulating into its output
(``beta = 1``), a window of rows or columns of a bigger matrix (an offset and a leading dimension).

It calls the very function ``np.dot`` calls: the Fortran ``sgemm``/``dgemm`` that scipy exports from
``scipy.linalg.cython_blas`` (scipy's OpenBLAS). Its address is registered with LLVM under a name of
our own (``graphc_sgemm``, ``graphc_dgemm``) when this module is imported, so that code Numba caches on
disk refers to that name and finds the function again in any process that imported this module
(which every module that uses ``gemm`` does, at its top).

Arguments are row-major, as numpy sees arrays: ``C[m, n] = alpha * op(A) @ op(B) + beta * C`` where
``op(X)`` is ``X`` or its transpose (``trans_x`` true), and ``X`` starts ``x_off`` elements into ``x``'s
data with rows ``ldx`` elements apart. The caller keeps every index in bounds and every size and
leading dimension below 2^31 (Fortran BLAS's ``int``); nothing is checked.
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from graphc.runtime.cpu import cython_blas

_SYMBOLS = {types.float32: ("graphc_sgemm", "sgemm"), types.float64: ("graphc_dgemm", "dgemm")}


def _register() -> None:
    """Point our symbol names at scipy's ``sgemm``/``dgemm`` (pointers held in Cython capsules)."""
    try:
        capi = cython_blas.load().__pyx_capi__
        capsules = {symbol: capi[routine] for symbol, routine in _SYMBOLS.values()}
    except (ImportError, AttributeError, KeyError) as e:
        raise ImportError(
            "graphc's CPU backend calls BLAS through scipy.linalg.cython_blas (sgemm, dgemm), which this "
            f"scipy does not provide: {e!r}. Install scipy from PyPI (a dependency of graphc)."
        ) from e
    # prototypes of our own, rather than setting argtypes on ctypes.pythonapi's shared functions
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )
    for symbol, capsule in capsules.items():
        llvm.add_symbol(symbol, get_pointer(capsule, get_name(capsule)))


_register()


@intrinsic
def gemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array) and isinstance(c, types.Array)):
        return None
    if not (a.dtype == b.dtype == c.dtype and a.dtype in _SYMBOLS):
        return None
    dtype = a.dtype
    sig = types.void(
        types.boolean, types.boolean, types.intp, types.intp, types.intp, dtype,
        a, types.intp, types.intp, b, types.intp, types.intp, dtype, c, types.intp, types.intp,
    )  # fmt: skip

    def codegen(context, builder, signature, args):
        ta, tb, m_, n_, k_, alpha_, a_, a_off_, lda_, b_, b_off_, ldb_, beta_, c_, c_off_, ldc_ = args
        int32 = ir.IntType(32)
        char = ir.IntType(8)
        scalar = context.get_value_type(dtype)
        ptr = scalar.as_pointer()

        def data(array_type, value, offset):
            base = context.make_array(array_type)(context, builder, value).data
            return builder.gep(base, [offset])

        def ref(value):  # Fortran takes every argument by reference: a stack slot for each
            slot = cgutils.alloca_once(builder, value.type)
            builder.store(value, slot)
            return slot

        def flag(t):
            return builder.select(t, ir.Constant(char, ord("T")), ir.Constant(char, ord("N")))

        def i32(v):
            return builder.trunc(v, int32)

        # row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B first, then A
        fnty = ir.FunctionType(
            ir.VoidType(),
            [char.as_pointer()] * 2 + [int32.as_pointer()] * 3 + [ptr, ptr, int32.as_pointer()]
            + [ptr, int32.as_pointer(), ptr, ptr, int32.as_pointer()],
        )  # fmt: skip
        fn = cgutils.get_or_insert_function(builder.module, fnty, _SYMBOLS[dtype][0])
        builder.call(
            fn,
            [
                ref(flag(tb)), ref(flag(ta)), ref(i32(n_)), ref(i32(m_)), ref(i32(k_)), ref(alpha_),
                data(b, b_, b_off_), ref(i32(ldb_)), data(a, a_, a_off_), ref(i32(lda_)), ref(beta_),
                data(c, c_, c_off_), ref(i32(ldc_)),
            ],
        )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def row_major(typingctx, x):
    """Whether a C- or F-contiguous array's type is C's, as a constant: BLAS reads a C matrix as it is
    and an F matrix as the transpose of a C one. Any other layout does not type."""
    if not (isinstance(x, types.Array) and x.layout in ("C", "F")):
        return None
    value = x.layout == "C"

    def codegen(context, builder, signature, args):
        return context.get_constant(types.boolean, value)

    return types.boolean(x), codegen


gemm.__doc__ = """``C = alpha * op(A) @ op(B) + beta * C`` on windows of ``a``, ``b``, ``c`` (module doc)."""
