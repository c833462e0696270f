"""The ``Op`` base class and the registry of every op class.

An op is an immutable value (a frozen dataclass): two ops with equal attributes are equal and hash
alike, which makes CSE and cache keys trivial. Everything that defines what an op means lives in its
class (see ``graphc/ops/``):

- ``infer(*input_types) -> tuple[TensorType, ...]``: the shape and dtype rule; raises a clear error.
- ``reference(*arrays)``: a plain numpy implementation, the oracle for every test and device.
- stateful ops (variables, assignments, random numbers) implement ``execute(node, state, arrays)``
  instead, where ``state`` is the run's view of the session state (see ``runtime/state.py``).
- ``vjp(node, gy) -> one gradient per input``: the gradient rule, written with graphc ops so that
  gradients are graphs (and can be differentiated again). ``gy`` is the gradient of the single output
  (a tensor), or a tuple with one entry per output (``None`` where no gradient flows) for multi-output
  ops. Return ``None`` for an input that gets no gradient. The autodiff driver (``passes/autodiff.py``)
  does the bookkeeping: order, accumulation, and summing broadcast gradients of elementwise ops back to
  the input's shape. Ops with no derivative say so with ``vjp = not_differentiable("why")``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

OPS: dict[str, type[Op]] = {}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Op:
    """Base of all ops. Subclasses are ``@dataclass(frozen=True)`` and define ``infer`` and
    ``reference`` (or ``execute`` when ``stateful``).

    Example:
        >>> import numpy as np
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     op = gc.transpose(gc.placeholder("float32", (2, 3))).op
        >>> op, op.attrs(), op == type(op)(axes=(1, 0))  # ops are values: equal attributes, equal ops
        (Transpose(axes=(1, 0)), {'axes': (1, 0)}, True)
        >>> op.infer(gc.TensorType((5, None), gc.float32))  # the shape and dtype rule
        (TensorType(shape=(None, 5), dtype=dtype('float32')),)
        >>> op.reference(np.ones((2, 3))).shape  # the numpy reference
        (3, 2)
    """

    #: ops that read or write session state or draw random numbers; never folded, merged or reordered
    stateful: ClassVar[bool] = False
    #: the reference may return a view of input 0 (reshape, transpose...): memory planning keeps that
    #: input's storage alive as long as the view is read
    view_of_input: ClassVar[bool] = False
    #: the output is a function of the inputs and attributes alone (false for stateful ops and for
    #: placeholders); only pure nodes may be folded or merged
    pure: ClassVar[bool] = True
    #: abstract bases set this in their own body so they stay out of the registry
    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.stateful:
            cls.pure = False
        if not cls.__dict__.get("abstract", False):
            cls.abstract = False
            OPS[cls.__name__] = cls

    @property
    def type_name(self) -> str:
        return type(self).__name__

    @property
    def default_name(self) -> str:
        """The base of node names made by this op, e.g. ``log_softmax`` for ``LogSoftmax``."""
        return _snake(type(self).__name__)

    def attrs(self) -> dict:
        """The op's attributes by name, for printing and serialization."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {}

    def infer(self, *types):
        raise NotImplementedError(f"{self.type_name}.infer")

    def reference(self, *arrays):
        raise NotImplementedError(f"{self.type_name} has no numpy reference")

    def vjp(self, node, gy):
        raise NotImplementedError(f"no gradient rule (vjp) for {self.type_name}")

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}={v!r}" for k, v in self.attrs().items())
        return f"{self.type_name}[{attrs}]" if attrs else self.type_name


def not_differentiable(reason: str):
    """A ``vjp`` for ops with no useful derivative: gradients stop there (no gradient flows to the
    inputs). ``reason`` says why, for error messages and docs."""

    def vjp(self, node, gy):
        return (None,) * len(node.inputs)

    vjp.not_differentiable = reason
    return vjp


def has_gradient_rule(op_class: type) -> bool:
    """True when ``op_class`` defines a real gradient rule (not the default, not ``not_differentiable``)."""
    vjp = op_class.vjp
    return vjp is not Op.vjp and not hasattr(vjp, "not_differentiable")
