"""``graph_view``: box ids are unique (a collapsed scope never takes a node's name), and ``depth`` must
not be negative."""

import pytest

import graphc as gc
from graphc.viz import graph_view, to_dot, to_html


def _node_named_like_its_scope():
    x = gc.placeholder("float32", (None, 3), name="dense")
    with gc.name_scope("dense"):
        return gc.relu(gc.exp(x))


def test_a_collapsed_scope_and_a_node_of_its_name_get_different_ids(graph):
    _node_named_like_its_scope()
    gc.placeholder("float32", (2,), name="dense/")  # the scope box's first choice of id is taken too
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
