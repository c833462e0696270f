"""``FusedOp``: several elementwise ops, and at most one trailing reduction, run as one node.

The fusion pass (``passes/fuse.py``) makes these; users never build them. The body is a small graph in
SSA form: instruction ``k`` applies an op to values given by index, where values ``0 .. n_inputs - 1``
are the node's inputs and ``n_inputs + j`` is the result of instruction ``j``. ``outputs`` lists the
values the node returns, in order. Types and values come from the body ops themselves (each op's
``infer`` and ``reference``), so a fused node means exactly what its unfused ops meant, and a backend
can generate one loop nest from the ops' ``scalar`` expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from graphc.ir.errors import GraphcError, RunError
from graphc.ir.op import Op
from graphc.ir.types import TensorType
from graphc.ops.elementwise import Elementwise
from graphc.ops.reduce import Reduce


@dataclass(frozen=True)
class FusedOp(Op):
    """Elementwise ops over broadcast inputs, optionally ended by one reduction, as one node.

    Body rules (checked when the op is made): every op is ``Elementwise`` except possibly the last,
    which may be a ``Reduce``; a reduction consumes a body value (not an input) and is an output;
    every index refers to an input or an earlier instruction; there is at least one output.

    Example (``exp(x) * y`` and its sum over axis 1, both returned)::

        FusedOp(body=((Exp(), (0,)), (Multiply(), (2, 1)), (Sum((1,)), (3,))), n_inputs=2, outputs=(3, 4))
    """

    body: tuple[tuple[Op, tuple[int, ...]], ...]
    n_inputs: int
    outputs: tuple[int, ...]
    #: the node context (``Node.where``) of the node each body op was fused from, or () : a body op that
    #: fails is named in the error, not the fused node, which has its last member's name and line
    #: (the user's ``a + b`` on one line failing as ``tanh(...)`` on the next). Not part of the value.
    origins: tuple[str, ...] = field(default=(), compare=False, repr=False)

    #: made by the compiler after ``graphc.grad`` has run: the gradient contract test skips it
    compiler_only: ClassVar[bool] = True
    default_name: ClassVar[str] = "fused"

    def __post_init__(self):
        n_values = self.n_inputs
        for k, (op, args) in enumerate(self.body):
            last = k == len(self.body) - 1
            if isinstance(op, Reduce):
                if not last:
                    raise ValueError(f"FusedOp: reduction {op} must be the last body op")
                if any(i < self.n_inputs for i in args):
                    raise ValueError(f"FusedOp: reduction {op} must consume a body value, not an input")
                if n_values not in self.outputs:
                    raise ValueError(f"FusedOp: the result of reduction {op} must be an output")
            elif not isinstance(op, Elementwise):
                raise ValueError(f"FusedOp: {op} is neither elementwise nor a trailing reduction")
            if any(not 0 <= i < n_values for i in args):
                raise ValueError(f"FusedOp: body op {k} ({op}) uses a value not defined before it: {args}")
            n_values += 1
        if not self.outputs or any(not 0 <= i < n_values for i in self.outputs):
            raise ValueError(f"FusedOp: outputs {self.outputs} must be non-empty indices below {n_values}")
        if self.origins and len(self.origins) != len(self.body):
            raise ValueError(f"FusedOp: {len(self.origins)} origins for {len(self.body)} body ops")

    def infer(self, *types: TensorType) -> tuple[TensorType, ...]:
        if len(types) != self.n_inputs:
            raise ValueError(f"FusedOp takes {self.n_inputs} inputs, got {len(types)}")
        values = list(types)
        for k, (op, args) in enumerate(self.body):
            try:
                (t,) = op.infer(*(values[i] for i in args))
            except GraphcError as e:  # run-time shapes a body op rejects: that op's node is named
                raise (e.with_context(self.origins[k]) if self.origins else e) from None
            values.append(t)
        return tuple(values[i] for i in self.outputs)

    def reference(self, *arrays):
        # each body op's own reference, in body order: the same arithmetic as the unfused nodes
        values = list(arrays)
        for k, (op, args) in enumerate(self.body):
            try:
                values.append(op.reference(*(values[i] for i in args)))
            except Exception as e:
                if not self.origins:
                    raise
                if isinstance(e, GraphcError):
                    raise e.with_context(self.origins[k]) from None
                shapes = ", ".join(str(np.shape(values[i])) for i in args)
                raise RunError(f"{type(e).__name__}: {e} (inputs {shapes})", self.origins[k]) from e
        if len(self.outputs) == 1:
            return values[self.outputs[0]]
        return tuple(values[i] for i in self.outputs)

    def origin(self, output: int) -> str | None:
        """The node context of the user's node that computes output ``output`` (its body op's
        ``origins`` entry), or None where the origins are unknown or the output is an input passed
        through: an error about that value names it, not the fused node, whose name the compiler made."""
        k = self.outputs[output] - self.n_inputs
        return self.origins[k] if self.origins and k >= 0 else None

    def vjp(self, node, gy):
        raise NotImplementedError(
            f"{node.where}: FusedOp has no gradient rule; differentiate before fusing: graphc.grad runs "
            "on the user's graph, and fusion only on compiled programs"
        )

    def attrs(self) -> dict:
        """The body as one line of text, e.g. ``%2 = Exp(%0); %3 = Sum[axes=(1,)](%2); return %3``."""
        lines = [
            f"%{self.n_inputs + k} = {_format_op(op)}({', '.join(f'%{i}' for i in args)})"
            for k, (op, args) in enumerate(self.body)
        ]
        lines.append("return " + ", ".join(f"%{i}" for i in self.outputs))
        return {"body": "; ".join(lines)}


def _format_op(op: Op) -> str:
    attrs = ", ".join(f"{k}={v if isinstance(v, np.dtype) else repr(v)}" for k, v in op.attrs().items())
    return f"{op.type_name}[{attrs}]" if attrs else op.type_name


__all__: list[str] = []
