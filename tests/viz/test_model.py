"""``graph_view``: box ids are unique (a collapsed scope never takes a node's name), ``depth`` must
be a whole number >= 0, and tensors of different graphs are not drawn together."""

import pytest

import graphc as gc
from graphc.viz import graph_view, render, to_dot, to_html, to_networkx


def _node_named_like_its_scope():
    x = gc.placeholder("float32", (None, 3), name="dense")
    with gc.name_scope("dense"):
        return gc.relu(gc.exp(x))


def test_a_collapsed_scope_and_a_node_of_its_name_get_different_ids(graph):
    _node_named_like_its_scope()
    # the scope box's first choice of id taken too: a name gc's functions refuse, a file may still hold
    p = gc.placeholder("float32", (2,), name="p")
    graph.add_node(p.node.op, [], "dense/", p.node.location)
    view = graph_view(graph, depth=0)
    ids = [box.id for box in view.nodes]
    assert len(ids) == len(set(ids))
    (scope,) = [box for box in view.nodes if box.kind == "scope"]
    assert scope.label == "dense (3 nodes)"  # the label is the scope's name, as before
    assert ("dense", scope.id) in [(e.src, e.dst) for e in view.edges]


@pytest.mark.parametrize("draw", ["graph_view", "to_dot", "to_html"])
def test_negative_depth_is_refused(graph, tmp_path, draw):
    _node_named_like_its_scope()
    calls = {
        "graph_view": lambda: graph_view(graph, depth=-1),
        "to_dot": lambda: to_dot(graph, depth=-1),
        "to_html": lambda: to_html(graph, tmp_path / "g.html", depth=-1),
    }
    with pytest.raises(ValueError, match="depth"):
        calls[draw]()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("draw", ["graph_view", "to_dot", "to_html", "render"])
def test_a_depth_that_is_not_a_whole_number_is_refused(graph, tmp_path, draw):
    # depth=1.5 failed deep inside with "slice indices must be integers" once a scope was deeper
    _node_named_like_its_scope()
    calls = {
        "graph_view": lambda: graph_view(graph, depth=1.5),
        "to_dot": lambda: to_dot(graph, depth="1"),
        "to_html": lambda: to_html(graph, tmp_path / "g.html", depth=1.5),
        "render": lambda: render(graph, tmp_path / "g.svg", depth=0.5),
    }
    with pytest.raises(TypeError, match="depth must be None or a whole number"):
        calls[draw]()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("draw", ["graph_view", "to_dot", "to_html", "to_networkx"])
def test_tensors_of_different_graphs_are_refused(tmp_path, draw):
    # both graphs have a node "x": drawn together, the two were one networkx node and two boxes of one id
    first, second = gc.Graph(), gc.Graph()
    with first.as_default():
        a = gc.exp(gc.placeholder("float32", (2,), name="x"))
    with second.as_default():
        b = gc.tanh(gc.placeholder("float32", (3, 3), name="x"))
    calls = {
        "graph_view": lambda: graph_view([a, b]),
        "to_dot": lambda: to_dot([a, b]),
        "to_html": lambda: to_html([a, b], tmp_path / "g.html"),
        "to_networkx": lambda: to_networkx([a, b]),
    }
    with pytest.raises(gc.GraphMismatchError, match="exp:0 and tanh:0 .* different graphs"):
        calls[draw]()
    assert list(tmp_path.iterdir()) == []
