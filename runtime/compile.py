"""``compile``: turn (fetches, feeds, updates) into an ``Executable`` for a device.

This is the one entry ``Session.run`` and ``graphc.function`` share: extract the program graph (what the
fetches and updates need, fed tensors as placeholders), run the optimization pipeline over it
(``passes/pipeline.py``) unless ``optimize=False``, and hand the result to the device's backend. The
executable keeps every stage for inspection: ``source`` (before the passes), ``program`` (after),
``stats`` (per pass), ``dump()``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.errors import DTypeError, FeedError, GraphcError, GraphMismatchError, ShapeError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.printing import format_graph
from graphc.ops.shape import broadcast_to
from graphc.ops.state import Assign, InitVariables, Variable, _AssignBase
from graphc.passes.manager import PassManager, PassStat, env_flag
from graphc.passes.memory import plan_memory
from graphc.passes.pipeline import PIPELINE
from graphc.passes.program import extract_program
from graphc.runtime.compile_gc import fewer_collections

DEVICES = ("reference", "cpu")


@dataclass
class Executable:
    """A compiled computation: ``run(feed_values, state) -> fetch values`` (``None`` for fetched ops);
    variable updates are written to ``state`` after every fetch and update value was computed.

    Example:
        >>> import numpy as np
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     exe = gc.compile([gc.exp(x) * 2.0 + 1.0], feeds=[x])
        ...     with gc.Session() as sess:  # the session holds the state a run reads and writes
        ...         sess.execute(exe, [np.zeros(2, np.float32)])
        [array([3., 3.], dtype=float32)]
        >>> [n.op.type_name for n in exe.schedule]  # exp, * and + fused into one loop
        ['Constant', 'Constant', 'FusedOp']
    """

    graph: Graph
    feeds: list[Tensor]
    fetches: list[Tensor | Node]
    updates: list[tuple[Variable, Tensor]]
    device: str
    source: Graph
    program: Graph
    stats: list[PassStat] = field(default_factory=list)
    backend: object = None

    def __post_init__(self):
        # a fed tensor fetched (or assigned) as it is: the backend hands back the user's own array
        inputs = set(self.program.inputs)
        self._fed_outputs = tuple(i for i, t in enumerate(self.program.outputs) if t in inputs)
        # a fetch whose program tensor an earlier fetch has too (the same tensor fetched twice, or two
        # that CSE merged): the backend hands both positions one array, which the user may mutate
        fetched = self.program.outputs[: sum(isinstance(f, Tensor) for f in self.fetches)]
        self._repeated_outputs = tuple(
            i for i, t in enumerate(fetched) if t in fetched[:i] and i not in self._fed_outputs
        )
        # fetches are all tensors and nothing is updated: the backend's values are the result as they are
        self._plain = (
            not self.updates
            and all(isinstance(f, Tensor) for f in self.fetches)
            and not self._fed_outputs
            and not self._repeated_outputs
        )

    @property
    def schedule(self) -> list[Node]:
        """The nodes the backend runs, in order (the program's nodes less its fed placeholders)."""
        fed = {t.node for t in self.program.inputs}
        return [n for n in self.program.nodes if n not in fed]

    def run(self, feed_values: list[np.ndarray], state) -> list:
        values = self.backend.run(feed_values, state)
        if self._plain:
            return values
        if self._fed_outputs or self._repeated_outputs:
            values = list(values)
            for i in (*self._fed_outputs, *self._repeated_outputs):
                values[i] = np.array(values[i], copy=True)
        it = iter(values)
        out = [next(it) if isinstance(f, Tensor) else None for f in self.fetches]
        for var, _ in self.updates:
            value = next(it)
            if value.base is not None:  # a view of a fetched value or of a feed: the user holds that memory
                value = value.copy()
            state.write(var.var_name, value)
        return out

    def direct(self, shapes: tuple[tuple[int, ...], ...], drivers: dict, key) -> None:
        """Put in ``drivers[key]`` the backend's ``(driver, tokens, state, fail)`` for runs with feeds
        of these shapes that need no ``RunState`` (fetches only, nothing written;
        ``runtime/direct.py``), if it has one; the backend removes it again when it drops what the
        driver runs (a CPU run plan and its arena)."""
        direct = getattr(self.backend, "direct", None)
        if self._plain and direct is not None:
            direct(shapes, drivers, key)

    def memory_plan(self, input_shapes: Sequence[tuple[int, ...]] | Mapping[Tensor, tuple[int, ...]]):
        """The buffer plan of the optimized program for concrete feed shapes (in ``feeds`` order, or a
        dict from fed tensor to shape): reuse, in-place variable updates, peak bytes against the naive
        sum (``passes/memory.py``)."""
        if isinstance(input_shapes, Mapping):
            missing = [t.name for t in self.feeds if t not in input_shapes]
            if missing:
                raise ValueError(f"memory_plan: no shape given for the fed tensors {', '.join(missing)}")
            input_shapes = [input_shapes[t] for t in self.feeds]  # checked by plan_memory
        n = len(self.updates)
        update_tensors = self.program.outputs[len(self.program.outputs) - n :] if n else ()
        updates = [(var.var_name, t) for (var, _), t in zip(self.updates, update_tensors, strict=True)]
        return plan_memory(self.program, input_shapes, updates)

    def sources(self) -> dict[str, str]:
        """Node name -> the generated source of its kernel (cpu device; empty on the reference)."""
        sources = getattr(self.backend, "sources", None)
        return sources() if sources else {}

    def dump(self) -> str:
        """The per-pass statistics and the optimized program, as text."""
        lines = [f"executable on {self.device}: {len(self.source.nodes)} -> {len(self.program.nodes)} nodes"]
        lines += [f"  {s}" for s in self.stats]
        return "\n".join(lines) + "\n" + format_graph(self.program)


def compile(
    fetches: Sequence[Tensor | Node],
    feeds: Sequence[Tensor] = (),
    updates: Sequence[tuple[Variable, Tensor]] = (),
    device: str = "cpu",
    optimize: bool | None = None,
) -> Executable:
    """Compile ``fetches`` (tensors or ops) given fed tensors ``feeds`` and variable ``updates``.

    Args:
        optimize: run the optimization pipeline (default: on, unless ``GRAPHC_OPTIMIZE=0``); off is
            for debugging: the program then runs exactly as written.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     exe = gc.compile([x * (2.0 * 3.0)], feeds=[x])
        >>> [n.op.type_name for n in exe.schedule]  # 2.0 * 3.0 was folded
        ['Constant', 'Multiply']
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
    check_optimize(optimize)
    if isinstance(updates, Mapping):  # {variable: new value}, as graphc.function takes them
        updates = list(updates.items())
    fetches, feeds = _as_list("fetches", fetches), _as_list("feeds", feeds)
    updates = _as_list("updates", updates)
    _check_items("fetches", fetches, (Tensor, Node), "tensors or ops")
    _check_items("feeds", feeds, Tensor, "tensors")
    for i, t in enumerate(feeds):
        # one program input for both: the reference misread the values, the CPU driver would not compile
        if any(t is u for u in feeds[:i]):
            raise FeedError(
                f"compile feeds list {t.name} twice (feeds {feeds.index(t)} and {i})", t.node.where
            )
    for pair in updates:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], Variable)):
            raise TypeError(f"compile updates must be (graphc.Variable, tensor) pairs, got {pair!r:.60}")
        _check_items("update values", [pair[1]], Tensor, "tensors")
    for i, (var, _) in enumerate(updates):
        # one new value per variable: the run would write both and keep the last silently
        if any(var is other for other, _ in updates[:i]):
            raise ValueError(f"variable {var.var_name!r} is updated twice in one executable")
    with fewer_collections():  # the passes, the backend's import and its kernels allocate a lot
        return _compile(list(fetches), list(feeds), list(updates), device, optimize)


def check_optimize(optimize) -> None:
    """``optimize`` is None, a bool or an int: optimize="false" or "0" (a setting read as a string) is
    truthy, and the pipeline ran where the user had asked for the program as written."""
    if optimize is not None and not isinstance(optimize, (bool, np.bool_, int)):
        raise TypeError(
            f"optimize must be True, False or None, got {type(optimize).__name__} {optimize!r:.40}"
        )


def _as_list(what: str, values) -> list:
    """``values`` as a list; a single tensor or op (list() would say it is not iterable and point at
    graphc.split) or a non-iterable is a TypeError saying what to write."""
    if isinstance(values, (Tensor, Node)) or not isinstance(values, Iterable) or isinstance(values, str):
        raise TypeError(f"compile {what} must be a list, got {type(values).__name__} (write [x] for one)")
    return list(values)


def _check_items(what: str, values: list, kinds, expected: str) -> None:
    for v in values:
        if not isinstance(v, kinds):
            raise TypeError(f"compile {what} must be {expected}, got {type(v).__name__} {v!r:.60}")


def _compile(fetches, feeds, updates, device: str, optimize: bool | None) -> Executable:
    graph = _common_graph(fetches, feeds, updates)
    updates = [(var, _fit_update(var, value)) for var, value in updates]
    outputs = [f for f in fetches if isinstance(f, Tensor)] + [value for _, value in updates]
    targets = [f for f in fetches if isinstance(f, Node)]
    source = extract_program(graph, outputs, targets, feeds)
    _check_variables(source, graph)
    _check_updates_not_assigned(source, updates)
    if optimize is None:
        optimize = env_flag("GRAPHC_OPTIMIZE", True)
    dump_dir = _dump_dir(fetches, updates)
    # no passes when not optimizing, but the manager still dumps the program that runs (00-input)
    manager = PassManager(PIPELINE if optimize else (), dump_dir=dump_dir or "")
    program, stats = manager.run(source)
    exe = Executable(graph, feeds, fetches, updates, device, source, program, stats)
    backend = _backend(device)
    inputs, outputs = list(program.inputs), list(program.outputs)
    if device == "cpu":
        exe.backend = backend(exe.schedule, inputs, outputs, program=program)
        exe.backend.dump_dir = dump_dir  # run plans write their drivers and segments there too
    else:
        exe.backend = backend(exe.schedule, inputs, outputs)
    if dump_dir:
        _dump_sources(dump_dir, exe)
    return exe


_dumps = itertools.count(1)
#: the characters of the first fetch's name a dump folder keeps (its number tells folders apart)
MAX_DUMP_NAME = 80


def _dump_dir(fetches, updates) -> str | None:
    """Under ``GRAPHC_DUMP``, a new folder for this compile (``NNN-name``, named by its first fetch or
    update), so that each executable's passes and kernels can be read apart; None when not dumping."""
    root = os.environ.get("GRAPHC_DUMP")
    if not root:
        return None
    # absolute now: run plans write into the folder later, when the working directory may differ
    root = os.path.abspath(root)
    first = [*fetches, *(value for _, value in updates)][:1]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", first[0].name if first else "program").strip("_") or "program"
    name = name[:MAX_DUMP_NAME]  # deep name scopes made names past the file system's 255 bytes
    while True:
        path = os.path.join(root, f"{next(_dumps):03d}-{name}")
        try:
            os.makedirs(path)  # not exist_ok: another process may dump into the same root
            return path
        except FileExistsError:
            continue
        except OSError as e:  # a file where the folder should be, no permission: say which setting
            raise OSError(
                e.errno,
                f"GRAPHC_DUMP={root} cannot hold dumps: {e.strerror or e} ({path}); point it at a "
                "writable directory, or unset it",
            ) from None


def _backend(device: str):
    if device == "cpu":
        from graphc.runtime.cpu import CpuExecutable

        return CpuExecutable
    from graphc.runtime.reference import ReferenceExecutable

    return ReferenceExecutable


def _dump_sources(directory: str, exe: Executable) -> None:
    """Write the generated kernel source of each node next to the per-pass dumps."""
    sources = exe.sources()
    if sources:
        from graphc.runtime.cpu.cache import write_sources

        write_sources(os.path.join(directory, "kernels"), sources)


def _check_variables(program: Graph, graph: Graph) -> None:
    """Each variable read and assignment of ``program`` has its variable's type (the ops'
    ``check_variable``); an unknown variable is left to the run, which names it."""
    for node in program.nodes:
        check = getattr(node.op, "check_variable", None)
        var = graph.variables.get(node.op.var_name) if check is not None else None
        if var is not None:
            try:
                check(node, var.type)
            except GraphcError as e:
                raise e.with_context(node.where) from None


def _check_updates_not_assigned(program: Graph, updates) -> None:
    """No variable the updates write is also written by a state op the program runs (a fetched
    ``assign_add(step, 1)`` beside the update ``(step, step + 1)``): the update, computed from the
    values before the run, is written last, and the assignment's write was lost silently (the step
    counted once a call, not twice), as a second update of one variable would be."""
    updated = {var.var_name for var, _ in updates}
    if not updated:
        return
    for node in program.nodes:
        names = node.op.var_names if isinstance(node.op, InitVariables) else ()
        if isinstance(node.op, _AssignBase):
            names = (node.op.var_name,)
        for name in names:
            if name in updated:
                raise ValueError(
                    f"variable {name!r} is updated and also written by {node.where}, which the "
                    "executable runs: the update would overwrite that write; compute both in the "
                    "update, or run the assignment separately"
                )


def _fit_update(var: Variable, value: Tensor) -> Tensor:
    """``value`` as ``var``'s next value: of its dtype, broadcast to its shape by ``assign``'s own rule
    (a dimension unknown until run time is checked then), or a clear error naming both."""
    try:
        Assign(var.var_name).infer(var.type, value.type)
    except (DTypeError, ShapeError) as e:
        message = f"update of variable {var.var_name!r} ({var.type}): {e.message}"
        raise type(e)(message, value.node.where) from None
    if value.shape == var.shape:
        return value
    with var.graph.control_dependencies(None):  # the compile's node: no control dependency open around it
        return broadcast_to(value, var.shape, name=f"update_of_{var.var_name}")


def _common_graph(fetches, feeds, updates) -> Graph:
    items = [f.node if isinstance(f, Tensor) else f for f in fetches]
    items += [t.node for t in feeds] + [v.node for v, _ in updates] + [t.node for _, t in updates]
    graphs = {id(n.graph): n.graph for n in items}
    if len(graphs) > 1:
        raise GraphMismatchError("fetches, feeds and updates come from different graphs")
    if not graphs:
        raise ValueError("nothing to compile: no fetches and no updates")
    return next(iter(graphs.values()))
