"""graphc.grad: the driver's behaviour (structure, errors, accumulation, scopes, growth) and composite
gradients checked against finite differences and analytic formulas."""

import collections

import numpy as np
import pytest

import graphc as gc
from graphc.testing import check_grad


def _run(fetches, feeds=None):
    with gc.Session() as sess:
        return sess.run(fetches, feeds or {})


def test_result_mirrors_wrt(graph):
    x = gc.placeholder("float64", (2,), name="x")
    y = gc.placeholder("float64", (2,), name="y")
    cost = gc.reduce_sum(x * y)
    assert isinstance(gc.grad(cost, x), gc.Tensor)
    assert isinstance(gc.grad(cost, [x, y]), list)
    assert isinstance(gc.grad(cost, (x, y)), tuple)


def test_result_mirrors_a_namedtuple_wrt(graph):
    params = collections.namedtuple("Params", "w b")
    w = gc.placeholder("float64", (2,), name="w")
    b = gc.placeholder("float64", (), name="b")
    grads = gc.grad(gc.reduce_sum(w * 2.0) + b, params(w, b))
    assert type(grads) is params
    np.testing.assert_array_equal(_run(grads.w, {w: [1.0, 1.0], b: 0.0}), [2.0, 2.0])


def test_no_wrt_gives_no_gradients(graph):
    x = gc.placeholder("float64", (2,), name="x")
    cost = gc.reduce_sum(x * x)
    assert gc.grad(cost, []) == []
    assert gc.grad(cost, ()) == ()


@pytest.mark.parametrize("kind", ["none", "op", "dict", "int"])
def test_wrt_that_is_not_tensors_is_a_type_error_naming_what_it_got(graph, kind):
    w = gc.Variable(np.ones(2, np.float32), name="w")
    cost = gc.reduce_sum(w * w)
    wrt = {"none": None, "op": gc.group(gc.assign(w, w)), "dict": {"w": w}, "int": 3}[kind]
    # list(wrt) said "'NoneType' object is not iterable" (an op: "'Node' ..."); a dict gave its keys
    with pytest.raises(TypeError, match=r"grad wrt must be a tensor or a list/tuple of tensors, got"):
        gc.grad(cost, wrt)


def test_gradient_of_a_variable(graph):
    w = gc.Variable(np.array([1.0, 2.0]), name="w")
    dw = gc.grad(gc.reduce_sum(w * w * w), w)
    np.testing.assert_allclose(_run(dw), [3.0, 12.0])


def test_gradient_of_a_variable_includes_its_read_value_reads(graph):
    w = gc.Variable(np.array([1.0, 2.0]), name="w")
    cost = gc.reduce_sum(w * w.read_value() * 3.0) + gc.reduce_sum(w.read_value())
    np.testing.assert_allclose(_run(gc.grad(cost, w)), 6.0 * np.array([1.0, 2.0]) + 1.0)


def test_gradient_of_a_variable_read_only_through_read_value(graph):
    w = gc.Variable(np.array([1.0, 2.0]), name="w")
    np.testing.assert_allclose(_run(gc.grad(gc.reduce_sum(w.read_value() ** 2.0), w)), [2.0, 4.0])


def test_gradient_wrt_a_read_is_only_that_reads_path(graph):
    w = gc.Variable(np.array([1.0, 2.0]), name="w")
    r = w.read_value()
    dw, dr = gc.grad(gc.reduce_sum(w * r * 3.0) + gc.reduce_sum(r), [w, r])
    np.testing.assert_allclose(_run(dw), [7.0, 13.0])
    np.testing.assert_allclose(_run(dr), [4.0, 7.0])


def test_gradients_of_a_tensor_used_twice_accumulate(graph):
    x = gc.placeholder("float64", (), name="x")
    y = gc.exp(x) + x * x
    dx = gc.grad(y, x)
    assert _run(dx, {x: 0.5}) == pytest.approx(np.exp(0.5) + 1.0)


def test_non_scalar_cost_needs_grad_cost(graph):
    x = gc.placeholder("float64", (3,), name="x")
    with pytest.raises(gc.ShapeError, match=r"not a scalar.*grad_cost"):
        gc.grad(x * 2.0, x)


def test_grad_cost_gives_a_vector_jacobian_product(graph):
    x = gc.placeholder("float64", (3,), name="x")
    v = np.array([1.0, -2.0, 0.5])
    dx = gc.grad(x * x, x, grad_cost=gc.constant(v))
    np.testing.assert_allclose(_run(dx, {x: [1.0, 2.0, 3.0]}), 2 * np.array([1.0, 2.0, 3.0]) * v)


def test_grad_cost_of_another_shape_is_refused_naming_both(graph):
    x = gc.placeholder("float64", (3,), name="x")
    with pytest.raises(gc.ShapeError, match=r"grad_cost f64\[4\] does not match the cost f64\[3\]"):
        gc.grad(x * x, x, grad_cost=gc.constant(np.ones(4)))


def test_grad_cost_of_another_dtype_is_a_dtype_error(graph):
    x = gc.placeholder("float64", (3,), name="x")
    with pytest.raises(gc.DTypeError, match=r"grad_cost f32\[3\] does not match the cost f64\[3\]"):
        gc.grad(x * x, x, grad_cost=gc.constant(np.ones(3, "float32")))


def test_grad_cost_of_another_graph_is_refused_naming_it(graph):
    x = gc.placeholder("float64", (3,), name="x")
    with gc.Graph().as_default():
        other = gc.placeholder("float64", (3,), name="other")
    with pytest.raises(gc.GraphMismatchError, match=r"grad_cost other:0 belongs to another graph"):
        gc.grad(x * x, x, grad_cost=other)


def test_grad_cost_value_becomes_a_constant_of_the_costs_graph(graph):
    other = gc.Graph()
    with other.as_default():
        x = gc.placeholder("float64", (3,), name="x")
        y = x * 3.0
    dx = gc.grad(y, x, grad_cost=[1.0, 2.0, 3.0])  # built while `graph` is the default one
    assert dx.graph is other
    with gc.Session(other) as sess:
        np.testing.assert_array_equal(sess.run(dx, {x: np.ones(3)}), [3.0, 6.0, 9.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize(("n_cost", "n_grad_cost"), [(3, 1), (1, 3)])
def test_grad_cost_of_another_run_time_shape_is_refused(graph, device, n_cost, n_grad_cost):
    # size 1 against 3 broadcasts: without a run-time check the gradient silently had the wrong shape
    x = gc.placeholder("float64", (None,), name="x")
    gy = gc.placeholder("float64", (None,), name="gy")
    dx = gc.grad(x * 3.0, x, grad_cost=gy)
    with gc.Session(device=device) as sess, pytest.raises(gc.GraphcError, match=r"grad_cost_shape_check"):
        sess.run(dx, {x: np.ones(n_cost), gy: np.ones(n_grad_cost)})
    with gc.Session(device=device) as sess:
        np.testing.assert_array_equal(sess.run(dx, {x: np.ones(3), gy: [1.0, 2.0, 3.0]}), [3.0, 6.0, 9.0])


def test_integer_wrt_is_refused_naming_it(graph):
    i = gc.placeholder("int64", (3,), name="counts")
    cost = gc.reduce_sum(gc.cast(i, "float64"))
    with pytest.raises(gc.DTypeError, match=r"node 'counts'.*i64\[3\]"):
        gc.grad(cost, i)


def test_unconnected_wrt_raises_by_default_naming_it(graph):
    x = gc.placeholder("float64", (), name="x")
    lonely = gc.placeholder("float64", (), name="lonely")
    with pytest.raises(gc.GraphcError, match=r"node 'lonely'.*does not depend"):
        gc.grad(x * 2.0, [x, lonely])


def test_unconnected_zero_and_none(graph):
    x = gc.placeholder("float64", (2,), name="x")
    lonely = gc.placeholder("float64", (None, 3), name="lonely")
    cost = gc.reduce_sum(x)
    dzero = gc.grad(cost, lonely, unconnected="zero")
    assert gc.grad(cost, lonely, unconnected="none") is None
    out = _run(dzero, {lonely: np.ones((4, 3))})
    np.testing.assert_array_equal(out, np.zeros((4, 3)))


def test_path_through_integers_is_not_differentiable(graph):
    x = gc.placeholder("float64", (3,), name="x")
    cost = gc.reduce_sum(gc.cast(gc.argmax(x) + 0, "float64"))
    with pytest.raises(gc.GraphcError, match="does not depend"):
        gc.grad(cost, x)


def test_stop_gradient_blocks_the_gradient(graph):
    x = gc.placeholder("float64", (), name="x")
    y = x * gc.stop_gradient(x * 3.0)
    assert _run(gc.grad(y, x), {x: 2.0}) == 6.0


def test_gradient_nodes_live_under_gradients_scope_and_link_to_forward_nodes(graph):
    x = gc.placeholder("float64", (2,), name="x")
    with gc.name_scope("model"):
        h = gc.tanh(x, name="act")
        cost = gc.reduce_sum(h, name="total")
    first = len(graph.nodes)
    gc.grad(cost, x)
    added = graph.nodes[first:]
    assert added and all(n.name.startswith("gradients/") for n in added)
    tanh_grad = [n for n in added if n.grad_of is h.node]
    assert tanh_grad and all(n.name.startswith("gradients/model/act_grad/") for n in tanh_grad)


def test_gradient_graph_grows_linearly_with_the_forward_graph():
    def added_nodes(depth):
        g = gc.Graph()
        with g.as_default():
            x = gc.placeholder("float64", (None,), name="x")
            y = x
            for _ in range(depth):
                y = gc.tanh(y) * 1.01 + x  # each step reuses x: many consumers to accumulate
            cost = gc.reduce_sum(y)
            before = len(g.nodes)
            gc.grad(cost, x)
            return before, len(g.nodes) - before

    forward_small, small = added_nodes(40)
    forward_big, big = added_nodes(160)
    assert forward_big > 100
    assert big <= 6 * forward_big
    assert big / small < 4.5  # 4x the depth: linear growth, not quadratic (16x)


def test_second_derivative_of_sum_tanh_cubed_matches_the_formula(graph):
    x = gc.placeholder("float64", (None,), name="x")
    first = gc.grad(gc.reduce_sum(gc.tanh(x) ** 3.0), x)
    second = gc.grad(gc.reduce_sum(first), x)  # elementwise f', so this is f'' elementwise
    values = np.linspace(-2.0, 2.0, 9)
    t = np.tanh(values)
    got_first, got_second = _run([first, second], {x: values})
    np.testing.assert_allclose(got_first, 3 * t**2 * (1 - t**2), rtol=1e-12)
    np.testing.assert_allclose(got_second, (6 * t - 12 * t**3) * (1 - t**2), rtol=1e-10, atol=1e-12)


def test_hessian_vector_product(graph):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    x = gc.placeholder("float64", (4,), name="x")
    v = gc.placeholder("float64", (4,), name="v")
    f = 0.5 * gc.reduce_sum(x * gc.matmul(gc.constant(a), x)) + gc.reduce_sum(gc.exp(x))
    g = gc.grad(f, x)
    hv = gc.grad(gc.reduce_sum(g * v), x)
    xv, vv = rng.normal(size=4), rng.normal(size=4)
    hessian = 0.5 * (a + a.T) + np.diag(np.exp(xv))
    np.testing.assert_allclose(_run(hv, {x: xv, v: vv}), hessian @ vv, rtol=1e-10)


def test_gradient_penalty_trains_through_a_second_derivative(graph):
    # d/dw of (d f / d x)^2 with f = w * x^2: d f/dx = 2 w x, penalty = 4 w^2 x^2, d/dw = 8 w x^2
    w = gc.Variable(np.float64(1.5), name="w")
    x = gc.placeholder("float64", (), name="x")
    dfdx = gc.grad(w * x * x, x)
    dw = gc.grad(dfdx * dfdx, w)
    assert _run(dw, {x: 2.0}) == pytest.approx(8 * 1.5 * 4.0)


def test_mlp_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)

    def mlp(x, labels, w1, b1, w2, b2):
        h = gc.relu(gc.matmul(x, w1) + b1)
        logits = gc.matmul(h, w2) + b2
        picked = gc.reduce_sum(gc.log_softmax(logits) * gc.one_hot(labels, 3, dtype="float64"), axis=1)
        return -gc.reduce_mean(picked)

    inputs = [
        rng.normal(size=(5, 4)),
        rng.integers(0, 3, 5),
        rng.normal(size=(4, 6)),
        rng.normal(size=6),
        rng.normal(size=(6, 3)),
        rng.normal(size=3),
    ]
    static = [(None, 4), (None,), (4, 6), (6,), (6, 3), (3,)]
    check_grad(mlp, inputs, static_shapes=static)


def test_cnn_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)

    def cnn(images, labels, k1, k2, w):
        h = gc.max_pool2d(gc.relu(gc.conv2d(images, k1, padding=1)), 2)
        h = gc.avg_pool2d(gc.tanh(gc.conv2d(h, k2, stride=2, padding="same")), 1)
        logits = gc.matmul(gc.reshape(h, (-1, 3 * 2 * 2)), w)
        return gc.reduce_mean(
            gc.reduce_logsumexp(logits, axis=1)
            - gc.reduce_sum(logits * gc.one_hot(labels, 2, dtype="float64"), axis=1)
        )

    inputs = [
        rng.normal(size=(2, 2, 8, 8)),
        rng.integers(0, 2, 2),
        rng.normal(size=(4, 2, 3, 3)),
        rng.normal(size=(3, 4, 3, 3)),
        rng.normal(size=(12, 2)),
    ]
    static = [(None, 2, 8, 8), (None,), (4, 2, 3, 3), (3, 4, 3, 3), (12, 2)]
    check_grad(cnn, inputs, static_shapes=static)


def test_check_grad_refuses_to_check_nothing():
    from graphc.testing import check_grad

    with pytest.raises(ValueError, match="directions >= 1"):
        check_grad(lambda x: gc.reduce_sum(x * x), [np.ones(3)], directions=0)


def test_check_grad_needs_one_static_shape_per_input():
    from graphc.testing import check_grad

    with pytest.raises(ValueError, match="1 static_shapes for 2 inputs"):
        check_grad(lambda x, y: gc.reduce_sum(x * y), [np.ones(3), np.ones(3)], static_shapes=[(None,)])


def test_check_grad_holds_random_draws_fixed_across_evaluations():
    # a dropout-like mask: each run of a random op draws anew, but the gradient is that of one draw
    def masked(x):
        keep = gc.cast(gc.random_uniform((3,), seed=2) > 0.5, "float64")
        return gc.reduce_sum(gc.tanh(x) * keep * gc.random_normal((3,), dtype="float64"))

    check_grad(masked, [np.array([0.3, -1.2, 0.5])])


def test_check_grad_detects_a_wrong_gradient_through_random_ops():
    def wrong(x):  # x * stop_gradient(x): grad says x, the derivative is 2x
        return gc.reduce_sum(x * gc.stop_gradient(x) * gc.random_normal((3,), dtype="float64"))

    with pytest.raises(AssertionError, match="finite differences"):
        check_grad(wrong, [np.array([0.3, -1.2, 0.5])])


@pytest.mark.parametrize("result", [lambda x: {"y": x * 2.0}, lambda x: np.ones(3)])
def test_check_grad_of_a_function_returning_no_tensors_says_what_it_takes(result):
    with pytest.raises(TypeError, match="fn must return a tensor or a tuple of tensors, got"):
        check_grad(result, [np.ones(3)])
