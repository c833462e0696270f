"""Fewer garbage collections while graphc and Numba compile: ``with fewer_collections(): ...``.

``compile`` (the passes, the backend's import, the kernels' builds) and the CPU executable's first run
with new input shapes (where Numba compiles each kernel or loads it from its cache) run inside it.
Numba's compiler allocates millions of short-lived Python objects (IR, type-inference graphs, llvmlite
values). With CPython's default thresholds (700, 10, 10) the MLP b128 step's cold first call ran ~650
young and ~60 middle collections and 5 full ones, each full one walking every object the process holds.
Raising the young generation's threshold to ``YOUNG_THRESHOLD`` while a run compiles cut that call by
~0.35 s of 4.3 (8%), the CNN's by 0.7-1.1 s of 12, for 5-15 MB more peak memory (bench/NOTES.md). The
thresholds go back to what they were when the last compiling run ends; a threshold of 0 (automatic
collection off) is left as it is.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: young-generation threshold while a run compiles (CPython's default is 700)
YOUNG_THRESHOLD = 20_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's collection threshold for the duration of the block (nested and
    concurrent blocks share one raise; the last to leave restores the thresholds it found).

    >>> with fewer_collections():
    ...     pass  # compile here
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            if _saved[0] != 0:
                gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            if _depth > 0:  # 0 in a child forked inside the block: the fork already restored them
                _depth -= 1
                if _depth == 0:
                    gc.set_threshold(*_saved)


def _after_fork_in_child() -> None:
    """The threads compiling in the parent do not exist in a forked child: nobody would restore."""
    global _lock, _depth
    _lock = threading.Lock()
    if _depth > 0:
        _depth = 0
        gc.set_threshold(*_saved)


os.register_at_fork(after_in_child=_after_fork_in_child)
