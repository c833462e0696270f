"""stabilize: each rule applies where it should (the op types of the result) and not on near misses;
values agree with the original up to rounding on ordinary inputs, and the stable form stays finite
where the original overflows or underflows."""

from collections import Counter

import numpy as np
import pytest

import graphc as gc
from graphc.passes.prune import prune
from graphc.passes.stabilize import stabilize
from graphc.passes.verify import verify
from tests.passes.helpers import evaluate, op_names, program


def _stabilized(fetches, feeds, values, rtol=1e-6):
    """Run stabilize on the program of ``fetches``; check it verifies and agrees with the original on
    ``values`` up to ``rtol``; return the op names of the pruned result."""
    prog = program(fetches, feeds)
    out = stabilize(prog)
    verify(out)
    for before, after in zip(evaluate(prog, values), evaluate(out, values), strict=True):
        assert before.dtype == after.dtype and before.shape == after.shape
        np.testing.assert_allclose(after, before, rtol=rtol, atol=1e-12)
    return op_names(prune(out))


def _unchanged(fetches, feeds):
    prog = program(fetches, feeds)
    assert stabilize(prog) is prog


def _values_after(fetches, feeds, values):
    return evaluate(prune(stabilize(program(fetches, feeds))), values)


RNG = np.random.default_rng(0)
X34 = RNG.normal(size=(3, 4))


# --- log and exp -----------------------------------------------------------------------------------


def test_log_of_softmax(graph):
    x = gc.placeholder("float64", (None, 4), name="x")
    names = _stabilized([gc.log(gc.softmax(x, axis=0))], [x], [X34], rtol=1e-12)
    assert names == ["Placeholder", "LogSoftmax"]
    x32 = gc.placeholder("float32", (3,), name="x32")
    (got,) = _values_after([gc.log(gc.softmax(x32))], [x32], [np.array([0.0, -200.0, -1e4], np.float32)])
    np.testing.assert_allclose(got, [0.0, -200.0, -1e4], rtol=1e-6)  # the original gives -inf


def test_log_of_scaled_softmax_is_kept(graph):
    x = gc.placeholder("float64", (4,), name="x")
    _unchanged([gc.log(gc.softmax(x) * 2.0)], [x])


def test_log_of_sigmoid(graph):
    x = gc.placeholder("float64", (3, 4), name="x")
    names = _stabilized([gc.log(gc.sigmoid(x))], [x], [X34 * 10], rtol=1e-12)
    assert names == ["Placeholder", "Negative", "Softplus", "Negative"]
    x32 = gc.placeholder("float32", (2,), name="x32")
    (got,) = _values_after([gc.log(gc.sigmoid(x32))], [x32], [np.array([-200.0, 50.0], np.float32)])
    np.testing.assert_allclose(got, [-200.0, -np.exp(-50.0)], rtol=1e-6)  # the original: -inf, 0


def test_log_of_sigmoid_of_an_int_is_kept(graph):
    i = gc.placeholder("int32", (3,), name="i")
    _unchanged([gc.log(gc.sigmoid(i))], [i])


def test_log_of_one_plus_x(graph):
    x = gc.placeholder("float64", (3, 4), name="x")
    names = _stabilized([gc.log(1.0 + x), gc.log(x + 1.0)], [x], [np.abs(X34)], rtol=1e-12)
    assert names == ["Placeholder", "Log1p", "Log1p"]
    hits = Counter()
    stabilize(program([gc.log(1.0 + x), gc.log(x + 1.0)], [x]), hits)
    assert hits["log(1 + x) -> log1p(x)"] >= 1 and hits["log(x + 1) -> log1p(x)"] >= 1
    (got,) = _values_after([gc.log(1.0 + x)], [x], [np.full((3, 4), 1e-20)])
    np.testing.assert_allclose(got, 1e-20, rtol=1e-12)  # the original gives 0


def test_log_of_two_plus_x_is_kept(graph):
    x = gc.placeholder("float64", (3,), name="x")
    _unchanged([gc.log(2.0 + x)], [x])


def test_log_of_one_plus_x_where_the_one_broadcasts_or_promotes_is_kept(graph):
    x = gc.placeholder("float32", (3,), name="x")
    ones = gc.constant(np.ones((2, 3), np.float32))
    _unchanged([gc.log(ones + x), gc.log(x + gc.constant(np.float64(1.0)))], [x])


def test_log_of_one_plus_an_int_is_kept(graph):
    i = gc.placeholder("int32", (3,), name="i")
    _unchanged([gc.log(i + 1)], [i])


def test_exp_minus_one(graph):
    x = gc.placeholder("float64", (3, 4), name="x")
    names = _stabilized([gc.exp(x) - 1.0], [x], [X34], rtol=1e-12)
    assert names == ["Placeholder", "Expm1"]
    (got,) = _values_after([gc.exp(x) - 1.0], [x], [np.full((3, 4), 1e-20)])
    np.testing.assert_allclose(got, 1e-20, rtol=1e-12)  # the original gives 0


def test_one_minus_exp_and_exp_minus_two_are_kept(graph):
    x = gc.placeholder("float64", (3,), name="x")
    _unchanged([1.0 - gc.exp(x), gc.exp(x) - 2.0], [x])


def test_log_of_one_plus_exp(graph):
    x = gc.placeholder("float32", (3, 4), name="x")
    names = _stabilized([gc.log(1.0 + gc.exp(x)), gc.log1p(gc.exp(x))], [x], [X34.astype("float32")])
    assert names == ["Placeholder", "Softplus", "Softplus"]
    (got,) = _values_after([gc.log(gc.exp(x) + 1.0)], [x], [np.full((3, 4), 100.0, np.float32)])
    np.testing.assert_allclose(got, 100.0)  # the original overflows to inf


# --- softmax cross-entropy -------------------------------------------------------------------------

K = 5
Z = RNG.normal(size=(4, K)).astype(np.float32)
LABELS = np.array([0, 4, 2, 2])


def _xent_inputs():
    return gc.placeholder("float32", (None, K), name="z"), gc.placeholder("int64", (None,), name="labels")


@pytest.mark.parametrize(
    "form",
    [
        lambda ls, hot: -gc.reduce_sum(ls * hot, axis=-1),
        lambda ls, hot: -gc.reduce_sum(hot * ls, axis=1),
        lambda ls, hot: gc.reduce_sum(-(ls * hot), axis=-1),
        lambda ls, hot: gc.reduce_sum(-(hot * ls), axis=-1),
    ],
    ids=["neg_sum", "neg_sum_swapped", "sum_neg", "sum_neg_swapped"],
)
def test_cross_entropy_is_fused(graph, form):
    z, labels = _xent_inputs()
    loss = gc.reduce_mean(form(gc.log_softmax(z), gc.one_hot(labels, K)))
    names = _stabilized([loss], [z, labels], [Z, LABELS])
    assert names == ["Placeholder", "Placeholder", "SoftmaxCrossEntropy", "Mean"]


def test_cross_entropy_of_log_of_softmax_is_fused(graph):
    z, labels = _xent_inputs()
    loss = -gc.reduce_sum(gc.log(gc.softmax(z)) * gc.one_hot(labels, K), axis=-1)
    names = _stabilized([loss], [z, labels], [Z, LABELS])
    assert names == ["Placeholder", "Placeholder", "SoftmaxCrossEntropy"]


def test_cross_entropy_over_a_three_d_batch_is_fused(graph):
    z = gc.placeholder("float64", (2, None, 3), name="z")
    labels = gc.placeholder("int32", (2, None), name="labels")
    loss = -gc.reduce_sum(gc.one_hot(labels, 3, dtype="float64") * gc.log_softmax(z), axis=2)
    zv, lv = RNG.normal(size=(2, 4, 3)), RNG.integers(0, 3, (2, 4)).astype(np.int32)
    names = _stabilized([loss], [z, labels], [zv, lv], rtol=1e-12)
    assert "SoftmaxCrossEntropy" in names and "OneHot" not in names


@pytest.mark.parametrize(
    "near_miss",
    [
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z, axis=0) * gc.one_hot(labels, K), axis=-1),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=-1, keepdims=True),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=0),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K, on_value=2), axis=-1),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K, off_value=0.1), axis=-1),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K, dtype="float64"), axis=-1),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K) * 0.5, axis=-1),
        lambda z, labels: -gc.reduce_sum(gc.log_softmax(z) + gc.one_hot(labels, K), axis=-1),
        lambda z, labels: gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=-1),
    ],
    ids=[
        "log_softmax_axis0",
        "keepdims",
        "sum_axis0",
        "on_value_2",
        "off_value",
        "one_hot_f64_promotes",
        "scaled",
        "add",
        "no_minus",
    ],
)
def test_cross_entropy_near_misses_are_not_fused(graph, near_miss):
    z, labels = _xent_inputs()
    prog = program([near_miss(z, labels)], [z, labels])
    assert "SoftmaxCrossEntropy" not in op_names(stabilize(prog))


def test_cross_entropy_with_depth_other_than_the_classes_is_not_fused(graph):
    z1 = gc.placeholder("float32", (None, 1), name="z1")  # broadcasts against a depth-5 one-hot
    zu = gc.placeholder("float32", (None, None), name="zu")  # the number of classes is unknown
    labels = gc.placeholder("int64", (None,), name="labels")
    losses = [-gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=-1) for z in (z1, zu)]
    _unchanged(losses, [z1, zu, labels])


def test_cross_entropy_with_a_transposed_one_hot_is_not_fused(graph):
    z = gc.placeholder("float32", (3, 3), name="z")
    labels = gc.placeholder("int64", (3,), name="labels")
    _unchanged([-gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, 3, axis=0), axis=-1)], [z, labels])


def test_cross_entropy_whose_labels_may_broadcast_is_not_fused(graph):
    z = gc.placeholder("float32", (None, K), name="z")
    one = gc.placeholder("int64", (1,), name="one")  # broadcast against every row of z
    some = gc.placeholder("int64", (4,), name="some")  # known where z's batch is not
    losses = [-gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(t, K), axis=-1) for t in (one, some)]
    _unchanged(losses, [z, one, some])


def test_fused_cross_entropy_rejects_out_of_range_labels(graph):
    # the documented difference: the unfused form gives a loss of 0 for a label outside [0, K)
    z, labels = _xent_inputs()
    loss = -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=-1)
    prog = program([loss], [z, labels])
    bad = np.array([0, K, 1, 1])
    assert evaluate(prog, [Z, bad])[0][1] == 0.0
    with pytest.raises(gc.RunError, match=r"label 5 is out of range"):
        evaluate(stabilize(prog), [Z, bad])


def test_fused_cross_entropy_is_finite_for_extreme_logits(graph):
    z, labels = _xent_inputs()
    loss = -gc.reduce_sum(gc.log(gc.softmax(z)) * gc.one_hot(labels, K), axis=-1)
    extreme = np.array([[0.0, -1e4, 0.0, 0.0, 0.0]], np.float32)
    before = evaluate(program([loss], [z, labels]), [extreme, [1]])[0]
    (after,) = _values_after([loss], [z, labels], [extreme, [1]])
    assert np.isinf(before[0]) or np.isnan(before[0])
    np.testing.assert_allclose(after, [1e4 + np.log(4.0)], rtol=1e-6)


def test_fused_cross_entropy_gives_the_limit_at_infinite_logits(graph):
    z, labels = _xent_inputs()
    loss = -gc.reduce_sum(gc.log_softmax(z) * gc.one_hot(labels, K), axis=-1)
    inf = np.inf
    rows = np.array(
        [[-inf, 0, 0, 0, 0], [0, -inf, 0, 0, 0], [inf, 0, 0, 0, 0], [0, inf, 0, 0, 0]], np.float32
    )
    labels_v = [1, 1, 1, 1]  # masked class out; label masked out; another logit +inf; label +inf
    before = evaluate(program([loss], [z, labels]), [rows, labels_v])[0]
    (after,) = _values_after([loss], [z, labels], [rows, labels_v])
    assert np.isnan(before[[0, 2, 3]]).all() and before[1] == inf  # 0 * -inf in the unfused product
    np.testing.assert_allclose(after[0], np.log(4.0), rtol=1e-6)
    assert after[1] == inf and after[2] == inf and np.isnan(after[3])


# --- the pass as a whole ----------------------------------------------------------------------------


def test_nothing_to_stabilize_returns_the_same_graph(graph):
    x = gc.placeholder("float32", (3,), name="x")
    _unchanged([gc.log(x) + gc.exp(x) * 2.0], [x])


def test_stabilize_is_idempotent(graph):
    z, labels = _xent_inputs()
    loss = gc.reduce_mean(-gc.reduce_sum(gc.log(gc.softmax(z)) * gc.one_hot(labels, K), axis=-1))
    once = prune(stabilize(program([loss, gc.log(1.0 + gc.exp(z))], [z, labels])))
    assert stabilize(once) is once
