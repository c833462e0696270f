"""Time each kernel of a graphc training step inside the step: ``python bench/profile_step.py cnn_b64``.

Runs the executable's schedule node by node (as the generated driver does: variable reads, stateful
``execute`` calls, kernels), timing every kernel call with ``perf_counter``, for ``--steps`` steps after
warm-up, and prints per node and per kernel name the median time per step, largest first. The sum is a
few percent above the real step (one timer pair per node); the kernels run in their step context
(caches, BLAS threads), which is what standalone micro-benchmarks miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402


def profile(function, args, steps: int) -> dict[str, list[float]]:
    """Per node name, the seconds of each timed step (the session's variables are updated as in a run)."""
    exe = function.executable
    backend = exe.backend
    session = function.session
    times: dict[str, list[float]] = defaultdict(list)
    from graphc.runtime.state import RunState

    for _ in range(steps):
        state = RunState(session.graph, session._values, session._counters, session._entropy)
        values = dict(zip(exe.program.inputs, args, strict=True))
        for node in backend.schedule:
            inputs = [values[t] for t in node.inputs]
            t0 = time.perf_counter()
            if type(node.op).__name__ == "ReadVariable":
                outs = (state.read(node.op.var_name),)
            elif node.op.stateful:
                outs = node.op.execute(node, state, tuple(inputs))
            else:
                outs = backend.kernels[node.name].fn(*inputs)
            times[node.name].append(time.perf_counter() - t0)
            for t, v in zip(node.outputs, outs or (), strict=False):
                values[t] = v
        session._values, session._counters = state.values, state.counters
    return times


def busy_cpu() -> float:
    """CPU seconds used by every process so far (/proc/stat, less idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


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
    times = profile(step.function, args, a.steps)
    own1 = os.times()
    own = own1.user + own1.system - own0.user - own0.system
    other = (busy_cpu() - cpu0 - own) / (time.perf_counter() - wall0)
    nodes = {n.name: n for n in backend.schedule}
    med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    by_kernel: dict[str, float] = defaultdict(float)
    for name, ms in med.items():
        node = nodes[name]
        kernel = backend.kernels.get(name)
        by_kernel[kernel.name if kernel else type(node.op).__name__] += ms
    print(f"step: median {statistics.median(whole) * 1e3:.2f} ms, min {min(whole) * 1e3:.2f} ms")
    print(f"other processes used {other:.2f} CPU meanwhile (above ~0.1: numbers are not usable)")
    print(f"sum of node medians: {sum(med.values()):.2f} ms over {len(med)} nodes\n")
    print("per kernel kind (ms):")
    for kind, ms in sorted(by_kernel.items(), key=lambda kv: -kv[1]):
        print(f"  {ms:8.3f}  {kind}")
    print(f"\ntop {a.top} nodes (ms, median):")
    for name, ms in sorted(med.items(), key=lambda kv: -kv[1])[: a.top]:
        node = nodes[name]
        shapes = [tuple(t.shape) for t in node.inputs]
        kernel = backend.kernels.get(name)
        print(
            f"  {ms:8.3f}  {kernel.name if kernel else type(node.op).__name__:32s} {name[:60]:60s} {shapes}"
        )


if __name__ == "__main__":
    main()
