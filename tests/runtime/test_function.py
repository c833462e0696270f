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


def test_update_that_cannot_broadcast_to_the_variable_names_both(graph):
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    with pytest.raises(gc.ShapeError, match=r"variable 'v' \(f32\[3\]\).*f32\[4\]"):
        gc.function([], [], updates=[(v, gc.constant(np.zeros(4, np.float32)))])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_update_broadcasts_to_the_variables_shape_and_checks_unknown_dims(graph, device):
    v = gc.Variable(np.ones(3, np.float32), name="v")
    x = gc.placeholder("float32", (None,), name="x")
    with gc.Session(device=device) as sess:
        gc.function([], [], updates=[(v, 0.0)], session=sess)()
        np.testing.assert_array_equal(sess.run(v), [0.0, 0.0, 0.0])
        step = gc.function([x], [], updates=[(v, x)], session=sess)
        step(np.full(1, 2.0, np.float32))
        np.testing.assert_array_equal(sess.run(v), [2.0, 2.0, 2.0])
        with pytest.raises(gc.RunError, match="update_of_v"):
            step(np.ones(5, np.float32))
        np.testing.assert_array_equal(sess.run(v), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_variable_updated_from_a_feed_keeps_its_own_copy(graph, device):
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    x = gc.placeholder("float32", (3,), name="x")
    with gc.Session(device=device) as sess:
        set_v = gc.function([x], [], updates=[(v, x)], session=sess)
        rows = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
        mine = np.array([7.0, 8.0, 9.0], np.float32)
        set_v(mine)
        mine[0] = 100.0  # still writable, and not the variable's storage
        np.testing.assert_array_equal(sess.run(v), [7.0, 8.0, 9.0])
        set_v(rows[0])
        rows[0, 0] = 999.0
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_variable_updated_with_a_view_of_a_fetched_value_does_not_share_it(graph, device):
    v = gc.Variable(np.zeros(4, np.float32), name="v")
    x = gc.placeholder("float32", (2, 2), name="x")
    h = gc.tanh(x) * 2.0
    with gc.Session(device=device) as sess:
        f = gc.function([x], h, updates=[(v, gc.reshape(h, (4,)))], session=sess)
        out = f(np.ones((2, 2), np.float32))
        out[0, 0] = -7.0
        np.testing.assert_allclose(sess.run(v), np.full(4, 2 * np.tanh(1.0)), rtol=1e-6)


def test_function_of_a_closed_session_refuses_to_run(graph):
    v = gc.Variable(0.0, name="v")
    x = gc.placeholder("float32", (), name="x")
    sess = gc.Session()
    inc = gc.function([x], v, updates=[(v, v + x)], session=sess)
    inc(1.0)
    inc(1.0)  # the second call with these shapes takes the direct path
    sess.close()
    with pytest.raises(RuntimeError, match="closed"):
        inc(1.0)


def test_an_input_listed_twice_is_rejected(graph):
    x = gc.placeholder("float32", (2,), name="x")
    with pytest.raises(gc.FeedError, match="repeats input 0"):
        gc.function([x, x], x * 2.0)


def test_an_input_that_is_not_a_tensor_is_a_type_error(graph):
    x = gc.placeholder("float32", (2,), name="x")
    for bad in (3, "x:0", x.node):
        with pytest.raises(TypeError, match="function inputs must be tensors"):
            gc.function([bad], x * 2.0)


def test_a_variable_updated_twice_is_rejected(graph):
    v = gc.Variable(0.0, name="v")
    with pytest.raises(ValueError, match="'v' is updated twice"):
        gc.function([], [], updates=[(v, v + 1.0), (v, v + 2.0)])


def test_a_variable_updated_and_assigned_by_a_fetched_op_is_rejected(graph):
    # the update, computed from the values before the call, was written last: the counter went up
    # once a call where the user's assign_add and update each added one
    step = gc.Variable(0, name="step")
    bump = gc.assign_add(step, 1)
    with pytest.raises(ValueError, match="'step' is updated and also written by node 'assign_add'"):
        gc.function([], [bump], updates=[(step, step + 1)])
    with pytest.raises(ValueError, match="'step' is updated and also written by node 'assign_add'"):
        gc.function([], gc.group(bump), updates=[(step, step + 1)])  # run through the group
    with pytest.raises(ValueError, match="'step' is updated and also written by node 'init'"):
        gc.function([], gc.global_variables_initializer(), updates=[(step, step + 1)])


def test_outputs_given_as_a_dict_are_refused(graph):
    x = gc.placeholder("float32", (None,), name="x")
    with pytest.raises(TypeError, match="not a dict"):
        gc.function([x], {"y": x * 2.0})


def test_a_function_of_nothing_is_refused_as_such(graph):
    with pytest.raises(ValueError, match="nothing to compute"):
        gc.function([], [])


def test_an_update_of_another_dtype_names_the_variable(graph):
    v = gc.Variable(np.zeros(2, np.int32), name="counter")
    with pytest.raises(gc.DTypeError, match=r"update of variable 'counter' \(i32\[2\]\)"):
        gc.function([], v, updates=[(v, v * 2.5)])


def test_givens_value_of_another_size_than_the_tensor_is_refused(graph):
    x = gc.placeholder("float32", (3,), name="x")  # fed [1, 2, 3, 4] it would be a ShapeError
    with pytest.raises(gc.ShapeError, match=r"cannot replace x:0 \(f32\[3\]\) with .*f32\[4\]"):
        gc.function([], x * 3.0, givens={x: np.array([1.0, 2.0, 3.0, 4.0], np.float32)})


def test_givens_value_of_another_dtype_than_the_tensor_is_a_dtype_error(graph):
    i = gc.placeholder("int32", (3,), name="i")  # fed an int64 array it would be a DTypeError
    j = gc.placeholder("int64", (3,), name="j")
    with pytest.raises(gc.DTypeError, match=r"cannot replace i:0 \(i32\[3\]\) with j:0 \(i64\[3\]\)"):
        gc.function([j], i * 2, givens={i: j})


def test_givens_replacement_of_unknown_size_fits_a_known_one(graph):
    x = gc.placeholder("float32", (2,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    f = gc.function([y], x * 3.0, givens={x: y})
    np.testing.assert_array_equal(f(np.array([1.0, 2.0], np.float32)), [3.0, 6.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_givens_keep_the_creation_order_of_stateful_ops(graph, device):
    v = gc.Variable(0.0, name="v")
    x = gc.placeholder("float32", (), name="x")
    step = gc.assign(v, x)  # copied by the givens below
    after = v.read_value()  # made after the assignment: runs after it
    with gc.Session(device=device) as sess, gc.Session(device=device) as other:
        f = gc.function([], [step, after], givens={x: gc.constant(5.0)}, session=sess)
        np.testing.assert_array_equal(f(), other.run([step, after], {x: 5.0}))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_values_a_function_makes_take_no_control_dependency_open_around_it(graph, device):
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    calls = gc.Variable(0, name="calls")
    x = gc.placeholder("float32", (), name="x")
    bump = gc.assign_add(calls, 1)
    y = v + x
    with gc.Session(device=device) as sess:
        with gc.control_dependencies([bump]):  # nothing the user makes in here is run
            reset = gc.function([], [], updates=[(v, 0.0)], session=sess)
            shifted = gc.function([], y, updates={v: y}, givens={x: 1.0}, session=sess)
        reset()
        shifted()
        assert sess.run(calls) == 0
        np.testing.assert_array_equal(sess.run(v), np.ones(3))


def test_givens_copies_keep_their_nodes_control_inputs_and_lines_not_the_callers(graph):
    v = gc.Variable(0.0, name="v")
    inc = gc.assign_add(v, 1.0)
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    out = x * 2.0
    with gc.control_dependencies([inc]), gc.name_scope("outer"):
        f = gc.function([y], out, givens={x: y})
    for _ in range(3):
        np.testing.assert_array_equal(f(np.ones(2, np.float32)), [2.0, 2.0])
    assert f.session.run(v) == 0.0  # out never depended on inc; the copy made for givens must not
    copy = next(n for n in f.executable.source.nodes if n.op.type_name == "Multiply")
    assert copy.location == out.node.location and copy.name.startswith("multiply")


def test_givens_from_another_graph_is_refused_naming_the_replaced_tensor(graph):
    x = gc.placeholder("float32", (2,), name="x")
    with gc.Graph().as_default():
        foreign = gc.placeholder("float32", (2,), name="foreign")
    with pytest.raises(gc.GraphMismatchError, match=r"node 'x'.*x:0 is replaced with foreign:0"):
        gc.function([], x * 3.0, givens={x: foreign})


@pytest.mark.parametrize("inputs", ["tensor", None, "x:0"])
def test_inputs_not_given_as_a_list_ask_for_a_list(graph, inputs):
    x = gc.placeholder("float32", (None,), name="x")
    with pytest.raises(TypeError, match=r"inputs must be a list of tensors \(write \[x\] for one\)"):
        gc.function(x if inputs == "tensor" else inputs, x * 2.0)


def test_an_output_given_by_name_is_refused_naming_the_whole_name(graph):
    x = gc.placeholder("float32", (None,), name="x")
    gc.multiply(x, 2.0, name="y")
    with pytest.raises(TypeError, match=r"not names, got str 'y:0'"):
        gc.function([x], "y:0")


def test_updates_not_given_as_pairs_ask_for_pairs(graph):
    v = gc.Variable([1.0, 2.0], name="v")
    with pytest.raises(TypeError, match=r"updates must be \(variable, new value\) pairs"):
        gc.function([], v, updates=[v, v * 2.0])  # a flat list, not [(v, v * 2.0)]


def test_givens_not_given_as_pairs_ask_for_pairs(graph):
    x = gc.placeholder("float32", (2,), name="x")
    y = gc.placeholder("float32", (2,), name="y")
    with pytest.raises(TypeError, match=r"givens must be a dict or \(tensor, replacement\) pairs"):
        gc.function([y], x * 2.0, givens=[x, y])  # a flat list, not [(x, y)]


def test_functions_made_at_once_in_threads_share_one_session(graph, monkeypatch):
    import importlib
    import threading
    import time

    function_module = importlib.import_module("graphc.runtime.function")  # the name is also the function

    class SlowSession(function_module.Session):
        def __init__(self, *args, **kwargs):
            time.sleep(0.05)  # a thread switch while the first thread makes the graph's session
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(function_module, "Session", SlowSession)
    v = gc.Variable(0.0)
    made, barrier = [None, None], threading.Barrier(2)

    def make(i):
        barrier.wait()
        with graph.as_default():
            made[i] = gc.function([], [], updates=[(v, v + 1.0)]) if i == 0 else gc.function([], v)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    inc, read = made
    inc()
    assert inc.session is read.session and read() == 1.0


def test_a_dropped_graph_with_functions_is_freed_with_its_variable_values():
    # the per-graph session refers to its graph: kept in a dictionary keyed by the graph, it kept
    # every graph given a function (and its variable values) alive for good
    import gc as python_gc
    import weakref

    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None,), name="x")
        w = gc.Variable(np.ones(3, np.float32), name="w")
        f = gc.function([x], x + w, device="reference")
        f(np.ones(3, np.float32))
    graph_ref, value_ref = weakref.ref(g), weakref.ref(f.session._values["w"])
    del g, x, w, f
    python_gc.collect()
    assert graph_ref() is None
    assert value_ref() is None


def test_function_uses_the_entered_session_of_its_graph_under_one_of_another_graph(graph):
    v = gc.Variable(0.0, name="v")
    with gc.Session(device="reference") as sess:
        sess.run(gc.assign(v, 3.0))
        with gc.Session(gc.Graph(), device="reference"):  # another model's session, entered inside
            read = gc.function([], v)
        assert read.session is sess and read() == sess.run(v)


def test_a_function_takes_its_inputs_by_their_node_names(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    f = gc.function([x, y], x - y)
    np.testing.assert_array_equal(f(y=[1.0], x=[3.0]), f([3.0], [1.0]))
    np.testing.assert_array_equal(f([3.0], y=[1.0]), [2.0])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"z": [1.0]}, "no input named 'z'"),
        (([1.0],), {"x": [1.0]}, "'x' given twice"),
        ((), {"x": [1.0]}, "missing: y"),
        (([1.0], [2.0], [3.0]), {"x": [1.0]}, "got 3 by position"),
    ],
)
def test_a_function_called_by_name_with_a_wrong_name_or_count_says_which(graph, args, kwargs, message):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    f = gc.function([x, y], x - y)
    with pytest.raises(TypeError, match=message):
        f(*args, **kwargs)


def test_a_placeholder_missing_from_the_inputs_is_named_with_where_to_add_it(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    with pytest.raises(gc.FeedError, match=r"node 'y'.*not fed.*graphc\.function's inputs"):
        gc.function([x], x + y)
