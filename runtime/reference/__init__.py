"""The reference device: a numpy interpreter over the graph, the oracle for every other device."""

from graphc.runtime.reference.interpreter import ReferenceExecutable

__all__ = ["ReferenceExecutable"]
