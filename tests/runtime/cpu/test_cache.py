"""The on-disk kernel cache: content-named files, atomic writes, and faults that cost a recompile but
never a crash or a wrong result."""

import errno
import importlib.util
import os
import pickle
import py_compile
import struct
import subprocess
import sys
import textwrap

import numba.core.config
import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    # Numba's machine code beside the generated files (its __pycache__), where a user's NUMBA_CACHE_DIR
    # would put it elsewhere
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", "")
    saved = dict(cache._modules)
    cache._modules.clear()
    yield tmp_path
    cache._modules.clear()
    cache._modules.update(saved)
    sys.modules.update(saved)  # names a test's ``_forget_loaded_modules`` dropped: later segments import them


def _forget_loaded_modules():
    """As if a new process started: drop the in-process memo and the imported modules."""
    for name in list(cache._modules):
        sys.modules.pop(name, None)
    cache._modules.clear()


def _compiled_value():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None,), name="x")
        y = gc.tanh(x) * 2.0 + gc.exp(x)  # a FusedOp: one generated kernel
        with gc.Session(device="cpu") as sess:
            return sess.run(y, {x: np.array([0.5, -1.0, 2.0], np.float32)})


EXPECTED = np.tanh(np.float32([0.5, -1.0, 2.0])) * 2 + np.exp(np.float32([0.5, -1.0, 2.0]))


def test_kernels_are_written_as_content_named_files(cache_dir):
    np.testing.assert_allclose(_compiled_value(), EXPECTED, rtol=1e-6)
    files = [f for f in os.listdir(cache_dir) if f.endswith(".py")]
    assert files and all(f.startswith("graphc_k_") for f in files)
    for f in files:
        assert cache.module_name((cache_dir / f).read_text()) + ".py" == f


def test_a_truncated_kernel_file_is_rewritten(cache_dir):
    _compiled_value()
    for f in os.listdir(cache_dir):
        if f.endswith(".py"):
            path = cache_dir / f
            path.write_text(path.read_text()[:40])  # cut mid-source: would not even parse
    _forget_loaded_modules()
    np.testing.assert_allclose(_compiled_value(), EXPECTED, rtol=1e-6)


def test_a_kernel_file_with_wrong_content_is_not_trusted(cache_dir):
    _compiled_value()
    for f in os.listdir(cache_dir):
        if f.endswith(".py"):
            text = (cache_dir / f).read_text()
            (cache_dir / f).write_text(text.replace("math.tanh", "math.sinh"))  # same name, other code
    _forget_loaded_modules()
    np.testing.assert_allclose(_compiled_value(), EXPECTED, rtol=1e-6)


def test_a_kernel_files_bytecode_cache_is_not_trusted(cache_dir):
    source = "def larger(a, b):\n    return a if a > b else b\n"
    assert cache.load_module(source).larger(1, 2) == 2
    path = str(cache_dir / (cache.module_name(source) + ".py"))
    stat = os.stat(path)
    # bytecode that differs in one bit ('>' to '<') under a header matching the file's mtime and size
    with open(path, "w") as f:
        f.write(source.replace(">", "<"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    py_compile.compile(path, cfile=importlib.util.cache_from_source(path), doraise=True)
    with open(path, "w") as f:
        f.write(source)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _forget_loaded_modules()
    assert cache.load_module(source).larger(1, 2) == 2


def test_a_corrupt_numba_cache_entry_is_recompiled(cache_dir):
    _compiled_value()
    pycache = cache_dir / "__pycache__"
    damaged = 0
    for f in os.listdir(pycache):
        if f.endswith((".nbc", ".nbi")):
            (pycache / f).write_bytes(b"\x00garbage")
            damaged += 1
    assert damaged
    _forget_loaded_modules()
    np.testing.assert_allclose(_compiled_value(), EXPECTED, rtol=1e-6)


SCALE_SOURCE = "from numba import njit\n\n\n@njit(cache=True)\ndef scale(x):\n    return x * 1234.5678\n"


def test_a_bit_flipped_in_a_numba_data_file_is_recompiled_not_run(cache_dir):
    assert cache.load_module(SCALE_SOURCE).scale(2.0) == 2.0 * 1234.5678
    (data,) = (cache_dir / "__pycache__").glob("*.nbc")
    content = bytearray(data.read_bytes())
    at = content.find(struct.pack("<d", 1234.5678))  # the constant in the machine code's constant pool
    assert at >= 0
    content[at] ^= 1  # its lowest bit: elsewhere in the code, one bit crashed the process (SIGSEGV)
    data.write_bytes(content)
    _forget_loaded_modules()
    assert cache.load_module(SCALE_SOURCE).scale(2.0) == 2.0 * 1234.5678


ROW_SUM_SOURCE = """
from numba import njit


@njit(cache=True)
def first_row_sum(a):
    s = 0.0
    for j in range(a.shape[1]):
        s += a[0, j]
    return s
"""


def _cross_numba_entries(index):
    """Leave a Numba index as two processes saving at once can: each signature naming the data file
    that holds the other's machine code."""
    with open(index, "rb") as f:
        version = pickle.load(f)
        stamp, overloads = pickle.loads(f.read())
    (key1, file1), (key2, file2) = overloads.items()
    with open(index, "wb") as f:
        pickle.dump(version, f, protocol=-1)
        f.write(pickle.dumps((stamp, {key1: file2, key2: file1}), protocol=-1))


def test_a_numba_entry_holding_another_signatures_code_is_recompiled(cache_dir):
    a = np.arange(12.0).reshape(3, 4)
    layouts = [np.ascontiguousarray(a), np.asfortranarray(a)]  # two signatures: C and F
    module = cache.load_module(ROW_SUM_SOURCE)
    for x in layouts:
        assert module.first_row_sum(x) == x[0].sum()
    (index,) = (cache_dir / "__pycache__").glob("*.nbi")
    _cross_numba_entries(index)
    _forget_loaded_modules()
    module = cache.load_module(ROW_SUM_SOURCE)
    for x in layouts:
        assert module.first_row_sum(x) == x[0].sum()  # the C code on the F array read 0, 4, 8, 1


def test_a_numba_cache_that_cannot_be_written_costs_the_cache_not_the_run(cache_dir, monkeypatch):
    replace = os.replace

    def full_disk(src, dst, *args, **kwargs):
        if str(dst).endswith(".nbc"):  # Numba's data files: its index is written first
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    np.testing.assert_allclose(_compiled_value(), EXPECTED, rtol=1e-6)
    assert not list((cache_dir / "__pycache__").glob("*.nbc"))
    for index in (cache_dir / "__pycache__").glob("*.nbi"):  # none names a data file never written
        with open(index, "rb") as f:
            pickle.load(f)
            assert pickle.loads(f.read())[1] == {}


def test_two_processes_filling_one_empty_cache_at_once(cache_dir):
    script = textwrap.dedent(
        """
        import numpy as np, graphc as gc
        x = gc.placeholder("float32", (None, 3), name="x")
        w = gc.Variable(np.ones((3, 2), np.float32), name="w")
        y = gc.reduce_sum(gc.sigmoid(gc.matmul(x, w)) * 3.0 - 1.0, axis=1)
        with gc.Session(device="cpu") as sess:
            print(repr(sess.run(y, {x: np.arange(6, dtype=np.float32).reshape(2, 3)}).tolist()))
        """
    )
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    values = [eval(out) for out, _ in outputs]  # noqa: S307 - our own script's repr of a list of floats
    s = 1 / (1 + np.exp(-np.array([3.0, 12.0])))
    np.testing.assert_allclose(values[0], 2 * (s * 3 - 1), rtol=1e-6)  # two equal columns summed
    assert values[0] == values[1]


def test_a_second_process_loads_every_kernel_from_the_cache_and_trains_the_same(tmp_path):
    # the loads skip Numba's registry refresh (cache._load_without_refresh): a process that only loads
    # must still run every kernel, those allocating through Numba's runtime (pooling) included
    script = textwrap.dedent(
        """
        import numpy as np, graphc as gc
        from numba.core import event
        compiles = []
        class Count(event.Listener):
            def on_start(self, ev): compiles.append(ev.data["dispatcher"].py_func.__name__)
            def on_end(self, ev): pass
        event.register("numba:compile", Count())
        rng = np.random.default_rng(0)
        x = gc.placeholder("float32", (None, 2, 8, 8), name="x")
        labels = gc.placeholder("int64", (None,), name="labels")
        w = gc.Variable(rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3, name="w")
        v = gc.Variable(rng.standard_normal((64, 3)).astype(np.float32) * 0.1, name="v")
        h = gc.max_pool2d(gc.relu(gc.conv2d(x, w, padding=1)), 2)
        z = gc.matmul(gc.reshape(h, (-1, 64)), v)
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(z, labels))
        gw, gv = gc.grad(loss, [w, v])
        step = gc.function([x, labels], loss, updates=[(w, w - 0.1 * gw), (v, v - 0.1 * gv)])
        a = rng.standard_normal((5, 2, 8, 8)).astype(np.float32)
        b = rng.integers(0, 3, 5)
        print(repr([float(step(a, b)) for _ in range(3)]), len(compiles))
        """
    )
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "graphc"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True) for _ in "12"
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    (cold_losses, cold_compiles), (warm_losses, warm_compiles) = (
        (eval(out[: out.rindex("]") + 1]), int(out.split()[-1]))
        for out in (r.stdout for r in runs)  # noqa: S307
    )
    assert cold_compiles > 0 and warm_compiles == 0  # the second process only loaded
    assert warm_losses == cold_losses


def test_graphc_dump_writes_generated_kernel_sources(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "dump"))
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None,), name="x")
        exe = gc.compile([gc.exp(x) * 2.0 + 1.0], feeds=[x], device="cpu")
    (folder,) = (tmp_path / "dump").iterdir()  # one folder per compile
    kernels = os.listdir(folder / "kernels")
    assert kernels and exe.sources()
    assert "@njit" in (folder / "kernels" / kernels[0]).read_text()


def test_graphc_dump_writes_each_run_plan_and_its_segments(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "dump"))
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None, 3), name="x")
        w = gc.Variable(np.ones((3, 2), np.float32), name="w")
        f = gc.function([x], gc.relu(gc.matmul(x, w) - 1.0) * 2.0)
        f(np.ones((4, 3), np.float32))
    (folder,) = (tmp_path / "dump").iterdir()
    files = set(os.listdir(folder / "kernels"))
    assert "__plan_4x3__.py" in files
    segments = [name for name in files if name.startswith("__plan_4x3__g")]
    assert segments and "def segment(" in (folder / "kernels" / segments[0]).read_text()
    assert "__plan_4x3__" in f.executable.sources()


def test_graphc_dump_rewrites_the_kernels_with_the_loops_a_run_plan_generated(
    tmp_path, monkeypatch, cache_dir
):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "dump"))
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None, 3), name="x")
        b = gc.placeholder("float32", (3,), name="b")
        f = gc.function([x, b], gc.relu(x + b, name="out"))  # b is read as a row: not the loop shown first
        f(np.ones((4, 3), np.float32), np.ones(3, np.float32))
    (folder,) = (tmp_path / "dump").iterdir()
    (fused,) = [name for name in f.executable.sources() if name.startswith("out")]
    assert (folder / "kernels" / f"{fused}.py").read_text() == f.executable.sources()[fused]
    assert "a1[c]" in f.executable.sources()[fused]


def test_a_changed_backend_helper_changes_every_generated_module_name(tmp_path):
    from graphc.runtime.cpu import cache

    (tmp_path / "scalar.py").write_text("def relu(x):\n    return max(x, 0)\n")
    before = cache._backend_hash(str(tmp_path))
    (tmp_path / "scalar.py").write_text("def relu(x):\n    return x if x > 0 else 0\n")
    assert cache._backend_hash(str(tmp_path)) != before
    assert f"backend {cache._backend_hash()}" in cache._SALT  # and the salt is in every module's name


def test_a_changed_file_of_a_guarded_package_is_not_served_by_its_callers_cached_code(tmp_path):
    # as conv.py's kernels call im2col.py's: Numba's cache of caller.g knows only caller.py
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "caller.py").write_text(
        "from numba import njit\n\nfrom pkg.callee import f\n\n\n"
        "@njit(cache=True)\ndef g(x):\n    return f(x) * 2.0\n"
    )
    program = textwrap.dedent(
        """
        import pkg.caller
        from graphc.runtime.cpu import cache
        cache.guard_package("pkg")
        print(pkg.caller.g(1.0))
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])

    def run(callee):
        (tmp_path / "pkg" / "callee.py").write_text(
            f"from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return {callee}\n"
        )
        result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return float(result.stdout)

    assert run("x + 1.0") == 4.0
    assert run("x + 2.0") == 6.0  # was 4.0: the cached g with the old f compiled in


def test_the_backends_own_cached_kernels_are_guarded_against_damaged_entries():
    from graphc.runtime.cpu import conv, indexing, linalg

    for dispatcher in [indexing.take_rows, linalg.gemm, conv._conv_forward]:
        assert getattr(dispatcher._cache.load_overload, "guarded", False), dispatcher


def test_a_damaged_entry_of_a_backend_kernel_is_recompiled_in_a_new_process(tmp_path):
    program = textwrap.dedent(
        """
        import numpy as np, graphc as gc
        x = gc.placeholder("float32", (None, 2), name="x")
        i = gc.placeholder("int32", (None,), name="i")
        y = gc.take(x * 2.0, i, axis=0)
        feeds = {x: np.ones((3, 2), np.float32), i: np.array([0, 2], np.int32)}
        print(gc.Session().run(y, feeds).tolist())
        """
    )
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "graphc"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))

    def run():
        return subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)

    assert run().returncode == 0
    damaged = list((tmp_path / "numba").rglob("indexing.take_rows*.nbi"))
    assert damaged
    for p in damaged:
        p.write_bytes(b"")
    result = run()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[[2.0, 2.0], [2.0, 2.0]]"


def test_a_cache_dir_that_is_a_file_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "file"))
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="GRAPHC_CACHE_DIR"):
        cache.load_module("x = 1\n")


def test_a_child_forked_while_another_thread_loads_a_kernel_loads_its_own(cache_dir):
    import threading
    import time

    loading, done = threading.Event(), threading.Event()

    def load_in_progress():  # holds the lock as a thread writing and importing a module does
        with cache._lock:
            loading.set()
            done.wait()

    thread = threading.Thread(target=load_in_progress)
    thread.start()
    loading.wait()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if cache.load_module("VALUE = 42\n").VALUE == 42 else 1)
            except BaseException:  # noqa: BLE001 - any failure is the child's status
                os._exit(2)
        deadline, status = time.monotonic() + 30, None
        while status is None and time.monotonic() < deadline:
            finished, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if finished else None
            time.sleep(0.02)
        if status is None:  # hung on the lock the parent's thread held
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        done.set()
        thread.join()
    assert status == 0


def test_kernel_source_files_of_long_or_odd_node_names_are_plain_and_apart():
    long = "/".join(f"a_long_scope_name_number_{k}" for k in range(10))
    names = ["dense/matmul", "dense_matmul", "..", "new\nline", "new_line", long, long + "x"]
    files = [cache.source_file_name(n) for n in names]
    assert files[0] == "dense__matmul.py"  # plain names keep their file name
    assert len(set(files)) == len(files)
    assert all(len(f) <= 255 and not f.startswith(".") and "\n" not in f for f in files)


def test_graphc_dump_writes_the_kernel_of_a_node_named_past_file_name_limits(
    tmp_path, monkeypatch, cache_dir
):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "dump"))
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None,), name="x")
        y = gc.exp(x, name="/".join(f"a_long_scope_name_number_{k}" for k in range(10)))
        exe = gc.compile([y], feeds=[x])
    (folder,) = (tmp_path / "dump").iterdir()
    assert (folder / "kernels" / cache.source_file_name(y.node.name)).read_text() == exe.sources()[
        y.node.name
    ]
