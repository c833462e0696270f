"""Every pass keeps meaning: random graphs (hypothesis) give the same values through the reference
interpreter before and after each pass, and after the whole pipeline."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.passes.pipeline import PIPELINE
from graphc.passes.verify import verify
from tests.passes.helpers import evaluate, program

# unary and binary builders over float64 tensors of shape (3, 4) or (4,); inputs are kept positive
# where the op needs it (log, sqrt) by applying them to exp(...) or 1 + x*x
UNARY = [
    lambda x: gc.tanh(x),
    lambda x: gc.exp(gc.tanh(x)),
    lambda x: gc.log(1.0 + x * x),
    lambda x: gc.log(gc.sigmoid(x)),
    lambda x: gc.exp(gc.tanh(x)) - 1.0,
    lambda x: gc.negative(gc.negative(x)),
    lambda x: x * 1.0 + 0.0,
    lambda x: gc.sqrt(1.0 + x * x),
    lambda x: gc.relu(x) ** 1.0,
    lambda x: gc.cast(gc.cast(x, "float32"), "float64"),
    lambda x: gc.transpose(gc.transpose(gc.broadcast_to(x, (3, 4)))),
    lambda x: gc.reshape(gc.reshape(gc.broadcast_to(x, (3, 4)), (12,)), (3, 4)),
    lambda x: gc.softmax(gc.broadcast_to(x, (3, 4))),
    lambda x: gc.log(gc.softmax(gc.broadcast_to(x, (3, 4)))),
    lambda x: gc.reduce_sum(gc.broadcast_to(x, (3, 4)), axis=0),
    lambda x: gc.reduce_max(gc.broadcast_to(x, (3, 4)), axis=1, keepdims=True),
    lambda x: gc.exp(gc.constant(np.full((4,), 0.5))) * x,
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: a - b,
    lambda a, b: gc.maximum(a, b),
    lambda a, b: gc.where(a > b, a, b),
    lambda a, b: a / (1.0 + b * b),
]

steps = st.lists(
    st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
    min_size=1,
    max_size=12,
)


def _random_program(plan):
    x = gc.placeholder("float64", (None, 4), name="x")
    y = gc.placeholder("float64", (4,), name="y")
    values = [x, y]
    for binary, i, j, k in plan:
        a, b = values[i % len(values)], values[j % len(values)]
        out = BINARY[k % len(BINARY)](a, b) if binary else UNARY[k % len(UNARY)](a)
        values.append(out)
    outputs = values[2:][-3:]
    return program(outputs, [x, y])


def _feeds():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(3, 4)), rng.normal(size=4)]


def _same(before, after):
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-12, equal_nan=True)


PASSES = list(dict.fromkeys(PIPELINE))  # every distinct pass of the pipeline


@given(steps, st.sampled_from(range(len(PASSES))))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_each_pass_keeps_values_on_random_graphs(plan, which):
    with gc.Graph().as_default():
        prog = _random_program(plan)
        result = PASSES[which](prog)
        verify(result)
        _same(evaluate(prog, _feeds()), evaluate(result, _feeds()))


@given(steps)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_pipeline_keeps_values_on_random_graphs(plan):
    with gc.Graph().as_default():
        prog = _random_program(plan)
        before = evaluate(prog, _feeds())
        for p in PIPELINE:
            prog = p(prog)
            verify(prog)
        _same(before, evaluate(prog, _feeds()))


@given(steps)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_pipeline_keeps_gradients_on_random_graphs(plan):
    with gc.Graph().as_default():
        x = gc.placeholder("float64", (None, 4), name="x")
        y = gc.placeholder("float64", (4,), name="y")
        values = [x, y]
        for binary, i, j, k in plan:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append(BINARY[k % len(BINARY)](a, b) if binary else UNARY[k % len(UNARY)](a))
        cost = gc.reduce_sum(values[-1])
        grads = gc.grad(cost, [x, y], unconnected="zero")
        with gc.Session(optimize=False) as plain, gc.Session() as optimized:
            feeds = dict(zip([x, y], _feeds(), strict=True))
            _same(plain.run(grads, feeds), optimized.run(grads, feeds))
