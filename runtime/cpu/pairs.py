"""Pairs: two independent kernels of a run plan run at once, one on each thread (``threads.run_pair``).

Convolutions split their images over both threads, and in programs that use them the large GEMMs run
on one BLAS thread. Where two such kernels are next to each other in the schedule and neither needs
the other (a conv layer's input and filter gradients; a dense layer's two gradient products), running
them at once costs one pool hand-off instead of two (30-80 us each on this VM), and each kernel's data
stays in one core's cache. ``find_pairs`` picks them for ``plan.generate_driver``; the CNN step
measured ~0.3 ms faster (bench/NOTES.md, "Pairs").
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Node
from graphc.runtime.cpu import threads
from graphc.viz.info import node_flops

#: kernels run as a pair only when each has at least this many multiply-adds (~80 us on one thread):
#: below it the pool hand-off (30-80 us) costs more than running them one after the other saves
PAIR_WORK = 1 << 23
_CONV_FAMILY = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def _pair_work(node: Node, steps, kernels, types) -> int:
    """The multiply-adds of a kernel that can run beside another, one on each thread
    (``threads.run_pair``), else 0: convolutions (their ``split`` then runs serially) and GEMMs held
    to one BLAS thread (MatMul in programs that use the pool)."""
    name = type(node.op).__name__
    kernel = kernels.get(node.name)
    held_gemm = name == "MatMul" and getattr(steps.get(node), "one_thread", False)
    conv = (
        name in _CONV_FAMILY and node not in steps and kernel is not None and kernel.name.startswith("numba[")
    )
    return node_flops(node, types=types) // 2 if held_gemm or conv else 0


def find_pairs(
    schedule, steps, kernels, placement, types, skip, roots
) -> dict[Node, tuple[list[Node], Node]]:
    """First node -> (view nodes to run before it, second node): two pairable kernels that can run
    at once. Between them in the schedule there may only be view ops (run first, as they do not read
    the first's outputs); the second must not read what the first writes, and its outputs must not
    be arena buffers the first reads (``plan_memory`` reuses a buffer once its last reader ran, which
    in a pair runs at the same time). ``skip``: nodes of segments; ``roots``: each view's source."""
    if not threads.pairs_possible():
        return {}
    found: dict[Node, tuple[list[Node], Node]] = {}
    taken: set[Node] = set()
    for i, first in enumerate(schedule):
        if first in taken or first in skip or _pair_work(first, steps, kernels, types) < PAIR_WORK:
            continue
        made = set(first.outputs)
        views: list[Node] = []
        for second in schedule[i + 1 : i + 5]:
            if second in skip:
                break
            if second.op.view_of_input and not second.op.stateful and not made & set(second.inputs):
                views.append(second)
                continue
            if (
                _pair_work(second, steps, kernels, types) >= PAIR_WORK
                and not made & set(second.inputs)
                and not _overlaps(first, second, roots, placement)
            ):
                found[first] = (views, second)
                taken.update((first, second, *views))
            break
    return found


def _overlaps(first: Node, second: Node, roots, placement) -> bool:
    """Whether an output buffer of ``second`` may share memory with what ``first`` reads or writes: an
    output nobody reads (a product fetched as an op, or only a control input) dies where it is made,
    and ``plan_memory`` gives its buffer to the next output, which in a pair is written at the same
    time."""
    read = [placement.get(roots.get(t, t)) for t in (*first.inputs, *first.outputs)]
    read = [a for a in read if isinstance(a, np.ndarray)]
    written = [placement.get(t) for t in second.outputs]
    return any(isinstance(w, np.ndarray) and np.may_share_memory(w, r) for w in written for r in read)
