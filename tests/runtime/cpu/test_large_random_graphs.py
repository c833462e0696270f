"""Random graphs (hypothesis) at the sizes where the CPU backend changes strategy: loops split over the
threads (2^18 elements and up), column sums split per thread (2^19), and accumulations long enough
for their order to show (10^5 rows). Compiled against the reference device, forward and with gradients,
plus slicing on unknown dims at several run-time sizes.

Marked ``slow`` (minutes, not seconds), so the default run leaves them out: ``python -m pytest -m slow``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from tests.passes.test_semantics import UNARY, steps
from tests.runtime.cpu.test_random_graphs import chain

pytestmark = pytest.mark.slow

# the unary builders that broadcast to a fixed (3, 4) do not apply to 10^5 rows
_UNARY = [u for i, u in enumerate(UNARY) if i not in (10, 11, 12, 13, 14, 15)]
_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _build(plan, dtype):
    return chain(plan, dtype, _UNARY)


def _feeds(x, y, rows, dtype):
    rng = np.random.default_rng(0)
    return {x: rng.normal(size=(rows, 4)).astype(dtype), y: rng.normal(size=4).astype(dtype)}


@given(steps, st.sampled_from([0, 1, None]))
@_SETTINGS
def test_big_fused_graphs_and_their_sums_match_the_reference(plan, axis):
    with gc.Graph().as_default():
        x, y, values = _build(plan, "float32")
        last = values[-1]
        axis = axis if axis is None or last.ndim == 2 else 0
        outs = [*values[-3:], gc.reduce_sum(last * 2.0, axis=axis), gc.reduce_mean(values[0], axis=0)]
        feeds = _feeds(x, y, 140_001, np.float32)
        with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
            got, again, want = cpu.run(outs, feeds), cpu.run(outs, feeds), ref.run(outs, feeds)
    for a, a2, b in zip(got, again, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        long_sum = b.size < 1000  # a sum over 10^5 elements or more
        tol = 1e-4 if long_sum else 1e-5
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol if long_sum else 1e-5, equal_nan=True)
        np.testing.assert_array_equal(a, a2)


@given(steps)
@_SETTINGS
def test_big_float32_gradients_match_the_reference(plan):
    with gc.Graph().as_default():
        x, y, values = _build(plan, "float32")
        loss = gc.reduce_mean(values[-1] * values[-1])
        outs = [loss, *gc.grad(loss, [x, y], unconnected="zero")]
        feeds = _feeds(x, y, 131_073, np.float32)
        with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
            got, want = cpu.run(outs, feeds), ref.run(outs, feeds)
    for a, b in zip(got, want, strict=True):
        scale = max(np.abs(b).max(), 1e-30)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale, equal_nan=True)


_BOUND = st.one_of(st.none(), st.integers(-8, 8))
_ENTRY = st.one_of(
    st.builds(slice, _BOUND, _BOUND, st.sampled_from([None, 1, 2, 3, -1, -2])),
    st.integers(-2, 1),
    st.none(),
)


@given(st.lists(_ENTRY, min_size=1, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3))
@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
def test_indexing_unknown_dims_holds_its_static_shape_at_every_size(index, unknown):
    index = tuple(index)
    for sizes in [(0, 1, 2), (1, 3, 5), (7, 2, 9), (4, 4, 1)]:
        shape = tuple(s if u else d for u, s, d in zip(unknown, sizes, (4, 3, 5), strict=True))
        value = np.arange(float(np.prod(shape))).reshape(shape)
        with gc.Graph().as_default():
            static = tuple(None if u else d for u, d in zip(unknown, (4, 3, 5), strict=True))
            x = gc.placeholder("float64", static)
            try:
                y = x[index]
            except (gc.GraphcError, IndexError):
                return  # rejected when built, for the known dims
            try:
                want = value[index]
            except IndexError:
                want = None
            for device in ("reference", "cpu"):
                try:
                    got = gc.function([x], y * 2.0, device=device)(value)
                except gc.GraphcError:
                    assert want is None, (index, shape, device)
                    continue
                assert want is not None, (index, shape, device)
                assert got.shape == want.shape, (index, shape, device, y.shape)
                held = all(s is None or s == g for s, g in zip(y.shape, got.shape, strict=True))
                assert held, (index, y.shape, got.shape)
                np.testing.assert_array_equal(got, want * 2.0)
