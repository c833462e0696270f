"""python -m graphc info|viz on a saved graph."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc


@pytest.fixture
def saved(tmp_path):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder("float32", (None, 8), name="x")
        with gc.name_scope("dense"):
            w = gc.Variable(gc.init.glorot_uniform((8, 4), seed=0), name="w")
            y = gc.relu(gc.matmul(x, w) * 1.0)
        loss = gc.reduce_mean(y)
        gc.save_graph([loss, gc.grad(loss, w)], str(tmp_path / "model.json"))
    return tmp_path / "model.json"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True)


def test_info_prints_nodes_parameters_and_flops(saved):
    result = _run("info", str(saved), "--batch", "16")
    assert result.returncode == 0, result.stderr
    assert "parameters: 32" in result.stdout
    # two matmuls of 2 * 16 * 8 * 4 FLOPs at batch 16: the forward one and the weight gradient
    assert f"{2 * 2 * 16 * 8 * 4:,}" in result.stdout
    assert "MatMul" in result.stdout


def test_viz_writes_html_and_dot(saved, tmp_path):
    for name in ("view.html", "view.dot"):
        result = _run("viz", str(saved), "-o", str(tmp_path / name), "--depth", "1")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).stat().st_size > 100


def test_viz_optimized_shows_the_compiled_program(saved, tmp_path):
    result = _run("viz", str(saved), "-o", str(tmp_path / "opt.html"), "--optimized")
    assert result.returncode == 0, result.stderr
    assert "optimization passes" in (tmp_path / "opt.html").read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_viz_renders_svg(saved, tmp_path):
    result = _run("viz", str(saved), "-o", str(tmp_path / "view.svg"))
    assert result.returncode == 0, result.stderr
    assert "<svg" in (tmp_path / "view.svg").read_text()


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    result = _run("info", str(tmp_path / "bad.json"))
    assert result.returncode == 2 and "error:" in result.stderr


def test_unknown_output_suffix_is_refused(saved, tmp_path):
    result = _run("viz", str(saved), "-o", str(tmp_path / "view.txt"))
    assert result.returncode == 2 and ".html" in result.stderr


def test_loaded_graph_runs_like_the_saved_one(saved):
    loaded = gc.load_graph(str(saved))
    x = loaded.graph.get_tensor("x:0")
    with gc.Session(loaded.graph) as sess:
        value = sess.run(loaded.fetches[0], {x: np.ones((2, 8), np.float32)})
    assert np.isfinite(value)
