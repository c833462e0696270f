"""plan_memory: liveness, buffer reuse and in-place updates. Every plan is also checked by running the
program with each planned intermediate written into (and read back from) its arena buffer: a plan that
reuses a buffer too early, or writes a variable in place while its old value is still needed, changes
the results."""

from types import SimpleNamespace

import numpy as np
import pytest

import graphc as gc
from graphc.ops.sources import ReadVariable
from graphc.passes.memory import _assign_buffers, plan_memory
from graphc.runtime.state import RunState
from tests.passes.helpers import evaluate, op_names, program


def _run_in_arena(prog, plan, feed_values, updates=()):
    """The program's outputs when intermediates live in the plan's buffers and in-place updates are
    written into the variable's storage at the node that makes them."""
    arena = [np.zeros(size, np.uint8) for size in plan.buffers]
    state = RunState(prog, {}, {}, 0)
    storage: dict[str, np.ndarray] = {}
    written = {value: name for name, value in updates if name in plan.in_place}
    values = dict(zip(prog.inputs, (np.asarray(v) for v in feed_values), strict=True))
    for node in prog.nodes:
        if node.outputs and node.outputs[0] in values:
            continue  # a fed input
        args = [values[t] for t in node.inputs]
        if isinstance(node.op, ReadVariable):
            name = node.op.var_name
            results = [storage.setdefault(name, np.array(state.read(name)))]
        elif node.op.stateful:
            results = node.op.execute(node, state, args)
        else:
            results = node.op.reference(*args)
            results = [results] if len(node.outputs) == 1 else results
        for t, result in zip(node.outputs, results, strict=True):
            result = np.asarray(result, dtype=t.dtype)
            if t in written:
                storage[written[t]][...] = result
                values[t] = storage[written[t]]
            elif t in plan.assignment:
                buffer = arena[plan.assignment[t]]
                view = buffer[: result.nbytes].view(result.dtype).reshape(result.shape)
                view[...] = result
                values[t] = view
            else:
                values[t] = result
    return [np.array(values[t]) for t in prog.outputs]


def _check(prog, plan, feed_values, updates=()):
    """The plan's invariants, and the program's values unchanged when run from the plan's buffers."""
    by_buffer: dict[int, list] = {}
    for t, index in plan.assignment.items():
        assert plan.buffers[index] >= plan.sizes[t]
        by_buffer.setdefault(index, []).append(plan.intervals[t])
    for intervals in by_buffer.values():
        intervals.sort()
        for (_, last), (defined, _) in zip(intervals, intervals[1:], strict=False):
            assert last < defined  # a buffer holds one live value at a time
    for node in prog.nodes:
        ins = {plan.assignment.get(t) for t in node.inputs} - {None}
        assert not ins & {plan.assignment.get(t) for t in node.outputs}
    assert plan.live_peak_bytes <= plan.peak_bytes <= plan.naive_bytes
    expected = evaluate(prog, feed_values)
    for got, want in zip(_run_in_arena(prog, plan, feed_values, updates), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def _feed(*shapes):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_a_chain_of_same_size_ops_ping_pongs_between_two_buffers(graph):
    x = gc.placeholder("float32", (None, 4), name="x")
    d = gc.exp(gc.tanh(gc.exp(gc.tanh(x))))
    prog = program([d], [x])
    plan = plan_memory(prog, [(3, 4)])
    assert plan.buffers == (48, 48)
    assert plan.naive_bytes == 4 * 48 and plan.peak_bytes == plan.live_peak_bytes == 96
    _check(prog, plan, _feed((3, 4)))


def test_a_value_used_later_keeps_its_buffer_until_its_last_use(graph):
    x = gc.placeholder("float32", (4,), name="x")
    a = gc.exp(x)
    c = gc.tanh(gc.tanh(a))
    d = c + a
    prog = program([d], [x])
    plan = plan_memory(prog, [(4,)])
    a_new = prog.outputs[0].node.inputs[1]
    assert plan.intervals[a_new][1] == prog.nodes.index(prog.outputs[0].node)
    others = [t for t, i in plan.assignment.items() if i == plan.assignment[a_new] and t is not a_new]
    assert all(plan.intervals[t][0] > plan.intervals[a_new][1] for t in others)
    assert len(plan.buffers) == 3
    _check(prog, plan, _feed((4,)))


def test_an_output_never_shares_a_buffer_with_its_own_input(graph):
    x = gc.placeholder("float32", (4,), name="x")
    a = gc.exp(x)
    b = gc.log(a)  # a dies here, but b is written while a is read
    prog = program([b], [x])
    plan = plan_memory(prog, [(4,)])
    a_new, b_new = prog.outputs[0].node.inputs[0], prog.outputs[0]
    assert plan.assignment[a_new] != plan.assignment[b_new]
    _check(prog, plan, _feed((4,)))


def test_program_outputs_stay_live_to_the_end(graph):
    x = gc.placeholder("float32", (4,), name="x")
    a = gc.exp(x)
    d = gc.tanh(gc.tanh(gc.tanh(a)))
    prog = program([a, d], [x])
    plan = plan_memory(prog, [(4,)])
    assert plan.intervals[prog.outputs[0]][1] == len(prog.nodes)
    assert list(plan.assignment.values()).count(plan.assignment[prog.outputs[0]]) == 1
    assert len(plan.buffers) == 3
    _check(prog, plan, _feed((4,)))


def test_each_output_of_a_multi_output_node_gets_its_own_buffer(graph):
    x = gc.placeholder("float32", (6, 4), name="x")
    a = gc.exp(x)
    y = gc.tanh(a) @ gc.constant(np.ones((4, 4), np.float32)) + a * 2.0
    total = gc.reduce_sum(a * 3.0, axis=0)
    prog = gc.compile([y, total], [x]).program  # one fused loop makes tanh(a), a * 2 and the sum
    plan = plan_memory(prog, [(6, 4)])
    fused = next(n for n in prog.nodes if len(n.outputs) > 1)
    assert sorted(plan.sizes[t] for t in fused.outputs) == [16, 96, 96]
    assert len({plan.assignment[t] for t in fused.outputs}) == 3
    _check(prog, plan, _feed((6, 4)))


def test_a_value_takes_the_smallest_free_buffer_that_fits(graph):
    x = gc.placeholder("float32", (8, 4), name="x")
    y = gc.placeholder("float32", (8, 1), name="y")
    big, small = gc.exp(x), gc.exp(y)  # 128 and 32 bytes
    product = big * small  # both die here; a third buffer of 128 bytes
    total = gc.reduce_sum(product, axis=1)  # 32 bytes: fits the small free buffer and the big one
    prog = program([total], [x, y])
    plan = plan_memory(prog, [(8, 4), (8, 1)])
    small_new = prog.outputs[0].node.inputs[0].node.inputs[1]
    assert plan.buffers == (128, 32, 128)
    assert plan.assignment[prog.outputs[0]] == plan.assignment[small_new]
    _check(prog, plan, _feed((8, 4), (8, 1)))


def test_a_free_buffer_too_small_grows_instead_of_adding_one(graph):
    x = gc.placeholder("float32", (8,), name="x")
    y = gc.placeholder("float32", (8, 8), name="y")
    t = gc.tanh(gc.exp(x))  # 32 bytes each
    u = gc.sigmoid(t)  # takes exp's free buffer; t's is free after this
    wide = y * u  # 256 bytes: t's 32-byte buffer grows to 256
    prog = program([gc.reduce_sum(wide)], [x, y])
    plan = plan_memory(prog, [(8,), (8, 8)])
    assert plan.buffers == (32, 256)
    assert plan.peak_bytes < plan.naive_bytes == 32 * 3 + 256 + 4
    _check(prog, plan, _feed((8,), (8, 8)))


def test_a_view_keeps_its_source_buffer_alive_while_it_is_read(graph):
    x = gc.placeholder("float32", (8, 4), name="x")
    e = gc.exp(x)
    view = gc.transpose(e)  # numpy returns a view of e's buffer
    other = gc.tanh(gc.sigmoid(x))  # e's buffer must not be taken while the view is still to be read
    prog = program([gc.matmul(view, other)], [x])
    plan = plan_memory(prog, [(8, 4)])
    e_t = prog.outputs[0].node.inputs[0].node.inputs[0]
    view_t = prog.outputs[0].node.inputs[0]
    assert view_t not in plan.assignment  # a view gets no buffer of its own
    busy = {
        plan.assignment[t] for t in plan.assignment if t is not e_t and t.node is not prog.outputs[0].node
    }
    assert plan.assignment[e_t] not in busy
    _check(prog, plan, _feed((8, 4)))


def test_a_split_piece_keeps_its_source_buffer_alive_while_it_is_read(graph):
    x = gc.placeholder("float32", (8, 4), name="x")
    e = gc.exp(x)
    first, second = gc.split(e, 2, axis=1)  # numpy's pieces are views of e's buffer
    other = gc.tanh(gc.sigmoid(x))  # e's buffer must not be taken while a piece is still to be read
    prog = program([gc.concat([second, first], axis=1) * other], [x])
    plan = plan_memory(prog, [(8, 4)])
    pieces = [n for n in prog.nodes if n.op.type_name == "Split"][0].outputs
    assert not set(pieces) & set(plan.assignment)  # views get no buffer of their own
    _check(prog, plan, _feed((8, 4)))


def test_sizes_known_only_from_values_are_reported_and_not_planned(graph):
    n = gc.placeholder("int64", (), name="n")
    r = gc.random_uniform((n, 3), seed=1)
    scaled = r * 2.0
    prog = program([scaled, gc.reduce_sum(scaled)], [n])
    plan = plan_memory(prog, [()])
    assert {t.node.op.type_name for t in plan.unknown} == {"RandomUniform", "Multiply"}
    assert not set(plan.unknown) & set(plan.assignment)
    assert prog.outputs[1] in plan.assignment  # the sum is a scalar: known
    assert "not planned" in str(plan)
    feed = [np.int64(5)]
    got = _run_in_arena(prog, plan, feed)
    want = evaluate(prog, feed)
    np.testing.assert_array_equal(got[1], want[1])


def test_constants_variables_and_inputs_live_outside_the_arena(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    y = (x @ w) * gc.constant(np.ones(2, np.float32))
    prog = program([y], [x])
    plan = plan_memory(prog, [(5, 3)])
    assert set(op_names(prog)) >= {"Constant", "ReadVariable", "Placeholder"}
    assert {t.node.op.type_name for t in plan.assignment} == {"MatMul", "Multiply"}
    assert (plan.input_bytes, plan.variable_bytes, plan.constant_bytes) == (60, 24, 8)
    _check(prog, plan, _feed((5, 3)))


def test_input_shapes_must_fit_the_inputs(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    prog = program([gc.exp(x)], [x])
    with pytest.raises(ValueError, match="does not fit input x"):
        plan_memory(prog, [(5, 4)])
    with pytest.raises(ValueError, match="1 inputs but 2 shapes"):
        plan_memory(prog, [(5, 3), (1,)])


@pytest.mark.parametrize("shape", [(2.7, 3), (-3, 3), ("4", 3), (None, 3), 5])
def test_input_shapes_that_are_not_sizes_are_refused(graph, shape):
    x = gc.placeholder("float32", (None, 3), name="x")
    prog = program([gc.exp(x)], [x])
    with pytest.raises(ValueError, match=r"for input x:0 must be a tuple of ints >= 0"):
        plan_memory(prog, [shape])


def _sgd_program(read_old_w_after=False, fetch_old_w=False):
    x = gc.placeholder("float32", (None, 4), name="x")
    w = gc.Variable(gc.init.glorot_uniform((4, 3)), name="w")
    loss = gc.reduce_sum(gc.square(x @ w))
    new_w = w - 0.1 * gc.grad(loss, w)
    fetches = [loss]
    if read_old_w_after:
        fetches.append(gc.reduce_sum(w * 2.0))  # made after new_w: runs after it
    if fetch_old_w:
        fetches.append(w)
    prog = program(fetches, [x], [(w, new_w)])
    return prog, [("w", prog.outputs[-1])]


def test_an_sgd_update_is_written_in_place_when_nothing_reads_the_old_value_after(graph):
    prog, updates = _sgd_program()
    plan = plan_memory(prog, [(5, 4)], updates)
    assert plan.in_place == ("w",)
    assert updates[0][1] not in plan.assignment and updates[0][1] in plan.sizes
    assert "updated in place: w" in str(plan)
    _check(prog, plan, _feed((5, 4)), updates)


def test_an_update_is_not_in_place_when_a_later_node_reads_the_old_value(graph):
    prog, updates = _sgd_program(read_old_w_after=True)
    plan = plan_memory(prog, [(5, 4)], updates)
    assert plan.in_place == ()
    assert updates[0][1] in plan.assignment
    _check(prog, plan, _feed((5, 4)), updates)


def test_an_update_is_not_in_place_when_the_old_value_is_fetched(graph):
    prog, updates = _sgd_program(fetch_old_w=True)
    assert plan_memory(prog, [(5, 4)], updates).in_place == ()


def test_an_update_whose_op_reads_the_old_value_across_elements_is_not_in_place(graph):
    w = gc.Variable(np.eye(3, dtype=np.float32), name="w")
    rotated = w @ gc.constant(np.roll(np.eye(3, dtype=np.float32), 1, axis=0))
    prog = program([], [], [(w, rotated)])
    assert plan_memory(prog, [], [("w", prog.outputs[0])]).in_place == ()


@pytest.mark.parametrize(
    "view",
    [lambda w: gc.transpose(w), lambda w: w[::-1]],
    ids=["transpose", "reversed"],
)
def test_an_elementwise_update_reading_a_reordered_view_of_the_old_value_is_not_in_place(graph, view):
    # written into w's storage element by element, out[0, 1] = 2 * w[1, 0] would read w[1, 0] after
    # out[1, 0] had replaced it
    w = gc.Variable(np.arange(9, dtype=np.float32).reshape(3, 3), name="w")
    prog = program([], [], [(w, view(w) * 2.0)])
    assert plan_memory(prog, [], [("w", prog.outputs[0])]).in_place == ()


def test_an_elementwise_update_reading_a_reshape_of_the_old_value_is_in_place(graph):
    w = gc.Variable(np.arange(6, dtype=np.float32), name="w")
    new_w = gc.reshape(gc.reshape(w, (2, 3)), (6,)) * 2.0  # element i is w[i] again
    prog = program([], [], [(w, new_w)])
    assert plan_memory(prog, [], [("w", prog.outputs[0])]).in_place == ("w",)


def test_an_update_whose_new_value_is_a_view_is_not_in_place(graph):
    # the view's storage is its source's, an arena buffer: nothing writes into the variable's storage
    w = gc.Variable(np.arange(6, dtype=np.float32), name="w")
    prog = program([], [], [(w, gc.reshape(gc.reshape(w, (2, 3)) * 2.0, (6,)))])
    plan = plan_memory(prog, [], [("w", prog.outputs[0])])
    assert plan.in_place == ()
    assert prog.outputs[0] not in plan.assignment  # a view: no buffer of its own either


def test_an_update_is_not_in_place_when_a_split_piece_of_the_old_value_is_read_after(graph):
    x = gc.placeholder("float32", (4,), name="x")
    w = gc.Variable(np.arange(4, dtype=np.float32), name="w")
    first, second = gc.split(w, 2)  # numpy's pieces are views of w's storage
    new_w = w * 2.0 + x
    prog = program([gc.concat([second, first], axis=0) * new_w], [x], [(w, new_w)])  # pieces read after
    updates = [("w", prog.outputs[-1])]
    plan = plan_memory(prog, [(4,)], updates)
    assert plan.in_place == ()
    _check(prog, plan, _feed((4,)), updates)


def _random_program(rng):
    """A random DAG of (?, 4) values: elementwise ops, reductions, matmuls and splits."""
    x = gc.placeholder("float32", (None, 4), name="x")
    mix = gc.constant(rng.standard_normal((4, 4)).astype(np.float32) / 2)
    values = [x]
    for _ in range(rng.integers(3, 12)):
        a = values[rng.integers(len(values))]
        b = values[rng.integers(len(values))]
        kind = rng.integers(5)
        if kind == 0:
            values.append(gc.tanh(a))
        elif kind == 1:
            values.append(a + b)
        elif kind == 2:
            values.append(gc.reduce_sum(a, axis=-1, keepdims=True) * b)
        elif kind == 3:
            values.append(a @ mix)
        else:
            first, rest = gc.split(a, [1, 3], axis=-1)
            values.append(gc.concat([gc.exp(-rest), first], axis=-1))
    fetches = [values[-1], *(values[i] for i in rng.integers(1, len(values), 2))]
    return program(list(dict.fromkeys(fetches)), [x])


@pytest.mark.parametrize("seed", range(12))
def test_random_programs_run_unchanged_from_their_planned_buffers(seed):
    rng = np.random.default_rng(seed)
    with gc.Graph().as_default():
        prog = _random_program(rng)
        plan = plan_memory(prog, [(4, 4)])
        _check(prog, plan, _feed((4, 4)))


def _scan_assignment(outputs, sizes, intervals):
    """The buffer policy written as a scan of every buffer per value: the smallest free buffer that
    fits, else the largest free one grown, else a new one; the lowest buffer among equals."""
    buffers, busy_until, assignment = [], [], {}
    for t in outputs:
        defined, last = intervals[t]
        free = [i for i, until in enumerate(busy_until) if until < defined]
        fits = [i for i in free if buffers[i] >= sizes[t]]
        if fits:
            index = min(fits, key=lambda i: buffers[i])
        elif free:
            index = max(free, key=lambda i: buffers[i])
            buffers[index] = sizes[t]
        else:
            index = len(buffers)
            buffers.append(sizes[t])
            busy_until.append(last)
        busy_until[index] = last
        assignment[t] = index
    return buffers, assignment


@pytest.mark.parametrize("seed", range(6))
def test_buffer_assignment_follows_the_policy_on_many_random_lifetimes(seed):
    rng = np.random.default_rng(seed)
    nodes = [SimpleNamespace(outputs=[object() for _ in range(rng.integers(1, 3))]) for _ in range(400)]
    sizes, intervals = {}, {}
    for position, node in enumerate(nodes):
        for t in node.outputs:
            sizes[t] = int(rng.choice([8, 16, 64, 256, 1024]))  # many ties, as equal shapes make
            intervals[t] = (position, position + int(rng.integers(0, 60)))
    graph = SimpleNamespace(nodes=nodes)
    outputs = [t for node in nodes for t in node.outputs]
    assert _assign_buffers(graph, sizes, intervals) == _scan_assignment(outputs, sizes, intervals)


def _mlp_training_program(optimize):
    sizes = [784, 128, 128, 10]
    x = gc.placeholder("float32", (None, 784), name="x")
    labels = gc.placeholder("int64", (None,), name="labels")
    params, h = [], x
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        w = gc.Variable(gc.init.glorot_uniform((n_in, n_out)), name=f"w{i}")
        b = gc.Variable(gc.init.zeros((n_out,)), name=f"b{i}")
        h = h @ w + b
        h = gc.relu(h) if i < 2 else h
        params += [w, b]
    loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(h, labels))
    grads = gc.grad(loss, params)
    updates = [(p, p - 0.1 * g) for p, g in zip(params, grads, strict=True)]
    prog = gc.compile([loss], feeds=[x, labels], updates=updates, optimize=optimize).program
    return prog, [(p.var_name, t) for (p, _), t in zip(updates, prog.outputs[1:], strict=True)]


@pytest.mark.parametrize("optimize", [False, True])
def test_mlp_training_step_reuses_buffers_and_updates_every_variable_in_place(graph, optimize):
    prog, updates = _mlp_training_program(optimize)
    plan = plan_memory(prog, [(128, 784), (128,)], updates)
    print(f"\nMLP 784-128-128-10, batch 128, optimize={optimize}\n{plan}")
    assert plan.in_place == ("w0", "b0", "w1", "b1", "w2", "b2")
    assert plan.peak_bytes < plan.naive_bytes / 2
    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal((128, 784)).astype(np.float32), rng.integers(0, 10, 128)]
    _check(prog, plan, feeds, updates)
