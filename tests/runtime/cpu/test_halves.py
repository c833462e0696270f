"""Batch halves (runtime/cpu/halves.py): row-local kernels run on two halves of the batch at once, and
give the reference device's numbers."""

import threading

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import halves, threads
from graphc.runtime.cpu.linalg import gemm_direct32, gemm_direct64

needs_two_threads = pytest.mark.skipif(not halves.usable(), reason="needs two threads and scipy's BLAS")


@pytest.fixture
def small_regions(monkeypatch):
    """Every region qualifies, whatever its size."""
    monkeypatch.setattr(halves, "HALVES_WORK", 1)
    monkeypatch.setattr(halves, "HALVES_ROWS", 2)


def _mlp(device, sizes=(12, 9, 7, 5), fetch_hidden=False):
    x = gc.placeholder("float32", (None, sizes[0]), name="x")
    labels = gc.placeholder("int64", (None,), name="labels")
    params, h, hidden = [], x, None
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        w = gc.Variable(gc.init.glorot_uniform((n_in, n_out), seed=i), name=f"w{i}")
        b = gc.Variable(np.linspace(-0.1, 0.1, n_out, dtype=np.float32), name=f"b{i}")
        h = gc.matmul(h, w) + b
        if i < len(sizes) - 2:
            h = gc.relu(h)
            hidden = h if hidden is None else hidden
        params += [w, b]
    loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(h, labels))
    grads = gc.grad(loss, params)
    updates = [(p, p - 0.1 * g) for p, g in zip(params, grads, strict=True)]
    outputs = [loss, hidden] if fetch_hidden else loss
    session = gc.Session(device=device)
    return gc.function([x, labels], outputs, updates=updates, session=session), params, session


def _data(batch, features=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, features)).astype(np.float32), rng.integers(0, 5, batch)


def _regions(fn) -> list:
    return [r for plan in fn.executable.backend._plans.values() for r in plan.regions]


def _train_both(batch, steps=3, layout=np.ascontiguousarray, **kw):
    with gc.Graph().as_default():
        cpu, params, cpu_session = _mlp("cpu", **kw)
        ref, ref_params, ref_session = _mlp("reference", **kw)
        x, y = _data(batch)
        for _ in range(steps):
            got, want = cpu(layout(x), y), ref(x, y)
            pairs = zip(got, want, strict=True) if isinstance(got, list) else [(got, want)]
            for g, w in pairs:
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        for p, r in zip(params, ref_params, strict=True):
            np.testing.assert_allclose(cpu_session.run(p), ref_session.run(r), rtol=1e-5, atol=1e-6)
        return cpu


@needs_two_threads
@pytest.mark.parametrize("batch", [2, 3, 33, 64])
def test_a_training_step_in_halves_gives_the_reference_numbers(small_regions, batch):
    cpu = _train_both(batch)
    regions = _regions(cpu)
    assert regions, "the step ran no region"
    assert any(r.partial for r in regions)  # weight and bias gradients summed over the halves


@needs_two_threads
def test_a_feed_of_another_layout_is_read_by_rows_as_a_copy(small_regions):
    assert _regions(_train_both(16, layout=np.asfortranarray))


@needs_two_threads
def test_values_fetched_by_the_user_stay_out_of_regions(small_regions):
    cpu = _train_both(16, fetch_hidden=True)
    fetched = set(cpu.executable.backend.program_graph.outputs)
    assert not any(t in fetched for r in _regions(cpu) for t in r.made)


@needs_two_threads
def test_a_batch_below_the_minimum_runs_without_regions(monkeypatch):
    monkeypatch.setattr(halves, "HALVES_WORK", 1)
    monkeypatch.setattr(halves, "HALVES_ROWS", 32)
    assert not _regions(_train_both(31))


def test_small_products_run_without_regions():
    assert halves.HALVES_WORK > 20 * 12 * 9  # the default leaves this MLP alone
    assert not _regions(_train_both(64))


@needs_two_threads
def test_a_region_runs_its_second_half_on_the_relay_thread(small_regions, monkeypatch):
    ran_on = []

    class Recording(threads.Relay):
        def start(self, fn, args):
            def job(*a):
                ran_on.append(threading.get_ident())
                return fn(*a)

            return super().start(job, args)

    monkeypatch.setattr(threads, "relay", Recording())
    _train_both(8, steps=1)
    assert ran_on and threading.get_ident() not in ran_on


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("orders", ["CC", "CF", "FC", "FF"])
@pytest.mark.parametrize(("m", "k", "n"), [(5, 7, 3), (1, 1, 1), (3, 1, 4), (1, 6, 1), (40, 30, 20)])
def test_gemm_direct_multiplies_c_and_f_operands(dtype, orders, m, k, n):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    a = np.asfortranarray(a) if orders[0] == "F" else a
    b = np.asfortranarray(b) if orders[1] == "F" else b
    out = np.full((m, n), 7, dtype)
    fn = gemm_direct32 if dtype == np.float32 else gemm_direct64
    fn(a, b, out, np.array([1, 0], dtype))
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_gemm_direct_multiplies_transposed_row_slices():
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((10, 6)).astype(np.float32), rng.standard_normal((10, 4)).astype(np.float32)
    out = np.empty((6, 4), np.float32)
    gemm_direct32(x[3:8].T, g[3:8], out, np.array([1, 0], np.float32))
    np.testing.assert_allclose(out, x[3:8].T @ g[3:8], rtol=1e-5, atol=1e-6)


def test_the_relay_runs_a_call_on_another_thread_and_hands_back_its_error():
    relay = threads.Relay()
    where = []
    assert relay.start(lambda: where.append(threading.get_ident()), ())
    relay.wait()
    assert where and where[0] != threading.get_ident()

    def fail():
        raise ValueError("in the relay")

    assert relay.start(fail, ())
    with pytest.raises(ValueError, match="in the relay"):
        relay.wait()
    assert relay.start(lambda: None, ())  # usable again after an error
    relay.wait()


def test_the_relay_refuses_a_second_caller_while_busy():
    relay = threads.Relay()
    gate = threading.Event()
    assert relay.start(gate.wait, ())
    assert not relay.start(lambda: None, ())
    gate.set()
    relay.wait()


@needs_two_threads
def test_the_benchmark_mlp_at_batch_1024_runs_in_halves_with_the_reference_losses():
    from tests.runtime.cpu.test_training import _mlp_step

    rng = np.random.default_rng(0)
    data, targets = rng.normal(size=(1024, 784)).astype(np.float32), rng.integers(0, 10, 1024)
    with gc.Graph().as_default():
        step, reference = _mlp_step("cpu"), _mlp_step("reference")
        compiled = [float(step(data, targets)) for _ in range(5)]
        expected = [float(reference(data, targets)) for _ in range(5)]
    np.testing.assert_allclose(compiled, expected, rtol=1e-4)
    assert len(_regions(step)) == 2  # the forward pass, and the backward up to the weight gradients
