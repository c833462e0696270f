"""Rule tables and the one driver that applies them to a fixed point.

A ``Rule`` is named by its algebra (``"x * 1 -> x"``). ``match(node)`` looks at a node of the graph
being built (its inputs are already rewritten) and returns something truthy when the rule applies;
``build(node, match)`` returns the replacement tensors, made with ordinary graphc ops. New nodes land in
the graph being built, under the replaced node's name scope, and carry its user source line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphc.ir.graph import Graph, Node, Tensor
from graphc.passes.builder import GraphBuilder

MAX_ROUNDS = 20


@dataclass(frozen=True)
class Rule:
    """One named rewrite: where ``match(node)`` is truthy, ``build(node, match)`` replaces the node."""

    name: str
    match: Callable[[Node], object]
    build: Callable[[Node, object], Sequence[Tensor] | Tensor]


@dataclass(frozen=True)
class RulePass:
    """A pass made of a rule table, applied to a fixed point: ``RulePass(name, rules)(graph)``."""

    name: str
    rules: tuple[Rule, ...]
    doc: str = ""

    def __call__(self, graph: Graph, hits: Counter | None = None) -> Graph:
        return rewrite_to_fixpoint(graph, self.rules, hits)

    @property
    def __name__(self) -> str:  # the pass manager and dumps name passes by __name__
        return self.name


def rewrite_to_fixpoint(graph: Graph, rules: Sequence[Rule], hits: Counter | None = None) -> Graph:
    """Apply ``rules`` until none matches (at most MAX_ROUNDS rounds); returns ``graph`` if none did."""
    for _ in range(MAX_ROUNDS):
        new, fired = _rewrite_once(graph, rules, hits)
        if not fired:
            return graph
        graph = new
    return graph


def _rewrite_once(graph: Graph, rules: Sequence[Rule], hits: Counter | None) -> tuple[Graph, bool]:
    from graphc.passes.program import needed_nodes

    # dead nodes (left by earlier rounds) are copied but never rewritten, or the fixpoint never settles
    live = set(needed_nodes([*graph.outputs, *graph.targets])) if graph.outputs or graph.targets else None
    builder = GraphBuilder(graph)
    fired = False
    for node in graph.nodes:
        new = builder.copy(node)
        # a node with control inputs is never replaced: its replacement would not carry them
        if node.op.stateful or node.control_inputs or (live is not None and node not in live):
            continue
        for rule in rules:
            m = rule.match(new)
            if not m:
                continue
            scope = node.name.rsplit("/", 1)[0] if "/" in node.name else None
            with builder.graph.located_at(node.location), _scope(builder.graph, scope):
                out = rule.build(new, m)
            outs = (out,) if isinstance(out, Tensor) else tuple(out)
            if outs != new.outputs:
                _check_types(rule, new, outs)
                builder.replace(node, outs)
                fired = True
                if hits is not None:
                    hits[rule.name] += 1
            break
    return (builder.finish(), fired) if fired else (graph, False)


def _check_types(rule: Rule, node: Node, outs: tuple[Tensor, ...]) -> None:
    for old, new in zip(node.outputs, outs, strict=True):
        if old.dtype != new.dtype or len(old.shape) != len(new.shape):
            raise AssertionError(
                f"rule {rule.name!r} changed the type of {node.name}: {old.type} -> {new.type}"
            )


class _scope:
    """Enter each part of a ``a/b/c`` scope path on ``graph`` (nothing for None)."""

    def __init__(self, graph: Graph, path: str | None):
        self.graph, self.parts, self.stack = graph, path.split("/") if path else [], []

    def __enter__(self):
        for part in self.parts:
            cm = self.graph.name_scope(part)
            cm.__enter__()
            self.stack.append(cm)

    def __exit__(self, *exc):
        for cm in reversed(self.stack):
            cm.__exit__(*exc)


# --- small matching helpers shared by rule tables ----------------------------------------------


def op_is(node: Node, *classes) -> bool:
    return isinstance(node.op, classes)


def producer(t: Tensor, *classes) -> Node | None:
    """``t``'s producing node when its op is one of ``classes`` and it has no control inputs (a rule
    that looked through it could leave it dead, and its control inputs would no longer run)."""
    return t.node if isinstance(t.node.op, classes) and not t.node.control_inputs else None


def constant_value(t: Tensor):
    """The numpy value of ``t`` when a Constant without control inputs produces it, else None."""
    from graphc.ops.sources import Constant

    node = t.node
    return node.op.value if isinstance(node.op, Constant) and not node.control_inputs else None
