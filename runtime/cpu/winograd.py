"""Winograd F(2x2, 3x3): the stride-1 3x3 convolutions of runtime/cpu/conv.py with 2.25x fewer
multiply-adds than im2col.

Each 2x2 tile of the output is A^T [(G w G^T) . (B^T d B)] A for the 4x4 tile d of the bordered input
under it. Per block of images, the input tiles are transformed into 16 planes (one per position of
the 4x4 product), each plane a (tiles, C) matrix; plane i times the transformed weights U[i] (C,
C_out) is one GEMM (``blas.gemm``), and the output transform folds the 16 product planes back into
2x2 tiles. The input gradient is the same loop on gy with the taps flipped and the channels swapped
(``transform_weights(w, adjoint=True)``). The weight gradient is the adjoint in U: the same input
tiles, gy's 2x2 tiles taken through the output transform's adjoint (A gy A^T), 16 GEMMs summed over
the blocks into dU (C, C_out), and G^T dU G once per kernel at the end (``untransform_gradient``).

Layout, measured (bench/NOTES.md): tiles and images are channels-last inside the loop, so every
transform is a run of short loops over the channels, each with one store stream. LLVM vectorizes
those; the same arithmetic written per tile, 16 values at once, stayed scalar (it cannot prove that
16 stores into one array miss the loads) and ran 2-3x slower. The 16 planes are spaced off powers of
two (``PLANE_PAD``): at 64 KiB apart their streams thrashed the L1 sets (the output transform 2x
slower). Blocks hold at most ``BLOCK_COLUMNS`` tiles and ``BLOCK_BYTES`` of them: the 16 GEMMs then
run from L2 (184-198 GFLOP/s on two threads here, against 83-136 for blocks of 1000+ tiles).

Exactness: the transforms add and subtract, and G has halves; float32 results differ from the
reference by ~1e-7-4e-7 of the largest value at the CNN's layers, as im2col's do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from graphc.runtime.cpu.blas import gemm

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
#: tiles per block of images (one GEMM per transformed position and block), at most
BLOCK_COLUMNS = 256
#: and at most this many bytes of transformed tiles per block (16 planes of C + C_out values a tile),
#: so that a block's GEMMs run from L2 (64->128 @4: blocks of 64 tiles ran the weight gradient in 0.97
#: ms on one thread, blocks of 256 in 1.27; 32->64 @8: 512 tiles, 1.5 MB, ran 1.5x slower)
BLOCK_BYTES = 3 << 18
#: extra elements between the 16 planes, so that their streams do not share L1 sets
PLANE_PAD = 16


def transform_weights(w: np.ndarray, adjoint: bool) -> np.ndarray:
    """(C_out, C, 3, 3) weights -> U (16, C, C_out): U[4a + b, i, j] = (G w[j, i] G^T)[a, b], G =
    [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]. ``adjoint``: the input gradient's
    weights instead, taps flipped and channels swapped: (16, C_out, C). Not one (16, 9) x (9, C_out*C)
    product through numpy: numpy's BLAS would wake its worker thread, which then spins on the core our
    conv threads need (the CNN step measured 24-25 ms against 17)."""
    if adjoint:
        w = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    o, c = w.shape[:2]
    taps = np.ascontiguousarray(w.reshape(o, c, 9).transpose(1, 2, 0))  # (C, 9, C_out): rows of C_out
    u = np.empty((16, c, o), w.dtype)
    _transform_rows(taps, u)
    return u


@njit(**_OPTIONS)
def _transform_rows(taps, u):
    """u[:, i] = G k G^T of the 3x3 kernels k from input channel i (taps[i], one row of output channels
    per tap), row by row: each loop has one store stream and runs over the channels."""
    n = taps.shape[2]
    t = np.empty((12, n), taps.dtype)  # (G k)[a, j] at row 3a + j
    for i in range(taps.shape[0]):
        k = taps[i]
        for j in range(3):
            for e in range(n):
                t[j, np.uint64(e)] = k[j, np.uint64(e)]
            for e in range(n):
                t[3 + j, np.uint64(e)] = 0.5 * (
                    k[j, np.uint64(e)] + k[3 + j, np.uint64(e)] + k[6 + j, np.uint64(e)]
                )
            for e in range(n):
                t[6 + j, np.uint64(e)] = 0.5 * (
                    k[j, np.uint64(e)] - k[3 + j, np.uint64(e)] + k[6 + j, np.uint64(e)]
                )
            for e in range(n):
                t[9 + j, np.uint64(e)] = k[6 + j, np.uint64(e)]
        for a in range(4):
            r = 3 * a
            for e in range(n):
                u[4 * a, i, np.uint64(e)] = t[r, np.uint64(e)]
            for e in range(n):
                u[4 * a + 1, i, np.uint64(e)] = 0.5 * (
                    t[r, np.uint64(e)] + t[r + 1, np.uint64(e)] + t[r + 2, np.uint64(e)]
                )
            for e in range(n):
                u[4 * a + 2, i, np.uint64(e)] = 0.5 * (
                    t[r, np.uint64(e)] - t[r + 1, np.uint64(e)] + t[r + 2, np.uint64(e)]
                )
            for e in range(n):
                u[4 * a + 3, i, np.uint64(e)] = t[r + 2, np.uint64(e)]


def block_images(oh: int, ow: int, count: int, channels: int, itemsize: int) -> int:
    """Images per block: as many as ``BLOCK_COLUMNS`` tiles and ``BLOCK_BYTES`` hold (at least one);
    ``channels``: input and output channels together."""
    tiles = min(BLOCK_COLUMNS, BLOCK_BYTES // (16 * channels * itemsize))
    return max(1, min(count, tiles // (((oh + 1) // 2) * ((ow + 1) // 2))))


@njit(inline="always", **_OPTIONS)
def _bordered(x, n, padded, top, left):
    """padded (HP, WP, C)[r + top, s + left, c] = x[n, c, r, s] where it fits; the border stays zero."""
    rows = max(0, min(x.shape[2], padded.shape[0] - top))
    cols = max(0, min(x.shape[3], padded.shape[1] - left))
    for c in range(x.shape[1]):
        for r in range(rows):
            src = x[n, c, r]
            dst = padded[r + top]
            for s in range(cols):
                dst[np.uint64(s + left), np.uint64(c)] = src[np.uint64(s)]


@njit(inline="always", **_OPTIONS)
def _input_tiles(padded, rows, v, plane, t0, th, tw):
    """v's 16 planes (each ``plane`` long, (tiles, C)) at tiles t0.. = B^T d B of padded's 4x4 tiles
    at (2i, 2j); ``rows`` is scratch for one row of tiles' B^T d (4 * WP * C). Every loop has one
    store stream (unsigned indices: no wraparound test), so that LLVM vectorizes it."""
    c = padded.shape[2]
    p = padded.reshape(-1)
    line = padded.shape[1] * c
    for ti in range(th):
        r0 = 2 * ti * line
        r1, r2, r3 = r0 + line, r0 + 2 * line, r0 + 3 * line
        for e in range(line):  # the rows of B^T d: r0 - r2, r1 + r2, r2 - r1, r1 - r3
            rows[np.uint64(e)] = p[np.uint64(r0 + e)] - p[np.uint64(r2 + e)]
        for e in range(line):
            rows[np.uint64(line + e)] = p[np.uint64(r1 + e)] + p[np.uint64(r2 + e)]
        for e in range(line):
            rows[np.uint64(2 * line + e)] = p[np.uint64(r2 + e)] - p[np.uint64(r1 + e)]
        for e in range(line):
            rows[np.uint64(3 * line + e)] = p[np.uint64(r1 + e)] - p[np.uint64(r3 + e)]
        for a in range(4):  # each row's columns the same way: s0 - s2, s1 + s2, s2 - s1, s1 - s3
            for tj in range(tw):
                s0 = a * line + 2 * tj * c
                s1, s2, s3 = s0 + c, s0 + 2 * c, s0 + 3 * c
                q = 4 * a * plane + (t0 + ti * tw + tj) * c
                for e in range(c):
                    v[np.uint64(q + e)] = rows[np.uint64(s0 + e)] - rows[np.uint64(s2 + e)]
                for e in range(c):
                    v[np.uint64(q + plane + e)] = rows[np.uint64(s1 + e)] + rows[np.uint64(s2 + e)]
                for e in range(c):
                    v[np.uint64(q + 2 * plane + e)] = rows[np.uint64(s2 + e)] - rows[np.uint64(s1 + e)]
                for e in range(c):
                    v[np.uint64(q + 3 * plane + e)] = rows[np.uint64(s1 + e)] - rows[np.uint64(s3 + e)]


@njit(inline="always", **_OPTIONS)
def _output_tiles(m, plane, scratch, t0, th, tw, out):
    """out (2*th, 2*tw, C_out) = A^T M A of each tile's 16 products (m's planes, (tiles, C_out), from
    tile t0); ``scratch`` holds one tile's M A (8 * C_out)."""
    o = out.shape[2]
    flat = out.reshape(-1)
    width = out.shape[1] * o
    for ti in range(th):
        for tj in range(tw):
            q = (t0 + ti * tw + tj) * o
            for a in range(4):  # row a of M A: m0 + m1 + m2, m1 - m2 - m3
                b0 = 4 * a * plane + q
                b1, b2, b3 = b0 + plane, b0 + 2 * plane, b0 + 3 * plane
                d = 2 * a * o
                for e in range(o):
                    scratch[np.uint64(d + e)] = (
                        m[np.uint64(b0 + e)] + m[np.uint64(b1 + e)] + m[np.uint64(b2 + e)]
                    )
                for e in range(o):
                    scratch[np.uint64(d + o + e)] = (
                        m[np.uint64(b1 + e)] - m[np.uint64(b2 + e)] - m[np.uint64(b3 + e)]
                    )
            y0 = 2 * ti * width + 2 * tj * o
            for b in range(2):  # A^T (M A), column b: rows 0 + 1 + 2, 1 - 2 - 3
                top, bottom = y0 + b * o, y0 + width + b * o
                k = b * o
                for e in range(o):
                    flat[np.uint64(top + e)] = (
                        scratch[np.uint64(k + e)]
                        + scratch[np.uint64(k + 2 * o + e)]
                        + scratch[np.uint64(k + 4 * o + e)]
                    )
                for e in range(o):
                    flat[np.uint64(bottom + e)] = (
                        scratch[np.uint64(k + 2 * o + e)]
                        - scratch[np.uint64(k + 4 * o + e)]
                        - scratch[np.uint64(k + 6 * o + e)]
                    )


@njit(**_OPTIONS)
def input_block(x, n0, nb, top, left, padded, rows, v, plane):
    """v's planes at tiles 0.. = the input tiles of images n0..n0+nb of x (N, C, H, W), each bordered
    by (top, left) into ``padded`` (whose border stays zero)."""
    th, tw = (padded.shape[0] - 2) // 2, (padded.shape[1] - 2) // 2
    for k in range(nb):
        _bordered(x, n0 + k, padded, top, left)
        _input_tiles(padded, rows, v, plane, k * th * tw, th, tw)


@njit(**_OPTIONS)
def output_block(m, plane, scratch, out, y, n0, nb):
    """y[n0..n0+nb] (C_out, OH, OW) = the output transform of m's planes (tiles 0.., ``out``: one image's
    2x2 tiles channels-last)."""
    th, tw = out.shape[0] // 2, out.shape[1] // 2
    o, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    for k in range(nb):
        _output_tiles(m, plane, scratch, k * th * tw, th, tw, out)
        for j in range(o):
            for r in range(oh):
                src = out[r]
                dst = y[n0 + k, j, r]
                for s in range(ow):
                    dst[np.uint64(s)] = src[np.uint64(s), np.uint64(j)]


@njit(**_OPTIONS)
def plane_gemms(trans_a, rows, cols, depth, a, a_plane, lda, b, b_plane, ldb, beta, c, c_plane, ldc):
    """The 16 GEMMs of a block: c[i] = op(a[i]) @ b[i] + beta c[i], plane i of each at i * its plane."""
    for i in range(16):
        gemm(trans_a, False, rows, cols, depth, 1, a, i * a_plane, lda, b, i * b_plane, ldb, beta, c,
             i * c_plane, ldc)  # fmt: skip


def _buffers(c: int, o: int, oh: int, ow: int, block: int, dtype) -> tuple:
    """A range's buffers for (oh, ow) outputs, ``block`` images at a time: its tiles per image, the
    bordered image (2th + 2, 2tw + 2, C), one row of tiles' B^T d, and two sets of 16 planes with
    their plane lengths: the input tiles (tiles, C) and the output side's (tiles, C_out)."""
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    padded = np.zeros((2 * th + 2, 2 * tw + 2, c), dtype)
    rows = np.empty(4 * (2 * tw + 2) * max(c, o), dtype)
    vp, wp = block * th * tw * c + PLANE_PAD, block * th * tw * o + PLANE_PAD
    return th * tw, padded, rows, (np.empty(16 * vp, dtype), vp), (np.empty(16 * wp, dtype), wp)


def conv_winograd(x, u, y, top, left, block, n0, n1):
    """y[n] (C_out, OH, OW) = the 3x3 stride-1 convolution of x[n] (C, H, W), bordered by (top, left)
    zeros, for images n0..n1, ``block`` at a time; u (16, C, C_out) = ``transform_weights(w, False)``.
    The loop over blocks is Python's: each block is three compiled calls (input tiles, 16 GEMMs, output
    tiles), compiled once for every caller, where one compiled loop around them cost LLVM their whole
    code again for each caller (3.2 s more cold compile; bench/NOTES.md)."""
    c, o = u.shape[1], u.shape[2]
    tiles, padded, rows, (v, vp), (m, mp) = _buffers(c, o, y.shape[2], y.shape[3], block, x.dtype)
    scratch = np.empty(8 * o, x.dtype)
    out = np.empty((padded.shape[0] - 2, padded.shape[1] - 2, o), x.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        input_block(x, b0, nb, top, left, padded, rows, v, vp)
        plane_gemms(False, nb * tiles, o, c, v, vp, c, u, c * o, o, 0, m, mp, o)
        output_block(m, mp, scratch, out, y, b0, nb)


@njit(inline="always", **_OPTIONS)
def _gradient_tiles(tiled, rows, g, plane, t0, th, tw):
    """g's 16 planes (each ``plane`` long, (tiles, C_out)) at tiles t0.. = A gy A^T of the 2x2 tiles of
    ``tiled`` (2*th, 2*tw, C_out): the adjoint of ``_output_tiles``. ``rows``: scratch, 4 * 2tw * C_out."""
    o = tiled.shape[2]
    p = tiled.reshape(-1)
    line = tiled.shape[1] * o
    for ti in range(th):
        r0 = 2 * ti * line
        r1 = r0 + line
        for e in range(line):  # the rows of A gy: r0, r0 + r1, r0 - r1, -r1
            rows[np.uint64(e)] = p[np.uint64(r0 + e)]
        for e in range(line):
            rows[np.uint64(line + e)] = p[np.uint64(r0 + e)] + p[np.uint64(r1 + e)]
        for e in range(line):
            rows[np.uint64(2 * line + e)] = p[np.uint64(r0 + e)] - p[np.uint64(r1 + e)]
        for e in range(line):
            rows[np.uint64(3 * line + e)] = -p[np.uint64(r1 + e)]
        for a in range(4):  # each row's columns [s0, s1] -> [s0, s0 + s1, s0 - s1, -s1]
            for tj in range(tw):
                s0 = a * line + 2 * tj * o
                s1 = s0 + o
                q = 4 * a * plane + (t0 + ti * tw + tj) * o
                for e in range(o):
                    g[np.uint64(q + e)] = rows[np.uint64(s0 + e)]
                for e in range(o):
                    g[np.uint64(q + plane + e)] = rows[np.uint64(s0 + e)] + rows[np.uint64(s1 + e)]
                for e in range(o):
                    g[np.uint64(q + 2 * plane + e)] = rows[np.uint64(s0 + e)] - rows[np.uint64(s1 + e)]
                for e in range(o):
                    g[np.uint64(q + 3 * plane + e)] = -rows[np.uint64(s1 + e)]


@njit(**_OPTIONS)
def gradient_block(gy, n0, nb, tiled, rows, g, plane):
    """g's planes at tiles 0.. = A gy A^T of the 2x2 tiles of images n0..n0+nb of gy (N, C_out, OH, OW),
    each copied channels-last into ``tiled`` (odd sizes leave its zero edge)."""
    th, tw = tiled.shape[0] // 2, tiled.shape[1] // 2
    for k in range(nb):
        _bordered(gy, n0 + k, tiled, 0, 0)
        _gradient_tiles(tiled, rows, g, plane, k * th * tw, th, tw)


def filter_winograd(x, gy, du, top, left, block, n0, n1):
    """du (16, C, C_out) = sum over images n0..n1 of V[i]^T (C, tiles) @ Gy[i] (tiles, C_out): the
    gradient of ``conv_winograd`` w.r.t. its u, which ``untransform_gradient`` turns into the weights'.
    x (N, C, H, W) bordered by (top, left), gy (N, C_out, OH, OW). Blocks in Python, as there."""
    c, o = du.shape[1], du.shape[2]
    tiles, padded, rows, (v, vp), (g, gp) = _buffers(c, o, gy.shape[2], gy.shape[3], block, x.dtype)
    tiled = np.zeros((padded.shape[0] - 2, padded.shape[1] - 2, o), x.dtype)
    for b0 in range(n0, n1, block):
        nb = min(block, n1 - b0)
        input_block(x, b0, nb, top, left, padded, rows, v, vp)
        gradient_block(gy, b0, nb, tiled, rows, g, gp)
        plane_gemms(True, c, o, nb * tiles, v, vp, c, g, gp, o, 0 if b0 == n0 else 1, du, c * o, o)


@njit(**_OPTIONS)
def untransform_gradient(du, gwt):
    """gwt (C*9, C_out), row 9c + 3a + b = (G^T du[:, c] G)[a, b]: the weights' gradient from u's (the
    adjoint of ``transform_weights``), one loop over the output channels per value."""
    c_n, o = du.shape[1], du.shape[2]
    t = np.empty((12, o), du.dtype)  # (G^T M)[a, j] at row 4a + j
    for c in range(c_n):
        m = du[:, c]
        for j in range(4):  # G^T rows: [1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]
            for e in range(o):
                t[j, np.uint64(e)] = m[j, np.uint64(e)] + 0.5 * (
                    m[4 + j, np.uint64(e)] + m[8 + j, np.uint64(e)]
                )
            for e in range(o):
                t[4 + j, np.uint64(e)] = 0.5 * (m[4 + j, np.uint64(e)] - m[8 + j, np.uint64(e)])
            for e in range(o):
                t[8 + j, np.uint64(e)] = (
                    0.5 * (m[4 + j, np.uint64(e)] + m[8 + j, np.uint64(e)]) + m[12 + j, np.uint64(e)]
                )
        for a in range(3):  # (G^T M) G, row a
            r, dst = 4 * a, 9 * c + 3 * a
            for e in range(o):
                gwt[dst, np.uint64(e)] = t[r, np.uint64(e)] + 0.5 * (
                    t[r + 1, np.uint64(e)] + t[r + 2, np.uint64(e)]
                )
            for e in range(o):
                gwt[dst + 1, np.uint64(e)] = 0.5 * (t[r + 1, np.uint64(e)] - t[r + 2, np.uint64(e)])
            for e in range(o):
                gwt[dst + 2, np.uint64(e)] = (
                    0.5 * (t[r + 1, np.uint64(e)] + t[r + 2, np.uint64(e)]) + t[r + 3, np.uint64(e)]
                )
