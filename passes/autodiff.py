"""Reverse-mode symbolic differentiation: ``grad`` adds the gradient graph to the forward graph.

The driver walks the nodes between the ``wrt`` tensors and the cost in reverse creation order, asks each
op's ``vjp`` rule for its inputs' gradients, accumulates gradients of tensors used several times, and
sums broadcast gradients of elementwise ops back to their input's shape (``unbroadcast``). Gradients flow
only through float tensors. Every node it adds lives under a ``gradients/`` name scope and records the
forward node it differentiates in ``Node.grad_of``. Because rules are written with ordinary ops, the
result can be differentiated again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, GraphcError, GraphMismatchError, ShapeError
from graphc.ir.graph import Node, Tensor
from graphc.ops.core import as_tensor
from graphc.ops.elementwise import Elementwise, add, cast
from graphc.ops.like import StopGradient, broadcast_like, sum_like, unbroadcast, zeros_like
from graphc.ops.sources import ReadVariable

UNCONNECTED = ("raise", "zero", "none")


def grad(cost: Tensor, wrt, grad_cost=None, unconnected: str = "raise"):
    """The gradient of ``cost`` with respect to ``wrt``, as new nodes in the same graph.

    Args:
        cost: a scalar float tensor, or a tensor of any shape when ``grad_cost`` is given (then the result
            is the vector-Jacobian product ``grad_cost . d cost / d wrt``).
        wrt: a float tensor (a variable, a placeholder, any intermediate) or a list/tuple of them; the
            result mirrors it (an empty list gives an empty list). A variable's gradient sums the paths
            through all its reads, ``read_value()`` ones included.
        grad_cost: the gradient flowing into ``cost`` (default: 1 for a scalar cost).
        unconnected: what to return for a ``wrt`` the cost does not depend on: ``"raise"`` an error,
            ``"zero"`` a zero tensor, or ``"none"`` ``None``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float64", (3,), name="x")
        ...     dx = gc.grad(gc.reduce_sum(x**2.0), x)
        ...     with gc.Session() as sess:
        ...         sess.run(dx, {x: [1.0, 2.0, 3.0]})
        array([2., 4., 6.])
    """
    if unconnected not in UNCONNECTED:
        raise ValueError(f"unconnected must be one of {UNCONNECTED}, got {unconnected!r}")
    single = isinstance(wrt, Tensor)
    if not single and (isinstance(wrt, (Node, Mapping, str)) or not isinstance(wrt, Iterable)):
        # list() of None or of an op (grad(loss, train_op)) said "'Node' object is not iterable", and
        # of a dict took its keys: "got str" for a dict of tensors
        raise TypeError(
            f"grad wrt must be a tensor or a list/tuple of tensors, got {type(wrt).__name__} {wrt!r:.60}"
        )
    wrt_list = [wrt] if single else list(wrt)
    grad_cost = _check(cost, wrt_list, grad_cost)
    # no wrt (a model without trainable variables): nothing to differentiate, as TF1's [] for []
    grads = _backpropagate(cost, wrt_list, grad_cost) if wrt_list else {}
    results = []
    for t in wrt_list:
        g = grads.get(t)
        if g is None:
            if unconnected == "raise":
                raise GraphcError(
                    f"the cost {cost.name} does not depend on {t.name} through differentiable ops "
                    "(pass unconnected='zero' or 'none' to allow it)",
                    t.node.where,
                )
            g = _in_gradient_scope(cost, lambda t=t: zeros_like(t)) if unconnected == "zero" else None
        results.append(g)
    if single:
        return results[0]
    if isinstance(wrt, tuple):  # a namedtuple takes its fields one by one, as Session.run rebuilds them
        return type(wrt)(*results) if hasattr(wrt, "_fields") else type(wrt)(results)
    return results


def _check(cost: Tensor, wrt: Sequence[Tensor], grad_cost) -> Tensor:
    if not isinstance(cost, Tensor):
        raise TypeError(f"grad needs a tensor cost, got {type(cost).__name__}")
    if not dtypes.is_float(cost.dtype):
        raise DTypeError(f"the cost must be a float tensor, got {cost.type}", cost.node.where)
    for t in wrt:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad wrt must be tensors, got {type(t).__name__}")
        if t.graph is not cost.graph:
            raise GraphMismatchError(f"{t.name} belongs to another graph than the cost {cost.name}")
        if not dtypes.is_float(t.dtype):
            raise DTypeError(f"cannot differentiate with respect to {t.name} of {t.type}", t.node.where)
    if grad_cost is None:
        if cost.shape != ():
            raise ShapeError(
                f"the cost {cost.name} has type {cost.type}, not a scalar: pass grad_cost for a "
                "vector-Jacobian product, or reduce it (e.g. reduce_mean)",
                cost.node.where,
            )
        return _in_gradient_scope(cost, lambda: as_tensor(np.ones((), cost.dtype), graph=cost.graph))
    if isinstance(grad_cost, Tensor) and grad_cost.graph is not cost.graph:
        raise GraphMismatchError(
            f"grad_cost {grad_cost.name} belongs to another graph than the cost {cost.name}"
        )
    grad_cost = as_tensor(
        grad_cost, dtype=None if isinstance(grad_cost, Tensor) else cost.dtype, graph=cost.graph
    )
    if grad_cost.dtype != cost.dtype:
        raise DTypeError(f"grad_cost {grad_cost.type} does not match the cost {cost.type}", cost.node.where)
    same_rank = len(grad_cost.shape) == len(cost.shape)
    same_dims = same_rank and all(
        a is None or b is None or a == b for a, b in zip(grad_cost.shape, cost.shape, strict=True)
    )
    if not same_dims:
        raise ShapeError(f"grad_cost {grad_cost.type} does not match the cost {cost.type}", cost.node.where)
    if None in grad_cost.shape or None in cost.shape:
        # sizes unknown at build time are checked when the graph runs, else a size-1 grad_cost would
        # broadcast (or a size-1 cost sum it) silently. Summing down to the cost's shape fails unless
        # each size is the cost's or the cost's is 1; broadcasting back unless it is the cost's or 1:
        # both pass only for equal shapes, and the failing node is named for grad_cost.
        def checked():
            fits = sum_like(grad_cost, cost, name="grad_cost_shape_check")
            return broadcast_like(grad_cost, fits, name="grad_cost_shape_check")

        grad_cost = _in_gradient_scope(cost, checked)
    return grad_cost


def _backpropagate(cost: Tensor, wrt: list[Tensor], grad_cost: Tensor) -> dict[Tensor, Tensor]:
    graph = cost.graph
    nodes = graph.nodes[min(t.node.index for t in wrt) : cost.node.index + 1]
    reads = _other_reads(nodes, wrt)
    depends = _forward_dependents(nodes, [*wrt, *reads])
    pending: dict[Tensor, list[Tensor]] = {cost: [grad_cost]} if cost in depends else {}
    done: dict[Tensor, Tensor] = {}
    for node in reversed(nodes):
        gys = [_total(pending.pop(t, None), done, t) for t in node.outputs]
        if all(g is None for g in gys) or not any(t in depends for t in node.inputs):
            continue
        gy = gys[0] if len(gys) == 1 else tuple(gys)
        input_grads = _in_gradient_scope(node, lambda node=node, gy=gy: _vjp(node, gy))
        for i, (t, g) in enumerate(zip(node.inputs, input_grads, strict=True)):
            if g is None or t not in depends:
                continue
            g = _in_gradient_scope(node, lambda t=t, g=g, i=i, node=node: _fit(g, t, node, i))
            pending.setdefault(t, []).append(g)
    for read, variable in reads.items():
        # the walk summed each read's contributions, and the variable's own, when it passed them
        g = done.get(read)
        if g is not None:
            parts = pending.setdefault(variable, [])
            if not parts and variable in done:
                parts.append(done[variable])
            parts.append(g)
    for t in wrt:
        _total(pending.pop(t, None), done, t)
    return done


def _other_reads(nodes: list[Node], wrt: list[Tensor]) -> dict[Tensor, Tensor]:
    """The other reads (``read_value()``) of each variable in ``wrt``, mapped to the variable.

    A variable is one value however often it is read, so its gradient sums what reaches each read, as
    TF1's for a variable read through ``read_value()``. A ``wrt`` that is itself a read's tensor (not the
    variable) stays a tensor like any other.
    """
    variables = {t.var_name: t for t in wrt if getattr(t, "var_name", None) is not None}
    if not variables:
        return {}
    return {
        node.outputs[0]: variables[node.op.var_name]
        for node in nodes
        if isinstance(node.op, ReadVariable)
        and node.op.var_name in variables
        and node.outputs[0] is not variables[node.op.var_name]
    }


def _forward_dependents(nodes: list[Node], wrt: list[Tensor]) -> set[Tensor]:
    """The float tensors among ``nodes``' outputs that depend on ``wrt``, plus ``wrt`` itself."""
    depends = set(wrt)
    for node in nodes:
        if isinstance(node.op, StopGradient):
            continue
        if any(t in depends for t in node.inputs):
            depends.update(t for t in node.outputs if dtypes.is_float(t.dtype))
    return depends


def _total(parts: list[Tensor] | None, done: dict, t: Tensor) -> Tensor | None:
    """Sum the gradient contributions of ``t`` (each added once, so the graph grows linearly)."""
    if not parts:
        return done.get(t)
    total = parts[0]
    for p in parts[1:]:
        total = _in_gradient_scope(t.node, lambda a=total, b=p: add(a, b))
    done[t] = total
    return total


def _vjp(node: Node, gy):
    try:
        grads = node.op.vjp(node, gy)
    except NotImplementedError as e:
        raise NotImplementedError(f"{node.where}: {e}") from None
    if len(grads) != len(node.inputs):
        raise AssertionError(
            f"{node.op.type_name}.vjp gave {len(grads)} gradients for {len(node.inputs)} inputs"
        )
    return grads


def _fit(g: Tensor, t: Tensor, node: Node, i: int) -> Tensor:
    """The gradient ``g`` made to match input ``t``: broadcasting undone, dtype cast back."""
    if isinstance(node.op, Elementwise):
        g = unbroadcast(g, node, i)
    if g.dtype != t.dtype:
        g = cast(g, t.dtype)
    if len(g.shape) != len(t.shape) or any(
        a is not None and b is not None and a != b for a, b in zip(g.shape, t.shape, strict=True)
    ):
        raise AssertionError(f"{node.where}: gradient rule gave {g.type} for input {t.name} of {t.type}")
    return g


def _in_gradient_scope(node_or_tensor, build):
    """Run ``build`` with new nodes under ``gradients/<forward name>_grad`` and linked to the forward node."""
    node = node_or_tensor.node if isinstance(node_or_tensor, Tensor) else node_or_tensor
    graph = node.graph
    first = len(graph.nodes)
    *scopes, base = node.name.split("/")
    with contextlib.ExitStack() as stack:
        for scope in ("gradients", *scopes, f"{base}_grad"):
            stack.enter_context(graph.name_scope(scope))
        result = build()
    for new in graph.nodes[first:]:
        new.grad_of = node
    return result
