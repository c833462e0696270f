"""Ops that only gradients of reductions need: ``ProdOthers``, the product of the other elements.

``reduce_prod``'s gradient is ``gy * prod_others(x)``, not ``gy * out / x``, which is 0 / 0 where x has
zeros. ``ProdOthers``' own gradient is written with ordinary ops, case by case on the number of zeros
in each group, so second derivatives of ``reduce_prod`` are exact at zeros too (third and higher ones
only away from zeros: the case split treats the zero pattern as fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import AxisError, DTypeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, normalize_axes
from graphc.ops.core import apply, as_tensor
from graphc.ops.elementwise import cast, equal, where
from graphc.ops.reduce import reduce_prod, reduce_sum


@dataclass(frozen=True)
class ProdOthers(Op):
    """y_j = prod_{k != j} x_k over each group of elements that ``axes`` reduce (exact with zeros).

    ``axes`` are sorted and non-negative, as ``Reduce.axes``. Output: x's shape and dtype; no axes gives
    ones. The reference multiplies exclusive prefix and suffix products, never dividing (float32 in
    float64).
    """

    axes: tuple[int, ...]

    def infer(self, x: TensorType) -> tuple[TensorType]:
        if dtypes.is_bool(x.dtype):
            raise DTypeError(f"ProdOthers does not take bool inputs (got {x}); cast them first")
        if normalize_axes(self.axes, x.ndim) != self.axes:
            raise AxisError(f"ProdOthers axes must be sorted and non-negative: got {self.axes}")
        return (x,)

    def reference(self, x):
        rest = tuple(a for a in range(x.ndim) if a not in self.axes)
        moved = np.transpose(x, rest + self.axes)
        n = int(np.prod([x.shape[a] for a in self.axes], dtype=np.int64))
        flat = moved.reshape(*moved.shape[: len(rest)], n)
        # float32 factors multiply in float64, as reduce_prod's reference: a float32 prefix product of
        # [1e30, 1e30, 1e-30, 1e-30] overflows midway (inf, where every product of three is finite), and
        # drifts (9e-5 after 10^5 factors near 1)
        acc = dtypes.sum_dtype(x.dtype, x.dtype)
        ones = np.ones((*flat.shape[:-1], 1), acc)
        # before[j] = x_0 ... x_{j-1}, after[j] = x_{j+1} ... x_{n-1}
        before = np.cumprod(np.concatenate([ones, flat], -1), -1, dtype=acc)[..., :-1]
        after = np.cumprod(np.concatenate([ones, flat[..., ::-1]], -1), -1, dtype=acc)[..., -2::-1]
        out = (before * after).reshape(moved.shape)
        return np.asarray(np.transpose(out, np.argsort(rest + self.axes)), dtype=x.dtype)

    def vjp(self, node, gy):
        # h_j = sum_{i != j} gy_i * prod_{k not in {i, j}} x_k, by the number of zeros in j's group;
        # every division is by `safe` (x with its zeros made 1), so no branch that where() drops makes
        # inf or NaN, in this gradient or in its own gradient
        (x,), (p,) = node.inputs, node.outputs
        axes = self.axes
        zero = equal(x, 0.0)
        safe = where(zero, 1.0, x)
        zeros = reduce_sum(cast(zero, x.dtype), axes, keepdims=True)
        nonzero_prod = reduce_prod(safe, axes, keepdims=True)
        g_over_x = reduce_sum(gy / safe, axes, keepdims=True)
        g_at_zeros = reduce_sum(where(zero, gy, 0.0), axes, keepdims=True)
        no_zero = p * (g_over_x - gy / safe)  # p_j * sum_{i != j} gy_i / x_i
        one_zero = where(zero, nonzero_prod * (g_over_x - gy), nonzero_prod * g_at_zeros / safe)
        two_zeros = where(zero, nonzero_prod * (g_at_zeros - gy), 0.0)
        more = where(equal(zeros, 2.0), two_zeros, 0.0)
        return (where(equal(zeros, 0.0), no_zero, where(equal(zeros, 1.0), one_zero, more)),)


def prod_others(x, axes, name: str | None = None) -> Tensor:
    """The product of the other elements of each group ``axes`` reduce (``reduce_prod``'s gradient).

    Example:
        >>> import graphc as gc
        >>> from graphc.ops.reduce_grad import prod_others
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     with gc.Session() as sess:
        ...         sess.run(prod_others(gc.constant([[2.0, 0.0, 3.0]]), 1))
        array([[0., 6., 0.]], dtype=float32)
    """
    x = as_tensor(x)
    return apply(ProdOthers(normalize_axes(axes, x.ndim)), [x], name)


__all__: list[str] = []
