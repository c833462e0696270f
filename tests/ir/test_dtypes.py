"""dtypes: normalization of what users pass as a dtype or an array's dtype."""

import numpy as np
import pytest

import graphc as gc
from graphc.ir import dtypes


@pytest.mark.parametrize("name", [">f4", ">f8", ">i4", ">i8"])
def test_a_non_native_byte_order_is_the_native_dtype(name):
    d = dtypes.as_dtype(name)
    assert d == np.dtype(name).newbyteorder("=") and d.isnative


@pytest.mark.parametrize("make", [gc.constant, gc.Variable])
def test_a_big_endian_array_makes_a_tensor_of_the_same_values(graph, make):
    data = np.array([1.5, -2.0, 3.25], ">f4")  # what np.frombuffer(b, ">f4") gives
    t = make(data)
    assert t.dtype == np.float32
    with gc.Session() as sess:
        out = sess.run(t * 2.0)
    np.testing.assert_array_equal(out, data.astype(np.float32) * 2.0)


@pytest.mark.parametrize("make", ["placeholder", "cast"])
def test_none_as_a_dtype_is_refused_not_read_as_float64(graph, make):
    # np.dtype(None) is float64: placeholder(None, ...) made a float64 placeholder where the
    # documented default is float32
    with pytest.raises(gc.DTypeError, match="a dtype is required here, got None"):
        if make == "placeholder":
            gc.placeholder(None, (2,))
        else:
            gc.cast(gc.constant([1.0]), None)


@pytest.mark.parametrize("value", [0.5, [0, 2], -1])
def test_a_bool_constant_is_made_only_from_zeros_and_ones(graph, value):
    # numpy's astype(bool) turns 0.5, 2 and -1 into True; a feed of them to a bool placeholder is refused
    with pytest.raises(gc.DTypeError, match="cannot make a bool value from"):
        gc.constant(value, dtype="bool")
    assert gc.constant([0, 1, 1.0], dtype="bool").dtype == np.bool_
