"""The graph IR: default graphs, names, scopes, source locations, control dependencies, printing."""

import re
import threading

import numpy as np
import pytest

import graphc as gc


def test_nodes_are_appended_in_creation_order(graph):
    x = gc.placeholder("float32", (2,), name="x")
    y = gc.exp(x)
    assert [n.name for n in graph.nodes] == ["x", "exp"]
    assert y.node.index == 1 and y.node.inputs == (x,)


def test_as_default_selects_the_graph_for_new_nodes():
    g = gc.Graph()
    with g.as_default():
        c = gc.constant(1.0)
    assert c.graph is g and gc.get_default_graph() is not g


def test_reset_default_graph_gives_an_empty_graph():
    gc.constant(1.0)
    g = gc.reset_default_graph()
    assert len(g) == 0 and gc.get_default_graph() is g


def test_reset_default_graph_inside_as_default_is_refused(graph):
    with pytest.raises(RuntimeError):
        gc.reset_default_graph()


def test_names_are_made_unique(graph):
    a = gc.constant(1.0, name="c")
    b = gc.constant(2.0, name="c")
    assert (a.node.name, b.node.name) == ("c", "c_1")
    assert a.name == "c:0"


def test_a_unique_name_is_found_without_trying_every_earlier_suffix(graph):
    # each new "tanh" tried tanh_1, tanh_2, ... from the start: building 10000 nodes of one name took
    # 7.5 s, quadratic in their number
    class CountingSet(set):
        lookups = 0

        def __contains__(self, item):
            CountingSet.lookups += 1
            return super().__contains__(item)

    x = gc.placeholder("float32", (2,), name="x")
    graph._names = CountingSet(graph._names)
    gc.tanh(x, name="t_3")  # a taken suffix is still skipped
    names = [gc.tanh(x, name="t").node.name for _ in range(300)]
    assert names[:5] == ["t", "t_1", "t_2", "t_4", "t_5"] and len(set(names)) == 300
    assert CountingSet.lookups < 10 * 300, CountingSet.lookups


def test_name_scopes_nest(graph):
    with gc.name_scope("layer1"), gc.name_scope("dense"):
        t = gc.constant(1.0, name="w")
    assert t.node.name == "layer1/dense/w"


def test_default_node_name_is_the_op_in_snake_case(graph):
    x = gc.placeholder("float32", (2,), name="x")
    assert gc.log1p(x).node.name == "log1p"
    assert gc.floor_divide(x, 2.0).node.name == "floor_divide"


def test_node_records_the_users_source_line(graph):
    x = gc.placeholder("float32", (2,), name="x")
    y = x * 2.0  # the line recorded
    filename, line = y.node.location
    assert filename == __file__
    with open(__file__) as f:
        assert "the line recorded" in f.readlines()[line - 1]


def test_control_dependencies_are_recorded(graph):
    a = gc.constant(1.0)
    with gc.control_dependencies([a]):
        b = gc.constant(2.0)
    assert b.node.control_inputs == (a.node,)


def test_control_dependencies_none_clears_the_enclosing_ones_inside(graph):
    a = gc.constant(1.0)
    with gc.control_dependencies([a]):
        with gc.control_dependencies(None):
            free = gc.constant(2.0)
        again = gc.constant(3.0)
    assert free.node.control_inputs == () and again.node.control_inputs == (a.node,)


def test_tensor_from_another_graph_in_control_dependencies_is_rejected(graph):
    with gc.Graph().as_default():
        foreign = gc.constant(1.0)
    with pytest.raises(gc.GraphMismatchError), gc.control_dependencies([foreign]):
        pass


def test_get_tensor_by_name(graph):
    y = gc.exp(gc.constant(1.0), name="e")
    assert graph.get_tensor("e:0") is y and graph.get_tensor("e") is y
    with pytest.raises(KeyError):
        graph.get_tensor("nope:0")


def test_tensor_truth_value_is_refused(graph):
    x = gc.placeholder("float32", (), name="x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)


def test_tensor_equality_is_identity_so_tensors_work_as_keys(graph):
    a, b = gc.constant(1.0), gc.constant(1.0)
    assert a == a and a != b
    assert {a: 1, b: 2}[b] == 2 and b in [a, b]


def test_operators_build_the_matching_ops(graph):
    x = gc.placeholder("float32", (2,), name="x")
    built = {
        "Add": x + 1.0, "Subtract": 1.0 - x, "Multiply": 2.0 * x, "Divide": x / 2.0,
        "FloorDivide": x // 2.0, "Mod": x % 2.0, "Power": x**2.0, "Negative": -x, "Abs": abs(x),
        "Less": x < 1.0, "LessEqual": x <= 1.0, "Greater": x > 1.0, "GreaterEqual": x >= 1.0,
    }  # fmt: skip
    for op_name, t in built.items():
        assert t.op.type_name == op_name


def test_numpy_array_on_the_left_builds_a_node(graph):
    x = gc.placeholder("float32", (2,), name="x")
    y = np.array([1.0, 2.0], np.float32) + x
    assert isinstance(y, gc.Tensor) and y.op.type_name == "Add"


def test_print_graph_shows_one_line_per_node_with_types_and_location(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    gc.exp(x, name="e")
    text = str(graph)
    assert "e:0 = Exp(x:0)  : f32[?,3]   # test_graph.py:" in text
    assert text.count("\n") == 3


def test_ops_are_values_equal_by_attributes():
    from graphc.ops.elementwise import Cast, Exp

    assert Exp() == Exp() and hash(Exp()) == hash(Exp())
    assert Cast(np.dtype("int32")) == Cast(np.dtype("int32")) != Cast(np.dtype("int64"))


def test_equal_constants_are_equal_ops(graph):
    a, b = gc.constant([1.0, 2.0]), gc.constant([1.0, 2.0])
    assert a.op == b.op and hash(a.op) == hash(b.op)
    assert a.op != gc.constant([1.0, 3.0]).op


def test_constant_value_cannot_be_mutated(graph):
    c = gc.constant([1.0, 2.0])
    with pytest.raises(ValueError):
        c.op.value[0] = 5.0


def test_integer_constant_from_a_fraction_is_rejected(graph):
    with pytest.raises(gc.DTypeError, match=r"int32 value from 1.5, which is not an integer"):
        gc.constant([1.0, 1.5], dtype="int32")
    assert gc.constant(3.0, dtype="int32").op.value == 3


def test_integer_constant_out_of_range_is_rejected(graph):
    i = gc.placeholder("int32", (2,), name="i")
    with pytest.raises(gc.DTypeError, match=r"1099511627776: outside"):
        _ = i + 2**40  # numpy 2 refuses the same (OverflowError)
    with pytest.raises(gc.DTypeError, match="outside"):
        gc.constant(2.0**63, dtype="int64")


def test_none_is_not_a_value_even_with_a_dtype(graph):
    with pytest.raises(gc.DTypeError, match="from NoneType None"):
        gc.constant(None, dtype="float32")
    v = gc.Variable([1.0, 2.0], name="v")
    with pytest.raises(gc.DTypeError, match="None"):
        gc.assign(v, None)


def test_integer_variable_from_a_fraction_is_rejected_naming_it(graph):
    with pytest.raises(gc.DTypeError, match=r"node 'v' \(ReadVariable\) created at .*test_graph.py.*1.5"):
        gc.Variable(1.5, dtype="int32", name="v")
    with pytest.raises(gc.DTypeError, match="node 'ragged'"):
        gc.Variable([[1.0, 2.0], [3.0]], name="ragged")


def test_a_constant_that_cannot_be_made_names_the_users_line(graph):
    i = gc.placeholder("int32", (2,), name="i")
    with pytest.raises(gc.DTypeError, match=r"created at .*test_graph.py:\d+: .*outside"):
        _ = i + 2**40


def test_an_input_from_another_graph_names_the_node_being_made(graph):
    with gc.Graph().as_default():
        other = gc.placeholder("float32", (2,), name="other")
    x = gc.placeholder("float32", (2,), name="x")
    with pytest.raises(gc.GraphMismatchError, match=r"node 'mix' \(Add\) created at .*test_graph.py"):
        gc.add(x, other, name="mix")


def test_printed_constants_tell_close_values_apart(graph):
    gc.constant(np.float64(1.0 + 1e-9), dtype="float64", name="a")
    gc.constant(np.array([0.1, 0.1 + 1e-12]), dtype="float64", name="c")
    text = gc.print_graph(graph)
    assert "value=1.000000001]" in text and "value=[0.1,0.10000000000100001]" in text


def test_logical_operators_on_bool_tensors_match_numpy(graph):
    a = np.array([True, True, False])
    b = np.array([True, False, False])
    ta, tb = gc.constant(a), gc.constant(b)
    with gc.Session(device="reference") as sess:
        got = sess.run([~ta, ta & tb, ta | tb, True & tb, a | tb, ta & [0.0, 2.0, 1.0]])
    wants = [~a, a & b, a | b, True & b, a | b, np.logical_and(a, [0.0, 2.0, 1.0])]
    for value, want in zip(got, wants, strict=True):
        np.testing.assert_array_equal(value, want)


@pytest.mark.parametrize("build", [lambda i: ~i, lambda i: i & i, lambda i: i | True, lambda i: True & i])
def test_logical_operators_refuse_integer_operands_where_numpy_is_bitwise(graph, build):
    i = gc.constant(np.array([1, 2], np.int64))  # numpy: ~i == [-2, -3], i & 3 == [1, 2]
    with pytest.raises(gc.DTypeError, match=r"not bitwise as numpy's on integers, and an int64") as e:
        build(i)
    assert "test_graph.py" in str(e.value)


def test_name_scopes_and_control_dependencies_stay_in_their_thread(graph):
    dep = gc.constant(0.0, name="dep")
    inside, done = threading.Event(), threading.Event()

    def build_a_tower():
        with graph.as_default(), gc.name_scope("tower1"), gc.control_dependencies([dep]):
            inside.set()
            done.wait(10)
            gc.constant(2.0, name="t")

    worker = threading.Thread(target=build_a_tower)
    worker.start()
    inside.wait(10)
    c = gc.constant(1.0, name="c")  # this thread opened no scope and no control dependency
    done.set()
    worker.join()
    assert c.node.name == "c" and c.node.control_inputs == ()
    assert graph.get_node("tower1/t").control_inputs == (dep.node,)


@pytest.mark.parametrize("name", ["a:b", "x:0", "scope/x:1", "a//b", "/c", "d/", "/"])
def test_node_names_that_could_not_be_looked_up_again_are_refused(graph, name):
    with pytest.raises(ValueError, match="invalid node name") as e:
        gc.constant(1.0, name=name)
    assert "test_graph.py" in str(e.value)
    assert len(graph) == 0


@pytest.mark.parametrize("name", ["e:-1", "e:+0", "e: 0", "e:1", "e:0x0"])
def test_get_tensor_refuses_output_indices_the_node_does_not_have(graph, name):
    gc.exp(gc.constant(1.0), name="e")
    with pytest.raises(KeyError, match="has no output"):
        graph.get_tensor(name)


def test_control_dependencies_on_a_single_tensor_asks_for_a_list(graph):
    a = gc.constant(1.0)
    with pytest.raises(TypeError, match="takes a list of tensors or ops"), gc.control_dependencies(a):
        pass


@pytest.mark.parametrize("make", [gc.constant, gc.Variable])
@pytest.mark.parametrize("value", [1e39, [1.0, -1e300], np.array([3e38, 4e38])])
def test_a_finite_value_a_float32_constant_would_make_inf_is_refused(graph, make, value):
    with pytest.raises(gc.DTypeError, match=r"test_graph.py:\d+: cannot make a float32 value from .*outside"):
        make(value, dtype="float32")


def test_float32_constants_still_round_and_keep_infinities(graph):
    values = [0.1, 3.4028235e38, float("inf"), float("-inf")]
    c = gc.constant(values, dtype="float32")
    with gc.Session(device="reference") as sess:
        np.testing.assert_array_equal(sess.run(c), np.array(values, np.float32))


def test_an_empty_graph_given_explicitly_is_used_not_the_default(graph):
    gc.Variable(1.0, name="in_default")
    empty = gc.Graph()
    assert gc.global_variables(empty) == []
    c = gc.constant(1.0, graph=empty)
    assert c.graph is empty and len(empty) == 1


@pytest.mark.parametrize("what", ["x:0", 3, [None]])
def test_print_graph_of_something_that_is_not_a_graph_or_tensor_says_so(graph, what):
    gc.placeholder("float32", (2,), name="x")
    with pytest.raises(TypeError, match="print_graph takes a graph, a compiled executable, or tensors/ops"):
        gc.print_graph(what)


@pytest.mark.parametrize(
    ("make", "error", "node"),
    [
        (lambda: gc.placeholder("float16", (2,), name="p"), gc.DTypeError, "'p' (Placeholder)"),
        (lambda: gc.placeholder("float32", (-1,), name="p"), gc.ShapeError, "'p' (Placeholder)"),
        (lambda: gc.placeholder("float32", None, name="p"), gc.ShapeError, "'p' (Placeholder)"),
        (lambda: gc.cast(gc.constant(1.0), "float16", name="c"), gc.DTypeError, "'c' (Cast)"),
    ],
)
def test_a_placeholder_or_cast_refused_for_its_attributes_names_the_node_and_line(graph, make, error, node):
    with pytest.raises(error, match=rf"^node {re.escape(node)} created at .*test_graph.py:\d+: "):
        make()


def test_print_graph_of_tensors_of_two_graphs_is_refused_naming_them():
    g1, g2 = gc.Graph(), gc.Graph()
    with g1.as_default():
        a = gc.constant(1.0, name="a")
    with g2.as_default():
        b = gc.constant(2.0, name="b")
    with pytest.raises(gc.GraphMismatchError, match="a:0 and b:0 belong to different graphs"):
        gc.print_graph([a, b])


@pytest.mark.parametrize(
    ("op_name", "count", "takes"), [("MatMul", 1, "2 inputs"), ("Softmax", 2, "1 input")]
)
def test_an_op_applied_to_another_number_of_inputs_than_its_infer_takes_names_the_node(
    graph, op_name, count, takes
):
    # gc.apply and loaded files may give any number of inputs: a bare TypeError about infer() named nothing
    x = gc.placeholder("float32", (2, 2), name="x")
    op = gc.ir.OPS[op_name](1) if op_name == "Softmax" else gc.ir.OPS[op_name]()
    with pytest.raises(gc.ShapeError, match=rf"node 'n' \({op_name}\).*takes {takes}, got {count}"):
        gc.apply(op, [x] * count, name="n")


def test_a_child_forked_while_another_thread_adds_a_node_can_add_nodes():
    import os
    import time

    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (2,), name="x")
    adding, done = threading.Event(), threading.Event()

    def add_in_progress():  # holds the lock as a thread adding a node does
        with g._lock:
            adding.set()
            done.wait()

    thread = threading.Thread(target=add_in_progress)
    thread.start()
    adding.wait()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if gc.add(x, 1.0, name="y").name == "y:0" else 1)
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
