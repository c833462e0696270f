"""The op contract: every op has samples; infer agrees with reference; the reference device agrees
with an independent numpy formula on every sample."""

import zlib

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS
from graphc.ir.graph import Tensor
from tests.ops.samples import SAMPLES

# Ops exercised through the runtime and state tests rather than the table (they need sessions).
COVERED_ELSEWHERE = {
    "Placeholder": "every sample feeds placeholders",
    "ReadVariable": "tests/runtime/test_variables.py",
    "Assign": "tests/runtime/test_variables.py",
    "AssignAdd": "tests/runtime/test_variables.py",
    "AssignSub": "tests/runtime/test_variables.py",
    "Group": "tests/runtime/test_variables.py",
    "InitVariables": "tests/runtime/test_variables.py",
}


def test_every_op_has_samples():
    sampled = {s.op for s in SAMPLES}
    missing = sorted(set(OPS) - sampled - set(COVERED_ELSEWHERE))
    assert not missing, f"ops without samples in tests/ops/samples_*.py: {missing}"


def test_sample_ops_exist():
    unknown = sorted({s.op for s in SAMPLES} - set(OPS))
    assert not unknown, f"samples name unknown ops: {unknown}"


def _build(sample):
    rng = np.random.default_rng(zlib.crc32(sample.id.encode()))  # stable across processes
    arrays = [a.make(rng) for a in sample.args]
    g = gc.Graph()
    with g.as_default():
        phs = [gc.placeholder(a.dtype, a.placeholder_shape, name=f"in{i}") for i, a in enumerate(sample.args)]
        out = sample.build(*phs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return g, phs, arrays, outs


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_reference_matches_numpy(sample):
    g, phs, arrays, outs = _build(sample)
    with gc.Session(g, device="reference") as sess:
        got = sess.run(outs, dict(zip(phs, arrays, strict=True)))
    expected = _as_tuple(sample.expect(*arrays))
    assert len(got) == len(expected)
    for t, value, want in zip(outs, got, expected, strict=True):
        want = np.asarray(want)
        assert isinstance(t, Tensor)
        assert t.type.is_compatible(value.shape), f"{t.name}: {t.type} vs {value.shape}"
        if sample.exact_dtype:
            assert value.dtype == want.dtype, f"{t.name}: {value.dtype} vs expected {want.dtype}"
        assert value.shape == want.shape
        np.testing.assert_allclose(value, want, rtol=sample.rtol, atol=sample.atol)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_infer_agrees_with_reference(sample):
    """Calling the op's reference directly gives the dtype and a shape its inferred type admits."""
    g, phs, arrays, outs = _build(sample)
    node = next(n for n in reversed(g.nodes) if type(n.op).__name__ == sample.op)
    env = dict(zip(phs, arrays, strict=True))
    with gc.Session(g, device="reference") as sess:
        inputs = sess.run(list(node.inputs), env) if node.inputs else []
    if node.op.stateful and not hasattr(node.op, "sample"):
        pytest.skip("state ops run through execute(); random ops draw through reference(rng=...)")
    raw = node.op.reference(*inputs)
    result = (raw,) if len(node.outputs) == 1 else tuple(raw)
    for t, value in zip(node.outputs, result, strict=True):
        value = np.asarray(value)
        assert value.dtype == t.dtype, f"{node.name}: reference {value.dtype}, infer {t.dtype}"
        assert t.type.is_compatible(value.shape), f"{node.name}: reference {value.shape}, infer {t.type}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_cpu_matches_reference(sample):
    """The compiled CPU device agrees with the reference device on every sample (float32: 1e-5
    relative; 1e-4 for convolutions and large reductions)."""
    g, phs, arrays, outs = _build(sample)
    feeds = dict(zip(phs, arrays, strict=True))
    with gc.Session(g, device="reference") as ref, gc.Session(g, device="cpu") as cpu:
        for sess in (ref, cpu):
            sess._entropy = 0  # unseeded random ops draw the same numbers on both devices
        want = ref.run(outs, feeds)
        got = cpu.run(outs, feeds)
    conv = sample.op.startswith(("Conv", "MaxPool", "AvgPool"))
    rtol = 1e-4 if conv else 1e-5
    for t, a, b in zip(outs, got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, t.name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6 if b.dtype.kind == "f" else 0, err_msg=t.name)
