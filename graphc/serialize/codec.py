"""The pieces ``save_graph`` and ``load_graph`` share: the format constants, the error, the result type,
the generic attribute codec (see the package docstring for the encoding) and atomic writes."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
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
    graph, in saved order; empty when a whole graph was saved) and its ``variables`` by name."""

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
    """(JSON path, npz path) for the path a user gives: the npz lies beside the JSON, suffix ``.npz``."""
    path = Path(path)
    if path.suffix == ".npz":
        raise ValueError(f"{path}: give the JSON path (e.g. model.json); the arrays go beside it in .npz")
    return path, path.with_suffix(".npz")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: readers see the
    old file or the new one, never a partial one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
