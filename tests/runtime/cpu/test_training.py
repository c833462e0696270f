"""The benchmark training steps run compiled for the CPU, and their first 20 losses agree with the
reference device to 1e-4 relative."""

import numpy as np

import graphc as gc
from tests.passes.test_mlp_pipeline import _adam


def _mlp_step(device):
    x = gc.placeholder("float32", (None, 784), name="images")
    labels = gc.placeholder("int64", (None,), name="labels")
    params, h = [], x
    for i, (n_in, n_out) in enumerate([(784, 128), (128, 128), (128, 10)]):
        w = gc.Variable(gc.init.glorot_uniform((n_in, n_out), seed=i), name=f"w{i}")
        b = gc.Variable(gc.init.zeros((n_out,)), name=f"b{i}")
        h = gc.matmul(h, w) + b
        h = gc.relu(h) if i < 2 else h
        params += [w, b]
    loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(h, labels))
    grads = gc.grad(loss, params)
    return gc.function([x, labels], loss, updates=_adam(params, grads), session=gc.Session(device=device))


def _cnn_step(device):
    x = gc.placeholder("float32", (None, 3, 32, 32), name="images")
    labels = gc.placeholder("int64", (None,), name="labels")
    params, h, c_in = [], x, 3
    for i, c_out in enumerate([16, 32, 64, 128]):
        k = gc.Variable(gc.init.he_normal((c_out, c_in, 3, 3), seed=i), name=f"conv{i}/k")
        b = gc.Variable(gc.init.zeros((c_out,)), name=f"conv{i}/b")
        h = gc.max_pool2d(gc.relu(gc.conv2d(h, k, padding=1) + gc.reshape(b, (1, c_out, 1, 1))), 2)
        params += [k, b]
        c_in = c_out
    h = gc.reshape(h, (-1, 512))
    w1 = gc.Variable(gc.init.he_normal((512, 512), seed=10), name="fc1/w")
    w2 = gc.Variable(gc.init.glorot_uniform((512, 10), seed=11), name="fc2/w")
    params += [w1, w2]
    logits = gc.matmul(gc.relu(gc.matmul(h, w1)), w2)
    loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(logits, labels))
    grads = gc.grad(loss, params)
    updates = []
    for p, g in zip(params, grads, strict=True):
        velocity = gc.Variable(gc.init.zeros(p.shape), name=f"{p.var_name}/velocity", trainable=False)
        v_new = 0.9 * velocity + g
        updates += [(velocity, v_new), (p, p - 0.01 * v_new)]
    return gc.function([x, labels], loss, updates=updates, session=gc.Session(device=device))


def _losses(make_step, batch, shape, steps=20):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(batch, *shape)).astype(np.float32)
    targets = rng.integers(0, 10, batch)
    with gc.Graph().as_default():
        step = make_step("cpu")
        reference = make_step("reference")
        return [float(step(data, targets)) for _ in range(steps)], [
            float(reference(data, targets)) for _ in range(steps)
        ]


def test_mlp_adam_training_losses_match_the_reference():
    compiled, reference = _losses(_mlp_step, 64, (784,))
    np.testing.assert_allclose(compiled, reference, rtol=1e-4)
    assert compiled[-1] < compiled[0]


def test_cnn_momentum_training_losses_match_the_reference():
    compiled, reference = _losses(_cnn_step, 4, (3, 32, 32))
    np.testing.assert_allclose(compiled, reference, rtol=1e-4)
    assert compiled[-1] < compiled[0]
