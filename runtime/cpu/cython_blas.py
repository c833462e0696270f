"""Loads ``scipy.linalg.cython_blas`` (the BLAS that ``np.dot`` inside Numba calls) without importing the
``scipy.linalg`` package, which costs 90-140 ms: it imports scipy's array-API layer, which touches
numpy's lazily loaded ``numpy.testing``, ``numpy.ma`` and ``numpy.f2py``. The extension module alone
loads in ~3 ms, a quarter of the CNN's warm start (bench/NOTES.md).

Numba imports the module by its full name (``PyImport_ImportModule("scipy.linalg.cython_blas")`` at a
function's first BLAS call; ``import scipy.linalg.cython_blas`` when compiling), which finds it in
``sys.modules`` without importing the package. So that a later ``import scipy.linalg`` in the user's
code still sees the submodule as an attribute of the package, a one-shot import hook sets it when
that package is imported. Any failure falls back to the plain import.
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading

NAME = "scipy.linalg.cython_blas"
_lock = threading.Lock()


def load():
    """The ``scipy.linalg.cython_blas`` module, loaded on its own where it is not loaded yet."""
    module = sys.modules.get(NAME)
    if module is not None:
        return module
    with _lock:
        module = sys.modules.get(NAME)
        if module is None:
            try:
                module = _load_alone()
            except Exception:  # noqa: BLE001 - another layout or scipy version: the ordinary import
                sys.modules.pop(NAME, None)
                module = None
            if module is None:
                import scipy.linalg.cython_blas as module
    return module


def _load_alone():
    if "scipy.linalg" in sys.modules:
        return None
    import scipy

    paths = glob.glob(os.path.join(os.path.dirname(scipy.__file__), "linalg", "cython_blas.*"))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    paths = [p for p in paths if p.endswith(suffixes)]
    if len(paths) != 1:
        return None
    loader = importlib.machinery.ExtensionFileLoader(NAME, paths[0])
    spec = importlib.util.spec_from_file_location(NAME, paths[0], loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    loader.exec_module(module)
    sys.meta_path.insert(0, _LinkWhenPackageImported())
    return module


class _LinkWhenPackageImported(importlib.abc.MetaPathFinder):
    """Sets ``scipy.linalg.cython_blas`` on the package once it is imported, then removes itself."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "scipy.linalg":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # what the other finders would answer
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_link(module):
            exec_module(module)
            if NAME in sys.modules:
                module.cython_blas = sys.modules[NAME]

        spec.loader.exec_module = exec_and_link
        return spec
