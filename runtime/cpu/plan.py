"""A CPU executable's runs for one input-shape signature: buffers allocated once, kernels bound once.

The first run with a new set of feed shapes builds a ``RunPlan``: every tensor's concrete shape (the
re-inference of ``plan_memory``), the arena that ``plan_memory`` plans for the intermediates, each
kernel bound to its shapes (``Kernel.bind``), and one generated Python function running the schedule
with those buffers. Later runs with the same shapes reuse all of it: no allocation for intermediates
(fresh large arrays cost page faults: 400 KB outputs made a 60 us loop take 190-260 us,
bench/NOTES.md) and no per-call shape logic in the kernels.

Where each value produced by a bound kernel lives:

- arena: intermediates, views into ``plan_memory``'s buffers, overwritten by the next run;
- pooled: program outputs (fetched values, new variable values) leave the run, so each comes from a
  small pool of arrays, and an array is reused only when nothing outside the pool refers to it any
  more (``sys.getrefcount``): a variable's value from two steps ago, a fetched array the user dropped.
  New variable values are thus double-buffered rather than written into the variable's storage (the
  ``in_place`` of ``plan_memory``), so a run that fails leaves every variable as it was;
- fresh: values read by a numpy kernel (numpy may return a view of an input) or a stateful op (a
  variable keeps the array) get a new array every run, as on the allocating path. Numba kernels that
  are not bound (convolutions, pooling) return new arrays and keep nothing: they read the arena.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from graphc.ir.errors import RunError
from graphc.ir.graph import Node, Tensor
from graphc.ops.fused import FusedOp
from graphc.passes.memory import plan_memory
from graphc.runtime.cpu import compile_ahead, threads
from graphc.runtime.cpu.cache import source_of
from graphc.runtime.cpu.compile_ahead import predicted_types
from graphc.runtime.cpu.pairs import find_pairs
from graphc.runtime.cpu.segment import entry_point_after_first_call, segment_function

#: arrays kept per pooled output: two cover a double-buffered variable, one more a fetched value held
POOL_SIZE = 3
#: the most kernel calls one generated segment makes. Numba's compile of a segment grows faster than
#: its length (typing and lowering every call's array arguments, then LLVM over the inlined kernel
#: loops): 100 scalar updates in one segment took 9.6 s, 64 took 4.5 s, 16 took 0.45-0.8 s (28-51 ms a
#: call, the least per call measured; 8 calls 64 ms a call, 48 calls 69-84 ms). The bench workloads'
#: segments have at most 8 calls (bench/NOTES.md, "Long segments").
MAX_SEGMENT_CALLS = 16


def _refs_of_a_free_array() -> int:
    """What ``sys.getrefcount`` reads for a pooled array nothing else holds, in a loop over the pool's
    list as ``OutputPool.get`` runs it: 3 on CPython 3.10-3.13 (the list, the loop variable, the call's
    argument). An interpreter that borrows the loop variable's reference reads one less (CPython 3.14's
    stack references), and a fixed 3 would then hand out an array the user still holds."""
    arrays = [np.empty(1)]
    for a in arrays:
        return sys.getrefcount(a)
    raise AssertionError("unreachable")


#: the reference count of a pooled array that only the pool holds (counted as ``get`` counts it)
FREE_REFS = _refs_of_a_free_array()


class OutputPool:
    """Arrays of one program output's shape; ``get()`` returns one nothing else refers to."""

    __slots__ = ("shape", "dtype", "arrays")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.shape, self.dtype, self.arrays = shape, dtype, []

    def get(self) -> np.ndarray:
        for a in self.arrays:
            if sys.getrefcount(a) == FREE_REFS:  # held by the pool's list alone
                if not a.flags.writeable:
                    a.flags.writeable = True  # it was a variable's value: the session marks them read-only
                return a
        a = np.empty(self.shape, self.dtype)
        if len(self.arrays) < POOL_SIZE:
            self.arrays.append(a)
        return a


class RunPlan:
    """The bound schedule for one input-shape signature; ``driver(*feeds, state)`` runs it."""

    def __init__(self, executable, shapes: tuple[tuple[int, ...], ...]):
        program = executable.program_graph
        plan = plan_memory(program, shapes)
        self.memory = plan
        types = plan.types
        outputs = set(program.outputs)
        steps: dict[Node, object] = {}
        for node in executable.schedule:
            kernel = executable.kernels.get(node.name)
            bind = kernel.bind if kernel is not None else None
            in_shapes = [types[t].shape for t in node.inputs]
            out_shapes = [types[t].shape for t in node.outputs]
            if bind is None or any(None in s for s in in_shapes + out_shapes):
                continue
            step = bind(in_shapes, out_shapes)
            if step is not None:
                steps[node] = step
        # values that may outlive the run: read by a node that may keep them (a stateful op, or a
        # numpy kernel: numpy may hand back a view), or the source of a view that does (views of arena
        # buffers would see the next run's numbers); Numba kernels that are not bound (conv, pooling)
        # read their inputs and return new arrays, so arena inputs are safe for them
        escape = {
            t
            for node in executable.schedule
            if node not in steps and not node.op.view_of_input and _may_keep_inputs(node, executable.kernels)
            for t in node.inputs
        }
        escape |= outputs
        roots = _view_roots(executable.schedule)
        escape |= {roots[t] for t in escape if t in roots}
        buffers = [_allocate(plan, i) for i in range(len(plan.buffers))]
        self.placement: dict[Tensor, object] = {}
        for node in steps:
            for t in node.outputs:
                shape, dtype = types[t].shape, types[t].dtype
                if t in outputs:
                    self.placement[t] = OutputPool(shape, dtype)
                elif t in escape or t not in plan.assignment:
                    self.placement[t] = (shape, dtype)  # fresh every run
                else:
                    nbytes = plan.sizes[t]
                    view = buffers[plan.assignment[t]][:nbytes].view(dtype).reshape(shape)
                    self.placement[t] = view
        self.steps = steps
        self.arena_bytes = sum(b.nbytes for b in buffers)
        #: (dict, key) of each direct-path entry running this plan's driver (``CpuExecutable.direct``),
        #: removed when the executable drops the plan
        self.direct_entries: list[tuple[dict, object]] = []
        self.segment_sources: dict[str, str] = {}
        # what a compile-ahead helper would need: predicted only where one may start
        jobs: list | None = [] if compile_ahead.enabled() else None
        self.source, self.driver = generate_driver(
            executable.schedule,
            executable.feeds,
            executable.outputs,
            executable.kernels,
            steps,
            self.placement,
            self.segment_sources,
            types,
            jobs,
        )
        #: the helper process compiling this plan's segments during its first run (or None)
        self.ahead = compile_ahead.start(jobs) if jobs else None


def _allocate(plan, index: int) -> np.ndarray:
    """Arena buffer ``index`` (64-byte multiples); one that cannot be allocated raises a RunError naming
    the largest tensor it holds, where numpy's bare MemoryError or "Maximum allowed dimension exceeded"
    named nothing."""
    size = plan.buffers[index]
    try:
        return np.empty(-(-size // 64) * 64, np.uint8)
    except (MemoryError, ValueError) as e:
        held = [t for t, i in plan.assignment.items() if i == index]
        t = max(held, key=lambda t: plan.sizes[t])
        # a fused node's value is named by the user's node that computes it (``FusedOp.origin``): a
        # fused exp(x * y) named 'big_fused' (FusedOp), a node the user never made, not their 'big'
        origin = t.node.op.origin(t.index) if isinstance(t.node.op, FusedOp) else None
        raise RunError(
            f"cannot allocate {size / 2**30:.2f} GiB of CPU memory for "
            f"{t.name if origin is None else 'its value'} of {plan.types[t]} "
            f"at these input shapes ({type(e).__name__}: {e})",
            origin or t.node.where,
        ) from None


def _may_keep_inputs(node: Node, kernels) -> bool:
    """Whether ``node``'s run may keep a reference to an input beyond the call: stateful ops (a
    variable takes the array) and numpy-served kernels (numpy may return a view of an input)."""
    kernel = kernels.get(node.name)
    return node.op.stateful or kernel is None or kernel.name.startswith("numpy[")


def _view_roots(schedule) -> dict[Tensor, Tensor]:
    """For each output of a view op, the tensor whose storage it may share."""
    roots: dict[Tensor, Tensor] = {}
    for node in schedule:
        if node.op.view_of_input and node.inputs:
            for t in node.outputs:
                roots[t] = roots.get(node.inputs[0], node.inputs[0])
    return roots


def _hoistable(node: Node) -> bool:
    """Nodes a segment may read before it starts: variable reads and constants (no inputs, and no
    stateful node runs inside a segment, so reading earlier sees the same value)."""
    return not node.inputs and (type(node.op).__name__ in ("ReadVariable", "Constant"))


def _segments(schedule, steps) -> dict[Node, list[Node]]:
    """First node -> the nodes of each segment: consecutive steps with an ``njit`` form (hoistable
    nodes between them included) where at least two such steps run together, at most
    ``MAX_SEGMENT_CALLS`` of them in one segment."""
    found: dict[Node, list[Node]] = {}
    current: list[Node] = []
    calls = 0

    def flush():
        nonlocal calls
        if calls >= 2:
            found[current[0]] = list(current)
        current.clear()
        calls = 0

    for node in schedule:
        njit = getattr(steps.get(node), "njit", None) is not None
        if njit and calls == MAX_SEGMENT_CALLS:
            flush()
        if njit or (current and _hoistable(node)):
            current.append(node)
            calls += njit
        else:
            flush()
    flush()
    return found


class StepOfThread(threading.local):
    """``step[0]`` of a driver that threads run at once: each thread's own node index."""

    k = 0

    def __getitem__(self, i: int) -> int:
        return self.k

    def __setitem__(self, i: int, k: int) -> None:
        self.k = k


def generate_driver(
    schedule,
    feeds,
    outputs,
    kernels,
    steps=None,
    placement=None,
    segment_sources=None,
    types=None,
    segment_jobs=None,
):
    """The source of ``run(*feeds, state) -> list of output values`` and the function itself.

    Each node is one line or two (``v7 = k3(v2, v5)[0]``, or ``v7 = a3`` then ``s3(v2, v5, v7)`` for a
    bound step writing into its buffer): values live in local variables, the cheapest dispatch Python
    offers (about 0.1 us a step against 1 us for a loop over step records). ``step[0]`` tracks the node
    running, for error messages. Stateful nodes call their op's ``execute`` against the run's state.
    Segments of bound Numba steps (``runtime/cpu/segment.py``) become one call, after a check that the
    arrays from outside the plan's buffers have the layouts the kernels need (else the steps run one by
    one). ``segment_sources`` (if given) receives each segment's generated source by name, and
    ``segment_jobs`` what ``compile_ahead.start`` needs of each segment whose argument types are
    known.
    """
    writer = _DriverWriter(schedule, feeds, kernels, steps or {}, placement or {}, shared=types is None)
    writer.types, writer.jobs = types, segment_jobs
    segments = _segments(schedule, writer.steps) if writer.steps else {}
    pairs = {}
    if types:  # a run plan's driver: shapes are known
        segment_nodes = {n for nodes in segments.values() for n in nodes}
        roots = _view_roots(schedule)
        pairs = find_pairs(schedule, writer.steps, kernels, writer.placement, types, segment_nodes, roots)
    in_segment: set[Node] = set()
    done: set[Node] = set()
    for node in schedule:
        writer.name_outputs(node)
        if node in in_segment or node in done:
            continue
        if node in pairs:
            views, second = pairs[node]
            for n in [*views, second]:
                writer.name_outputs(n)
            for view in views:
                writer.node(view)
            writer.pair(node, second)
            done.update((*views, second))
            continue
        nodes = segments.get(node)
        if nodes is None:
            writer.node(node)
            continue
        in_segment.update(nodes)
        name, source = writer.segment(nodes)
        if segment_sources is not None:
            segment_sources[name] = source
    return writer.finish(outputs)


class _DriverWriter:
    """Writes the driver's lines and collects what they refer to (``env``)."""

    def __init__(self, schedule, feeds, kernels, steps, placement, shared: bool = False):
        self.kernels, self.steps, self.placement = kernels, steps, placement
        self.names: dict[Tensor, str] = {t: f"v{i}" for i, t in enumerate(feeds)}
        # a plan's driver runs in one thread at a time (its token); the allocating driver in any number
        step = StepOfThread() if shared else [0]

        def read(state, k: int, name: str):
            """A variable's first read in a run (no value yet, or an unknown name: the error names
            node ``k``)."""
            step[0] = k
            return state.read(name)

        self.env: dict[str, object] = {"empty": np.empty, "step": step, "read": read}
        self.position = {node: k for k, node in enumerate(schedule)}
        self.types, self.jobs = None, None  # a run plan's (``generate_driver``)
        params = ", ".join(self.names[t] for t in feeds)
        self.lines = [f"def run({params + ', ' if feeds else ''}state):", "    sv = state.values"]

    def name_outputs(self, node) -> None:
        for t in node.outputs:
            self.names.setdefault(t, f"v{len(self.names)}")

    def args(self, node, outputs: bool = False) -> str:
        values = [*node.inputs, *node.outputs] if outputs else node.inputs
        return ", ".join(self.names[t] for t in values)

    def node(self, node, indent: str = "    ") -> None:
        k, lines = self.position[node], self.lines
        op_name = type(node.op).__name__
        if op_name == "ReadVariable":  # the commonest stateful step: a dict lookup
            var, out = node.op.var_name, self.names[node.outputs[0]]
            lines.append(f"{indent}{out} = sv[{var!r}] if {var!r} in sv else read(state, {k}, {var!r})")
            return
        if op_name == "Constant":  # its kernel would return this very array
            self.env[f"c{k}"] = node.op.value
            lines.append(f"{indent}{self.names[node.outputs[0]]} = c{k}")
            return
        lines.append(f"{indent}step[0] = {k}")
        if node in self.steps:
            self.buffers(node, indent)
            self.env[f"s{k}"] = self.steps[node]
            lines.append(f"{indent}s{k}({self.args(node, outputs=True)})")
            return
        if node.op.stateful:
            self.env[f"n{k}"] = node
            comma = "," if len(node.inputs) == 1 else ""
            call = f"n{k}.op.execute(n{k}, state, ({self.args(node)}{comma}))"
        else:
            self.env[f"k{k}"] = self.kernels[node.name].fn
            call = f"k{k}({self.args(node)})"
        if len(node.outputs) == 1:
            lines.append(f"{indent}{self.names[node.outputs[0]]} = {call}[0]")
        elif node.outputs:
            lines.append(f"{indent}{', '.join(self.names[t] for t in node.outputs)}, = {call}")
        else:
            lines.append(f"{indent}{call}")

    def pair(self, first, second) -> None:
        """Lines running two independent kernels at once (``threads.run_pair``)."""
        k1, k2 = self.position[first], self.position[second]
        self.env["pair"] = threads.run_pair
        self.lines.append(f"    step[0] = {k1}")
        calls = []
        for n in (first, second):
            k = self.position[n]
            if n in self.steps:
                self.buffers(n, "    ")
                self.env[f"s{k}"] = self.steps[n]
                calls.append(f"s{k}, ({self.args(n, outputs=True)},)")
            else:
                self.env[f"k{k}"] = self.kernels[n.name].fn
                calls.append(f"k{k}, ({self.args(n)},)")
        self.lines.append(f"    r{k1}, r{k2} = pair({calls[0]}, {calls[1]}, step, {k2})")
        for n in (first, second):
            if n not in self.steps and n.outputs:
                names = ", ".join(self.names[t] for t in n.outputs)
                self.lines.append(f"    {names}, = r{self.position[n]}")

    def buffers(self, node, indent: str) -> None:
        """Lines giving a bound step's outputs their arrays: arena views, pooled or fresh arrays."""
        k = self.position[node]
        for j, t in enumerate(node.outputs):
            where, ref, name = self.placement[t], f"b{k}_{j}", self.names[t]
            if isinstance(where, OutputPool):
                self.env[ref] = where.get
                self.lines.append(f"{indent}{name} = {ref}()")
            elif isinstance(where, tuple):
                self.env[f"{ref}s"], self.env[f"{ref}d"] = where
                self.lines.append(f"{indent}{name} = empty({ref}s, {ref}d)")
            else:
                self.env[ref] = where
                self.lines.append(f"{indent}{name} = {ref}")

    def segment(self, nodes) -> tuple[str, str]:
        """Lines running ``nodes`` as one segment; returns its name and generated source."""
        for n in nodes:
            self.name_outputs(n)
        bound = [n for n in nodes if n in self.steps]
        for n in nodes:
            if n not in self.steps:
                self.node(n)  # hoisted: variable reads and constants
        self.lines.append(f"    step[0] = {self.position[bound[0]]}")
        for n in bound:
            self.buffers(n, "    ")
        names = self.names
        params = list(dict.fromkeys(names[t] for n in bound for t in [*n.inputs, *n.outputs]))
        calls = [self.steps[n].njit for n in bound]
        ins = [[names[t] for t in n.inputs] for n in bound]
        outs = [[names[t] for t in n.outputs] for n in bound]
        scratch = []
        for n, call in zip(bound, calls, strict=True):
            scratch.append([f"t{self.position[n]}_{i}" for i in range(len(call.scratch))])
            self.env.update(zip(scratch[-1], call.scratch, strict=True))
        params += [name for names in scratch for name in names]
        k = self.position[bound[0]]
        name, entry = f"g{k}", f"entry{k}"
        source, self.env[name] = segment_function(calls, ins, outs, params, scratch)
        if self.jobs is not None and self.types:
            self.segment_job(source, self.env[name], params, calls)
        self.env[entry] = entry_point_after_first_call(self.env[name], self.env, entry)
        args = ", ".join(params)
        # the entry point runs the machine code without Numba's type dispatch (~0.5 us at 13
        # arguments), so it is taken only where the types cannot differ from the call that found it:
        # arrays from outside the plan C-contiguous (dtypes and shapes are the plan's, the plan's own
        # arrays and variable values always C-contiguous); other layouts go through the dispatcher
        outside = self.outside_inputs(bound)
        exact, checks = self.c_checks(outside, params), self.layout_checks(outside)
        branches = [] if exact is None else [(exact, entry)]
        if exact is None or checks != exact:  # layouts the kernels take that the entry was not made for
            branches.append((checks, name))
        for i, (conditions, fn) in enumerate(branches):
            if not conditions:
                self.lines += [f"    {fn}({args})"] if i == 0 else ["    else:", f"        {fn}({args})"]
                return name, source
            self.lines += [
                f"    {'elif' if i else 'if'} {' and '.join(conditions)}:",
                f"        {fn}({args})",
            ]
        self.lines.append("    else:")
        for n in bound:
            k = self.position[n]
            self.env[f"s{k}"] = self.steps[n]
            self.lines += [f"        step[0] = {k}", f"        s{k}({self.args(n, outputs=True)})"]
        return name, source

    def outside_inputs(self, bound) -> list[tuple[Tensor, str]]:
        """(tensor, the layout its kernel needs) for each input a segment reads from outside the
        plan's buffers: feeds, other kernels' results, constants. Variable values are always
        C-contiguous, so they are not among them."""
        made_inside = {t for n in bound for t in n.outputs}
        return [
            (t, layout)
            for n in bound
            for t, layout in zip(n.inputs, self.steps[n].njit.layouts, strict=True)
            if t not in made_inside and t not in self.placement and type(t.node.op).__name__ != "ReadVariable"
        ]

    def c_checks(self, outside, params) -> list[str] | None:
        """Conditions that every array of ``outside`` is C-contiguous, or None where a constant is not
        (a constant is the same array every run: it is checked here, once)."""
        names = set()
        for t, _ in outside:
            if type(t.node.op).__name__ != "Constant":
                names.add(self.names[t])
            elif not t.node.op.value.flags.c_contiguous:
                return None
        return [f"{v}.flags.c_contiguous" for v in params if v in names]

    def layout_checks(self, outside) -> list[str]:
        """Conditions that the arrays of ``outside`` have the layouts their kernels need."""
        needs: dict[str, str] = {}
        for t, layout in outside:
            if layout:
                name = self.names[t]
                needs[name] = "C" if layout == "C" or needs.get(name) == "C" else "CF"
        return [
            f"{v}.flags.c_contiguous" if lay == "C" else f"({v}.flags.c_contiguous or {v}.flags.f_contiguous)"
            for v, lay in needs.items()
        ]

    def segment_job(self, source: str, dispatcher, params: list[str], calls) -> None:
        """What ``compile_ahead`` needs to compile this segment as the first run will call it: its
        argument types (predicted) and the sources of the generated modules it imports."""
        tensor_of = {name: t for t, name in self.names.items()}
        argtypes = predicted_types(params, tensor_of, self.env, self.types)
        if argtypes is not None:
            modules = dict.fromkeys(call.fn.py_func.__module__ for call in calls)
            imports = [text for text in map(source_of, modules) if text is not None]
            self.jobs.append((source, dispatcher, argtypes, imports))

    def finish(self, outputs):
        self.lines.append(f"    return [{', '.join(self.names[t] for t in outputs)}]")
        source = "\n".join(self.lines) + "\n"
        exec(compile(source, "<graphc cpu driver>", "exec"), self.env)  # noqa: S102 - our own generated code
        return source, self.env["run"]
