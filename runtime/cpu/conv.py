"""CPU kernels for the convolutions of graphc/ops/conv.py and conv_grad.py: conv2d and its two transposes
(pooling, from the same op modules, is in runtime/cpu/pool.py).

Convolution is im2col + GEMM (NUMBA_NOTES.md section 5): the kernel windows of a block of images are
copied into the columns of a (C*kh*kw, images*OH*OW) matrix that the (C_out, C*kh*kw) weights multiply
with ``np.dot`` (scipy's BLAS inside Numba). A block is one image unless images are small (the deep
layers: 4x4 outputs), where one GEMM per image would have 16 columns and waste BLAS. The input gradient
is the transposed GEMM then a col2im scatter-add; the weight gradient is one GEMM per block, summed.
The window copies (im2col, col2im) are in runtime/cpu/im2col.py.
Stride, padding and dilation are run-time arguments: one compiled function per dtype serves every
layer.

Threads: a batch is cut into one range of images per thread, and
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
from graphc.ops.conv import Conv2D
from graphc.ops.conv_grad import Conv2DBackpropFilter, Conv2DBackpropInput
from graphc.runtime.cpu import cython_blas
from graphc.runtime.cpu.im2col import GATHER_BELOW, col2im, im2col, pad_image, unsigned, window_layout
from graphc.runtime.cpu.registry import Kernel, cpu_kernel
from graphc.runtime.cpu.threads import POOL_OPS, split

cython_blas.load()  # before any np.dot in Numba: ~3 ms, not the 90-140 ms of scipy.linalg
_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
#: a GEMM block of images holds at least this many columns (output pixels), when images are small
BLOCK_COLUMNS = 256

# --- Numba loops (geometry ``g`` = (kh, kw, sh, sw, dh, dw, top, left); window copies: im2col.py) ------


@njit(**_OPTIONS)
def _conv_forward(x, w2, y3, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """y3[n] (C_out, OH*OW) = w2 @ im2col(x[n]) for images n0..n1, ``block`` images per GEMM;
    (hp, wp, offsets): ``im2col.window_layout``."""
    p = oh * ow
    padded = np.zeros((x.shape[1], hp, wp), x.dtype)
    col = np.empty((w2.shape[1], block * p), x.dtype)
    out = np.empty((w2.shape[0], block * p), x.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb < block:  # the last, shorter block: BLAS wants whole contiguous operands
            col = np.empty((w2.shape[1], nb * p), x.dtype)
            out = np.empty((w2.shape[0], nb * p), x.dtype)
        for k in range(nb):
            pad_image(x[b0 + k], padded, g[6], g[7])
            im2col(padded, col, k * p, g, oh, ow, offsets)
        if nb == 1:
            np.dot(w2, col, y3[b0])
            continue
        np.dot(w2, col, out)
        for k in range(nb):
            for o in range(w2.shape[0]):
                for q in range(p):
                    y3[b0 + k, o, q] = out[o, k * p + q]


@njit(**_OPTIONS)
def _conv_backprop_input(gy3, w2t, gx, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """gx[n] = col2im(w2t @ gy3[n]) for images n0..n1; w2t (C*kh*kw, C_out) C-contiguous."""
    p = oh * ow
    padded = np.zeros((gx.shape[1], hp, wp), gy3.dtype)
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
            col2im(gcol, k * p, padded, gx[b0 + k], g, oh, ow, offsets)


@njit(**_OPTIONS)
def _conv_backprop_filter(x, gy3, gwt, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """gwt (C*kh*kw, C_out) = sum over images n0..n1 of im2col(x[n]) @ gy3[n].T, ``block`` at a time.
    gy goes to BLAS as the transpose of its (C_out, pixels) rows (an F-ordered view): a (pixels, C_out)
    copy of it, written column by column, cost more than the GEMM at 3->16 @32 (bench/NOTES.md)."""
    p = oh * ow
    ckk, o_ = gwt.shape
    padded = np.zeros((x.shape[1], hp, wp), x.dtype)
    col = np.empty((ckk, block * p), x.dtype)
    gyb = np.empty((o_, block * p), x.dtype)
    part = np.empty((ckk, o_), x.dtype)
    for r in range(ckk):
        for o in range(o_):
            gwt[r, o] = 0
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb < block:
            col = np.empty((ckk, nb * p), x.dtype)
            gyb = np.empty((o_, nb * p), x.dtype)
        for k in range(nb):
            pad_image(x[b0 + k], padded, g[6], g[7])
            im2col(padded, col, k * p, g, oh, ow, offsets)
        if nb == 1:
            np.dot(col, gy3[b0].T, part)
        else:
            for k in range(nb):  # the block's images side by side: rows of p contiguous values
                for o in range(o_):
                    for q in range(p):
                        gyb[o, unsigned(k * p + q)] = gy3[b0 + k, o, q]
            np.dot(col, gyb.T, part)
        for r in range(ckk):
            for o in range(o_):
                gwt[r, o] += part[r, o]


# --- kernels ---------------------------------------------------------------------------------------


def c_contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous and writeable: the one layout the loops are compiled for (Numba compiles a
    new version for each layout, readonly arrays included)."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def out_size(size: int, k: int, stride: int, dilation: int, pads: int) -> int:
    return (size + pads - dilation * (k - 1) - 1) // stride + 1


def _block(pixels: int, count: int) -> int:
    """Images per GEMM: enough for BLOCK_COLUMNS columns."""
    return max(1, min(count, BLOCK_COLUMNS // max(pixels, 1)))


def register_builder(op_class, threads: bool = True):
    """Register ``make(op) -> fn`` as ``op_class``'s kernel (float32 or float64: the ops take no other);
    ``threads``: it runs on the worker pool (listed in ``threads.POOL_OPS``)."""

    def register(make):
        if threads:
            POOL_OPS.add(op_class)

        @cpu_kernel.register(op_class)
        def build(op, node: Node) -> Kernel:
            fn = make(op)
            return Kernel(fn, f"numba[{op.type_name}]", getattr(fn, "source", ""), notes=[make.__doc__])

        return make

    return register


@register_builder(Conv2D)
def _conv2d(op: Conv2D):
    """im2col + one GEMM per block of images, the batch split across threads"""
    reference, (sh, sw), (dh, dw) = op.reference, op.stride, op.dilation

    def fn(x, w):
        n, c, h, wd = x.shape
        o, ci, kh, kw = w.shape
        top, bottom, left, right = op.pads(x.shape, w.shape)
        oh, ow = out_size(h, kh, sh, dh, top + bottom), out_size(wd, kw, sw, dw, left + right)
        if c != ci or oh < 1 or ow < 1 or kh * kw == 0:
            return (reference(x, w),)  # raises the op's error (or computes the odd case)
        if n * o == 0 or c == 0:
            return (np.zeros((n, o, oh, ow), x.dtype),)
        y = np.empty((n, o, oh, ow), x.dtype)
        g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
        p = oh * ow
        args = (
            c_contiguous(x),
            c_contiguous(w).reshape(o, -1),
            y.reshape(n, o, p),
            g,
            oh,
            ow,
            _block(p, n),
            *window_layout(g, oh, ow, ow < GATHER_BELOW),
        )
        split(_conv_forward, n, n * o * c * kh * kw * p, True, args)
        return (y,)

    return fn


@register_builder(Conv2DBackpropInput)
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
        args = (
            c_contiguous(gy).reshape(n, o, p),
            w2t,
            gx,
            g,
            oh,
            ow,
            _block(p, n),
            *window_layout(g, oh, ow, ow < GATHER_BELOW),
        )
        split(_conv_backprop_input, n, n * o * c * kh * kw * p, True, args)
        return (gx,)

    return fn


@register_builder(Conv2DBackpropFilter)
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
        x, gy3 = c_contiguous(x), c_contiguous(gy).reshape(n, o, p)
        block, layout = _block(p, n), window_layout(g, oh, ow, ow < GATHER_BELOW)
        used = split(
            _conv_backprop_filter,
            n,
            n * o * c * kh * kw * p,
            True,
            lambda t: (x, gy3, parts[t], g, oh, ow, block, *layout),
        )
        gwt = parts[0] if used == 1 else parts[:used].sum(axis=0)
        return (np.ascontiguousarray(gwt.T).reshape(o, c, kh, kw),)

    return fn
