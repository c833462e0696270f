"""Helpers for pass tests: build an un-optimized program graph, and evaluate a program graph with the
reference interpreter."""

import numpy as np

import graphc as gc
from graphc.runtime.reference import ReferenceExecutable
from graphc.runtime.state import RunState


def program(fetches, feeds=(), updates=()):
    """The program graph ``compile`` would optimize (extracted, not yet passed through the pipeline)."""
    fetches = fetches if isinstance(fetches, (list, tuple)) else [fetches]
    return gc.compile(list(fetches), feeds=list(feeds), updates=list(updates), optimize=False).program


def evaluate(prog, feed_values=(), variables=None):
    """The program's outputs computed by the reference interpreter from ``feed_values``."""
    fed = {t.node for t in prog.inputs}
    exe = ReferenceExecutable([n for n in prog.nodes if n not in fed], list(prog.inputs), list(prog.outputs))
    state = RunState(prog, dict(variables or {}), {}, 0)
    with np.errstate(all="ignore"):
        return exe.run([np.asarray(v) for v in feed_values], state)


def op_names(prog):
    """The op type names of a program's nodes, in order."""
    return [n.op.type_name for n in prog.nodes]
