"""The MLP training graph (784-128-128-10, softmax cross-entropy, Adam, gradients by graphc.grad) through
the whole pipeline: it still trains, it shrinks, elementwise work is fused, and buffers are reused."""

import numpy as np
import pytest

import graphc as gc


def _adam(params, grads, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    step = gc.Variable(0.0, name="adam/step", trainable=False)
    t = step + 1.0
    updates = [(step, t)]
    correction = gc.sqrt(1.0 - gc.power(gc.constant(beta2), t)) / (1.0 - gc.power(gc.constant(beta1), t))
    for p, g in zip(params, grads, strict=True):
        name = p.var_name
        m = gc.Variable(gc.init.zeros(p.shape), name=f"adam/{name}/m", trainable=False)
        v = gc.Variable(gc.init.zeros(p.shape), name=f"adam/{name}/v", trainable=False)
        m_new = beta1 * m + (1.0 - beta1) * g
        v_new = beta2 * v + (1.0 - beta2) * g * g
        updates += [(m, m_new), (v, v_new), (p, p - lr * correction * m_new / (gc.sqrt(v_new) + eps))]
    return updates


def _mlp_training_function():
    x = gc.placeholder("float32", (None, 784), name="images")
    labels = gc.placeholder("int64", (None,), name="labels")
    sizes = [(784, 128), (128, 128), (128, 10)]
    params, h = [], x
    for i, (n_in, n_out) in enumerate(sizes):
        with gc.name_scope(f"dense{i}"):
            w = gc.Variable(gc.init.glorot_uniform((n_in, n_out), seed=i), name="w")
            b = gc.Variable(gc.init.zeros((n_out,)), name="b")
            h = gc.matmul(h, w) + b
            if i < len(sizes) - 1:
                h = gc.relu(h)
        params += [w, b]
    with gc.name_scope("loss"):
        picked = gc.reduce_sum(gc.log_softmax(h) * gc.one_hot(labels, 10), axis=-1)
        loss = -gc.reduce_mean(picked)
    grads = gc.grad(loss, params)
    return x, labels, loss, gc.function([x, labels], loss, updates=_adam(params, grads))


def test_mlp_training_program_trains_after_optimization(graph):
    x, labels, loss, train = _mlp_training_function()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(128, 784)).astype(np.float32)
    targets = rng.integers(0, 10, 128)
    losses = [float(train(images, targets)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_mlp_training_program_shrinks_and_matches_the_unoptimized_one(graph):
    x, labels, loss, train = _mlp_training_function()
    exe = train.executable
    assert len(exe.program.nodes) < len(exe.source.nodes)
    rng = np.random.default_rng(1)
    feeds = {x: rng.normal(size=(16, 784)).astype(np.float32), labels: rng.integers(0, 10, 16)}
    with gc.Session(optimize=False) as plain, gc.Session() as optimized:
        np.testing.assert_allclose(optimized.run(loss, feeds), plain.run(loss, feeds), rtol=1e-6)


def test_mlp_training_program_memory_plan_reuses_buffers(graph):
    x, labels, loss, train = _mlp_training_function()
    plan = train.executable.memory_plan([(128, 784), (128,)])
    assert plan.live_peak_bytes <= plan.peak_bytes < plan.naive_bytes
    assert plan.peak_bytes < 0.6 * plan.naive_bytes  # reuse actually happened
    assert {"dense0/w", "dense1/w", "dense2/w"} <= set(plan.in_place)


def test_memory_plan_takes_the_feed_shapes_by_tensor_too(graph):
    x, labels, loss, train = _mlp_training_function()
    by_position = train.executable.memory_plan([(128, 784), (128,)])
    by_tensor = train.executable.memory_plan({labels: (128,), x: (128, 784)})
    assert by_tensor.peak_bytes == by_position.peak_bytes
    with pytest.raises(ValueError, match="no shape given"):
        train.executable.memory_plan({x: (128, 784)})


def test_mlp_training_pipeline_report(graph, capsys):
    """The numbers the pipeline is judged by, printed (pytest -s shows them) and asserted."""
    x, labels, loss, train = _mlp_training_function()
    exe = train.executable
    fused = [n for n in exe.program.nodes if n.op.type_name == "FusedOp"]
    plan = exe.memory_plan([(128, 784), (128,)])
    with capsys.disabled():
        nodes = f"{len(exe.source.nodes)} -> {len(exe.program.nodes)} nodes"
        print(f"\nMLP 784-128-128-10 + Adam training step: {nodes}")
        print(f"fused groups: {len(fused)} (ops per body: {sorted(len(n.op.body) for n in fused)})")
        print(f"memory at batch 128: {plan.peak_bytes} B planned vs {plan.naive_bytes} B naive")
    assert len(exe.program.nodes) < 0.5 * len(exe.source.nodes)
    assert len(fused) >= 8  # the Adam update of each parameter and the elementwise backward chains
    assert plan.peak_bytes < 0.6 * plan.naive_bytes
