"""CPU softmax kernels (runtime/cpu/nn.py) beyond the op table's samples: both sides of the
Numba/numpy threshold, NaN and infinite rows, the benchmark's batch shapes, bad labels, empty inputs."""

import numpy as np
import pytest
from scipy.special import logsumexp

import graphc as gc
from graphc.ops.nn import LogSoftmax, Softmax
from graphc.runtime.cpu.registry import cpu_kernel


def _run(build, *arrays):
    g = gc.Graph()
    with g.as_default():
        phs = [gc.placeholder(a.dtype, a.shape, name=f"in{i}") for i, a in enumerate(arrays)]
        out = build(*phs)
    with gc.Session(g, device="cpu") as sess:
        value = sess.run(out, dict(zip(phs, arrays, strict=True)))
    return value, cpu_kernel.build(out.node).name


def _log_softmax64(x):
    x = x.astype(np.float64)
    return x - logsumexp(x, axis=-1, keepdims=True)


# (1024, 10): the MLP's logits, Numba; (64, 512): long rows of many elements, numpy
SHAPES = [(1024, 10), (4, 3, 7), (64, 512)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_softmax_and_log_softmax_match_float64(shape):
    x = np.random.default_rng(0).normal(0.0, 5.0, shape).astype(np.float32)
    want = _log_softmax64(x)
    got, name = _run(gc.log_softmax, x)
    assert name == "loop[LogSoftmax]" and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got, _ = _run(gc.softmax, x)
    np.testing.assert_allclose(got, np.exp(want), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_matches_float64(shape):
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 5.0, shape).astype(np.float32)
    labels = rng.integers(0, shape[-1], shape[:-1])
    got, name = _run(gc.sparse_softmax_cross_entropy, z, labels)
    assert name == "loop[SoftmaxCrossEntropy]"
    want = -np.take_along_axis(_log_softmax64(z), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got32, _ = _run(gc.sparse_softmax_cross_entropy, z, labels.astype(np.int32))
    np.testing.assert_array_equal(got32, got)


def test_nan_and_infinite_rows_as_reference():
    x = np.array(
        [[1.0, np.nan, 0.0], [np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1e4]],
        np.float32,
    )
    for build, op in ((gc.softmax, Softmax(1)), (gc.log_softmax, LogSoftmax(1))):
        got, _ = _run(build, x)
        with np.errstate(all="ignore"):  # inf - inf and log(0), as the kernels compute them
            want = op.reference(x)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-6)
    assert np.isnan(_run(gc.softmax, x)[0][0]).all()
    np.testing.assert_allclose(_run(gc.softmax, x)[0][3], [0.0, 0.0, 1.0])


def test_float64_and_integer_inputs():
    x = np.random.default_rng(2).normal(size=(5, 6))
    got, _ = _run(gc.log_softmax, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _log_softmax64(x), rtol=1e-12)
    ints = np.arange(12, dtype=np.int64).reshape(3, 4)
    got, _ = _run(gc.softmax, ints)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.exp(_log_softmax64(ints)), rtol=1e-6)


def test_other_axis_uses_numpy():
    x = np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32)
    got, name = _run(lambda t: gc.softmax(t, axis=0), x)
    assert name == "numpy[Softmax]"
    np.testing.assert_allclose(got, np.exp(_log_softmax64(x.T)).T, rtol=1e-6)


@pytest.mark.parametrize("bad", [-1, 10])
def test_bad_label_raises(bad):
    z = np.zeros((4, 10), np.float32)
    labels = np.array([0, 3, bad, 9])
    with pytest.raises(gc.RunError, match=f"label {bad} is out of range"):
        _run(gc.sparse_softmax_cross_entropy, z, labels)


def test_empty_inputs():
    assert _run(gc.softmax, np.zeros((0, 10), np.float32))[0].shape == (0, 10)
    assert _run(gc.log_softmax, np.zeros((3, 0), np.float32))[0].shape == (3, 0)
    got, _ = _run(gc.sparse_softmax_cross_entropy, np.zeros((0, 10), np.float32), np.zeros(0, np.int64))
    assert got.shape == (0,) and got.dtype == np.float32


def test_long_float32_rows_keep_terms_below_half_an_ulp_of_the_sum():
    # one row of 8192 (the float32 loops take it): exp(-17) = 4.1e-8 is below half an ulp of the
    # running sum 1.0, so a float32 running sum dropped all 8191 of them (3.4e-4 of the total)
    z = np.full((1, 8192), -17.0, np.float32)
    z[0, 0] = 0.0
    want = _log_softmax64(z)
    got, name = _run(gc.log_softmax, z)
    assert name == "loop[LogSoftmax]"
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got, _ = _run(gc.softmax, z)
    np.testing.assert_allclose(got, np.exp(want), rtol=1e-5)
    got, _ = _run(gc.sparse_softmax_cross_entropy, z, np.array([0]))
    np.testing.assert_allclose(got, -want[:, 0], rtol=1e-5, atol=1e-6)
