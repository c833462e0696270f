"""Shared by the serialization tests: sample graphs, sessions with a fixed random stream, exact
comparison of fetched values and of graph structure."""

from __future__ import annotations

import zlib

import numpy as np

import graphc as gc
from graphc.ir.printing import ancestors


def build_sample(sample):
    """(graph, placeholders, input arrays, outputs) of an op sample, as the op contract test builds it."""
    rng = np.random.default_rng(zlib.crc32(sample.id.encode()))
    arrays = [a.make(rng) for a in sample.args]
    g = gc.Graph()
    with g.as_default():
        phs = [gc.placeholder(a.dtype, a.placeholder_shape, name=f"in{i}") for i, a in enumerate(sample.args)]
        out = sample.build(*phs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return g, phs, arrays, outs


def saved_op_types(fetches) -> set[str]:
    """The op classes ``save_graph(fetches, ...)`` writes (the fetches' ancestors)."""
    return {n.op.type_name for n in ancestors(fetches)}


def run(graph, fetches, feed=None):
    """Fetch from a new session on ``graph``; unseeded random ops draw the same stream in every call."""
    with gc.Session(graph) as sess:
        sess._entropy = 0  # the per-session entropy of unseeded random ops, fixed for comparison
        return sess.run(fetches, feed or {})


def assert_identical(got, want):
    """Same dtype, shape and bytes (so NaNs and signed zeros count too), elementwise over lists."""
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_identical(g, w)
        return
    if want is None:
        assert got is None
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), f"{got} != {want}"


def signature(nodes) -> list[tuple]:
    """What must survive a round trip, node by node, independent of node identity."""
    out = []
    for n in nodes:
        value = n.op.value.tobytes() if n.op.type_name == "Constant" else None
        out.append(
            (
                n.name,
                repr(n.op),
                value,
                tuple(t.name for t in n.inputs),
                tuple(c.name for c in n.control_inputs),
                tuple(n.location),
                n.grad_of.name if n.grad_of is not None else None,
                tuple(t.type for t in n.outputs),
            )
        )
    return out


def state_graph():
    """A graph using every state op: variables (array, initializer, int, untrainable), assign,
    assign_add, assign_sub, group, read_value under control dependencies, and the initializer op."""
    g = gc.Graph()
    g.seed = 5
    with g.as_default():
        a = gc.Variable(np.arange(6.0).reshape(2, 3), name="a")
        b = gc.Variable(gc.init.normal((3,)), name="b")
        n = gc.Variable(0, dtype="int64", name="count", trainable=False)
        with gc.name_scope("ops"):
            set_a = gc.assign(a, a * 2.0, name="set_a")
            inc = gc.assign_add(n, 1)
            dec = gc.assign_sub(b, 0.5)
            step = gc.group(set_a, inc, dec, name="step")
            with gc.control_dependencies([step]):
                b.read_value()
        gc.global_variables_initializer()
    return g


def fused_program():
    """A compiled executable whose optimized program holds FusedOp nodes (and reads a variable)."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None, 4), name="x")
        w = gc.Variable(np.linspace(-1.0, 1.0, 4).astype(np.float32), name="w")
        gc.Variable(1.0, name="unused")
        y = gc.reduce_sum(gc.exp(x) * w + x, axis=1)
        exe = gc.compile([y], feeds=[x])
    return g, x, y, exe
