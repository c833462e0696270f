"""A float32 ``exp`` that LLVM can vectorize: the softmax kernels' exp over whole arrays.

Numba lowers ``np.exp`` on float32 to a call of libm's scalar ``expf``; without Intel's SVML (PyPI's
llvmlite is built without it) a loop calling it cannot be vectorized, and softmax-like kernels over
narrow rows spend most of their time there (34 us for 10240 elements, bench/NOTES.md). ``exp32_lines``
is straight-line arithmetic instead: Cody-Waite reduction by ln 2, a degree-7 Taylor polynomial on
|r| <= ln(2)/2 (truncation error below 1e-8 relative), and 2^n written into the exponent bits, in two
halves so that n = 128 (just below the overflow) fits. Inputs beyond float32's normal range saturate
to inf above, and to 0 below -87.34 (where the result would be a subnormal below 1.2e-38); NaN stays
NaN. Measured: within 1 ulp of float64 ``exp`` rounded to float32 over the normal range
(tests/runtime/cpu/test_fastexp.py); 5.2 us for 10240 elements against 28 us for the ``expf`` loop.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import intrinsic

LOG2E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)  # ln 2 split so that n * LN2_HI is exact for |n| <= 128
LN2_LO = np.float32(-2.12194440e-4)
EXP_LO = np.float32(-87.33654)  # below: exp underflows float32's normal range -> 0
EXP_HI = np.float32(88.72283)  # above: overflows -> inf
C0, C1, C2, C3, C4, C5, C6, C7 = (np.float32(1.0 / f) for f in (1, 1, 2, 6, 24, 120, 720, 5040))
HALF, ZERO, INF = np.float32(0.5), np.float32(0.0), np.float32(np.inf)


@intrinsic
def bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bits are the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], context.get_value_type(types.int32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, context.get_value_type(types.float32))

    return types.float32(bits), codegen


def exp32_lines(array: str, indent: str = "    ") -> str:
    """Source lines replacing every element of ``array`` (a C-contiguous float32 array) by its exp,
    in place, for generated kernels (their module imports ``NAMES`` from here). Pasted into each
    kernel rather than called: an ``inline="always"`` function cost ~0.13 s of compile time per use
    and a shared njit function is optimized again in every caller (bench/NOTES.md)."""
    # e_ names: the lines land in kernels with their own x, n, r, p
    body = f"""e_flat = {array}.reshape({array}.size)
for e_i in range(e_flat.size):
    e_x = e_flat[e_i]
    e_xc = EXP_LO if e_x < EXP_LO else (EXP_HI if e_x > EXP_HI else e_x)
    e_n = np.floor(e_xc * LOG2E + HALF)
    e_r = (e_xc - e_n * LN2_HI) - e_n * LN2_LO
    e_p = ((((((C7 * e_r + C6) * e_r + C5) * e_r + C4) * e_r + C3) * e_r + C2) * e_r + C1) * e_r + C0
    # 2^n in two halves: n runs from -126 to 128, one past float32's exponents at the top
    e_ni = np.int32(e_n)
    e_half = e_ni >> 1
    e_y = e_p * bits_as_float32((e_half + 127) << 23) * bits_as_float32((e_ni - e_half + 127) << 23)
    e_y = ZERO if e_x < EXP_LO else e_y
    e_y = INF if e_x > EXP_HI else e_y
    e_flat[e_i] = e_x if e_x != e_x else e_y"""
    return "\n".join(indent + line for line in body.splitlines())


#: the names ``exp32_lines`` uses, for the generated module's import line
NAMES = (
    "bits_as_float32, C0, C1, C2, C3, C4, C5, C6, C7, EXP_HI, EXP_LO, HALF, INF, LN2_HI, LN2_LO, LOG2E, ZERO"
)
