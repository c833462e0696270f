"""``compile``: turn (fetches, feeds, updates) into an ``Executable`` for a device.

This is the one entry ``Session.run`` and ``graphc.function`` share. It prunes the graph to what the
fetches and updates need (stopping at fed tensors), checks that every needed placeholder is fed, and
hands the schedule to the device's backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphc.ir.errors import FeedError, GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ops.sources import Placeholder
from graphc.ops.state import Variable

DEVICES = ("reference",)


def schedule_for(targets: Sequence[Tensor | Node], feeds: Sequence[Tensor]) -> list[Node]:
    """The nodes needed to compute ``targets`` when ``feeds`` are given, in creation order."""
    fed = set(feeds)
    stack = [t.node if isinstance(t, Tensor) else t for t in targets if t not in fed]
    seen: set[Node] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(t.node for t in node.inputs if t not in fed)
        stack.extend(node.control_inputs)
    return sorted(seen, key=lambda n: n.index)


@dataclass
class Executable:
    """A compiled computation: ``run(feed_values, state) -> fetch values``; updates are written to
    ``state`` after every fetch and update value was computed."""

    graph: Graph
    feeds: list[Tensor]
    fetches: list[Tensor | Node]
    updates: list[tuple[Variable, Tensor]]
    device: str
    backend: object
    schedule: list[Node]

    def run(self, feed_values: list[np.ndarray], state) -> list:
        values = self.backend.run(feed_values, state)
        n = len(self.fetches)
        for (var, _), value in zip(self.updates, values[n:], strict=True):
            state.write(var.var_name, value)
        return values[:n]


def compile(
    fetches: Sequence[Tensor | Node],
    feeds: Sequence[Tensor] = (),
    updates: Sequence[tuple[Variable, Tensor]] = (),
    device: str = "reference",
) -> Executable:
    """Compile ``fetches`` (tensors or ops) given fed tensors ``feeds`` and variable ``updates``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     exe = gc.compile([x * 2.0], feeds=[x])
        >>> len(exe.schedule)
        2
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
    fetches, feeds, updates = list(fetches), list(feeds), list(updates)
    graph = _common_graph(fetches, feeds, updates)
    update_values = [value for _, value in updates]
    tensors = [f for f in fetches if isinstance(f, Tensor)] + update_values
    schedule = schedule_for(fetches + update_values, feeds)
    for node in schedule:
        if isinstance(node.op, Placeholder):
            raise FeedError(
                "placeholder is needed by the fetches but was not fed; add it to feed_dict",
                node.where,
            )
    from graphc.runtime.reference import ReferenceExecutable

    backend = ReferenceExecutable(schedule, feeds, tensors)
    return Executable(graph, feeds, fetches, updates, device, _NodeFetches(backend, fetches), schedule)


class _NodeFetches:
    """Adapts a backend so that fetched ops (nodes) give ``None`` in the result list."""

    def __init__(self, backend, fetches):
        self.backend = backend
        self.mask = [isinstance(f, Tensor) for f in fetches]
        self.n_tensors = sum(self.mask)

    def run(self, feed_values, state):
        values = self.backend.run(feed_values, state)
        it = iter(values)
        out = [next(it) if is_tensor else None for is_tensor in self.mask]
        return out + list(it)


def _common_graph(fetches, feeds, updates) -> Graph:
    items = [f.node if isinstance(f, Tensor) else f for f in fetches]
    items += [t.node for t in feeds] + [v.node for v, _ in updates] + [t.node for _, t in updates]
    graphs = {id(n.graph): n.graph for n in items}
    if len(graphs) > 1:
        raise GraphMismatchError("fetches, feeds and updates come from different graphs")
    if not graphs:
        raise ValueError("nothing to compile: no fetches and no updates")
    return next(iter(graphs.values()))
