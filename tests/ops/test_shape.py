"""Shape ops: what the sample table cannot express (build-time errors, static shapes with unknown
dimensions, attribute normalization, run-time errors)."""

import numpy as np
import pytest

import graphc as gc


def _run(fetch, feeds):
    with gc.Session() as sess:
        return sess.run(fetch, feeds)


# --- reshape -------------------------------------------------------------------------------------


def test_reshape_size_mismatch_raises_shape_error_naming_node_and_shapes(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'reshape.*test_shape.py.*\(2, 3\) into \(4, 2\)"):
        gc.reshape(x, (4, 2))


def test_reshape_minus_one_that_does_not_divide_raises_shape_error(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'reshape.*test_shape.py.*does not fit -1"):
        gc.reshape(x, (-1, 4))


def test_reshape_with_two_minus_ones_raises_shape_error(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'reshape.*test_shape.py.*at most one -1"):
        x.reshape(-1, -1)


def test_reshape_minus_one_on_unknown_size_is_unknown(graph):
    x = gc.placeholder("float32", (None, 2, 3))
    assert gc.reshape(x, (-1, 6)).shape == (None, 6)
    assert gc.reshape(x, (2, -1)).shape == (2, None)


def test_reshape_checks_the_known_factor_of_an_unknown_size(graph):
    x = gc.placeholder("float32", (None, 6))
    assert gc.reshape(x, (4, 3)).shape == (4, 3)
    with pytest.raises(gc.ShapeError, match=r"'reshape.*test_shape.py.*multiple of 6"):
        gc.reshape(x, (4, 5))


def test_reshape_minus_one_is_resolved_into_the_op_when_size_is_known(graph):
    x = gc.placeholder("float32", (2, 3))
    assert gc.reshape(x, (-1, 2)).op == gc.reshape(x, (3, 2)).op
    assert gc.reshape(x, [3, np.int64(2)]).op == gc.reshape(x, (3, 2)).op


def test_reshape_wrong_unknown_dim_fails_at_run_time_naming_node(graph):
    x = gc.placeholder("float32", (None, 4))
    y = gc.reshape(x, (3, 4), name="to_three_rows")
    with pytest.raises(gc.RunError, match=r"'to_three_rows.*test_shape.py"):
        _run(y, {x: np.zeros((2, 4), "float32")})


@pytest.mark.parametrize(
    "build, error",
    [
        (lambda x: gc.reshape(x, 6.0), r"'reshape.*test_shape.py.*static ints, got 6.0"),
        (lambda x: gc.expand_dims(x, 1.0), r"'expand_dims.*test_shape.py.*axis must be an int, got 1.0"),
        (lambda x: gc.squeeze(x, 0.0), r"'squeeze.*test_shape.py.*axis must be an int"),
        (lambda x: gc.broadcast_to(x, None), r"'broadcast_to.*test_shape.py.*static ints, got None"),
        (lambda x: gc.split(x, 2.0), r"'split.*test_shape.py.*static ints, got 2.0"),
    ],
)
def test_a_non_int_shape_or_axis_raises_a_graphc_error_naming_node(graph, build, error):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.GraphcError, match=error):
        build(x)


def test_reshape_rejects_a_tensor_shape(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(TypeError, match="static shape"):
        gc.reshape(x, gc.shape(x))


# --- expand_dims, squeeze, broadcast_to ----------------------------------------------------------


def test_expand_dims_negative_axis_gives_the_same_op_as_positive(graph):
    x = gc.placeholder("float32", (None, 3))
    assert gc.expand_dims(x, -1).op == gc.expand_dims(x, 2).op
    assert gc.expand_dims(x, (-1, 0)).op == gc.expand_dims(x, (0, 3)).op


def test_expand_dims_out_of_range_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"'expand_dims.*test_shape.py.*axis 3 is out of range"):
        gc.expand_dims(x, 3)


def test_squeeze_of_a_dim_known_not_one_raises_shape_error_naming_node(graph):
    x = gc.placeholder("float32", (1, 3))
    with pytest.raises(gc.ShapeError, match=r"'squeeze.*test_shape.py.*axis 1 of size 3"):
        gc.squeeze(x, axis=1)


def test_squeeze_without_axis_keeps_unknown_dims(graph):
    x = gc.placeholder("float32", (1, None, 1, 4))
    assert gc.squeeze(x).shape == (None, 4)
    assert gc.squeeze(x).op == gc.squeeze(x, axis=(-2, 0)).op


def test_squeeze_of_unknown_dim_that_is_not_one_fails_at_run_time(graph):
    x = gc.placeholder("float32", (None, 3))
    y = gc.squeeze(x, axis=0)
    assert y.shape == (3,)
    np.testing.assert_array_equal(_run(y, {x: np.ones((1, 3), "float32")}), np.ones(3))
    with pytest.raises(gc.RunError, match=r"'squeeze.*test_shape.py"):
        _run(y, {x: np.ones((2, 3), "float32")})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_a_squeeze_of_no_axis_is_a_new_array_not_its_input(graph, device):
    x = gc.placeholder("float32", (None, 3), name="x")
    y = gc.exp(x)
    feed = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32)  # its own memory (no base)
    with gc.Session(device=device) as sess:
        assert sess.run(gc.squeeze(x), {x: feed}) is not feed  # squeeze(x) has no static size-1 axis
        y_value, squeezed = sess.run([y, gc.squeeze(y)], {x: feed})
    squeezed[0, 0] = 100.0  # the user's to change, apart from y's value
    np.testing.assert_allclose(y_value, np.exp(feed))


def test_broadcast_to_incompatible_shape_raises_shape_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'broadcast_to.*test_shape.py.*\(2, 3\) to \(4, 3\)"):
        gc.broadcast_to(x, (4, 3))


def test_broadcast_to_rejects_unknown_target_dims(graph):
    x = gc.placeholder("float32", (3,))
    with pytest.raises(gc.ShapeError, match=r"'broadcast_to.*test_shape.py.*static ints"):
        gc.broadcast_to(x, (None, 3))


def test_broadcast_to_unknown_input_dim_is_checked_at_run_time(graph):
    x = gc.placeholder("float32", (None,))
    y = gc.broadcast_to(x, (2, 3))
    with pytest.raises(gc.RunError, match=r"'broadcast_to.*test_shape.py"):
        _run(y, {x: np.ones(2, "float32")})


# --- concat, stack -------------------------------------------------------------------------------


def test_concat_with_disagreeing_dims_raises_shape_error_naming_node(graph):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("float32", (2, 4))
    with pytest.raises(gc.ShapeError, match=r"'concat.*test_shape.py.*axis 1.*\[3, 4\]"):
        gc.concat([a, b], axis=0)


def test_concat_merges_unknown_dims_and_sums_the_axis(graph):
    a = gc.placeholder("float32", (None, 3))
    b = gc.placeholder("float32", (2, None))
    assert gc.concat([a, b], axis=0).shape == (None, 3)
    assert gc.concat([a, b], axis=1).shape == (2, None)
    assert gc.concat([b, b], axis=0).shape == (4, None)


def test_concat_negative_axis_gives_the_same_op_as_positive(graph):
    a = gc.placeholder("float32", (2, 3))
    assert gc.concat([a, a], axis=-1).op == gc.concat([a, a], axis=1).op


def test_concat_of_scalars_raises_axis_error(graph):
    a = gc.placeholder("float32", ())
    with pytest.raises(gc.AxisError, match=r"'concat.*test_shape.py.*rank 0"):
        gc.concat([a, a])


def test_concat_of_nothing_raises_shape_error_naming_node(graph):
    with pytest.raises(gc.ShapeError, match=r"'concat.*test_shape.py.*at least one"):
        gc.concat([])


def test_concat_of_different_ranks_raises_shape_error(graph):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("float32", (3,))
    with pytest.raises(gc.ShapeError, match=r"'concat.*test_shape.py.*one rank"):
        gc.concat([a, b])


@pytest.mark.parametrize("join", [gc.concat, gc.stack])
def test_joining_different_ranks_shows_the_inputs_own_dtypes(graph, join):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("int32", (3,))
    with pytest.raises(gc.ShapeError, match=r"one rank, got f32\[2,3\], i32\[3\]$"):  # not promoted f64s
        join([a, b])


def test_concat_unknown_dims_that_disagree_fail_at_run_time(graph):
    a = gc.placeholder("float32", (None, 3))
    b = gc.placeholder("float32", (None, 3))
    y = gc.concat([a, b], axis=1)
    with pytest.raises(gc.RunError, match=r"'concat.*test_shape.py"):
        _run(y, {a: np.ones((2, 3), "float32"), b: np.ones((1, 3), "float32")})


def test_stack_of_different_shapes_raises_shape_error_naming_node(graph):
    a = gc.placeholder("float32", (2, 3))
    b = gc.placeholder("float32", (3, 3))
    with pytest.raises(gc.ShapeError, match=r"'stack.*test_shape.py.*axis 0"):
        gc.stack([a, b])


def test_stack_axis_counts_in_the_output_rank(graph):
    a = gc.placeholder("float32", (None, 3))
    assert gc.stack([a, a], axis=-1).shape == (None, 3, 2)
    assert gc.stack([a, a], axis=-1).op == gc.stack([a, a], axis=2).op
    with pytest.raises(gc.AxisError, match=r"'stack.*test_shape.py"):
        gc.stack([a, a], axis=3)


# --- split, unstack ------------------------------------------------------------------------------


def test_split_into_n_pieces_needs_a_known_dim(graph):
    x = gc.placeholder("float32", (None, 4))
    with pytest.raises(gc.ShapeError, match=r"'split.*test_shape.py.*into 2 equal pieces"):
        gc.split(x, 2, axis=0)


def test_split_into_n_pieces_needs_a_divisible_dim(graph):
    x = gc.placeholder("float32", (5,))
    with pytest.raises(gc.ShapeError, match=r"'split.*test_shape.py.*into 2 equal pieces"):
        gc.split(x, 2)


def test_split_sizes_must_add_up_to_a_known_dim(graph):
    x = gc.placeholder("float32", (5,))
    with pytest.raises(gc.ShapeError, match=r"'split.*test_shape.py.*\(1, 2\) do not add up"):
        gc.split(x, [1, 2])


def test_split_sizes_on_unknown_dim_are_checked_at_run_time(graph):
    x = gc.placeholder("float32", (None,))
    a, b = gc.split(x, [1, 2])
    assert (a.shape, b.shape) == ((1,), (2,))
    with pytest.raises(gc.RunError, match=r"'split.*test_shape.py.*do not add up"):
        _run(b, {x: np.ones(4, "float32")})


def test_split_count_and_sizes_give_the_same_op(graph):
    x = gc.placeholder("float32", (3, 4))
    assert gc.split(x, 2, axis=-1)[0].op == gc.split(x, (2, 2), axis=1)[0].op


def test_split_returns_a_list_even_for_one_piece(graph):
    x = gc.placeholder("float32", (3,))
    pieces = gc.split(x, 1)
    assert isinstance(pieces, list) and len(pieces) == 1 and pieces[0].shape == (3,)


def test_split_takes_a_zero_d_integer_array_as_the_number_of_pieces(graph):
    x = gc.placeholder("float32", (2, 3))
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    pieces = gc.split(x, np.array(2), axis=0)
    with gc.Session(device="reference") as sess:
        got = sess.run(pieces, {x: xv})
    want = np.split(xv, np.array(2), axis=0)  # two pieces of 1 row, not one piece of size 2
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_split_refuses_a_bool_as_the_number_of_pieces(graph):
    x = gc.placeholder("float32", (3,))
    with pytest.raises(gc.ShapeError, match=r"'split.*test_shape.py.*got True"):
        gc.split(x, True)


def test_unstack_of_an_empty_axis_is_no_pieces(graph):
    x = gc.placeholder("float32", (None, 0))
    assert gc.unstack(x, axis=1) == []


def test_unstack_needs_a_known_dim(graph):
    x = gc.placeholder("float32", (None, 2))
    assert [t.shape for t in gc.unstack(x, axis=-1)] == [(None,), (None,)]
    with pytest.raises(gc.ShapeError, match="unstack needs a known size on axis 0"):
        gc.unstack(x)


def test_unstack_errors_name_the_node_and_the_users_line(graph):
    x = gc.placeholder("float32", (None, 2))
    with pytest.raises(gc.ShapeError, match=r"'pieces' \(Split\).*test_shape.py.*known size on axis 0"):
        gc.unstack(x, name="pieces")
    with pytest.raises(gc.AxisError, match=r"'split' \(Split\).*test_shape.py.*axis 2 is out of range"):
        gc.unstack(x, axis=2)


# --- shape, size ---------------------------------------------------------------------------------


def test_shape_and_size_are_computed_at_run_time(graph):
    x = gc.placeholder("float32", (None, 3))
    s, n = gc.shape(x), gc.size(x)
    assert (s.shape, s.dtype, n.shape, n.dtype) == ((2,), np.int64, (), np.int64)
    got_s, got_n = _run([s, n], {x: np.zeros((5, 3), "float32")})
    np.testing.assert_array_equal(got_s, [5, 3])
    assert got_n == 15


# --- gradients -----------------------------------------------------------------------------------


def _op_names(tensors) -> set[str]:
    return {t.op.type_name for t in tensors}


def test_reshape_gradient_is_a_static_reshape_unless_two_dims_are_unknown(graph):
    x = gc.placeholder("float32", (None, 2, 3))
    assert gc.grad(gc.reduce_sum(gc.reshape(x, (-1, 6))), x).op.type_name == "Reshape"
    y = gc.placeholder("float32", (None, None, 3))
    assert gc.grad(gc.reduce_sum(gc.reshape(y, (-1,))), y).op.type_name == "ReshapeLike"


def test_broadcast_to_gradient_sums_statically_unless_a_dim_may_have_been_one(graph):
    x = gc.placeholder("float32", (4, 1))
    dx = gc.grad(gc.reduce_sum(gc.broadcast_to(x, (2, 4, 3))), x)
    assert dx.op.type_name == "Sum" and dx.shape == (4, 1)
    np.testing.assert_array_equal(_run(dx, {x: np.zeros((4, 1), "float32")}), np.full((4, 1), 6.0))
    y = gc.placeholder("float32", (None, 3))
    dy = gc.grad(gc.reduce_sum(gc.broadcast_to(y, (4, 3))), y)
    assert dy.op.type_name == "SumLike"
    np.testing.assert_array_equal(_run(dy, {y: np.zeros((1, 3), "float32")}), np.full((1, 3), 4.0))
    np.testing.assert_array_equal(_run(dy, {y: np.zeros((4, 3), "float32")}), np.ones((4, 3)))


def test_concat_gradient_splits_statically_or_by_the_inputs_run_time_sizes(graph):
    x, y = gc.placeholder("float32", (2, 3)), gc.placeholder("float32", (1, 3))
    dx, dy = gc.grad(gc.reduce_sum(gc.concat([x, y]) * [[1.0], [2.0], [3.0]]), [x, y])
    assert dx.op.type_name == dy.op.type_name == "Split"
    u, v = gc.placeholder("float32", (None, 3)), gc.placeholder("float32", (None, 3))
    du, dv = gc.grad(gc.reduce_sum(gc.concat([u, v]) * [[1.0], [2.0], [3.0]]), [u, v])
    assert du.op.type_name == dv.op.type_name == "SplitLike"
    feeds = {u: np.zeros((1, 3), "float32"), v: np.zeros((2, 3), "float32")}
    got_u, got_v = _run([du, dv], feeds)
    np.testing.assert_array_equal(got_u, [[1.0] * 3])
    np.testing.assert_array_equal(got_v, [[2.0] * 3, [3.0] * 3])


def test_split_gradient_is_zero_for_unused_pieces(graph):
    x = gc.placeholder("float32", (None, 4))
    _, b, _ = gc.split(x, [1, 2, 1], axis=1)
    dx = gc.grad(gc.reduce_sum(b * 2.0), x)
    assert dx.op.type_name == "Concat"
    np.testing.assert_array_equal(_run(dx, {x: np.ones((2, 4), "float32")}), [[0.0, 2.0, 2.0, 0.0]] * 2)


def test_stack_gradient_unstacks(graph):
    x, y = gc.placeholder("float32", (None, 2)), gc.placeholder("float32", (None, 2))
    dx, dy = gc.grad(gc.reduce_sum(gc.stack([x, y], axis=1) * [[1.0, 1.0], [5.0, 5.0]]), [x, y])
    feeds = {x: np.zeros((3, 2), "float32"), y: np.zeros((3, 2), "float32")}
    got_x, got_y = _run([dx, dy], feeds)
    np.testing.assert_array_equal(got_x, np.ones((3, 2)))
    np.testing.assert_array_equal(got_y, np.full((3, 2), 5.0))


def test_no_gradient_flows_through_shape_and_size(graph):
    x = gc.placeholder("float32", (None, 3))
    cost = gc.reduce_sum(gc.cast(gc.shape(x), "float32")) + gc.cast(gc.size(x), "float32")
    with pytest.raises(gc.GraphcError, match="does not depend on"):
        gc.grad(cost, x)
    assert gc.grad(cost, x, unconnected="none") is None


def test_a_reshape_with_minus_one_beside_a_zero_is_refused_when_built(graph):
    # numpy refuses it at every size, 0 included: it used to fail at every run instead
    x = gc.placeholder("float32", (None, 3), name="x")
    with pytest.raises(gc.ShapeError, match="node 'r'.*-1 cannot be inferred beside a dimension of size 0"):
        gc.reshape(x, (-1, 0), name="r")
    assert gc.reshape(x, (0, 3)).shape == (0, 3)  # no -1: fits a batch of 0


def test_split_size_minus_one_takes_the_rest_of_a_known_axis(graph):
    y = gc.placeholder("float32", (2, 5), name="y")
    assert [t.shape for t in gc.split(y, [1, -1], axis=1)] == [(2, 1), (2, 4)]
    with pytest.raises(gc.ShapeError, match="sizes must be >= 0"):
        gc.split(y, [6, -1], axis=1)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_split_size_minus_one_takes_the_rest_of_an_axis_known_when_the_graph_runs(graph, device):
    # as TF1's tf.split(z, [1, -1], axis=1) on a (2, ?) tensor
    z = gc.placeholder("float64", (2, None), name="z")
    first, rest = gc.split(z, [1, -1], axis=1, name="cut")
    assert (first.shape, rest.shape) == ((2, 1), (2, None))
    loss = gc.reduce_sum(rest * rest) + 3.0 * gc.reduce_sum(first)
    f = gc.function([z], [first, rest, gc.grad(loss, z)], device=device)
    a = np.arange(10.0).reshape(2, 5)
    got_first, got_rest, grad = f(a)
    np.testing.assert_array_equal(got_first, a[:, :1])
    np.testing.assert_array_equal(got_rest, a[:, 1:])
    np.testing.assert_array_equal(grad, np.concatenate([np.full((2, 1), 3.0), 2 * a[:, 1:]], axis=1))
    assert f(a[:, :1])[1].shape == (2, 0)  # the rest may be empty
    with pytest.raises(gc.GraphcError, match="node 'cut'.*sizes must be >= 0"):
        f(np.zeros((2, 0)))


# --- gradients that do not read the forward node still run its checks -------------------------------


def _gradient_run(device, fetch, feeds):
    with gc.Session(device=device) as sess:
        return sess.run(fetch, feeds)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_reshape_gradient_alone_checks_the_unknown_size(graph, device):
    x = gc.placeholder("float64", (None, 3), name="x")
    flat = gc.reshape(x, (1, 6), name="flat")
    dx = gc.grad(gc.reduce_sum(gc.matmul(flat, np.ones((6, 1)))), x)
    with pytest.raises(gc.RunError, match=r"'flat'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones((5, 3))})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_squeeze_gradient_alone_checks_the_unknown_axis_is_one(graph, device):
    x = gc.placeholder("float64", (None, 3), name="x")
    row = gc.squeeze(x, 0, name="row")
    dx = gc.grad(gc.matmul(row, np.ones(3)), x)
    with pytest.raises(gc.RunError, match=r"'row'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones((4, 3))})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_split_gradient_alone_checks_the_sizes_add_up(graph, device):
    x = gc.placeholder("float64", (None, 1), name="x")
    a, b = gc.split(x, [1, 2], axis=0, name="halves")
    dx = gc.grad(gc.reduce_sum(a) + gc.squeeze(b, 1) @ np.array([2.0, 3.0]), x)
    with pytest.raises(gc.RunError, match=r"'halves'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones((5, 1))})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_split_into_one_piece_gradient_alone_checks_its_size(graph, device):
    x = gc.placeholder("float64", (None, 1), name="x")
    (whole,) = gc.split(x, [3], axis=0, name="whole")
    dx = gc.grad(gc.squeeze(whole, 1) @ np.array([1.0, 2.0, 3.0]), x)
    with pytest.raises(gc.RunError, match=r"'whole'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones((5, 1))})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_broadcast_to_gradient_alone_checks_the_unknown_dim_fits(graph, device):
    x = gc.placeholder("float64", (None,), name="x")
    one = gc.broadcast_to(x, (1,), name="one")
    dx = gc.grad(gc.reduce_sum(one), x)
    with pytest.raises(gc.RunError, match=r"'one'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones(3)})
    np.testing.assert_array_equal(_gradient_run(device, dx, {x: np.ones(1)}), np.ones(1))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_broadcast_to_gradient_alone_checks_the_unknown_dim_under_new_axes(graph, device):
    x = gc.placeholder("float64", (None,), name="x")
    rows = gc.broadcast_to(x, (2, 1), name="rows")
    dx = gc.grad(gc.reduce_sum(gc.matmul(np.array([[1.0, 2.0]]), rows)), x)
    with pytest.raises(gc.RunError, match=r"'rows'.*test_shape.py"):
        _gradient_run(device, dx, {x: np.ones(3)})
    np.testing.assert_array_equal(_gradient_run(device, dx, {x: np.ones(1)}), [3.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_concat_gradient_alone_checks_the_unknown_dims_off_the_axis_agree(graph, device):
    x, y = gc.placeholder("float64", (2, 3), name="x"), gc.placeholder("float64", (None, 3), name="y")
    joined = gc.concat([x, y], axis=1, name="joined")
    dy = gc.grad(gc.reduce_sum(np.ones((1, 2)) @ joined @ np.ones((6, 1))), y)
    with pytest.raises(gc.RunError, match=r"'joined'.*test_shape.py"):
        _gradient_run(device, dy, {x: np.ones((2, 3)), y: np.ones((4, 3))})
    fits = {x: np.ones((2, 3)), y: np.ones((2, 3))}
    np.testing.assert_array_equal(_gradient_run(device, dy, fits), np.ones((2, 3)))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_stack_gradient_alone_checks_the_unknown_dims_agree(graph, device):
    x, y = gc.placeholder("float64", (2, 3), name="x"), gc.placeholder("float64", (None, 3), name="y")
    stacked = gc.stack([x, y], axis=1, name="stacked")
    dy = gc.grad(gc.reduce_sum(gc.reshape(stacked, (1, 12)) @ np.ones((12, 1))), y)
    with pytest.raises(gc.RunError, match=r"'stacked'.*test_shape.py"):
        _gradient_run(device, dy, {x: np.ones((2, 3)), y: np.ones((4, 3))})
    fits = {x: np.ones((2, 3)), y: np.ones((2, 3))}
    np.testing.assert_array_equal(_gradient_run(device, dy, fits), np.ones((2, 3)))


@pytest.mark.parametrize("sizes", [2, (1, -1)], ids=["pieces", "rest"])
@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_a_split_made_without_the_user_function_runs_the_sizes_it_infers(graph, sizes, device):
    # infer reads a number of pieces and a -1, as split() does; made by gc.apply (or from a loaded file)
    # the op kept them, and its reference failed with "'int' object is not iterable" or "do not add up"
    x = gc.placeholder("float32", (3, 4), name="x")
    pieces = gc.apply(gc.ir.OPS["Split"](1, sizes), [x])
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = np.split(value, 2 if sizes == 2 else [1], axis=1)
    got = gc.function([x], list(pieces), device=device)(value)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    "op",
    [
        gc.ir.OPS["Reshape"]([12]),
        gc.ir.OPS["ExpandDims"]([0]),
        gc.ir.OPS["Squeeze"]([0]),
        gc.ir.OPS["Split"](0, [1, 2]),
        gc.ir.OPS["ExpandDims"](0),
        gc.ir.OPS["BroadcastTo"](4),
    ],
    ids=[
        "reshape-list",
        "expand-dims-list",
        "squeeze-list",
        "split-list",
        "expand-dims-int",
        "broadcast-int",
    ],
)
def test_a_shape_op_made_without_the_user_function_takes_its_dims_as_a_tuple(graph, op):
    # the user functions make tuples; from gc.apply a list ran on the reference device and failed on
    # the CPU with "unhashable type: 'list'", an int failed to build with a raw TypeError
    x = gc.placeholder("float32", (3, 4) if op.type_name != "Squeeze" else (1, 4), name="x")
    with pytest.raises(gc.ShapeError, match=rf"node 'y' \({op.type_name}\).* must be a tuple of ints"):
        gc.apply(op, [x], name="y")
