"""Generated elementwise loops (runtime/cpu/elementwise.py): the flat, broadcast and parallel shapes."""

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import elementwise


def _both(inputs, build):
    cpu = gc.function(inputs, build(*inputs))
    ref = gc.function(inputs, build(*inputs), device="reference")
    return cpu, ref


@pytest.mark.parametrize("shape", [(7, 5), (1, 9), (3, 1), (1, 1), (1000,)])
def test_parallel_loops_split_rows_or_elements_with_the_reference_numbers(graph, monkeypatch, shape):
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 1)  # every loop takes the parallel variant
    x = gc.placeholder("float32", (None, *shape[1:]), name="x")
    bias = gc.Variable(np.linspace(-1, 1, shape[-1], dtype=np.float32), name="bias")
    cpu, ref = _both([x], lambda x: [gc.relu(x * 2.0 + bias), gc.exp(x) - x])
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for got, want in zip(cpu(a), ref(a), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_loop_over_more_than_the_threshold_takes_the_parallel_variant(graph, monkeypatch):
    monkeypatch.setattr(elementwise, "PARALLEL_ABOVE", 64)
    x = gc.placeholder("float32", (None,), name="x")
    f = gc.function([x], gc.tanh(x) * 3.0)
    f(np.ones(100, np.float32))
    f(np.ones(10, np.float32))
    loops = {
        shapes: [
            c.cell_contents.py_func.__name__
            for s in plan.steps.values()
            for name, c in zip(s.__code__.co_freevars, s.__closure__, strict=True)
            if name == "flat"
        ]
        for shapes, plan in f.executable.backend._plans.items()
    }
    assert loops[((100,),)] == ["kernel_par"] and loops[((10,),)] == ["kernel"]


def test_flat_loops_vectorize_over_the_whole_size_when_no_input_is_a_row(graph):
    x = gc.placeholder("float32", (4, 8), name="x")
    f = gc.function([x], gc.sqrt(gc.abs(x)) + 1.0)
    f(np.ones((4, 8), np.float32))
    (step,) = next(iter(f.executable.backend._plans.values())).steps.values()
    bounds = dict(zip(step.__code__.co_freevars, step.__closure__, strict=True))["bounds"].cell_contents
    assert bounds == (1, 32)  # one row of 32: the inner loop is the one LLVM vectorizes
