"""Indexing, take, one_hot and pad: what the sample table cannot express (build-time errors, static
shapes with unknown dimensions, attribute normalization, run-time errors)."""

import numpy as np
import pytest

import graphc as gc


def _run(fetch, feeds):
    with gc.Session() as sess:
        return sess.run(fetch, feeds)


# --- getitem -------------------------------------------------------------------------------------


def test_int_index_out_of_range_raises_index_error_naming_node(graph):
    x = gc.placeholder("float32", (None, 4))
    with pytest.raises(gc.AxisError, match=r"'get_item.*test_indexing.py.*index 4 is out of range"):
        x[:, 4]
    with pytest.raises(IndexError, match=r"index -5 is out of range for an axis of size 4"):
        x[0, -5]


def test_too_many_indices_raise_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"'get_item.*test_indexing.py.*too many indices"):
        x[0, 1, None, 2]


def test_two_ellipses_raise_axis_error(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.AxisError, match=r"'get_item.*test_indexing.py.*single ellipsis"):
        x[..., 0, ...]


def test_zero_slice_step_raises_shape_error(graph):
    x = gc.placeholder("float32", (5,))
    with pytest.raises(gc.ShapeError, match=r"'get_item.*test_indexing.py.*step cannot be zero"):
        x[::0]


def test_slices_of_unknown_dims_have_a_size_only_when_every_size_gives_it(graph):
    x = gc.placeholder("float32", (None, 6))
    assert x[:3].shape == (None, 6)  # the run-time size may be < 3
    assert x[:, :3].shape == (None, 3)
    assert x[3:1].shape == (0, 6)
    assert x[-1:-3].shape == (0, 6)
    assert x[:0].shape == (0, 6)
    assert x[-1:].shape == (None, 6)  # 0 when the run-time size is 0
    assert x[::-1, 4:1:-2].shape == (None, 2)


def test_a_slice_empty_for_small_sizes_but_not_for_large_ones_has_an_unknown_size(graph):
    x = gc.placeholder("float64", (None, 1), name="x")
    y = x[-3:3:-1]  # empty up to 6 rows, one row at 7
    assert y.shape == (None, 1)
    value = np.arange(7.0).reshape(7, 1)
    got = gc.function([x], y, device="reference")(value)
    np.testing.assert_array_equal(got, value[-3:3:-1])


@pytest.mark.parametrize("index", [np.s_[-5::-1], np.s_[-9:-7:-1], np.s_[7:2], np.s_[4::2]])
def test_a_slice_empty_on_a_known_dim_selects_nothing(graph, index):
    x = gc.placeholder("float64", (4, 3), name="x")
    value = np.arange(12.0).reshape(4, 3)
    assert x[index].shape == value[index].shape == (0, 3)
    for device in ("reference", "cpu"):
        np.testing.assert_array_equal(gc.function([x], x[index] * 2.0, device=device)(value), value[index])


def test_static_slice_lengths_of_unknown_dims_hold_for_every_size():
    from graphc.ops.indexing import _slice_length

    bounds = [None, *range(-9, 10)]
    for start in bounds:
        for stop in bounds:
            for step in (1, 2, 3, -1, -2, -3):
                lengths = {len(range(n)[start:stop:step]) for n in range(60)}
                static = _slice_length(start, stop, step, None)
                assert static == (lengths.pop() if len(lengths) == 1 else None), (start, stop, step)


def test_slices_of_unknown_dims_with_huge_bounds_build_at_once(graph):
    import signal
    import sys

    def too_slow(signum, frame):
        raise TimeoutError("building the slice took over 10 s")

    x = gc.placeholder("float32", (None, 3))
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)  # the size used to be decided by trying every row count up to the bounds
    try:
        assert x[: sys.maxsize].shape == (None, 3)
        assert x[-sys.maxsize :: -2].shape == (None, 3)
        assert x[2**62 : 2**61].shape == (0, 3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_int_index_out_of_range_of_unknown_dim_fails_at_run_time(graph):
    x = gc.placeholder("float32", (None,))
    y = x[3]
    assert y.shape == ()
    assert _run(y, {x: np.arange(5, dtype="float32")}) == 3.0
    with pytest.raises(gc.RunError, match=r"'get_item.*test_indexing.py"):
        _run(y, {x: np.arange(2, dtype="float32")})


def test_equivalent_indexes_give_the_same_op(graph):
    x = gc.placeholder("float32", (4, None))
    assert x[-1].op == x[3].op == x[3, :].op == x[3, ...].op == x[np.int64(3), 0:None:1].op
    assert x[:].op == x[...].op == x[0:4].op == x[-10:10, :].op
    assert x[::-1].op == x[3::-1].op == x[10:-10:-1].op
    assert x[:, :2].op == x[:, 0:2].op


def test_bool_mask_index_is_not_supported(graph):
    x = gc.placeholder("float32", (3,))
    with pytest.raises(NotImplementedError, match="boolean mask"):
        x[x > 0]
    with pytest.raises(NotImplementedError, match="boolean mask"):
        x[[True, False, True]]


def test_tensor_index_inside_a_tuple_is_not_supported(graph):
    x = gc.placeholder("float32", (3, 4))
    i = gc.placeholder("int64", (2,))
    with pytest.raises(NotImplementedError, match="graphc.take"):
        x[:, i]


def test_tensor_slice_bounds_are_not_supported(graph):
    x = gc.placeholder("float32", (3, 4))
    n = gc.placeholder("int64", ())
    with pytest.raises(NotImplementedError, match="static ints"):
        x[:n]


@pytest.mark.parametrize(
    "index",
    [
        (slice(None), np.array(2)),
        (slice(np.array(1), None),),
        (slice(None, np.array(-1, np.int32)), np.array(3, np.int32)),
    ],
    ids=["int-on-axis-1", "slice-start", "slice-stop-and-int"],
)
def test_zero_d_integer_arrays_index_as_ints_as_in_numpy(graph, index):
    x = gc.placeholder("float32", (3, 4))
    xv = np.arange(12, dtype=np.float32).reshape(3, 4)
    with gc.Session(device="reference") as sess:
        got = sess.run(x[index], {x: xv})
    np.testing.assert_array_equal(got, xv[index])


def test_pad_takes_a_zero_d_integer_array_as_numpy_does(graph):
    x = gc.placeholder("float32", (2, 3))
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    with gc.Session(device="reference") as sess:
        got = sess.run(gc.pad(x, np.array(1)), {x: xv})
    np.testing.assert_array_equal(got, np.pad(xv, np.array(1)))


def test_int_tensor_index_takes_along_the_first_axis(graph):
    x = gc.placeholder("float32", (None, 4))
    i = gc.placeholder("int32", (2, 3))
    y = x[i]
    assert isinstance(y.op, type(gc.take(x, i).op)) and y.op == gc.take(x, i, axis=-2).op
    assert y.shape == (2, 3, 4)


# --- take ----------------------------------------------------------------------------------------


def test_take_with_float_indices_raises_dtype_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.DTypeError, match=r"'take.*test_indexing.py.*int32 or int64"):
        gc.take(x, gc.placeholder("float32", (2,)))


def test_take_out_of_range_axis_raises_axis_error_naming_node(graph):
    x = gc.placeholder("float32", (3, 4))
    with pytest.raises(gc.AxisError, match=r"'take.*test_indexing.py.*axis 2"):
        gc.take(x, [0], axis=2)


def test_take_out_of_range_index_fails_at_run_time(graph):
    x = gc.placeholder("float32", (3,))
    i = gc.placeholder("int64", (None,))
    y = gc.take(x, i)
    with pytest.raises(gc.RunError, match=r"'take.*test_indexing.py"):
        _run(y, {x: np.zeros(3, "float32"), i: np.array([0, 3])})


# --- one_hot -------------------------------------------------------------------------------------


def test_one_hot_with_float_indices_raises_dtype_error_naming_node(graph):
    with pytest.raises(gc.DTypeError, match=r"'one_hot.*test_indexing.py.*int32 or int64"):
        gc.one_hot(gc.placeholder("float32", (3,)), 4)


def test_one_hot_negative_depth_raises_shape_error_naming_node(graph):
    with pytest.raises(gc.ShapeError, match=r"'one_hot.*test_indexing.py.*depth must be >= 0"):
        gc.one_hot(gc.placeholder("int64", (3,)), -1)


@pytest.mark.parametrize("value", [2**40, 1.5, float("nan")])
def test_one_hot_value_an_int_dtype_cannot_hold_raises_dtype_error_naming_node(graph, value):
    labels = gc.placeholder("int64", (3,))
    with pytest.raises(gc.DTypeError, match=r"'one_hot.*test_indexing.py.*int32"):
        gc.one_hot(labels, 4, dtype="int32", on_value=value)


def test_one_hot_with_an_unsupported_dtype_raises_dtype_error_naming_node(graph):
    labels = gc.placeholder("int64", (3,))
    with pytest.raises(gc.DTypeError, match=r"'one_hot.*test_indexing.py.*unsupported dtype float16"):
        gc.one_hot(labels, 4, dtype="float16")


def test_one_hot_value_that_is_not_a_scalar_raises_shape_error_naming_node(graph):
    labels = gc.placeholder("int64", (3,))
    with pytest.raises(gc.ShapeError, match=r"'one_hot.*test_indexing.py.*scalar.*\(2,\)"):
        gc.one_hot(labels, 4, on_value=[1, 2])


def test_one_hot_attributes_are_normalized(graph):
    i = gc.placeholder("int32", (None, 2))
    y = gc.one_hot(i, 5, axis=-1, on_value=1, off_value=False)
    assert y.shape == (None, 2, 5) and y.dtype == np.float32
    assert y.op == gc.one_hot(i, np.int64(5), dtype=np.float32, axis=2, on_value=1.0, off_value=0.0).op


# --- pad -----------------------------------------------------------------------------------------


def test_pad_negative_padding_raises_shape_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'pad.*test_indexing.py.*>= 0"):
        gc.pad(x, ((0, 1), (-1, 0)))


@pytest.mark.parametrize("value", [2**40, 1.5, float("inf")])
def test_pad_constant_an_int_dtype_cannot_hold_raises_dtype_error_naming_node(graph, value):
    x = gc.placeholder("int32", (2, 3))
    with pytest.raises(gc.DTypeError, match=r"'pad.*test_indexing.py.*int32"):
        gc.pad(x, 1, constant_values=value)


def test_pad_with_wrong_number_of_pairs_raises_shape_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'pad.*test_indexing.py.*do not fit \(2, 3\)"):
        gc.pad(x, ((0, 1), (1, 0), (1, 1)))


def test_pad_unknown_mode_raises_shape_error_naming_node(graph):
    x = gc.placeholder("float32", (2, 3))
    with pytest.raises(gc.ShapeError, match=r"'pad.*test_indexing.py.*unknown pad mode 'wrap'"):
        gc.pad(x, 1, mode="wrap")


def test_pad_non_constant_mode_cannot_extend_an_empty_axis(graph):
    x = gc.placeholder("float32", (0, 3))
    with pytest.raises(gc.ShapeError, match=r"'pad.*test_indexing.py.*axis 0 of size 0"):
        gc.pad(x, 1, mode="edge")


def test_pad_forms_of_paddings_give_the_same_op(graph):
    x = gc.placeholder("float32", (None, 3))
    op = gc.pad(x, 1).op
    assert op == gc.pad(x, (1, 1)).op == gc.pad(x, [[1, 1]]).op == gc.pad(x, np.ones((2, 2), int)).op
    assert gc.pad(x, 1).shape == (None, 5)
    assert gc.pad(x, 1, constant_values=0).op == gc.pad(x, 1, constant_values=0.0).op


def test_pad_reflect_on_unknown_dim_too_short_fails_at_run_time(graph):
    x = gc.placeholder("float32", (None,))
    y = gc.pad(x, 1, mode="reflect")
    with pytest.raises(gc.RunError, match=r"'pad.*test_indexing.py"):
        _run(y, {x: np.zeros(0, "float32")})


# --- gradients -----------------------------------------------------------------------------------


def test_getitem_gradient_scatters_into_zeros_of_the_run_time_shape(graph):
    x = gc.placeholder("float32", (None, 3))
    dx = gc.grad(gc.reduce_sum(x[-1, None, ::-2] * [[1.0, 2.0]]), x)
    assert dx.op.type_name == "GetItemGrad" and dx.shape == (None, 3)
    np.testing.assert_array_equal(_run(dx, {x: np.ones((2, 3), "float32")}), [[0, 0, 0], [2, 0, 1]])


def test_take_gradient_adds_repeated_and_negative_indices(graph):
    x = gc.placeholder("float32", (None,))
    dx = gc.grad(gc.reduce_sum(gc.take(x, [0, 0, 2, -1, -3])), x)
    assert dx.op.type_name == "TakeGrad"
    np.testing.assert_array_equal(_run(dx, {x: np.ones(3, "float32")}), [3.0, 0.0, 2.0])


def test_take_gradient_out_of_range_index_fails_at_run_time(graph):
    from graphc.ops.indexing_grad import TakeGrad

    g, x = gc.placeholder("float32", (2,)), gc.placeholder("float32", (None,))
    dx = gc.apply(TakeGrad(0), [g, gc.constant([0, 3]), x])
    with pytest.raises(gc.RunError, match=r"'take_grad.*test_indexing.py"):
        _run(dx, {g: np.ones(2, "float32"), x: np.ones(3, "float32")})


def test_take_gradient_of_a_wrong_shape_raises_shape_error(graph):
    from graphc.ops.indexing_grad import TakeGrad

    g, x = gc.placeholder("float32", (2, 4)), gc.placeholder("float32", (None, 3))
    with pytest.raises(gc.ShapeError, match=r"'take_grad.*gradient of shape \(\?, 2\)"):
        gc.apply(TakeGrad(1), [g, gc.constant([0, 1]), x])


def test_pad_gradient_slices_constant_padding_and_folds_mirrored_padding(graph):
    x = gc.placeholder("float32", (None,))
    dc = gc.grad(gc.reduce_sum(gc.pad(x, (2, 1), constant_values=5.0) * np.arange(6.0, dtype="float32")), x)
    assert dc.op.type_name == "GetItem"
    np.testing.assert_array_equal(_run(dc, {x: np.ones(3, "float32")}), [2.0, 3.0, 4.0])
    feeds = {x: np.ones(3, "float32")}
    # [a, b, c] padded by (4, 2): reflect a b c b [a b c] b a, symmetric c c b a [a b c] c b,
    # edge a a a a [a b c] c c: the gradient counts the copies of each element
    want = {"reflect": [3.0, 4.0, 2.0], "symmetric": [2.0, 3.0, 4.0], "edge": [5.0, 1.0, 3.0]}
    for mode, expected in want.items():
        dx = gc.grad(gc.reduce_sum(gc.pad(x, (4, 2), mode=mode)), x)
        assert dx.op.type_name == "PadGrad"
        np.testing.assert_array_equal(_run(dx, feeds), expected, err_msg=mode)


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_pad_of_a_scalar_is_the_scalar_and_its_gradient_a_scalar(graph, device, mode):
    z = gc.placeholder("float32", (), name="z")
    y = gc.pad(z, 2, mode=mode)  # numpy pads a scalar by any width as the scalar itself
    dz = gc.grad(y * 3.0, z)
    with gc.Session(device=device) as sess:
        got, grad = sess.run([y, dz], {z: np.float32(5.0)})
    np.testing.assert_array_equal(got, np.pad(np.float32(5.0), 2, mode=mode))
    assert got.shape == () and grad.shape == ()
    np.testing.assert_array_equal(grad, 3.0)


def test_pad_gradient_of_an_axis_shorter_than_the_padding_raises_shape_error(graph):
    from graphc.ops.indexing_grad import PadGrad

    with pytest.raises(gc.ShapeError, match=r"'pad_grad.*axis 0 of \(3,\) is too short"):
        gc.apply(PadGrad(((2, 2),), "edge"), [gc.placeholder("float32", (3,))])
    with pytest.raises(gc.ShapeError, match=r"'pad_grad.*axis 0 of \(4,\) is too short"):
        gc.apply(PadGrad(((2, 2),), "reflect"), [gc.placeholder("float32", (4,))])


def test_no_gradient_flows_through_one_hot(graph):
    x = gc.placeholder("float32", (3,))
    hot = gc.one_hot(gc.cast(x, "int64"), 4)
    with pytest.raises(gc.GraphcError, match="does not depend on"):
        gc.grad(gc.reduce_sum(hot), x)


def test_an_empty_list_index_selects_nothing_as_in_numpy(graph):
    x = gc.placeholder("float32", (None, 4), name="x")
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    for y, want in ((x[[]], value[[]]), (gc.take(x, [], axis=1), np.take(value, [], axis=1))):
        for device in ("reference", "cpu"):
            np.testing.assert_array_equal(gc.function([x], y, device=device)(value), want)


@pytest.mark.parametrize(
    "index",
    [
        (("int", False),),
        (("int", np.True_),),
        (("int", 1.5),),
        (("slice", True, None, None),),
        (("int", 1, 2),),
        ("ab",),
    ],
    ids=["int-false", "int-np-true", "int-float", "slice-bool", "int-three-items", "not-a-tuple"],
)
def test_a_getitem_made_without_the_user_function_refuses_entries_it_cannot_read(graph, index):
    # gc.apply and loaded files build GetItem from its attributes alone: ("int", False) was inferred as
    # x[0], of shape (4,), but numpy read the bool as a mask, and the CPU multiply after it read the empty
    # array as 4 floats of uninitialized memory
    x = gc.placeholder("float32", (3, 4), name="x")
    with pytest.raises(gc.ShapeError, match=r"node 'y' \(GetItem\).*invalid index entry"):
        gc.apply(gc.ir.OPS["GetItem"](index), [x], name="y")


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"dtype": np.dtype("int32"), "on_value": 2**40}, "outside"),
        ({"dtype": np.dtype("int32"), "on_value": float("nan")}, "non-finite"),
        ({"dtype": np.dtype("int32"), "off_value": 1.5}, "not an integer"),
        ({"dtype": np.dtype("float16")}, "unsupported dtype float16"),
    ],
    ids=["int32-2**40", "int32-nan", "int32-1.5", "float16"],
)
def test_a_one_hot_made_without_the_user_function_refuses_values_its_dtype_cannot_hold(graph, attrs, message):
    # gc.apply and loaded files build the op from its attributes alone: int32 rows of 2**40 were 0 on
    # both devices, of NaN -2**31, and a float16 one_hot ran (a dtype graphc does not support)
    labels = gc.placeholder("int64", (3,), name="labels")
    with pytest.raises(gc.DTypeError, match=rf"node 'y' \(OneHot\).*{message}"):
        gc.apply(gc.ir.OPS["OneHot"](4, **attrs), [labels], name="y")


def test_a_pad_made_without_the_user_function_refuses_a_fill_its_dtype_cannot_hold(graph):
    # an int32 x padded with 1.5 was padded with 1 on both devices
    x = gc.placeholder("int32", (3,), name="x")
    with pytest.raises(gc.DTypeError, match=r"node 'y' \(Pad\).*int32 value from 1.5"):
        gc.apply(gc.ir.OPS["Pad"](((1, 1),), "constant", 1.5), [x], name="y")


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_float32_take_gradient_of_a_much_repeated_index_stays_near_float64(graph, device):
    # 5 x 10^4 gradients of 0.1 onto each of two rows: a running float32 sum (np.add.at's) is 5e-4 off
    x = gc.placeholder("float32", (4, 3), name="x")
    idx = gc.placeholder("int64", (None,), name="idx")
    g = gc.placeholder("float32", (None, 3), name="g")
    (gx,) = gc.grad(gc.take(x, idx), [x], grad_cost=g)
    rows = np.tile(np.array([0, 2]), 50_000)
    gv = np.full((rows.size, 3), 0.1, np.float32)
    with gc.Session(device=device) as sess:
        got = sess.run(gx, {x: np.zeros((4, 3), np.float32), idx: rows, g: gv})
    want = np.zeros((4, 3))
    np.add.at(want, rows, gv.astype(np.float64))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
