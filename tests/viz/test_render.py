"""``render``: SVG/PNG through ``dot`` (skipped without Graphviz), the format from the suffix or the
argument, a clear error when ``dot`` is missing, and no half-written file when ``dot`` fails."""

import os
import shutil
import stat
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.viz import GraphvizNotFound, render

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")


def _graph_output():
    x = gc.placeholder("float32", (None, 2), name="x")
    with gc.name_scope("layer"):
        return gc.exp(x) * 2.0


def _fake_dot(directory, script: str) -> None:
    """A ``dot`` in ``directory`` running the Python ``script`` (``out`` is the ``-o`` file), so the
    tests need no shell tools on PATH."""
    path = directory / "dot"
    path.write_text(f"#!{sys.executable}\nimport sys\nout = sys.argv[3]\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _unrolled_lstm_step():
    """The optimized training step of an LSTM unrolled over two steps, max-pooled over time: several
    fused groups whose edges end at each other's cluster borders."""
    hidden = 8
    xs = gc.placeholder("float32", (None, 2, 3), name="xs")
    ys = gc.placeholder("float32", (None,), name="ys")
    w = gc.Variable(gc.init.glorot_uniform((3 + hidden, 4 * hidden), seed=0), name="w")
    v = gc.Variable(gc.init.glorot_uniform((hidden, 1), seed=1), name="v")
    h = gc.zeros_like(gc.reduce_sum(xs, axis=(1, 2)))[:, None] * gc.constant(
        np.zeros((1, hidden), np.float32)
    )
    c, outs = h, []
    for xt in gc.unstack(xs, axis=1):
        i, f, o, u = gc.split(gc.concat([xt, h], axis=1) @ w, 4, axis=1)
        c = gc.sigmoid(f + 1.0) * c + gc.sigmoid(i) * gc.tanh(u)
        h = gc.sigmoid(o) * gc.tanh(c)
        outs.append(h)
    loss = gc.reduce_mean(
        gc.square(gc.reshape(gc.reduce_max(gc.stack(outs, axis=1), axis=1) @ v, (-1,)) - ys)
    )
    gw, gv = gc.grad(loss, [w, v])
    return gc.compile([loss], [xs, ys], [(w, w - 0.1 * gw), (v, v - 0.1 * gv)], device="reference")


@needs_dot
def test_a_training_step_with_many_fused_groups_renders(graph, tmp_path):
    # dot's default cluster ranking failed on it: "Error: trouble in init_rank" (exit 1, or an abort)
    path = tmp_path / "step.svg"
    assert render(_unrolled_lstm_step(), path) == str(path)
    assert "<svg" in path.read_text()


@needs_dot
def test_svg_suffix_writes_an_svg_file(graph, tmp_path):
    path = tmp_path / "g.svg"
    assert render(_graph_output(), path) == str(path)
    assert "<svg" in path.read_text()


@needs_dot
def test_png_suffix_writes_a_png_file(graph, tmp_path):
    path = tmp_path / "g.png"
    render(_graph_output(), path, depth=0)
    assert path.read_bytes().startswith(b"\x89PNG")


@needs_dot
def test_format_argument_wins_over_the_suffix(graph, tmp_path):
    path = tmp_path / "picture.out"
    render(_graph_output(), path, format="svg")
    assert "<svg" in path.read_text()


@needs_dot
def test_render_leaves_no_temporary_files(graph, tmp_path):
    render(_graph_output(), tmp_path / "g.svg")
    assert os.listdir(tmp_path) == ["g.svg"]


def test_unknown_format_is_a_value_error(graph, tmp_path):
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        render(_graph_output(), tmp_path / "g.bmp")


def test_negative_depth_is_a_value_error_even_without_graphviz(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot: the argument is checked first all the same
    with pytest.raises(ValueError, match="depth"):
        render(_graph_output(), tmp_path / "g.svg", depth=-1)


def test_missing_dot_raises_graphviz_not_found_with_install_hints(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot anywhere
    with pytest.raises(GraphvizNotFound) as info:
        render(_graph_output(), tmp_path / "g.svg")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "to_dot" in message and "to_html" in message
    assert not (tmp_path / "g.svg").exists()


def test_failing_dot_leaves_the_old_file_and_no_partial_output(graph, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_dot(bin_dir, 'open(out, "w").write("<svg half"); sys.exit("syntax error")')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "g.svg").write_text("old picture")
    with pytest.raises(RuntimeError, match="syntax error"):
        render(_graph_output(), out / "g.svg")
    assert (out / "g.svg").read_text() == "old picture"
    assert os.listdir(out) == ["g.svg"]


def test_dot_receives_the_dot_text_on_stdin(graph, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_dot(bin_dir, 'open(out, "w").write(sys.stdin.read())')  # the "picture" is the DOT text
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "g.svg"
    render(_graph_output(), path, depth=0)
    text = path.read_text()
    assert text.startswith("digraph graphc {") and "layer (3 nodes)" in text


def test_a_lone_surrogate_in_a_name_reaches_dot_as_its_escape(graph, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_dot(bin_dir, 'open(out, "wb").write(sys.stdin.buffer.read())')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    gc.exp(gc.placeholder("float32", (2,), name="x\udce9"))  # an undecodable file-name byte
    path = tmp_path / "g.svg"
    render(graph, path)
    assert 'label="x\\\\udce9\\nPlaceholder"' in path.read_text(encoding="utf-8")
