"""Batch halves: a run of row-local kernels split by batch rows, one half on each thread.

Up to its weight gradients, an MLP's step is row-local: row i of every activation and of its gradient
depends only on row i of the batch and on the weights. So a *region* of such kernels can run as one
generated Numba function called twice at once, on rows [0, B/2) here and on rows [B/2, B) on a relay
thread (``threads.relay``), each GEMM on one BLAS thread: each core then reads only the rows it wrote.
Reductions over the batch (a weight gradient ``x.T @ g``, a bias gradient's column sum) write one
partial result per half, added when both are done. On this VM, where data written by the other core is
sometimes slow to read (the "slow mode" of bench/NOTES.md, which slows every kernel after numpy's
2-thread GEMMs), a hand-written prototype of the halves kept the MLP b1024 step at ~3 ms while the
step through numpy's threaded GEMMs took 5.5-5.9 ms.

What joins a region (``find_regions``), with B the batch size (dimension 0 of the feeds, unknown when
the graph was built) and a tensor "rows" when its dimension 0 is that unknown dimension:

- a bound 2-D float ``MatMul`` of rows by a weight (no unknown dimension): rows out;
- a bound 2-D ``MatMul`` of a transposed rows tensor by rows (a weight gradient): partial out;
- ``Transpose`` of a 2-D rows tensor: a view made inside the region;
- a bound elementwise loop or ``FusedOp`` with a Numba form (``NjitCall``), rows out, reading rows and
  weights; a trailing reduction over trailing axes keeps rows, a ``Sum`` over the batch is partial;
- a bound ``Softmax``/``LogSoftmax`` over the last axis, ``OneHot``: rows out.

Between them, nodes that do not depend on the region and write no buffer of the plan (variable reads,
constants, numpy-served kernels, which return their own arrays) run before it. Anything else ends the
region. Every tensor a region writes gets an array of its own (not the arena), so buffer reuse planned
for one thread never meets two threads at once. A region runs only where its GEMMs are worth a hand-off
(``HALVES_WORK``) and the arrays from outside the plan are C-contiguous; otherwise its nodes run one by
one as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir.graph import Node, Tensor
from graphc.ops.elementwise import Elementwise
from graphc.ops.fused import FusedOp
from graphc.ops.indexing import OneHot
from graphc.ops.linalg import MatMul, Transpose
from graphc.ops.nn import LogSoftmax, Softmax
from graphc.ops.reduce import Reduce, Sum
from graphc.runtime.cpu import threads
from graphc.runtime.cpu.linalg import gemm_direct32, gemm_direct64
from graphc.runtime.cpu.segment import NjitCall, segment_function

#: a region's GEMMs must add up to this many multiply-adds (~0.6 ms of GEMM on both cores). Measured
#: on the MLP 784-128-128-10 step (bench/NOTES.md): at batch 1024 (regions of 121M and 139M) 7% faster
#: than numpy's 2-thread GEMMs, at 512 (60M, 70M) no faster, at 256 and 128 10-25% slower: the
#: hand-off and the one-thread GEMMs on few rows cost more than the halves save
HALVES_WORK = 3 << 25
#: at least this many rows in the batch
HALVES_ROWS = 32

_GEMM = {
    np.dtype(np.float32): NjitCall(gemm_direct32, lambda ins, outs: [*ins, *outs, "gs32"], ("CF", "CF")),
    np.dtype(np.float64): NjitCall(gemm_direct64, lambda ins, outs: [*ins, *outs, "gs64"], ("CF", "CF")),
}
#: BLAS's alpha and beta (1, 0) of each dtype, the GEMM calls' last argument
_SCALARS = (np.array([1, 0], np.float32), np.array([1, 0], np.float64))


@dataclass
class Region:
    """Nodes run as two halves of the batch, in schedule order; ``hoisted`` run before them; ``views``
    (those of the nodes that are transposes of rows tensors, made inside) run again after them for
    whoever reads them later."""

    nodes: list[Node] = field(default_factory=list)
    hoisted: list[Node] = field(default_factory=list)
    views: list[Node] = field(default_factory=list)
    rows: set[Tensor] = field(default_factory=set)  # tensors the region reads or writes by rows
    transposed: dict[Tensor, Tensor] = field(default_factory=dict)  # view -> its rows tensor
    partial: list[Tensor] = field(default_factory=list)  # outputs summed over the halves
    made: set[Tensor] = field(default_factory=set)  # every tensor the region writes or views
    work: int = 0
    batch: int = 0


def batch_size(feeds, shapes) -> int | None:
    """The batch size: dimension 0 of every feed whose dimension 0 is unknown in the graph, or None
    where they disagree or there is none."""
    sizes = {shape[0] for t, shape in zip(feeds, shapes, strict=True) if t.shape and t.shape[0] is None}
    return sizes.pop() if len(sizes) == 1 else None


def find_regions(schedule, steps, types, batch: int, placement) -> list[Region]:
    """The regions of ``schedule`` worth running as halves (see the module docstring). Only steps
    whose outputs live in the arena join (not program outputs, nor values that leave the run)."""
    joinable = {
        node: step
        for node, step in steps.items()
        if all(isinstance(placement.get(t), np.ndarray) for t in node.outputs)
    }
    if batch < HALVES_ROWS:
        return []
    regions, region = [], Region(batch=batch)

    def close():
        nonlocal region
        if region.work >= HALVES_WORK:
            regions.append(region)
        region = Region(batch=batch)

    for node in schedule:
        if _join(region, node, joinable, types, batch):
            continue
        if region.nodes and _hoistable(node, steps, region):
            region.hoisted.append(node)
            continue
        close()
        _join(region, node, joinable, types, batch)  # a region may start here
    close()
    return regions


def _is_rows(t: Tensor, types, batch: int) -> bool:
    shape = t.shape
    return bool(shape) and shape[0] is None and None not in shape[1:] and types[t].shape[0] == batch


def _is_whole(t: Tensor) -> bool:
    return None not in t.shape


def _hoistable(node: Node, steps, region: Region) -> bool:
    """Runs before the region without changing anything: it reads nothing the region makes and writes
    no buffer of the plan (unbound kernels return their own arrays)."""
    if node in steps or any(t in region.made for t in node.inputs):
        return False
    if node.op.stateful:
        return type(node.op).__name__ == "ReadVariable"
    return not node.control_inputs


def _readable(t: Tensor, region: Region, types, batch: int) -> str | None:
    """How a region node may read ``t``: "rows", "whole", "transposed", or None (not at all)."""
    if t in region.transposed:
        return "transposed"
    if t in region.partial:
        return None  # complete only once both halves are done
    if t in region.made or _is_rows(t, types, batch):
        return "rows" if t in region.rows or t not in region.made else None
    return "whole" if _is_whole(t) else None


def _join(region: Region, node: Node, steps, types, batch: int) -> bool:
    """Adds ``node`` to ``region`` where a rule of the module docstring allows it."""
    op = node.op
    if node.control_inputs or op.stateful:
        return False
    reads = [_readable(t, region, types, batch) for t in node.inputs]
    if None in reads:
        return False
    if isinstance(op, Transpose):
        (x,) = node.inputs
        if reads != ["rows"] or len(x.shape) != 2 or op.axes != (1, 0):
            return False
        region.transposed[node.outputs[0]] = x
        region.rows.add(x)
        region.nodes.append(node)
        region.views.append(node)
        region.made.add(node.outputs[0])
        return True
    step = steps.get(node)
    if step is None:
        return False
    out = node.outputs
    if isinstance(op, MatMul):
        a, b = node.inputs
        if len(a.shape) != 2 or len(b.shape) != 2 or a.dtype != b.dtype or a.dtype not in _GEMM:
            return False
        (m, k), (_, n) = types[a].shape, types[b].shape
        if not (m and n and k):
            return False
        if reads == ["rows", "whole"] and _is_rows(out[0], types, batch):
            kind = "rows"
        elif reads == ["transposed", "rows"] and _is_whole(out[0]):
            kind = "partial"
        else:
            return False
        region.work += m * n * k
        _add(region, node, [kind], reads)
        return True
    if getattr(step, "njit", None) is None:
        return False
    if isinstance(op, (Softmax, LogSoftmax)):
        if reads != ["rows"] or op.axis not in (-1, len(node.inputs[0].shape) - 1):
            return False
        kinds = ["rows"]
    elif isinstance(op, OneHot):
        if reads != ["rows"] or op.axis not in (-1, len(node.inputs[0].shape)):
            return False
        kinds = ["rows"]
    elif isinstance(op, (Elementwise, FusedOp)):
        if "transposed" in reads:
            return False
        rank = len(out[0].shape)
        if any(r == "rows" and len(t.shape) != rank for t, r in zip(node.inputs, reads, strict=True)):
            return False  # rows of another rank would broadcast against the trailing axes
        kinds = _loop_kinds(node, types, batch)
        if kinds is None:
            return False
    else:
        return False
    _add(region, node, kinds, reads)
    return True


def _loop_kinds(node: Node, types, batch: int) -> list[str] | None:
    """Per output of an elementwise loop: "rows", or "partial" for a sum over the batch; None where the
    loop is not row-local (a whole input as long as the batch could be read by rows in it)."""
    out_rank = len(node.outputs[0].shape)
    for t in node.inputs:
        if _is_whole(t) and len(t.shape) == out_rank and t.shape and types[t].shape[0] != 1:
            return None  # a full-rank weight broadcast against rows: not read by rows
    reduced = None
    if isinstance(node.op, FusedOp) and isinstance(node.op.body[-1][0], Reduce):
        reduced = node.op.outputs.index(node.op.n_inputs + len(node.op.body) - 1)
    kinds = []
    for j, t in enumerate(node.outputs):
        if _is_rows(t, types, batch):
            kinds.append("rows")
        elif j == reduced and _is_whole(t) and type(node.op.body[-1][0]) is Sum:
            kinds.append("partial")
        else:
            return None
    return kinds


def _add(region: Region, node: Node, kinds: list[str], reads: list[str]) -> None:
    region.nodes.append(node)
    for t, read in zip(node.inputs, reads, strict=True):
        if read == "rows":
            region.rows.add(t)
    for t, kind in zip(node.outputs, kinds, strict=True):
        region.made.add(t)
        if kind == "partial":
            region.partial.append(t)
        else:
            region.rows.add(t)


def region_function(region: Region, steps, names: dict[Tensor, str]):
    """The generated source and Numba function ``half(*params, *partials, gs32, gs64, lo, hi)`` of
    ``region`` (``gs``: the GEMMs' alpha and beta),
    and the tensors whose values are its ``params`` (every array it reads or writes, but partials)."""
    params: list[str] = []
    tensors: list[Tensor] = []
    local: dict[Tensor, str] = {}
    prelude: list[str] = []
    partial_names = {t: f"q{i}" for i, t in enumerate(region.partial)}
    kernels = [n for n in region.nodes if n not in region.views]
    for node in kernels:
        for t in [*node.inputs, *node.outputs]:
            if t in local:
                continue
            if t in partial_names:
                local[t] = partial_names[t]
                continue
            base = region.transposed.get(t, t)
            name = names[base]
            if name not in params:
                params.append(name)
                tensors.append(base)
            if t in region.transposed:
                local[t] = f"t{name}"
                prelude.append(f"{local[t]} = {name}[lo:hi].T")
            elif t in region.rows:
                local[t] = f"r{name}"
                prelude.append(f"{local[t]} = {name}[lo:hi]")
            else:
                local[t] = name
    calls = [_GEMM[n.outputs[0].dtype] if isinstance(n.op, MatMul) else steps[n].njit for n in kernels]
    ins = [[local[t] for t in n.inputs] for n in kernels]
    outs = [[local[t] for t in n.outputs] for n in kernels]
    signature = [*params, *partial_names.values(), "gs32", "gs64", "lo", "hi"]
    source, fn = segment_function(calls, ins, outs, signature, prelude=list(dict.fromkeys(prelude)))
    return source, fn, tensors


def region_runner(fn, partials: list[np.ndarray], batch: int, varying: list[int]):
    """``run(*arrays)``: ``fn`` on the batch's two halves at once (this thread and the relay thread,
    scipy's BLAS on one thread each), then each partial output as the sum of its two halves.

    Both halves call the compiled entry point that the dispatcher found for these argument types, so
    that neither thread holds the GIL for Numba's typing (~10 us at 40 arguments) while the other
    waits for it. The types can only change with the layouts of the arrays at ``varying`` (those that
    do not come from the plan, the variables or a C-contiguous copy): they key the entry points."""
    mid = batch // 2
    mine = [np.empty_like(p) for p in partials]
    theirs = [np.empty_like(p) for p in partials]
    pairs = list(zip(partials, mine, theirs, strict=True))
    relay, hold = threads.relay, threads.scipy_blas
    entries: dict[tuple, object] = {}

    def entry(arrays):
        key = tuple((arrays[i].flags.c_contiguous, arrays[i].flags.f_contiguous) for i in varying)
        found = entries.get(key)
        if found is None:
            args = (*arrays, *mine, *_SCALARS, 0, mid)
            fn.compile(tuple(fn.typeof_pyval(a) for a in args))
            compiled = fn.overloads.get(tuple(fn.typeof_pyval(a) for a in args))
            found = entries[key] = compiled.entry_point if compiled is not None else fn
        return found

    def run(*arrays):
        call = entry(arrays)
        with hold:
            if relay.start(call, (*arrays, *theirs, *_SCALARS, mid, batch)):
                try:
                    call(*arrays, *mine, *_SCALARS, 0, mid)
                finally:
                    relay.wait()
            else:  # another run holds the relay: both halves here
                call(*arrays, *mine, *_SCALARS, 0, mid)
                call(*arrays, *theirs, *_SCALARS, mid, batch)
        for out, a, b in pairs:
            np.add(a, b, out=out)

    return run


def contiguous(a):
    """``a``, or a C-contiguous copy where it is not (0-d arrays stay 0-d)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def usable() -> bool:
    """Whether halves can run here: two threads, and scipy's BLAS can be held to one."""
    return threads.pairs_possible() and threads.scipy_blas.available
