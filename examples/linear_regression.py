"""Fit y = 3x + 2 from noisy samples by SGD: ``graphc.grad`` builds the gradients, ``graphc.function``
applies the updates.

Run: python examples/linear_regression.py   (writes the graph picture and the saved graph to out/)
"""

import os

import numpy as np

import graphc as gc


def write_pictures(executable, session, out_dir: str, stem: str) -> list[str]:
    """The training step's graph as HTML (always) and SVG (when Graphviz is installed), and the saved
    graph with the trained values (JSON + npz) that ``python -m graphc viz|info`` reads."""
    os.makedirs(out_dir, exist_ok=True)
    written = [gc.viz.to_html(executable, os.path.join(out_dir, f"{stem}.html"))]
    try:
        written.append(gc.viz.render(executable, os.path.join(out_dir, f"{stem}.svg")))
    except gc.viz.GraphvizNotFound:
        print("(no SVG: Graphviz's dot is not installed; the HTML view needs nothing)")
    saved = os.path.join(out_dir, f"{stem}.json")
    gc.save_graph(executable.fetches + [value for _, value in executable.updates], saved, session=session)
    return [*written, saved]


def main(steps: int = 200, lr: float = 0.1, seed: int = 0, out_dir: str = "out") -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    x_data = rng.uniform(-1.0, 1.0, 256).astype(np.float32)
    y_data = (3.0 * x_data + 2.0 + rng.normal(0.0, 0.1, 256)).astype(np.float32)

    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder("float32", (None,), name="x")
        y = gc.placeholder("float32", (None,), name="y")
        w = gc.Variable(0.0, name="w")
        b = gc.Variable(0.0, name="b")
        with gc.name_scope("model"):
            loss = gc.reduce_mean(gc.square(w * x + b - y), name="loss")
        grad_w, grad_b = gc.grad(loss, [w, b])
        train = gc.function([x, y], loss, updates=[(w, w - lr * grad_w), (b, b - lr * grad_b)])
        params = gc.function([], [w, b])

    for step in range(steps + 1):
        batch = rng.integers(0, len(x_data), 32)
        value = train(x_data[batch], y_data[batch])
        if step % 50 == 0:
            print(f"step {step:4d}  loss {float(value):.4f}")
    w_value, b_value = (float(v) for v in params())
    print(f"w = {w_value:.3f} (true 3), b = {b_value:.3f} (true 2)")
    for path in write_pictures(train.executable, train.session, out_dir, "linear_regression"):
        print(f"wrote {path}")
    return w_value, b_value


if __name__ == "__main__":
    main()
