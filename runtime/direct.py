"""The direct call path of ``graphc.function``: what a repeated call costs when nothing is written.

A call of a function that only fetches (no updates, nothing stateful but variable reads) with numpy
arrays of the input dtypes and of shapes it has run before goes straight to the run plan's driver
(``runtime/cpu/plan.py``): a dtype check and a dictionary lookup per call, the driver given the
session's values dict as it is (a ``ReadOnlyState``). The general path around the same driver (the
session's copy-on-write ``RunState``, the executable's and backend's dispatch, the feed loop) cost
~3.5 us of a 10 us batch-1 inference (bench/NOTES.md).

Whatever the direct path cannot do, the general path does, from the start: another dtype or shape, a
value that is not an array, a variable's first read (which initializes it), another thread running
the same executable (the token is taken), and any error (the general path runs again and raises the
error naming the node). Those runs write nothing, so running again is safe.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.runtime.state import ReadOnlyState

#: shape signatures a function keeps direct drivers for (the executable keeps as many plans)
MAX_DRIVERS = 8


def direct_call(dtypes: list[np.dtype], single: bool, general: Callable, session, own: Callable):
    """``(call, drivers)``: ``call(*arrays)`` runs a driver from ``drivers`` (feed shapes ->
    ``(driver, tokens)``, filled by the caller) or else ``general(*arrays)``; ``own`` makes each
    fetched value safe to hand out (``Session``'s copy-on-fetch)."""
    n = len(dtypes)
    params = ", ".join(f"a{i}" for i in range(n))
    key = "a0.shape" if n == 1 else "(" + "".join(f"a{i}.shape, " for i in range(n)) + ")"
    checks = " and ".join(f"type(a{i}) is ndarray and a{i}.dtype is d{i}" for i in range(n)) or "True"
    result = "own(out[0])" if single else "[own(v) for v in out]"
    source = f"""
def call({params}):
    entry = drivers.get({key}) if {checks} else None
    if entry is None or not entry[1]:
        return general({params})
    driver, tokens = entry
    try:
        token = tokens.pop()
    except IndexError:
        return general({params})
    try:
        state.values = session._values
        out = driver({params}{", " if n else ""}state)
    except Exception:
        out = None
    finally:
        tokens.append(token)
    if out is None:
        return general({params})
    return {result}
"""
    drivers: dict = {}
    env = {
        "ndarray": np.ndarray,
        "drivers": drivers,
        "general": general,
        "session": session,
        "own": own,
        "state": ReadOnlyState({}),
        **{f"d{i}": np.dtype(d) for i, d in enumerate(dtypes)},
    }
    exec(compile(source, "<graphc direct call>", "exec"), env)  # noqa: S102 - our own generated code
    return env["call"], drivers
