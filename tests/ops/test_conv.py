"""conv2d, max_pool2d and avg_pool2d: errors, attribute normalization, "same" padding, unknown dims."""

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS


def _ph(shape, dtype="float32", name=None):
    return gc.placeholder(dtype, shape, name=name)


# --- build-time errors -------------------------------------------------------------------------


def test_channel_mismatch_names_the_node_and_both_shapes(graph):
    x, w = _ph((1, 3, 5, 5)), _ph((2, 4, 3, 3))
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py") as info:
        gc.conv2d(x, w)
    assert "(1, 3, 5, 5)" in str(info.value) and "(2, 4, 3, 3)" in str(info.value)


def test_mixed_dtypes_are_a_dtype_error(graph):
    with pytest.raises(gc.DTypeError, match=r"conv2d.*test_conv.py.*same dtype"):
        gc.conv2d(_ph((1, 1, 4, 4)), _ph((1, 1, 2, 2), "float64"))


def test_integer_images_are_a_dtype_error(graph):
    with pytest.raises(gc.DTypeError, match=r"conv2d.*test_conv.py.*float"):
        gc.conv2d(_ph((1, 1, 4, 4), "int32"), _ph((1, 1, 2, 2), "int32"))
    with pytest.raises(gc.DTypeError, match=r"max_pool2d.*test_conv.py.*float"):
        gc.max_pool2d(_ph((1, 1, 4, 4), "int64"), 2)


def test_rank_other_than_4_is_a_shape_error(graph):
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py.*rank-4"):
        gc.conv2d(_ph((1, 4, 4)), _ph((1, 1, 2, 2)))
    with pytest.raises(gc.ShapeError, match=r"avg_pool2d.*test_conv.py.*rank-4"):
        gc.avg_pool2d(_ph((4, 4)), 2)


def test_kernel_larger_than_the_image_is_a_shape_error(graph):
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py.*output size 0 along H"):
        gc.conv2d(_ph((1, 1, 2, 5)), _ph((1, 1, 3, 3)))
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py.*output size"):
        gc.conv2d(_ph((1, 1, 5, 5)), _ph((1, 1, 3, 3)), dilation=3)
    with pytest.raises(gc.ShapeError, match=r"max_pool2d.*test_conv.py.*output size"):
        gc.max_pool2d(_ph((1, 1, 4, 1)), 2)


def test_weights_with_an_empty_kernel_are_a_shape_error(graph):
    # a 0-wide kernel used to infer an output one pixel wider than the image (and compute zeros)
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py.*\(4, 3, 2, 0\).*empty kernel"):
        gc.conv2d(_ph((2, 3, 6, 5)), _ph((4, 3, 2, 0)))
    with pytest.raises(gc.ShapeError, match=r"conv2d.*test_conv.py.*empty kernel: size 0 along H"):
        gc.conv2d(_ph((2, 3, 6, 5)), _ph((4, 3, 0, 2)), padding="same")


def test_pool_padding_over_half_the_kernel_is_a_shape_error(graph):
    with pytest.raises(gc.ShapeError, match=r"max_pool2d.*test_conv.py.*half of the kernel"):
        gc.max_pool2d(_ph((1, 1, 8, 8)), 3, padding=2)
    with pytest.raises(gc.ShapeError, match=r"avg_pool2d.*test_conv.py.*half of the kernel"):
        gc.avg_pool2d(_ph((1, 1, 8, 8)), (4, 2), padding=(2, 2))


@pytest.mark.parametrize(
    "kwargs", [{"stride": 0}, {"stride": (1, 2, 3)}, {"dilation": -1}, {"padding": -1}, {"padding": "full"}]
)
def test_bad_conv_attributes_are_value_errors(graph, kwargs):
    with pytest.raises(ValueError, match="conv2d"):
        gc.conv2d(_ph((1, 1, 4, 4)), _ph((1, 1, 2, 2)), **kwargs)


@pytest.mark.parametrize(
    "op",
    [
        OPS["Conv2D"](stride=(0, 1)),
        OPS["Conv2D"](padding=(-1, 0, 0, 0)),
        OPS["Conv2D"](dilation=(0, 1)),
        OPS["MaxPool2D"](kernel=(0, 2), stride=(2, 2)),
        OPS["AvgPool2D"](kernel=(2, 2), stride=(0, 2)),
        OPS["MaxPool2D"](kernel=(2, 2), stride=(2, 2), padding=(-1, 0)),
    ],
    ids=["conv-stride", "conv-padding", "conv-dilation", "pool-kernel", "pool-stride", "pool-padding"],
)
def test_ops_made_without_the_user_function_check_their_attributes(graph, op):
    # as a loaded file makes them, from their attributes alone: no user function has checked those
    inputs = [_ph((1, 1, 5, 5))]
    if op.type_name == "Conv2D":
        inputs.append(gc.constant(np.ones((1, 1, 3, 3), np.float32)))
    with pytest.raises(gc.ShapeError, match=f"{op.type_name} .* must be .* ints >= "):
        gc.apply(op, inputs)


# --- attribute normalization -------------------------------------------------------------------


def test_int_and_pair_attributes_give_equal_ops(graph):
    x, w = _ph((1, 2, 9, 9)), _ph((3, 2, 3, 3))
    a = gc.conv2d(x, w, stride=2, padding=1, dilation=1)
    b = gc.conv2d(x, w, stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    assert a.op == b.op
    assert a.op.stride == (2, 2) and a.op.padding == (1, 1, 1, 1) and a.op.dilation == (1, 1)
    assert gc.conv2d(x, w, padding="valid").op == gc.conv2d(x, w, padding=0).op
    assert gc.max_pool2d(x, 2).op == gc.max_pool2d(x, (2, 2), stride=(2, 2), padding=(0, 0)).op


def test_pool_stride_defaults_to_the_kernel(graph):
    y = gc.avg_pool2d(_ph((1, 1, 9, 8)), (3, 2))
    assert y.op.stride == (3, 2)
    assert y.shape == (1, 1, 3, 4)


def test_same_padding_is_resolved_when_sizes_are_known(graph):
    y = gc.conv2d(_ph((1, 1, 6, 5)), _ph((1, 1, 3, 4)), stride=(2, 1), padding="same")
    # H: out 3, total pad 1 -> (0, 1); W: out 5, total pad 3 -> extra pixel at the right (1, 2)
    assert y.op.padding == (0, 1, 1, 2)
    assert y.shape == (1, 1, 3, 5)


def test_same_padding_with_unknown_size_is_kept_as_the_mode(graph):
    y = gc.conv2d(_ph((None, 1, None, 7)), _ph((4, 1, 3, 3)), stride=2, padding="same")
    assert y.op.padding == "same"
    assert y.shape == (None, 4, None, 4)


# --- shape inference with unknown dims ---------------------------------------------------------


def test_unknown_batch_and_size_propagate(graph):
    y = gc.conv2d(_ph((None, 3, None, 10)), _ph((8, 3, 3, 3)), padding=1, stride=2)
    assert y.shape == (None, 8, None, 5)
    assert gc.max_pool2d(_ph((None, None, 6, None)), 2).shape == (None, None, 3, None)


def test_unknown_channels_take_the_weights_out_channels(graph):
    y = gc.conv2d(_ph((2, None, 5, 5), "float64"), _ph((6, 3, 1, 1), "float64"))
    assert y.shape == (2, 6, 5, 5) and y.dtype == np.float64


# --- run-time errors ---------------------------------------------------------------------------


def test_wrong_run_time_channels_is_a_run_error_naming_the_node(graph):
    x = _ph((1, None, 4, 4), name="x")
    y = gc.conv2d(x, np.ones((1, 2, 2, 2), np.float32))
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"conv2d.*test_conv.py.*channels"):
        sess.run(y, {x: np.ones((1, 3, 4, 4), np.float32)})


def test_run_time_image_smaller_than_the_kernel_is_a_run_error(graph):
    x = _ph((1, 1, None, None), name="x")
    y = gc.conv2d(x, np.ones((1, 1, 3, 3), np.float32))
    too_small = r"conv2d.*test_conv.py.*output size 0 along H for input \(1, 1, 2, 2\)"
    with gc.Session() as sess, pytest.raises(gc.RunError, match=too_small):
        sess.run(y, {x: np.ones((1, 1, 2, 2), np.float32)})


@pytest.mark.parametrize("device", ["reference", "cpu"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_run_time_weights_with_an_empty_kernel_are_a_run_error(graph, device, dilation):
    x, w = _ph((None, 3, None, None), name="x"), _ph((None, 3, None, None), name="w")
    f = gc.function([x, w], gc.conv2d(x, w, dilation=dilation), device=device)
    with pytest.raises(gc.RunError, match=r"conv2d.*test_conv.py.*empty"):
        f(np.ones((2, 3, 6, 5), np.float32), np.ones((4, 3, 2, 0), np.float32))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_run_time_empty_kernel_is_a_run_error_in_the_input_gradient(graph, device):
    # the transposed convolution took a gy one pixel wider than the image and returned zeros
    x, w = _ph((None, 3, None, None), name="x"), _ph((None, 3, None, None), name="w")
    gy = _ph((None, None, None, None), name="gy")
    f = gc.function([gy, w, x], gc.conv2d_backprop_input(gy, w, x), device=device)
    with pytest.raises(gc.RunError, match=r"conv2d_backprop_input.*test_conv.py.*empty"):
        f(
            np.ones((2, 4, 5, 6), np.float32),
            np.ones((4, 3, 2, 0), np.float32),
            np.ones((2, 3, 6, 5), np.float32),
        )


def test_same_padding_resolved_at_run_time_matches_the_static_resolution(graph):
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    wv = rng.normal(size=(4, 3, 2, 3)).astype(np.float32)
    x_dynamic, x_static = _ph((None, 3, None, None)), _ph((2, 3, 7, 6))
    a = gc.conv2d(x_dynamic, wv, stride=(2, 3), padding="same")
    b = gc.conv2d(x_static, wv, stride=(2, 3), padding="same")
    with gc.Session() as sess:
        got_a, got_b = sess.run([a, b], {x_dynamic: xv, x_static: xv})
    assert got_a.shape == (2, 4, 4, 2)
    np.testing.assert_array_equal(got_a, got_b)


# --- gradients ---------------------------------------------------------------------------------
# (values at every stride, padding and dilation are checked against finite differences, to first and
# second order, by tests/ops/test_grad_contract.py on the samples of samples_conv*.py)


def _run_grad(cost, wrt, feeds):
    with gc.Session() as sess:
        return sess.run(gc.grad(cost, wrt), feeds)


def test_max_pool_gradient_goes_to_the_first_max_of_each_window_and_accumulates(graph):
    x = _ph((1, 1, 3, 3), "float64", name="x")
    # all ties: PyTorch gives each window's gradient to its first element in row-major order only
    gx = _run_grad(gc.reduce_sum(gc.max_pool2d(x, 2, stride=1)), x, {x: np.ones((1, 1, 3, 3))})
    np.testing.assert_array_equal(gx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # a tie inside a window (the 5s) goes to the first; overlapping windows sharing a max add up
    xv = np.array([[0, 5, 0], [0, 5, 0], [1, 0, 2]], np.float64).reshape(1, 1, 3, 3)
    gx = _run_grad(gc.reduce_sum(gc.max_pool2d(x, 2, stride=1)), x, {x: xv})
    np.testing.assert_array_equal(gx[0, 0], [[0, 2, 0], [0, 2, 0], [0, 0, 0]])


def test_max_pool_gradient_never_goes_to_padding(graph):
    x = _ph((1, 1, 2, 2), "float64", name="x")
    xv = np.full((1, 1, 2, 2), -np.inf)  # ties with the -inf padding: an in-bounds pixel still wins
    gx = _run_grad(gc.reduce_sum(gc.max_pool2d(x, 2, stride=1, padding=1)), x, {x: xv})
    # 9 windows, each the first in-bounds pixel of its window: nothing is lost to the padding
    np.testing.assert_array_equal(gx[0, 0], [[4, 2], [2, 1]])


def test_max_pool_gradient_of_a_window_with_nans_goes_to_its_last_nan_as_pytorch(graph):
    x = _ph((1, 1, 2, 2), "float64", name="x")
    xv = np.array([[np.nan, 1.0], [np.nan, 0.0]]).reshape(1, 1, 2, 2)
    gx = _run_grad(gc.reduce_sum(gc.max_pool2d(x, 2)), x, {x: xv})
    np.testing.assert_array_equal(gx[0, 0], [[0, 0], [1, 0]])


def test_conv_input_gradient_has_the_exact_input_size_with_zeros_where_unread(graph):
    x = _ph((None, 1, None, None), "float64", name="x")
    y = gc.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)  # 5 x 4 input: row 4 is never read
    gx = _run_grad(gc.reduce_sum(y), x, {x: np.zeros((1, 1, 5, 4))})
    np.testing.assert_array_equal(gx[0, 0], [[1, 1, 1, 1]] * 4 + [[0, 0, 0, 0]])


def test_avg_pool_gradient_spreads_evenly_including_padded_taps(graph):
    x = _ph((1, 1, 2, 2), "float64", name="x")
    gx = _run_grad(gc.reduce_sum(gc.avg_pool2d(x, 2, stride=2, padding=1)), x, {x: np.zeros((1, 1, 2, 2))})
    np.testing.assert_array_equal(gx[0, 0], np.full((2, 2), 0.25))


def test_conv_gradient_with_run_time_same_padding_matches_the_static_one(graph):
    rng = np.random.default_rng(1)
    xv, wv = rng.normal(size=(2, 2, 7, 6)), rng.normal(size=(3, 2, 3, 2))
    w = _ph((3, 2, 3, 2), "float64", name="w")
    grads = []
    for shape in [(None, 2, None, None), (2, 2, 7, 6)]:
        x = _ph(shape, "float64")
        y = gc.conv2d(x, w, stride=(2, 3), dilation=(2, 1), padding="same")
        assert (y.op.padding == "same") == (None in shape)
        grads.append(_run_grad(gc.reduce_sum(y * y), [x, w], {x: xv, w: wv}))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gradient_ops_reject_a_gradient_of_the_wrong_shape(graph):
    from graphc.ops.conv_grad import conv2d_backprop_filter, conv2d_backprop_input, max_pool2d_grad

    x, w = _ph((1, 2, 6, 6)), _ph((3, 2, 3, 3))
    with pytest.raises(gc.ShapeError, match=r"conv2d_backprop_input.*test_conv.py.*\(1, 3, 4, 4\)"):
        conv2d_backprop_input(_ph((1, 3, 3, 4)), w, x)
    with pytest.raises(gc.ShapeError, match=r"conv2d_backprop_filter.*test_conv.py"):
        conv2d_backprop_filter(x, _ph((1, 2, 4, 4)), w)
    with pytest.raises(gc.ShapeError, match=r"max_pool2d_grad.*test_conv.py"):
        max_pool2d_grad(x, _ph((1, 2, 2, 2)), 2)
    gy, xv = _ph((None, 3, None, None), name="gy"), np.zeros((1, 2, 6, 6), np.float32)
    gx = conv2d_backprop_input(gy, w, x)
    wrong = r"conv2d_backprop_input.*f32\[1,3,3,3\] does not match the shape \(1, 3, 4, 4\)"
    with gc.Session() as sess, pytest.raises(gc.RunError, match=wrong):
        sess.run(gx, {gy: np.ones((1, 3, 3, 3), np.float32), w: np.ones((3, 2, 3, 3), np.float32), x: xv})


def test_avg_pool_reference_of_a_tall_float32_window_stays_near_float64(graph):
    # numpy's float32 mean adds a window's rows in a running float32 sum: 3.9e-5 off for 4096 x 1
    value = np.full((1, 1, 4096, 2), 0.1, np.float32)
    x = _ph(value.shape)
    y = gc.avg_pool2d(x, (4096, 1))
    with gc.Session(device="reference") as sess:
        got = sess.run(y, {x: value})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, value.astype(np.float64).mean(axis=2, keepdims=True), rtol=1e-6)
