"""fuse: connected elementwise nodes (and one trailing reduction) become FusedOp nodes; one behaviour per
test, each checked with the reference interpreter before and after (exact equality: the fused body runs
the same references in the same order), plus random DAGs (hypothesis) and an MLP training program."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.ops.fused import FusedOp
from graphc.passes import fuse as fuse_module
from graphc.passes.fuse import fuse
from graphc.passes.verify import verify
from tests.passes.helpers import evaluate, op_names, program

ROWS = np.arange(12.0).reshape(3, 4) / 7.0 - 0.5
COL = np.linspace(-1.0, 1.0, 4)


def _fused(prog):
    return [n for n in prog.nodes if isinstance(n.op, FusedOp)]


def _body_ops(node):
    return [type(op).__name__ for op, _ in node.op.body]


def _same_values(before, after, feeds=(), variables=None):
    verify(after)
    old, new = evaluate(before, feeds, variables), evaluate(after, feeds, variables)
    for a, b in zip(old, new, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a)  # bit-identical (NaN equals NaN here)


def _x():
    return gc.placeholder("float64", (None, 4), name="x")


# --- rule "join" and "at least two ops" ----------------------------------------------------------


def test_chain_becomes_one_fused_node(graph):
    x = _x()
    prog = program(gc.tanh(gc.exp(x) * 2.0 + 1.0), [x])
    result = fuse(prog)
    assert op_names(result).count("FusedOp") == 1
    assert not {"Exp", "Multiply", "Add", "Tanh"} & set(op_names(result))
    assert _body_ops(_fused(result)[0]) == ["Exp", "Multiply", "Add", "Tanh"]
    _same_values(prog, result, [ROWS])


def test_diamond_fuses_into_one(graph):
    x = _x()
    a, b = gc.exp(x), gc.tanh(x)
    prog = program(a + b, [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Tanh", "Add"]
    assert node.op.n_inputs == 1  # x enters once
    _same_values(prog, result, [ROWS])


def test_single_elementwise_op_stays_unfused(graph):
    x = _x()
    prog = program(gc.exp(gc.reshape(x, (-1,))), [x])
    assert fuse(prog) is prog


def test_elementwise_ops_not_connected_stay_apart(graph):
    # two single ops that share only a placeholder input: no elementwise edge between them
    x = _x()
    prog = program([gc.exp(x), gc.tanh(x)], [x])
    assert fuse(prog) is prog


def test_broadcasting_inputs_and_constants_are_inputs(graph):
    x = _x()
    y = gc.placeholder("float64", (4,), name="y")
    prog = program(gc.exp(x * y) - 0.5, [x, y])
    result = fuse(prog)
    (node,) = _fused(result)
    assert node.op.n_inputs == 3  # x, y and the constant 0.5
    assert "Constant" in op_names(result)
    assert node.outputs[0].shape == (None, 4)
    _same_values(prog, result, [ROWS, COL])


# --- rule "no duplicated work" --------------------------------------------------------------------


def test_value_used_by_an_outside_node_becomes_an_output(graph):
    x = _x()
    a = gc.exp(x)
    b = a * 2.0
    c = gc.tanh(b) + 1.0
    prog = program([c, gc.reduce_sum(gc.reshape(b, (-1,)))], [x])  # b also feeds a reshape
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Multiply", "Tanh", "Add"]  # each computed once
    assert len(node.outputs) == 2
    reshape = next(n for n in result.nodes if n.op.type_name == "Reshape")
    assert reshape.inputs[0] is node.outputs[0]
    _same_values(prog, result, [ROWS])


def test_program_output_in_the_middle_of_a_chain_becomes_an_output(graph):
    x = _x()
    b = gc.exp(x) * 2.0
    prog = program([gc.tanh(b), b], [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Multiply", "Tanh"]
    assert list(result.outputs) == [node.outputs[1], node.outputs[0]]  # value order: b, then tanh(b)
    _same_values(prog, result, [ROWS])


# --- rule "no cycle" ------------------------------------------------------------------------------


def test_path_through_matmul_keeps_two_groups_apart(graph):
    x = _x()
    w = gc.constant(np.eye(4) * 0.5)
    b = gc.exp(x) * 2.0  # group 1
    m = gc.matmul(b, w)
    out = gc.tanh(m) * b  # b -> matmul -> tanh -> out, and b -> out: out may not join b's group
    prog = program(out, [x])
    result = fuse(prog)
    first, second = _fused(result)
    assert _body_ops(first) == ["Exp", "Multiply"]
    assert _body_ops(second) == ["Tanh", "Multiply"]
    names = op_names(result)
    assert names.index("FusedOp") < names.index("MatMul") < len(names) - 1
    _same_values(prog, result, [ROWS])


@pytest.mark.parametrize("hops", [1, 2])
def test_no_cycle_through_a_group_that_grew_later(graph, hops):
    # e depends on group {a} (through one matmul, or two: a merge must reach the units that depend on
    # the group through other units, not only its direct consumers); that group later takes b2, which
    # depends on s. n = e + s may not join s: s -> b2 (group of a) -> e -> n would be a cycle between
    # the fused nodes, though no single node path runs from s to e
    x = _x()
    w = gc.constant(np.eye(4) * 0.5)
    a = gc.exp(x)
    s = gc.tanh(x)
    z = gc.matmul(s, w)
    e = a
    for _ in range(hops):
        e = gc.matmul(e, w)
    b2 = (a + z) * s  # joins a's group; s's group is refused (z depends on s)
    n = e + s
    prog = program([b2, n], [x])
    result = fuse(prog)
    assert [_body_ops(f) for f in _fused(result)] == [["Exp", "Add", "Multiply"]]
    _same_values(prog, result, [ROWS])


def test_independent_groups_merged_through_a_shared_consumer(graph):
    # near miss of the test above: with no path between the two groups, their consumer joins both
    x = _x()
    w = gc.constant(np.eye(4) * 0.5)
    left = gc.exp(x) * 2.0
    right = gc.tanh(gc.matmul(x, w))
    prog = program(left + right, [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert sorted(_body_ops(node)) == ["Add", "Exp", "Multiply", "Tanh"]
    _same_values(prog, result, [ROWS])


# --- rule "trailing reduction" --------------------------------------------------------------------


def test_reduction_ends_a_group(graph):
    x = _x()
    s = gc.reduce_sum(gc.exp(x) * 2.0, axis=1)
    prog = program(gc.tanh(s) + 1.0, [x])
    result = fuse(prog)
    first, second = _fused(result)
    assert _body_ops(first) == ["Exp", "Multiply", "Sum"]
    assert _body_ops(second) == ["Tanh", "Add"]  # the sum's consumers start a new group
    _same_values(prog, result, [ROWS])


def test_one_op_and_a_reduction_fuse(graph):
    x = _x()
    prog = program(gc.reduce_max(gc.exp(x), axis=0), [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Max"]
    _same_values(prog, result, [ROWS])


def test_reduction_never_starts_a_group(graph):
    x = _x()
    prog = program(gc.exp(gc.reduce_sum(x, axis=1)), [x])
    assert fuse(prog) is prog


def test_second_reduction_of_a_group_stays_outside(graph):
    x = _x()
    a = gc.exp(x) * 2.0
    prog = program([gc.reduce_sum(a), gc.reduce_max(a)], [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Multiply", "Sum"]
    assert "Max" in op_names(result)
    assert len(node.outputs) == 2  # a is exported for the max
    _same_values(prog, result, [ROWS])


def test_argmax_is_not_a_trailing_reduction(graph):
    x = _x()
    prog = program(gc.argmax(gc.exp(x) * 2.0, axis=1), [x])
    result = fuse(prog)
    (node,) = _fused(result)
    assert _body_ops(node) == ["Exp", "Multiply"]
    assert "ArgMax" in op_names(result)
    _same_values(prog, result, [ROWS])


# --- rule "fusible": stateful ops, control edges ---------------------------------------------------


def test_stateful_ops_are_never_fused_and_keep_their_order(graph):
    v = gc.Variable(np.array([0.5, -1.0, 2.0]), name="v")
    w = gc.Variable(np.zeros(3), name="w")
    noise = gc.random_uniform((3,), dtype="float64", seed=3, name="noise")
    first = gc.assign(w, gc.exp(v) * 2.0 + noise, name="first")
    second = gc.assign_add(v, gc.tanh(noise) * 0.5 - 1.0, name="second")
    prog = program([first, second])
    result = fuse(prog)
    stateful = [(n.name, n.op.type_name) for n in prog.nodes if n.op.stateful]
    assert [(n.name, n.op.type_name) for n in result.nodes if n.op.stateful] == stateful
    assert len(_fused(result)) == 2
    for node in _fused(result):
        assert not any(op.stateful for op, _ in node.op.body)
    _same_values(prog, result)


def test_stateful_order_survives_a_group_placed_after_them(graph):
    # `first` needs the group {a, b}, which sits at b's position, after `second`: `second` must follow
    x = gc.placeholder("float64", (3,), name="x")
    v = gc.Variable(np.zeros(3), name="v")
    a = gc.exp(x)
    first = gc.assign(v, a, name="first")
    second = gc.assign_add(v, 1.0, name="second")
    b = a * 2.0
    prog = program([first, second, b], [x])
    result = fuse(prog)
    assert [n.name for n in result.nodes if n.op.stateful] == [n.name for n in prog.nodes if n.op.stateful]
    _same_values(prog, result, [np.array([0.0, 1.0, 2.0])])


def test_node_with_control_inputs_is_not_fused(graph):
    x = _x()
    a = gc.exp(x)
    with gc.control_dependencies([a]):
        b = gc.tanh(x)
    prog = program(b * 2.0, [x])
    result = fuse(prog)
    assert "Tanh" in op_names(result) and "Multiply" in op_names(result)
    _same_values(prog, result, [ROWS])


def test_control_edge_on_a_member_moves_to_the_fused_node(graph):
    x = _x()
    a = gc.exp(x) * 2.0
    with gc.control_dependencies([a.node]):
        r = gc.reshape(x, (-1,))
    prog = program([gc.tanh(a), r], [x])
    result = fuse(prog)
    (node,) = _fused(result)
    reshape = next(n for n in result.nodes if n.op.type_name == "Reshape")
    assert reshape.control_inputs == (node,)
    _same_values(prog, result, [ROWS])


# --- rule "order", names, interface, printing -----------------------------------------------------


def test_fused_node_takes_the_last_nodes_name_and_location(graph):
    x = _x()
    with gc.name_scope("act"):
        y = gc.tanh(gc.exp(x), name="out")
    prog = program(y, [x])
    (node,) = _fused(fuse(prog))
    last = prog.get_node("act/out")
    assert node.name == "act/out_fused"
    assert node.location == last.location


def test_fused_name_never_takes_an_existing_name(graph):
    x = _x()
    y = gc.tanh(gc.exp(x), name="out")
    taken = gc.reshape(y, (-1,), name="out_fused")
    prog = program(taken, [x])
    result = fuse(prog)
    assert result.get_node("out_fused").op.type_name == "Reshape"
    assert _fused(result)[0].name == "out_fused_1"


def test_program_interface_survives(graph):
    x = _x()
    y = gc.placeholder("float64", (4,), name="y")
    v = gc.Variable(np.ones(4), name="v")
    a = gc.exp(x) * y
    step = gc.assign(v, gc.reduce_sum(a, axis=0) * 0.5, name="step")
    prog = program([a, step.node], [x, y])
    result = fuse(prog)
    assert [t.node.name for t in result.inputs] == ["x", "y"]
    assert len(result.outputs) == 1 and isinstance(result.outputs[0].node.op, FusedOp)
    assert [n.name for n in result.targets] == ["step"]
    _same_values(prog, result, [ROWS, COL])


def test_fused_node_prints_on_one_line(graph):
    x = _x()
    prog = program(gc.reduce_sum(gc.cast(gc.exp(x) > 1.0, "float32"), axis=1), [x])
    result = fuse(prog)
    text = str(result)
    assert len(text.splitlines()) == len(result.nodes) + 2  # header, one line per node, "}"
    # values %0, %1 are the inputs (x, the constant 1.0), %2.. the body ops' results
    assert "%2 = Exp(%0); %3 = Greater(%2, %1); %4 = Cast[dtype=float32](%3)" in text
    assert "%5 = Sum[axes=(1,), keepdims=False](%4); return %5'](x:0, const:0)" in text


def test_fuse_is_idempotent(graph):
    x = _x()
    prog = fuse(program(gc.reduce_sum(gc.exp(x) * 2.0, axis=1) + gc.tanh(gc.reduce_max(x)), [x]))
    assert fuse(prog) is prog


def test_fused_op_has_no_gradient_rule(graph):
    x = _x()
    (node,) = _fused(fuse(program(gc.tanh(gc.exp(x)), [x])))
    with pytest.raises(NotImplementedError, match="differentiate before fusing"):
        node.op.vjp(node, node.outputs[0])


def test_fused_op_rejects_a_reduction_before_the_end():
    from graphc.ops.elementwise import Exp
    from graphc.ops.reduce import Sum

    with pytest.raises(ValueError, match="must be the last body op"):
        FusedOp(((Exp(), (0,)), (Sum((0,)), (1,)), (Exp(), (2,))), 1, (3,))
    with pytest.raises(ValueError, match="body value, not an input"):
        FusedOp(((Sum((0,)), (0,)),), 1, (1,))


# --- random DAGs ---------------------------------------------------------------------------------

UNARY = [gc.exp, gc.tanh, gc.negative, gc.sigmoid, gc.square, lambda a: gc.log(1.0 + a * a)]
BINARY = [gc.add, gc.multiply, gc.subtract, gc.maximum, lambda a, b: gc.where(a > b, a, b * 0.5)]
BREAKERS = [  # non-elementwise or stateful nodes, shape-preserving or broadcastable
    lambda a: gc.matmul(gc.broadcast_to(a, (3, 4)), gc.constant(np.eye(4) * 0.5)),
    lambda a: gc.reduce_sum(gc.broadcast_to(a, (3, 4)), axis=1, keepdims=True),
    lambda a: gc.reduce_max(gc.broadcast_to(a, (3, 4)), axis=0, keepdims=True),
    lambda a: a + gc.random_uniform((4,), dtype="float64", seed=5),
]

plans = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    min_size=2,
    max_size=24,
)


def _random_program(plan, exported):
    x = _x()
    y = gc.placeholder("float64", (4,), name="y")
    values = [x, y]
    for kind, i, j, k in plan:
        # mostly recent values, so chains and diamonds are common
        a, b = values[-1 - i % min(len(values), 4)], values[j % len(values)]
        if kind == 0:
            values.append(UNARY[k % len(UNARY)](a))
        elif kind == 1:
            values.append(BINARY[k % len(BINARY)](a, b))
        elif kind == 2:
            values.append(BREAKERS[k % len(BREAKERS)](a))
        else:  # three inputs: one node can reach several groups at once
            values.append(gc.where(a > b, b, values[k % len(values)]))
    made = values[2:]
    fetches = [made[-1]] + [made[i % len(made)] for i in exported]
    return program(list(dict.fromkeys(fetches)), [x, y])


@given(plans, st.lists(st.integers(0, 99), max_size=3))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_dags_keep_values_and_never_duplicate_work(plan, exported):
    with gc.Graph().as_default():
        prog = _random_program(plan, exported)
        result = fuse(prog)
        _same_values(prog, result, [ROWS, COL])
        # every node of the source is computed exactly once: in a fused body or as itself
        fused = _fused(result)
        assert all(len(n.op.body) >= 2 for n in fused)
        assert sum(len(n.op.body) for n in fused) + len(result.nodes) - len(fused) == len(prog.nodes)
        stateful = [n.name for n in prog.nodes if n.op.stateful]
        assert [n.name for n in result.nodes if n.op.stateful] == stateful
        assert fuse(result) is result


# --- an MLP training program ---------------------------------------------------------------------


def _mlp_forward_backward():
    x = gc.placeholder("float32", (None, 20), name="x")
    labels = gc.placeholder("int64", (None,), name="labels")
    h, params = x, []
    for i, (n_in, n_out) in enumerate([(20, 16), (16, 16), (16, 5)]):
        with gc.name_scope(f"dense{i}"):
            w = gc.Variable(gc.init.glorot_uniform((n_in, n_out), seed=i), name="w")
            b = gc.Variable(gc.init.zeros((n_out,)), name="b")
            h = gc.matmul(h, w) + b
            h = gc.relu(h) if i < 2 else h
        params += [w, b]
    loss = -gc.reduce_mean(gc.reduce_sum(gc.log_softmax(h) * gc.one_hot(labels, 5), axis=-1))
    grads = gc.grad(loss, params)
    return program([loss, *grads], [x, labels])


def test_mlp_forward_backward_fuses_and_keeps_values(graph):
    prog = _mlp_forward_backward()
    result = fuse(prog)
    fused = _fused(result)
    assert len(fused) >= 3
    assert len(result.nodes) < len(prog.nodes)
    rng = np.random.default_rng(0)
    feeds = [rng.normal(size=(8, 20)).astype(np.float32), rng.integers(0, 5, 8)]
    _same_values(prog, result, feeds)


def _cycle_by_search(a, b, deps, unit_of) -> bool:
    """Would ``a`` and ``b`` as one group close a cycle? A search of the contracted graph as it stands
    (every node placed so far, in the unit it is in now), from the pair to the inputs it reads."""
    pair = {id(a), id(b)}
    after: dict[int, set[int]] = {}
    for node in unit_of:
        for d in deps[node]:
            after.setdefault(id(unit_of[d]), set()).add(id(unit_of[node]))
    inputs = {id(unit_of[d]) for m in (*a.members, *b.members) for d in deps[m]} - pair
    reached, stack = set(), [u for p in pair for u in after.get(p, ())]
    while stack:
        u = stack.pop()
        if u not in reached and u not in pair:
            reached.add(u)
            stack.extend(after.get(u, ()))
    return bool(reached & inputs)


long_plans = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    min_size=20,
    max_size=60,
)


@given(long_plans, st.lists(st.integers(0, 99), max_size=3))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_cycle_rule_answers_as_a_search_of_the_grouped_graph(plan, exported):
    # the pass keeps each unit's dependencies as bit sets updated at every merge; each answer must be
    # the one a plain search gives
    real = fuse_module._acyclic

    def searched(a, b, deps, unit_of):
        answer = real(a, b, deps, unit_of)
        assert answer == (not _cycle_by_search(a, b, deps, unit_of))
        return answer

    with gc.Graph().as_default(), mock.patch.object(fuse_module, "_acyclic", searched):
        fuse(_random_program(plan, exported))
