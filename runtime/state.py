"""The run's view of a session's state: variable values and random-stream counters.

A run reads and writes a copy-on-write view; the session replaces its state with the view only after the
whole run succeeded, so a failed run leaves nothing half-applied. The commit applies only what the run
changed to the session's state as it is then (``commit``), so runs in concurrent threads never undo
each other's updates of other variables; two concurrent runs updating one variable (or drawing from
one random op) each start from the value at their start, and the later commit wins. Variable values
are C-contiguous and read-only arrays, always: kernels rely on the first, ``Session``'s copy-on-fetch
on the second.
"""

from __future__ import annotations

import hashlib

import numpy as np

from graphc.ir.errors import GraphcError


class RunState:
    """Variables and random counters as one run sees them (see the module docstring)."""

    __slots__ = ("graph", "values", "counters", "entropy", "written", "initialized", "drawn")

    def __init__(self, graph, values: dict, counters: dict, entropy: int):
        self.graph = graph
        self.values = dict(values)
        self.counters = dict(counters)
        self.entropy = entropy
        # what the run changed, so that a commit leaves what concurrent runs committed meanwhile
        self.written: set[str] = set()
        self.initialized: set[str] = set()
        self.drawn: set[str] = set()

    @property
    def changed(self) -> bool:
        """Whether the run has anything to commit (a run that only reads has not)."""
        return bool(self.written or self.initialized or self.drawn)

    def read(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            value = self.values[name] = self.initial_value(name)
            self.initialized.add(name)
            return value

    def write(self, name: str, value: np.ndarray) -> None:
        if not value.flags.c_contiguous:
            value = value.copy()  # C order: kernels read variables as C-contiguous, unchecked
        value.setflags(write=False)  # state changes only by replacement; views of it stay read-only
        self.values[name] = value
        self.written.add(name)

    def initial_value(self, name: str) -> np.ndarray:
        var = self.graph.variables.get(name)
        if var is None:
            raise GraphcError(f"variable {name!r} is not in this session's graph")
        value = var.initial_array()
        if not value.flags.c_contiguous:
            value = value.copy()  # C order (``ascontiguousarray`` would make a 0-d value 1-d)
        value.setflags(write=False)
        return value

    def rng(self, node) -> np.random.Generator:
        """The generator for the next draw of random ``node``: (seeds, draw count) fix the numbers.
        Draws are counted per stream (the op's ``stream``: the node the user made, of which ``node``
        may be a copy), else per node."""
        seed, stream = node.op.seed, node.op.stream or node.name
        material = f"{seed[0]}/{seed[1]}" if seed is not None else f"{self.entropy}/{stream}"
        digest = hashlib.sha256(material.encode()).digest()
        key = np.frombuffer(digest[:16], dtype=np.uint64)
        count = self.counters.get(stream, 0)
        self.counters[stream] = count + 1
        self.drawn.add(stream)
        bitgen = np.random.Philox(key=key)
        return np.random.Generator(bitgen.jumped(count) if count else bitgen)


def commit(state: RunState, values: dict, counters: dict) -> tuple[dict, dict]:
    """New (values, counters) dicts: the session's current ones (which concurrent runs may have
    replaced since ``state`` was made) with what ``state``'s run changed. A variable the run only
    initialized keeps a value committed meanwhile."""
    values = dict(values)
    for name in state.initialized:
        values.setdefault(name, state.values[name])
    for name in state.written:
        values[name] = state.values[name]
    if state.drawn:
        counters = dict(counters)
        for name in state.drawn:
            counters[name] = state.counters[name]
    return values, counters


def owned(value):
    """A fetched value the user may keep and mutate: never a view of state, a feed or a constant."""
    if value is None:
        return value
    if value.base is None and value.flags.writeable:  # variable values are always read-only
        return value
    return np.array(value, copy=True)


class NeedsState(Exception):
    """A run on a ``ReadOnlyState`` met what only a ``RunState`` can do: run it again with one."""


class ReadOnlyState:
    """What a run that only reads variables sees on the direct path (``runtime/direct.py``): the
    session's own values dict, never written (the session replaces it, never mutates it). A value
    not there yet (a variable's first read initializes it, a change a ``RunState`` records) raises
    ``NeedsState``."""

    __slots__ = ("values",)

    def __init__(self, values: dict):
        self.values = values

    def read(self, name: str) -> np.ndarray:
        raise NeedsState(name)
