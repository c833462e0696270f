"""``graph_info``: ``batch`` (the size taken for None dimensions) must not be negative."""

import pytest

import graphc as gc
from graphc.viz import graph_info


def test_negative_batch_is_refused(graph):
    gc.relu(gc.placeholder("float32", (None, 3), name="x") @ gc.Variable(gc.init.zeros((3, 2)), name="w"))
    with pytest.raises(ValueError, match="batch"):
        graph_info(graph, batch=-5)
