"""``PassManager``: runs a pipeline of passes over a program graph and owns the cross-cutting concerns.

- verify (``verify=True``, or ``GRAPHC_VERIFY=1``; on in the test suite): after each pass, check the
  graph's invariants; a failure names the pass and the passes before it.
- dump (``dump_dir``; ``compile`` gives each executable its own folder under ``GRAPHC_DUMP``): write the
  graph after each pass as ``NN-name.txt`` and ``NN-name.dot``, and ``rules.txt`` with per-rule hit
  counts.
- time: per-pass wall time and node counts, kept as ``PassStat`` records for ``Executable.stats``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graphc.ir.graph import Graph
from graphc.ir.printing import format_graph
from graphc.passes.rewrite import RulePass
from graphc.passes.verify import VerifyError, verify
from graphc.viz.dot import to_dot

Pass = Callable[[Graph], Graph]


@dataclass
class PassStat:
    """What one pass did: node counts before and after, seconds, and rule hits for rule passes."""

    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    hits: dict = field(default_factory=dict)

    def __str__(self) -> str:
        rules = "".join(f"\n    {n}: {k}" for n, k in sorted(self.hits.items()))
        counts = f"{self.nodes_before:5d} -> {self.nodes_after:5d} nodes"
        return f"{self.name:16s} {counts}  {self.seconds * 1e3:8.2f} ms{rules}"


@dataclass
class PassManager:
    """Runs ``pipeline`` in order: ``run(graph) -> (graph, stats)``."""

    pipeline: Sequence[Pass]
    verify: bool | None = None
    dump_dir: str | None = None

    def run(self, graph: Graph) -> tuple[Graph, list[PassStat]]:
        check = self.verify if self.verify is not None else env_flag("GRAPHC_VERIFY", False)
        dump_dir = self.dump_dir if self.dump_dir is not None else os.environ.get("GRAPHC_DUMP")
        stats: list[PassStat] = []
        if dump_dir:
            _dump(dump_dir, "00-input", graph)
        for i, p in enumerate(self.pipeline, 1):
            name = getattr(p, "__name__", type(p).__name__)
            hits: Counter = Counter()
            before, start = len(graph.nodes), time.perf_counter()
            graph = p(graph, hits) if isinstance(p, RulePass) else p(graph)
            if not isinstance(graph, Graph):  # a pass that forgot its return failed on None.nodes
                raise TypeError(f"pass {name!r} returned {type(graph).__name__}, not a Graph")
            stats.append(PassStat(name, before, len(graph.nodes), time.perf_counter() - start, dict(hits)))
            if check:
                try:
                    verify(graph)
                except VerifyError as e:
                    ran = ", ".join(s.name for s in stats)
                    raise VerifyError(f"after pass {name!r} (passes run: {ran}): {e}") from None
            if dump_dir:
                _dump(dump_dir, f"{i:02d}-{name}", graph)
        if dump_dir:
            lines = [f"{s.name}: {rule} {k}" for s in stats for rule, k in sorted(s.hits.items())]
            _write(os.path.join(dump_dir, "rules.txt"), "\n".join(lines) + "\n")
        return graph, stats


_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def env_flag(name: str, default: bool) -> bool:
    """The on/off setting in environment variable ``name`` (``1``/``0``, or true/false, yes/no,
    on/off), ``default`` when unset or empty. Another value is a ValueError naming the variable:
    ``GRAPHC_OPTIMIZE=false`` optimized and ``GRAPHC_VERIFY=true`` verified nothing, silently."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    flag = _FLAGS.get(value.lower())
    if flag is None:
        raise ValueError(f"{name}={value!r} is not an on/off setting: use 1 or 0")
    return flag


def _dump(directory: str, stem: str, graph: Graph) -> None:
    os.makedirs(directory, exist_ok=True)
    _write(os.path.join(directory, f"{stem}.txt"), format_graph(graph) + "\n")
    _write(os.path.join(directory, f"{stem}.dot"), to_dot(graph, title=stem))


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        # UTF-8 whatever the locale; backslashreplace: a lone surrogate (a name or file name Python
        # could not decode) is written as its \udcxx escape, as the pictures write it, instead of
        # failing the compile with a UnicodeEncodeError
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.replace(tmp, path)  # a reader never sees half a dump
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
