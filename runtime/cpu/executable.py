"""The CPU executable: a precomputed schedule of kernels, run by one generated Python function.

Kernels are built (their generated code written or found in the cache) when the executable is made,
so an op the backend cannot run fails then, naming the op and the node, never halfway through a run.
Numba compiles each kernel, or loads it from its cache, at its first call: in the first run, which
therefore runs with fewer garbage collections (``runtime/compile_gc.py``). The schedule becomes
straight-line Python source (``plan.generate_driver``).

Each input-shape signature gets a ``RunPlan`` (``runtime/cpu/plan.py``) the first time it runs: the
arena ``plan_memory`` plans, allocated once, and the kernels bound to their shapes; a new batch size
makes a new plan (milliseconds) and compiles nothing new (sizes of 1 and loops split over threads
aside, whose variants compile once). The allocating driver (every kernel returns
fresh arrays) remains for what a plan cannot serve: a program whose shapes depend on values, and a run
that starts while another thread runs the same executable (a plan's buffers serve one run at a time:
a run takes the executable's one token with ``list.pop``, atomic in CPython, 0.05 us against a lock's
0.18).
"""

from __future__ import annotations

import contextlib
import functools
import os
import weakref
from collections import OrderedDict
from typing import NoReturn

import numpy as np

from graphc.ir.errors import GraphcError, RunError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.runtime.compile_gc import fewer_collections
from graphc.runtime.cpu import kernels  # noqa: F401 - registers every family's kernels
from graphc.runtime.cpu.cache import write_sources
from graphc.runtime.cpu.plan import RunPlan, generate_driver
from graphc.runtime.cpu.registry import Kernel, cpu_kernel
from graphc.runtime.state import ReadOnlyState

#: plans kept per executable (one per input-shape signature, least recently used dropped first)
MAX_PLANS = 8
#: every CPU executable alive, for ``_tokens_back_in_child``
_executables: weakref.WeakSet = weakref.WeakSet()


def _tokens_back_in_child() -> None:
    """In a forked child: a run in another thread of the parent (holding an executable's token) does
    not exist there to give it back, and every later run of that executable in the child took the
    allocating driver, never its plans or the direct path."""
    for executable in list(_executables):
        executable._free[:] = [True]  # in place: direct-path entries hold the list itself
        executable._read_only.values = None


os.register_at_fork(after_in_child=_tokens_back_in_child)


class CpuExecutable:
    """Runs ``schedule`` with CPU kernels; ``kernels`` maps node names to what runs them."""

    device = "cpu"

    def __init__(
        self, schedule: list[Node], feeds: list[Tensor], outputs: list[Tensor], program: Graph | None = None
    ):
        self.schedule = schedule
        self.feeds = feeds
        self.outputs = outputs
        self.program_graph = program
        self.kernels: dict[str, Kernel] = {}
        for node in schedule:
            if not node.op.stateful:
                self.kernels[node.name] = cpu_kernel.build(node)
        # runs that change no state: nothing stateful but variable reads (no random draw, no assign)
        self.read_only = all(type(n.op).__name__ == "ReadVariable" for n in schedule if n.op.stateful)
        self.driver_source, self._driver = generate_driver(schedule, feeds, outputs, self.kernels)
        self._plans: OrderedDict[tuple, RunPlan | None] = OrderedDict()
        self._free = [True]  # the token a run takes to use a plan (list.pop is atomic)
        self._read_only = ReadOnlyState({})  # what the token's holder gives a direct run
        self.dump_dir: str | None = None  # set by ``compile`` under GRAPHC_DUMP
        self._rejected: dict[tuple, GraphcError] = {}  # why shape signatures got no plan
        _executables.add(self)

    def plan(self, shapes: tuple[tuple[int, ...], ...]) -> RunPlan | None:
        """The run plan for these feed shapes (made on first use), or None where none can be made."""
        plan = self._plans.get(shapes, False)
        if plan is False:
            try:
                plan = RunPlan(self, shapes) if self.program_graph is not None else None
            except GraphcError as e:
                plan = None  # shapes a node rejects: the allocating run raises the node's own error
                if len(self._rejected) >= MAX_PLANS:
                    self._rejected.clear()
                self._rejected[shapes] = e  # with the shapes, which the error at run time may lack
            self._plans[shapes] = plan
            if plan is not None and self.dump_dir:
                # with the kernels again: binding them generated the loops these shapes run
                write_sources(os.path.join(self.dump_dir, "kernels"), self.sources())
            if len(self._plans) > MAX_PLANS:
                _, dropped = self._plans.popitem(last=False)
                if dropped is not None:
                    for drivers, key in dropped.direct_entries:
                        drivers.pop(key, None)  # their driver holds the dropped plan's arena
        return plan

    def direct(self, shapes: tuple[tuple[int, ...], ...], drivers: dict, key) -> None:
        """Put in ``drivers[key]`` the ``(driver, tokens, state, fail)`` of a run without a
        ``RunState`` (``runtime/direct.py``): the plan's driver for these feed shapes, if one was made,
        where runs change no state. A caller runs the driver (with ``state``, a ``ReadOnlyState``) only
        while it holds a token popped from ``tokens``, then gives it back; ``fail(error, feed_values)``,
        called while it still holds the token, raises a failed run's error as ``run`` does (naming the
        node).

        The entry is removed again when the plan is dropped (``MAX_PLANS``): held by the caller, a
        dropped plan's driver kept its arena and pooled outputs alive, and a function that ran 16
        batch sizes held 16 plans where the executable keeps 8."""
        if not self.read_only:
            return
        plan = self._plans.get(shapes)
        if plan is None:
            return
        drivers[key] = (
            plan.driver,
            self._free,
            self._read_only,
            functools.partial(self._fail, plan.driver, plan),
        )
        plan.direct_entries.append((drivers, key))
        if self._plans.get(shapes) is not plan:  # dropped meanwhile, by a run in another thread
            drivers.pop(key, None)

    def run(self, feed_values: list[np.ndarray], state) -> list[np.ndarray]:
        shapes = (feed_values[0].shape,) if len(feed_values) == 1 else tuple([a.shape for a in feed_values])
        plan = self._plans.get(shapes, False)
        if plan is False:  # the first run with these shapes: Numba compiles (or loads) kernels in it
            with fewer_collections():
                plan = self.plan(shapes)
                try:
                    return self._run(plan, feed_values, state)
                finally:
                    if plan is not None and plan.ahead is not None:
                        plan.ahead.stop()  # what it has not compiled yet, this run compiled
                        plan.ahead = None
        with contextlib.suppress(KeyError):  # (another thread dropped it meanwhile)
            self._plans.move_to_end(shapes)  # the least recently used plan is dropped first
        return self._run(plan, feed_values, state)

    def _run(self, plan: RunPlan | None, feed_values: list[np.ndarray], state) -> list[np.ndarray]:
        driver = self._driver
        token = None
        if plan is not None and self._free:
            try:
                token = self._free.pop()  # atomic: one run at a time uses the plans' buffers
                driver = plan.driver
            except IndexError:
                pass
        try:
            # no np.errstate around the run: a kernel whose numpy calls do arithmetic silences them
            # itself (``registry.quiet``), and those that only move data cannot warn
            return driver(*feed_values, state)
        except Exception as e:
            self._fail(driver, plan, e, feed_values)
        finally:
            if token is not None:
                self._free.append(token)

    def _fail(self, driver, plan: RunPlan | None, e: Exception, feed_values) -> NoReturn:
        """Raise ``driver``'s error ``e`` naming the node it ran (its ``step``: read before the run's
        token is given back, while no other run can move it)."""
        node = self.schedule[driver.__globals__["step"][0]]
        if isinstance(e, GraphcError):
            raise e.with_context(node.where) from None
        rejected = self._rejected.get(tuple(a.shape for a in feed_values)) if plan is None else None
        # inference said why, with shapes, naming the node (a fused node's member, FusedOp.origins)
        if rejected is not None and rejected.where in (node.where, *getattr(node.op, "origins", ())):
            raise RunError(rejected.message, rejected.where) from e
        raise RunError(f"{type(e).__name__}: {e}", node.where) from e

    def sources(self) -> dict[str, str]:
        """The generated source behind each node's kernel (empty for kernels with none), the driver
        that runs the schedule, and the driver and segments of every run plan made so far."""
        out = {name: text for name, k in self.kernels.items() if (text := k.source_text())}
        out["__driver__"] = self.driver_source
        for shapes, plan in list(self._plans.items()):  # (another thread may add a plan meanwhile)
            if plan is not None:
                out.update(self._plan_sources(shapes, plan))
        return out

    @staticmethod
    def _plan_sources(shapes, plan) -> dict[str, str]:
        """The driver and segments of the plan for feed shapes ``shapes``, named by those shapes."""
        tag = "_".join("x".join(map(str, s)) or "scalar" for s in shapes) or "no_feeds"
        out = {f"__plan_{tag}__": plan.source}
        out.update({f"__plan_{tag}__{name}": source for name, source in plan.segment_sources.items()})
        return out
