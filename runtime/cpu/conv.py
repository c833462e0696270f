"""CPU kernels for graphc/ops/conv.py and conv_grad.py: conv2d, its two transposes, and 2-D pooling.

Convolution is im2col + GEMM (NUMBA_NOTES.md section 5): the kernel windows of a block of images are
copied into the columns of a (C*kh*kw, images*OH*OW) matrix that the (C_out, C*kh*kw) weights multiply
with ``np.dot`` (scipy's BLAS inside Numba). A block is one image unless images are small (the deep
layers: 4x4 outputs), where one GEMM per image would have 16 columns and waste BLAS. The input gradient
is the transposed GEMM then a col2im scatter-add; the weight gradient is one GEMM per block, summed.
Stride, padding and dilation are run-time arguments: one compiled function per dtype serves every
layer. Pooling loops are generated per window geometry instead (see ``POOL_SOURCE``): with the window's
size as constants they vectorize, 30x faster than the same loops with run-time window bounds.

Threads: a batch is cut into one range of images (or image planes, for pooling) per thread, and
``numba.get_num_threads()`` Python threads run nogil Numba loops on them (``threads.split``), rather
than ``prange``: a ``prange`` over the same loops ran within 5% and cost 1.3-1.9 s more cold compile
per kernel (bench/NOTES.md). While those threads multiply, scipy's OpenBLAS is held to one thread (see
runtime/cpu/threads.py): two 2-thread GEMMs at once on 2 cores ran 5 to 10 times slower.

Degenerate cases (empty kernels) and run-time shape errors are left to the op's numpy reference: a
kernel that finds shapes it cannot serve calls it, and it raises the op's own message.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from graphc.ir.graph import Node
from graphc.ops.conv import AvgPool2D, Conv2D, MaxPool2D
from graphc.ops.conv_grad import (
    AvgPool2DGrad,
    Conv2DBackpropFilter,
    Conv2DBackpropInput,
    MaxPool2DGather,
    MaxPool2DGrad,
)
from graphc.runtime.cpu.cache import load_module
from graphc.runtime.cpu.registry import Kernel, cpu_kernel
from graphc.runtime.cpu.threads import POOL_OPS, split

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
#: a GEMM block of images holds at least this many columns (output pixels), when images are small
BLOCK_COLUMNS = 256

# --- Numba loops (geometry ``g`` = (kh, kw, sh, sw, dh, dw, top, left)) -----------------------------


@njit(inline="always", **_OPTIONS)
def _u(i):
    return np.uint64(i)


@njit(**_OPTIONS)
def _span(off, stride, size, count):
    """The outputs j in [j0, j1) whose tap j*stride + off falls inside [0, size)."""
    j0 = max(0, -(off // stride))
    j1 = min(count, max(0, (size - 1 - off) // stride + 1))
    return j0, max(j0, j1)


@njit(**_OPTIONS)
def _im2col(x, col, col0, g, oh, ow):
    """col[(c*kh + a)*kw + b, col0 + i*ow + j] = x[c, i*sh + a*dh - top, j*sw + b*dw - left], or 0.

    Indices are cast to unsigned (``_u``): Numba then skips its negative-index wraparound, which
    otherwise blocks vectorization (3-5x slower at the CNN shapes)."""
    kh, kw, sh, sw, dh, dw, top, left = g
    h, w = x.shape[1], x.shape[2]
    for c in range(x.shape[0]):
        for a in range(kh):
            for b in range(kw):
                dst = col[(c * kh + a) * kw + b]
                off = b * dw - left
                j0, j1 = _span(off, sw, w, ow)
                for i in range(oh):
                    r = i * sh + a * dh - top
                    base = col0 + i * ow
                    if r < 0 or r >= h:
                        for j in range(ow):
                            dst[_u(base + j)] = 0
                        continue
                    src = x[c, r]
                    for j in range(j0):
                        dst[_u(base + j)] = 0
                    for j in range(j0, j1):
                        dst[_u(base + j)] = src[_u(j * sw + off)]
                    for j in range(j1, ow):
                        dst[_u(base + j)] = 0


@njit(**_OPTIONS)
def _col2im(col, col0, gx, g, oh, ow):
    """The adjoint of ``_im2col``: gx (C, H, W) = 0, then each column entry added at the pixel it read."""
    kh, kw, sh, sw, dh, dw, top, left = g
    h, w = gx.shape[1], gx.shape[2]
    for c in range(gx.shape[0]):
        for r in range(h):
            for s in range(w):
                gx[c, r, s] = 0
        for a in range(kh):
            for b in range(kw):
                src = col[(c * kh + a) * kw + b]
                off = b * dw - left
                j0, j1 = _span(off, sw, w, ow)
                for i in range(oh):
                    r = i * sh + a * dh - top
                    if r < 0 or r >= h:
                        continue
                    dst = gx[c, r]
                    base = col0 + i * ow
                    for j in range(j0, j1):
                        dst[_u(j * sw + off)] += src[_u(base + j)]


@njit(**_OPTIONS)
def _conv_forward(x, w2, y3, g, oh, ow, block, n0, n1):
    """y3[n] (C_out, OH*OW) = w2 @ im2col(x[n]) for images n0..n1, ``block`` images per GEMM."""
    p = oh * ow
    col = np.empty((w2.shape[1], block * p), x.dtype)
    out = np.empty((w2.shape[0], block * p), x.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb < block:  # the last, shorter block: BLAS wants whole contiguous operands
            col = np.empty((w2.shape[1], nb * p), x.dtype)
            out = np.empty((w2.shape[0], nb * p), x.dtype)
        for k in range(nb):
            _im2col(x[b0 + k], col, k * p, g, oh, ow)
        if nb == 1:
            np.dot(w2, col, y3[b0])
            continue
        np.dot(w2, col, out)
        for k in range(nb):
            for o in range(w2.shape[0]):
                for q in range(p):
                    y3[b0 + k, o, q] = out[o, k * p + q]


@njit(**_OPTIONS)
def _conv_backprop_input(gy3, w2t, gx, g, oh, ow, block, n0, n1):
    """gx[n] = col2im(w2t @ gy3[n]) for images n0..n1; w2t (C*kh*kw, C_out) C-contiguous."""
    p = oh * ow
    gcol = np.empty((w2t.shape[0], block * p), gy3.dtype)
    gyb = np.empty((w2t.shape[1], block * p), gy3.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb < block:
            gcol = np.empty((w2t.shape[0], nb * p), gy3.dtype)
            gyb = np.empty((w2t.shape[1], nb * p), gy3.dtype)
        if nb == 1:
            np.dot(w2t, gy3[b0], gcol)
        else:
            for k in range(nb):
                for o in range(w2t.shape[1]):
                    for q in range(p):
                        gyb[o, k * p + q] = gy3[b0 + k, o, q]
            np.dot(w2t, gyb, gcol)
        for k in range(nb):
            _col2im(gcol, k * p, gx[b0 + k], g, oh, ow)


@njit(**_OPTIONS)
def _conv_backprop_filter(x, gy3, gwt, g, oh, ow, block, n0, n1):
    """gwt (C*kh*kw, C_out) = sum over images n0..n1 of im2col(x[n]) @ gy3[n].T, ``block`` at a time."""
    p = oh * ow
    ckk, o_ = gwt.shape
    col = np.empty((ckk, block * p), x.dtype)
    gyt = np.empty((block * p, o_), x.dtype)
    part = np.empty((ckk, o_), x.dtype)
    for r in range(ckk):
        for o in range(o_):
            gwt[r, o] = 0
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb < block:
            col = np.empty((ckk, nb * p), x.dtype)
            gyt = np.empty((nb * p, o_), x.dtype)
        for k in range(nb):
            _im2col(x[b0 + k], col, k * p, g, oh, ow)
            for o in range(o_):
                for q in range(p):
                    gyt[k * p + q, o] = gy3[b0 + k, o, q]
        np.dot(col, gyt, part)  # C @ C -> C: the one GEMM layout all three conv kernels use
        for r in range(ckk):
            for o in range(o_):
                gwt[r, o] += part[r, o]


# --- kernels ---------------------------------------------------------------------------------------


def _c(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous and writeable: the one layout the loops are compiled for (Numba compiles a
    new version for each layout, readonly arrays included)."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def _out_size(size: int, k: int, stride: int, dilation: int, pads: int) -> int:
    return (size + pads - dilation * (k - 1) - 1) // stride + 1


def _block(pixels: int, count: int) -> int:
    """Images per GEMM: enough for BLOCK_COLUMNS columns."""
    return max(1, min(count, BLOCK_COLUMNS // max(pixels, 1)))


def _builder(op_class):
    """Register ``make(op) -> fn`` as ``op_class``'s kernel (float32 or float64: the ops take no other)."""

    def register(make):
        POOL_OPS.add(op_class)

        @cpu_kernel.register(op_class)
        def build(op, node: Node) -> Kernel:
            fn = make(op)
            return Kernel(fn, f"numba[{op.type_name}]", getattr(fn, "source", ""), notes=[make.__doc__])

        return make

    return register


@_builder(Conv2D)
def _conv2d(op: Conv2D):
    """im2col + one GEMM per block of images, the batch split across threads"""
    reference, (sh, sw), (dh, dw) = op.reference, op.stride, op.dilation

    def fn(x, w):
        n, c, h, wd = x.shape
        o, ci, kh, kw = w.shape
        top, bottom, left, right = op.pads(x.shape, w.shape)
        oh, ow = _out_size(h, kh, sh, dh, top + bottom), _out_size(wd, kw, sw, dw, left + right)
        if c != ci or oh < 1 or ow < 1 or kh * kw == 0:
            return (reference(x, w),)  # raises the op's error (or computes the odd case)
        if n * o == 0 or c == 0:
            return (np.zeros((n, o, oh, ow), x.dtype),)
        y = np.empty((n, o, oh, ow), x.dtype)
        g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
        p = oh * ow
        args = (_c(x), _c(w).reshape(o, -1), y.reshape(n, o, p), g, oh, ow, _block(p, n))
        split(_conv_forward, n, n * o * c * kh * kw * p, True, args)
        return (y,)

    return fn


@_builder(Conv2DBackpropInput)
def _conv2d_backprop_input(op: Conv2DBackpropInput):
    """transposed GEMM + col2im scatter per block of images, the batch split across threads"""
    (sh, sw), (dh, dw) = op.stride, op.dilation

    def fn(gy, w, like):
        top, _, left, _ = op.check_run(like.shape, w.shape, gy.shape)  # raises the op's errors
        n, o, oh, ow = gy.shape
        c, kh, kw = w.shape[1:]
        gx = np.empty((n, c, *like.shape[2:]), gy.dtype)
        if gx.size == 0:
            return (gx,)
        if o == 0 or kh * kw == 0:
            return (op.reference(gy, w, like),)
        g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
        p = oh * ow
        w2t = np.ascontiguousarray(w.reshape(o, -1).T)  # (C*kh*kw, C_out): small, and C @ C suits BLAS
        args = (_c(gy).reshape(n, o, p), w2t, gx, g, oh, ow, _block(p, n))
        split(_conv_backprop_input, n, n * o * c * kh * kw * p, True, args)
        return (gx,)

    return fn


@_builder(Conv2DBackpropFilter)
def _conv2d_backprop_filter(op: Conv2DBackpropFilter):
    """one GEMM per block of images, a partial sum per thread"""
    (sh, sw), (dh, dw) = op.stride, op.dilation

    def fn(x, gy, like):
        top, _, left, _ = op.check_run(x.shape, like.shape, gy.shape)
        n, o, oh, ow = gy.shape
        c, kh, kw = like.shape[1:]
        if n == 0 or o * c * kh * kw == 0:
            return (op.reference(x, gy, like),)  # zeros, or an empty array
        g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
        p = oh * ow
        parts = np.empty((numba.get_num_threads(), c * kh * kw, o), gy.dtype)
        x, gy3 = _c(x), _c(gy).reshape(n, o, p)
        block = _block(p, n)
        used = split(
            _conv_backprop_filter,
            n,
            n * o * c * kh * kw * p,
            True,
            lambda t: (x, gy3, parts[t], g, oh, ow, block),
        )
        gwt = parts[0] if used == 1 else parts[:used].sum(axis=0)
        return (np.ascontiguousarray(gwt.T).reshape(o, c, kh, kw),)

    return fn


# --- pooling: loops generated per window geometry ----------------------------------------------------

# The window's size, stride and padding are constants in the source: LLVM then unrolls the taps and
# vectorizes across output columns (2x2 max pool of 1M floats: 0.1 ms; the same loop with run-time
# window bounds took 3.5 ms, bench/NOTES.md). Padded geometries read a clamped pixel and mask it out,
# which keeps the taps free of branches. The max is the first in row-major order among the window's
# pixels, or its last NaN, as the reference picks it: written as selects, not branches, because
# where the max falls is data-dependent (a branch per tap mispredicts).
POOL_SOURCE = '''"""Generated by graphc: pooling, window {KH}x{KW}, stride {SH},{SW}, padding {PH},{PW}."""
import numpy as np
from numba import njit

OPTIONS = dict(cache=True, error_model="numpy", nogil=True)


@njit(**OPTIONS)
def max_pool(x, src, out, mode, p0, p1):
    """Planes p0..p1 of x (planes, H, W). mode 0: out = each window's max; 1: out = src (x's shape)
    at each window's max; 2: out (x's shape) = the sum of src (one value per window) at the maxima."""
    h, w = x.shape[1], x.shape[2]
    oh, ow = (src.shape[1], src.shape[2]) if mode == 2 else (out.shape[1], out.shape[2])
    m = np.empty(ow, x.dtype)
    k = np.empty(ow, np.int32)
    for p in range(p0, p1):
        if mode == 2:
            for r in range(h):
                for s in range(w):
                    out[p, r, s] = 0
        for i in range(oh):
            r0 = i * {SH} - {PH}
            for j in range(ow):
                s0 = j * {SW} - {PW}
                mj = x[p, {R0}, {S0}]
                kj = np.int32(-1)
                for a in range({KH}):
                    for b in range({KW}):
{MAX_TAP}
                m[j] = mj
                k[j] = kj
            if mode == 0:
                for j in range(ow):
                    out[p, i, j] = m[j]
            elif mode == 1:
                for j in range(ow):
                    out[p, i, j] = src[p, r0 + k[j] // {KW}, j * {SW} - {PW} + k[j] % {KW}]
            else:
                for j in range(ow):
                    out[p, r0 + k[j] // {KW}, j * {SW} - {PW} + k[j] % {KW}] += src[p, i, j]


@njit(**OPTIONS)
def avg_pool(src, out, grad, count, p0, p1):
    """Planes p0..p1. Forward: out = the sum of each window's pixels of src / count (padding counts
    as zeros). grad: out (the image's shape) = 0, then each window's src / count added at its pixels."""
    h, w = (out.shape[1], out.shape[2]) if grad else (src.shape[1], src.shape[2])
    oh, ow = (src.shape[1], src.shape[2]) if grad else (out.shape[1], out.shape[2])
    for p in range(p0, p1):
        if grad:
            for r in range(h):
                for s in range(w):
                    out[p, r, s] = 0
        for i in range(oh):
            r0 = i * {SH} - {PH}
            for j in range(ow):
                s0 = j * {SW} - {PW}
                if grad:
                    share = src[p, i, j] / count
                    for a in range({KH}):
                        for b in range({KW}):
{AVG_GRAD_TAP}
                else:
                    total = out.dtype.type(0)
                    for a in range({KH}):
                        for b in range({KW}):
{AVG_TAP}
                    out[p, i, j] = total / count
'''
_TAPS = {  # (unpadded, padded) tap bodies; padded ones read a clamped pixel (r, s) and mask it out
    "MAX_TAP": (
        """v = x[p, r0 + a, s0 + b]
c = (v > mj) | (v != v) | (kj < 0)""",
        """r, s = min(max(r0 + a, 0), h - 1), min(max(s0 + b, 0), w - 1)
v = x[p, r, s]
c = (r == r0 + a) & (s == s0 + b) & ((v > mj) | (v != v) | (kj < 0))""",
    ),
    "AVG_TAP": (
        "total += src[p, r0 + a, s0 + b]",
        """r, s = min(max(r0 + a, 0), h - 1), min(max(s0 + b, 0), w - 1)
total += src[p, r, s] if (r == r0 + a) & (s == s0 + b) else out.dtype.type(0)""",
    ),
    "AVG_GRAD_TAP": (
        "out[p, r0 + a, s0 + b] += share",
        """if 0 <= r0 + a < h and 0 <= s0 + b < w:
    out[p, r0 + a, s0 + b] += share""",
    ),
}
_MAX_SELECT = """
mj = v if c else mj
kj = np.int32(a * {KW} + b) if c else kj"""


def pool_source(kernel, stride, padding) -> str:
    """The pooling loops for one window geometry (kernel, stride and padding as pairs)."""
    padded = int(padding != (0, 0))
    taps = {name: bodies[padded] for name, bodies in _TAPS.items()}
    taps["MAX_TAP"] += _MAX_SELECT
    values = dict(KH=kernel[0], KW=kernel[1], SH=stride[0], SW=stride[1], PH=padding[0], PW=padding[1])
    values["R0"], values["S0"] = ("max(r0, 0)", "max(s0, 0)") if padded else ("r0", "s0")
    for name, body in taps.items():
        lines = body.format(**values).strip().splitlines()
        indent = " " * (24 if name == "MAX_TAP" else 28)
        taps[name] = "\n".join(indent + line for line in lines)
    return POOL_SOURCE.format(**values, **taps)


def _pool_kernel(op_class, loop_name: str, run):
    """Register a pooling op: ``run(op, loop, *arrays)`` returns the result, or None to let the
    reference answer (a window that does not fit, an empty image, mismatched shapes: it raises)."""

    @_builder(op_class)
    def make(op):
        source = pool_source(op.kernel, op.stride, op.padding)
        loop = getattr(load_module(source), loop_name)

        def fn(*arrays):
            result = run(op, loop, *arrays)
            return (op.reference(*arrays) if result is None else result,)

        fn.source = source
        return fn

    make.__doc__ = "generated loops over the windows, the planes split across threads"
    return make


def _pool_shape(op, x_shape: tuple):
    """The pooled shape of ``x_shape``, or None where the loops cannot run (see ``_pool_kernel``)."""
    (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
    n, c, h, w = x_shape
    oh, ow = _out_size(h, kh, sh, 1, 2 * ph), _out_size(w, kw, sw, 1, 2 * pw)
    return None if oh < 1 or ow < 1 or h == 0 or w == 0 else (n, c, oh, ow)


def _planes(a: np.ndarray) -> np.ndarray:
    """An NCHW array as C-contiguous (N*C, H, W) planes."""
    return _c(a).reshape(-1, *a.shape[2:])


def _loop(op, loop, shape: tuple, args: tuple, threads: bool = True) -> None:
    """Run a pooling loop over the planes; ``threads=False`` for the forward loops, which vectorize:
    ~0.1 ms at the CNN's largest pool, less than a second thread's start-up and hand-off saves."""
    n, c, oh, ow = shape
    work = n * c * oh * ow * op.kernel[0] * op.kernel[1] if threads else 0
    split(loop, n * c, work, False, args)


def _max_pool2d(op, loop, x):
    shape = _pool_shape(op, x.shape)
    if shape is None:
        return None
    y = np.empty(shape, x.dtype)
    if y.size:
        x3 = _planes(x)
        _loop(op, loop, shape, (x3, x3, _planes(y), 0), threads=False)
    return y


def _max_pool2d_grad(op, loop, x, gy):
    shape = _pool_shape(op, x.shape)
    if shape is None or gy.shape != shape:
        return None
    gx = np.empty(x.shape, gy.dtype)
    if gx.size:
        _loop(op, loop, shape, (_planes(x), _planes(gy), _planes(gx), 2))
    return gx


def _max_pool2d_gather(op, loop, x, g):
    shape = _pool_shape(op, x.shape)
    if shape is None or g.shape != x.shape:
        return None
    y = np.empty(shape, g.dtype)
    if y.size:
        _loop(op, loop, shape, (_planes(x), _planes(g), _planes(y), 1))
    return y


def _avg_pool2d(op, loop, x):
    shape = _pool_shape(op, x.shape)
    if shape is None:
        return None
    y = np.empty(shape, x.dtype)
    if y.size:
        count = x.dtype.type(op.kernel[0] * op.kernel[1])
        _loop(op, loop, shape, (_planes(x), _planes(y), False, count), threads=False)
    return y


def _avg_pool2d_grad(op, loop, gy, like):
    shape = _pool_shape(op, like.shape)
    if shape is None or gy.shape != shape:
        return None
    gx = np.empty((*gy.shape[:2], *like.shape[2:]), gy.dtype)
    if gx.size:
        count = gy.dtype.type(op.kernel[0] * op.kernel[1])
        _loop(op, loop, shape, (_planes(gy), _planes(gx), True, count))
    return gx


_pool_kernel(MaxPool2D, "max_pool", _max_pool2d)
_pool_kernel(MaxPool2DGrad, "max_pool", _max_pool2d_grad)
_pool_kernel(MaxPool2DGather, "max_pool", _max_pool2d_gather)
_pool_kernel(AvgPool2D, "avg_pool", _avg_pool2d)
_pool_kernel(AvgPool2DGrad, "avg_pool", _avg_pool2d_grad)
