"""The CPU executable: a precomputed schedule of kernels, run by one generated Python function.

Kernels are built (and their generated code compiled or loaded from the cache) when the executable is
made, so an op the backend cannot run fails then, naming the op and the node, never halfway through a
run. The schedule becomes straight-line Python source (``v7 = k3(v2, v5)[0]``): values live in local
variables and each kernel is one call, the cheapest dispatch Python offers (about 0.1 us a step against
1 us for a loop over step records). Stateful nodes (variable reads, assignments, random draws) call
their op's ``execute`` against the run's state, as on the reference device.
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
        self.schedule = schedule
        self.kernels: dict[str, Kernel] = {}
        names: dict[Tensor, str] = {t: f"v{i}" for i, t in enumerate(feeds)}
        env: dict[str, object] = {}
        lines = [f"def run({', '.join(names[t] for t in feeds) + ', ' if feeds else ''}state):"]
        self.numpy_steps = False
        for k, node in enumerate(schedule):
            for t in node.outputs:
                names.setdefault(t, f"v{len(names)}")
            args = ", ".join(names[t] for t in node.inputs)
            if type(node.op).__name__ == "ReadVariable":  # the commonest stateful step: one call
                call = f"(state.read({node.op.var_name!r}),)"
            elif node.op.stateful:
                env[f"n{k}"] = node
                call = f"n{k}.op.execute(n{k}, state, ({args}{',' if len(node.inputs) == 1 else ''}))"
            else:
                kernel = self.kernels[node.name] = cpu_kernel.build(node)
                self.numpy_steps |= kernel.name.startswith("numpy[")
                env[f"k{k}"] = kernel.fn
                call = f"k{k}({args})"
            lines.append(f"    step[0] = {k}")
            if len(node.outputs) == 1:
                lines.append(f"    {names[node.outputs[0]]} = {call}[0]")
            elif node.outputs:
                lines.append(f"    {', '.join(names[t] for t in node.outputs)}, = {call}")
            else:
                lines.append(f"    {call}")
        lines.append(f"    return [{', '.join(names[t] for t in outputs)}]")
        self.driver_source = "\n".join(lines) + "\n"
        self._step = env["step"] = [0]
        exec(compile(self.driver_source, "<graphc cpu driver>", "exec"), env)  # noqa: S102 - our own code
        self._driver = env["run"]

    def run(self, feed_values: list[np.ndarray], state) -> list[np.ndarray]:
        try:
            if self.numpy_steps:  # numpy kernels warn on log(0) and the like; numbers are as numpy's
                with np.errstate(all="ignore"):
                    return self._driver(*feed_values, state)
            return self._driver(*feed_values, state)
        except Exception as e:
            node = self.schedule[self._step[0]]
            if isinstance(e, GraphcError):
                raise e.with_context(node.where) from None
            raise RunError(f"{type(e).__name__}: {e}", node.where) from e

    def sources(self) -> dict[str, str]:
        """The generated source behind each node's kernel (empty for kernels with none), and the
        driver that runs the schedule."""
        out = {name: k.source for name, k in self.kernels.items() if k.source}
        out["__driver__"] = self.driver_source
        return out
