"""CPU kernels for graphc/ops/linalg.py: ``MatMul`` with ``numpy.matmul`` semantics.

Float32 and float64 products of one dtype below ``NUMPY_ABOVE`` multiply-adds (and every size below
BLAS's 32-bit ints, ``BLAS_INT_LIMIT``) run as BLAS GEMMs called from Numba (``blas.gemm``: the GEMM
``np.dot`` would call, scipy's OpenBLAS, without ``np.dot``'s ~0.2 s of compile per layout;
NUMBA_NOTES.md section 4): there the call overhead is the cost, and Numba's dispatch (~0.6 us) beats
numpy's (~1.2 us). 1-D operands become a row or a column, a stack of matrices times one matrix is one
GEMM over the stacked rows, and other batches (broadcast leading dims) loop over the pairs inside Numba.
Transposed operands (F-contiguous views, what the gradients pass) go to BLAS as they are; other strided
views are copied first, since Numba would copy them anyway (with a performance warning) and compile one
more version.

Larger products are a thin wrapper over ``np.matmul`` with the output preallocated: both libraries then
run at BLAS speed and numpy's OpenBLAS build measured as fast or faster (bench/NOTES.md), so a Numba
GEMM would buy nothing there. In programs that also run kernels on graphc's own threads (the conv
kernels), those products run with numpy's OpenBLAS held to one thread: its second thread, once woken,
spins on a core for ~0.1 s and took that core from the conv threads (runtime/cpu/threads.py).

numpy (the op's reference) also serves integer and mixed-dtype products: Numba's BLAS binding rejects
them (NUMBA_NOTES.md section 4), and none is on a hot path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from graphc.ir.graph import Node
from graphc.ops.linalg import MatMul
from graphc.runtime.cpu import blas
from graphc.runtime.cpu.registry import Kernel, cpu_kernel, quiet
from graphc.runtime.cpu.segment import NjitCall
from graphc.runtime.cpu.threads import NO_LIMIT, numpy_blas, uses_pool

_OPTIONS = {"cache": True, "nogil": True}
#: products of at least this many multiply-adds go to numpy's BLAS instead: both sides then run at
#: BLAS speed and numpy's OpenBLAS build measured equal to 12% faster (40% on some transposed-left
#: shapes), while below it Numba's ~0.6 us dispatch beats numpy's ~1.2 us (bench/NOTES.md). 2^18 is
#: also where OpenBLAS starts threading a GEMM, so scipy's copy never wakes its own thread pool to
#: spin against numpy's. k == 1 (outer products, e.g. weight gradients at batch 1) stays in Numba:
#: numpy's matmul takes a slow non-BLAS loop for some of those strides (19 us, not 2, at 128x1x128).
NUMPY_ABOVE = 1 << 18
#: BLAS takes sizes and leading dimensions as 32-bit ints (blas.py checks nothing): a product with a
#: dimension this large (only k == 1 ones stay below NUMPY_ABOVE at that size) goes to numpy, whose
#: matmul loops by itself past its BLAS's limits. An outer product of 2^31 rows called sgemm with
#: m = -2^31 (refused: the output stayed np.empty's garbage), and of 2^32 + 5 rows with m = 5.
BLAS_INT_LIMIT = 1 << 31


def _numpy_side(rows: int, n: int, k: int, work: int) -> bool:
    """Whether a product of ``rows`` x ``k`` by ``k`` x ``n`` (``work`` multiply-adds in all) runs in
    numpy's matmul rather than a BLAS call from Numba."""
    return (work >= NUMPY_ABOVE and k > 1) or max(rows, n, k) >= BLAS_INT_LIMIT


@njit(**_OPTIONS)
def gemm(a, b, out):
    """out = a @ b for 2-D a (M, K), b (K, N), each C- or F-contiguous, and a C-contiguous out (M, N)."""
    m, k = a.shape
    n = b.shape[1]
    ca, cb = blas.row_major(a), blas.row_major(b)
    # leading dimensions of at least 1, as BLAS demands of empty operands; written as conditionals:
    # the builtin ``max`` is an overload Numba compiles anew in every process (~0.05 s of a cold start)
    lda = (k if ca else m) or 1
    ldb = (n if cb else k) or 1
    blas.gemm(not ca, not cb, m, n, k, 1, a, 0, lda, b, 0, ldb, 0, out, 0, n or 1)


@njit(**_OPTIONS)
def gemm_batched(a, b, out):
    """out[i] = a[i] @ b[i] for C-contiguous stacks a (n, M, K), b (n, K, N), out (n, M, N)."""
    _, m, k = a.shape
    n = b.shape[2]
    for i in range(a.shape[0]):
        blas.gemm(False, False, m, n, k, 1, a, i * m * k, k, b, i * k * n, n, 0, out, i * m * n, n)


def _np_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul`` with numpy's floating-point warnings off, as the reference device runs it (and as
    the Numba GEMMs, which never warn): a product overflowing to inf made numpy warn "overflow
    encountered in matmul", a RunError under ``warnings.simplefilter("error")`` where the reference
    gives inf."""
    with np.errstate(all="ignore"):
        return np.matmul(a, b, out=out)


def _blas_layout(x: np.ndarray) -> np.ndarray:
    """``x`` if BLAS reads it in place (C or F order), else a C-contiguous copy."""
    return x if x.flags.c_contiguous or x.flags.f_contiguous else np.ascontiguousarray(x)


def matmul_floats(a: np.ndarray, b: np.ndarray, hold=NO_LIMIT) -> np.ndarray:
    """``np.matmul(a, b)`` for float32 or float64 operands of the same dtype, through BLAS in Numba;
    ``hold`` is entered around numpy's GEMMs (``numpy_blas`` to run them on one BLAS thread)."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else a  # a row
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b  # a column
    m, k = a2.shape[-2:]
    n = b2.shape[-1]
    if k != b2.shape[-2]:
        return np.matmul(a, b)  # numpy raises its error (the executable names the node)
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    shape = batch + a.shape[-2:-1] + (b.shape[-1:] if b.ndim >= 2 else ())  # 1-D operands drop a dim
    if m == 0 or n == 0 or k == 0 or 0 in batch:
        return np.zeros(shape, a.dtype)  # BLAS is not called with empty operands (an empty sum is 0)
    count = math.prod(batch)
    if _numpy_side(count * m, n, k, count * m * n * k):
        with hold:
            # a 1-D @ 1-D product is a numpy scalar, not a 0-d array: a segment reading it failed
            # in Numba's typing (flat_view(float32)), so every kernel's output is an array
            return np.asarray(_np_matmul(a, b))
    if b2.ndim == 2:
        # a matrix, or a stack of matrices times one matrix: the stack's rows form one taller GEMM
        # the stack's reshape is a view where numpy can make one, strided where a is a broadcast
        # (a gradient's ones): BLAS and the gemm's typing take C or F order only
        rows = _blas_layout(a2.reshape(-1, k) if a2.ndim > 2 else a2)
        out = np.empty((rows.shape[0], n), a.dtype)
        gemm(rows, _blas_layout(b2), out)
    else:
        a3 = np.ascontiguousarray(np.broadcast_to(a2, (*batch, m, k))).reshape(count, m, k)
        b3 = np.ascontiguousarray(np.broadcast_to(b2, (*batch, k, n))).reshape(count, k, n)
        out = np.empty((count, m, n), a.dtype)
        gemm_batched(a3, b3, out)
    return out.reshape(shape)


def _matmul_2d(a: np.ndarray, b: np.ndarray, hold=NO_LIMIT) -> tuple[np.ndarray]:
    """The common case (both operands 2-D, ranks known when the graph compiles): no reshapes, no
    broadcasting, about 1 us of Python around the GEMM (``matmul_floats`` spends ~5 us)."""
    m, k = a.shape
    n = b.shape[1]
    if k != b.shape[0] or not (m and n and k):
        return (matmul_floats(a, b, hold),)
    out = np.empty((m, n), a.dtype)
    if _numpy_side(m, n, k, m * n * k):
        with hold:
            _np_matmul(a, b, out)
        return (out,)
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    gemm(a, b, out)
    return (out,)


def _bind_2d(in_shapes, out_shapes, hold=NO_LIMIT):
    """``step(a, b, out)`` for 2-D products of these shapes (the policy of ``_matmul_2d``, decided once)."""
    (m, k), (_, n) = in_shapes
    if not (m and n and k):
        return None
    if _numpy_side(m, n, k, m * n * k):
        if hold is not NO_LIMIT:

            def big_held(a, b, out):
                with hold:
                    _np_matmul(a, b, out)

            big_held.one_thread = True  # a run plan may run it beside another kernel (threads.run_pair)
            return big_held

        def big(a, b, out):
            _np_matmul(a, b, out)

        return big

    def small(a, b, out):
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            a = np.ascontiguousarray(a)
        if not (b.flags.c_contiguous or b.flags.f_contiguous):
            b = np.ascontiguousarray(b)
        gemm(a, b, out)

    small.njit = NjitCall(gemm, lambda ins, outs: [ins[0], ins[1], outs[0]], ("CF", "CF"))
    return small


@cpu_kernel.register(MatMul)
def matmul_kernel(op, node: Node) -> Kernel:
    a, b = node.inputs
    reference = quiet(op.reference)
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return Kernel(lambda a, b: (reference(a, b),), "numpy[MatMul]", notes=["integer or mixed dtypes"])
    notes = ["BLAS GEMM called from Numba (runtime/cpu/blas.py)"]
    hold = NO_LIMIT
    if uses_pool(node.graph) and numpy_blas.available:
        hold = numpy_blas
        notes.append("numpy's GEMMs on one BLAS thread: the program runs kernels on graphc's threads")
    if a.ndim == 2 and b.ndim == 2:
        fn = _matmul_2d if hold is NO_LIMIT else lambda a, b: _matmul_2d(a, b, hold)
        return Kernel(fn, "blas[MatMul]", notes=notes, bind=lambda ins, outs: _bind_2d(ins, outs, hold))
    return Kernel(lambda a, b: (matmul_floats(a, b, hold),), "blas[MatMul]", notes=notes)
