"""matmul, transpose and dot: what the sample table cannot express (build-time errors, static shapes
with unknown dimensions, attribute normalization, run-time errors)."""

import numpy as np
import pytest

import graphc as gc
from graphc.ops.elementwise import Multiply
from graphc.ops.linalg import MatMul, Transpose


def test_inner_dimension_mismatch_raises_shape_error_naming_node_and_shapes(graph):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("float32", (4, 5))
    with pytest.raises(gc.ShapeError, match=r"'matmul'.*test_linalg.py.*\(2, 3\).*\(4, 5\)"):
        gc.matmul(a, b)


def test_vector_inner_mismatch_raises_shape_error_naming_node(graph):
    a = gc.placeholder("float32", (None, 3))
    b = gc.placeholder("float32", (4,))
    with pytest.raises(gc.ShapeError, match=r"'matmul'.*test_linalg.py.*\(\?, 3\).*\(4,\)"):
        a @ b  # noqa: B018 - building the node is the test


def test_scalar_operand_raises_shape_error_naming_node(graph):
    a = gc.placeholder("float32", ())
    b = gc.placeholder("float32", (3, 3))
    with pytest.raises(gc.ShapeError, match=r"'matmul'.*test_linalg.py.*rank >= 1"):
        gc.matmul(a, b)


def test_bool_operands_raise_dtype_error_naming_node(graph):
    a = gc.placeholder("bool", (2, 2))
    with pytest.raises(gc.DTypeError, match=r"'matmul'.*test_linalg.py.*bool"):
        gc.matmul(a, a)


def test_batch_dims_that_do_not_broadcast_raise_shape_error_naming_node(graph):
    a = gc.placeholder("float32", (2, 3, 4))
    b = gc.placeholder("float32", (5, 4, 6))
    with pytest.raises(gc.ShapeError, match=r"'matmul'.*test_linalg.py.*batch dimensions"):
        gc.matmul(a, b)


def test_matmul_shapes_with_unknown_dims(graph):
    def mm(sa, sb):
        return gc.matmul(gc.placeholder("float32", sa), gc.placeholder("float32", sb)).shape

    assert mm((None, 3), (3, None)) == (None, None)
    assert mm((None, 1, 2, 3), (4, 3, 5)) == (None, 4, 2, 5)
    assert mm((None, 2, 3), (1, 3, 5)) == (None, 2, 5)
    assert mm((None,), (2, None, 7)) == (2, 7)
    assert mm((2, None, 3), (None,)) == (2, None)
    assert mm((None,), (None,)) == ()


def test_unknown_inner_dim_that_mismatches_raises_run_error_naming_node(graph):
    a = gc.placeholder("float32", (2, None))
    b = gc.placeholder("float32", (4, 5))
    y = gc.matmul(a, b)
    assert y.shape == (2, 5)
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"'matmul'.*test_linalg.py"):
        sess.run(y, {a: np.ones((2, 3), np.float32), b: np.ones((4, 5), np.float32)})


def test_matmul_dtype_promotes_like_numpy(graph):
    a = gc.placeholder("int32", (2, 3))
    assert gc.matmul(a, gc.placeholder("float32", (3, 2))).dtype == np.float64
    assert gc.matmul(a, gc.placeholder("int64", (3, 2))).dtype == np.int64


def test_matmul_operator_builds_matmul_with_numpy_arrays_on_either_side(graph):
    x = gc.placeholder("float32", (2, 3))
    left = x @ np.ones((3, 4), np.float32)
    right = np.ones((5, 2), np.float32) @ x
    assert isinstance(left.op, MatMul) and left.shape == (2, 4)
    assert isinstance(right.op, MatMul) and right.shape == (5, 3)


def test_transpose_without_axes_reverses_them(graph):
    x = gc.placeholder("float32", (None, 3, 4))
    y = gc.transpose(x)
    assert y.op == Transpose((2, 1, 0))
    assert y.shape == (4, 3, None)
    assert x.T.op == y.op


def test_transpose_negative_axes_give_the_same_op(graph):
    x = gc.placeholder("float32", (2, 3, 4))
    assert gc.transpose(x, (-1, 0, -2)).op == gc.transpose(x, (2, 0, 1)).op


@pytest.mark.parametrize("axes", [np.array([2, 0, 1]), range(-1, 2), [np.int32(2), 0, 1]], ids=repr)
def test_transpose_takes_any_sequence_of_axes_as_numpy_does(graph, axes):
    x = gc.placeholder("float32", (2, 3, 4))
    y = gc.transpose(x, axes)
    assert y.op == Transpose(tuple(int(a) % 3 for a in axes))
    assert y.shape == np.transpose(np.zeros((2, 3, 4)), axes).shape


@pytest.mark.parametrize("axes", [(0, 0), (0,), (0, 1, 2), (0, 2)], ids=str)
def test_transpose_with_non_permutation_raises_axis_error_naming_node(graph, axes):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"'transpose'.*test_linalg.py"):
        gc.transpose(x, axes)


def test_transpose_op_built_with_negative_axes_is_rejected(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"not a permutation of range\(2\)"):
        graph.apply(Transpose((-1, 0)), [x])


def test_dot_with_a_scalar_multiplies(graph):
    x = gc.placeholder("float32", (2, 3))
    y = gc.dot(2.0, x)
    assert isinstance(y.op, Multiply)
    assert y.dtype == np.float32


def test_dot_of_matrices_is_matmul(graph):
    a = gc.placeholder("float32", (None, 2, 3))
    y = gc.dot(a, gc.placeholder("float32", (3, 4)), name="d")
    assert isinstance(y.op, MatMul)
    assert y.shape == (None, 2, 4)
    assert y.node.name == "d"


def test_dot_with_nd_second_operand_is_not_implemented(graph):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("float32", (4, 3, 5))
    with pytest.raises(NotImplementedError, match=r"matmul"):
        gc.dot(a, b)


# --- gradients (the sample table checks their values against finite differences) ---


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((4,), (4, 5)), ((2, 3, 4), (4,)), ((4,), (4,)), ((4,), (None, 4, 3)), ((2, 1, 3, 4), (None, 4, 2))],
)
def test_matmul_gradients_have_the_operands_static_shapes(graph, a_shape, b_shape):
    a = gc.placeholder("float32", a_shape)
    b = gc.placeholder("float32", b_shape)
    ga, gb = gc.grad(gc.reduce_sum(gc.matmul(a, b)), [a, b])
    assert (ga.shape, gb.shape) == (a.shape, b.shape)


def test_matmul_gradient_sums_a_batch_dim_broadcast_at_run_time(graph):
    # b's batch dim is unknown when built and 1 when run: its gradient is summed over a's batch
    a = gc.placeholder("float64", (None, 2, 3))
    b = gc.placeholder("float64", (None, 3, 4))
    gb = gc.grad(gc.reduce_sum(gc.matmul(a, b)), b)
    a_value = np.arange(18.0).reshape(3, 2, 3)
    with gc.Session() as sess:
        got = sess.run(gb, {a: a_value, b: np.ones((1, 3, 4))})
    np.testing.assert_array_equal(got, np.broadcast_to(a_value.sum(axis=(0, 1))[None, :, None], (1, 3, 4)))


def test_transpose_gradient_applies_the_inverse_permutation(graph):
    x = gc.placeholder("float64", (2, 3, 4))
    w = np.arange(24.0).reshape(4, 2, 3)
    gx = gc.grad(gc.reduce_sum(gc.transpose(x, (2, 0, 1)) * w), x)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(gx, {x: np.zeros((2, 3, 4))}), np.transpose(w, (1, 2, 0)))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_matmul_gradient_alone_checks_an_unknown_inner_dim(graph, device):
    # the (1, 1) product's sum needs nothing of the product: the gradient run must still check k
    a = gc.placeholder("float64", (1, None), name="a")
    b = gc.placeholder("float64", (None, 1), name="b")
    ga, gb = gc.grad(gc.reduce_sum(gc.matmul(a, b, name="prod")), [a, b])
    with gc.Session(device=device) as sess, pytest.raises(gc.RunError, match=r"'prod'.*test_linalg.py"):
        sess.run([ga, gb], {a: np.ones((1, 3)), b: np.ones((4, 1))})
