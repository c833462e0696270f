"""CPU kernels that are numpy calls: data movement and shape ops (reshape, transpose, concat, indexing,
padding...), where numpy's C loops or views are what a kernel would do anyway, plus the few compute ops
where numpy measured as fast as a Numba loop. Each op is listed here by name, on purpose: an op
missing from every kernel table fails at compile time instead of falling back silently.

These kernels call the op's numpy ``reference`` (the op's definition), so they agree with the reference
device exactly.
"""

from __future__ import annotations

from graphc.ir.graph import Node
from graphc.ir.op import OPS
from graphc.runtime.cpu.registry import Kernel, cpu_kernel, quiet

#: data movement and shape: numpy is the right implementation on the CPU
DATA_MOVEMENT = (
    "Constant", "Reshape", "ReshapeLike", "ExpandDims", "Squeeze", "BroadcastTo", "BroadcastLike",
    "Transpose", "Concat", "Stack", "Split", "SplitLike", "GetItem", "GetItemGrad", "Pad", "PadGrad",
    "Shape", "Size", "StopGradient", "SumLike", "Group",
)  # fmt: skip
#: compute ops served by numpy: its SIMD argmax measured as fast or faster (bench/NOTES.md)
NUMPY_FOR_NOW = ("ArgMax", "ArgMin")


#: ops here whose numpy calls do arithmetic, and so may warn (overflow in a sum): they run as the
#: reference device runs them, numpy's warnings off. The others only move data and cannot warn, and
#: skip that ``np.errstate`` block, which cost 1.7 us a call (ten calls in the MLP's training step)
ARITHMETIC = ("SumLike", "GetItemGrad", "PadGrad", "ArgMax", "ArgMin")


def _reference_kernel(op, node: Node) -> Kernel:
    reference = quiet(op.reference) if op.type_name in ARITHMETIC else op.reference
    if len(node.outputs) == 1:

        def fn(*arrays):
            return (reference(*arrays),)

    else:

        def fn(*arrays):
            return tuple(reference(*arrays))

    return Kernel(fn, f"numpy[{op.type_name}]", notes=["runs the op's numpy reference"])


for _name in DATA_MOVEMENT + NUMPY_FOR_NOW:
    cpu_kernel.register(OPS[_name])(_reference_kernel)
