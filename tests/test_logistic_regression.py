"""Logistic regression trained the two classic ways: TF1 style (placeholders, Variables, assign ops
and Session.run with feeds) and Theano style (graphc.function with updates), gradients by graphc.grad."""

import numpy as np

import graphc as gc


def _blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    centers = np.array([[-1.5, -1.0], [1.5, 1.0]])
    points = centers[labels] + rng.normal(0.0, 0.7, (n, 2))
    return points.astype(np.float32), labels.astype(np.float32)


def _model():
    x = gc.placeholder("float32", (None, 2), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    w = gc.Variable(gc.init.zeros((2, 1)), name="w")
    b = gc.Variable(0.0, name="b")
    logits = gc.reshape(x @ w, (-1,)) + b
    # binary cross-entropy with logits, the stable form: softplus(z) - y z
    loss = gc.reduce_mean(gc.softplus(logits) - y * logits)
    grad_w, grad_b = gc.grad(loss, [w, b])
    accuracy = gc.reduce_mean(gc.cast(gc.equal(gc.cast(logits > 0, "float32"), y), "float32"))
    return x, y, w, b, loss, grad_w, grad_b, accuracy


def test_tf1_style_training_with_session_and_assign_ops():
    points, labels = _blobs()
    with gc.Graph().as_default():
        x, y, w, b, loss, grad_w, grad_b, accuracy = _model()
        train_op = gc.group(gc.assign_sub(w, 0.5 * grad_w), gc.assign_sub(b, 0.5 * grad_b))
        with gc.Session() as sess:
            sess.run(gc.global_variables_initializer())
            first = sess.run(loss, {x: points, y: labels})
            for start in range(0, 2000, 50):
                batch = slice(start % 400, start % 400 + 50)
                sess.run(train_op, feed_dict={x: points[batch], y: labels[batch]})
            last, acc = sess.run([loss, accuracy], {x: points, y: labels})
    assert abs(first - np.log(2.0)) < 1e-6
    assert last < 0.3 and acc > 0.9


def test_theano_style_training_with_function_updates():
    points, labels = _blobs(seed=1)
    with gc.Graph().as_default():
        x, y, w, b, loss, grad_w, grad_b, accuracy = _model()
        train = gc.function([x, y], loss, updates=[(w, w - 0.5 * grad_w), (b, b - 0.5 * grad_b)])
        evaluate = gc.function([x, y], [loss, accuracy])
        for _epoch in range(5):
            for start in range(0, 400, 50):
                train(points[start : start + 50], labels[start : start + 50])
        last, acc = evaluate(points, labels)
    assert last < 0.3 and acc > 0.9


def test_grad_matches_the_hand_written_gradient():
    points, labels = _blobs(n=64, seed=2)
    with gc.Graph().as_default():
        x, y, w, b, loss, grad_w, grad_b, accuracy = _model()
        logits = gc.reshape(x @ w, (-1,)) + b
        residual = gc.sigmoid(logits) - y  # d loss / d logits, times the batch size
        n = gc.cast(gc.shape(x)[0], "float32")
        by_hand_w = gc.matmul(gc.transpose(x), gc.reshape(residual, (-1, 1))) / n
        by_hand_b = gc.reduce_sum(residual) / n
        with gc.Session() as sess:
            sess.run([gc.assign(w, [[0.3], [-0.2]]), gc.assign(b, 0.1)])
            got = sess.run([grad_w, grad_b, by_hand_w, by_hand_b], {x: points, y: labels})
    np.testing.assert_allclose(got[0], got[2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[1], got[3], rtol=1e-5, atol=1e-7)
