"""``graphc.function``: a Theano-style compiled callable with ``updates`` and ``givens``."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from graphc.ir.errors import DTypeError, FeedError, GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.rewrite import replace_inputs
from graphc.ops.core import as_tensor
from graphc.ops.state import Variable
from graphc.runtime.compile import compile
from graphc.runtime.direct import MAX_DRIVERS, direct_call
from graphc.runtime.feeds import check_feed
from graphc.runtime.session import Session, default_session_for

#: the attribute of a ``Graph`` holding the session its functions share. On the graph itself, not in a
#: ``WeakKeyDictionary`` keyed by the graph: the session refers to its graph, so such a dictionary's
#: value kept its own key alive, and every graph given a function stayed in memory for good with its
#: variable values (50 graphs of one 4 MB variable: +505 MB after they were dropped). On the graph,
#: the pair is a cycle the garbage collector frees with the graph.
_SESSION_ATTRIBUTE = "_graphc_function_session"
# functions made at once in several threads must find one session per graph: without the lock each
# could make its own, and one function's updates were invisible to the others
_graph_sessions_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """In a forked child: a thread holding the lock in the parent does not exist there."""
    global _graph_sessions_lock
    _graph_sessions_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def session_for(graph: Graph) -> Session:
    """The session ``graphc.function`` uses for ``graph``: the innermost session entered for that
    graph, else one session per graph shared by all its functions (like Theano's shared
    variables, every function of a graph sees the same variable values)."""
    # not only the innermost: a session for another graph entered inside this graph's one left
    # the function on a session of its own, silently blind to the variable values of the entered one
    sess = default_session_for(graph)
    if sess is not None:
        return sess
    with _graph_sessions_lock:
        sess = getattr(graph, _SESSION_ATTRIBUTE, None)
        if sess is None or sess._closed:
            sess = Session(graph)
            setattr(graph, _SESSION_ATTRIBUTE, sess)
    return sess


_MISSING = object()  # an input not given yet (``Function._positional``)


class Function:
    """A callable computing ``outputs`` from positional ``inputs`` and applying ``updates`` after.

    Made by ``graphc.function``; ``session`` holds the variable values it reads and writes.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     f = gc.function([x], [x + 1.0, gc.reduce_sum(x)])  # a list of outputs: a list back
        >>> f([1.0, 2.0])
        [array([2., 3.], dtype=float32), array(3., dtype=float32)]
        >>> [t.name for t in f.inputs], f.session.graph is g
        (['x:0'], True)
        >>> f(x=[5.0])[1]  # inputs by their node names too, as Theano's functions take them
        array(5., dtype=float32)
    """

    def __init__(self, inputs, outputs, updates, givens, session, device):
        single = isinstance(outputs, (Tensor, Node))
        if isinstance(outputs, Mapping):
            raise TypeError("function outputs must be a tensor, an op, or a list of them (not a dict)")
        if isinstance(outputs, str):  # list() would split the name: "got str 'y'" for "y:0"
            raise TypeError(f"function outputs must be tensors or ops, not names, got str {outputs!r:.60}")
        outs = [outputs] if single else list(outputs or [])
        for out in outs:
            if not isinstance(out, (Tensor, Node)):
                raise TypeError(f"function outputs must be tensors or ops, got {type(out).__name__} {out!r}")
        if isinstance(inputs, (Tensor, Node, Mapping, str)) or not isinstance(inputs, Iterable):
            # list() of a tensor would say "not iterable; use graphc.split", of None "NoneType", of a
            # name "got str 'x'" for its first character
            raise TypeError(
                f"function inputs must be a list of tensors (write [x] for one), got {type(inputs).__name__}"
            )
        inputs = list(inputs)
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):  # checked here: the graph lookups below need a Tensor's node
                raise TypeError(f"function inputs must be tensors, got {type(t).__name__} {t!r:.60}")
            if any(t is u for u in inputs[:i]):
                raise FeedError(f"function input {i} repeats input {inputs.index(t)}", t.node.where)
        updates = list(updates.items() if isinstance(updates, Mapping) else updates or [])
        for pair in updates:
            if isinstance(pair, Tensor) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise TypeError(f"updates must be (variable, new value) pairs, got {pair!r:.60}")
        for var, _ in updates:  # a variable updated twice is refused by ``compile``
            if not isinstance(var, Variable):
                raise TypeError(f"updates must pair graphc.Variables with new values, got {var!r}")
        update_values = [_update_value(var, v) for var, v in updates]
        if givens:
            replaced = replace_inputs(outs + update_values, _givens(givens))
            outs, update_values = replaced[: len(outs)], replaced[len(outs) :]
        pairs = list(zip([var for var, _ in updates], update_values, strict=True))
        graph = _graph(inputs, outs, pairs)
        self.session = session if session is not None else session_for(graph)
        if self.session.graph is not graph:
            raise GraphMismatchError("function's tensors belong to another graph than its session's")
        self.executable = compile(
            outs, inputs, pairs, device=device or self.session.device, optimize=self.session.optimize
        )
        self.inputs = inputs
        self._single = single
        self._accepted: list[set] = [set() for _ in inputs]  # feed shapes already checked, per input
        self._direct, self._drivers = direct_call(
            [t.dtype for t in inputs], single, self._general, self.session
        )

    def __call__(self, *args, **by_name):
        if by_name:  # f(x=..., y=...) as Theano's functions take them: the inputs' node names
            args = self._positional(args, by_name)
        if len(args) == len(self.inputs):
            return self._direct(*args)  # runtime/direct.py; it falls back on _general
        return self._general(*args)

    def _positional(self, args: tuple, by_name: dict) -> tuple:
        """``args`` followed by the keyword arguments in input order (keywords name the inputs'
        nodes, as ``placeholder(..., name="x")`` named them)."""
        names = [t.node.name for t in self.inputs]
        if len(args) > len(names):
            listed = ", ".join(names)
            raise TypeError(f"function takes {len(names)} inputs ({listed}), got {len(args)} by position")
        values = list(args) + [_MISSING] * (len(names) - len(args))
        for key, value in by_name.items():
            if key not in names:
                raise TypeError(f"function has no input named {key!r}; its inputs: {', '.join(names)}")
            k = names.index(key)
            if values[k] is not _MISSING:
                raise TypeError(f"function input {key!r} given twice (by position and by name)")
            values[k] = value
        missing = [name for name, value in zip(names, values, strict=True) if value is _MISSING]
        if missing:
            raise TypeError(f"function inputs missing: {', '.join(missing)}")
        return tuple(values)

    def _general(self, *args):
        """A call through the session: every feed checked (and converted), variables initialized
        on first read, updates committed; afterwards the direct path knows these feed shapes."""
        if len(args) != len(self.inputs):
            names = ", ".join(t.name for t in self.inputs)
            raise TypeError(f"function takes {len(self.inputs)} inputs ({names}), got {len(args)}")
        feeds = list(args)
        for k, (t, a) in enumerate(zip(self.inputs, args, strict=True)):
            # the common case costs a set lookup: an array of the right dtype and a shape seen before
            if type(a) is not np.ndarray or a.dtype is not t.dtype or a.shape not in self._accepted[k]:
                feeds[k] = check_feed(t, a)
                if feeds[k] is a and len(self._accepted[k]) < 64:
                    self._accepted[k].add(a.shape)
        values = self.session._execute(self.executable, feeds)  # checked above
        shapes = tuple(a.shape for a in feeds)
        key = shapes[0] if len(feeds) == 1 else shapes  # as direct_call's ``call`` looks it up
        if key not in self._drivers and len(self._drivers) < MAX_DRIVERS:
            self.executable.direct(shapes, self._drivers, key)
        return values[0] if self._single else values


def function(
    inputs: Sequence[Tensor],
    outputs=None,
    updates=None,
    givens=None,
    session: Session | None = None,
    device: str | None = None,
) -> Function:
    """Compile a callable: positional numpy arrays for ``inputs`` in, ``outputs`` out.

    Args:
        inputs: the tensors (usually placeholders) the callable's arguments feed.
        outputs: a tensor, or a list of tensors (the callable then returns a list).
        updates: ``[(variable, new_value), ...]`` (or a dict): applied after the outputs are computed;
            every update sees the values from before the call.
        givens: ``{tensor: replacement}``: the graph computes with ``replacement`` in place of
            ``tensor`` (a tensor or a value).
        session: whose variables to use; default: the innermost entered session of the graph,
            else one per graph.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (), name="x")
        ...     total = gc.Variable(0.0, name="total")
        ...     acc = gc.function([x], total + x, updates=[(total, total + x)])
        >>> float(acc(2.0)), float(acc(3.0))
        (2.0, 5.0)
    """
    return Function(inputs, outputs, updates, givens, session, device)


def _givens(givens) -> dict:
    items = givens.items() if isinstance(givens, Mapping) else givens
    out = {}
    for pair in items:
        if isinstance(pair, Tensor) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"givens must be a dict or (tensor, replacement) pairs, got {pair!r:.60}")
        old, new = pair
        if not isinstance(old, Tensor):
            raise TypeError(f"givens keys must be tensors, got {old!r}")
        if not isinstance(new, Tensor):
            with old.graph.control_dependencies(None):  # the call's constant (see _update_value)
                new = as_tensor(new, dtype=old.dtype, graph=old.graph)
        out[old] = new
    return out


def _graph(inputs, outs, pairs) -> Graph:
    nodes = [t.node for t in inputs] + [o.node if isinstance(o, Tensor) else o for o in outs]
    nodes += [v.node for v, _ in pairs] + [t.node for _, t in pairs]
    graphs = {id(n.graph): n.graph for n in nodes}
    if not outs and not pairs:
        raise ValueError("a function needs outputs or updates: it has nothing to compute")
    if len(graphs) != 1:
        raise GraphMismatchError("function inputs, outputs and updates must come from one graph")
    return next(iter(graphs.values()))


def _update_value(var: Variable, value) -> Tensor:
    """``value`` as ``var``'s update: a tensor of its dtype, or an error naming both. A constant made
    here is the call's, not the user's: it takes none of the control dependencies open around it
    (each call would run them)."""
    try:
        with var.graph.control_dependencies(None):
            return as_tensor(value, dtype=var.dtype, graph=var.graph)
    except DTypeError as e:
        where = value.node.where if isinstance(value, Tensor) else None
        raise DTypeError(f"update of variable {var.var_name!r} ({var.type}): {e.message}", where) from None
