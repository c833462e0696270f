"""``save_graph``: write a graph, or what some fetches need, as JSON plus an npz of its arrays."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from graphc.ir.errors import GraphMismatchError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.op import Op
from graphc.ir.printing import ancestors
from graphc.serialize.codec import (
    FORMAT,
    VERSION,
    SerializationError,
    content_checksum,
    dumps,
    encode_attrs,
    paths,
    type_json,
    write_pair_atomically,
)


def _var_names(op: Op) -> tuple[str, ...]:
    """The variables a state op names (ReadVariable/Assign*: ``var_name``; InitVariables: ``var_names``)."""
    one = getattr(op, "var_name", None)
    return ((one,) if isinstance(one, str) else ()) + tuple(getattr(op, "var_names", ()))


def _select(x) -> tuple[Graph, list[Node], list[Tensor | Node]]:
    """(graph, nodes to save in graph order, fetches) for a graph, an executable or tensors/ops."""
    program = getattr(x, "program", None)
    if isinstance(program, Graph):  # a compiled executable: its optimized program
        x = program
    if isinstance(x, Graph):
        return x, list(x.nodes), []
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    for item in items:
        if not isinstance(item, (Tensor, Node)):
            raise TypeError(f"save_graph saves a Graph or tensors/ops, got {type(item).__name__}")
    if not items:
        raise ValueError("save_graph: nothing to save (an empty list of fetches)")
    graph = items[0].graph
    if any(item.graph is not graph for item in items):
        raise GraphMismatchError("save_graph: the fetches belong to different graphs")
    # the fetches' ancestors plus the variables their state ops refer to, so a read_value() or an
    # assignment loads with its variable, and the forward nodes of gradient nodes, so grad_of survives
    roots, nodes = list(items), ancestors(items)
    while True:
        names = dict.fromkeys(n for node in nodes for n in _var_names(node.op))
        owners = [v.node for v in (graph.variables.get(n) for n in names) if v is not None]
        have = set(nodes)
        extra = [
            n
            for n in dict.fromkeys(owners + [node.grad_of for node in nodes if node.grad_of is not None])
            if n.graph is graph and n not in have
        ]
        if not extra:
            return graph, nodes, items
        roots += extra
        nodes = ancestors(roots)


def save_graph(graph_or_fetches, path: str | os.PathLike, session=None) -> None:
    """Save a graph, or what the given tensors/ops need, to ``path`` (JSON) and its ``.npz`` companion.

    Args:
        graph_or_fetches: a ``Graph`` (all of it; a compiled executable saves its optimized program,
            for reading and drawing: its ``updates`` are nodes computing the new values, not
            assignments, so the loaded program changes no variable), or a tensor, an op, or a list of
            them (saved as the loaded graph's ``fetches``, with everything they depend on and the
            variables they use; save ``assign`` ops, or a ``group`` of them, to keep a training step).
        path: the JSON file, e.g. ``model.json``; the arrays go to ``model.npz`` beside it.
        session: when given, variables are saved with their current values in this session (those it
            has not initialized yet, and all when no session is given, with their initial values).

    Raises:
        SerializationError: an attribute value of a type the format cannot hold.
        TypeError: ``session`` is not a ``Session`` (a ``graphc.function``: pass its ``.session``).
        RuntimeError: ``session`` is closed (its variable values are gone).

    Example:
        >>> import os, tempfile
        >>> import graphc as gc
        >>> from graphc.serialize import load_graph, save_graph
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     w = gc.Variable([[1.0], [2.0]], name="w")
        ...     y = gc.matmul(x, w, name="y")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     save_graph(y, os.path.join(d, "model.json"))
        ...     loaded = load_graph(os.path.join(d, "model.json"))
        >>> with gc.Session(loaded.graph) as sess:
        ...     sess.run(loaded.fetches[0], {"x": [[1.0, 1.0]]})
        array([[3.]], dtype=float32)
    """
    if session is not None and not (hasattr(session, "graph") and hasattr(session, "_values")):
        # a graphc.function (the Theano-style training step) failed with "'Function' object has no
        # attribute 'graph'"; the serializer sits below the runtime, so a session is known by duck typing
        hint = "; for a graphc.function, pass its .session" if hasattr(session, "session") else ""
        raise TypeError(f"save_graph's session must be a graphc.Session, got {type(session).__name__}{hint}")
    json_path, npz_path = paths(path)
    _check_npz_not_shared(json_path, npz_path)
    graph, nodes, fetches = _select(graph_or_fetches)
    if session is not None and session.graph is not graph and session.graph.variables is not graph.variables:
        raise GraphMismatchError("save_graph: the session runs another graph than the one saved")
    if getattr(session, "_closed", False):
        # closing released the values: saving would write the initial values as if they were trained
        raise RuntimeError(
            "save_graph: the session is closed and holds no variable values any more; save while it "
            "is open (inside its `with` block)"
        )
    index = {node: i for i, node in enumerate(nodes)}
    arrays: dict[str, np.ndarray] = {}

    def ref(t: Tensor) -> list[int]:
        return [index[t.node], t.index]

    records = []
    for node in nodes:
        try:
            attrs = encode_attrs(node.op, arrays)
        except TypeError as e:
            raise SerializationError(f"{json_path}: cannot save {node.where}: {e}") from None
        records.append(
            {
                "name": node.name,
                "op": node.op.type_name,
                "attrs": attrs,
                "inputs": [ref(t) for t in node.inputs],
                "control": [index[n] for n in node.control_inputs],
                "location": [str(node.location[0]), int(node.location[1])],
                "grad_of": index.get(node.grad_of) if node.grad_of is not None else None,
                "outputs": [type_json(t.type) for t in node.outputs],
            }
        )
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "seed": _seed(graph, json_path),
        "random_ops": int(graph.random_ops),
        "arrays": {"file": npz_path.name, "sha256": None},
        "nodes": records,
        "variables": _variable_records(graph, nodes, fetches, session, arrays),
        "fetches": [_fetch_record(f, index) for f in fetches],
    }
    if not fetches:  # a whole graph: keep a program graph's interface
        doc["program"] = {
            "inputs": [ref(t) for t in graph.inputs],
            "outputs": [ref(t) for t in graph.outputs],
            "targets": [index[n] for n in graph.targets],
        }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    doc["arrays"]["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        # first, so that deleting its line (to load a file edited by hand) leaves valid JSON
        doc = {"checksum": content_checksum(doc), **doc}
        text = dumps(doc)
    except (TypeError, ValueError) as e:
        raise SerializationError(f"{json_path}: cannot save: {e}") from None
    # everything is encoded before any file is touched; the npz goes first, so a JSON file never names
    # arrays that are not on disk, and a failure puts the old npz back
    write_pair_atomically((npz_path, data), (json_path, text.encode()))


def _check_npz_not_shared(json_path: Path, npz_path: Path) -> None:
    """Refuse to overwrite the arrays of another graph file: ``S.json`` and ``S`` both pair with
    ``S.npz`` (``paths``), so saving one would silently break the other (its checksum no longer
    matches: the arrays are gone)."""
    stem = npz_path.with_name(npz_path.name[: -len(".npz")])
    other = stem if json_path.suffix == ".json" else stem.with_name(stem.name + ".json")
    if other.suffix == ".npz" or not npz_path.exists() or not other.is_file() or paths(other)[1] != npz_path:
        return
    try:
        with other.open("rb") as f:  # a graph file, or anything else of that name (a big binary)
            if f.read(1) != b"{":
                return
        doc = json.loads(other.read_bytes())
    except (OSError, ValueError, RecursionError):
        return
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        raise SerializationError(
            f"{json_path}: its arrays would go to {npz_path}, which holds the arrays of the graph file "
            f"{other}; save under another name (or delete {other} first)"
        )


def _seed(graph: Graph, json_path) -> int | None:
    seed = graph.seed
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise SerializationError(f"{json_path}: cannot save the graph seed {seed!r}: not an integer")
    return int(seed)


def _fetch_record(f: Tensor | Node, index: dict[Node, int]) -> dict:
    if isinstance(f, Tensor):
        return {"name": f.name, "node": index[f.node], "output": f.index}
    return {"name": f.name, "node": index[f], "output": None}  # an op: fetched for its effects


def _variable_records(graph: Graph, nodes: list[Node], fetches: list, session, arrays: dict) -> list:
    names = dict.fromkeys(n for node in nodes for n in _var_names(node.op))
    if not fetches:  # a whole graph: every variable it lists, referenced or not
        names = dict.fromkeys([*graph.variables, *names])
    values = getattr(session, "_values", {}) if session is not None else {}
    position = {node: i for i, node in enumerate(nodes)}
    records = []
    for name in names:
        var = graph.variables.get(name)
        if var is None:
            raise SerializationError(
                f"save_graph: the graph refers to variable {name!r}, which it does not list"
            )
        node = position.get(var.node)
        if node is None:  # a program graph: its copy of the variable's read keeps the variable's name
            node = next(
                (
                    i
                    for i, n in enumerate(nodes)
                    if n.name == name and getattr(n.op, "var_name", None) == name
                ),
                None,
            )
        value = values.get(name)
        value = np.asarray(value if value is not None else var.initial_array(), dtype=var.dtype)
        key = f"v{len(records)}"
        arrays[key] = value
        records.append(
            {
                "name": name,
                "dtype": var.dtype.name,
                "shape": list(var.shape),
                "trainable": bool(var.trainable),
                "value": key,
                "node": node,
            }
        )
    return records
