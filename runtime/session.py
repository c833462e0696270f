"""``Session``: owns variable state and runs fetches, in the TF1 style.

A run resolves its fetch/feed structure to a compiled ``Executable`` once and caches it, so a repeated
``run`` with the same structure costs a dictionary lookup, a dtype/shape check per feed and the kernels.
"""

from __future__ import annotations

import collections
import os
import threading
import weakref
from collections.abc import Mapping

import numpy as np

from graphc.ir.errors import FeedError, GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor, get_default_graph
from graphc.runtime.compile import DEVICES, check_optimize, compile
from graphc.runtime.direct import MAX_DRIVERS, run_direct
from graphc.runtime.feeds import check_feed
from graphc.runtime.state import RunState, commit, owned

#: fetch/feed structures a session keeps compiled, the oldest made dropped first: a loop that makes a
#: new op per step (``sess.run(gc.reduce_mean(x))``) compiled one executable per step and kept every
#: one, with its run plans' buffers, for the session's life
MAX_RUN_STRUCTURES = 128

_default_sessions = threading.local()
#: every session alive, for ``_new_locks_in_child``
_sessions: weakref.WeakSet = weakref.WeakSet()


def _new_locks_in_child() -> None:
    """In a forked child: a thread committing a run in the parent (holding its session's lock) does
    not exist there, and the child's first run that changed a variable waited for it for good."""
    for session in list(_sessions):
        session._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_in_child)


class Session:
    """Runs parts of a graph and holds the values of its variables.

    Args:
        graph: the graph to run (default: the default graph when the session is made). Inside
            ``with Session(graph) as sess:`` it is the default graph too, as in TF1.
        device: ``"cpu"`` (Numba-compiled kernels, the default) or ``"reference"`` (the numpy
            interpreter every device is tested against).
        optimize: run the optimization pipeline on what it compiles (default: on, unless
            ``GRAPHC_OPTIMIZE=0``); ``False`` runs graphs exactly as written, for debugging.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     y = x * 2.0 + 1.0
        ...     with gc.Session() as sess:
        ...         sess.run(y, {x: [1.0, 2.0]})
        array([3., 5.], dtype=float32)
    """

    def __init__(self, graph: Graph | None = None, device: str = "cpu", optimize: bool | None = None):
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
        if graph is not None and not isinstance(graph, Graph):
            # Session("reference") would otherwise say at every run that the fetches belong to another graph
            hint = (
                " (the device is a keyword argument: Session(device=...))" if isinstance(graph, str) else ""
            )
            raise TypeError(
                f"Session's graph must be a graphc.Graph, got {type(graph).__name__} {graph!r:.40}{hint}"
            )
        check_optimize(optimize)  # here, not at the first run
        self.graph = graph if graph is not None else get_default_graph()
        self.device = device
        self.optimize = optimize
        self._values: dict[str, np.ndarray] = {}
        self._counters: dict[str, int] = {}
        self._entropy = int.from_bytes(os.urandom(8), "little")
        self._cache: dict = {}
        self._lock = threading.Lock()
        self._entered: list = []  # what ``with`` entered: (graph default, session default)
        self._closed = False
        _sessions.add(self)

    # -- running ----------------------------------------------------------------------------------
    def run(self, fetches, feed_dict: Mapping | None = None):
        """Compute ``fetches`` (a tensor, an op, or nested lists/tuples/dicts of them) with
        ``feed_dict`` mapping tensors (or their names) to values; returns numpy arrays in the same
        structure (``None`` for ops)."""
        if self._closed:
            raise RuntimeError("this Session is closed")
        if feed_dict is None:
            feed_dict = {}
        elif type(feed_dict) is not dict and not isinstance(feed_dict, Mapping):
            # an array or a list of pairs would fail inside with numpy's or hashing's words
            raise TypeError(
                f"feed_dict must map tensors (or their names) to values, got {type(feed_dict).__name__}"
            )
        key = (_structure_key(fetches), tuple(feed_dict))
        entry = self._cache.get(key)
        if entry is None:
            entry = self._prepare(fetches, feed_dict)
            with self._lock:
                self._cache[key] = entry
                if len(self._cache) > MAX_RUN_STRUCTURES:
                    del self._cache[next(iter(self._cache))]  # the oldest made
        exe, rebuild, drivers = entry
        if exe is None:  # nothing to fetch (``run([])``): the empty structure, as in TF1, whose feeds
            # are still checked as TF1 checks them (a feed of the wrong shape or dtype passed silently);
            # such an entry holds the fed tensors where others hold their direct-path drivers
            for t, v in zip(drivers, feed_dict.values(), strict=True):
                check_feed(t, v)
            return rebuild([])
        feeds = [check_feed(t, v) for t, v in zip(exe.feeds, feed_dict.values(), strict=True)]
        shapes = tuple([a.shape for a in feeds])
        direct = drivers.get(shapes)
        if direct is not None:  # a read-only run with shapes run before (runtime/direct.py)
            values = run_direct(direct, feeds, self)
            if values is not None:
                return rebuild([owned(v) for v in values])
        values = self._execute(exe, feeds)
        if direct is None and len(drivers) < MAX_DRIVERS:
            exe.direct(shapes, drivers, shapes)
        return rebuild(values)

    def execute(self, exe, feed_values) -> list:
        """Run a compiled executable (``graphc.compile``) on one value per fed tensor, in its ``feeds``
        order, each checked and converted as a ``feed_dict`` value is; commit state only if the run
        succeeds. (Compiled kernels trust their inputs' dtypes: an int64 array fed where float64 was
        compiled was read as float64 bits.)"""
        if exe.graph is not self.graph:
            # its variables would be looked up by name in this graph: one of another shape or dtype
            # is read by kernels compiled for the other one's (out of bounds, or bits reinterpreted)
            raise GraphMismatchError("the executable was compiled from another graph than the session's")
        names = ", ".join(t.name for t in exe.feeds)
        if isinstance(feed_values, (Mapping, np.ndarray)):
            # a dict fed its keys (tensors: "symbolic tensor x:0 has no value"), an array its rows
            raise TypeError(
                f"execute takes a list of one value per fed tensor in the executable's feeds order "
                f"({names}), got {type(feed_values).__name__}; Session.run takes a feed_dict"
            )
        if len(feed_values) != len(exe.feeds):
            raise TypeError(f"the executable takes {len(exe.feeds)} feeds ({names}), got {len(feed_values)}")
        return self._execute(exe, [check_feed(t, v) for t, v in zip(exe.feeds, feed_values, strict=True)])

    def _execute(self, exe, feed_values: list[np.ndarray]) -> list:
        """``execute`` on feed values already checked (``run``, ``graphc.function``)."""
        if self._closed:  # a function made on this session lives on after it
            raise RuntimeError("this Session is closed")
        state = RunState(self.graph, self._values, self._counters, self._entropy)
        values = exe.run(feed_values, state)
        if state.changed:
            with self._lock:
                if not self._closed:  # a run that ends after ``close`` (another thread) keeps nothing
                    self._values, self._counters = commit(state, self._values, self._counters)
        return [owned(v) for v in values]

    def _prepare(self, fetches, feed_dict):
        flat: list = []
        rebuild = _flatten(fetches, flat, self.graph)
        feeds = [self._as_feed_tensor(k) for k in feed_dict]
        if len(set(feeds)) < len(feeds):
            twice = next(t for t in feeds if feeds.count(t) > 1)
            raise FeedError("fed twice in one feed_dict (by the tensor and by its name?)", twice.node.where)
        if not flat:  # nothing to compile; ``run`` checks the feeds against these tensors
            return None, rebuild, feeds
        return compile(flat, feeds, device=self.device, optimize=self.optimize), rebuild, {}

    def _as_feed_tensor(self, key) -> Tensor:
        try:
            t = self.graph.get_tensor(key) if isinstance(key, str) else key
        except KeyError as e:  # FeedError: a feed key that cannot be fed, as its docstring says
            raise FeedError(f"feed_dict key {key!r}: {e.args[0]}") from None
        if not isinstance(t, Tensor):
            raise TypeError(f"feed_dict keys must be tensors or tensor names, got {key!r}")
        if t.graph is not self.graph:
            raise GraphMismatchError(f"fed tensor {t.name} belongs to another graph than the session's")
        return t

    # -- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the session's state and compiled executables."""
        with self._lock:  # a run committing in another thread then finds it closed
            self._closed = True
            self._values = {}
            self._cache.clear()

    def as_default(self):
        """``with sess.as_default():`` makes ``graphc.function`` calls use this session."""
        return _DefaultSession(self)

    def __enter__(self) -> Session:
        # as in TF1, the session's graph is the default graph inside the block too:
        # ``with Session(g) as sess: sess.run(global_variables_initializer())`` builds the op in g
        graph_default, session_default = self.graph.as_default(), _DefaultSession(self)
        graph_default.__enter__()
        session_default.__enter__()
        self._entered.append((graph_default, session_default))
        return self

    def __exit__(self, *exc) -> None:
        graph_default, session_default = self._entered.pop()
        session_default.__exit__(*exc)
        graph_default.__exit__(*exc)
        self.close()


class _DefaultSession:
    def __init__(self, session: Session):
        self.session = session

    def __enter__(self):
        stack = getattr(_default_sessions, "stack", None)
        if stack is None:
            stack = _default_sessions.stack = []
        stack.append(self.session)
        return self.session

    def __exit__(self, *exc):
        _default_sessions.stack.pop()


def get_default_session() -> Session | None:
    """The innermost session entered with ``with Session() as sess`` or ``sess.as_default()``.

    Example:
        >>> import graphc as gc
        >>> with gc.Session(gc.Graph()) as sess:
        ...     gc.get_default_session() is sess
        True
        >>> gc.get_default_session() is None  # outside every ``with``
        True
    """
    stack = getattr(_default_sessions, "stack", None)
    return stack[-1] if stack else None


def default_session_for(graph: Graph) -> Session | None:
    """The innermost session entered (``with``/``as_default``) whose graph is ``graph``: one for
    another graph entered inside it does not hide it (``graphc.function``'s session)."""
    for sess in reversed(getattr(_default_sessions, "stack", None) or ()):
        if sess.graph is graph:
            return sess
    return None


def _structure_key(fetches):
    if isinstance(fetches, (Tensor, Node, str)):
        return fetches
    if isinstance(fetches, (list, tuple)):
        return (type(fetches), *(_structure_key(f) for f in fetches))
    if isinstance(fetches, Mapping):  # True == 1 as keys: their types tell them apart
        # a defaultdict's factory too: the cached rebuild makes the result with the first one's
        factory = getattr(fetches, "default_factory", None)
        return (type(fetches), factory, *((type(k), k, _structure_key(v)) for k, v in fetches.items()))
    raise TypeError(
        f"cannot fetch {type(fetches).__name__}; fetch tensors, ops, or lists/tuples/dicts of them"
    )


def _flatten(fetches, flat: list, graph: Graph):
    """Append the leaves of ``fetches`` to ``flat``; return a function rebuilding the structure."""
    if isinstance(fetches, str):
        try:
            fetches = graph.get_tensor(fetches) if ":" in fetches else graph.get_node(fetches)
        except KeyError as e:  # TF1's ValueError naming the fetch, not a bare lookup's KeyError
            raise ValueError(f"fetch {fetches!r} names nothing in the session's graph: {e.args[0]}") from None
    if isinstance(fetches, (Tensor, Node)):
        if fetches.graph is not graph:
            raise GraphMismatchError(f"fetch {fetches.name} belongs to another graph than the session's")
        i = len(flat)
        flat.append(fetches)
        return lambda values: values[i]
    if isinstance(fetches, Mapping):
        parts = {k: _flatten(v, flat, graph) for k, v in fetches.items()}
        kind = type(fetches)
        if isinstance(fetches, collections.defaultdict):
            factory = fetches.default_factory
            return lambda values: kind(factory, {k: f(values) for k, f in parts.items()})
        return lambda values: kind({k: f(values) for k, f in parts.items()})
    parts = [_flatten(f, flat, graph) for f in fetches]
    if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):
        kind = type(fetches)
        return lambda values: kind(*(f(values) for f in parts))
    kind = type(fetches)
    return lambda values: kind(f(values) for f in parts)
