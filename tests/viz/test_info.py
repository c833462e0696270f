"""``graph_info``: ``batch`` (the size taken for None dimensions) must be a whole number >= 0, and
``graph`` a Graph."""

import numpy as np
import pytest

import graphc as gc
from graphc.viz import graph_info


def test_negative_batch_is_refused(graph):
    gc.relu(gc.placeholder("float32", (None, 3), name="x") @ gc.Variable(gc.init.zeros((3, 2)), name="w"))
    with pytest.raises(ValueError, match="batch"):
        graph_info(graph, batch=-5)


@pytest.mark.parametrize("batch", [1.5, "3", None, True])
def test_a_batch_that_is_not_a_whole_number_is_refused(graph, batch):
    # 1.5 was taken: the FLOPs came out fractional and printing the table raised a format error
    gc.relu(gc.placeholder("float32", (None, 3), name="x"))
    with pytest.raises(TypeError, match="batch must be a whole number"):
        graph_info(graph, batch=batch)


def test_a_tensor_instead_of_a_graph_is_refused(graph):
    y = gc.relu(gc.placeholder("float32", (None, 3), name="x"))
    with pytest.raises(TypeError, match="counts a Graph's nodes, got Tensor"):
        graph_info(y)


@pytest.mark.parametrize("w_shape", [(784, 10), (784,)])
def test_a_matmul_takes_its_inner_dimension_from_the_weights_where_the_input_does_not_know_it(graph, w_shape):
    # x's inner dimension is None but w's is 784: the product was counted with k = batch (32), not 784
    x = gc.placeholder("float32", (None, None), name="x")
    y = x @ gc.Variable(gc.init.zeros(w_shape), name="w")
    outputs = 32 * int(np.prod(y.shape[1:]))  # y is (None, 10) or (None,): 32 rows at batch 32
    assert graph_info(graph, batch=32).flops["MatMul"] == 2 * outputs * 784


def test_a_fused_node_counts_what_its_unfused_ops_counted(graph):
    x = gc.placeholder("float32", (1000, 1000), name="x")
    s = gc.reduce_sum(gc.exp(x) * 2.0 + 1.0)
    exe = gc.compile([s], feeds=[x], device="reference")
    assert "FusedOp" in graph_info(exe.program).flops
    assert sum(graph_info(exe.program).flops.values()) == sum(graph_info(graph).flops.values()) == 4_000_000


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 1), (2, 2, 0), (3, 2, 0)])
def test_pooling_counts_its_window_per_output(graph, kernel, stride, padding):
    from graphc.viz.info import node_flops

    x = gc.placeholder("float32", (1, 1, 16, 16), name="x")
    for pool in (gc.max_pool2d, gc.avg_pool2d):
        y = pool(x, kernel, stride=stride, padding=padding)
        assert node_flops(y.node) == int(np.prod(y.shape)) * kernel * kernel
