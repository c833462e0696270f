"""python -m graphc info|viz on a saved graph."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.cli import main


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


def _user_error(capsys, *args) -> str:
    """Run the command line in this process (faster than ``_run``); a user error must come back as exit
    status 2 with one ``error:`` line naming the problem, not as an exception. Returns that line."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_info_prints_nodes_parameters_and_flops(saved):
    result = _run("info", str(saved), "--batch", "16")
    assert result.returncode == 0, result.stderr
    assert "parameters: 32" in result.stdout
    # two matmuls of 2 * 16 * 8 * 4 FLOPs at batch 16: the forward one and the weight gradient
    assert f"{2 * 2 * 16 * 8 * 4:,}" in result.stdout
    assert "MatMul" in result.stdout


def test_info_into_a_pipe_closed_early_ends_without_a_traceback(saved):
    # `python -m graphc info model.json | head -1`: the reader is gone before the report is printed
    cmd = [sys.executable, "-m", "graphc", "info", str(saved)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.close()  # long before the command has imported graphc and loaded the graph
        err = proc.stderr.read().decode()
    assert proc.returncode == 1
    assert err == ""


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


def test_a_graph_path_ending_in_npz_is_a_clear_error(saved, capsys):
    assert "model.npz" in _user_error(capsys, "info", str(saved.with_suffix(".npz")))


def test_a_directory_as_the_graph_path_is_a_clear_error(saved, capsys, monkeypatch):
    monkeypatch.chdir(saved.parent)
    assert _user_error(capsys, "info", ".").startswith(("error: .:", "error: cannot load .:"))


@pytest.mark.parametrize("name", ["view.html", "view.dot"])
def test_an_output_folder_that_does_not_exist_is_a_clear_error(saved, tmp_path, capsys, name):
    out = tmp_path / "missing" / name
    assert f"cannot write {out}: No such file or directory" in _user_error(
        capsys, "viz", str(saved), "-o", str(out)
    )


def test_a_failed_dot_write_leaves_no_temporary_file(saved, tmp_path, capsys):
    (tmp_path / "view.dot").mkdir()  # the rename onto it fails
    assert "view.dot" in _user_error(capsys, "viz", str(saved), "-o", str(tmp_path / "view.dot"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz", "view.dot"]


@pytest.mark.parametrize("option", [["viz", "-o", "view.dot", "--depth", "-1"], ["info", "--batch", "-5"]])
def test_a_negative_depth_or_batch_is_a_usage_error(saved, capsys, option):
    command, *rest = option
    with pytest.raises(SystemExit) as exit_:
        main([command, str(saved), *rest])
    assert exit_.value.code == 2 and "must be >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["view.HTML", "view.Dot"])
def test_output_suffixes_are_matched_in_any_case(saved, tmp_path, capsys, name):
    assert main(["viz", str(saved), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / name).stat().st_size > 100


def test_loaded_graph_runs_like_the_saved_one(saved):
    loaded = gc.load_graph(str(saved))
    x = loaded.graph.get_tensor("x:0")
    with gc.Session(loaded.graph) as sess:
        value = sess.run(loaded.fetches[0], {x: np.ones((2, 8), np.float32)})
    assert np.isfinite(value)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [("GRAPHC_OPTIMIZE", "maybe", "GRAPHC_OPTIMIZE='maybe'"), ("GRAPHC_DUMP", "a-file", "GRAPHC_DUMP=")],
)
def test_a_bad_compile_setting_under_optimized_is_a_clear_error(
    saved, tmp_path, capsys, monkeypatch, setting, value, named
):
    if setting == "GRAPHC_DUMP":  # a file where the dump folder should go
        (tmp_path / value).write_text("")
        value = str(tmp_path / value)
    monkeypatch.setenv(setting, value)
    err = _user_error(capsys, "viz", str(saved), "-o", str(tmp_path / "view.html"), "--optimized")
    assert "cannot compile" in err and named in err
    assert not (tmp_path / "view.html").exists()
