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

import numpy as np

from graphc.ir.graph import Node, Tensor
from graphc.passes.memory import plan_memory
from graphc.runtime.cpu.segment import segment_function

#: arrays kept per pooled output: two cover a double-buffered variable, one more a fetched value held
POOL_SIZE = 3


class OutputPool:
    """Arrays of one program output's shape; ``get()`` returns one nothing else refers to."""

    __slots__ = ("shape", "dtype", "arrays")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.shape, self.dtype, self.arrays = shape, dtype, []

    def get(self) -> np.ndarray:
        for a in self.arrays:
            if sys.getrefcount(a) == 3:  # the pool's list, the loop variable and the call's argument
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
        buffers = [np.empty(-(-size // 64) * 64, np.uint8) for size in plan.buffers]
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
        self.segment_sources: dict[str, str] = {}
        self.source, self.driver = generate_driver(
            executable.schedule,
            executable.feeds,
            executable.outputs,
            executable.kernels,
            steps,
            self.placement,
            self.segment_sources,
        )


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
    nodes between them included) where at least two such steps run together."""
    found: dict[Node, list[Node]] = {}
    current: list[Node] = []

    def flush():
        if sum(1 for n in current if n in steps) >= 2:
            found[current[0]] = list(current)
        current.clear()

    for node in schedule:
        if getattr(steps.get(node), "njit", None) is not None or (current and _hoistable(node)):
            current.append(node)
        else:
            flush()
    flush()
    return found


def generate_driver(schedule, feeds, outputs, kernels, steps=None, placement=None, segment_sources=None):
    """The source of ``run(*feeds, state) -> list of output values`` and the function itself.

    Each node is one line or two (``v7 = k3(v2, v5)[0]``, or ``v7 = a3`` then ``s3(v2, v5, v7)`` for a
    bound step writing into its buffer): values live in local variables, the cheapest dispatch Python
    offers (about 0.1 us a step against 1 us for a loop over step records). ``step[0]`` tracks the node
    running, for error messages. Stateful nodes call their op's ``execute`` against the run's state.
    Segments of bound Numba steps (``runtime/cpu/segment.py``) become one call, after a check that the
    arrays from outside the plan's buffers have the layouts the kernels need (else the steps run one by
    one). ``segment_sources`` (if given) receives each segment's generated source by name.
    """
    steps = steps or {}
    placement = placement or {}
    names: dict[Tensor, str] = {t: f"v{i}" for i, t in enumerate(feeds)}
    env: dict[str, object] = {"empty": np.empty}
    lines = [
        f"def run({', '.join(names[t] for t in feeds) + ', ' if feeds else ''}state):",
        "    sv = state.values",
    ]
    position = {node: k for k, node in enumerate(schedule)}
    segments = _segments(schedule, steps) if steps else {}
    in_segment: set[Node] = set()

    def name_outputs(node):
        for t in node.outputs:
            names.setdefault(t, f"v{len(names)}")

    def emit(node, indent="    "):
        k = position[node]
        args = ", ".join(names[t] for t in node.inputs)
        lines.append(f"{indent}step[0] = {k}")
        if node in steps:
            emit_buffers(node, indent)
            env[f"s{k}"] = steps[node]
            lines.append(f"{indent}s{k}({', '.join(names[t] for t in node.inputs + node.outputs)})")
            return
        if type(node.op).__name__ == "ReadVariable":  # the commonest stateful step: a dict lookup
            var = node.op.var_name
            lines.append(
                f"{indent}{names[node.outputs[0]]} = sv[{var!r}] if {var!r} in sv else state.read({var!r})"
            )
            return
        elif node.op.stateful:
            env[f"n{k}"] = node
            call = f"n{k}.op.execute(n{k}, state, ({args}{',' if len(node.inputs) == 1 else ''}))"
        else:
            env[f"k{k}"] = kernels[node.name].fn
            call = f"k{k}({args})"
        if len(node.outputs) == 1:
            lines.append(f"{indent}{names[node.outputs[0]]} = {call}[0]")
        elif node.outputs:
            lines.append(f"{indent}{', '.join(names[t] for t in node.outputs)}, = {call}")
        else:
            lines.append(f"{indent}{call}")

    def emit_buffers(node, indent):
        k = position[node]
        for j, t in enumerate(node.outputs):
            where, ref = placement[t], f"b{k}_{j}"
            if isinstance(where, OutputPool):
                env[ref] = where.get
                lines.append(f"{indent}{names[t]} = {ref}()")
            elif isinstance(where, tuple):
                env[f"{ref}s"], env[f"{ref}d"] = where
                lines.append(f"{indent}{names[t]} = empty({ref}s, {ref}d)")
            else:
                env[ref] = where
                lines.append(f"{indent}{names[t]} = {ref}")

    for node in schedule:
        name_outputs(node)
        if node in in_segment:
            continue
        nodes = segments.get(node)
        if nodes is None:
            emit(node)
            continue
        in_segment.update(nodes)
        for n in nodes:
            name_outputs(n)
        hoisted = [n for n in nodes if n not in steps]
        bound = [n for n in nodes if n in steps]
        for n in hoisted:
            emit(n)
        lines.append(f"    step[0] = {position[bound[0]]}")
        for n in bound:
            emit_buffers(n, "    ")
        made_inside = {t for n in bound for t in n.outputs}
        needs: dict[str, str] = {}
        for n in bound:
            for t, layout in zip(n.inputs, steps[n].njit.layouts, strict=True):
                from_state = type(t.node.op).__name__ == "ReadVariable"  # always C-contiguous
                if t not in made_inside and t not in placement and layout and not from_state:
                    needs[names[t]] = "C" if layout == "C" or needs.get(names[t]) == "C" else "CF"
        checks = [
            f"{v}.flags.c_contiguous" if lay == "C" else f"({v}.flags.c_contiguous or {v}.flags.f_contiguous)"
            for v, lay in needs.items()
        ]
        params = list(dict.fromkeys(names[t] for n in bound for t in n.inputs + n.outputs))
        calls = [steps[n].njit for n in bound]
        ins = [[names[t] for t in n.inputs] for n in bound]
        outs = [[names[t] for t in n.outputs] for n in bound]
        seg = f"g{position[bound[0]]}"
        source, env[seg] = segment_function(calls, ins, outs, params)
        if segment_sources is not None:
            segment_sources[seg] = source
        call = f"{seg}({', '.join(params)})"
        if not checks:
            lines.append(f"    {call}")
            continue
        lines.append(f"    if {' and '.join(checks)}:")
        lines.append(f"        {call}")
        lines.append("    else:")
        for n in bound:
            k = position[n]
            env[f"s{k}"] = steps[n]
            lines.append(f"        step[0] = {k}")
            lines.append(f"        s{k}({', '.join(names[t] for t in n.inputs + n.outputs)})")
    lines.append(f"    return [{', '.join(names[t] for t in outputs)}]")
    source = "\n".join(lines) + "\n"
    env["step"] = [0]
    exec(compile(source, "<graphc cpu driver>", "exec"), env)  # noqa: S102 - our own generated code
    return source, env["run"]
