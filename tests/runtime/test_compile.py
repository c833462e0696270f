"""graphc.compile: what it takes, and the errors for what it does not."""

import contextlib
import os

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, y: gc.compile(y, [x]), r"fetches must be a list, got Tensor \(write \[x\] for one\)"),
        (lambda x, y: gc.compile([y], x), r"feeds must be a list, got Tensor"),
        (lambda x, y: gc.compile([y], None), r"feeds must be a list, got NoneType"),
        (lambda x, y: gc.compile(["sum:0"], [x]), r"fetches must be tensors or ops, got str"),
    ],
)
def test_arguments_that_are_not_lists_of_tensors_are_type_errors_saying_so(graph, call, match):
    x = gc.placeholder("float32", (2,), name="x")
    y = gc.reduce_sum(x * x)
    with pytest.raises(TypeError, match=match):
        call(x, y)


def test_a_variable_updated_twice_is_refused(graph):
    v = gc.Variable(1.0, name="v")
    with pytest.raises(ValueError, match="'v' is updated twice"):
        gc.compile([], updates=[(v, v + 1.0), (v, v * 10.0)], device="reference")


def test_an_update_of_a_variable_an_assignment_of_the_program_writes_is_refused(graph):
    v = gc.Variable(1.0, name="v")
    w = gc.Variable(1.0, name="w")
    with pytest.raises(ValueError, match="'v' is updated and also written by node 'assign'"):
        gc.compile([gc.assign(v, 5.0)], updates=[(v, v + 1.0)], device="reference")
    gc.compile([gc.assign(w, 5.0)], updates=[(v, v + 1.0)], device="reference")  # another variable


def test_updates_may_be_a_dict_as_graphc_function_takes_them(graph):
    v = gc.Variable(1.0, name="v")
    exe = gc.compile([], updates={v: v + 1.0}, device="reference")
    with gc.Session(device="reference") as sess:
        sess.execute(exe, [])
        assert sess.run(v) == 2.0


def test_a_relative_graphc_dump_stays_where_it_was_when_compiled(graph, tmp_path, monkeypatch):
    # the run plan's driver is written at the first run, after the working directory changed
    (tmp_path / "first").mkdir()
    (tmp_path / "later").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    monkeypatch.setenv("GRAPHC_DUMP", "dump")
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([gc.exp(x) * 2.0], feeds=[x])
    monkeypatch.chdir(tmp_path / "later")
    with gc.Session() as sess:
        sess.execute(exe, [np.ones(3, np.float32)])
    (folder,) = (tmp_path / "first" / "dump").iterdir()
    assert "__plan_3__.py" in os.listdir(folder / "kernels")
    assert not (tmp_path / "later" / "dump").exists()


def test_a_graphc_dump_that_is_a_file_is_an_error_naming_the_setting(graph, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "file"))
    x = gc.placeholder("float32", (None,), name="x")
    with pytest.raises(NotADirectoryError, match=r"GRAPHC_DUMP=.*file cannot hold dumps"):
        gc.compile([gc.exp(x)], feeds=[x])


def test_graphc_dump_shows_the_program_that_runs_unoptimized(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([x * 1.0], feeds=[x], device="reference", optimize=False)
    (folder,) = tmp_path.iterdir()
    assert exe.program is exe.source and exe.stats == []
    assert "Multiply" in (folder / "00-input.txt").read_text()


def test_graphc_dump_of_a_fetch_named_past_file_name_limits_still_compiles(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    x = gc.placeholder("float32", (None,), name="x")
    with contextlib.ExitStack() as scopes:  # deep name scopes: a name of 300 characters
        for k in range(10):
            scopes.enter_context(gc.name_scope(f"a_long_scope_name_number_{k}"))
        y = gc.exp(x, name="out")
    assert len(y.node.name) > 255
    gc.compile([y], feeds=[x], device="reference")
    (folder,) = tmp_path.iterdir()
    assert folder.name.split("-", 1)[1].startswith("a_long_scope_name_number_0") and len(folder.name) < 100


@pytest.mark.parametrize(("dtype", "shape"), [("float64", (4,)), ("int32", (2, 2))], ids=["dtype", "shape"])
def test_a_variable_read_of_another_type_than_its_variable_is_refused_naming_the_node(graph, dtype, shape):
    # Variable makes its reads of its own type; one made by gc.apply or from an edited file may claim
    # another: the CPU handed b's int32[4] value on as f64[4], and r + zeros(4) returned int32 [0 1 2 3]
    gc.Variable(np.arange(4, dtype=np.int32), name="b")
    r = gc.apply(gc.ir.OPS["ReadVariable"]("b", np.dtype(dtype), shape), [], name="r")
    with pytest.raises(
        gc.ShapeError if dtype == "int32" else gc.DTypeError, match=r"node 'r' .*variable 'b'"
    ):
        gc.compile([r])


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_a_tensor_listed_twice_in_feeds_is_a_feed_error_naming_it(graph, device):
    x = gc.placeholder("float32", (2,), name="x")
    with pytest.raises(gc.FeedError, match=r"node 'x' .*feeds list x:0 twice \(feeds 0 and 1\)"):
        gc.compile([x * 2.0], [x, x], device=device)
