"""The numpy interpreter (runtime/reference/interpreter.py): its errors, as the CPU device gives them."""

import numpy as np
import pytest

import graphc as gc


def _message(device, fn, *values):
    with pytest.raises(gc.RunError) as info:
        gc.function(*fn, device=device)(*values)
    return str(info.value)


def test_a_run_time_shape_the_op_refuses_gets_the_ops_words_on_both_devices(graph):
    x = gc.placeholder("float32", (2, None), name="x")
    y = gc.placeholder("float32", (None, 4), name="y")
    fn = ([x, y], gc.matmul(x, y, name="prod"))
    values = np.ones((2, 3), np.float32), np.ones((5, 4), np.float32)
    reference = _message("reference", fn, *values)
    assert "node 'prod'" in reference and "inner dimensions differ" in reference
    assert "gufunc" not in reference  # numpy's words for the same mismatch
    assert reference == _message("cpu", fn, *values)


def test_a_failure_the_ops_rule_does_not_explain_keeps_numpys_words(graph):
    x = gc.placeholder("float32", (3, 2), name="x")
    i = gc.placeholder("int64", (None,), name="i")
    message = _message("reference", ([x, i], gc.take(x, i, name="gather")), np.zeros((3, 2), np.float32), [5])
    assert "node 'gather'" in message and "IndexError" in message
