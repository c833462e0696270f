"""Converting user values to tensors: constants go to the graph of the tensors they are used with."""

import numpy as np
import pytest

import graphc as gc

BUILDS = {
    "where with a list condition": lambda x, i: gc.where([True, False], x, 0.0),
    "where with scalar branches": lambda x, i: gc.where(x > 0, 1.0, 0.0),
    "clip": lambda x, i: gc.clip(x, 0.0, 1.0),
    "sparse_softmax_cross_entropy labels": lambda x, i: gc.sparse_softmax_cross_entropy(
        gc.reshape(x, (1, 2)), [1]
    ),
    "take from a list": lambda x, i: gc.take([1.0, 2.0, 3.0], i),
    "conv2d with a numpy kernel": lambda x, i: gc.conv2d(
        gc.reshape(x, (1, 1, 1, 2)), np.ones((1, 1, 1, 1), np.float32)
    ),
}


@pytest.mark.parametrize("build", BUILDS.values(), ids=BUILDS.keys())
def test_values_become_constants_in_their_tensors_graph_not_the_default_graph(build):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (2,), name="x")
        i = gc.placeholder("int64", (2,), name="i")
    y = build(x, i)  # built outside g.as_default(): the default graph is another one
    assert y.graph is g
    feeds = {x: np.array([0.5, -1.0], np.float32), i: np.array([2, 0])}
    with gc.Session(g, device="reference") as sess:
        sess.run(y, feeds)


@pytest.mark.parametrize(
    ("tensor_dtype", "scalar", "expected"),
    [
        ("float32", np.float64(0.5), "float32"),
        ("int32", np.int64(2), "int32"),
        ("int32", np.float32(0.5), "float64"),  # a float meeting an integer tensor, as a Python float
        ("float32", np.int64(3), "float32"),  # numpy 2: float64
    ],
)
def test_numpy_scalars_are_weak_like_python_scalars(graph, tensor_dtype, scalar, expected):
    t = gc.placeholder(tensor_dtype, (3,))
    assert (t + scalar).dtype == expected and (scalar + t).dtype == expected


def test_a_numpy_scalar_alone_keeps_its_dtype(graph):
    assert gc.constant(np.float64(0.5)).dtype == "float64" and gc.constant(np.int32(3)).dtype == "int32"
