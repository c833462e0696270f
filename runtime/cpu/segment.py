"""Consecutive bound kernels run as one generated Numba function: one crossing from Python per segment.

A bound step (``Kernel.bind``) whose work is a call of a Numba function carries an ``NjitCall``: the
function, how to write its arguments from the step's input and output names, and the layout each
input must have. ``RunPlan`` groups consecutive such steps (variable reads and constants between them
are read first, in Python) into a ``Segment``; its source imports the kernels' functions and calls
them in order, so a run pays one Numba dispatch per segment instead of one Python step per kernel
(0.5-3 us each). This is what makes a batch-1 inference cost little more than its arithmetic.

The generated function takes every array it touches as an argument (inputs from outside, and the
buffers of every output, which the plan allocates), so its source does not depend on the batch size
(loop bounds are read from the arrays' shapes) and a new batch size compiles nothing new (unless
the size changes a kernel's variant or the grouping: a size of 1, a loop split over threads). Its module
is content-named in the kernel cache (``cache.load_module``, whose names also hash the backend's own
source: a changed kernel must not be served by an old segment's machine code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphc.runtime.cpu.cache import load_module


@dataclass(frozen=True)
class NjitCall:
    """A bound step as a call of a Numba function: ``args(inputs, outputs)`` writes its argument
    expressions from the value names; ``layouts[i]`` is what input i needs: "C" (C-contiguous), "CF"
    (C- or F-contiguous), or "" (anything). ``scratch``: working arrays made when the step was bound,
    passed after those arguments (the segment takes them as parameters: an array allocated inside
    Numba code is an overload compiled anew in every process)."""

    fn: Callable
    args: Callable[[list[str], list[str]], list[str]]
    layouts: tuple[str, ...]
    scratch: tuple = ()


def segment_function(
    calls: list[NjitCall],
    values: list[list[str]],
    outputs: list[list[str]],
    params: list[str],
    scratch: list[list[str]] | None = None,
):
    """The generated Numba function running ``calls`` in order; ``values[k]``/``outputs[k]`` name
    call k's inputs and outputs, ``scratch[k]`` its scratch arrays, ``params`` are the function's
    parameters (every name used)."""
    # the parameters are renamed a0, a1, ... in order: the plan's buffer names (v675) differ from one
    # segment to the next, and a repeated block of layers then made as many distinct sources, each a
    # cold Numba compile (a 1500-op graph of 157 segments took 127 s) where identical ones share one
    local = {name: f"a{i}" for i, name in enumerate(params)}
    values = [[local[name] for name in ins] for ins in values]
    outputs = [[local[name] for name in outs] for outs in outputs]
    scratch = [[local[name] for name in names] for names in scratch or [[] for _ in calls]]
    params = list(local.values())
    imports, body, aliases = [], [], {}
    # every view an argument takes (``v3.reshape(-1)``) is made once, at the top: the same view served
    # several calls (Adam's scalars: all six), and each distinct expression is Numba typing and
    # lowering work at compile time
    views: dict[str, str] = {}
    for call, ins, outs, extra in zip(calls, values, outputs, scratch, strict=True):
        fn = call.fn
        key = (fn.py_func.__module__, fn.py_func.__name__)
        if key not in aliases:
            aliases[key] = f"f{len(aliases)}"
            imports.append(f"from {key[0]} import {key[1]} as {aliases[key]}")
        args = []
        # arrays known to be C-contiguous here: outputs (the plan's buffers), inputs the kernel
        # declares "C" (the driver checks those that come from outside the plan)
        c_names = set(outs) | {name for name, layout in zip(ins, call.layouts, strict=True) if layout == "C"}
        for expr in call.args(ins, outs):
            if expr.isidentifier():
                args.append(expr)
                continue
            if expr.lstrip("-").isdigit():
                # a bare 128 is typed Literal[int](128) in the call, and Numba compiles the kernel
                # once more for that literal where Python's calls (int64) already compiled it
                expr = f"np.int64({expr})"
            # a view or a size is the same wherever it is taken; an element (``[0]``) is a value an
            # earlier call of this segment may write, so it is read at its call
            view, element = (expr[:-3], "[0]") if expr.endswith("[0]") else (expr, "")
            if view.endswith(".reshape(-1)") and (element or view[: -len(".reshape(-1)")] in c_names):
                # a one-element array (a scalar's) is C-contiguous whatever it came from
                view = f"flat_view({view[: -len('.reshape(-1)')]})"
            if view not in views:
                views[view] = f"e{len(views)}"
            args.append(views[view] + element)
        args += extra
        body.append(f"    {aliases[key]}({', '.join(args)})")
    body = [f"    {name} = {expr}" for expr, name in views.items()] + body
    source = "\n".join(
        [
            '"""Generated by graphc: a segment of bound kernels."""',
            "import numpy as np",
            "from numba import njit",
            "from graphc.runtime.cpu.flat import flat_view",
            *imports,
            "",
            "",
            "@njit(cache=True, nogil=True)",
            f"def segment({', '.join(params)}):",
            *body,
            "",
        ]
    )
    return source, load_module(source).segment


def entry_point_after_first_call(dispatcher, env: dict, name: str) -> Callable:
    """A function that calls ``dispatcher`` once, then replaces itself in ``env[name]`` by the entry
    point of the machine code that call ran: Numba's compiled wrapper, which unboxes the arguments
    without typing them. The caller guarantees that later calls pass arguments of the same types
    (dtypes, ranks, layouts): the wrapper does not check them."""

    def first_call(*args):
        dispatcher(*args)
        signature = tuple(dispatcher.typeof_pyval(a) for a in args)
        compiled = dispatcher.overloads.get(signature)
        # no overload under exactly these types (not seen so far): the dispatcher from now on
        env[name] = compiled.entry_point if compiled is not None else dispatcher

    return first_call
