"""The CPU backend's kernel table: one builder per op type, registered in the module mirroring the op's
family (``runtime/cpu/linalg.py`` for ``graphc/ops/linalg.py``...).

A builder gets the op and its node (types known statically) and returns a ``Kernel``: a callable taking
the input arrays and returning a tuple of output arrays, plus the generated source it runs, for users to
read. Looking up an op with no builder fails when the graph is compiled, naming the op and the node.

A kernel that can write into arrays it is given also has ``bind``: called once per input-shape
signature with the concrete input and output shapes, it returns ``step(*inputs, *outputs)`` writing
into the given C-contiguous output arrays (the executable's preallocated buffers, ``runtime/cpu/plan.py``),
or ``None`` where those shapes are not served that way (the executable then calls ``fn``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.graph import Node

Builder = Callable[[object, Node], "Kernel"]


@dataclass
class Kernel:
    """``fn(*arrays) -> tuple of arrays``; ``source`` is the generated code behind it (if any), or a
    function returning it where that code is generated per input layout as the kernel runs (the
    elementwise loops: every loop generated so far); ``bind(in_shapes, out_shapes) -> step | None``
    where it can write into given outputs."""

    fn: Callable
    name: str
    source: str | Callable[[], str] = ""
    notes: list[str] = field(default_factory=list)
    bind: Callable[[list, list], Callable | None] | None = None

    def source_text(self) -> str:
        """The generated code behind the kernel as it stands: what users read (``exe.sources()``)."""
        return self.source() if callable(self.source) else self.source


class KernelRegistry:
    """Maps op classes to kernel builders; subclasses of a registered class use its builder."""

    def __init__(self):
        self._builders: dict[type, Builder] = {}

    def register(self, *op_classes: type):
        def decorate(builder: Builder) -> Builder:
            for cls in op_classes:
                self._builders[cls] = builder
            return builder

        return decorate

    def builder_for(self, op_class: type) -> Builder | None:
        for cls in op_class.__mro__:
            if cls in self._builders:
                return self._builders[cls]
        return None

    def covers(self, op_class: type) -> bool:
        return self.builder_for(op_class) is not None

    def build(self, node: Node) -> Kernel:
        builder = self.builder_for(type(node.op))
        if builder is None:
            raise NotImplementedError(f"no cpu kernel for {node.op.type_name} ({node.where})")
        return builder(node.op, node)


cpu_kernel = KernelRegistry()


def quiet(reference: Callable) -> Callable:
    """``reference`` (an op's numpy reference) run as the reference device runs it: numpy's
    floating-point warnings off. A kernel that falls back to it at run time (shapes its loop does not
    serve, odd cases) would otherwise warn on log(0) where the reference device computes -inf quietly,
    and fail under ``warnings.simplefilter("error")``. Compiled loops never warn."""

    def run(*arrays):
        with np.errstate(all="ignore"):
            return reference(*arrays)

    return run
