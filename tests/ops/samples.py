"""The op sample table: every op's sample inputs, one table for the whole contract test.

A family's samples live in ``samples_<family>.py`` beside this file as a list ``SAMPLES``; this module
collects them all. A ``Sample`` says which op it covers, how to build the graph from placeholders
(``build``), an independent numpy formula for the expected result (``expect``), and the inputs
(``Arg`` specs: concrete shape, the placeholder's static shape with ``None`` dims, dtype, value range).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Arg:
    """A sample input: an array of ``shape`` and ``dtype`` with values in [low, high), fed to a
    placeholder of ``static`` shape (default: the concrete shape). ``value`` fixes the array."""

    shape: tuple = ()
    dtype: str = "float32"
    low: float = -2.0
    high: float = 2.0
    static: tuple | None = None
    value: object = None

    def make(self, rng: np.random.Generator) -> np.ndarray:
        if self.value is not None:
            return np.asarray(self.value, dtype=self.dtype)
        d = np.dtype(self.dtype)
        if d.kind == "b":
            return rng.random(self.shape) < 0.5
        if d.kind in "iu":
            return rng.integers(int(self.low), int(self.high), self.shape).astype(d)
        return rng.uniform(self.low, self.high, self.shape).astype(d)

    @property
    def placeholder_shape(self) -> tuple:
        return self.shape if self.static is None else self.static


@dataclass(frozen=True)
class Sample:
    """One case of the contract test for op ``op`` (a class name in ``graphc.ir.OPS``)."""

    op: str
    build: Callable  # (*placeholders) -> Tensor or tuple of Tensors
    expect: Callable  # (*arrays) -> array or tuple of arrays: an independent numpy formula
    args: tuple = ()
    name: str = ""
    rtol: float = 1e-6
    atol: float = 1e-6
    exact_dtype: bool = True
    tags: tuple = field(default=())
    #: (eps, rtol, atol) for the finite-difference check where float64 defaults do not fit (float32 paths)
    grad_tol: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


def _collect() -> list[Sample]:
    import tests.ops as package

    samples: list[Sample] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("samples_"):
            samples.extend(importlib.import_module(f"tests.ops.{info.name}").SAMPLES)
    return samples


SAMPLES: list[Sample] = _collect()
