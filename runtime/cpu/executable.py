"""The CPU executable: a precomputed schedule of kernels over value slots, walked by one tight loop.

Kernels are built (and their generated code compiled or loaded from the cache) when the executable is
made, so an op the backend cannot run fails then, naming the op and the node, never halfway through a
run. Stateful nodes (variable reads, assignments, random draws) run their op's ``execute`` against the
run's state, as on the reference device.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcError, RunError
from graphc.ir.graph import Node, Tensor
from graphc.runtime.cpu import kernels  # noqa: F401 - registers every family's kernels
from graphc.runtime.cpu.registry import Kernel, cpu_kernel


class CpuExecutable:
    """Runs ``schedule`` with CPU kernels; ``kernels`` maps node names to what runs them."""

    device = "cpu"

    def __init__(self, schedule: list[Node], feeds: list[Tensor], outputs: list[Tensor]):
        slots: dict[Tensor, int] = {t: i for i, t in enumerate(feeds)}
        for node in schedule:
            for t in node.outputs:
                slots.setdefault(t, len(slots))
        self.n_slots = len(slots)
        self.n_feeds = len(feeds)
        self.kernels: dict[str, Kernel] = {}
        self.steps = []
        for node in schedule:
            fn = None
            if not node.op.stateful:
                kernel = self.kernels[node.name] = cpu_kernel.build(node)
                fn = kernel.fn
            self.steps.append((fn, node, [slots[t] for t in node.inputs], [slots[t] for t in node.outputs]))
        self.output_slots = [slots[t] for t in outputs]

    def run(self, feed_values: list[np.ndarray], state) -> list[np.ndarray]:
        values: list = [None] * self.n_slots
        values[: self.n_feeds] = feed_values
        node = None
        try:
            with np.errstate(all="ignore"):
                for fn, node, ins, outs in self.steps:
                    args = [values[i] for i in ins]
                    results = fn(*args) if fn is not None else node.op.execute(node, state, args)
                    for i, value in zip(outs, results, strict=True):
                        values[i] = value
        except GraphcError as e:
            raise e.with_context(node.where) from None
        except Exception as e:
            shapes = ", ".join(
                f"{t.name}: {np.shape(values[i])}" for t, i in zip(node.inputs, ins, strict=True)
            )
            raise RunError(f"{type(e).__name__}: {e} (inputs {shapes})", node.where) from e
        return [values[i] for i in self.output_slots]

    def sources(self) -> dict[str, str]:
        """The generated source behind each node's kernel (empty for kernels with none)."""
        return {name: k.source for name, k in self.kernels.items() if k.source}
