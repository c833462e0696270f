"""graphc.function: Theano-style callables with updates and givens."""

import numpy as np
import pytest

import graphc as gc


def test_function_maps_positional_arrays_to_outputs(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    f = gc.function([x, y], [x + y, x * y])
    s, p = f(np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32))
    np.testing.assert_array_equal(s, [4, 6])
    np.testing.assert_array_equal(p, [3, 8])


def test_single_output_is_returned_bare(graph):
    x = gc.placeholder("float32", (), name="x")
    assert gc.function([x], x * 2.0)(3.0) == 6.0


def test_updates_see_old_values_and_apply_after_outputs(graph):
    a = gc.Variable(1.0, name="a")
    b = gc.Variable(10.0, name="b")
    f = gc.function([], [a, b], updates=[(a, b), (b, a)])  # a swap only works if both see old values
    assert f() == [1.0, 10.0]
    assert f() == [10.0, 1.0]


def test_updates_as_dict(graph):
    count = gc.Variable(0, dtype="int64")
    f = gc.function([], count, updates={count: count + 1})
    assert [int(f()) for _ in range(3)] == [0, 1, 2]


def test_functions_of_one_graph_share_variables(graph):
    v = gc.Variable(0.0)
    inc = gc.function([], [], updates=[(v, v + 1.0)])
    read = gc.function([], v)
    inc()
    inc()
    assert read() == 2.0


def test_function_uses_the_entered_session(graph):
    v = gc.Variable(0.0)
    inc = gc.function([], [], updates=[(v, v + 5.0)], session=None)
    with gc.Session() as sess:
        f = gc.function([], [], updates=[(v, v + 1.0)])
        f()
        assert sess.run(v) == 1.0
    inc()
    assert gc.function([], v)() == 5.0


def test_givens_replace_a_tensor(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    out = gc.exp(x) + 1.0
    f = gc.function([y], out, givens={x: y * 2.0})
    np.testing.assert_allclose(f(np.array([0.0, 1.0], np.float32)), np.exp([0.0, 2.0]) + 1.0, rtol=1e-6)


def test_givens_with_a_value(graph):
    x = gc.placeholder("float32", (2,), name="x")
    f = gc.function([], x * 3.0, givens={x: np.array([1.0, 2.0], np.float32)})
    np.testing.assert_array_equal(f(), [3.0, 6.0])


def test_wrong_number_of_arguments_is_a_type_error(graph):
    x = gc.placeholder("float32", (), name="x")
    f = gc.function([x], x)
    with pytest.raises(TypeError, match="takes 1 inputs"):
        f()


def test_argument_with_wrong_shape_names_the_input(graph):
    x = gc.placeholder("float32", (3,), name="x")
    f = gc.function([x], x)
    with pytest.raises(gc.ShapeError, match="node 'x'"):
        f(np.zeros(2, np.float32))


def test_update_of_non_variable_is_rejected(graph):
    x = gc.placeholder("float32", (), name="x")
    with pytest.raises(TypeError, match="Variable"):
        gc.function([x], x, updates=[(x, x + 1.0)])


def test_failed_call_applies_no_update(graph):
    v = gc.Variable(0.0)
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    f = gc.function([x, y], x + y, updates=[(v, v + 1.0)])
    with pytest.raises(gc.RunError):
        f(np.zeros(2, np.float32), np.zeros(3, np.float32))
    assert gc.function([], v)() == 0.0


def test_feeds_are_checked_on_every_call_after_a_shape_was_accepted(graph):
    x = gc.placeholder("float32", (None, 2), name="x")
    f = gc.function([x], x * 2.0)
    f(np.ones((3, 2), np.float32))
    with pytest.raises(gc.DTypeError):
        f(np.ones((3, 2), np.float64))  # the same shape, a lossy dtype
    with pytest.raises(gc.ShapeError):
        f(np.ones((3, 3), np.float32))
    np.testing.assert_array_equal(f([[1, 2]]), [[2.0, 4.0]])  # a list converts, as before
