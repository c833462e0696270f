"""Property tests: static broadcasting (with unknown dims) agrees with numpy on concrete shapes, and a
graph of broadcasting elementwise ops computes what numpy computes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.ir.types import broadcast_shapes

dims = st.sampled_from([1, 2, 3])
shapes = st.lists(dims, min_size=0, max_size=4).map(tuple)


@st.composite
def broadcastable_pairs(draw):
    a = draw(shapes)
    keep = draw(st.integers(0, len(a)))
    b = tuple(d if draw(st.booleans()) else 1 for d in a[len(a) - keep :])
    return (a, b) if draw(st.booleans()) else (b, a)


@given(broadcastable_pairs(), st.data())
@settings(max_examples=200, deadline=None)
def test_static_broadcast_with_unknown_dims_agrees_with_numpy(pair, data):
    a, b = pair
    hide_a = [data.draw(st.booleans()) for _ in a]
    static_a = tuple(None if h else d for h, d in zip(hide_a, a, strict=True))
    out = broadcast_shapes(static_a, b)
    concrete = np.broadcast_shapes(a, b)
    assert len(out) == len(concrete)
    assert all(s is None or s == c for s, c in zip(out, concrete, strict=True))
    assert broadcast_shapes(a, b) == concrete


@given(broadcastable_pairs(), st.sampled_from(["add", "subtract", "multiply", "maximum"]))
@settings(max_examples=60, deadline=None)
def test_broadcasting_ops_compute_what_numpy_computes(pair, op_name):
    a_shape, b_shape = pair
    rng = np.random.default_rng(0)
    a = rng.normal(size=a_shape).astype(np.float32)
    b = rng.normal(size=b_shape).astype(np.float32)
    with gc.Graph().as_default():
        pa = gc.placeholder("float32", tuple(None for _ in a_shape), name="a")
        pb = gc.placeholder("float32", b_shape, name="b")
        out = getattr(gc, op_name)(pa, pb)
        with gc.Session() as sess:
            got = sess.run(out, {pa: a, pb: b})
    np.testing.assert_array_equal(got, getattr(np, op_name)(a, b))
