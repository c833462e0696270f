"""``simplify``: algebraic identities that are exact in floating point, as one rule table.

Replace a node by a simpler computation of the same value: ``x + 0``, ``x * 1``, ``--x``, a transpose
of a transpose, a reshape of a reshape, a cast to the dtype a tensor already has, a sum over size-1
axes, a ``*_like`` op whose shapes are known to agree... A rule applies only when its result has exactly
the node's output type (dtype and static shape), so ``x + 0`` does not fire where the zero broadcasts
``x`` to a larger shape or promotes its dtype (float32 + float64 zero).

requires: nothing. ensures: none of the rules below matches; values are unchanged, NaN and inf
included, with two documented exceptions, both about the sign of a zero only:
- ``x + 0 -> x`` and ``x - 0 -> x``, for a zero of either sign: where x is -0.0, ``x + (+0.0)`` and
  ``x - (-0.0)`` are +0.0, while the result keeps -0.0. ``x + (-0.0)`` and ``x - (+0.0)`` are exact.
- ``sum``/``mean`` over size-1 axes: numpy adds the element to a +0.0, so the sum of [-0.0] is +0.0;
  the result (a ``squeeze``: the reshape that also handles unknown dims) keeps -0.0. ``max``, ``min``
  and ``prod`` keep -0.0 themselves, so their rule is exact.
Zeros compare equal whatever their sign: only a division by the zero, a negative power of it, or
a look at its sign bit can tell the difference.

Rules that could remove a run-time error are guarded: a reshape of a reshape fires only when the inner
reshape cannot fail when the graph runs, and the ``*_like`` rules only for fully known static shapes.

Identities EXCLUDED because they are not exact (they change NaN/inf results or the error behaviour):
- ``x * 0 -> 0``: inf * 0 and NaN * 0 are NaN; it also drops x's shape when x broadcasts.
- ``x - x -> 0`` and ``x / x -> 1``: NaN and inf give NaN; 0 / 0 is NaN.
- ``log(exp(x)) -> x``: exp overflows to inf for x > ~88 (float32), so log(exp(x)) is inf, not x.
- ``exp(log(x)) -> x``: NaN for x < 0 (and rounding for x > 0).
- ``sqrt(x) ** 2 -> x``: NaN for x < 0, and rounding.
- ``cast(cast(x, narrower), dtype)``: float64 -> float32 -> float64 rounds (and overflows), int64 ->
  int32 wraps, float -> int truncates; only a cast through a dtype that holds every value is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.ir.errors import GraphcError
from graphc.ir.graph import Node, Tensor
from graphc.ir.types import TensorType
from graphc.ops.core import apply
from graphc.ops.elementwise import (
    Add,
    Cast,
    Divide,
    Elementwise,
    Multiply,
    Negative,
    Power,
    Subtract,
    cast,
)
from graphc.ops.like import BroadcastLike, ReshapeLike, SumLike
from graphc.ops.linalg import Transpose, transpose
from graphc.ops.reduce import Max, Mean, Min, Prod, Sum
from graphc.ops.shape import BroadcastTo, ExpandDims, Reshape, Squeeze, reshape, squeeze
from graphc.ops.sources import constant
from graphc.passes.rewrite import Rule, RulePass, constant_value, producer


def _identity(name: str, find: Callable[[Node], Tensor | None]) -> Rule:
    """A rule whose result is a tensor already in the graph: ``find(node)`` returns it (or None). It
    fires only when that tensor has exactly the node's output type."""

    def match(node: Node):
        x = find(node)
        return (x,) if x is not None and x.type == node.outputs[0].type else None

    return Rule(name, match, lambda node, found: found[0])


def _all_equal_to(t: Tensor, value) -> bool:
    """Whether ``t`` is a constant whose every element equals ``value`` (-0.0 == 0.0; NaN never)."""
    v = constant_value(t)
    return v is not None and bool(np.all(v == value))


def _with_constant(cls: type, const_at: int, value) -> Callable[[Node], Tensor | None]:
    """Finds x in ``cls(x, c)`` (``const_at=1``) or ``cls(c, x)`` (``const_at=0``) with c all ``value``."""

    def find(node: Node):
        if isinstance(node.op, cls) and _all_equal_to(node.inputs[const_at], value):
            return node.inputs[1 - const_at]
        return None

    return find


def _infers(op, inputs: list[Tensor], node: Node) -> bool:
    """Whether ``op`` applied to ``inputs`` would have exactly ``node``'s output types."""
    try:
        types = op.infer(*(t.type for t in inputs))
    except GraphcError:
        return False
    return tuple(types) == tuple(t.type for t in node.outputs)


# --- arithmetic --------------------------------------------------------------------------------


def _double_negation(node: Node):
    inner = producer(node.inputs[0], Negative) if isinstance(node.op, Negative) else None
    return inner.inputs[0] if inner is not None else None


# --- layout: transpose, reshape, expand_dims/squeeze, broadcast ----------------------------------


def _identity_transpose(node: Node):
    if isinstance(node.op, Transpose) and node.op.axes == tuple(range(len(node.op.axes))):
        return node.inputs[0]
    return None


def _match_transposes(node: Node):
    inner = producer(node.inputs[0], Transpose) if isinstance(node.op, Transpose) else None
    if inner is None:
        return None
    # output axis k of the outer transpose is its input's axis q[k], which is x's axis p[q[k]]
    return inner.inputs[0], tuple(inner.op.axes[a] for a in node.op.axes)


def _compose_transposes(node: Node, m) -> Tensor:
    """transpose(transpose(x, p), q) = transpose(x, p[q]); x itself when p[q] is the identity."""
    x, perm = m
    return x if perm == tuple(range(len(perm))) else transpose(x, perm)


def _reshape_cannot_fail(x_shape: tuple, target: tuple) -> bool:
    """Whether reshaping a tensor of static shape ``x_shape`` to ``target`` succeeds for every run-time
    size: the static shape fixes the size, or the -1 absorbs any multiple of the known dims."""
    if None not in x_shape:
        return True  # checked when the node was built
    given = int(np.prod([d for d in target if d != -1]))
    known = int(np.prod([d for d in x_shape if d is not None]))
    return -1 in target and given != 0 and known % given == 0


def _match_reshapes(node: Node):
    inner = producer(node.inputs[0], Reshape) if isinstance(node.op, Reshape) else None
    if inner is None:
        return None
    x = inner.inputs[0]
    # the inner reshape must not be a run-time error that skipping it would hide
    if not _reshape_cannot_fail(x.shape, inner.op.shape) or not _infers(node.op, [x], node):
        return None
    return (x,)


def _identity_reshape(node: Node):
    if not isinstance(node.op, Reshape):
        return None
    x = node.inputs[0]
    # one unknown dim is the -1 of the target; with a known 0 dim numpy cannot resolve it
    static_or_one_unknown = None not in x.shape or (x.shape.count(None) == 1 and 0 not in x.shape)
    return x if static_or_one_unknown else None


def _squeeze_of_expand_dims(node: Node):
    inner = producer(node.inputs[0], ExpandDims) if isinstance(node.op, Squeeze) else None
    if inner is None:
        return None
    x = inner.inputs[0]
    same_axes = inner.op.normalize(x.type).axis == node.op.normalize(inner.outputs[0].type).axis
    return x if same_axes else None


def _expand_dims_of_squeeze(node: Node):
    inner = producer(node.inputs[0], Squeeze) if isinstance(node.op, ExpandDims) else None
    if inner is None:
        return None
    x = inner.inputs[0]
    axes = inner.op.normalize(x.type).axis
    # only statically size-1 axes: an unknown one may fail to squeeze at run time
    static_ones = all(x.shape[a] == 1 for a in axes)
    return x if static_ones and axes == node.op.normalize(inner.outputs[0].type).axis else None


def _like_of_same_static_shape(node: Node):
    if not isinstance(node.op, (BroadcastLike, SumLike, ReshapeLike)):
        return None
    x, like = node.inputs
    return x if x.shape == like.shape and None not in like.shape else None


def _broadcast_to_own_shape(node: Node):
    return node.inputs[0] if isinstance(node.op, BroadcastTo) else None


# --- casts -------------------------------------------------------------------------------------


def _cast_to_own_dtype(node: Node):
    return node.inputs[0] if isinstance(node.op, Cast) else None


def _match_casts(node: Node):
    inner = producer(node.inputs[0], Cast) if isinstance(node.op, Cast) else None
    if inner is None:
        return None
    x = inner.inputs[0]
    # when the inner cast holds every value of x exactly, casting on from there equals casting x
    return (x,) if _holds_exactly(x.dtype, np.dtype(inner.op.dtype)) else None


def _holds_exactly(src: np.dtype, dst: np.dtype) -> bool:
    """Whether every value of ``src`` converts to ``dst`` exactly (float32 -> float64, int32 -> int64 or
    float64). numpy calls int64 -> float64 "safe", but float64 holds 53 bits: 2**53 + 1 rounds."""
    if src.kind in "iu" and dst.kind == "f" and src.itemsize >= dst.itemsize:
        return False
    return bool(np.can_cast(src, dst, "safe"))


# --- reductions --------------------------------------------------------------------------------


def _reduce_over_ones(classes: tuple[type, ...]):
    def match(node: Node):
        if not isinstance(node.op, classes):
            return None
        x = node.inputs[0]
        if not all(x.shape[a] == 1 for a in node.op.axes):
            return None
        if node.op.keepdims or not node.op.axes:
            return (x,) if x.type == node.outputs[0].type else None  # dtype: sum of bool is int64
        return (x,) if _infers(Squeeze(node.op.axes), [x], node) else None

    return match


def _squeeze_reduced(node: Node, m) -> Tensor:
    """A reduction over size-1 axes only: each output element is the one input element."""
    (x,) = m
    return x if x.type == node.outputs[0].type else squeeze(x, node.op.axes)


# --- constants ---------------------------------------------------------------------------------


def _one_repeated_value(t: Tensor) -> np.ndarray | None:
    """A 0-d array of the value when ``t`` is a constant (of rank >= 1) holding one value bit for bit."""
    v = constant_value(t)
    if v is None or v.ndim == 0 or v.size == 0:
        return None
    flat = np.ascontiguousarray(v).reshape(-1)
    rows = flat.view(np.uint8).reshape(flat.size, -1)
    return np.array(flat[0]) if bool(np.all(rows == rows[0])) else None


def _match_repeated_constants(node: Node):
    if not isinstance(node.op, Elementwise):
        return None
    scalars = {i: s for i, t in enumerate(node.inputs) if (s := _one_repeated_value(t)) is not None}
    if not scalars:
        return None
    types = [TensorType((), t.dtype) if i in scalars else t.type for i, t in enumerate(node.inputs)]
    try:
        same = tuple(node.op.infer(*types)) == tuple(t.type for t in node.outputs)
    except GraphcError:
        return None
    return scalars if same else None


def _to_scalar_constants(node: Node, scalars: dict) -> Tensor:
    """The same elementwise op with each repeated-value constant replaced by its 0-d constant: numpy
    broadcasting of the scalar gives the same elements."""
    inputs = [
        constant(scalars[i], dtype=t.dtype, graph=node.graph) if i in scalars else t
        for i, t in enumerate(node.inputs)
    ]
    return apply(node.op, inputs)


RULES = (
    _identity("x + 0 -> x", _with_constant(Add, 1, 0)),
    _identity("0 + x -> x", _with_constant(Add, 0, 0)),
    _identity("x - 0 -> x", _with_constant(Subtract, 1, 0)),
    _identity("x * 1 -> x", _with_constant(Multiply, 1, 1)),
    _identity("1 * x -> x", _with_constant(Multiply, 0, 1)),
    _identity("x / 1 -> x", _with_constant(Divide, 1, 1)),
    _identity("x ** 1 -> x", _with_constant(Power, 1, 1)),
    _identity("--x -> x", _double_negation),
    _identity("transpose(x, identity) -> x", _identity_transpose),
    Rule("transpose(transpose(x, p), q) -> transpose(x, p[q])", _match_transposes, _compose_transposes),
    _identity("reshape(x) to x's own shape -> x", _identity_reshape),
    Rule("reshape(reshape(x)) -> reshape(x)", _match_reshapes, lambda n, m: reshape(m[0], n.op.shape)),
    _identity("squeeze(expand_dims(x, a), a) -> x", _squeeze_of_expand_dims),
    _identity("expand_dims(squeeze(x, a), a) -> x (a static size 1)", _expand_dims_of_squeeze),
    _identity("broadcast_like/sum_like/reshape_like to x's static shape -> x", _like_of_same_static_shape),
    _identity("broadcast_to(x, x's shape) -> x", _broadcast_to_own_shape),
    _identity("cast(x) to x's dtype -> x", _cast_to_own_dtype),
    Rule(
        "cast(cast(x, wider), d) -> cast(x, d)",
        _match_casts,
        lambda node, m: cast(m[0], node.op.dtype),
    ),
    Rule("sum/mean over size-1 axes -> squeeze", _reduce_over_ones((Sum, Mean)), _squeeze_reduced),
    Rule("max/min/prod over size-1 axes -> squeeze", _reduce_over_ones((Max, Min, Prod)), _squeeze_reduced),
    Rule(
        "elementwise(c repeated) -> elementwise(scalar c)",
        _match_repeated_constants,
        _to_scalar_constants,
    ),
)

simplify = RulePass(
    "simplify",
    RULES,
    doc="""Replace nodes by simpler computations of the same value (exact, up to the sign of a zero).

    requires: nothing. ensures: no rule of ``RULES`` matches (see the module docstring).
    """,
)
