"""graphc's CPU benchmark against the peers that are installed: PyTorch eager, JAX jit, PyTensor (Numba).

    python bench/run.py [--rounds 6] [--cold-rounds 3] [--systems graphc,torch,jax,...] [--workloads ...]

Every measurement runs in a fresh worker process (this script with ``--worker``), all with 2 threads,
under the same environment (OPENBLAS_CORETYPE is printed, never changed). Systems alternate: in each
round, each workload runs once in every system, in an order rotated per round. A worker imports its
framework, builds the workload, runs the first step (``first call`` = build + compile + first step,
imports not included: they are their own column), then warm-up steps (not timed), then times single
steps for a time budget. Each (system, workload) has its own cache folders (GRAPHC_CACHE_DIR,
NUMBA_CACHE_DIR, PyTensor's base_compiledir, JAX's persistent compilation cache), emptied before each
of the first ``--cold-rounds`` rounds: the median of those rounds' first calls is the cold first call,
the median of the later rounds' is the warm start (the cache filled by the last cold round). One cold
process is a single sample of a noisy machine: the issue's peer figures are medians of 5 processes.
The step time is the median over all timed steps of the rounds in which other processes left the
machine alone (each worker measures that from /proc/stat).

PyTensor pins an older Numba than graphc's, so it usually lives in its own virtual environment: pass
its interpreter with ``--pytensor-python`` (or GRAPHC_BENCH_PYTENSOR_PYTHON). See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

THREADS = 2
THREAD_ENV = {
    "OMP_NUM_THREADS": str(THREADS),
    "OPENBLAS_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
    "NUMBA_NUM_THREADS": str(THREADS),
    # XLA's CPU client: Eigen's intra-op pool of 2 threads, one CPU device
    "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}",
}
HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ["graphc", "torch", "jax", "pytensor"]
MODULES = {"graphc": "graphc", "torch": "torch", "jax": "jax", "pytensor": "pytensor"}
# per round and workload: timed seconds, then (min, max) timed steps; warm-up steps before timing
BUDGET = {"train": (2.0, (5, 400)), "infer": (1.0, (50, 20000))}
WARMUP = {"train": 3, "infer": 50}
TARGETS = {  # graphc time / fastest peer time
    "mlp_b128": 1.0,
    "mlp_b1024": 1.0,
    "cnn_b64": 0.8,
    "mlp_infer_b1": 0.8,
}
FIRST_CALL_TARGET = {"mlp_b128": 5.0, "mlp_b1024": 5.0, "cnn_b64": 15.0, "mlp_infer_b1": 5.0}
WARM_START_TARGET = 0.5
BUSY = 0.1  # CPUs' worth of other processes' work during a round's timing that makes it a busy round


# --- worker -------------------------------------------------------------------------------------------


def worker(system: str, workload: str, cache: str) -> None:
    """One measured process: print one JSON line with import, first-call and step times."""
    t_start = time.perf_counter()
    if system == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", os.path.join(cache, "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    else:
        __import__(MODULES[system])
    if system == "torch":
        import torch

        torch.set_num_threads(THREADS)
    sys.path.insert(0, HERE)
    import numpy as np
    import workloads as wl

    t_imported = time.perf_counter()
    w = wl.WORKLOADS[workload]
    step, args = wl.build(system, w)
    first = step(*args)
    t_first = time.perf_counter()
    for _ in range(WARMUP[w.kind]):
        step(*args)
    seconds, (lo, hi) = BUDGET[w.kind]
    times: list[float] = []
    busy0, own0, wall0 = machine_busy_s(), own_cpu_s(), time.perf_counter()
    t_end = time.perf_counter() + seconds
    while len(times) < hi and (len(times) < lo or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        last = step(*args)
        times.append(time.perf_counter() - t0)
    check = float(first) if w.kind == "train" else float(np.asarray(first, np.float64).sum())
    last = float(last) if w.kind == "train" else check
    # CPU seconds other processes used per second of timing: a busy machine spoils the round
    others = (machine_busy_s() - busy0 - (own_cpu_s() - own0)) / (time.perf_counter() - wall0)
    out = {"import_s": t_imported - t_start, "first_s": t_first - t_imported, "times": times}
    out["others_cores"] = max(0.0, others)
    print(json.dumps(out | {"first_value": check, "last_value": last}))


def machine_busy_s() -> float:
    """CPU seconds all processes have used since boot (/proc/stat: all but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def gemm_worker() -> None:
    """numpy's float32 GEMM GFLOP/s: square 1024 and the MLP's first-layer shapes."""
    import numpy as np

    rng = np.random.default_rng(0)
    result = {}
    for m, k, n in [(1024, 1024, 1024), (128, 784, 128), (1024, 784, 128)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        for _ in range(3):
            np.matmul(a, b, out=c)
        reps = max(3, int(2e9 / (2 * m * k * n)))
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            best.append((time.perf_counter() - t0) / reps)
        result[f"{m}x{k}x{n}"] = 2 * m * k * n / statistics.median(best) / 1e9
    config = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    print(json.dumps({"gflops": result, "blas": f"{blas.get('name', '?')} {blas.get('version', '')}"}))


# --- orchestrator -------------------------------------------------------------------------------------


def child_env(cache: str | None = None) -> dict:
    """A worker's environment: the threads pinned, its own cache folders, and Python's bytecode cache
    on, as Python's default is: the peers' installed modules come with the .pyc files pip wrote, where
    graphc's editable install and its generated kernel modules would otherwise be compiled from source
    in every process (PYTHONDONTWRITEBYTECODE=1 here cost graphc's CNN warm start ~0.1 s)."""
    env = dict(os.environ) | THREAD_ENV
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache is not None:
        env["GRAPHC_CACHE_DIR"] = os.path.join(cache, "graphc")
        env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
        flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",") if f]
        env["PYTENSOR_FLAGS"] = ",".join(flags + ["floatX=float32", f"base_compiledir={cache}/pytensor"])
    return env


def interpreter_for(system: str, args) -> str | None:
    """The Python that has ``system`` installed, or None (the system is skipped with a notice)."""
    if system == "pytensor" and args.pytensor_python:
        return args.pytensor_python if os.path.exists(args.pytensor_python) else None
    return sys.executable if importlib.util.find_spec(MODULES[system]) else None


def version_of(python: str, system: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({MODULES[system]!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=child_env())
    return out.stdout.strip() or "?"


def run_worker(python: str, argv: list[str], env: dict, timeout: float) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", *argv]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {out.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def wait_quiet(limit: float) -> None:
    """Wait up to ``limit`` seconds for a second in which other processes use at most BUSY CPU."""
    deadline = time.perf_counter() + limit
    while True:
        busy0, t0 = machine_busy_s(), time.perf_counter()
        time.sleep(1.0)
        if (machine_busy_s() - busy0) / (time.perf_counter() - t0) <= BUSY:
            return
        if time.perf_counter() > deadline:
            print(f"  (the machine stayed busy for {limit:.0f} s: measuring anyway)", flush=True)
            return


def machine() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "load": os.getloadavg()}


def fmt(v, spec=".2f", unit=""):
    return "—" if v is None else f"{v:{spec}}{unit}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6, help="rounds of interleaved measurement")
    p.add_argument(
        "--cold-rounds", type=int, default=3, help="the first rounds, each with emptied caches (< --rounds)"
    )
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--workloads", default="mlp_b128,mlp_b1024,cnn_b64,mlp_infer_b1")
    p.add_argument("--skip", default="", help="system:workload pairs to leave out, comma-separated")
    p.add_argument("--pytensor-python", default=os.environ.get("GRAPHC_BENCH_PYTENSOR_PYTHON"))
    p.add_argument("--cache-root", help="keep cache folders here (default: a temporary folder, removed)")
    p.add_argument("--timeout", type=float, default=900, help="seconds for one worker process")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument(
        "--wait-quiet", type=float, default=30, help="seconds to wait for an idle machine before each worker"
    )
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is None and not 1 <= args.cold_rounds < args.rounds:
        p.error(f"--cold-rounds must be at least 1 and below --rounds ({args.rounds})")
    if args.worker is not None:
        if args.worker == ["gemm"]:
            gemm_worker()
        else:
            worker(*args.worker)
        return
    start = time.perf_counter()
    names = args.workloads.split(",")
    skip = {tuple(s.split(":")) for s in args.skip.split(",") if s}
    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, load average {info['load'][0]:.2f} at start")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; threads: {THREAD_ENV}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set here: unset for the workers (Python's default)")
    if info["load"][0] > 0.5:
        print("notice: the machine is busy (load average above 0.5): timings will be noisy")
    pythons, versions = {}, {}
    for s in args.systems.split(","):
        py = interpreter_for(s, args)
        if py is None:
            how = "its own venv, --pytensor-python" if s == "pytensor" else "pip install -e '.[bench]'"
            print(f"notice: {s} is not installed: skipped ({how}; see bench/README.md)")
            continue
        pythons[s], versions[s] = py, version_of(py, s)
    print(
        "versions: "
        + ", ".join(f"{s} {v}" for s, v in versions.items())
        + f", python {sys.version.split()[0]}"
    )
    gemm = run_worker(sys.executable, ["gemm"], child_env(), 300)
    if "gflops" in gemm:
        print(
            f"numpy float32 GEMM ({gemm['blas']}), GFLOP/s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in gemm["gflops"].items())
        )
    root = args.cache_root or tempfile.mkdtemp(prefix="graphc-bench-")
    systems = list(pythons)
    results: dict = {(s, n): [] for s in systems for n in names}
    prefilled = {}
    for n in names:
        for s in systems:
            folder = os.path.join(root, s, n)
            prefilled[(s, n)] = os.path.isdir(folder) and bool(os.listdir(folder))
    try:
        for r in range(args.rounds):
            order = systems[r % len(systems) :] + systems[: r % len(systems)]
            for n in names:
                for s in order:
                    if (s, n) in skip:
                        continue
                    cache = os.path.join(root, s, n)
                    if r < args.cold_rounds and not prefilled[(s, n)]:
                        shutil.rmtree(cache, ignore_errors=True)  # a cold round: every cache empty
                    os.makedirs(cache, exist_ok=True)
                    wait_quiet(args.wait_quiet)
                    res = run_worker(pythons[s], [s, n, cache], child_env(cache), args.timeout)
                    results[(s, n)].append(res)
                    status = res.get("error") or (
                        f"first {res['first_s']:.2f} s, median {1e3 * statistics.median(res['times']):.3f} ms"
                        f" over {len(res['times'])} steps, others {res['others_cores']:.2f} CPU"
                    )
                    print(f"  round {r + 1} {n:13s} {s:9s} {status}", flush=True)
    finally:
        if not args.cache_root:
            shutil.rmtree(root, ignore_errors=True)
    report(names, systems, results, prefilled, skip, args.cold_rounds)
    info_end = machine()
    print(
        f"\nload average {info_end['load'][0]:.2f} at the end; whole run {time.perf_counter() - start:.0f} s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "versions": versions,
                    "gemm": gemm,
                    "results": {f"{s}:{n}": v for (s, n), v in results.items()},
                },
                f,
                indent=1,
            )


def busy(rounds: list[dict]) -> list[dict]:
    return [r for r in rounds if r.get("others_cores", 0.0) > BUSY]


def clean_rounds(rounds: list[dict]) -> list[dict]:
    """The rounds timed while the machine was otherwise quiet; all of them if none was."""
    return [r for r in rounds if r not in busy(rounds)] or rounds


def cold_and_warm(rounds: list[dict], cold: int) -> tuple[list[float], list[float]]:
    """The first-call seconds of the cold rounds that ran, and of the warm ones."""
    return (
        [r["first_s"] for r in rounds[:cold] if "times" in r],
        [r["first_s"] for r in rounds[cold:] if "times" in r],
    )


def report(names, systems, results, prefilled, skip, cold: int) -> None:
    sys.path.insert(0, HERE)
    import workloads as wl

    print(
        "\n| workload | system | median step ms | samples/s | time / graphc | first call s | warm start s "
        "| import s | steps | round medians ms | loss@1 / out sum |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    medians: dict = {}
    summary: dict = {}
    for n in names:
        w = wl.WORKLOADS[n]
        for s in systems:
            ok = [r for r in results[(s, n)] if "times" in r]
            if not ok:
                why = "skipped" if (s, n) in skip else (results[(s, n)] or [{"error": "no run"}])[0]["error"]
                print(f"| {w.label} | {s} | {why} ||||||||")
                continue
            times = [t for r in clean_rounds(ok) for t in r["times"]]
            medians[(s, n)] = statistics.median(times)
        base = medians.get(("graphc", n))
        for s in systems:
            if (s, n) not in medians:
                continue
            ok = [r for r in results[(s, n)] if "times" in r]
            med = medians[(s, n)]
            firsts, warms = cold_and_warm(results[(s, n)], cold)
            first = statistics.median(firsts) if firsts else None
            warm = statistics.median(warms) if warms else None
            mark = " (cache pre-filled)" if prefilled[(s, n)] else ""
            steps = sum(len(r["times"]) for r in clean_rounds(ok))
            rounds = " / ".join(
                f"{1e3 * statistics.median(r['times']):.3g}{'*' if r in busy(ok) else ''}" for r in ok
            )
            ratio = fmt(med / base if base else None, ".2f", "x")
            print(
                f"| {w.label} | {s} | {1e3 * med:.3f} | {w.batch / med:,.0f} | {ratio} | {fmt(first)}{mark} "
                f"| {fmt(warm)} | {statistics.median(r['import_s'] for r in ok):.2f} "
                f"| {steps} | {rounds} | {ok[0]['first_value']:.5f} |"
            )
        peers = {s: medians[(s, n)] for s in systems if s != "graphc" and (s, n) in medians}
        if base and peers:
            fastest = min(peers, key=peers.get)
            summary[n] = (base / peers[fastest], fastest)
    print(
        f"\nstep times: medians over the rounds in which other processes used at most {BUSY} CPU"
        " (all rounds when none was that quiet); * marks a busy round, left out"
    )
    print("\ntargets (graphc step time / fastest peer's):")
    for n, (ratio, fastest) in summary.items():
        verdict = "met" if ratio <= TARGETS[n] else "NOT met"
        print(f"  {wl.WORKLOADS[n].label}: {ratio:.2f}x of {fastest} (target <= {TARGETS[n]}x): {verdict}")
    for n in names:
        firsts, warms = cold_and_warm(results.get(("graphc", n), []), cold)
        if firsts and not prefilled.get(("graphc", n)):
            _verdict(f"first call {n}", firsts, FIRST_CALL_TARGET[n])
        if warms:
            _verdict(f"warm start {n}", warms, WARM_START_TARGET)


def _verdict(what: str, seconds: list[float], target: float) -> None:
    """One graphc target line: the median of the processes' seconds, each listed, and the verdict."""
    median, each = statistics.median(seconds), " / ".join(f"{v:.2f}" for v in seconds)
    verdict = "met" if median <= target else "NOT met"
    print(f"  graphc {what}: {median:.2f} s, median of {each} (target <= {target} s): {verdict}")


if __name__ == "__main__":
    main()
