"""``FusedOp``s ending in a sum or mean: the reduction accumulated inside the generated elementwise loop.

A fused body such as ``sum(where(h > 0, g, 0), axis=0)`` (a ReLU layer's bias gradient) is computed in
one pass: the loop runs over a (rows, cols) view of the body's shape and adds each value to its
accumulator instead of writing it to a scratch array and reducing that afterwards (one pass over memory
instead of three). Three layouts cover the reductions the graphs make:

- ``all``: every axis: one accumulator;
- ``cols``: the leading axes (bias gradients): ``cols`` accumulators in the output, added to row by row,
  which vectorizes across the row (numpy's own order for such axes);
- ``rows``: the trailing axes (per-example losses): one accumulator per row.

A column sum over at least ``elementwise.PARALLEL_SUM_ABOVE`` elements (the first conv layers' bias
gradients) runs on every thread (``SplitColumnSum``): each thread sums its range of rows into its own
row of partial sums, which are then added in thread order.

Sums over all or trailing axes accumulate float32 values in float64 (a vectorized convert-and-add; a
float32 running sum over 10^6 values drifts by ~1e-4), and float64 values in blocks of ``reduce.BLOCK``
whose sums are then added (``_blocked_source``: a running float64 sum of 10^7 values drifted by
~5e-12). Column sums add ``reduce.COL_BLOCK`` rows per accumulator in the output dtype (the vectorized
loop), then move those sums into float64 ones: a running float32 column sum (numpy's order) was off
by 8e-4 relative at 140 K rows. A float32 column sum that comes out inf or NaN runs again with every
value added in float64 (``_columns``): a block can overflow where the float64 sum does not.
The body itself is computed by a function of its own without fast-math (``body_function``): only
the accumulators are reassociated.
Other reductions (max, min, prod, logsumexp), other axis sets, and loops whose rows are fixed by a
broadcast input of another length keep the scratch-then-reduce path (``elementwise.LoopKernel.bind``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads

from graphc.ops.reduce import Mean, Sum
from graphc.runtime.cpu.reduce import BLOCK, COL_BLOCK
from graphc.runtime.cpu.threads import THREAD_WORK, split

KINDS = ("all", "cols", "rows")


def reduction_layout(op, shape: tuple[int, ...], inner: int) -> tuple[str, int, int, int] | None:
    """``(kind, rows, cols, repeat)`` for reducing ``shape`` in the loop, or None where it does not fit.

    ``inner`` is the row length the inputs impose on the loop (``elementwise.read_pattern``; 0 if
    none). For ``cols`` the kept part may be ``repeat`` loop rows long: accumulator ``(r % repeat) *
    cols + c`` (a bias over NCHW: rows of H*W, C of them per image)."""
    if type(op) not in (Sum, Mean) or not shape:
        return None
    axes = op.reduced_axes(len(shape))
    size = math.prod(shape)
    if axes == tuple(range(len(shape))):
        return ("all", size // inner, inner, 1) if inner else ("all", 1, size, 1)
    split = len(axes)
    if axes == tuple(range(split)):  # leading axes: keep the trailing ones
        kept = math.prod(shape[split:])
        if not kept or (inner and kept % inner):
            return None
        cols = inner or kept
        return "cols", size // cols, cols, kept // cols
    if axes == tuple(range(len(shape) - split, len(shape))):  # trailing axes: keep the leading ones
        reduced = math.prod(shape[len(shape) - split :])
        return ("rows", size // reduced, reduced, 1) if inner in (0, reduced) and reduced else None
    return None


def accumulator_dtype(kind: str, out_dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if kind != "cols" and out_dtype == np.float32 else np.dtype(out_dtype)


def reduce_loop_source(header: str, body, pattern: str, j: int, kind: str, mean: bool) -> str:
    """``kernel(inputs..., outputs except slot j..., red, rows, cols, repeat, count, zero)``: the
    body's loop with output slot ``j`` accumulated into ``red`` (flat: the reduction's output, C order).
    A column sum takes one more argument, ``total``: float64 scratch of red's size (``column_scratch``)."""
    from graphc.runtime.cpu.elementwise import loop_reads, row_reads  # noqa: PLC0415 - its caller's module

    ins = [f"a{i}" for i in range(body.n_inputs)]
    outs = [f"o{k}" for k in range(len(body.outputs)) if k != j]
    scratch = ["total"] if kind == "cols" else []
    params = ", ".join([*ins, *outs, "red", "rows", "cols", "repeat", "count", "zero", *scratch])
    lines = [header, "", "@njit(**OPTIONS)", f"def kernel({params}):"]
    value = f"v{body.outputs[j]}"
    if kind != "cols" and body.dtypes[body.outputs[j]] == np.float64:
        return _blocked_source(lines, body, pattern, j, kind, mean)
    if kind == "cols":
        return "\n".join([*lines, *_columns(body, pattern, j, value, mean), *body_function(body)]) + "\n"
    if kind == "all":
        lines.append("    acc = zero")
    lines += ["    for r in range(rows):", *row_reads(pattern, "        ")]
    if kind == "rows":
        lines.append("        acc = zero")
    lines += [
        "        for c in range(cols):",
        "            i = r * cols + c",
        *loop_reads(pattern, "            "),
        f"            {body_call(body)}",
        *(f"            o{k}[i] = v{v}" for k, v in enumerate(body.outputs) if k != j),
        f"            acc += {value}",
    ]
    finish = "acc / count" if mean else "acc"
    if kind == "rows":
        lines.append(f"        red[r] = {finish}")
    else:
        lines.append(f"    red[0] = {finish}")
    return "\n".join([*lines, *body_function(body)]) + "\n"


def _columns(body, pattern: str, j: int, value: str, mean: bool) -> list[str]:
    """The column sum's loop: ``block`` rows per accumulator added in the output dtype (the vectorized
    loop), then moved into float64 sums. A float32 sum that comes out inf or NaN runs again with blocks
    of one row, every value added in float64 as the reference adds them: a block of ``COL_BLOCK``
    float32 additions overflows where the float64 sum does not (columns [1.5e38, 1.5e38, -1.5e38]
    doubled: inf, not 3e38). The same loop runs again, rather than a second copy of it, which cost
    LLVM the body's code twice in every column sum (0.3-0.5 s more to the MLP step's cold compile).
    The float64 sums go into ``total``, the caller's scratch: ``np.zeros`` here was three overloads
    that Numba compiled anew in every process (0.14 s of the MLP step's cold start)."""
    from graphc.runtime.cpu.elementwise import loop_reads, row_reads  # noqa: PLC0415 - its caller's module

    # a mean divides the float64 sum before it is rounded, as the reference: a float32 sum of 300
    # values of 3e36 is inf, their mean is not
    finish = "(total[c] + red[c]) / count" if mean else "total[c] + red[c]"
    loop = [
        "flush = repeat * block",
        "for c in range(red.shape[0]):",
        "    red[c] = zero",
        "    total[c] = 0.0",
        "for r in range(rows):",
        *row_reads(pattern, "    "),
        # a slice per row: ``red[base + c]`` would need Numba's negative-index check, which blocks
        # vectorization (108 us against 20 at 1024x128)
        "    acc_row = red[(r % repeat) * cols : (r % repeat + 1) * cols]",
        "    for c in range(cols):",
        "        i = r * cols + c",
        *loop_reads(pattern, "        "),
        f"        {body_call(body)}",
        *(f"        o{k}[i] = v{v}" for k, v in enumerate(body.outputs) if k != j),
        f"        acc_row[c] += {value}",
        "    if r % flush == flush - 1 and r != rows - 1:  # block adds per accumulator",
        "        for q in range(red.shape[0]):",
        "            total[q] += red[q]",
        "            red[q] = zero",
        "if rows > flush:",
        "    for c in range(red.shape[0]):",
        f"        red[c] = {finish}",
    ]
    if mean:
        loop += ["else:", "    for c in range(red.shape[0]):", "        red[c] /= count"]
    if body.dtypes[body.outputs[j]] == np.float64:
        return [f"    block = {COL_BLOCK}", *(f"    {line}" for line in loop)]
    return [
        f"    block = {COL_BLOCK}",
        "    while True:",
        *(f"        {line}" for line in loop),
        "        again = False",
        "        for c in range(red.shape[0]):",
        "            again = again or not np.isfinite(red[c])",
        "        if block == 1 or not again:",
        "            break",
        "        block = 1  # a float32 block overflowed, or the values hold inf/NaN: every row in float64",
    ]


def _blocked_source(lines: list[str], body, pattern: str, j: int, kind: str, mean: bool) -> str:
    """``reduce_loop_source``'s loop for float64 values over all or trailing axes: the values go into
    ``part``, which is added to ``acc`` every ``reduce.BLOCK`` of them (one block of a long row, or
    as many short rows as fill one), as ``reduce.py``'s row sums do. One running float64 sum of 10^7
    values of 0.2 was 5.6e-12 relative off (numpy's pairwise sum: exact), 6.6e-11 over rows of 10;
    in blocks 8.7e-14. Indices are unsigned: a loop over ``range(start, stop)`` with signed
    ones did not vectorize (Numba's negative-index check), 7x slower; unsigned, as fast as the single
    running sum."""
    from graphc.runtime.cpu.elementwise import loop_reads, row_reads  # noqa: PLC0415 - its caller's module

    # flush: how many rows one part holds: 1 for a row of BLOCK values or more (a part per block) and
    # per row of a "rows" sum; else as many short rows as fill a block
    flush = "1" if kind == "rows" else f"max(1, {BLOCK} // max(cols, 1))"
    lines += [f"    flush = {flush}", "    acc = zero", "    part = zero"]
    lines += ["    for r in range(rows):", *row_reads(pattern, "        ")]
    lines += [
        f"        for b in range((cols + {BLOCK - 1}) // {BLOCK}):",
        f"            for k in range(min({BLOCK}, cols - b * {BLOCK})):",
        f"                c = np.uint64(b * {BLOCK} + k)",
        "                i = np.uint64(r * cols) + c",
        *loop_reads(pattern, "                "),
    ]
    lines.append(f"                {body_call(body)}")
    lines += [f"                o{k}[i] = v{v}" for k, v in enumerate(body.outputs) if k != j]
    lines += [
        f"                part += v{body.outputs[j]}",
        "            if r % flush == flush - 1:",
        "                acc += part",
        "                part = zero",
    ]
    if kind == "rows":
        lines += [f"        red[r] = {'acc / count' if mean else 'acc'}", "        acc = zero"]
    else:
        lines.append(f"    red[0] = {'(acc + part) / count' if mean else 'acc + part'}")
    return "\n".join([*lines, *body_function(body)]) + "\n"


def body_function(body) -> list[str]:
    """Source of ``values(v0, ...)``, the body's outputs from its inputs, compiled without fast-math.
    The accumulating loop needs "reassoc" to vectorize its sums, and Numba applies a function's flags to
    every instruction in it: LLVM then folded the body's own ``(x * 2) * 0.5`` to x, finite where numpy
    overflows to inf. A function of its own keeps numpy's arithmetic (``fastmath=False`` explicitly: a
    callee given no flags is compiled with its caller's); LLVM inlines it, and the loop still vectorizes."""
    args = ", ".join(f"v{i}" for i in range(body.n_inputs))
    returned = ", ".join(f"v{v}" for v in body.outputs)
    return [
        "",
        "",
        '@njit(cache=True, error_model="numpy", fastmath=False, nogil=True)',
        f"def values({args}):",
        *(f"    {line}" for line in body.lines()),
        f"    return ({returned},)",
    ]


def body_call(body) -> str:
    """The statement computing the body's outputs in a loop (``body_function``)."""
    args = ", ".join(f"v{i}" for i in range(body.n_inputs))
    return f"({', '.join(f'v{v}' for v in body.outputs)},) = values({args})"


def sliced(arrays, pattern: str, kinds: str, lo: int, hi: int) -> list:
    """``arrays[lo:hi]`` for the inputs whose read kind (``elementwise.read_pattern``) is in ``kinds``,
    the others whole: one range's inputs of a flat loop split over the threads."""
    return [a[lo:hi] if k in kinds else a for a, k in zip(arrays, pattern, strict=True)]


def splits_columns(kind: str, pattern: str) -> bool:
    """Whether ``SplitColumnSum`` serves this loop: a column sum whose inputs are whole arrays, rows or
    scalars (a value per row, "m", fixes where ranges may start: not split)."""
    return kind == "cols" and "m" not in pattern


def column_scratch(kind: str, red_size: int) -> tuple[np.ndarray, ...]:
    """The scratch a fused reduction kernel of ``kind`` takes after its arguments: a column sum's
    float64 ``total`` of the output's size, else nothing."""
    return (np.empty(red_size, np.float64),) if kind == "cols" else ()


class SplitColumnSum:
    """A column sum cut into one range of rows per thread (``threads.split``), each range a call of the
    serial ``kernel`` into its own row of ``partials`` (threads, red.size), then the partial sums added
    in range order. Called as the kernel is. Ranges start on a multiple of ``repeat`` so that each
    range's row r accumulates where the whole loop's row would. A mean's partials are each divided by
    the full count already.

    Where a sum comes out inf or NaN, the whole sum runs again as one range: the partial sums are in
    the output's float32, so a range's sum beyond its largest was inf, the next range's -inf, and their
    total NaN where the reference, adding in float64, gives inf (or a finite sum, where a third range
    brings it back). One range adds such a column again in float64 (``_columns``). Float64
    partial sums instead cost the float32 loop its vector width ((8192, 128) sums measured 1.3-1.5x)."""

    def __init__(self, kernel, pattern: str, partials: np.ndarray):
        self.kernel, self.pattern, self.partials = kernel, pattern, partials
        self.totals = np.empty(partials.shape, np.float64)  # each range's float64 sums (``_columns``)

    def __call__(self, *arrays):
        *arrays, red, rows, cols, repeat, count, zero, total = arrays
        n_in, kernel, partials, totals = len(self.pattern), self.kernel, self.partials, self.totals
        if get_num_threads() > partials.shape[0]:
            # more threads than when the plan was bound (``numba.set_num_threads``): ``split`` may use
            # them all, and range t writes row t
            partials = self.partials = np.empty((get_num_threads(), partials.shape[1]), partials.dtype)
            totals = self.totals = np.empty(partials.shape, np.float64)
        ins, outs = arrays[:n_in], arrays[n_in:]

        def part(t, lo, hi):
            r0, r1 = lo * repeat * cols, hi * repeat * cols
            ranged = [*sliced(ins, self.pattern, "a", r0, r1), *(o[r0:r1] for o in outs), partials[t]]
            kernel(*ranged, (hi - lo) * repeat, cols, repeat, count, zero, totals[t])

        units = rows // repeat
        used = split(part, units, units * THREAD_WORK, False, lambda t: (t,))
        # quietly, as the reference device and the compiled loops: partial sums whose total overflows
        # to inf made numpy warn "overflow encountered in reduce", a RunError under
        # ``warnings.simplefilter("error")`` where the reference gives inf
        with np.errstate(all="ignore"):
            np.sum(partials[:used], axis=0, out=red)
        if used > 1 and not np.isfinite(red).all():
            kernel(*ins, *outs, red, rows, cols, repeat, count, zero, total)


def trailing_size(name: str, shape: tuple, size: int) -> str:
    """An expression for ``size``, the product of ``shape``'s last dims, read from the shape of the
    array ``name`` (of ``shape`` in this plan) at run time. A segment's source then holds no dim that
    the feeds may change: an unknown last axis (a sequence length) compiled a new segment per length."""
    for first in range(len(shape) - 1, -1, -1):  # the fewest dims whose product it is
        if math.prod(shape[first:]) == size:
            dims = [f"{name}.shape[{d}]" for d in range(first, len(shape))]
            return dims[0] if len(dims) == 1 else f"({' * '.join(dims)})"
    return str(size)


def segment_args(pattern: str, j: int, cols: int, repeat: int, count, zero, kind: str, inner: int, shape):
    """The in-loop reduction kernel's arguments inside a segment, the same for every size of the
    feeds' unknown dims: the loop's rows and columns, the repeat and the mean's count are read from
    the sizes and shapes of a full-size input (of the loop's ``shape``) and of the output."""
    full = pattern.index("a")
    dtype, acc = np.dtype(type(count)).name, np.dtype(type(zero)).name

    def args(ins: list[str], outs: list[str]) -> list[str]:
        size, red = f"{ins[full]}.size", f"{outs[j]}.size"
        read = [f"{a}.reshape(-1)" + ("[0]" if k == "s" else "") for a, k in zip(ins, pattern, strict=True)]
        others = [f"{o}.reshape(-1)" for k, o in enumerate(outs) if k != j]
        repeats = "1"
        if kind == "all" and not inner:
            bounds = ["1", size]  # one row of every element
        elif kind == "rows":  # one row per output element
            bounds = [red, f"({size} // {red})"]
        elif kind == "cols" and not inner:  # one accumulator per output element
            bounds = [f"{size} // {red}", red]
        else:
            width = trailing_size(ins[full], shape, cols)
            bounds = [f"{size} // {width}", width]
            if kind == "cols":  # the output holds ``repeat`` rows of accumulators
                repeats = f"{red} // {width}"
        counts = {"all": size, "cols": f"{size} // {red}", "rows": bounds[1]}
        tail = [repeats, f"np.{dtype}({counts[kind]})", f"np.{acc}(0)"]
        return [*read, *others, f"{outs[j]}.reshape(-1)", *bounds, *tail]

    return args
