"""FusedOp (graphc/ops/fused.py): a failing body op is named, not the fused node it ended up in."""

import inspect

import numpy as np
import pytest

import graphc as gc


def _line() -> int:
    return inspect.currentframe().f_back.f_lineno


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_a_run_time_shape_error_in_a_fused_body_names_the_op_that_failed(graph, device):
    x = gc.placeholder("float32", (None,), name="x")
    y = gc.placeholder("float32", (None,), name="y")
    total, line = gc.add(gc.exp(x), y, name="total"), _line()
    out = gc.tanh(total)  # fused with the add: the fused node takes this line and name
    assert "FusedOp" in [n.op.type_name for n in gc.compile([out], [x, y], device=device).program.nodes]
    message = rf"node 'total' \(Add\) created at .*test_fused.py:{line}:"
    with gc.Session(device=device) as sess, pytest.raises(gc.RunError, match=message):
        sess.run(out, {x: np.ones(3, np.float32), y: np.ones(4, np.float32)})


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_an_error_raised_inside_a_fused_loop_names_the_op_that_raised_it(graph, device):
    i = gc.placeholder("int64", (None,), name="i")
    power, line = gc.power(i, i, name="power"), _line()
    out = power * 3 + 1  # fused with the power, which raises for negative exponents
    with gc.Session(device=device) as sess, pytest.raises(gc.RunError) as caught:
        sess.run(out, {i: np.array([2, -1])})
    assert caught.value.where.startswith("node 'power' (Power) created at")
    assert caught.value.where.endswith(f"test_fused.py:{line}")
    assert "negative integer powers" in caught.value.message
