"""Random searches (hypothesis) over each family of CPU kernels against the reference device: elementwise
ops over every dtype pair with broadcasting and values that reach inf and NaN, matmuls (2-D, batched,
broadcast batches, transposed views, int dtypes), reductions over random shapes and axes, the softmax
family at extreme logits, pooling with ties and -inf, and conv2d with pooling, forward and gradients.

Each search covers one kernel family's configuration space more widely than the op sample table can.
Marked ``slow`` (each search compiles many kernel variants), so the default run leaves them out:
``python -m pytest -m slow``.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc

pytestmark = pytest.mark.slow

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

_BINARY = [
    "add", "subtract", "multiply", "divide", "floor_divide", "mod", "maximum", "minimum", "power",
    "greater", "less", "equal", "not_equal", "greater_equal", "less_equal",
]  # fmt: skip
_UNARY = [
    "negative", "abs", "sign", "square", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus",
    "expm1", "log1p",
]  # fmt: skip
_DTYPES = ["int32", "int64", "float32", "float64"]


def _tol(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def _run_both(inputs, outs, values):
    """Both devices' results, or None where both reject the input alike (a build-time or run-time error)."""
    try:
        want = gc.function(inputs, outs, device="reference")(*values)
    except Exception:  # noqa: BLE001 - whatever the reference rejects, the CPU must reject too
        with pytest.raises(Exception):  # noqa: B017, PT011
            gc.function(inputs, outs, device="cpu")(*values)
        return None
    return gc.function(inputs, outs, device="cpu")(*values), want


def _assert_close(got, want, rtol, atol=0.0, atol_of_max=0.0):
    """Same dtypes and shapes, equal integers, floats within rtol plus an absolute tolerance of atol and
    atol_of_max times the largest finite magnitude of the expected output (NaN equal to NaN)."""
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        if g.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
            continue
        finite = np.abs(w[np.isfinite(w)])
        largest = finite.max() if finite.size else 0.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol + atol_of_max * largest, equal_nan=True)


def _elementwise_values(dtype, shape, rng):
    if dtype.startswith("int"):
        return rng.integers(-7, 8, size=shape).astype(dtype)
    v = rng.normal(size=shape) * 3
    v.flat[::7] = 0.0  # zeros make divisions, logs and powers reach inf and NaN
    return v.astype(dtype)


@given(
    st.sampled_from(_BINARY),
    st.sampled_from(_UNARY),
    st.sampled_from(_DTYPES),
    st.sampled_from(_DTYPES),
    st.sampled_from([((5, 4), (4,)), ((5, 4), (5, 1)), ((3, 1, 4), (2, 4)), ((6,), ())]),
    st.integers(0, 3),
)
@_SETTINGS
def test_elementwise_chains_over_every_dtype_pair_match_the_reference(binary, unary, da, db, shapes, seed):
    rng = np.random.default_rng(seed)
    av, bv = _elementwise_values(da, shapes[0], rng), _elementwise_values(db, shapes[1], rng)
    if binary == "power" and db.startswith("int"):
        bv = np.abs(bv) % 4  # negative integer powers are an error in numpy too
    with gc.Graph().as_default():
        a, b = gc.placeholder(da, shapes[0], name="a"), gc.placeholder(db, shapes[1], name="b")
        y = getattr(gc, binary)(a, b)
        if y.dtype == np.bool_:
            outs = [y, gc.logical_not(y)]
        else:
            z = getattr(gc, unary)(y)
            outs = [y, z, gc.where(y > 0, z, gc.cast(y, z.dtype))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            both = _run_both([a, b], outs, (av, bv))
    if both is not None:
        tol = _tol(outs[-1].dtype)
        _assert_close(*both, rtol=tol, atol=tol)


_DIMS = st.sampled_from([1, 2, 3, 7, 16, 33, 64, 130, 257])


@given(
    _DIMS,
    _DIMS,
    _DIMS,
    st.sampled_from([(), (2,), (3,), (2, 3)]),
    st.sampled_from([(), (1,), (2,), (3,)]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["float32", "float64", "int64", "int32"]),
)
@_SETTINGS
def test_matmuls_and_their_gradients_match_the_reference(m, k, n, batch_a, batch_b, ta, tb, dtype):
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        return
    rng = np.random.default_rng(0)
    if dtype.startswith("int"):
        av = rng.integers(-5, 5, size=(*batch_a, m, k)).astype(dtype)
        bv = rng.integers(-5, 5, size=(*batch_b, k, n)).astype(dtype)
    else:
        av = rng.normal(size=(*batch_a, m, k)).astype(dtype)
        bv = rng.normal(size=(*batch_b, k, n)).astype(dtype)
    perm_a = (*range(len(batch_a)), len(batch_a) + 1, len(batch_a))
    perm_b = (*range(len(batch_b)), len(batch_b) + 1, len(batch_b))
    # fed transposed and transposed back in the graph, so that the kernels see transposed views
    av = np.ascontiguousarray(np.transpose(av, perm_a)) if ta else av
    bv = np.ascontiguousarray(np.transpose(bv, perm_b)) if tb else bv
    with gc.Graph().as_default():
        a, b = gc.placeholder(dtype, av.shape, name="a"), gc.placeholder(dtype, bv.shape, name="b")
        y = gc.matmul(gc.transpose(a, perm_a) if ta else a, gc.transpose(b, perm_b) if tb else b)
        outs = [y]
        if dtype.startswith("float"):
            outs += gc.grad(gc.reduce_sum(y * y), [a, b])
        got, want = _run_both([a, b], outs, (av, bv))
    tol = 1e-4 if dtype == "float32" else 1e-10
    _assert_close(got, want, rtol=tol, atol=tol, atol_of_max=tol)


_REDUCTIONS = {
    "sum": gc.reduce_sum,
    "mean": gc.reduce_mean,
    "max": gc.reduce_max,
    "min": gc.reduce_min,
    "prod": gc.reduce_prod,
    "logsumexp": gc.reduce_logsumexp,
}
_SIZES = st.sampled_from([1, 2, 3, 5, 7, 16, 63, 64, 65, 128, 300, 1000, 4097])


@given(
    st.lists(_SIZES, min_size=1, max_size=4).filter(lambda s: int(np.prod(s)) <= 400_000),
    st.sampled_from([*sorted(_REDUCTIONS), "softmax", "log_softmax", "argmax"]),
    st.data(),
    st.sampled_from(["float32", "float64"]),
    st.booleans(),
)
@_SETTINGS
def test_reductions_over_random_shapes_and_axes_match_the_reference(shape, kind, data, dtype, keepdims):
    nd = len(shape)
    some_axes = st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
    axes = data.draw(st.one_of(st.none(), some_axes))
    xv = np.random.default_rng(0).normal(size=shape).astype(dtype)
    if kind == "prod":
        xv = (1.0 + 0.01 * xv).astype(dtype)
    with gc.Graph().as_default():
        x = gc.placeholder(dtype, tuple(shape), name="x")
        if kind in ("softmax", "log_softmax"):
            y = getattr(gc, kind)(x, axis=axes[0] if axes else -1)
        elif kind == "argmax":
            y = gc.argmax(x, axis=axes[0] if axes else 0)
        else:
            y = _REDUCTIONS[kind](x, axis=None if axes is None else tuple(axes), keepdims=keepdims)
        got, want = _run_both([x], [y], (xv,))
    reduced = xv.size // max(1, want[0].size)
    tol = (1e-4 if reduced > 10_000 else 1e-5) if dtype == "float32" else 1e-10
    atol = 10 * tol if kind == "sum" else tol  # a sum's rounding grows with its largest partial sums
    _assert_close(got, want, rtol=tol, atol=atol, atol_of_max=atol)


@given(
    st.integers(1, 70),
    st.sampled_from([1, 2, 3, 10, 17, 64, 100, 1000]),
    st.sampled_from(["float32", "float64"]),
    st.sampled_from([1.0, 30.0, 1e4]),
    st.booleans(),
    st.integers(0, 5),
)
@_SETTINGS
def test_softmax_family_at_extreme_logits_matches_the_reference(rows, cols, dtype, scale, neginf, seed):
    rng = np.random.default_rng(seed)
    zv = (rng.normal(size=(rows, cols)) * scale).astype(dtype)
    neginf = neginf and cols > 1
    if neginf:
        zv[:, 0] = -np.inf  # a class no row can be: its probability is 0, its log-probability -inf
    labels = rng.integers(1 if neginf else 0, cols, size=rows).astype(np.int64)
    with gc.Graph().as_default():
        z = gc.placeholder(dtype, (None, cols), name="z")
        lab = gc.placeholder("int64", (None,), name="labels")
        ce = gc.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=z)
        outs = [gc.softmax(z), ce, gc.grad(gc.reduce_mean(ce), [z])[0]]
        # log-probabilities of size |z| carry |z| * eps of rounding on both devices
        logs = [gc.log_softmax(z), gc.reduce_logsumexp(z, axis=1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, want = _run_both([z, lab], outs + logs, (zv, labels))
    tol = _tol(dtype)
    _assert_close(got[:3], want[:3], rtol=tol, atol=tol, atol_of_max=tol)
    _assert_close(got[3:], want[3:], rtol=10 * tol, atol=tol, atol_of_max=tol)


@given(
    st.integers(1, 3),
    st.sampled_from([1, 3, 16]),
    st.integers(1, 17),
    st.integers(1, 17),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.sampled_from([None, 1, 2, 3]),
    st.integers(0, 2),
    st.sampled_from(["max", "avg"]),
    st.sampled_from(["normal", "ties", "neginf"]),
    st.sampled_from(["float32", "float64"]),
)
@_SETTINGS
def test_pooling_with_ties_and_infinities_matches_the_reference(
    n, c, h, w, kernel, stride, pad, kind, values, dtype
):
    pad = min(pad, min(kernel) // 2)
    xv = np.random.default_rng(0).normal(size=(n, c, h, w)).astype(dtype)
    if values == "ties":
        xv = np.round(xv).astype(dtype)
    if values == "neginf":
        xv[..., ::2, :] = -np.inf
    with gc.Graph().as_default():
        x = gc.placeholder(dtype, (None, c, h, w), name="x")
        pool = gc.max_pool2d if kind == "max" else gc.avg_pool2d
        try:
            y = pool(x, kernel, stride=stride, padding=pad)
        except ValueError:  # the window does not fit: rejected at build time, as intended
            return
        finite = gc.where(gc.less(gc.abs(y), np.inf), y, gc.zeros_like(y))
        outs = [y, gc.grad(gc.reduce_sum(finite * finite), [x])[0]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, want = _run_both([x], outs, (xv,))
    _assert_close(got, want, rtol=_tol(dtype), atol=_tol(dtype))


@given(
    st.fixed_dictionaries(
        {
            "n": st.integers(1, 3),
            "c": st.sampled_from([1, 3, 16, 17, 32]),
            "o": st.sampled_from([1, 16, 20, 32]),
            "h": st.integers(1, 19),
            "w": st.integers(1, 19),
            "k": st.sampled_from([1, 2, 3, 5]),
            "stride": st.sampled_from([1, 1, 2]),
            "pad": st.sampled_from([0, 1, 2, "same", "valid"]),
            "dilation": st.sampled_from([1, 1, 2]),
            "pool": st.sampled_from([None, "max", "avg"]),
        }
    )
)
@_SETTINGS
def test_conv2d_with_pooling_and_both_gradients_matches_the_reference(p):
    stride = 1 if p["pad"] == "same" else p["stride"]
    rng = np.random.default_rng(0)
    with gc.Graph().as_default():
        x = gc.placeholder("float32", (None, p["c"], p["h"], p["w"]), name="x")
        w = gc.Variable(rng.normal(size=(p["o"], p["c"], p["k"], p["k"])).astype(np.float32) * 0.2, name="w")
        try:
            y = gc.conv2d(x, w, stride=stride, padding=p["pad"], dilation=p["dilation"])
        except ValueError:  # the (dilated) kernel is larger than the padded image
            return
        if p["pool"] and y.shape[2] >= 2 and y.shape[3] >= 2:
            y = gc.max_pool2d(y, 2) if p["pool"] == "max" else gc.avg_pool2d(y, 2)
        loss = gc.reduce_sum(gc.relu(y) * gc.relu(y))
        outs = [y, *gc.grad(loss, [x, w])]
        xv = rng.normal(size=(p["n"], p["c"], p["h"], p["w"])).astype(np.float32)
        got, want = _run_both([x], outs, (xv,))
    _assert_close(got, want, rtol=1e-4, atol_of_max=2e-5)
