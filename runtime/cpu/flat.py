"""``flat_view(a)``: the 1-D view of a C-contiguous array inside Numba, for generated segments.

A segment hands each fused loop its arrays flattened (``a.reshape(-1)`` in the kernels' argument
expressions). Numba's ``reshape`` is a general implementation (any shape, its checks and error paths)
whose typing and lowering cost ~10 ms of compile time per use: the Adam update's segment flattens 58
arrays and compiled in 1.24-1.35 s, 0.82 s with this intrinsic (bench/NOTES.md), which builds the
view's array struct directly: same data, meminfo and parent, one dimension of ``a.size`` elements.
"""

from __future__ import annotations

from numba import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic


@intrinsic
def flat_view(typingctx, arr):
    """The 1-D view of C-contiguous ``arr`` (any rank, 0-d included); other layouts do not type."""
    if not isinstance(arr, types.Array) or arr.layout != "C":
        return None
    view = arr.copy(ndim=1, layout="C")

    def codegen(context, builder, signature, args):
        # imported here, where only a compile reaches: numba.np.arrayobj (and the unicode and charseq
        # modules it imports) took 23-26 ms of every warm start, which loads segments compiled before
        from numba.np.arrayobj import make_array, populate_array

        source = make_array(signature.args[0])(context, builder, args[0])
        out = make_array(signature.return_type)(context, builder)
        populate_array(
            out,
            data=source.data,
            shape=[source.nitems],
            strides=[source.itemsize],
            itemsize=source.itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, signature.return_type, out._getvalue())

    return view(arr), codegen
