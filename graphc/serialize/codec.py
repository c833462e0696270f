"""The pieces ``save_graph`` and ``load_graph`` share: the format constants, the error, the result type,
the generic attribute codec (see the package docstring for the encoding) and atomic writes."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphc.ir.errors import GraphcError
from graphc.ir.graph import Graph, Node, Tensor
from graphc.ir.op import OPS, Op
from graphc.ir.types import TensorType
from graphc.ops.state import Variable

FORMAT = "graphc-graph"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


class SerializationError(GraphcError, ValueError):
    """A graph file that cannot be written or read; the message names the file and the problem."""


@dataclass
class LoadedGraph:
    """What ``load_graph`` returns: the new ``graph``, the saved ``fetches`` (tensors and ops of the new
    graph, in saved order; empty when a whole graph was saved) and its ``variables`` by name.

    Example:
        >>> import os, tempfile
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     y = gc.multiply(x, gc.Variable(2.0, name="w"), name="y")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     gc.save_graph(y, os.path.join(d, "m.json"))
        ...     loaded = gc.load_graph(os.path.join(d, "m.json"))
        >>> loaded.fetches, list(loaded.variables), loaded.tensor("y") is loaded.fetches[0]
        ([<Tensor y:0 f32[?]>], ['w'], True)
        >>> with gc.Session(loaded.graph) as sess:
        ...     sess.run(loaded.tensor("y"), {"x": [1.0, 3.0]})
        array([2., 6.], dtype=float32)
    """

    graph: Graph
    fetches: list[Tensor | Node] = field(default_factory=list)
    variables: dict[str, Variable] = field(default_factory=dict)

    def tensor(self, name: str) -> Tensor:
        """The tensor named ``node_name:index`` (``:0`` may be left out) in the loaded graph."""
        return self.graph.get_tensor(name)


# -- attributes ---------------------------------------------------------------------------------------
def _encode(value, arrays: dict[str, np.ndarray]):
    """A JSON value for an attribute value; arrays go to ``arrays`` under a fresh key."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, tuple):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, list):
        return {"list": [_encode(v, arrays) for v in value]}
    if isinstance(value, np.dtype):
        return {"dtype": value.name}
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, np.generic):
        return {"scalar": _encode(value.item(), arrays), "dtype": value.dtype.name}
    if isinstance(value, Op):
        return {"op": value.type_name, "attrs": encode_attrs(value, arrays)}
    raise TypeError(f"{type(value).__name__} values cannot be saved ({value!r})")


def encode_attrs(op: Op, arrays: dict[str, np.ndarray]) -> dict:
    """The op's attributes as JSON values; raises TypeError for a value the format cannot hold."""
    # the dataclass fields, not op.attrs(): ops may override attrs() for display (FusedOp does)
    fields = dataclasses.fields(op) if dataclasses.is_dataclass(op) else ()
    return {f.name: _encode(getattr(op, f.name), arrays) for f in fields}


def _decode(value, arrays: Arrays):
    """The attribute value a JSON value stands for (the inverse of ``_encode``)."""
    if isinstance(value, list):
        return tuple(_decode(v, arrays) for v in value)
    if not isinstance(value, dict):
        return value
    if value.keys() == {"float"}:
        return float(value["float"]) if value["float"] in ("inf", "-inf", "nan") else _bad(value)
    if value.keys() == {"list"}:
        return [_decode(v, arrays) for v in value["list"]]
    if value.keys() == {"dtype"}:
        return np.dtype(value["dtype"])
    if value.keys() == {"array"}:
        return arrays.get(value["array"])
    if value.keys() == {"scalar", "dtype"}:
        return np.dtype(value["dtype"]).type(_decode(value["scalar"], arrays))
    if value.keys() == {"op", "attrs"}:
        return make_op(value["op"], value["attrs"], arrays)
    return _bad(value)


def _bad(value):
    raise ValueError(f"unrecognized attribute value {value!r}")


def make_op(name: str, attrs: dict, arrays: Arrays) -> Op:
    """The op ``OPS[name](**decoded attrs)``; SerializationError for an op this graphc does not know."""
    cls = OPS.get(name)
    if cls is None:
        raise SerializationError(
            f"unknown op {name!r} (this graphc knows {len(OPS)} ops; was the file saved by a newer "
            "graphc, or with a custom op class that is not imported?)"
        )
    return cls(**{k: _decode(v, arrays) for k, v in attrs.items()})


def type_json(t: TensorType) -> dict:
    return {"shape": list(t.shape), "dtype": t.dtype.name}


def type_from_json(d: dict) -> TensorType:
    return TensorType(tuple(d["shape"]), np.dtype(d["dtype"]))


def paths(path) -> tuple[Path, Path]:
    """(JSON path, npz path) for the path a user gives: the npz lies beside the JSON, ``model.json`` ->
    ``model.npz``; a name without the ``.json`` suffix gets ``.npz`` appended (``ckpt.step100`` ->
    ``ckpt.step100.npz``), so files that differ in their last suffix never share an npz, except ``S``
    and ``S.json`` (both ``S.npz``): ``save_graph`` refuses to write one's arrays over the other's."""
    path = Path(path)
    if path.suffix == ".npz":
        raise SerializationError(
            f"{path}: give the JSON path (e.g. model.json); the arrays go beside it in .npz"
        )
    if path.name in ("", ".", ".."):
        raise SerializationError(f"{path}: give a file path (e.g. model.json), not a directory")
    if path.suffix == ".json":
        return path, path.with_suffix(".npz")
    return path, path.with_name(path.name + ".npz")


def dumps(doc: dict) -> str:
    """The document as JSON with one node (variable, fetch) per line: readable, diffable, compact.
    Deterministic: loading the text and dumping it again gives the same text (the checksum's basis)."""
    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n  ".join(json.dumps(v, allow_nan=False) for v in value)
            parts.append(f" {json.dumps(key)}: [\n  {items}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def content_checksum(doc: dict) -> str:
    """The sha256 of the document's text without its ``checksum`` entry."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(dumps(body).encode()).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: readers see the
    old file or the new one, never a partial one."""
    tmp = _temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_pair_atomically(first: tuple[Path, bytes], second: tuple[Path, bytes]) -> None:
    """Replace two files that belong together (the npz, then the JSON that names its checksum). Both
    are written to temporary files first; if replacing the second fails, the first file's previous
    version is put back, so an error leaves the old pair as it was."""
    path1, path2 = first[0], second[0]
    tmps: list[str] = []
    backup = None
    try:
        for path, data in (first, second):  # one at a time: a failed second write removes the first
            tmps.append(_temporary(path, data))
        existed = path1.exists()
        if existed:
            backup = _backup(path1)  # the old first file, kept until the second is in place
        os.replace(tmps[0], path1)
        try:
            os.replace(tmps[1], path2)
        except BaseException:
            if backup is not None:
                os.replace(backup, path1)
                backup = None
            elif not existed:  # a first save: its npz stayed behind, naming no JSON
                with contextlib.suppress(OSError):
                    os.unlink(path1)
            raise
    finally:
        for tmp in [*tmps, *([backup] if backup else [])]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _backup(path: Path) -> str:
    """A second name for ``path``'s current file (a hard link; a copy where links are refused)."""
    name = _temporary(path, b"")
    os.unlink(name)
    try:
        os.link(path, name)
    except OSError:
        return _temporary(path, path.read_bytes())
    return name


def _temporary(path: Path, data: bytes) -> str:
    """A new file beside ``path`` holding ``data``, flushed to disk; its name. Created with the mode
    open() gives a new file (0666 less the umask): mkstemp's 0600 hides it from the group, and the
    fixed 0644 it was changed to made a model saved under a umask of 077 readable by everyone."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary file name beside {path}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


class Arrays:
    """The npz arrays by key; a missing key is a clear error (the caller adds which node needs it)."""

    def __init__(self, arrays: dict[str, np.ndarray], npz_path: Path):
        self.arrays = arrays
        self.npz_path = npz_path

    def get(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise SerializationError(f"{self.npz_path} has no array {key!r}")
        value = self.arrays[key]
        value.setflags(write=False)  # graph values are immutable, as constant() makes them
        return value
