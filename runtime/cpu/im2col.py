"""im2col and col2im, the window copies of the conv kernels (runtime/cpu/conv.py).

Geometry ``g`` = (kh, kw, sh, sw, dh, dw, top, left). Both work on a zero-bordered copy of one image,
``padded`` (C, HP, WP): the rows and columns that the kernel windows span, x placed at (top, left).
With the padding made of real zeros the copies need no bounds tests, which halved im2col at every
CNN layer against copying straight from x with each row's in-bounds span computed (bench/NOTES.md).
Each tap (c, a, b) then reads the same pattern of pixels, shifted by a*dh rows and b*dw columns:

- output rows at least ``GATHER_BELOW`` wide are copied row by row (contiguous when sw is 1);
- narrower outputs (the deep layers: 4x4) are gathered through a table of every output pixel's offset
  in the padded plane, one loop over the tap's whole OH*OW: rows of 4 left the loop overhead
  dominating (0.21 -> 0.13 ms for 32 images of 64 x 4x4).

col2im is the adjoint: gradients accumulate into the padded plane (zeroed first), then its interior is
copied out to the image, and pixels that no window reads get 0.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
#: outputs narrower than this are gathered through an offset table, wider ones copied row by row
GATHER_BELOW = 8


@njit(inline="always", **_OPTIONS)
def unsigned(i):
    """Unsigned index: Numba then skips its negative-index wraparound, which blocks vectorization."""
    return np.uint64(i)


@functools.lru_cache(maxsize=256)
def window_layout(g: tuple, oh: int, ow: int, gather: bool) -> tuple[int, int, np.ndarray]:
    """(HP, WP, offsets): the padded plane's rows and columns (those the windows of an (oh, ow) output
    span), and each output pixel's offset from its window's first tap in that plane where the copies
    gather, else an empty table. Computed here rather than in the loops: as Numba functions these two
    cost 0.4 s of cold compile (bench/NOTES.md)."""
    kh, kw, sh, sw, dh, dw, _, _ = g
    hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    if not gather:
        return hp, wp, np.empty(0, np.int64)
    return hp, wp, (np.arange(oh)[:, None] * (sh * wp) + np.arange(ow) * sw).reshape(-1).astype(np.int64)


@njit(**_OPTIONS)
def pad_image(x, padded, top, left):
    """padded[c, r + top, s + left] = x[c, r, s] for the pixels that fall inside ``padded``; its border
    is never written, so it stays zero from one image to the next."""
    rows = max(0, min(x.shape[1], padded.shape[1] - top))
    cols = max(0, min(x.shape[2], padded.shape[2] - left))
    for c in range(x.shape[0]):
        for r in range(rows):
            dst = padded[c, r + top]
            src = x[c, r]
            for s in range(cols):
                dst[unsigned(s + left)] = src[unsigned(s)]


@njit(**_OPTIONS)
def im2col(padded, col, col0, g, oh, ow, offsets):
    """col[(c*kh + a)*kw + b, col0 + i*ow + j] = padded[c, i*sh + a*dh, j*sw + b*dw]."""
    kh, kw, sh, sw, dh, dw, _, _ = g
    p = oh * ow
    flat = padded.reshape(-1)
    plane, wp = padded.shape[1] * padded.shape[2], padded.shape[2]
    for c in range(padded.shape[0]):
        for a in range(kh):
            for b in range(kw):
                dst = col[(c * kh + a) * kw + b]
                if offsets.shape[0]:
                    src = flat[c * plane + a * dh * wp + b * dw :]
                    for q in range(p):
                        dst[unsigned(col0 + q)] = src[unsigned(offsets[q])]
                    continue
                for i in range(oh):
                    src = padded[c, i * sh + a * dh]
                    base = col0 + i * ow
                    if sw == 1:  # contiguous: a plain vectorized copy
                        for j in range(ow):
                            dst[unsigned(base + j)] = src[unsigned(j + b * dw)]
                    else:
                        for j in range(ow):
                            dst[unsigned(base + j)] = src[unsigned(j * sw + b * dw)]


@njit(**_OPTIONS)
def col2im(col, col0, padded, gx, g, oh, ow, offsets):
    """The adjoint of ``pad_image`` then ``im2col``: gx (C, H, W) = the column entries summed at the
    pixels they were copied from; ``padded`` is scratch of the padded plane's shape."""
    kh, kw, sh, sw, dh, dw, top, left = g
    p = oh * ow
    flat = padded.reshape(-1)
    plane, wp = padded.shape[1] * padded.shape[2], padded.shape[2]
    for t in range(flat.shape[0]):
        flat[t] = 0
    for c in range(padded.shape[0]):
        for a in range(kh):
            for b in range(kw):
                src = col[(c * kh + a) * kw + b]
                if offsets.shape[0]:
                    dst = flat[c * plane + a * dh * wp + b * dw :]
                    for q in range(p):
                        dst[unsigned(offsets[q])] += src[unsigned(col0 + q)]
                    continue
                for i in range(oh):
                    dst = padded[c, i * sh + a * dh]
                    base = col0 + i * ow
                    if sw == 1:
                        for j in range(ow):
                            dst[unsigned(j + b * dw)] += src[unsigned(base + j)]
                    else:
                        for j in range(ow):
                            dst[unsigned(j * sw + b * dw)] += src[unsigned(base + j)]
    h, w = gx.shape[1], gx.shape[2]
    rows = max(0, min(h, padded.shape[1] - top))
    cols = max(0, min(w, padded.shape[2] - left))
    for c in range(gx.shape[0]):
        for r in range(h):
            dst = gx[c, r]
            if r >= rows:  # below the last window: no window read these pixels
                for s in range(w):
                    dst[unsigned(s)] = 0
                continue
            src = padded[c, r + top]
            for s in range(cols):
                dst[unsigned(s)] = src[unsigned(s + left)]
            for s in range(cols, w):
                dst[unsigned(s)] = 0
