"""The pass manager and compile(): stats, dumps, verification naming the pass, the optimize flag."""

import os

import numpy as np
import pytest

import graphc as gc
from graphc.ir.graph import Graph
from graphc.ops.shape import Reshape
from graphc.passes.builder import GraphBuilder
from graphc.passes.manager import PassManager
from graphc.passes.verify import VerifyError
from tests.passes.helpers import program


def test_compile_reports_per_pass_statistics(graph):
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([x * (gc.constant(2.0) * 3.0) + gc.exp(x) * 0.0], feeds=[x])
    names = [s.name for s in exe.stats]
    assert names[0] == "prune" and "fold_constants" in names
    assert all(s.seconds >= 0 and s.nodes_after >= 0 for s in exe.stats)
    assert len(exe.program.nodes) < len(exe.source.nodes)
    text = exe.dump()
    assert "fold_constants" in text and "Multiply" in text


def test_optimize_false_runs_the_graph_as_written(graph):
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([x * (gc.constant(2.0) * 3.0)], feeds=[x], optimize=False)
    assert exe.stats == [] and exe.program is exe.source
    with gc.Session(optimize=False) as sess:
        assert sess.run(x * 2.0, {x: [1.0]})[0] == 2.0


def test_graphc_dump_writes_the_graph_after_every_pass(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([x * (gc.constant(2.0) * 3.0)], feeds=[x])
    (folder,) = tmp_path.iterdir()  # one folder per compile
    tmp_path = folder
    files = sorted(os.listdir(tmp_path))
    assert "00-input.txt" in files and "00-input.dot" in files and "rules.txt" in files
    assert len([f for f in files if f[:2].isdigit() and f.endswith(".txt")]) == len(exe.stats) + 1
    assert len([f for f in files if f.endswith(".dot")]) == len(exe.stats) + 1
    last = sorted(f for f in files if f[:2].isdigit())[-1].rsplit(".", 1)[0]
    assert "Multiply" in (tmp_path / f"{last}.txt").read_text()
    assert "Multiply" in (tmp_path / f"{last}.dot").read_text()


def _exp_replaced_by(op, name: str):
    """A broken pass named ``name``: it gives every Exp node ``op``, whose rule does not fit the node."""

    def broken(graph: Graph) -> Graph:
        builder = GraphBuilder(graph)
        for node in graph.nodes:
            new = builder.copy(node)
            if node.op.type_name == "Exp":
                new.op = op
        return builder.finish()

    broken.__name__ = name
    return broken


# a different output type; a rule that refuses the node's input
_break_types = _exp_replaced_by(gc.ops.elementwise.Cast(np.dtype("float64")), "_break_types")
_break_inputs = _exp_replaced_by(Reshape((4,)), "_break_inputs")


def test_verify_names_the_pass_that_broke_the_graph(graph):
    x = gc.placeholder("float32", (3,), name="x")
    prog = program([gc.exp(x)], [x])
    manager = PassManager([_break_types], verify=True)
    with pytest.raises(VerifyError, match=r"after pass '_break_types'.*stored types differ"):
        manager.run(prog)


def test_verify_names_the_pass_whose_node_cannot_be_re_inferred(graph):
    x = gc.placeholder("float32", (3,), name="x")
    prog = program([gc.exp(x)], [x])
    manager = PassManager([_break_inputs], verify=True)
    with pytest.raises(VerifyError, match=r"after pass '_break_inputs'.*node 'exp'.*cannot reshape"):
        manager.run(prog)


def _forgot_return(graph: Graph) -> Graph:
    """A broken pass: builds nothing and returns nothing."""


def test_a_pass_that_returns_no_graph_is_named(graph):
    x = gc.placeholder("float32", (3,), name="x")
    prog = program([gc.exp(x)], [x])
    with pytest.raises(TypeError, match="pass '_forgot_return' returned NoneType, not a Graph"):
        PassManager([_forgot_return]).run(prog)


def test_session_runs_through_the_pipeline_by_default(graph):
    x = gc.placeholder("float32", (None,), name="x")
    y = x * (gc.constant(2.0) * 3.0)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1.0]}), [6.0])
        exe = next(iter(sess._cache.values()))[0]
    assert exe.stats and "fold_constants" in [s.name for s in exe.stats]


def test_graphc_dump_gives_each_compile_its_own_folder(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    x = gc.placeholder("float32", (None,), name="x")
    gc.compile([gc.exp(x, name="first")], feeds=[x])
    gc.compile([gc.log(x, name="second")], feeds=[x])
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2 and folders[0].endswith("-first_0") and folders[1].endswith("-second_0")
    assert "Exp" in (tmp_path / folders[0] / "00-input.txt").read_text()
    assert "Log" in (tmp_path / folders[1] / "00-input.txt").read_text()


def test_graphc_dump_writes_a_file_name_python_could_not_decode_as_its_escape(graph, tmp_path, monkeypatch):
    # the text dump holds each node's file:line; a lone surrogate there failed the compile with a
    # UnicodeEncodeError and left a temporary file in the dump folder
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    with graph.located_at(("/home/u/tr\udce9in.py", 3)):
        x = gc.placeholder("float32", (None,), name="x")
        gc.compile([gc.exp(x, name="e")], feeds=[x])
    (folder,) = tmp_path.iterdir()
    assert not [f for f in os.listdir(folder) if ".tmp" in f]
    assert "tr\\udce9in.py:3" in (folder / "00-input.txt").read_text(encoding="utf-8")


def test_graphc_optimize_false_spelled_out_turns_the_pipeline_off(graph, monkeypatch):
    monkeypatch.setenv("GRAPHC_OPTIMIZE", "false")
    x = gc.placeholder("float32", (None,), name="x")
    exe = gc.compile([x * (gc.constant(2.0) * 3.0)], feeds=[x], device="reference")
    assert exe.stats == [] and exe.program is exe.source


def test_graphc_verify_true_spelled_out_verifies(graph, monkeypatch):
    monkeypatch.setenv("GRAPHC_VERIFY", "true")
    x = gc.placeholder("float32", (3,), name="x")
    with pytest.raises(VerifyError, match="after pass '_break_types'"):
        PassManager([_break_types]).run(program([gc.exp(x)], [x]))


@pytest.mark.parametrize("variable", ["GRAPHC_OPTIMIZE", "GRAPHC_VERIFY"])
def test_a_setting_that_is_not_on_or_off_is_refused_naming_it(graph, monkeypatch, variable):
    monkeypatch.setenv(variable, "sometimes")
    x = gc.placeholder("float32", (None,), name="x")
    with pytest.raises(ValueError, match=rf"{variable}='sometimes' is not an on/off setting"):
        gc.compile([x * 2.0], feeds=[x], device="reference")
