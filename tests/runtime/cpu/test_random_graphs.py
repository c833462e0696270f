"""Random graphs (hypothesis) give the same values compiled for the CPU as on the reference device,
forward and with gradients."""

import numpy as np
from hypothesis import HealthCheck, given, settings

import graphc as gc
from tests.passes.test_semantics import BINARY, UNARY, steps


def chain(plan, dtype, unary=UNARY):
    """Placeholders x (None, 4) and y (4,) and every value ``plan`` builds from them, in order."""
    x = gc.placeholder(dtype, (None, 4), name="x")
    y = gc.placeholder(dtype, (4,), name="y")
    values = [x, y]
    for binary, i, j, k in plan:
        a, b = values[i % len(values)], values[j % len(values)]
        values.append(BINARY[k % len(BINARY)](a, b) if binary else unary[k % len(unary)](a))
    return x, y, values[2:]


def _build(plan, dtype):
    x, y, values = chain(plan, dtype)
    return x, y, values[-3:]


def _feeds(dtype):
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=4).astype(dtype)


@given(steps)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_forward_matches_the_reference(plan):
    with gc.Graph().as_default():
        x, y, outs = _build(plan, "float32")
        feeds = dict(zip([x, y], _feeds(np.float32), strict=True))
        with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
            for a, b in zip(cpu.run(outs, feeds), ref.run(outs, feeds), strict=True):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


@given(steps)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_gradients_match_the_reference(plan):
    with gc.Graph().as_default():
        x, y, outs = _build(plan, "float64")
        grads = gc.grad(gc.reduce_sum(outs[-1]), [x, y], unconnected="zero")
        feeds = dict(zip([x, y], _feeds(np.float64), strict=True))
        with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
            for a, b in zip(cpu.run(grads, feeds), ref.run(grads, feeds), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


@given(steps)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_repeated_runs_with_held_results_match_the_reference(plan):
    """Run plans reuse buffers across runs: results a caller holds must not change, and every run must
    give the reference's numbers, including through a fused reduction."""
    with gc.Graph().as_default():
        x, y, outs = _build(plan, "float32")
        outs = outs + [gc.reduce_sum(outs[-1] * 2.0, axis=0)]
        rng = np.random.default_rng(1)
        batches = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(3)]
        yv = rng.normal(size=4).astype(np.float32)
        with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
            held = [(cpu.run(outs, {x: a, y: yv}), ref.run(outs, {x: a, y: yv})) for a in batches]
            for got, want in held:
                for a, b in zip(got, want, strict=True):
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
