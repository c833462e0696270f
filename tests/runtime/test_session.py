"""Session.run: fetch structures, feeds, caching of executables, errors, lifetime."""

import collections

import numpy as np
import pytest

import graphc as gc


def test_run_returns_numpy_array_of_fetched_tensor(graph):
    x = gc.placeholder("float32", (None, 2), name="x")
    y = x * 3.0
    with gc.Session() as sess:
        out = sess.run(y, {x: np.ones((4, 2), np.float32)})
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (4, 2)
    np.testing.assert_array_equal(out, 3.0)


def test_fetch_structure_is_preserved(graph):
    a, b = gc.constant(1.0), gc.constant(2)
    Pair = collections.namedtuple("Pair", "first second")
    with gc.Session() as sess:
        out = sess.run({"list": [a, (b, a)], "pair": Pair(a, b), "op": gc.group(a)})
    assert out["list"][0] == 1.0 and isinstance(out["list"][1], tuple)
    assert out["list"][1][0] == 2
    assert isinstance(out["pair"], Pair) and out["pair"].second == 2
    assert out["op"] is None


def test_fetch_and_feed_by_name(graph):
    x = gc.placeholder("float32", (), name="x")
    gc.multiply(x, 2.0, name="double")
    with gc.Session() as sess:
        assert sess.run("double:0", {"x:0": 4.0}) == 8.0
        assert sess.run("double", {"x": 4.0}) is None  # a node name fetches the op


def test_any_tensor_can_be_fed(graph):
    x = gc.placeholder("float32", (2,), name="x")
    h = x * 2.0
    y = h + 1.0
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {h: np.array([10.0, 20.0], np.float32)}), [11, 21])


def test_repeated_run_reuses_the_compiled_executable(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = x + 1.0
    with gc.Session() as sess:
        sess.run(y, {x: [1.0]})
        sess.run(y, {x: [1.0, 2.0, 3.0]})
        assert len(sess._cache) == 1


def test_a_session_keeps_a_bounded_number_of_run_structures_and_recompiles_a_dropped_one(graph, monkeypatch):
    from graphc.runtime import session as session_module

    monkeypatch.setattr(session_module, "MAX_RUN_STRUCTURES", 4)
    x = gc.placeholder("float64", (None,), name="x")
    first = x * 3.0
    with gc.Session(device="reference") as sess:
        np.testing.assert_array_equal(sess.run(first, {x: [1.0]}), [3.0])
        for k in range(10):  # a new op per step, as a loop that builds inside it makes
            np.testing.assert_array_equal(sess.run(x + float(k), {x: [1.0]}), [1.0 + k])
            assert len(sess._cache) <= 4
        np.testing.assert_array_equal(sess.run(first, {x: [2.0]}), [6.0])  # dropped, made again


def test_missing_feed_names_the_placeholder_and_its_line(graph):
    x = gc.placeholder("float32", (None,), name="images")
    y = x + 1.0
    with (
        gc.Session() as sess,
        pytest.raises(gc.FeedError, match=r"node 'images'.*test_session.py:\d+.*not fed"),
    ):
        sess.run(y)


def test_feed_with_wrong_shape_names_expected_and_actual(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    with gc.Session() as sess, pytest.raises(gc.ShapeError, match=r"node 'x'.*\(2, 4\).*\(\?, 3\)"):
        sess.run(x + 1.0, {x: np.zeros((2, 4), np.float32)})


def test_feed_with_wrong_rank_is_rejected(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    with gc.Session() as sess, pytest.raises(gc.ShapeError, match="expected"):
        sess.run(x, {x: np.zeros(3, np.float32)})


def test_feed_of_lossy_dtype_is_rejected_with_a_hint(graph):
    x = gc.placeholder("float32", (2,), name="x")
    with gc.Session() as sess, pytest.raises(gc.DTypeError, match=r"node 'x'.*float64.*astype"):
        sess.run(x, {x: np.zeros(2, np.float64)})


def test_feed_of_python_values_and_safe_casts_is_converted(graph):
    x = gc.placeholder("float64", (2,), name="x")
    i = gc.placeholder("int64", (2,), name="i")
    with gc.Session() as sess:
        a, b = sess.run([x, i], {x: np.zeros(2, np.float32), i: [1, 2]})
    assert a.dtype == np.float64 and b.dtype == np.int64


def test_feed_of_floats_into_int_placeholder_is_rejected(graph):
    i = gc.placeholder("int32", (2,), name="i")
    with gc.Session() as sess, pytest.raises(gc.DTypeError):
        sess.run(i, {i: [1.5, 2.0]})


def test_a_feed_dict_that_is_not_a_mapping_is_a_type_error(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    feed = np.ones((2, 3), np.float32)
    with gc.Session() as sess:
        for bad in (feed, [(x, feed)], {x}):
            with pytest.raises(TypeError, match="feed_dict must map tensors"):
                sess.run(x * 2.0, bad)


def test_feed_key_from_another_graph_is_rejected(graph):
    other = gc.Graph()
    with other.as_default():
        foreign = gc.placeholder("float32", (), name="foreign")
    y = gc.constant(1.0) + 1.0
    with gc.Session() as sess, pytest.raises(gc.GraphMismatchError, match="foreign"):
        sess.run(y, {foreign: 1.0})


def test_fetch_from_another_graph_is_rejected(graph):
    other = gc.Graph()
    with other.as_default():
        foreign = gc.constant(1.0, name="foreign")
    with gc.Session() as sess, pytest.raises(gc.GraphMismatchError, match="foreign"):
        sess.run(foreign)


def test_executing_an_executable_of_another_graph_is_rejected(graph):
    other = gc.Graph()
    with other.as_default():
        w = gc.Variable(np.ones(100_000, np.float32), name="w")
        exe = gc.compile([gc.reduce_sum(w * 2.0)])
    gc.Variable(np.ones(2), name="w")  # the session's graph has a float64 "w" of 2 elements
    with gc.Session() as sess, pytest.raises(gc.GraphMismatchError, match="another graph"):
        sess.execute(exe, [])  # the kernels read the (2,) float64 array as (100000,) float32


def test_mixing_graphs_in_one_op_is_rejected(graph):
    other = gc.Graph()
    with other.as_default():
        foreign = gc.constant(1.0, name="foreign")
    with pytest.raises(gc.GraphMismatchError, match="another graph"):
        gc.add(gc.constant(1.0), foreign)


def test_run_time_broadcast_error_names_the_node(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    z = gc.add(x, y, name="sum_xy")
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"node 'sum_xy'.*test_session.py"):
        sess.run(z, {x: np.zeros(2, np.float32), y: np.zeros(3, np.float32)})


def test_unknown_device_is_rejected(graph):
    with pytest.raises(ValueError, match="unknown device"):
        gc.Session(device="tpu")


def test_closed_session_refuses_to_run(graph):
    sess = gc.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed"):
        sess.run(gc.constant(1.0))


def test_session_defaults_to_the_default_graph(graph):
    assert gc.Session().graph is graph


def test_a_session_entered_with_its_graph_makes_that_graph_the_default():
    g = gc.Graph()
    with g.as_default():
        v = gc.Variable(np.float32(3.0), name="v")
    outer = gc.get_default_graph()
    with gc.Session(g, device="reference") as sess:
        assert gc.get_default_graph() is g
        sess.run(gc.global_variables_initializer())  # built in g, as in TF1
        assert sess.run(v) == 3.0
    assert gc.get_default_graph() is outer


def test_a_failing_with_block_of_a_session_restores_the_default_graph():
    g = gc.Graph()
    outer = gc.get_default_graph()
    with pytest.raises(ZeroDivisionError), gc.Session(g, device="reference"):
        1 / 0  # noqa: B018 - the error leaves the block
    assert gc.get_default_graph() is outer and gc.get_default_session() is None


def test_compile_exposes_the_pruned_schedule(graph):
    x = gc.placeholder("float32", (None,), name="x")
    unused = gc.exp(x)  # noqa: F841 - must not be scheduled
    y = x * 2.0
    exe = gc.compile([y], feeds=[x])
    assert [n.op.type_name for n in exe.schedule] == ["Constant", "Multiply"]  # x is fed


def test_fetched_view_of_a_feed_does_not_alias_it(graph):
    x = gc.placeholder("float32", (2, 2), name="x")
    fed = np.zeros((2, 2), np.float32)
    with gc.Session() as sess:
        row = sess.run(x[0], {x: fed})
    row[0] = 5.0
    assert fed[0, 0] == 0.0


def test_fetched_constant_is_a_writable_copy(graph):
    c = gc.constant([1.0, 2.0])
    with gc.Session() as sess:
        value = sess.run(c)
        value[0] = 9.0
        assert sess.run(c)[0] == 1.0


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_feeding_one_output_of_a_multi_output_op_computes_the_other(graph, device):
    x = gc.placeholder("float32", (4,), name="x")
    a, b = gc.split(x, 2)
    y = a * 10.0 + b
    feeds = {x: np.arange(4, dtype=np.float32), a: np.array([100.0, 200.0], np.float32)}
    with gc.Session(device=device) as sess:
        np.testing.assert_array_equal(sess.run(y, feeds), [1002.0, 2003.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_fetching_a_fed_tensor_returns_a_copy_of_the_feed(graph, device):
    x = gc.placeholder("float32", (2,), name="x")
    fed = np.zeros(2, np.float32)
    with gc.Session(device=device) as sess:
        for fetch in (x, x * 1.0 + 0.0):  # the second simplifies to x itself
            out = sess.run(fetch, {x: fed})
            out[0] = 5.0
            assert fed[0] == 0.0


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_two_fetches_that_compute_the_same_value_are_separate_arrays(graph, device):
    x = gc.placeholder("float32", (2,), name="x")
    y1, y2 = x * 2.0, x * 2.0  # CSE merges them into one program tensor
    feed = np.ones(2, np.float32)
    with gc.Session(device=device) as sess:
        f = gc.function([x], [y1, y2], session=sess)
        for a, b in (sess.run([y1, y2], {x: feed}), sess.run([y1, y1], {x: feed}), f(feed), f(feed)):
            a[0] = 100.0  # the user's to change: the other fetch keeps its value
            np.testing.assert_array_equal(b, [2.0, 2.0])


def test_a_tensor_fed_by_itself_and_by_its_name_is_rejected(graph):
    x = gc.placeholder("float32", (2,), name="x")
    with gc.Session() as sess, pytest.raises(gc.FeedError, match="fed twice"):
        sess.run(x * 2.0, {x: np.ones(2, np.float32), "x:0": np.ones(2, np.float32)})


def test_fetched_mappings_keep_their_type_and_keys(graph):
    c = gc.constant(1.0)
    with gc.Session() as sess:
        assert type(sess.run({"k": c})) is dict
        assert type(sess.run(collections.OrderedDict(k=c))) is collections.OrderedDict
        assert list(sess.run({1: c})) == [1] and type(next(iter(sess.run({True: c})))) is bool
        fetched = sess.run(collections.defaultdict(list, a=c))
        assert fetched["a"] == 1.0 and fetched["missing"] == []


def test_python_ints_outside_the_placeholders_range_are_rejected(graph):
    i = gc.placeholder("int32", (None,), name="i")
    with gc.Session() as sess:
        with pytest.raises(gc.DTypeError, match=r"outside int32's range"):
            sess.run(i + 0, {i: [2**40, 3]})
        np.testing.assert_array_equal(sess.run(i + 0, {i: [-(2**31), 2**31 - 1]}), [-(2**31), 2**31 - 1])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_a_control_dependency_on_a_fed_placeholder_is_satisfied_by_the_feed(graph, device):
    x = gc.placeholder("float32", (3,), name="x")
    with gc.control_dependencies([x]):
        y = gc.exp(x)
    with gc.Session(device=device) as sess:
        np.testing.assert_allclose(sess.run(y, {x: np.zeros(3, np.float32)}), np.ones(3))


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_concurrent_runs_keep_each_others_updates(graph, device):
    import threading

    a, b = gc.Variable(0.0, name="a"), gc.Variable(0.0, name="b")
    with gc.Session(device=device) as sess:
        inc_a = gc.function([], [], updates=[(a, a + 1.0)], session=sess)
        inc_b = gc.function([], [], updates=[(b, b + 1.0)], session=sess)
        noise = gc.function([], gc.random_uniform((2,)), session=sess)  # commits its stream's counter
        calls = [(inc_a, 300), (inc_b, 300), (noise, 300)]
        workers = [threading.Thread(target=lambda f=f, n=n: [f() for _ in range(n)]) for f, n in calls]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert sess.run([a, b]) == [300.0, 300.0]


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_stop_gradient_of_a_feed_is_not_the_feed(graph, device):
    x = gc.placeholder("float32", (3,), name="x")
    w = gc.Variable(np.zeros(3, np.float32), name="w")
    feed = np.array([1.0, 2.0, 3.0], np.float32)
    with gc.Session(device=device) as sess:
        assert sess.run(gc.stop_gradient(x), {x: feed}) is not feed
        gc.function([x], [], updates=[(w, gc.stop_gradient(x))], session=sess)(feed)
        feed[0] = 100.0  # still the user's to change
        np.testing.assert_array_equal(sess.run(w), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_sum_like_that_sums_nothing_of_a_feed_is_not_the_feed(graph, device):
    x = gc.placeholder("float32", (None, 3), name="x")
    like = gc.placeholder("float32", (None, 3), name="like")
    w = gc.Variable(np.zeros((2, 3), np.float32), name="w")
    feed = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32)  # its own memory (no base)
    with gc.Session(device=device) as sess:
        assert sess.run(gc.sum_like(x, like), {x: feed, like: feed}) is not feed
        gc.function([x, like], [], updates=[(w, gc.sum_like(x, like))], session=sess)(feed, feed)
        feed[0, 0] = 100.0  # still the user's to change
        np.testing.assert_array_equal(sess.run(w), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])


def test_running_no_fetches_returns_the_empty_structure(graph):
    with gc.Session() as sess:
        assert sess.run([]) == [] and sess.run({}) == {}


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_clip_with_one_bound_clips_on_that_side_only(graph, device):
    x = gc.placeholder("float32", (3,), name="x")
    with gc.Session(device=device) as sess:
        got = sess.run([gc.clip(x, None, 1.0), gc.clip(x, 0.0, None)], {x: [-2.0, 0.5, 7.0]})
    np.testing.assert_array_equal(got[0], [-2.0, 0.5, 1.0])
    np.testing.assert_array_equal(got[1], [0.0, 0.5, 7.0])


def test_a_run_time_shape_error_on_the_cpu_gives_both_shapes(graph):
    a = gc.placeholder("float32", (None, None), name="a")
    b = gc.placeholder("float32", (None, None), name="b")
    y = gc.matmul(a, b, name="mm")
    with gc.Session() as sess, pytest.raises(gc.RunError, match=r"node 'mm'.*\(2, 3\).*\(4, 3\)"):
        sess.run(y, {a: np.ones((2, 3), np.float32), b: np.ones((4, 3), np.float32)})


def test_a_device_name_given_as_the_graph_is_refused_when_the_session_is_made(graph):
    with pytest.raises(TypeError, match=r"graph must be a graphc.Graph, got str 'reference'.*device="):
        gc.Session("reference")


def test_feeding_a_name_the_graph_does_not_have_is_a_feed_error_naming_it(graph):
    x = gc.placeholder("float32", (2,), name="x")
    unknown = pytest.raises(gc.FeedError, match="'nope:0'.*no node named 'nope'")
    with gc.Session(device="reference") as sess, unknown:
        sess.run(x * 2.0, {"nope:0": [1.0, 2.0]})


def test_a_run_that_ends_after_close_keeps_no_state_in_the_closed_session(graph, monkeypatch):
    v = gc.Variable(np.zeros(1000, np.float32), name="v")
    step = gc.assign_add(v, 1.0)
    sess = gc.Session()
    sess.run(step)
    exe = next(iter(sess._cache.values()))[0]
    run = exe.run

    def closed_meanwhile(feed_values, state):  # another thread closes the session during the run
        values = run(feed_values, state)
        sess.close()
        return values

    monkeypatch.setattr(exe, "run", closed_meanwhile)
    sess._execute(exe, [])
    assert sess._values == {}  # released, not refilled by the run's commit


def test_a_child_forked_while_another_thread_commits_a_run_can_run_the_session(graph):
    import os
    import threading
    import time

    v = gc.Variable(np.float32(0), name="v")
    inc = gc.assign_add(v, 1.0)
    sess = gc.Session(device="reference")
    sess.run(inc)
    committing, done = threading.Event(), threading.Event()

    def commit_in_progress():  # holds the lock as a run committing its variables does
        with sess._lock:
            committing.set()
            done.wait()

    thread = threading.Thread(target=commit_in_progress)
    thread.start()
    committing.wait()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if sess.run(inc) == 2.0 else 1)
            except BaseException:  # noqa: BLE001 - any failure is the child's status
                os._exit(2)
        deadline, status = time.monotonic() + 10, None
        while status is None and time.monotonic() < deadline:
            finished, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if finished else None
            time.sleep(0.02)
        if status is None:  # hung on the lock the parent's thread held
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        done.set()
        thread.join()
    assert status == 0


def test_running_no_fetches_still_checks_the_feeds(graph):
    x = gc.placeholder("float32", (3,), name="x")
    with gc.Session() as sess:
        assert sess.run([], {x: [1.0, 2.0, 3.0]}) == []
        with pytest.raises(gc.ShapeError, match=r"fed shape \(2,\), expected \(3,\)"):
            sess.run([], {x: [1.0, 2.0]})
        with pytest.raises(gc.DTypeError, match="expected float32"):
            sess.run({}, {x: np.zeros(3, np.float64)})
        with pytest.raises(gc.FeedError, match="fed twice"):
            sess.run([], {x: [1.0, 2.0, 3.0], "x:0": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("name", ["nope", "nope:0", "x:1"])
def test_fetching_a_name_the_graph_does_not_have_is_a_value_error_naming_it(graph, name):
    x = gc.placeholder("float32", (2,), name="x")
    with (
        gc.Session(device="reference") as sess,
        pytest.raises(ValueError, match=f"fetch '{name}' names nothing"),
    ):
        sess.run([x, name], {x: [1.0, 2.0]})


@pytest.mark.parametrize("wrap", [lambda x, a: {x: a}, lambda x, a: a], ids=["dict", "array"])
def test_executing_with_feeds_not_given_as_a_list_asks_for_a_list(graph, wrap):
    x = gc.placeholder("float32", (), name="x")
    exe = gc.compile([x * 2.0], [x], device="reference")
    with (
        gc.Session(device="reference") as sess,
        pytest.raises(TypeError, match=r"a list of one value .*\(x:0\)"),
    ):
        sess.execute(exe, wrap(x, np.array([3.0], np.float32)))


@pytest.mark.parametrize("optimize", ["false", "0", "off"])
def test_an_optimize_setting_that_is_not_a_bool_is_refused(graph, optimize):
    with pytest.raises(TypeError, match="optimize must be True, False or None"):
        gc.Session(optimize=optimize)
    with pytest.raises(TypeError, match="optimize must be True, False or None"):
        gc.compile(
            [gc.placeholder("float32", (), name="x") * 2.0], [graph.get_tensor("x")], optimize=optimize
        )


def test_a_fetched_defaultdict_keeps_its_own_factory_on_a_repeated_run(graph):
    c = gc.constant(1.0)
    with gc.Session(device="reference") as sess:
        sess.run(collections.defaultdict(list, a=c))
        fetched = sess.run(collections.defaultdict(int, a=c))
    assert fetched.default_factory is int and fetched["missing"] == 0
