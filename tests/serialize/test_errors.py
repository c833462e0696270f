"""Files that cannot be loaded (missing, truncated, corrupt, another format or version, unknown ops,
missing arrays) and graphs that cannot be saved give a SerializationError naming the file and problem;
saving writes both files atomically."""

import json
import os
import re
from fractions import Fraction

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS, GraphcError
from graphc.serialize import SerializationError, codec, load_graph, save_graph


@pytest.fixture
def saved(graph, tmp_path):
    """A small saved model: (json path, npz path)."""
    x = gc.placeholder("float32", (None, 2), name="x")
    w = gc.Variable([[1.0], [2.0]], name="w")
    gc.exp(x @ w + gc.constant(1.0), name="y")
    path = tmp_path / "model.json"
    save_graph(graph, path)
    return path, tmp_path / "model.npz"


def _edit(path, change, keep_checksum=False):
    """Change the saved JSON as a user editing it on purpose would (deleting its checksum), or, with
    ``keep_checksum``, as corruption would."""
    doc = json.loads(path.read_text())
    if not keep_checksum:
        del doc["checksum"]
    change(doc)
    path.write_text(json.dumps(doc))


def _node(doc, name):
    return next(n for n in doc["nodes"] if n["name"] == name)


def _load_error(path) -> str:
    with pytest.raises(SerializationError) as info:
        load_graph(path)
    assert isinstance(info.value, GraphcError)
    return str(info.value)


def test_missing_file_is_reported(tmp_path):
    message = _load_error(tmp_path / "nothing.json")
    assert "nothing.json" in message and "no such file" in message


def test_non_json_file_is_reported(saved):
    path, _ = saved
    path.write_text("graph { x = 1 }")
    message = _load_error(path)
    assert str(path) in message and "not a graphc graph file" in message


def test_truncated_json_is_reported(saved):
    path, _ = saved
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    assert "truncated" in _load_error(path)


def test_other_format_is_reported(saved):
    path, _ = saved
    _edit(path, lambda doc: doc.update(format="onnx"))
    message = _load_error(path)
    assert "'onnx'" in message and "'graphc-graph'" in message


def test_unknown_version_names_the_supported_ones(saved):
    path, _ = saved
    _edit(path, lambda doc: doc.update(version=99))
    message = _load_error(path)
    assert "version 99 is not supported" in message and "reads version 1" in message


def test_unknown_op_names_the_node_and_op(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "y").update(op="Exq"))
    message = _load_error(path)
    assert "'y'" in message and "unknown op 'Exq'" in message and str(path) in message


def test_missing_npz_is_reported(saved):
    path, npz = saved
    os.remove(npz)
    message = _load_error(path)
    assert str(npz) in message and "missing" in message


def test_truncated_npz_fails_its_checksum(saved):
    path, npz = saved
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    message = _load_error(path)
    assert str(npz) in message and "checksum" in message


def test_missing_array_key_names_the_node(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "const")["attrs"].update(value={"array": "a99"}))
    message = _load_error(path)
    assert "'const'" in message and "no array 'a99'" in message


def test_missing_variable_value_names_the_variable(saved):
    path, _ = saved
    _edit(path, lambda doc: doc["variables"][0].update(value="v99"))
    message = _load_error(path)
    assert "variable 'w'" in message and "no array 'v99'" in message


def test_types_that_do_not_reinfer_are_corrupt(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "y")["outputs"][0].update(shape=[None, 7]))
    message = _load_error(path)
    assert "corrupt" in message and "'y'" in message and "f32[?,7]" in message


def test_input_from_a_later_node_is_corrupt(saved):
    path, _ = saved
    _edit(path, lambda doc: doc["nodes"][0]["inputs"].append([5, 0]))
    assert "corrupt" in _load_error(path)


def test_duplicate_node_names_are_corrupt(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "y").update(name="x"))
    assert "used twice" in _load_error(path)


def test_npz_path_is_refused_as_the_graph_path(graph, tmp_path):
    gc.placeholder("float32", (2,), name="x")
    with pytest.raises(ValueError, match="JSON path"):
        save_graph(graph, tmp_path / "model.npz")


def test_unsupported_attribute_names_the_node_and_writes_nothing(graph, tmp_path):
    # an attribute the op does not check (Pad now refuses a Fraction fill: float32 cannot hold 1/3)
    gc.apply(OPS["RandomUniform"]((2,), np.dtype("float32"), stream=Fraction(1, 3)), [], name="odd")
    with pytest.raises(SerializationError, match="node 'odd'.*Fraction"):
        save_graph(graph, tmp_path / "model.json")
    assert os.listdir(tmp_path) == []


def test_session_of_another_graph_is_refused(graph, tmp_path):
    gc.Variable(1.0, name="v")
    with gc.Session(gc.Graph()) as other, pytest.raises(gc.GraphMismatchError):
        save_graph(graph, tmp_path / "model.json", session=other)


def test_saving_over_a_model_replaces_both_files_and_leaves_no_temporaries(saved, graph):
    path, npz = saved
    gc.negative(graph.get_tensor("y"), name="z")
    save_graph(graph, path)
    assert sorted(os.listdir(path.parent)) == ["model.json", "model.npz"]
    assert load_graph(path).tensor("z").name == "z:0"
    with gc.Session(load_graph(path).graph) as sess:
        np.testing.assert_allclose(sess.run("z:0", {"x": [[0.0, 0.0]]}), -np.exp([[1.0]]), rtol=1e-6)


def test_a_changed_value_that_keeps_the_checksum_is_refused(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "y").update(name="y2"), keep_checksum=True)
    assert "does not match its checksum" in _load_error(path)


def test_an_edited_file_without_its_checksum_loads(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "y").update(name="y2"))
    assert load_graph(path).tensor("y2").name == "y2:0"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda doc: doc.update(arrays=[1]), "'arrays' is not an object"),
        (lambda doc: doc.update(seed="abc"), "seed 'abc' is not an integer"),
        (lambda doc: doc.update(version=True), "version True is not supported"),
        (lambda doc: _node(doc, "x").update(name=5), "the name 5 is not a non-empty string"),
        (lambda doc: _node(doc, "y").update(inputs=[[0, -1]]), r"reference \[0, -1\]"),
        (lambda doc: doc["variables"][0].update(trainable="no"), "'trainable' is not a boolean"),
        (lambda doc: _node(doc, "x").update(grad_of=2), "not an earlier node"),
    ],
    ids=["arrays", "seed", "version", "name", "output-index", "trainable", "grad-of-later"],
)
def test_malformed_fields_are_corrupt(saved, change, expected):
    path, _ = saved
    _edit(path, change)
    assert re.search(expected, _load_error(path))


def test_deeply_nested_json_is_reported(saved):
    path, _ = saved
    nested = "[" * 100_000 + "]" * 100_000
    path.write_text('{"format": "graphc-graph", "version": 1, "nodes": ' + nested + "}")
    assert "nested too deeply" in _load_error(path)


def _save_with_the_disk_full_at_the_json(graph, path, monkeypatch, module, name: str, target_of) -> None:
    """``save_graph`` with ``module.name`` failing as a full disk where ``target_of(*args)`` (the file
    it writes) is the JSON file: the save raises, and the patch is undone."""
    real = getattr(module, name)

    def disk_full_at_the_json(*args):
        if str(target_of(*args)).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(module, name, disk_full_at_the_json)
    with pytest.raises(OSError, match="No space"):
        save_graph(graph, path)
    monkeypatch.undo()


def test_a_failed_save_leaves_the_previous_model_loadable(saved, graph, monkeypatch):
    path, npz = saved
    gc.negative(graph.get_tensor("y"), name="z")
    _save_with_the_disk_full_at_the_json(graph, path, monkeypatch, os, "replace", lambda src, dst: dst)
    assert sorted(os.listdir(path.parent)) == ["model.json", "model.npz"]  # no temporaries either
    loaded = load_graph(path)
    assert "z" not in [n.name for n in loaded.graph.nodes] and "y" in [n.name for n in loaded.graph.nodes]


def test_a_failed_first_save_leaves_no_npz(graph, tmp_path, monkeypatch):
    gc.Variable(1.0, name="w")
    path = tmp_path / "model.json"
    # with no previous pair to restore, the new npz stayed behind, naming no JSON
    _save_with_the_disk_full_at_the_json(graph, path, monkeypatch, os, "replace", lambda src, dst: dst)
    assert os.listdir(tmp_path) == []


def test_a_seed_that_is_not_an_integer_is_refused_before_writing(graph, tmp_path):
    gc.placeholder("float32", (2,), name="x")
    graph.seed = 1.5
    with pytest.raises(SerializationError, match="graph seed 1.5"):
        save_graph(graph, tmp_path / "model.json")
    assert os.listdir(tmp_path) == []


def test_graph_files_differing_in_their_last_suffix_keep_their_own_arrays(tmp_path):
    for step, value in [(100, 1.0), (200, 2.0)]:
        g = gc.Graph()
        with g.as_default():
            gc.Variable([value], name="w")
        save_graph(g, tmp_path / f"ckpt.step{step}")
    files = ["ckpt.step100", "ckpt.step100.npz", "ckpt.step200", "ckpt.step200.npz"]
    assert sorted(os.listdir(tmp_path)) == files
    assert load_graph(tmp_path / "ckpt.step100").variables["w"].initial_value[0] == 1.0
    assert load_graph(tmp_path / "ckpt.step200").variables["w"].initial_value[0] == 2.0


def test_a_directory_path_is_refused(graph):
    with pytest.raises(SerializationError, match="not a directory"):
        save_graph(graph, ".")


def test_a_file_saved_with_the_earlier_npz_name_still_loads(saved):
    path, npz = saved
    older = path.with_name("model.graph")  # earlier versions paired model.graph with model.npz
    path.rename(older)
    assert load_graph(older).tensor("y").name == "y:0"


def test_deleting_the_checksum_line_by_hand_leaves_a_loadable_file(saved):
    path, _ = saved
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.lstrip().startswith('"checksum"')))
    assert load_graph(path).tensor("y").name == "y:0"


@pytest.mark.parametrize("number", ["1e999", "NaN"])
def test_a_number_save_graph_never_writes_fails_the_checksum(saved, number):
    path, _ = saved
    text = path.read_text()
    path.write_text(text.replace('"random_ops": 0', f'"random_ops": {number}', 1))
    assert "does not match its checksum" in _load_error(path)


def test_an_integer_too_long_to_read_is_reported(saved):
    path, _ = saved
    text = path.read_text()
    path.write_text(text.replace('"random_ops": 0', '"random_ops": 1' + "0" * 5000, 1))
    message = _load_error(path)
    assert str(path) in message and "not a graphc graph file" in message


def test_a_save_that_cannot_write_the_json_leaves_no_temporary_npz(saved, graph, monkeypatch):
    path, npz = saved
    gc.negative(graph.get_tensor("y"), name="z")
    _save_with_the_disk_full_at_the_json(
        graph, path, monkeypatch, codec, "_temporary", lambda target, data: target
    )
    assert sorted(os.listdir(path.parent)) == ["model.json", "model.npz"]
    assert "z" not in [n.name for n in load_graph(path).graph.nodes]


def test_a_closed_session_is_refused_instead_of_saving_initial_values(graph, tmp_path):
    w = gc.Variable(0.0, name="w")
    step = gc.assign_add(w, 1.0)
    with gc.Session() as sess:
        sess.run(step)
    with pytest.raises(RuntimeError, match="session is closed"):
        save_graph(graph, tmp_path / "model.json", session=sess)
    assert os.listdir(tmp_path) == []


def test_a_function_given_as_the_session_is_a_type_error_pointing_at_its_session(graph, tmp_path):
    w = gc.Variable(1.0, name="w")
    train = gc.function([], [], updates=[(w, w * 0.5)])
    train()
    # it failed with "'Function' object has no attribute 'graph'"
    with pytest.raises(TypeError, match=r"session must be a graphc.Session, got Function; .* its .session"):
        save_graph(graph, tmp_path / "model.json", session=train)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("file", ["", ".."], ids=["empty", "parent"])
def test_an_npz_name_that_is_no_file_name_reports_the_missing_npz(saved, file):
    path, npz = saved
    os.remove(npz)
    _edit(path, lambda doc: doc["arrays"].update(file=file))
    message = _load_error(path)
    assert str(npz) in message and "missing" in message


def test_an_unsupported_dtype_edited_into_a_file_is_corrupt(graph, tmp_path):
    x = gc.placeholder("float32", (2,), name="x")
    gc.cast(x, "float64", name="y")
    path = tmp_path / "model.json"
    save_graph(graph, path)

    def to_float16(doc):
        _node(doc, "y")["attrs"]["dtype"] = {"dtype": "float16"}
        _node(doc, "y")["outputs"][0]["dtype"] = "float16"

    _edit(path, to_float16)
    message = _load_error(path)
    assert "'y'" in message and "(Cast)" in message and "unsupported dtype float16" in message


@pytest.mark.parametrize(("first", "second"), [("ckpt", "ckpt.json"), ("ckpt.json", "ckpt")])
def test_a_save_that_would_overwrite_another_graph_files_arrays_is_refused(tmp_path, first, second):
    for name, value in [(first, 1.0), (second, 2.0)]:
        g = gc.Graph()
        with g.as_default():
            gc.Variable([value], name="w")
        if name == second:
            with pytest.raises(SerializationError, match=f"holds the arrays of the graph file .*{first}"):
                save_graph(g, tmp_path / name)
        else:
            save_graph(g, tmp_path / name)
    assert load_graph(tmp_path / first).variables["w"].initial_value[0] == 1.0


def test_a_file_that_is_no_graph_does_not_stop_a_save_beside_it(graph, tmp_path):
    gc.Variable([1.0], name="w")
    (tmp_path / "model").write_text("notes, not a graph")
    save_graph(graph, tmp_path / "model.json")
    assert load_graph(tmp_path / "model.json").variables["w"].initial_value[0] == 1.0


@pytest.mark.parametrize(("offset", "value"), [(10, 99), (8, 1)], ids=["compression-method", "encrypted"])
def test_a_damaged_zip_header_in_an_unchecked_npz_is_reported(saved, offset, value):
    path, npz = saved
    _edit(path, lambda doc: doc["arrays"].update(sha256=None))  # a file without the npz checksum
    data = bytearray(npz.read_bytes())
    data[data.index(b"PK\x01\x02") + offset] = value  # a field of the first central directory entry
    npz.write_bytes(bytes(data))
    message = _load_error(path)
    assert str(npz) in message and "corrupt array file" in message


def test_an_attribute_out_of_its_dtypes_range_is_corrupt(saved):
    path, _ = saved
    _edit(path, lambda doc: _node(doc, "x")["attrs"].update(shape=[{"scalar": 2**70, "dtype": "int64"}, 2]))
    message = _load_error(path)
    assert "'x'" in message and "corrupt file" in message


@pytest.mark.parametrize("umask", [0o077, 0o022], ids=["umask-077", "umask-022"])
def test_saved_files_get_the_mode_the_umask_gives_new_files(graph, tmp_path, umask):
    gc.Variable([1.0], name="w")
    old = os.umask(umask)
    try:
        save_graph(graph, tmp_path / "model.json")
    finally:
        os.umask(old)
    for name in ("model.json", "model.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
