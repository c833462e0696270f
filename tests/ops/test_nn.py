"""softmax and log_softmax: build-time errors, attribute normalization, shape inference, extremes."""

import math

import numpy as np
import pytest

import graphc as gc


def _run(t, feeds=None):
    with gc.Session() as sess:
        return sess.run(t, feeds)


def test_axis_out_of_range_names_the_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"softmax.*test_nn.py.*axis 2 is out of range"):
        gc.softmax(x, axis=2)


def test_scalar_input_is_an_axis_error(graph):
    with pytest.raises(gc.AxisError, match=r"log_softmax.*test_nn.py"):
        gc.log_softmax(gc.constant(1.0))


def test_bool_input_is_a_dtype_error(graph):
    x = gc.placeholder("bool", (3,))
    with pytest.raises(gc.DTypeError, match=r"softmax.*test_nn.py.*bool"):
        gc.softmax(x)


def test_negative_axis_is_normalized(graph):
    x = gc.placeholder("float32", (2, 3, 4))
    assert gc.softmax(x, axis=-1).op == gc.softmax(x, axis=2).op
    assert gc.log_softmax(x, axis=-3).op == gc.log_softmax(x, axis=0).op
    assert gc.softmax(x).op.axis == 2


def test_unknown_dims_are_kept(graph):
    x = gc.placeholder("float32", (None, 5, None))
    assert gc.softmax(x, axis=1).shape == (None, 5, None)
    assert gc.log_softmax(x).shape == (None, 5, None)


def test_integer_input_gives_float32_and_float64_stays(graph):
    assert gc.softmax(gc.placeholder("int64", (3,))).dtype == np.float32
    assert gc.log_softmax(gc.placeholder("int32", (3,))).dtype == np.float32
    assert gc.softmax(gc.placeholder("float64", (3,))).dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_extreme_inputs_is_finite_and_exact(graph, dtype):
    x = gc.constant(np.array([[1e4, -1e4], [1e4, 1e4], [-1e4, -1e4]], dtype))
    got = _run(gc.softmax(x))
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]], dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_of_extreme_inputs_is_finite_and_exact(graph, dtype):
    x = gc.constant(np.array([[1e4, -1e4], [-1e4, -1e4]], dtype))
    got = _run(gc.log_softmax(x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [[0.0, -2e4], [-np.log(2), -np.log(2)]], rtol=1e-6)


def test_softmax_sums_to_one_along_the_axis_with_a_run_time_batch(graph):
    x = gc.placeholder("float32", (None, 4))
    got = _run(gc.softmax(x, axis=0), {x: np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)})
    assert got.shape == (7, 4)
    np.testing.assert_allclose(got.sum(axis=0), np.ones(4), rtol=1e-6)


def test_exp_of_log_softmax_is_softmax(graph):
    x = gc.constant(np.random.default_rng(1).normal(size=(3, 5)))
    a, b = _run([gc.exp(gc.log_softmax(x)), gc.softmax(x)])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_softmax_outputs_sum_to_a_constant_so_their_sum_has_zero_gradient(graph):
    x = gc.placeholder("float64", (None, 5))
    gx = gc.grad(gc.reduce_sum(gc.softmax(x)), x)
    got = _run(gx, {x: np.random.default_rng(2).normal(size=(3, 5))})
    np.testing.assert_allclose(got, np.zeros((3, 5)), atol=1e-15)


def test_log_softmax_gradient_is_finite_for_extreme_inputs(graph):
    # d sum_j log_softmax(x)_j / dx = 1 - n * softmax(x): exact even where softmax underflows
    x = gc.placeholder("float64", (2,))
    gx = gc.grad(gc.reduce_sum(gc.log_softmax(x)), x)
    np.testing.assert_allclose(_run(gx, {x: [0.0, -1e4]}), [-1.0, 1.0], rtol=1e-12)


# --- sparse_softmax_cross_entropy ------------------------------------------------------------------


def test_cross_entropy_is_minus_log_softmax_at_the_label(graph):
    rng = np.random.default_rng(3)
    z, labels = rng.normal(size=(4, 6)), rng.integers(0, 6, 4)
    loss = gc.sparse_softmax_cross_entropy(gc.constant(z), gc.constant(labels))
    want = -_run(gc.log_softmax(gc.constant(z)))[np.arange(4), labels]
    np.testing.assert_array_equal(_run(loss), want)


def test_cross_entropy_alias_is_tf_name(graph):
    assert gc.sparse_softmax_cross_entropy_with_logits is gc.sparse_softmax_cross_entropy


def test_cross_entropy_of_extreme_logits_is_finite(graph):
    z = gc.constant(np.array([[1e4, -1e4], [-1e4, 1e4]], "float32"))
    got = _run(gc.sparse_softmax_cross_entropy(z, gc.constant([1, 1])))
    np.testing.assert_array_equal(got, np.array([2e4, 0.0], "float32"))


def test_cross_entropy_out_of_range_label_is_a_run_error_naming_the_node(graph):
    z = gc.placeholder("float32", (None, 3))
    labels = gc.placeholder("int64", (None,))
    loss = gc.sparse_softmax_cross_entropy(z, labels, name="xent")
    for bad in (3, -1):
        with pytest.raises(gc.RunError, match=rf"xent.*test_nn.py.*label {bad} is out of range \[0, 3\)"):
            _run(loss, {z: np.zeros((2, 3), "float32"), labels: [0, bad]})


def test_cross_entropy_run_time_batch_mismatch_is_a_run_error(graph):
    z = gc.placeholder("float32", (None, 3))
    labels = gc.placeholder("int64", (None,))
    loss = gc.sparse_softmax_cross_entropy(z, labels, name="xent")
    with pytest.raises(gc.RunError, match=r"xent.*do not match"):
        _run(loss, {z: np.zeros((2, 3), "float32"), labels: [0]})


def test_cross_entropy_build_errors_name_the_node(graph):
    z = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"softmax_cross_entropy.*test_nn.py.*batch shape"):
        gc.sparse_softmax_cross_entropy(z, gc.placeholder("int64", (3,)))
    with pytest.raises(gc.ShapeError, match=r"batch shape"):
        gc.sparse_softmax_cross_entropy(z, gc.placeholder("int64", (2, 1)))
    with pytest.raises(gc.DTypeError, match=r"int32 or int64 labels"):
        gc.sparse_softmax_cross_entropy(z, gc.placeholder("float32", (2,)))
    with pytest.raises(gc.DTypeError, match=r"float logits"):
        gc.sparse_softmax_cross_entropy(gc.placeholder("int32", (2, 3)), gc.placeholder("int64", (2,)))
    with pytest.raises(gc.ShapeError, match=r"known at build time"):
        gc.sparse_softmax_cross_entropy(gc.placeholder("float32", (2, None)), gc.placeholder("int64", (2,)))


def test_cross_entropy_batch_shape_takes_the_known_dims(graph):
    z = gc.placeholder("float64", (None, 3, 5))
    labels = gc.placeholder("int32", (4, None))
    loss = gc.sparse_softmax_cross_entropy(z, labels)
    assert loss.shape == (4, 3) and loss.dtype == np.float64


def test_cross_entropy_gradient_is_softmax_minus_one_hot(graph):
    rng = np.random.default_rng(4)
    z = gc.placeholder("float64", (None, 4))
    labels = gc.placeholder("int64", (None,))
    gz = gc.grad(gc.reduce_sum(gc.sparse_softmax_cross_entropy(z, labels) * 2.0), z)
    zv, lv = rng.normal(size=(3, 4)), np.array([0, 3, 1])
    e = np.exp(zv - zv.max(-1, keepdims=True))
    want = 2.0 * (e / e.sum(-1, keepdims=True) - np.eye(4)[lv])
    np.testing.assert_allclose(_run(gz, {z: zv, labels: lv}), want, rtol=1e-12)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_cross_entropy_gradient_alone_refuses_an_out_of_range_label(graph, device):
    # with grad_cost, the gradient needs nothing of the loss itself: its run must still check the labels
    z = gc.placeholder("float32", (2, 3))
    labels = gc.placeholder("int64", (2,))
    gz = gc.grad(gc.sparse_softmax_cross_entropy(z, labels, name="xent"), z, grad_cost=np.ones(2, "float32"))
    with gc.Session(device=device) as sess:
        for bad in (3, -1):
            with pytest.raises(gc.RunError, match=rf"xent.*test_nn.py.*label {bad} is out of range \[0, 3\)"):
                sess.run(gz, {z: np.zeros((2, 3), "float32"), labels: [0, bad]})


def test_cross_entropy_gradient_leaves_its_one_hot_free_to_run_before_the_loss(graph):
    # the label check orders the gradient's softmax (which reads the logits as the loss does) after the
    # loss, not the one_hot: ordered after the loss, the one_hot moved next to the softmax in the CPU's
    # schedule, where the two became one more compiled segment
    z = gc.placeholder("float32", (None, 3))
    labels = gc.placeholder("int64", (None,))
    loss = gc.sparse_softmax_cross_entropy(z, labels, name="xent")
    gc.grad(gc.reduce_sum(loss), z)
    ops = {type(n.op).__name__: n for n in graph.nodes if n.name.startswith("gradients/xent_grad/")}
    assert not ops["OneHot"].control_inputs
    assert list(ops["Softmax"].control_inputs) == [loss.node]


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize("fn", [gc.softmax, gc.log_softmax], ids=["softmax", "log_softmax"])
def test_float32_softmax_along_a_leading_axis_stays_near_float64(graph, fn, device):
    # 10^4 rows of exp(x - max) = 0.1: numpy's float32 sum along axis 0 is a running one, 1e-4 off
    value = np.full((10_000, 3), np.log(0.1), np.float32)
    value[0] = 0.0
    x = gc.placeholder("float32", value.shape, name="x")
    y = fn(x, axis=0)
    with gc.Session(device=device) as sess:
        got = sess.run(y, {x: value})
    shifted = value.astype(np.float64)
    log_sum = np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    want = shifted - log_sum if fn is gc.log_softmax else np.exp(shifted - log_sum)
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_float32_cross_entropy_of_transposed_logits_stays_near_float64(graph, device):
    # 10^5 classes of exp(z - max) = 0.1 read across rows (a transposed view): numpy's float32 sum
    # along that axis is a running one, 1e-4 off
    value = np.full((100_000, 3), np.log(0.1), np.float32)
    value[0] = 0.0
    zt = gc.placeholder("float32", value.shape, name="zt")
    loss = gc.sparse_softmax_cross_entropy(gc.transpose(zt), gc.constant([0, 1, 2]))
    with gc.Session(device=device) as sess:
        got = sess.run(loss, {zt: value})
    z = value.T.astype(np.float64)
    want = np.log(np.exp(z).sum(axis=1)) - z[np.arange(3), [0, 1, 2]]
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_float64_softmax_along_a_leading_axis_adds_pairwise(graph, device):
    # 10^6 rows of exp(x - max) = 0.1: numpy's float64 sum along axis 0 is a running one, 1.3e-11 off
    value = np.full((1_000_000, 2), np.log(0.1))
    value[0] = 0.0
    x = gc.placeholder("float64", value.shape, name="x")
    y = gc.softmax(x, axis=0)
    with gc.Session(device=device) as sess:
        got = sess.run(y[:2], {x: value})
    total = math.fsum(np.exp(value[:, 0]))
    np.testing.assert_allclose(got, np.exp(value[:2]) / total, rtol=1e-13)
