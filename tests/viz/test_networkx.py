"""``to_networkx``: every graph node (never collapsed), one edge per data input keyed by position,
control edges marked, attributes present, and graph order is a topological order."""

import networkx as nx

import graphc as gc
from graphc.viz import to_networkx


def _training_graph():
    x = gc.placeholder("float32", (None, 4), name="x")
    with gc.name_scope("model"), gc.name_scope("dense"):
        w = gc.Variable(gc.init.zeros((4, 2)), name="w")
        h = gc.relu(gc.matmul(x, w) + 1.0)
    loss = gc.reduce_mean(h * h)
    (gw,) = gc.grad(loss, [w])
    return x, w, loss, gw


def _with_control():
    v = gc.Variable([1.0, 2.0], name="v")
    bump = gc.assign_add(v, gc.constant([1.0, 1.0]))
    with gc.control_dependencies([bump]):
        return gc.exp(v)


def test_one_networkx_node_per_graph_node(graph):
    _training_graph()
    G = to_networkx(graph)
    assert list(G.nodes) == [n.name for n in graph.nodes]


def test_one_edge_per_data_input_keyed_by_input_position(graph):
    x = gc.placeholder("float32", (3,), name="x")
    y = x * x - x
    _training_graph()
    G = to_networkx(graph)
    data = [(u, v, k) for u, v, k, c in G.edges(keys=True, data="control") if not c]
    assert len(data) == sum(len(n.inputs) for n in graph.nodes)
    assert sorted(k for u, v, k in data if v == y.node.name) == [0, 1]
    assert G.edges["multiply", y.node.name, 0]["tensor"] == "multiply:0"


def test_control_inputs_are_edges_marked_control(graph):
    y = _with_control()
    G = to_networkx(graph)
    control = [(u, v) for u, v, c in G.edges(data="control") if c]
    assert control == [(c.name, n.name) for n in graph.nodes for c in n.control_inputs]
    assert ("assign_add", y.node.name) in control


def test_nodes_carry_op_kind_types_location_scope_and_attrs(graph):
    _training_graph()
    G = to_networkx(graph)
    matmul = G.nodes["model/dense/matmul"]
    assert matmul["op"] == "MatMul" and matmul["kind"] == "op"
    assert matmul["shapes"] == [(None, 2)] and matmul["dtypes"] == ["float32"]
    assert matmul["types"] == ["f32[?,2]"]
    assert matmul["location"].startswith(__file__) and matmul["scope"] == "model/dense"
    assert G.nodes["x"]["attrs"] == {"dtype": "float32", "shape": "(None, 4)"}
    gradient = [d for _, d in G.nodes(data=True) if d["kind"] == "gradient"]
    assert gradient and all(d["grad_of"] is not None for d in gradient)


def test_edges_carry_shape_dtype_and_tensor_name(graph):
    x = gc.placeholder("int64", (5,), name="x")
    gc.negative(x, name="neg")
    G = to_networkx(graph)
    assert G.edges["x", "neg", 0] == {
        "shape": (5,),
        "dtype": "int64",
        "tensor": "x:0",
        "output": 0,
        "control": False,
    }


def test_graph_order_is_a_topological_order_of_the_dag(graph):
    _training_graph()
    _with_control()
    G = to_networkx(graph)
    assert nx.is_directed_acyclic_graph(G)
    position = {name: i for i, name in enumerate(G.nodes)}
    assert all(position[u] < position[v] for u, v in G.edges())


def test_tensors_give_only_what_they_depend_on(graph):
    x, w, loss, gw = _training_graph()
    G = to_networkx(loss)
    assert "x" in G and not any(name.startswith("gradients/") for name in G)
    assert G.graph["title"] == loss.name


def test_executable_gives_its_optimized_program_with_fused_and_update_kinds(graph):
    x, w, loss, gw = _training_graph()
    exe = gc.compile([loss], feeds=[x], updates=[(w, w - 0.1 * gw)])
    G = to_networkx(exe)
    assert list(G.nodes) == [n.name for n in exe.program.nodes]
    kinds = {d["kind"] for _, d in G.nodes(data=True)}
    assert {"fused", "update", "placeholder", "variable"} <= kinds
    assert G.graph["outputs"] == [t.name for t in exe.program.outputs]
    assert nx.is_directed_acyclic_graph(G)


def test_importing_graphc_leaves_networkx_unloaded_until_an_export():
    import subprocess
    import sys

    code = (
        "import sys, graphc as gc; before = 'networkx' in sys.modules; "
        "gc.viz.to_networkx(gc.Graph()); print(before, 'networkx' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "True"]
