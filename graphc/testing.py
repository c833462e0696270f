"""Testing helpers for users and for graphc's own tests: gradient checks by finite differences.

``check_grad`` compares ``graphc.grad`` with central finite differences in float64, along random
directions (as JAX's ``check_grads``): for a random unit-free direction ``v`` of each input,
``<grad, v>`` must match ``(f(x + eps v) - f(x - eps v)) / (2 eps)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphc.ir import dtypes
from graphc.ir.graph import Graph, Tensor
from graphc.ops.core import as_tensor
from graphc.ops.elementwise import add, multiply
from graphc.ops.reduce import reduce_sum
from graphc.ops.sources import placeholder
from graphc.passes.autodiff import grad
from graphc.runtime.function import function
from graphc.runtime.session import Session


def check_grad(
    fn: Callable[..., Tensor | Sequence[Tensor]],
    inputs: Sequence,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    *,
    static_shapes: Sequence[tuple] | None = None,
    directions: int = 2,
    order: int = 1,
    seed: int = 0,
) -> None:
    """Check ``graphc.grad`` of ``fn`` against central finite differences; raise AssertionError if off.

    Args:
        fn: builds the function from placeholders, one per input; returns a tensor or a tuple of tensors
            of any shape (their float outputs are projected on fixed random weights to get a scalar).
            Its random ops draw the same numbers in every evaluation (the gradient of one draw).
        inputs: the point to check at; float arrays are checked in float64, others are fed as they are.
        eps, rtol, atol: the finite-difference step and the tolerance
            ``|fd - analytic| <= atol + rtol * max(|fd|, |analytic|)``.
        static_shapes: the placeholders' shapes (``None`` for run-time dimensions); default: concrete.
        directions: how many random directions to check per input.
        order: 1 checks the gradient; 2 checks the gradient of the gradient (its projection on a
            random direction), which exercises the gradient rules' own gradients.
        seed: seeds the projection weights and directions.

    Example:
        >>> import numpy as np
        >>> import graphc as gc
        >>> gc.testing.check_grad(lambda x: gc.reduce_sum(gc.tanh(x) ** 3.0), [np.array([0.3, -1.2])])
    """
    if directions < 1 or order < 1:  # zero directions would check nothing and pass
        raise ValueError(f"check_grad needs directions >= 1 and order >= 1, got {directions} and {order}")
    rng = np.random.default_rng(seed)
    arrays = [_as_input(a) for a in inputs]
    if static_shapes is not None and len(static_shapes) != len(arrays):  # else zip's bare ValueError
        raise ValueError(f"check_grad got {len(static_shapes)} static_shapes for {len(arrays)} inputs")
    float_idx = [i for i, a in enumerate(arrays) if dtypes.is_float(a.dtype)]
    if not float_idx:
        raise ValueError("check_grad needs at least one float input")
    graph = Graph()
    with graph.as_default(), Session(graph) as sess:
        shapes = static_shapes or [a.shape for a in arrays]
        phs = [
            placeholder(a.dtype, s, name=f"x{i}") for i, (a, s) in enumerate(zip(arrays, shapes, strict=True))
        ]
        wrt = [phs[i] for i in float_idx]
        cost = _projected(fn(*phs), phs, arrays, sess, rng)
        for _ in range(order - 1):
            grads = grad(cost, wrt, unconnected="zero")
            cost = _projected(tuple(grads), phs, arrays, sess, rng)
        f = function(phs, cost, session=sess)
        df = function(phs, grad(cost, wrt, unconnected="zero"), session=sess)
        # every evaluation draws the same random numbers: each run of a random op (dropout's mask)
        # draws anew, and f(x + eps v) - f(x - eps v) over two different draws is noise, not a
        # derivative (1e4 against a right gradient of 0.09)
        draws = dict(sess._counters)

        def same_draws(call, args):
            sess._counters = dict(draws)
            return call(*args)

        analytic = same_draws(df, arrays)
        for k, i in enumerate(float_idx):
            for _ in range(directions):
                v = rng.normal(size=arrays[i].shape)
                plus, minus = list(arrays), list(arrays)
                plus[i], minus[i] = arrays[i] + eps * v, arrays[i] - eps * v
                fd = (float(same_draws(f, plus)) - float(same_draws(f, minus))) / (2 * eps)
                an = float(np.sum(analytic[k] * v))
                if not abs(fd - an) <= atol + rtol * max(abs(fd), abs(an)):
                    raise AssertionError(
                        f"gradient of order {order} w.r.t. input {i} {phs[i].type}: finite differences "
                        f"give {fd!r}, graphc.grad gives {an!r} (difference {abs(fd - an):.3g})"
                    )


def _as_input(a) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _projected(outputs, phs, arrays, sess, rng) -> Tensor:
    """sum_k <outputs_k, r_k> with fixed random r_k: a scalar whose gradient checks every output."""
    outs = outputs if isinstance(outputs, (list, tuple)) else (outputs,)
    for o in outs:
        if o is not None and not isinstance(o, Tensor):  # a dict or an array failed on a missing .dtype
            got = f"{type(o).__name__} {o!r:.60}"
            raise TypeError(f"check_grad's fn must return a tensor or a tuple of tensors, got {got}")
    outs = [o for o in outs if o is not None and dtypes.is_float(o.dtype)]
    if not outs:
        raise ValueError("the function has no float output to differentiate")
    values = sess.run(outs, dict(zip(phs, arrays, strict=True)))
    total = None
    for o, value in zip(outs, values, strict=True):
        weights = as_tensor(rng.normal(size=np.shape(value)).astype(o.dtype), graph=o.graph)
        term = reduce_sum(multiply(o, weights))
        total = term if total is None else add(total, term)
    return total
