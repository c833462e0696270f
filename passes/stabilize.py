"""``stabilize``: replace numerically unstable patterns by stable ops, as one rule table.

``log(softmax(x))`` is ``-inf`` wherever the softmax underflows; ``log_softmax(x)`` stays finite. In
the same way ``log(sigmoid(x))``, ``log(1 + x)``, ``exp(x) - 1`` and ``log(1 + exp(x))`` lose every
digit (or overflow) for large or small x, and the cross-entropy written with ``one_hot`` computes and
sums K products per example where one subtraction will do. Each rule's result has exactly the node's
output type (dtype and static shape); it does not fire otherwise.

requires: nothing. ensures: none of the rules below matches. Values change only where the original
pattern rounds, overflows or underflows (the stable op is at least as accurate everywhere), and in the
sign of a zero: ``log(1 + x)`` and ``exp(x) - 1`` at x = -0.0 give -0.0 (log1p's and expm1's exact
value) where the patterns give +0.0, and ``log(sigmoid(inf))`` gives -0.0 where the pattern gives
+0.0. The cross-entropy fusion is stricter than its unfused form in documented ways:
- a label outside [0, K) gave a loss of 0 (an all-zero one-hot row); the fused op raises RunError.
- a batch dimension unknown in both the logits and the labels must be equal at run time; the unfused
  product would broadcast a size-1 dimension against a larger one (almost surely a bug in the
  program). Where a batch dimension is known in one and not the other, the fusion does not fire.
- an infinite logit: the unfused form multiplies log_softmax's -inf (or NaN) by the one-hot row's
  zeros, which makes the example's loss NaN; the fused op gives the limit. A -inf logit masks its
  class out (the loss stays finite), a -inf label logit or a +inf other logit gives +inf, and a +inf
  label logit (inf - inf) or a NaN logit gives NaN.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ir.errors import GraphcError
from graphc.ir.graph import Node, Tensor
from graphc.ops.elementwise import (
    Add,
    Exp,
    Log,
    Log1p,
    Multiply,
    Negative,
    Sigmoid,
    Subtract,
    expm1,
    log1p,
    negative,
    softplus,
)
from graphc.ops.indexing import OneHot
from graphc.ops.nn import LogSoftmax, Softmax, SoftmaxCrossEntropy, log_softmax, sparse_softmax_cross_entropy
from graphc.ops.reduce import Sum
from graphc.passes.rewrite import Rule, RulePass, constant_value, producer


def _ones(t: Tensor) -> bool:
    v = constant_value(t)
    return v is not None and bool((v == 1).all())


def _same_type(node: Node, t: Tensor) -> bool:
    return t.type == node.outputs[0].type


def _one_plus(t: Tensor, const_at: int | None = None) -> Tensor | None:
    """x when ``t`` is ``1 + x`` (``const_at=0``) or ``x + 1`` (``const_at=1``; None: either), the
    constant all ones, with the type of x: the constant neither broadcasts x nor promotes it."""
    add = producer(t, Add)
    if add is None:
        return None
    for i in (0, 1) if const_at is None else (const_at,):
        c, x = add.inputs[i], add.inputs[1 - i]
        if _ones(c) and x.type == t.type:
            return x
    return None


# --- log and exp -------------------------------------------------------------------------------


def _log_of_softmax(node: Node):
    s = producer(node.inputs[0], Softmax) if isinstance(node.op, Log) else None
    return (s.inputs[0], s.op.axis) if s is not None and _same_type(node, s.outputs[0]) else None


def _log_of_sigmoid(node: Node):
    s = producer(node.inputs[0], Sigmoid) if isinstance(node.op, Log) else None
    if s is None or not dtypes.is_float(s.inputs[0].dtype):  # -x of an int could wrap
        return None
    return (s.inputs[0],) if _same_type(node, s.inputs[0]) else None


def _log_of_one_plus_exp(node: Node):
    if isinstance(node.op, Log):
        inner = _one_plus(node.inputs[0])
    elif isinstance(node.op, Log1p):
        inner = node.inputs[0]
    else:
        return None
    e = producer(inner, Exp) if inner is not None else None
    if e is None or not dtypes.is_float(e.inputs[0].dtype):
        return None
    return (e.inputs[0],) if _same_type(node, e.inputs[0]) else None


def _log_of_one_plus(const_at: int):
    def match(node: Node):
        x = _one_plus(node.inputs[0], const_at) if isinstance(node.op, Log) else None
        # float x only: 1 + x in int32 wraps at the top of the range, log1p(x) would not
        if x is None or not dtypes.is_float(x.dtype):
            return None
        return (x,) if _same_type(node, x) else None

    return match


def _exp_minus_one(node: Node):
    if not isinstance(node.op, Subtract) or not _ones(node.inputs[1]):
        return None
    e = producer(node.inputs[0], Exp)
    return (e.inputs[0],) if e is not None and _same_type(node, e.outputs[0]) else None


# --- softmax cross-entropy ---------------------------------------------------------------------


def _negated_sum_of_product(node: Node) -> tuple[Node, Node] | None:
    """(sum, multiply) when ``node`` is ``-sum(a * b)`` or ``sum(-(a * b))``."""
    if isinstance(node.op, Negative):
        s = producer(node.inputs[0], Sum)
        m = producer(s.inputs[0], Multiply) if s is not None else None
    elif isinstance(node.op, Sum):
        s, n = node, producer(node.inputs[0], Negative)
        m = producer(n.inputs[0], Multiply) if n is not None else None
    else:
        return None
    return (s, m) if m is not None else None


def _cross_entropy(node: Node):
    """(logits, labels) when ``node`` is -sum(log_softmax(z) * one_hot(labels), axis=-1) (the
    product either way round, the minus outside or inside the sum) and the fused op fits exactly."""
    found = _negated_sum_of_product(node)
    if found is None:
        return None
    s, m = found
    if s.op.keepdims or s.op.axes != (m.outputs[0].ndim - 1,):
        return None
    for a, b in (m.inputs, reversed(m.inputs)):
        ls, hot = producer(a, LogSoftmax), producer(b, OneHot)
        if ls is not None and hot is not None:
            return _fusable(node, ls, hot)
    return None


def _fusable(node: Node, ls: Node, hot: Node):
    z, labels = ls.inputs[0], hot.inputs[0]
    if not dtypes.is_float(z.dtype) or z.ndim == 0 or labels.ndim != z.ndim - 1:
        return None
    op = hot.op
    one_hot_rows = (
        op.depth == z.shape[-1] and op.axis == labels.ndim and (op.on_value, op.off_value) == (1, 0)
    )
    # equal batch dims (both known, or both unknown): the product cannot broadcast a size-1 dim statically
    same_batch = all(a == b for a, b in zip(z.shape[:-1], labels.shape, strict=True))
    if ls.op.axis != z.ndim - 1 or not one_hot_rows or not same_batch:
        return None
    try:
        (out,) = SoftmaxCrossEntropy().infer(z.type, labels.type)
    except GraphcError:
        return None
    return (z, labels) if out == node.outputs[0].type else None


RULES = (
    Rule("log(softmax(x)) -> log_softmax(x)", _log_of_softmax, lambda n, m: log_softmax(*m)),
    Rule(
        "log(sigmoid(x)) -> -softplus(-x)", _log_of_sigmoid, lambda n, m: negative(softplus(negative(m[0])))
    ),
    # before log(1 + x): log(1 + exp(x)) would become log1p(exp(x)), which still overflows
    Rule("log(1 + exp(x)) -> softplus(x)", _log_of_one_plus_exp, lambda n, m: softplus(m[0])),
    Rule("log(1 + x) -> log1p(x)", _log_of_one_plus(0), lambda n, m: log1p(m[0])),
    Rule("log(x + 1) -> log1p(x)", _log_of_one_plus(1), lambda n, m: log1p(m[0])),
    Rule("exp(x) - 1 -> expm1(x)", _exp_minus_one, lambda n, m: expm1(m[0])),
    Rule(
        "-sum(log_softmax(z) * one_hot(labels), -1) -> softmax_cross_entropy(z, labels)",
        _cross_entropy,
        lambda n, m: sparse_softmax_cross_entropy(*m),
    ),
)

stabilize = RulePass(
    "stabilize",
    RULES,
    doc="""Replace numerically unstable patterns by stable ops (values change only for the better).

    requires: nothing. ensures: no rule of ``RULES`` matches (see the module docstring).
    """,
)
