"""Feed checking and conversion (``runtime/feeds.py``): what is accepted, converted or refused, and
that refusals name the placeholder."""

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float32"])
def test_an_empty_list_feeds_a_placeholder_of_any_dtype(graph, dtype):
    x = gc.placeholder(dtype, (None,), name="x")
    with gc.Session() as sess:
        out = sess.run(gc.shape(x), {x: []})
    np.testing.assert_array_equal(out, [0])


def test_an_empty_nested_list_feeds_an_int_placeholder_with_its_shape(graph):
    x = gc.placeholder("int64", (None, 0), name="x")
    with gc.Session() as sess:
        out = sess.run(x, {x: [[], []]})
    assert out.dtype == np.int64 and out.shape == (2, 0)


def test_a_ragged_nested_list_is_a_shape_error_naming_the_placeholder(graph):
    x = gc.placeholder("float32", (None, None), name="rows")
    with gc.Session() as sess, pytest.raises(gc.ShapeError, match=r"node 'rows'.*test_feeds.py:\d+.*ragged"):
        sess.run(x + 1.0, {x: [[1.0], [2.0, 3.0]]})
