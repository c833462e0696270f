"""Round trips through save_graph/load_graph compute exactly what the original graph computed: every op
(the op sample table, state ops, fused programs), random streams, trained variables, a new process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS
from graphc.ops.state import Variable
from graphc.serialize import load_graph, save_graph
from tests.ops.samples import SAMPLES
from tests.serialize.helpers import (
    assert_identical,
    build_sample,
    fused_program,
    run,
    saved_op_types,
    signature,
    state_graph,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_round_trip_computes_identical_values(sample, tmp_path):
    g, phs, arrays, outs = build_sample(sample)
    save_graph(outs, tmp_path / "model.json")
    loaded = load_graph(tmp_path / "model.json")
    feed_names = {n.name for n in loaded.graph.nodes}
    feed = {p.node.name: a for p, a in zip(phs, arrays, strict=True) if p.node.name in feed_names}
    assert [t.name for t in loaded.fetches] == [t.name for t in outs]
    assert_identical(run(loaded.graph, loaded.fetches, feed), run(g, outs, feed))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_round_trip_keeps_nodes_ops_and_locations(sample, tmp_path):
    g, _, _, outs = build_sample(sample)
    save_graph(g, tmp_path / "model.json")
    loaded = load_graph(tmp_path / "model.json")
    assert signature(loaded.graph.nodes) == signature(g.nodes)


def test_every_op_class_is_round_tripped():
    covered = set()
    for sample in SAMPLES:
        covered |= saved_op_types(build_sample(sample)[3])
    covered |= {n.op.type_name for n in state_graph().nodes}
    covered |= {n.op.type_name for n in fused_program()[3].program.nodes}
    missing = sorted(set(OPS) - covered)
    assert not missing, f"op classes no serialization test saves: {missing}"


def test_state_ops_round_trip_with_the_same_run_sequence(tmp_path):
    g = state_graph()
    save_graph(g, tmp_path / "state.json")
    loaded = load_graph(tmp_path / "state.json")
    assert signature(loaded.graph.nodes) == signature(g.nodes)
    results = []
    for graph in (g, loaded.graph):
        with gc.Session(graph) as sess:
            reads = ["a:0", "b:0", "count:0", "ops/b_read:0"]
            seq = [sess.run(["a:0", "b:0", "count:0"])]
            seq.append(sess.run("ops/step"))
            seq.append(sess.run(reads))
            seq.append(sess.run(reads))
            seq.append(sess.run("init"))
            seq.append(sess.run(["a:0", "b:0", "count:0"]))
            results.append(seq)
    assert_identical(results[1], results[0])


def test_loaded_variables_are_graphc_variables_of_the_new_graph(tmp_path):
    g = state_graph()
    save_graph(g, tmp_path / "state.json")
    loaded = load_graph(tmp_path / "state.json")
    assert list(loaded.graph.variables) == list(g.variables) == list(loaded.variables)
    for name, var in loaded.variables.items():
        orig = g.variables[name]
        assert isinstance(var, Variable) and var.graph is loaded.graph
        assert (var.trainable, var.type) == (orig.trainable, orig.type)
        assert_identical(var.initial_array(), orig.initial_array())
    assert [v.var_name for v in gc.trainable_variables(loaded.graph)] == ["a", "b"]


def test_saving_a_fetch_keeps_what_it_needs_and_its_variables(graph, tmp_path):
    x = gc.placeholder("float32", (2,), name="x")
    w = gc.Variable([1.0, 2.0], name="w")
    gc.exp(x, name="unrelated")
    y = x * w.read_value()
    save_graph(y, tmp_path / "m.json")
    loaded = load_graph(tmp_path / "m.json")
    assert [n.name for n in loaded.graph.nodes] == ["x", "w", "w_read", "multiply"]
    assert list(loaded.variables) == ["w"] and loaded.variables["w"].node.name == "w"


def test_fetches_load_in_saved_order_as_tensors_and_ops(graph, tmp_path):
    v = gc.Variable(1.0, name="v")
    inc = gc.assign_add(v, 1.0, name="inc")
    both = gc.group(inc, name="both")
    save_graph([both, v, inc], tmp_path / "m.json")
    loaded = load_graph(tmp_path / "m.json")
    assert loaded.fetches[0] is loaded.graph.get_node("both")
    assert loaded.fetches[1:] == [loaded.tensor("v"), loaded.tensor("inc:0")]


def _gradient_graph():
    x = gc.placeholder("float64", (3,), name="x")
    with gc.name_scope("layer"):
        y = gc.reduce_sum(gc.tanh(x) ** 2.0)
    return gc.grad(y, x)


def test_gradient_links_and_name_scopes_survive(graph, tmp_path):
    _gradient_graph()
    save_graph(graph, tmp_path / "m.json")
    loaded = load_graph(tmp_path / "m.json")
    assert signature(loaded.graph.nodes) == signature(graph.nodes)
    assert any(n.grad_of is not None for n in loaded.graph.nodes)


def test_saving_a_gradient_keeps_the_forward_nodes_it_links_to(graph, tmp_path):
    dx = _gradient_graph()
    save_graph(dx, tmp_path / "m.json")
    loaded = load_graph(tmp_path / "m.json")
    links = {n.name: n.grad_of.name for n in loaded.graph.nodes if n.grad_of is not None}
    assert links == {
        n.name: graph.get_node(n.name).grad_of.name
        for n in loaded.graph.nodes
        if graph.get_node(n.name).grad_of is not None
    }
    assert "layer/sum" in links.values()


def test_random_ops_draw_the_same_numbers_after_loading(graph, tmp_path):
    gc.set_random_seed(7)
    gc.random_uniform((3,), name="u")
    gc.random_normal((2, 2), seed=3, name="z", dtype="float64")
    save_graph(graph, tmp_path / "r.json")
    loaded = load_graph(tmp_path / "r.json")
    assert loaded.graph.seed == 7
    draws = []
    for g in (graph, loaded.graph):
        with gc.Session(g) as sess:  # no fixed entropy: the seeds alone fix the numbers
            draws.append([sess.run(["u:0", "z:0"]) for _ in range(3)])
    assert_identical(draws[1], draws[0])


def test_variables_saved_from_a_session_load_with_trained_values(graph, tmp_path):
    x = gc.placeholder("float32", (None, 2), name="x")
    t = gc.placeholder("float32", (None, 1), name="t")
    w = gc.Variable(gc.init.zeros((2, 1)), name="w")
    loss = gc.reduce_mean(gc.square(x @ w - t))
    train = gc.assign_sub(w, 0.1 * gc.grad(loss, w), name="train")
    feed = {x: [[1.0, 2.0], [3.0, 4.0]], t: [[1.0], [2.0]]}
    with gc.Session() as sess:
        for _ in range(3):
            sess.run(train, feed)
        trained = sess.run(w)
        save_graph(graph, tmp_path / "trained.json", session=sess)
    save_graph(graph, tmp_path / "fresh.json")
    assert np.any(trained != 0)
    assert_identical(run(load_graph(tmp_path / "trained.json").graph, "w:0"), trained)
    assert_identical(run(load_graph(tmp_path / "fresh.json").graph, "w:0"), np.zeros((2, 1), np.float32))


def test_compiled_program_with_fused_ops_round_trips(tmp_path):
    _, _, _, exe = fused_program()
    save_graph(exe.program, tmp_path / "program.json")
    loaded = load_graph(tmp_path / "program.json")
    program = loaded.graph
    assert signature(program.nodes) == signature(exe.program.nodes)
    assert "FusedOp" in {n.op.type_name for n in program.nodes}
    assert [t.name for t in program.inputs] == [t.name for t in exe.program.inputs]
    assert [t.name for t in program.outputs] == [t.name for t in exe.program.outputs]
    xs = np.linspace(-2.0, 2.0, 12).astype(np.float32).reshape(3, 4)
    want = run(exe.program, list(exe.program.outputs), {exe.program.inputs[0]: xs})
    assert_identical(run(program, list(program.outputs), {program.inputs[0]: xs}), want)


def test_program_variables_load_as_variables_of_the_program(tmp_path):
    g, _, _, exe = fused_program()
    save_graph(exe, tmp_path / "program.json")  # an executable saves its optimized program
    loaded = load_graph(tmp_path / "program.json")
    assert list(loaded.graph.variables) == list(g.variables) == ["w", "unused"]
    assert loaded.variables["w"].node is loaded.graph.get_node("w")
    assert loaded.variables["unused"].graph is not loaded.graph  # not read by the program: no node
    assert_identical(run(loaded.graph, "w:0"), g.variables["w"].initial_array())


def test_non_finite_and_exact_floats_round_trip_through_strict_json(graph, tmp_path):
    x = gc.placeholder("float32", (2,), name="x")
    padded = gc.pad(x, [[1, 1]], constant_values=float("-inf"))
    hot = gc.one_hot(gc.constant([0, 2]), 3, on_value=float("nan"), off_value=-0.0)
    r = gc.random_uniform((2,), minval=0.1, maxval=1 / 3, dtype="float64", seed=1)
    c = gc.constant([np.inf, np.nan, -0.0, 5e-324, 1 / 3], dtype="float64")
    save_graph([padded, hot, r, c], tmp_path / "f.json")

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    json.loads((tmp_path / "f.json").read_text(), parse_constant=reject)
    loaded = load_graph(tmp_path / "f.json")
    assert signature(loaded.graph.nodes) == signature(graph.nodes)
    op = loaded.graph.get_node(r.node.name).op
    assert (op.minval, op.maxval) == (0.1, 1 / 3)
    fetches = [padded, hot, r, c]
    feed = {"x": np.array([1.0, 2.0], np.float32)}
    assert_identical(
        run(loaded.graph, [loaded.tensor(t.name) for t in fetches], feed), run(graph, fetches, feed)
    )


def test_a_new_process_loads_and_computes_identical_values(graph, tmp_path):
    gc.set_random_seed(11)
    x = gc.placeholder("float32", (None, 3), name="x")
    w = gc.Variable(gc.init.glorot_uniform((3, 2)), name="w")
    y = gc.tanh(x @ w) + gc.random_normal((2,))
    z = gc.reduce_max(y, axis=0) * gc.constant([np.inf, 1.0])
    save_graph([y, z], tmp_path / "model.json")
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "import graphc as gc\n"
        "from graphc.serialize import load_graph\n"
        "m = load_graph(sys.argv[1])\n"
        "with gc.Session(m.graph) as s:\n"
        "    vals = s.run(m.fetches, {'x': np.arange(6, dtype=np.float32).reshape(2, 3)})\n"
        "print(json.dumps([[v.dtype.str, list(v.shape), v.tobytes().hex()] for v in vals]))\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with gc.Session() as sess:
        want = sess.run([y, z], {x: np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert json.loads(proc.stdout) == [[v.dtype.str, list(v.shape), v.tobytes().hex()] for v in want]


def test_new_random_ops_of_a_loaded_graph_get_new_op_seeds(graph, tmp_path):
    gc.set_random_seed(7)
    gc.random_normal((3,), name="r")
    save_graph(graph, tmp_path / "model.json")
    loaded = load_graph(tmp_path / "model.json")
    with loaded.graph.as_default():
        fresh = gc.random_normal((3,), name="fresh")
    with graph.as_default():
        original_next = gc.random_normal((3,), name="fresh")
    assert fresh.node.op.seed == original_next.node.op.seed == (7, 1)
    with gc.Session(loaded.graph, device="reference") as sess:
        first, second = sess.run([loaded.tensor("r"), fresh])
    assert not np.array_equal(first, second)


def test_a_saved_op_seed_count_of_zero_is_kept(graph, tmp_path):
    gc.random_normal((3,), seed=5, name="r")  # an op seed given by the user: the graph's count stays 0
    save_graph(graph, tmp_path / "model.json")
    loaded = load_graph(tmp_path / "model.json")
    seeds = []
    for g in (graph, loaded.graph):
        with g.as_default():
            gc.set_random_seed(7)
            seeds.append(gc.random_normal((3,), name="fresh").node.op.seed)
    assert seeds[1] == seeds[0] == (7, 0)
