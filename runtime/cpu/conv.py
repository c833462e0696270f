"""CPU kernels for the convolutions of graphc/ops/conv.py and conv_grad.py: conv2d and its two transposes
(pooling, from the same op modules, is in runtime/cpu/pool.py).

Convolution is im2col + GEMM (NUMBA_NOTES.md section 5): the kernel windows of a block of images are
copied into the columns of a (C*kh*kw, images*OH*OW) matrix that the (C_out, C*kh*kw) weights multiply
(``blas.gemm``: scipy's OpenBLAS, the GEMM ``np.dot`` calls). A block is one image unless images are
small (the deep layers: 4x4 outputs), where one GEMM per image would have 16 columns and waste BLAS.
The input gradient is the transposed GEMM then a col2im scatter-add; the weight gradient is one GEMM
per block, accumulated by BLAS. The window copies (im2col, col2im) are in runtime/cpu/im2col.py.

Stride-1 convolutions with enough channels and pixels skip im2col (``_conv_shifted``): in an image's
zero-bordered planes, the window tap (a, b) of every output pixel is one fixed offset away, so each
tap is a GEMM of its (C_out, C) weights with the planes read from that offset, accumulated into
output rows as wide as the bordered image (whose extra columns are dropped). Nine GEMMs of depth C
instead of one of depth 9C, and no copy of the image nine times over: 15-30% faster at the CNN's
16->32 @16 and 32->64 @8 layers, slower at 4x4 images or 3 input channels (bench/NOTES.md). The input
gradient is the same loop on gy (taps flipped, channels swapped); the weight gradient has its own.

3x3 stride-1 convolutions between 16 channels or more on outputs up to 16x16 go further: Winograd
F(2x2, 3x3) (runtime/cpu/winograd.py), 16 GEMMs of depth C per block of 2x2 output tiles, 2.25x fewer
multiply-adds; all three kernels, 20-50% faster at the CNN's three deeper layers. Chosen first, then
the shifted GEMMs, then im2col. Non-finite operands keep off the first two where they would differ
(``_finite``): Winograd's transforms add and subtract neighbouring values, so one inf meets itself
as inf - inf (any operand), and the shifted gradients multiply the zero border or the columns they
drop by an inf weight (input gradient) or pixel (weight gradient), 0 * inf; NaN either way where the
reference's sums give +-inf. The shifted forward keeps exactly the reference's products, as im2col.
Winograd also needs magnitudes its transforms cannot overflow (``_winograd_operands``): finite
values near 1e38 in float32 became inf in them, then NaN, where the reference's results are finite.

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

import math

import numba
import numpy as np
from numba import njit

from graphc.ir.graph import Node
from graphc.ops.conv import Conv2D
from graphc.ops.conv_grad import Conv2DBackpropFilter, Conv2DBackpropInput
from graphc.runtime.cpu.blas import gemm
from graphc.runtime.cpu.im2col import GATHER_BELOW, col2im, im2col, pad_image, unsigned, window_layout
from graphc.runtime.cpu.registry import Kernel, cpu_kernel, quiet
from graphc.runtime.cpu.threads import POOL_OPS, split
from graphc.runtime.cpu.winograd import (
    block_images,
    conv_winograd,
    filter_winograd,
    transform_weights,
    untransform_gradient,
)

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
#: a GEMM block of images holds at least this many columns (output pixels), when images are small
BLOCK_COLUMNS = 256
#: stride-1 convolutions skip im2col (``_conv_shifted``) where each tap's GEMM has at least this many
#: columns and this deep a sum: below either, BLAS runs too short to beat im2col + one GEMM (measured
#: per layer, bench/NOTES.md: the CNN's 16->32 and 32->64 layers gain, 3->16 and 64->128 @4 lose)
SHIFTED_COLUMNS, SHIFTED_DEPTH = 64, 16
#: the weight gradient's shifted GEMMs sum over the columns: they need more of them (only the 16->32
#: layer at 16x16 gained; at 8x8 it ran 1.5x slower)
SHIFTED_FILTER_COLUMNS = 256
#: 3x3 stride-1 convolutions between at least this many channels (in and out), on outputs of at most
#: ``WINOGRAD_TILES`` 2x2 tiles (16x16), run as Winograd F(2x2, 3x3) (runtime/cpu/winograd.py):
#: measured 20-50% faster at the CNN's 16->32, 32->64 and 64->128 layers, level at 16->16 @16, slower
#: at 32x32 outputs (16->16, 16->32) and at 3 channels, where the transforms cost more than the GEMMs
#: save (bench/NOTES.md)
WINOGRAD_DEPTH, WINOGRAD_TILES = 16, 64

# --- Numba loops (geometry ``g`` = (kh, kw, sh, sw, dh, dw, top, left); window copies: im2col.py) ------


@njit(**_OPTIONS)
def _conv_forward(x, w2, y3, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """y3[n] (C_out, OH*OW) = w2 @ im2col(x[n]) for images n0..n1, ``block`` images per GEMM;
    (hp, wp, offsets): ``im2col.window_layout``."""
    p = oh * ow
    o, ckk = w2.shape
    padded = np.zeros((x.shape[1], hp, wp), x.dtype)
    col = np.empty((ckk, block * p), x.dtype)
    out = np.empty((o, block * p), x.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        for k in range(nb):
            pad_image(x[b0 + k], padded, g[6], g[7])
            im2col(padded, col, k * p, g, oh, ow, offsets)
        if nb == 1:  # straight into the image's output
            gemm(False, False, o, p, ckk, 1, w2, 0, ckk, col, 0, block * p, 0, y3, b0 * o * p, p)
            continue
        gemm(False, False, o, nb * p, ckk, 1, w2, 0, ckk, col, 0, block * p, 0, out, 0, block * p)
        for k in range(nb):
            for c in range(o):
                for q in range(p):
                    y3[b0 + k, c, q] = out[c, k * p + q]


@njit(**_OPTIONS)
def _conv_backprop_input(gy3, w2t, gx, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """gx[n] = col2im(w2t @ gy3[n]) for images n0..n1; w2t (C*kh*kw, C_out) C-contiguous."""
    p = oh * ow
    ckk, o = w2t.shape
    padded = np.zeros((gx.shape[1], hp, wp), gy3.dtype)
    gcol = np.empty((ckk, block * p), gy3.dtype)
    gyb = np.empty((o, block * p), gy3.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        if nb == 1:  # straight from the image's gradient
            gemm(False, False, ckk, p, o, 1, w2t, 0, o, gy3, b0 * o * p, p, 0, gcol, 0, block * p)
        else:
            for k in range(nb):
                for c in range(o):
                    for q in range(p):
                        gyb[c, k * p + q] = gy3[b0 + k, c, q]
            gemm(False, False, ckk, nb * p, o, 1, w2t, 0, o, gyb, 0, block * p, 0, gcol, 0, block * p)
        for k in range(nb):
            col2im(gcol, k * p, padded, gx[b0 + k], g, oh, ow, offsets)


@njit(**_OPTIONS)
def _conv_backprop_filter(x, gy3, gwt, g, oh, ow, block, hp, wp, offsets, n0, n1):
    """gwt (C*kh*kw, C_out) = sum over images n0..n1 of im2col(x[n]) @ gy3[n].T, ``block`` at a time,
    accumulated by the GEMMs themselves (beta = 1). gy goes to BLAS as the transpose of its (C_out,
    pixels) rows: a (pixels, C_out) copy of it, written column by column, cost more than the GEMM at
    3->16 @32 (bench/NOTES.md)."""
    p = oh * ow
    ckk, o = gwt.shape
    padded = np.zeros((x.shape[1], hp, wp), x.dtype)
    col = np.empty((ckk, block * p), x.dtype)
    gyb = np.empty((o, block * p), x.dtype)
    for r in range(ckk):
        for c in range(o):
            gwt[r, c] = 0
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        for k in range(nb):
            pad_image(x[b0 + k], padded, g[6], g[7])
            im2col(padded, col, k * p, g, oh, ow, offsets)
        if nb == 1:
            gemm(False, True, ckk, o, p, 1, col, 0, block * p, gy3, b0 * o * p, p, 1, gwt, 0, o)
        else:
            for k in range(nb):  # the block's images side by side: rows of p contiguous values
                for c in range(o):
                    for q in range(p):
                        gyb[c, unsigned(k * p + q)] = gy3[b0 + k, c, q]
            gemm(False, True, ckk, o, nb * p, 1, col, 0, block * p, gyb, 0, block * p, 1, gwt, 0, o)


@njit(**_OPTIONS)
def _conv_shifted(x, wt, y3, kw, top, left, oh, ow, hp, wp, n0, n1):
    """Stride 1, dilation 1: y3[n] (C_out, OH*OW) = sum over taps t of wt[t] (C_out, C) @ x[n]'s zero-
    bordered planes (C, HP, WP) read from tap t's offset on, with no im2col: the GEMM's columns are
    the output pixels on rows WP wide, ``span`` of them (the last row's tail would run past the
    plane), whose OW valid ones are then copied out. Also the input gradient, given gy, the flipped
    and transposed taps and the complementary borders (``_conv2d_backprop_input``)."""
    c = x.shape[1]
    taps, o, _ = wt.shape
    plane, span = hp * wp, (oh - 1) * wp + ow
    padded = np.zeros((c, hp, wp), x.dtype)
    wide = np.empty((o, oh * wp), x.dtype)
    for n in range(n0, n1):
        pad_image(x[n], padded, top, left)
        for t in range(taps):
            shift = (t // kw) * wp + t % kw
            gemm(
                False,
                False,
                o,
                span,
                c,
                1,
                wt,
                t * o * c,
                c,
                padded,
                shift,
                plane,
                min(t, 1),
                wide,
                0,
                oh * wp,
            )
        for k in range(o):
            for r in range(oh):
                for q in range(ow):
                    y3[n, k, r * ow + q] = wide[k, r * wp + q]


@njit(**_OPTIONS)
def _conv_backprop_filter_shifted(x, gy3, gwt, kw, top, left, oh, ow, hp, wp, n0, n1):
    """Stride 1, dilation 1: gwt (C*kh*kw, C_out), rows c*kh*kw + t, = sum over images n0..n1 of x[n]'s
    zero-bordered planes read from tap t's offset on (C, span) @ gy[n] on rows WP wide (C_out, span).T;
    each tap's GEMM writes its rows of gwt in place (leading dimension taps * C_out, beta = 1)."""
    c = x.shape[1]
    ckk, o = gwt.shape
    taps = ckk // c
    plane, span = hp * wp, (oh - 1) * wp + ow
    padded = np.zeros((c, hp, wp), x.dtype)
    wide = np.zeros((o, oh * wp), x.dtype)  # the columns past OW stay zero: they add nothing
    for r in range(ckk):
        for k in range(o):
            gwt[r, k] = 0
    for n in range(n0, n1):
        pad_image(x[n], padded, top, left)
        for k in range(o):
            for r in range(oh):
                for q in range(ow):
                    wide[k, r * wp + q] = gy3[n, k, r * ow + q]
        for t in range(taps):
            shift = (t // kw) * wp + t % kw
            gemm(False, True, c, o, span, 1, padded, shift, plane, wide, 0, oh * wp, 1, gwt, t * o, taps * o)


# --- kernels ---------------------------------------------------------------------------------------


def c_contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous and writeable: the one layout the loops are compiled for (Numba compiles a
    new version for each layout, readonly arrays included)."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def out_size(size: int, k: int, stride: int, dilation: int, pads: int) -> int:
    return (size + pads - dilation * (k - 1) - 1) // stride + 1


def _shifted(op, depth: int, oh: int, ow: int, kw: int, columns: int) -> bool:
    """Whether ``_conv_shifted``'s GEMMs serve this stride-1 case: a sum over ``depth`` channels of at
    least ``SHIFTED_DEPTH``, on at least ``columns`` columns per tap."""
    if tuple(op.stride) != (1, 1) or tuple(op.dilation) != (1, 1):
        return False
    return depth >= SHIFTED_DEPTH and (oh - 1) * (ow + kw - 1) + ow >= columns


def _winograd(op, channels: int, kh: int, kw: int, oh: int, ow: int) -> bool:
    """Whether the Winograd loops serve this case: 3x3, stride 1, no dilation, at least
    ``WINOGRAD_DEPTH`` ``channels`` (the fewer of input and output), outputs (oh, ow) of at most
    ``WINOGRAD_TILES`` tiles."""
    plain = tuple(op.stride) == (1, 1) and tuple(op.dilation) == (1, 1)
    small = ((oh + 1) // 2) * ((ow + 1) // 2) <= WINOGRAD_TILES
    return plain and (kh, kw) == (3, 3) and channels >= WINOGRAD_DEPTH and small


def _largest(t: np.ndarray) -> float:
    """max |t|, or inf where ``t`` holds an inf or a NaN (numpy's max and min propagate NaN). Two
    passes, no temporary: under 1% of the convolution at the CNN's layers."""
    hi, lo = float(t.max(initial=0)), float(t.min(initial=0))
    return max(hi, -lo) if math.isfinite(hi) and math.isfinite(lo) else math.inf


def _finite(*arrays: np.ndarray) -> bool:
    """Whether every value of ``arrays`` is finite, as the shifted gradients need (see the module doc):
    with one inf x pixel, the shifted weight gradient gave NaN at 64 weights where the reference has
    +-inf."""
    return all(_largest(a) < math.inf for a in arrays)


def _winograd_operands(a: np.ndarray, b: np.ndarray, depth: int) -> bool:
    """Whether Winograd can take the operands ``a`` and ``b`` of a product summed over ``depth`` terms
    without an overflow the reference does not have: every value finite (one inf x pixel gave NaN at
    62 of 64 outputs, inf - inf in the transforms) and max|a| * max|b| * depth at most 2^-10 of the
    dtype's range, each maximum at most 2^-4 of it. The transforms add up to 4 neighbouring values
    going in and up to 9 planes coming out: x near 1e38 (float32), weights 1e-3, overflowed to inf,
    then NaN, at 75% of the outputs of a 16-channel convolution whose reference values are finite (at
    most 1.7e36); im2col keeps the reference's products."""
    limit = float(np.finfo(a.dtype).max)
    ma, mb = _largest(a), _largest(b)
    return max(ma, mb) <= limit / 16 and ma * mb * depth <= limit / 1024


def _shifted_geometry(kh: int, kw: int, top, left, oh: int, ow: int) -> tuple:
    """The trailing arguments of the shifted loops: borders, output size, bordered plane size."""
    return kw, int(top), int(left), oh, ow, oh + kh - 1, ow + kw - 1


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
    """Winograd, shifted GEMMs or im2col + one GEMM per block of images, the batch split across threads"""
    reference, (sh, sw), (dh, dw) = quiet(op.reference), op.stride, op.dilation

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
        p = oh * ow
        if _winograd(op, min(c, o), kh, kw, oh, ow) and _winograd_operands(x, w, c * kh * kw):
            u = transform_weights(c_contiguous(w), False)
            loop, args = (
                conv_winograd,
                (u, y, int(top), int(left), block_images(oh, ow, n, c + o, y.itemsize)),
            )
        elif _shifted(op, c, oh, ow, kw, SHIFTED_COLUMNS):  # kept columns: the reference's products
            wt = np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(kh * kw, o, c)
            loop, args = (
                _conv_shifted,
                (wt, y.reshape(n, o, p), *_shifted_geometry(kh, kw, top, left, oh, ow)),
            )
        else:
            g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
            layout = window_layout(g, oh, ow, ow < GATHER_BELOW)
            loop, args = (
                _conv_forward,
                (c_contiguous(w).reshape(o, -1), y.reshape(n, o, p), g, oh, ow, _block(p, n), *layout),
            )
        split(loop, n, n * o * c * kh * kw * p, True, (c_contiguous(x), *args))
        return (y,)

    return fn


@register_builder(Conv2DBackpropInput)
def _conv2d_backprop_input(op: Conv2DBackpropInput):
    """Winograd, shifted GEMMs, or transposed GEMM + col2im scatter per block of images, the batch split
    across threads"""
    (sh, sw), (dh, dw) = op.stride, op.dilation

    def fn(gy, w, like):
        top, _, left, _ = op.check_run(like.shape, w.shape, gy.shape)  # raises the op's errors
        n, o, oh, ow = gy.shape
        c, kh, kw = w.shape[1:]
        gx = np.empty((n, c, *like.shape[2:]), gy.dtype)
        if gx.size == 0:
            return (gx,)
        if o == 0 or kh * kw == 0:
            return (quiet(op.reference)(gy, w, like),)
        p = oh * ow
        h, wd = like.shape[2:]
        if (
            top < kh
            and left < kw
            and _winograd(op, min(c, o), kh, kw, h, wd)
            and _winograd_operands(gy, w, o * kh * kw)
        ):
            # the adjoint is a stride-1 convolution of gy: taps flipped, channels swapped, borders of
            # k - 1 - pad (as below)
            u = transform_weights(c_contiguous(w), True)
            geometry = (kh - 1 - int(top), kw - 1 - int(left), block_images(h, wd, n, c + o, gx.itemsize))
            loop, args = conv_winograd, (c_contiguous(gy), u, gx, *geometry)
        elif top < kh and left < kw and _shifted(op, o, h, wd, kw, SHIFTED_COLUMNS) and _finite(w):
            # the adjoint is a stride-1 convolution of gy: taps flipped, channels swapped, borders of
            # k - 1 - pad (gy's rows past the bottom border reach no input pixel: pad_image drops them)
            wt = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)).reshape(kh * kw, c, o)
            geometry = _shifted_geometry(kh, kw, kh - 1 - top, kw - 1 - left, h, wd)
            loop, args = _conv_shifted, (c_contiguous(gy), wt, gx.reshape(n, c, h * wd), *geometry)
        else:
            g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
            w2t = np.ascontiguousarray(w.reshape(o, -1).T)  # (C*kh*kw, C_out): small, and C @ C suits BLAS
            layout = window_layout(g, oh, ow, ow < GATHER_BELOW)
            loop, args = (
                _conv_backprop_input,
                (c_contiguous(gy).reshape(n, o, p), w2t, gx, g, oh, ow, _block(p, n), *layout),
            )
        split(loop, n, n * o * c * kh * kw * p, True, args)
        return (gx,)

    return fn


@register_builder(Conv2DBackpropFilter)
def _conv2d_backprop_filter(op: Conv2DBackpropFilter):
    """Winograd, shifted GEMMs or one GEMM per block of images, a partial sum per thread"""
    (sh, sw), (dh, dw) = op.stride, op.dilation

    def fn(x, gy, like):
        top, _, left, _ = op.check_run(x.shape, like.shape, gy.shape)
        n, o, oh, ow = gy.shape
        c, kh, kw = like.shape[1:]
        if n == 0 or o * c * kh * kw == 0:
            return (quiet(op.reference)(x, gy, like),)  # zeros, or an empty array
        g = (kh, kw, sh, sw, dh, dw, int(top), int(left))
        p = oh * ow
        work = n * o * c * kh * kw * p
        x, gy = c_contiguous(x), c_contiguous(gy)
        if _winograd(op, min(c, o), kh, kw, oh, ow) and _winograd_operands(x, gy, n * p):
            du = np.empty((numba.get_num_threads(), 16, c, o), gy.dtype)
            args = (int(top), int(left), block_images(oh, ow, n, c + o, gy.itemsize))
            used = split(filter_winograd, n, work, True, lambda t: (x, gy, du[t], *args))
            gwt = np.empty((c * kh * kw, o), gy.dtype)
            untransform_gradient(du[0] if used == 1 else du[:used].sum(axis=0), gwt)
            return (np.ascontiguousarray(gwt.T).reshape(o, c, kh, kw),)
        parts = np.empty((numba.get_num_threads(), c * kh * kw, o), gy.dtype)
        gy3 = gy.reshape(n, o, p)
        if _shifted(op, c, oh, ow, kw, SHIFTED_FILTER_COLUMNS) and _finite(x):
            loop, tail = _conv_backprop_filter_shifted, _shifted_geometry(kh, kw, top, left, oh, ow)
        else:
            layout = window_layout(g, oh, ow, ow < GATHER_BELOW)
            loop, tail = _conv_backprop_filter, (g, oh, ow, _block(p, n), *layout)
        used = split(loop, n, work, True, lambda t: (x, gy3, parts[t], *tail))
        gwt = parts[0] if used == 1 else parts[:used].sum(axis=0)
        return (np.ascontiguousarray(gwt.T).reshape(o, c, kh, kw),)

    return fn
