"""Time each kernel of a graphc training step inside the step: ``python bench/profile_step.py cnn_b64``.

The CPU executable runs a generated driver (runtime/cpu/plan.py) whose globals name every call it makes:
``k<i>`` an unbound kernel, ``s<i>`` a kernel bound to the run plan's buffers, ``g<i>`` a segment of
bound Numba kernels run as one call (from schedule node i on), ``b<i>_<j>`` an output buffer's pool,
``entry<i>`` the segment's compiled entry point (what the driver calls once the first call found it).
This wraps each of them with a timer (the driver looks its globals up at every call), runs ``--steps``
steps as ``Function.__call__`` does, and prints the median per node and per kernel kind, largest
first. Two kernels run at once (``pair``, runtime/cpu/pairs.py) are timed each and as the pair: the
sum counts the pair once. Stateful nodes (variable reads and writes) are not timed. Each timer adds
~0.2 us, so the sum is slightly above the step; the kernels run in their step context (caches,
memory, BLAS and our threads), which standalone micro-benchmarks miss.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402


def busy_cpu() -> float:
    """CPU seconds used by every process so far (/proc/stat, less idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def instrument(driver, schedule) -> tuple[dict[str, list[float]], set[str]]:
    """Wrap the driver's kernel globals with timers. Returns label -> list of call durations, and the
    labels of the kernels that ran inside a pair (each pair also has its own label, "pair: a + b")."""
    times: dict[str, list[float]] = defaultdict(list)
    paired: set[str] = set()
    env = driver.__globals__
    for name, fn in list(env.items()):
        m = re.fullmatch(r"([ksg]|entry)(\d+)", name)
        if m is None or not callable(fn):
            continue
        node = schedule[int(m.group(2))]
        label = f"segment from {node.name}" if m.group(1) in ("g", "entry") else node.name
        env[name] = _timed(fn, times[label], label)
    if callable(env.get("pair")):
        run_pair = env["pair"]

        def pair(first, first_args, second, second_args, *rest):
            label = f"pair: {first.label} + {second.label}"
            paired.update((first.label, second.label))
            timed = _timed(run_pair, times[label], label)
            return timed(first, first_args, second, second_args, *rest)

        env["pair"] = pair
    return times, paired


def _timed(fn, sink, label: str):
    clock = time.perf_counter

    def timed(*args):
        t0 = clock()
        try:
            return fn(*args)
        finally:
            sink.append(clock() - t0)

    timed.label = label
    return timed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload", nargs="?", default="cnn_b64")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    step, args = workloads.build("graphc", workloads.WORKLOADS[a.workload])
    for _ in range(3):
        step(*args)
    backend = step.function.executable.backend
    whole = []
    cpu0, own0, wall0 = busy_cpu(), os.times(), time.perf_counter()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step(*args)
        whole.append(time.perf_counter() - t0)
    plan = backend.plan(tuple(x.shape for x in args))
    driver = plan.driver if plan is not None else backend._driver
    times, paired = instrument(driver, backend.schedule)
    for _ in range(a.steps):
        step(*args)
    own1 = os.times()
    own = own1.user + own1.system - own0.user - own0.system
    other = (busy_cpu() - cpu0 - own) / (time.perf_counter() - wall0)
    nodes = {n.name: n for n in backend.schedule}
    med = {label: statistics.median(ts) * 1e3 for label, ts in times.items() if ts}
    by_kind: dict[str, float] = defaultdict(float)
    for label, ms in med.items():
        if label in paired:  # counted in its pair
            continue
        kernel = backend.kernels.get(label)
        by_kind[kernel.name if kernel else "pair" if label.startswith("pair") else "segment"] += ms
    print(f"step: median {statistics.median(whole) * 1e3:.2f} ms, min {min(whole) * 1e3:.2f} ms")
    print(f"other processes used {other:.2f} CPU meanwhile (above ~0.1: numbers are not usable)")
    counted = {label: ms for label, ms in med.items() if label not in paired}
    total = sum(counted.values())
    print(f"sum of timed medians: {total:.2f} ms over {len(med)} calls (a pair counted once)\n")
    print("per kernel kind (ms):")
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {ms:8.3f}  {kind}")
    print(f"\ntop {a.top} calls (ms, median):")
    for label, ms in sorted(med.items(), key=lambda kv: -kv[1])[: a.top]:
        node, kernel = nodes.get(label), backend.kernels.get(label)
        shapes = [tuple(t.shape) for t in node.inputs] if node else ""
        bound = "bound" if plan is not None and node in plan.steps else ""
        kind = kernel.name if kernel else "pair" if label.startswith("pair") else "segment"
        kind += " (in a pair)" if label in paired else ""
        print(f"  {ms:8.3f}  {kind:28s} {bound:5s} {label[:58]:58s} {shapes}")


if __name__ == "__main__":
    main()
