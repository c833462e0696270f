"""The CPU device: Numba-generated kernels, a precomputed schedule and an on-disk kernel cache."""

from graphc.runtime.cpu.executable import CpuExecutable

__all__ = ["CpuExecutable"]
