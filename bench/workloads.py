"""The benchmark's workloads, written once per system: graphc, PyTorch eager, JAX jit, PyTensor (Numba).

Every system gets the same initial weights (``init_params``, a seeded numpy draw) and the same batch
(``batch``), so the first step's loss must agree across systems up to float32 rounding: ``run.py``
prints it as a check that the systems compute the same thing. Each builder returns a ``Step``: a
callable taking numpy arrays (the feed of a real training loop: a new batch each step) and returning
a Python float (the loss) or, for inference, a numpy array; a step is finished when it returns
(JAX's result is waited for), so timing the call times the work.

Frameworks are imported inside the builders: a worker process imports only the system it measures,
after ``run.py`` has set the thread environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MLP_SIZES = [(784, 128), (128, 128), (128, 10)]
CNN_CHANNELS = [3, 16, 32, 64, 128]  # conv3x3 pad 1 + ReLU + maxpool 2 between consecutive entries
CNN_DENSE = [(512, 512), (512, 10)]  # 128 channels x 2 x 2 after four pools of 32x32
ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
SGD = {"lr": 0.01, "momentum": 0.9}


@dataclass(frozen=True)
class Workload:
    name: str
    model: str  # "mlp" or "cnn"
    kind: str  # "train" or "infer"
    batch: int
    label: str


WORKLOADS = {
    w.name: w
    for w in [
        Workload("mlp_b128", "mlp", "train", 128, "MLP train b128 (Adam)"),
        Workload("mlp_b1024", "mlp", "train", 1024, "MLP train b1024 (Adam)"),
        Workload("cnn_b64", "cnn", "train", 64, "CNN train b64 (SGD+mom)"),
        Workload("mlp_infer_b1", "mlp", "infer", 1, "MLP infer b1"),
    ]
}

Step = Callable[..., object]


def init_params(model: str, seed: int = 0) -> list[np.ndarray]:
    """Glorot-uniform weights and zero biases: dense weights (in, out), conv weights (out, in, 3, 3)."""
    rng = np.random.default_rng(seed)

    def glorot(shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(np.float32)

    params = []
    if model == "cnn":
        for c_in, c_out in zip(CNN_CHANNELS[:-1], CNN_CHANNELS[1:], strict=True):
            params += [glorot((c_out, c_in, 3, 3), c_in * 9, c_out * 9), np.zeros(c_out, np.float32)]
    dense = CNN_DENSE if model == "cnn" else MLP_SIZES
    for n_in, n_out in dense:
        params += [glorot((n_in, n_out), n_in, n_out), np.zeros(n_out, np.float32)]
    return params


def batch(w: Workload, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Images (float32) and int64 labels; systems that want int32 labels get a copy made up front."""
    rng = np.random.default_rng(seed)
    shape = (w.batch, 784) if w.model == "mlp" else (w.batch, 3, 32, 32)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, w.batch).astype(np.int64)


def build(system: str, w: Workload) -> tuple[Step, tuple]:
    """The step function of ``system`` for workload ``w`` and the arguments to call it with."""
    params = init_params(w.model)
    x, y = batch(w)
    builder = {"graphc": _graphc, "torch": _torch, "jax": _jax, "pytensor": _pytensor}[system]
    return builder(w, params, x, y)


# --- graphc -------------------------------------------------------------------------------------------


def _graphc(w, params, x, y):
    import graphc as gc

    g = gc.Graph()
    with g.as_default():
        shape = (None, 784) if w.model == "mlp" else (None, 3, 32, 32)
        xs = gc.placeholder("float32", shape, name="x")
        vs = []
        for i, p in enumerate(params):
            # conv biases broadcast over (C, 1, 1); dense biases over the last axis
            value = p.reshape(-1, 1, 1) if (p.ndim == 1 and w.model == "cnn" and i < 8) else p
            vs.append(gc.Variable(value, name=f"p{i}"))
        h = xs
        if w.model == "cnn":
            for i in range(4):
                h = gc.relu(gc.conv2d(h, vs[2 * i], padding=1) + vs[2 * i + 1])
                h = gc.max_pool2d(h, 2)
            h = gc.reshape(h, (-1, 512))
        dense = vs[8:] if w.model == "cnn" else vs
        for i in range(0, len(dense), 2):
            h = gc.matmul(h, dense[i]) + dense[i + 1]
            if i + 2 < len(dense):
                h = gc.relu(h)
        if w.kind == "infer":
            f = gc.function([xs], h, device="cpu")
            return f, (x,)
        labels = gc.placeholder("int64", (None,), name="labels")
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy(h, labels))
        grads = gc.grad(loss, vs)
        updates = _graphc_adam(gc, vs, grads) if w.model == "mlp" else _graphc_momentum(gc, vs, grads)
        f = gc.function([xs, labels], loss, updates=updates, device="cpu")

    def step(a, b):
        return float(f(a, b))

    step.function = f  # bench/profile_step.py times its executable's kernels one by one
    return step, (x, y)


def _graphc_adam(gc, params, grads):
    lr, b1, b2, eps = ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]
    step = gc.Variable(0.0, name="adam/t", trainable=False)
    t = step + 1.0
    c1 = 1.0 - gc.power(gc.constant(b1), t)
    c2 = 1.0 - gc.power(gc.constant(b2), t)
    updates = [(step, t)]
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m = gc.Variable(np.zeros(p.shape, np.float32), name=f"adam/m{i}", trainable=False)
        v = gc.Variable(np.zeros(p.shape, np.float32), name=f"adam/v{i}", trainable=False)
        m_new = b1 * m + (1.0 - b1) * g
        v_new = b2 * v + (1.0 - b2) * g * g
        # PyTorch's Adam: p -= lr * m_hat / (sqrt(v_hat) + eps)
        p_new = p - lr * (m_new / c1) / (gc.sqrt(v_new / c2) + eps)
        updates += [(m, m_new), (v, v_new), (p, p_new)]
    return updates


def _graphc_momentum(gc, params, grads):
    updates = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        buf = gc.Variable(np.zeros(p.shape, np.float32), name=f"momentum/{i}", trainable=False)
        buf_new = SGD["momentum"] * buf + g  # PyTorch's SGD(momentum=0.9, dampening=0)
        updates += [(buf, buf_new), (p, p - SGD["lr"] * buf_new)]
    return updates


# --- PyTorch eager ------------------------------------------------------------------------------------


def _torch(w, params, x, y):
    import torch
    from torch import nn

    layers: list = []
    if w.model == "cnn":
        for c_in, c_out in zip(CNN_CHANNELS[:-1], CNN_CHANNELS[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        layers.append(nn.Flatten())
    dense = CNN_DENSE if w.model == "cnn" else MLP_SIZES
    for i, (n_in, n_out) in enumerate(dense):
        layers.append(nn.Linear(n_in, n_out))
        if i + 1 < len(dense):
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for tp, p in zip(model.parameters(), params, strict=True):
            tp.copy_(torch.from_numpy(p.T.copy() if p.ndim == 2 else p))  # Linear keeps (out, in)

    if w.kind == "infer":

        def infer(a):
            with torch.inference_mode():
                return model(torch.from_numpy(a)).numpy()

        return infer, (x,)
    if w.model == "mlp":
        opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]))
    else:
        opt = torch.optim.SGD(model.parameters(), lr=SGD["lr"], momentum=SGD["momentum"])
    loss_fn = nn.CrossEntropyLoss()

    def train(a, b):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(torch.from_numpy(a)), torch.from_numpy(b))
        loss.backward()
        opt.step()
        return loss.item()

    return train, (x, y)


# --- JAX jit ------------------------------------------------------------------------------------------


def _jax(w, params, x, y):
    import jax
    import jax.numpy as jnp
    from jax import lax

    def forward(ps, a):
        h = a
        if w.model == "cnn":
            for i in range(4):
                h = lax.conv_general_dilated(
                    h, ps[2 * i], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
                )
                h = jax.nn.relu(h + ps[2 * i + 1][None, :, None, None])
                h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            h = h.reshape(h.shape[0], -1)
        dense = ps[8:] if w.model == "cnn" else ps
        for i in range(0, len(dense), 2):
            h = h @ dense[i] + dense[i + 1]
            if i + 2 < len(dense):
                h = jax.nn.relu(h)
        return h

    ps = [jnp.asarray(p) for p in params]
    if w.kind == "infer":
        f = jax.jit(forward)
        return (lambda a: np.asarray(f(ps, a))), (x,)

    def loss_of(ps, a, b):
        logp = jax.nn.log_softmax(forward(ps, a))
        return -jnp.mean(jnp.take_along_axis(logp, b[:, None], axis=1))

    if w.model == "mlp":
        lr, b1, b2, eps = ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]

        def update(ps, state, a, b):
            t, ms, vs = state
            loss, gs = jax.value_and_grad(loss_of)(ps, a, b)
            t = t + 1.0
            ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, gs, strict=True)]
            vs = [b2 * v + (1 - b2) * g * g for v, g in zip(vs, gs, strict=True)]
            c1, c2 = 1 - b1**t, 1 - b2**t
            ps = [p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps) for p, m, v in zip(ps, ms, vs, strict=True)]
            return ps, (t, ms, vs), loss

        state = (jnp.float32(0.0), [jnp.zeros_like(p) for p in ps], [jnp.zeros_like(p) for p in ps])
    else:

        def update(ps, bufs, a, b):
            loss, gs = jax.value_and_grad(loss_of)(ps, a, b)
            bufs = [SGD["momentum"] * u + g for u, g in zip(bufs, gs, strict=True)]
            return [p - SGD["lr"] * u for p, u in zip(ps, bufs, strict=True)], bufs, loss

        state = [jnp.zeros_like(p) for p in ps]
    jitted = jax.jit(update, donate_argnums=(0, 1))  # parameters updated in place, as the others do
    holder = {"ps": ps, "state": state}

    def train(a, b):
        holder["ps"], holder["state"], loss = jitted(holder["ps"], holder["state"], a, b)
        return float(loss)  # waits for the step

    return train, (x, y.astype(np.int32))  # int64 is off by default in JAX


# --- PyTensor (Numba backend) -------------------------------------------------------------------------


def _pytensor(w, params, x, y):
    import pytensor
    import pytensor.tensor as pt

    mode = "NUMBA"
    shared = [pytensor.shared(p, name=f"p{i}") for i, p in enumerate(params)]
    xs = pt.matrix("x", dtype="float32") if w.model == "mlp" else pt.tensor4("x", dtype="float32")
    h = xs
    if w.model == "cnn":
        # PyTensor 3 has no NN conv2d/pool op: conv3x3 as im2col (nine shifted views, one tensordot)
        # and 2x2 max pooling as a reshape and max, all ops its Numba backend compiles
        size = 32
        for i in range(4):
            wt, b = shared[2 * i], shared[2 * i + 1]
            xp = pt.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
            cols = pt.stack(
                [xp[:, :, r : r + size, c : c + size] for r in range(3) for c in range(3)], axis=2
            )
            c_in, c_out = CNN_CHANNELS[i], CNN_CHANNELS[i + 1]
            cols = cols.reshape((-1, c_in * 9, size * size))
            out = pt.tensordot(wt.reshape((c_out, c_in * 9)), cols, axes=[[1], [1]])  # (O, N, HW)
            h = pt.maximum(
                out.dimshuffle(1, 0, 2).reshape((-1, c_out, size, size)) + b[None, :, None, None], 0
            )
            h = h.reshape((-1, c_out, size // 2, 2, size // 2, 2)).max(axis=(3, 5))
            size //= 2
        h = h.reshape((-1, 512))
    dense = shared[8:] if w.model == "cnn" else shared
    for i in range(0, len(dense), 2):
        h = pt.dot(h, dense[i]) + dense[i + 1]
        if i + 2 < len(dense):
            h = pt.maximum(h, 0)
    if w.kind == "infer":
        return pytensor.function([xs], h, mode=mode), (x,)
    labels = pt.vector("labels", dtype="int64")
    logp = pt.special.log_softmax(h, axis=-1)
    loss = -pt.mean(logp[pt.arange(labels.shape[0]), labels])
    grads = pytensor.grad(loss, shared)
    updates = []
    if w.model == "mlp":
        lr, b1, b2, eps = ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]
        t = pytensor.shared(np.float32(0.0), name="t")
        t_new = t + 1.0
        c1, c2 = 1.0 - b1**t_new, 1.0 - b2**t_new
        updates.append((t, t_new))
        for p, g in zip(shared, grads, strict=True):
            m = pytensor.shared(np.zeros_like(p.get_value()))
            v = pytensor.shared(np.zeros_like(p.get_value()))
            m_new = b1 * m + (1 - b1) * g
            v_new = b2 * v + (1 - b2) * g * g
            p_new = p - lr * (m_new / c1) / (pt.sqrt(v_new / c2) + eps)
            updates += [(m, m_new), (v, v_new), (p, pt.cast(p_new, "float32"))]
    else:
        for p, g in zip(shared, grads, strict=True):
            u = pytensor.shared(np.zeros_like(p.get_value()))
            u_new = SGD["momentum"] * u + g
            updates += [(u, u_new), (p, pt.cast(p - SGD["lr"] * u_new, "float32"))]
    f = pytensor.function([xs, labels], loss, updates=updates, mode=mode)
    return (lambda a, b: float(f(a, b))), (x, y)
