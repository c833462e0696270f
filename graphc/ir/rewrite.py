"""Substituting tensors in a graph by re-applying the ops downstream of them (used by ``givens``).

Graphs are append-only: a substitution adds new nodes for every node that depends on a replaced tensor
and leaves the old ones in place.
"""

from __future__ import annotations

from graphc.ir.errors import DTypeError, GraphMismatchError, ShapeError
from graphc.ir.graph import Node, Tensor
from graphc.ir.printing import ancestors


def replace_inputs(targets: list, replace: dict[Tensor, Tensor]) -> list:
    """``targets`` (tensors or nodes) recomputed with each key of ``replace`` swapped for its value."""
    for old, new in replace.items():
        if new.graph is not old.graph:
            where = old.node.where
            raise GraphMismatchError(f"{old.name} is replaced with {new.name} of another graph", where)
        # known sizes must agree too: the replacement stands for a value ``old`` could have had (a
        # (4,) value for a (3,) placeholder would be a feed error; here it would compute silently)
        if new.dtype != old.dtype or not _compatible(old.shape, new.shape):
            # a DTypeError where the dtypes differ, as a feed of that dtype would be
            error = DTypeError if new.dtype != old.dtype else ShapeError
            raise error(
                f"cannot replace {old.name} ({old.type}) with {new.name} ({new.type})", old.node.where
            )
    memo: dict[Node, Node] = {}

    def current(t: Tensor) -> Tensor:
        new = replace.get(t)
        return new if new is not None else memo[t.node].outputs[t.index]

    # stateful nodes run in creation order, and a copy is made after every node there is: once one is
    # copied, the stateful nodes after it are copied too (in order), or they would run before the copy
    # (a read_value made after an assign would read the value from before it)
    stateful_copied = False
    for node in ancestors(targets):  # creation order: inputs are done before their users
        new_inputs = [current(t) for t in node.inputs]
        new_control = [memo[n] for n in node.control_inputs]
        unchanged = all(a is b for a, b in zip(new_inputs, node.inputs, strict=True)) and all(
            a is b for a, b in zip(new_control, node.control_inputs, strict=True)
        )
        if unchanged and not (stateful_copied and node.op.stateful):
            memo[node] = node
        else:
            stateful_copied = stateful_copied or node.op.stateful
            # a copy of the node, not a node the user is making now: its own name scope, source line
            # and control inputs, none of the scopes or control_dependencies open around the call
            memo[node] = node.graph.add_node(
                node.op, new_inputs, node.name, node.location, new_control, node.grad_of
            )
    return [current(t) if isinstance(t, Tensor) else memo[t] for t in targets]


def _compatible(a: tuple, b: tuple) -> bool:
    """Static shapes of equal rank whose known sizes agree (``None`` matches any size)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))
