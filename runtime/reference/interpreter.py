"""The numpy interpreter: walks a precomputed schedule of nodes and calls each op's ``reference``.

It stays simple rather than fast: it checks every result against the type ``infer`` promised, so an op
whose reference and shape rule disagree, or a run-time dimension that breaks broadcasting, fails at the
node that caused it, with the node's name and the user's source line. The schedule is resolved once into
value slots so that a run does no dictionary work per node.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcError, RunError
from graphc.ir.graph import Node, Tensor
from graphc.ir.types import TensorType


class ReferenceExecutable:
    """A schedule of nodes computing ``outputs`` from ``feeds`` and session state."""

    device = "reference"

    def __init__(self, schedule: list[Node], feeds: list[Tensor], outputs: list[Tensor]):
        self.schedule = schedule
        self.feeds = feeds
        self.outputs = outputs
        slots: dict[Tensor, int] = {t: i for i, t in enumerate(feeds)}
        for node in schedule:
            for t in node.outputs:
                slots.setdefault(t, len(slots))
        self.n_slots = len(slots)
        self.steps = [
            (node, [slots[t] for t in node.inputs], [slots[t] for t in node.outputs]) for node in schedule
        ]
        self.output_slots = [slots[t] for t in outputs]

    def run(self, feed_values: list[np.ndarray], state) -> list[np.ndarray]:
        """Compute the outputs; writes to variables go to ``state`` (committed by the caller)."""
        values: list = [None] * self.n_slots
        values[: len(feed_values)] = feed_values
        with np.errstate(all="ignore"):
            for node, ins, outs in self.steps:
                results = _run_node(node, [values[i] for i in ins], state)
                for i, value in zip(outs, results, strict=True):
                    values[i] = value
        return [values[i] for i in self.output_slots]


def _run_node(node: Node, args: list, state) -> tuple:
    op = node.op
    try:
        if op.stateful:
            results = op.execute(node, state, args)
        else:
            results = op.reference(*args)
            if len(node.outputs) == 1:
                results = (results,)
    except GraphcError as e:
        raise e.with_context(node.where) from None
    except Exception as e:
        rule = _rule_broken(node, args)
        if rule is not None:  # the op's own words, as the CPU's run plans give them
            raise RunError(rule.message, node.where) from e
        shapes = ", ".join(f"{t.name}: {np.shape(a)}" for t, a in zip(node.inputs, args, strict=True))
        raise RunError(f"{type(e).__name__}: {e} (inputs {shapes})", node.where) from e
    checked = []
    for t, value in zip(node.outputs, results, strict=True):
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        if value.dtype != t.dtype or not t.type.is_compatible(value.shape):
            raise RunError(f"produced {value.dtype}{list(value.shape)} but its type is {t.type}", node.where)
        checked.append(value)
    return checked


def _rule_broken(node: Node, args: list) -> GraphcError | None:
    """The op's shape or dtype error for these input values, where its ``infer`` refuses them: numpy's
    own message named gufunc signatures and core dimensions ("matmul: Input operand 1 has a mismatch
    in its core dimension 0") where ``infer`` says "inner dimensions differ: a has shape (2, 3) and b
    has shape (5, 4)". Asked only after a failure, so runs that succeed pay nothing."""
    if node.op.stateful:
        return None
    try:
        node.op.infer(*(TensorType(np.shape(a), np.asarray(a).dtype) for a in args))
    except GraphcError as e:
        return e
    except Exception:  # noqa: BLE001 - no clearer words than numpy's
        return None
    return None
