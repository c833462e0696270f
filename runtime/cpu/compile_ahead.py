"""A run plan's segments compiled in a helper process while the first run compiles them in order.

Numba compiles on one core, under a process-wide lock, and a cold first run compiles its segments one
after the other as it reaches them (the MLP b128 training step: ~4 s of its ~4.5 s first call). On a
machine with a second core, ``start`` hands the plan's segments, last first, to a helper process
(``helper``) that compiles them into the same Numba cache. The first run goes on as before: a
segment the helper has saved by the time the run reaches it is loaded from the cache (Numba's
dispatcher looks there before it compiles), one it has not is compiled by the run itself. The run
ends the helper when it finishes (``CompileAhead.stop``).

The helper only fills the cache; nothing is taken from it that the run could not have compiled
itself, and machine code it saves is checked like any other cached entry
(``cache._guard_numba_cache``). What it needs is each segment's argument types, predicted from the
plan (``predicted_types``): a wrong guess costs the helper's work, never the run's result.

Started only where the plan's segments not in the cache yet take ``MIN_ARGUMENTS`` arguments in all
and the process may use more than one CPU; ``GRAPHC_COMPILE_AHEAD=0`` turns it off (bench/NOTES.md,
"Segments compiled ahead in a helper process").
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import subprocess
import sys

import numba
import numpy as np
from numba.core import caching as numba_caching

#: the fewest arguments, over the segments without a cache entry, that start a helper: a segment's
#: compile grows ~5 ms an argument besides its kernels' (bench/NOTES.md), and the helper's start-up
#: (~0.6 s of imports, ~0.3 s of Numba's first compile, on the other core) pays only where the run
#: has that much ahead of it: the bench's training steps have 52-70, small graphs a few
MIN_ARGUMENTS = 40
#: seconds ``stop`` waits for the helper to leave before it kills it
STOP_WAIT = 1.0
#: set in the helper's environment: a helper never starts one of its own
_IN_HELPER = "GRAPHC_COMPILE_AHEAD_HELPER"


def enabled() -> bool:
    """Whether this process may start helpers: not turned off, not a helper, run by a Python
    interpreter (not a frozen or embedding program, whose ``sys.executable`` is not one), more than
    one CPU."""
    if os.environ.get("GRAPHC_COMPILE_AHEAD", "1") == "0" or os.environ.get(_IN_HELPER):
        return False
    if getattr(sys, "frozen", False) or not os.path.basename(sys.executable or "").startswith("python"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus > 1


def predicted_types(params: list[str], tensor_of: dict, env: dict, types: dict) -> tuple | None:
    """The Numba types of a segment's arguments as the plan's first run will pass them (``params``:
    tensor names, ``tensor_of`` maps them to tensors, or scratch arrays' names in ``env``), or None
    where one cannot be told (``_layout``)."""
    out = []
    for name in params:
        t = tensor_of.get(name)
        if t is None:
            value = env.get(name)
            if not isinstance(value, np.ndarray):
                return None
            out.append(numba.typeof(value))
            continue
        layout, readonly = _layout(t, types)
        if layout not in ("C", "F"):
            # unknown, or not contiguous: the driver then runs the segment's steps one by one (every
            # kernel there takes C- or F-contiguous arrays), not the segment
            return None
        tensor_type = types[t]
        dtype, rank = numba.from_dtype(tensor_type.dtype), len(tensor_type.shape)
        if layout == "F" and _both_contiguous(tensor_type.shape):
            layout = "C"  # numba.typeof says C where an array is both
        out.append(numba.types.Array(dtype, rank, layout, readonly=readonly))
    return tuple(out)


def _both_contiguous(shape: tuple[int, ...]) -> bool:
    """Whether every contiguous array of ``shape`` is C- as well as F-contiguous (numpy's flags ignore
    the strides of dims of length 1): at most one dim longer than 1, or no element. A transpose of
    a (1, n) weight, or of one row, is then typed C by ``numba.typeof``, not F."""
    return 0 in shape or sum(d > 1 for d in shape) <= 1


#: views whose result has the layout of their input where that is C-contiguous
_KEEPS_C = {"Reshape", "ExpandDims", "Squeeze", "ReshapeLike", "StopGradient"}
#: views that never copy: a non-contiguous input stays non-contiguous
_NEVER_COPY = {"ExpandDims", "Squeeze", "StopGradient"}


def _layout(t, types: dict) -> tuple[str | None, bool]:
    """(layout, read-only) of the array ``t`` will hold: C-contiguous and writable as the plan's own
    arrays and numpy's results are, read-only where it is a variable's value or a read-only constant's,
    and what views of those make of them (a 2-D transpose of a C array is F; ``broadcast_like`` is
    numpy's read-only ``broadcast_to``, not contiguous where it broadcasts; ``broadcast_to`` copies);
    None where a view's layout depends on more than this knows (slices, transposes of other ranks)."""
    chain = []
    while t.node.op.view_of_input and t.node.inputs:
        chain.append(t)
        t = t.node.inputs[0]
    op = t.node.op
    kind = type(op).__name__
    value = op.value if kind == "Constant" and isinstance(op.value, np.ndarray) else None
    readonly = kind == "ReadVariable" or (kind == "Constant" and (value is None or not value.flags.writeable))
    layout = "C"
    if value is not None and not value.flags.c_contiguous:
        # a constant is the user's array as it was given: a Fortran-ordered one stays F
        layout = "F" if value.flags.f_contiguous else "A"
    for view in reversed(chain):
        kind = type(view.node.op).__name__
        if kind == "BroadcastTo":
            layout, readonly = "C", False
        elif kind == "BroadcastLike":
            size_in = math.prod(types[view.node.inputs[0]].shape)
            layout = layout if math.prod(types[view].shape) == size_in else "A"
            readonly = True
        elif kind == "Transpose" and len(types[view].shape) == 2 and layout in "CF":
            layout = "F" if layout == "C" else "C"
        elif not ((kind in _KEEPS_C and layout == "C") or (kind in _NEVER_COPY and layout == "A")):
            return None, readonly
    return layout, readonly


def _cached(dispatcher) -> bool:
    """Whether Numba's cache holds an index for ``dispatcher`` (some signature of it was saved)."""
    files = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    path = getattr(files, "_index_path", None)
    return path is None or os.path.exists(path)


class CompileAhead:
    """A helper process compiling segments; ``stop()`` ends it."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    def stop(self) -> None:
        """End the helper: SIGTERM, which it turns into an exception that unwinds its compile (after
        the cache file it may be writing, ``_Stops``), then a kill if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                process.wait(timeout=STOP_WAIT)


class _Stopped(BaseException):
    """Raised in the helper by SIGTERM: not an ``Exception``, so no ``except Exception`` in Numba's
    compiler takes it for a failed compile."""


class _Stops:
    """The helper's SIGTERM: ``_Stopped`` where it arrives, except while Numba writes a cache file,
    where it is raised once the write is done. Numba removes the temporary file of a write that fails
    only on an ``Exception`` (``IndexDataCacheFile._open_for_write``), and ``_Stopped`` is not one: a
    stop that came during a save left its ``.tmp.`` file in the cache for good."""

    def __init__(self) -> None:
        self.writing, self.pending = 0, False

    def on_signal(self, signum, frame) -> None:
        if self.writing:
            self.pending = True
        else:
            raise _Stopped

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.on_signal)
        files = getattr(numba_caching, "IndexDataCacheFile", None)
        original = getattr(files, "_open_for_write", None)
        if original is None:  # another Numba: a stop may leave a temporary file
            return
        stops = self

        @contextlib.contextmanager
        def open_for_write(self, filepath):
            stops.writing += 1
            try:
                with original(self, filepath) as f:
                    yield f
            finally:
                stops.writing -= 1
            if stops.pending and not stops.writing:
                raise _Stopped  # the file is whole and in place: now stop

        files._open_for_write = open_for_write


def start(jobs: list[tuple[str, object, tuple, list[str]]]) -> CompileAhead | None:
    """Start a helper compiling ``jobs`` ((segment source, its dispatcher, argument types, sources of
    the generated modules it imports), in the run's order) from the last; None where it would not pay
    or cannot start."""
    todo = [(source, types, imports) for source, fn, types, imports in jobs if not _cached(fn)]
    if sum(len(types) for _, types, _ in todo) < MIN_ARGUMENTS or not enabled():
        return None
    # the jobs pickled apart: their Numba types unpickle once the parent's sys.path is in place
    manifest = pickle.dumps({"path": list(sys.path), "jobs": pickle.dumps(todo[::-1])})
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, **{_IN_HELPER: "1"}),
        )
    except (OSError, ValueError):
        return None
    ahead = CompileAhead(process)
    try:
        process.stdin.write(manifest)
        process.stdin.close()
    except (OSError, ValueError):  # it died before it read its jobs: no helper
        ahead.stop()
        return None
    return ahead


#: the helper's program: the parent's ``sys.path`` first (graphc may be importable only through it).
#: It leaves with ``os._exit``: the interpreter's teardown with Numba and graphc loaded took 0.25-0.5 s,
#: which ``stop`` waited for at the end of the first run it was meant to shorten; what the helper
#: wrote is whole by then (Numba writes a temporary file and renames it, ``_Stops``), and its output
#: goes nowhere
_BOOTSTRAP = (
    "import os, pickle, sys\n"
    "try:\n"
    "    manifest = pickle.loads(sys.stdin.buffer.read()); sys.path[:] = manifest['path']\n"
    "    from graphc.runtime.cpu.compile_ahead import helper; helper(manifest)\n"
    "finally:\n"
    "    os._exit(0)\n"
)


def helper(manifest: dict) -> None:
    """The helper's work: compile each job's segment for its types, until done or the parent is gone.
    The generated modules a segment imports are loaded first through the kernel cache, as the parent
    loaded them (their Numba caches guarded)."""
    parent = os.getppid()
    _Stops().install()
    from graphc.runtime.compile_gc import fewer_collections
    from graphc.runtime.cpu.cache import load_module

    with contextlib.suppress(_Stopped), fewer_collections():
        for source, argtypes, imports in pickle.loads(manifest["jobs"]):  # noqa: S301 - our parent's
            if os.getppid() != parent:
                return
            with contextlib.suppress(Exception):  # a job that fails is the run's to compile
                for imported in imports:
                    load_module(imported)
                load_module(source).segment.compile(argtypes)
