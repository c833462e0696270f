"""``load_graph``: rebuild a graph saved by ``save_graph`` in a new ``Graph``, checking it as it goes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import GraphcError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.op import Op
from graphc.ops.state import Variable
from graphc.serialize.codec import (
    FORMAT,
    SUPPORTED_VERSIONS,
    Arrays,
    LoadedGraph,
    SerializationError,
    content_checksum,
    make_op,
    paths,
    type_from_json,
)


def load_graph(path: str | os.PathLike) -> LoadedGraph:
    """Load a graph saved by ``save_graph`` into a new ``Graph``.

    Args:
        path: the JSON file; its ``.npz`` companion must lie beside it.

    Returns:
        A ``LoadedGraph``: ``graph``, ``fetches`` (in saved order), ``variables`` by name, ``tensor(name)``.

    Raises:
        SerializationError: a missing, truncated or corrupt file, another format, an unsupported
            version, an unknown op, a missing npz or array, or types that do not re-infer as saved.

    Example:
        >>> import os, tempfile
        >>> import graphc as gc
        >>> from graphc.serialize import load_graph, save_graph
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     r = gc.random_uniform((2,), seed=3, name="r")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     save_graph(g, os.path.join(d, "g.json"))
        ...     loaded = load_graph(os.path.join(d, "g.json"))
        >>> with gc.Session(g) as a, gc.Session(loaded.graph) as b:  # same seeds, same numbers
        ...     bool((a.run(r) == b.run(loaded.tensor("r"))).all())
        True
    """
    json_path, npz_path = paths(path)
    doc = _read_json(json_path)
    arrays = _read_npz(_npz_beside(json_path, npz_path, doc), doc, json_path)
    try:
        return _Loader(doc, arrays).load()
    except SerializationError as e:
        if str(json_path) in e.message:
            raise
        raise SerializationError(f"{json_path}: {e.message}") from None
    # ArithmeticError: an attribute out of its dtype's range (np.int64(2**70) is an OverflowError)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError) as e:
        raise SerializationError(f"{json_path}: corrupt file: {type(e).__name__}: {e}") from None


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SerializationError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise SerializationError(f"{path}: not a graphc graph file (not JSON text)") from None
    except OSError as e:
        raise SerializationError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise SerializationError(f"{path}: not a graphc graph file (JSON nested too deeply)") from None
    except json.JSONDecodeError as e:
        body = text.strip()
        # save_graph writes one object: an opening brace without its closing one was cut short
        if body.startswith("{") and not body.endswith("}"):
            raise SerializationError(f"{path}: truncated file (the JSON ends early: {e.msg})") from None
        raise SerializationError(f"{path}: not a graphc graph file (invalid JSON: {e})") from None
    except ValueError as e:  # valid JSON Python will not read: an integer of more than 4300 digits
        raise SerializationError(f"{path}: not a graphc graph file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise SerializationError(f"{path}: not a graphc graph file (format {found!r}, expected {FORMAT!r})")
    version = doc.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise SerializationError(
            f"{path}: format version {version!r} is not supported; this graphc reads version {supported}"
        )
    if "checksum" in doc and doc["checksum"] != _checksum(doc):
        raise SerializationError(
            f"{path}: the file's content does not match its checksum: it was corrupted or changed after "
            'saving (to load a file edited on purpose, delete its "checksum" line)'
        )
    return doc


def _checksum(doc: dict) -> str | None:
    """The document's content checksum; None where it holds a number save_graph never writes (JSON's
    ``1e999`` and Python's ``NaN`` read as non-finite floats, which strict JSON cannot write back)."""
    try:
        return content_checksum(doc)
    except ValueError:
        return None


def _npz_beside(json_path: Path, npz_path: Path, doc: dict) -> Path:
    """The npz named by the path's rule; where it is missing, the one the file names, if it lies beside
    it (files saved before ``name.ext`` got ``name.ext.npz``; its checksum still has to match)."""
    named = doc.get("arrays")
    if not isinstance(named, dict):
        raise SerializationError(f"{json_path}: corrupt file: 'arrays' is not an object")
    file = named.get("file")
    # only a plain name beside the JSON: not a path, and not "" or ".." (with_name refuses the first
    # with a raw ValueError; the second is the folder above)
    if not npz_path.exists() and isinstance(file, str) and file not in ("", "..") and Path(file).name == file:
        alternative = json_path.with_name(file)
        if alternative.exists():
            return alternative
    return npz_path


def _read_npz(npz_path: Path, doc: dict, json_path: Path) -> Arrays:
    try:
        data = npz_path.read_bytes()
    except FileNotFoundError:
        raise SerializationError(
            f"{json_path}: its array file {npz_path} is missing (save_graph writes both; copy them together)"
        ) from None
    except OSError as e:
        raise SerializationError(f"{npz_path}: cannot read: {e.strerror or e}") from None
    expected = doc["arrays"].get("sha256")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise SerializationError(
            f"{npz_path} does not match {json_path} (checksum differs): truncated, changed, or saved "
            "separately from it"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    # zipfile says NotImplementedError for a damaged header's compression method, flags or version,
    # and RuntimeError for its encryption bit
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise SerializationError(f"{npz_path}: truncated or corrupt array file ({e})") from None
    return Arrays(arrays, npz_path)


class _Loader:
    """Builds the new graph node by node, in saved order (a topological order), checking each node."""

    def __init__(self, doc: dict, arrays: Arrays):
        self.doc = doc
        self.arrays = arrays
        self.graph = Graph()
        self.graph.seed = _optional_int(doc.get("seed"), "seed")
        # new random ops of the loaded graph take the op seeds the original's next ones would take; a
        # file from before ``random_ops`` existed goes on past the saved ops' op seeds. A saved count of
        # 0 is a count (op seeds given by the user do not advance it), not a missing field.
        random_ops = _optional_int(doc.get("random_ops"), "random_ops")
        self.graph.random_ops = random_ops if random_ops is not None else _next_op_seed(doc)
        self.nodes: list[Node] = []
        self.variables: dict[str, Variable] = {}
        self.var_records = {v["node"]: v for v in doc.get("variables", []) if v.get("node") is not None}

    def load(self) -> LoadedGraph:
        records = self.doc["nodes"]
        for i, rec in enumerate(records):
            try:
                node = self._node(i, rec)
            except SerializationError as e:
                raise SerializationError(f"node {i} ({rec.get('name')!r}): {e.message}") from None
            except (GraphcError, KeyError, TypeError, ValueError, IndexError, ArithmeticError) as e:
                raise SerializationError(
                    f"node {i} ({rec.get('name')!r}): corrupt file: {type(e).__name__}: {e}"
                ) from None
            self.nodes.append(node)
        for i, (rec, node) in enumerate(zip(records, self.nodes, strict=True)):
            if rec.get("grad_of") is not None:  # a gradient node comes after its forward node
                node.grad_of = self._earlier(rec["grad_of"], i)
        for rec in self.doc.get("variables", []):
            if rec.get("node") is None:
                self.variables[rec["name"]] = self._side_variable(rec)
        order = [rec["name"] for rec in self.doc.get("variables", [])]
        self.graph.variables = {name: self.variables[name] for name in order}
        program = self.doc.get("program") or {}
        self.graph.inputs = tuple(self._tensor(r) for r in program.get("inputs", ()))
        self.graph.outputs = tuple(self._tensor(r) for r in program.get("outputs", ()))
        self.graph.targets = tuple(self.nodes[i] for i in program.get("targets", ()))
        fetches = [
            self.nodes[f["node"]] if f["output"] is None else self._tensor([f["node"], f["output"]])
            for f in self.doc.get("fetches", [])
        ]
        return LoadedGraph(self.graph, fetches, dict(self.graph.variables))

    def _tensor(self, ref, before: int | None = None) -> Tensor:
        node, out = ref
        if type(node) is not int or node < 0 or (before is not None and node >= before):
            raise ValueError(f"reference {ref} is not an earlier node")
        outputs = self.nodes[node].outputs
        if type(out) is not int or not 0 <= out < len(outputs):
            raise ValueError(f"reference {ref}: node {node} has {len(outputs)} outputs")
        return outputs[out]

    def _node(self, i: int, rec: dict) -> Node:
        if not isinstance(rec.get("name"), str) or not rec["name"]:
            raise ValueError(f"the name {rec.get('name')!r} is not a non-empty string")
        inputs = [self._tensor(r, before=i) for r in rec["inputs"]]
        control = [self._earlier(j, i) for j in rec["control"]]
        file, line = rec["location"]
        location = (str(file), int(line))
        op = make_op(rec["op"], rec["attrs"], self.arrays)
        if i in self.var_records:
            node = self._variable(self.var_records[i], op, location, control)
        else:
            node = self.graph.add_node(op, inputs, rec["name"], location, control)
        if node.name != rec["name"]:
            raise SerializationError(f"corrupt file: the name {rec['name']!r} is used twice")
        saved = [type_from_json(t) for t in rec["outputs"]]
        got = [t.type for t in node.outputs]
        unsupported = [t.dtype for t in got if t.dtype not in dtypes.SUPPORTED]
        if unsupported:  # the user functions refuse these dtypes; an op made from a file must too
            names = ", ".join(str(d) for d in dtypes.SUPPORTED)
            raise SerializationError(
                f"corrupt file: {node.op.type_name} makes {unsupported[0]} values; graphc supports {names}"
            )
        if got != saved:
            shown = ", ".join(str(t) for t in saved) or "()"
            raise SerializationError(
                f"corrupt file: {node.op.type_name} re-infers types {', '.join(map(str, got)) or '()'} "
                f"but the file records {shown}"
            )
        return node

    def _earlier(self, j, i: int) -> Node:
        if type(j) is not int or not 0 <= j < i:
            raise ValueError(f"node reference {j!r} is not an earlier node")
        return self.nodes[j]

    def _value(self, rec: dict) -> np.ndarray:
        if not isinstance(rec.get("trainable"), bool):
            name = rec.get("name")
            raise SerializationError(f"corrupt file: variable {name!r}: 'trainable' is not a boolean")
        try:
            value = self.arrays.get(rec["value"])
        except SerializationError as e:
            raise SerializationError(f"variable {rec['name']!r}: {e.message}") from None
        if value.dtype != np.dtype(rec["dtype"]) or list(value.shape) != list(rec["shape"]):
            raise SerializationError(
                f"corrupt file: variable {rec['name']!r} is {rec['dtype']}{rec['shape']} but its saved "
                f"value is {value.dtype}{list(value.shape)}"
            )
        return value

    def _variable(self, rec: dict, op: Op, location, control) -> Node:
        """Re-create a variable at its own node (``Variable.__init__`` registers it in the graph)."""
        if getattr(op, "var_name", None) != rec["name"]:
            raise SerializationError(f"corrupt file: variable {rec['name']!r} has a node of {op}")
        g = self.graph
        with g.as_default(), g.located_at(location), g.control_dependencies(control):
            var = Variable(self._value(rec), dtype=rec["dtype"], name=rec["name"], trainable=rec["trainable"])
        if var.node.op != op:
            raise SerializationError(
                f"corrupt file: variable {rec['name']!r} is {var.node.op}, the file says {op}"
            )
        self.variables[rec["name"]] = var
        return var.node

    def _side_variable(self, rec: dict) -> Variable:
        side = Graph()
        side.seed = self.graph.seed
        with side.as_default():
            return Variable(
                self._value(rec), dtype=rec["dtype"], name=rec["name"], trainable=rec["trainable"]
            )


def _optional_int(value, what: str) -> int | None:
    if value is not None and type(value) is not int:
        raise SerializationError(f"corrupt file: {what} {value!r} is not an integer")
    return value


def _next_op_seed(doc: dict) -> int:
    """For files without ``random_ops``: one past the largest op seed of a saved random op."""
    seeds = [
        rec["attrs"]["seed"][1]
        for rec in doc.get("nodes", [])
        if isinstance(rec, dict)
        and isinstance(rec.get("attrs"), dict)
        and isinstance(rec["attrs"].get("seed"), list)
        and len(rec["attrs"]["seed"]) == 2
        and type(rec["attrs"]["seed"][1]) is int
    ]
    return max(seeds, default=-1) + 1
