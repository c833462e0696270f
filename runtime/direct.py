"""The direct path of ``graphc.function`` and ``Session.run``: repeated runs that write nothing.

A call of a function (or a ``Session.run``) that only fetches (no updates, nothing stateful but
variable reads) with numpy arrays of the input dtypes and of shapes it has run before goes straight
to the run plan's driver (``runtime/cpu/plan.py``): a dtype check and a dictionary lookup per call,
the driver given the session's values dict as it is (a ``ReadOnlyState``). The general path around
the same driver (the session's copy-on-write ``RunState``, the executable's and backend's dispatch,
the feed loop) cost ~3.5 us of a 10 us batch-1 inference (bench/NOTES.md).

Whatever the direct path cannot do, the general path does, from the start: another dtype or shape, a
value that is not an array, a variable's first read (which initializes it), another thread running
the same executable (the token is taken). Those runs write nothing, so running again is safe. A run
that fails is not run again: the executable raises its error naming the node (``fail``), as the
general path would. (Running it again doubled the time a failing call took, and lost an exception
a signal handler raised during the run: a ``signal.alarm`` time limit was met by a second, complete
run.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.runtime.state import NeedsState, owned

#: shape signatures a function keeps direct drivers for (the executable keeps as many plans)
MAX_DRIVERS = 8


def run_direct(entry: tuple, feeds, session) -> list | None:
    """Run a driver from ``Executable.direct`` (``(driver, tokens, state, fail)``) on checked
    ``feeds`` against ``session``'s values; the values it returns (hand them out through ``owned``),
    or None where the general path has to run instead. A failed run raises its node's error."""
    driver, tokens, state, fail = entry
    if session._closed:
        return None  # the general path raises
    try:
        token = tokens.pop()
    except IndexError:
        return None  # another thread is running this executable's plans
    try:
        state.values = session._values  # the token's holder alone uses the state
        return driver(*feeds, state)
    except NeedsState:
        return None  # a variable's first read: the general path initializes it
    except Exception as e:
        fail(e, feeds)  # raises, naming the node (the token still held: its step is this run's)
    finally:
        state.values = None  # holding the dict would keep replaced variable values alive
        tokens.append(token)


def direct_call(dtypes: list[np.dtype], single: bool, general: Callable, session):
    """``(call, drivers)``: ``call(*arrays)`` runs the entry of ``drivers`` for the arrays' shapes
    (filled by the caller: shapes, or a tuple of them for several inputs, -> ``Executable.direct``)
    where every array is an ndarray of its input's dtype, else (or where that run cannot serve)
    ``general(*arrays)``."""
    n = len(dtypes)
    params = ", ".join(f"a{i}" for i in range(n))
    key = "a0.shape" if n == 1 else "(" + "".join(f"a{i}.shape, " for i in range(n)) + ")"
    checks = " and ".join(f"type(a{i}) is ndarray and a{i}.dtype is d{i}" for i in range(n)) or "True"
    result = "owned(out[0])" if single else "[owned(v) for v in out]"
    source = f"""
def call({params}):
    entry = drivers.get({key}) if {checks} else None
    if entry is not None:
        out = run_direct(entry, ({params}{"," if n == 1 else ""}), session)
        if out is not None:
            return {result}
    return general({params})
"""
    drivers: dict = {}
    env = {
        "ndarray": np.ndarray,
        "drivers": drivers,
        "general": general,
        "session": session,
        "run_direct": run_direct,
        "owned": owned,
        **{f"d{i}": np.dtype(d) for i, d in enumerate(dtypes)},
    }
    exec(compile(source, "<graphc direct call>", "exec"), env)  # noqa: S102 - our own generated code
    return env["call"], drivers
