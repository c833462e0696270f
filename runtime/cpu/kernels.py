"""Imports every family's kernel module so that the registry is complete once the CPU backend loads.

``numpy_kernels`` comes first: a family module registering a Numba kernel for an op it also lists
replaces the numpy one.
"""

from graphc.runtime.cpu import numpy_kernels  # noqa: F401, I001 - first, so that families override it
from graphc.runtime.cpu import conv, elementwise, indexing, linalg, nn, pool, reduce  # noqa: F401
from graphc.runtime.cpu.cache import guard_package  # noqa: E402 - after every module it guards

guard_package("graphc.runtime.cpu")
