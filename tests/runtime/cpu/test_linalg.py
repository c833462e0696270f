"""CPU MatMul kernel (runtime/cpu/linalg.py) beyond the op table's samples: the benchmark's shapes on
both sides of the Numba/numpy size threshold, transposed and strided operands, batched products with
broadcast leading dims and 1-D operands, float64, integers, and empty inputs."""

import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import linalg
from graphc.runtime.cpu.linalg import NUMPY_ABOVE
from graphc.runtime.cpu.registry import cpu_kernel
from graphc.runtime.cpu.threads import numpy_blas


def _kernel(a_shape, b_shape, dtype="float32"):
    """The CPU kernel for a matmul of placeholders of these (static) shapes, to call on arrays."""
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(dtype, a_shape, name="a")
        b = gc.placeholder(dtype, b_shape, name="b")
        out = gc.matmul(a, b)
    return cpu_kernel.build(out.node)


def _check(a, b, rtol=1e-5):
    kernel = _kernel(tuple(None for _ in a.shape), tuple(None for _ in b.shape), a.dtype)
    (got,) = kernel.fn(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape and got.dtype == a.dtype
    scale = np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64)))  # cancellation bound
    np.testing.assert_array_less(np.abs(got - want), rtol * scale + 1e-30)
    return kernel


def _rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# the MLP's forward and gradient products at batch 1, 128 and 1024 (both sides of NUMPY_ABOVE)
MLP = [(b, k, n) for b in (1, 128, 1024) for k, n in ((784, 128), (128, 128), (128, 10))]


@pytest.mark.parametrize("batch, k, n", MLP, ids=str)
def test_mlp_shapes_forward_and_gradients(batch, k, n):
    x, w, gy = _rand(batch, k), _rand(k, n, seed=1), _rand(batch, n, seed=2)
    assert _check(x, w).name == "blas[MatMul]"
    _check(gy, w.T)  # dx = gy @ w^T: an F-contiguous right operand
    _check(x.T, gy)  # dw = x^T @ gy: an F-contiguous left operand (k = batch; an outer product at 1)


def test_threshold_sides_agree():
    small, large = 32, int(np.ceil(NUMPY_ABOVE ** (1 / 3))) + 1
    for m in (small, large):
        _check(_rand(m, m), _rand(m, m, seed=1))


def test_strided_operands():
    a, b = _rand(6, 10), _rand(10, 12, seed=1)
    _check(a[:, ::2], b[::2, 1::3])  # neither C nor F contiguous: copied before BLAS
    _check(a[::2].T, b[:3, ::2])  # an F-contiguous view times a strided one


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((2, 3, 4), (4, 5)),  # a stack times a matrix: one GEMM over the stacked rows
        ((3, 4), (2, 4, 5)),  # a matrix times a stack: the matrix is broadcast
        ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims on both sides
        ((1, 3, 4), (6, 4, 2)),
        ((7, 3, 4), (1, 4, 2)),
        ((4,), (2, 4, 3)),  # a 1-D left operand: a row, removed from the result
        ((2, 3, 4), (4,)),  # a 1-D right operand: a column
        ((4,), (4,)),  # vector . vector: a 0-d result
        ((4,), (4, 5)),
        ((64, 40, 30), (30, 50)),  # large enough for numpy's BLAS
        ((8, 40, 30), (8, 30, 50)),
    ],
    ids=str,
)
def test_batched_broadcasting_and_vectors(a_shape, b_shape):
    _check(_rand(*a_shape), _rand(*b_shape, seed=1))


def test_batched_non_contiguous_stack():
    a = _rand(3, 4, 5).transpose(0, 2, 1)  # (3, 5, 4), not contiguous
    _check(a, _rand(4, 6, seed=1))
    _check(a, _rand(3, 4, 6, seed=1))


def test_a_broadcast_stack_times_a_matrix():
    # a broadcast stack (a gradient's ones, strides 0) reshapes to its rows as a strided view, which
    # BLAS cannot read: it is copied first (it failed in Numba's typing)
    _check(np.broadcast_to(_rand(1, 1, 1), (2, 3, 1)), _rand(1, 4, seed=1))
    _check(np.broadcast_to(_rand(3, 1), (2, 3, 1)), _rand(1, 4, seed=1))


def test_float64():
    kernel = _check(_rand(50, 30, dtype=np.float64), _rand(30, 20, dtype=np.float64, seed=1), rtol=1e-12)
    assert kernel.name == "blas[MatMul]"
    _check(_rand(3, 50, 30, dtype=np.float64), _rand(30, dtype=np.float64, seed=1), rtol=1e-12)


def test_integers_and_mixed_dtypes_use_numpy():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    kernel = _kernel((3, 4), (4, 2), "int32")
    assert kernel.name == "numpy[MatMul]"
    (got,) = kernel.fn(a, a.T[:, :2].copy())
    np.testing.assert_array_equal(got, a @ a.T[:, :2])
    g = gc.Graph()
    with g.as_default():
        out = gc.matmul(gc.placeholder("int32", (3, 4)), gc.placeholder("float32", (4, 2)))
    assert cpu_kernel.build(out.node).name == "numpy[MatMul]"


@pytest.mark.parametrize(
    "a_shape, b_shape, out_shape",
    [
        ((3, 0), (0, 2), (3, 2)),  # empty inner dim: zeros
        ((0, 4), (4, 2), (0, 2)),
        ((3, 4), (4, 0), (3, 0)),
        ((0, 3, 4), (4, 2), (0, 3, 2)),
        ((2, 0, 4), (2, 4, 3), (2, 0, 3)),
        ((0,), (0,), ()),
    ],
    ids=str,
)
def test_empty_inputs(a_shape, b_shape, out_shape):
    kernel = _kernel(tuple(None for _ in a_shape), tuple(None for _ in b_shape))
    (got,) = kernel.fn(np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32))
    assert got.shape == out_shape and got.dtype == np.float32
    assert not got.any()


def test_a_large_vector_dot_product_is_an_array_a_segment_can_read(graph):
    # numpy's side of NUMPY_ABOVE returned np.matmul's numpy scalar for 1-D @ 1-D: the segment of the
    # multiply and the GEMM reading it failed in Numba's typing (flat_view(float32))
    k = NUMPY_ABOVE
    a = gc.placeholder("float32", (k,), name="a")
    b = gc.placeholder("float32", (k,), name="b")
    m = gc.placeholder("float32", (2, 2), name="m")
    out = (m * gc.matmul(a, b)) @ m
    args = (_rand(k) / 100, _rand(k, seed=1), _rand(2, 2, seed=2))
    got = gc.function([a, b, m], out)(*args)
    want = gc.function([a, b, m], out, device="reference")(*args)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("in_shapes", [((2**31, 1), (1, 2)), ((2, 1), (1, 2**32 + 5))], ids=str)
def test_an_outer_product_past_blas_int_sizes_is_not_bound_to_blas(in_shapes):
    # BLAS takes 32-bit sizes, and a k == 1 product stays in Numba at any size: its GEMM was called
    # with m = -2^31 (refused, the output left unwritten) or n = 5 (the other columns unwritten)
    (m, _), (_, n) = in_shapes
    step = linalg._bind_2d(in_shapes, [(m, n)])
    assert getattr(step, "njit", None) is None  # numpy's matmul, not blas.gemm


def test_a_stack_of_rows_past_blas_int_sizes_runs_in_numpy(monkeypatch):
    # the stacked rows of a batch times a matrix form one GEMM's m: 2 x 2^30 rows of k == 1 were one
    # BLAS call of m = -2^31. The limit is lowered here so that the arrays stay small.
    monkeypatch.setattr(linalg, "BLAS_INT_LIMIT", 64)
    called = []
    monkeypatch.setattr(linalg, "gemm", lambda *args: called.append(args))
    a, b = _rand(2, 40, 1), _rand(1, 3, seed=1)
    np.testing.assert_allclose(linalg.matmul_floats(a, b), a @ b, rtol=1e-6)
    assert not called


def test_through_a_session():
    x, w = _rand(128, 784), _rand(784, 128, seed=1)
    g = gc.Graph()
    with g.as_default():
        xp = gc.placeholder("float32", (None, 784), name="x")
        y = gc.matmul(xp, gc.constant(w))
        with gc.Session(g, device="cpu") as sess:
            got = sess.run(y, {xp: x})
    np.testing.assert_allclose(got, x.astype(np.float64) @ w, rtol=1e-4, atol=1e-4)


def test_a_big_product_overflowing_to_inf_warns_no_more_than_the_reference(graph):
    # numpy's GEMM (products of NUMPY_ABOVE multiply-adds and more) warned "overflow encountered in
    # matmul" (an error under simplefilter("error")) where the reference device is quiet
    a = gc.placeholder("float32", (None, 64), name="a")
    b = gc.placeholder("float32", (None, 64, 64), name="b")
    outs = [gc.matmul(a, b[0]), gc.matmul(a, b)]  # a bound 2-D step, and a batched product
    cpu, ref = gc.function([a, b], outs), gc.function([a, b], outs, device="reference")
    av, bv = np.full((256, 64), 1e30, np.float32), np.full((2, 64, 64), 1e30, np.float32)
    assert NUMPY_ABOVE <= 256 * 64 * 64  # numpy's GEMM serves both
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, want = cpu(av, bv), ref(av, bv)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(not numpy_blas.available, reason="numpy's OpenBLAS not found")
@pytest.mark.parametrize("with_conv", [False, True], ids=["mlp", "with_conv"])
def test_numpy_blas_held_to_one_thread_only_beside_pool_kernels(with_conv, monkeypatch):
    """A program that also runs conv kernels on graphc's threads calls numpy's GEMMs on one BLAS
    thread (runtime/cpu/threads.py) and gives the caller's setting back; others keep BLAS's threads."""
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder("float32", (None, 512), name="a")
        b = gc.placeholder("float32", (512, 512), name="b")
        out = gc.matmul(a, b)
        if with_conv:
            gc.conv2d(gc.placeholder("float32", (None, 3, 8, 8)), gc.placeholder("float32", (4, 3, 3, 3)))
    kernel = cpu_kernel.build(out.node)
    assert any("one BLAS thread" in note for note in kernel.notes) == with_conv
    threads_seen = []
    matmul = np.matmul

    def spy(*args, **kwargs):
        threads_seen.append(numpy_blas.get())
        return matmul(*args, **kwargs)

    before = numpy_blas.get()
    monkeypatch.setattr(np, "matmul", spy)
    x, w = _rand(64, 512), _rand(512, 512, seed=1)
    (got,) = kernel.fn(x, w)
    monkeypatch.undo()
    np.testing.assert_allclose(got, x.astype(np.float64) @ w, rtol=1e-4, atol=1e-3)
    assert threads_seen == [1 if with_conv else before]
    assert numpy_blas.get() == before and numpy_blas._users == 0
