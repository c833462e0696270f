"""GraphBuilder: the nodes a pass copies keep their names, whatever names the nodes it adds want.

A random node's draw count is keyed by its name in the session, so a copy renamed in one executable
restarts the stream that another executable of the same session advanced."""

import numpy as np
import pytest

import graphc as gc


def _draws_continue(fetch_with_r, r, feed=None):
    """Whether r's second draw (through an executable that also computes ``fetch_with_r``) differs
    from its first (through an executable of r alone), on both devices."""
    for device in ("reference", "cpu"):
        with gc.Session(device=device) as sess:
            first = sess.run(r)
            second = sess.run([fetch_with_r, r], feed or {})[1]
            if np.array_equal(first, second):
                return False
    return True


@pytest.mark.usefixtures("graph")
def test_folded_split_pieces_do_not_take_a_random_nodes_name():
    a, _ = gc.split(gc.constant([1.0, 2.0]), 2, name="r")  # folded into constants named from "r"
    r = gc.random_uniform((3,), seed=1, name="r")  # named "r_1", the second piece's suffixed name
    assert _draws_continue(a, r)


@pytest.mark.usefixtures("graph")
def test_a_rewrites_new_node_does_not_take_a_random_nodes_name():
    x = gc.placeholder("float32", (3,), name="x")
    y = gc.log(1.0 + x)  # stabilize adds a node named "log1p"
    r = gc.random_uniform((3,), seed=1, name="log1p")
    assert _draws_continue(y, r, {x: np.zeros(3, np.float32)})
