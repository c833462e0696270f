"""Saving graphs to files and loading them back: ``save_graph`` and ``load_graph``.

A saved graph is two files: ``model.json`` (the structure) and, beside it, ``model.npz`` (every array:
constant values and variable values; a path without the ``.json`` suffix gets ``.npz`` appended:
``ckpt.step100`` and ``ckpt.step100.npz``; ``save_graph`` refuses a path whose npz holds the arrays of
another graph file, as ``ckpt.step100.npz`` would for ``ckpt.step100.json`` beside ``ckpt.step100``).
Loading rebuilds a new ``Graph`` with the same node names, ops, source locations, control inputs and
gradient links, so it computes exactly what the original did (random ops keep their seeds and names,
hence their streams).

Format ``graphc-graph`` version 1 (the JSON document)::

    {"checksum": "...",                               # sha256 of the text below, without this line
     "format": "graphc-graph", "version": 1,
     "seed": 42 | null,                               # the graph seed
     "random_ops": 3,                                 # op seeds handed out (new random ops go on)
     "arrays": {"file": "model.npz", "sha256": "..."},  # the companion file and its checksum
     "nodes": [{"name": "dense/matmul", "op": "MatMul", "attrs": {...},
                "inputs": [[0, 0], [1, 0]],           # [node index, output index] of earlier nodes
                "control": [2],                       # control inputs, node indices
                "location": ["train.py", 14],         # where the user created the node
                "grad_of": 3 | null,                  # forward node of a gradient node (index)
                "outputs": [{"shape": [null, 128], "dtype": "float32"}]}, ...],
     "variables": [{"name": "w", "dtype": "float32", "shape": [784, 128], "trainable": true,
                    "value": "v0",                    # key in the npz
                    "node": 1 | null}, ...],          # index of the variable's own ReadVariable node
     "fetches": [{"name": "y:0", "node": 7, "output": 0}, {"name": "train", "node": 9, "output": null}],
     "program": {"inputs": [[0, 0]], "outputs": [[7, 0]], "targets": [9]}}  # graph saves only

Attributes are the op dataclass fields, encoded generically: JSON ints, strings, booleans and null as
themselves; finite floats as JSON numbers (Python writes the shortest repr, which reads back exactly)
and non-finite ones as ``{"float": "inf" | "-inf" | "nan"}``; tuples as lists; lists as
``{"list": [...]}``; dtypes as ``{"dtype": "float32"}``; numpy scalars as ``{"scalar": v, "dtype": d}``;
arrays as ``{"array": "<npz key>"}``; ops (``FusedOp`` bodies) as ``{"op": name, "attrs": {...}}``.
``outputs`` are a check: the loader re-infers every node's types and rejects a file whose recorded types
differ. Variables load as ``graphc.Variable`` objects whose initial value is the saved value (a session's
current value when ``save_graph`` was given one). A variable whose own node was not saved (a compiled
program refers to its source graph's variables) is made in a side graph and listed in
``graph.variables``, as programs do. Both files are written atomically, the npz first, and only once
the whole document is encoded; if the JSON cannot be replaced, the previous npz is put back, so a
failed save leaves the previous model loadable. The checksum makes a corrupted JSON a clear error
instead of a different graph; to load a file edited by hand, delete its ``checksum`` line. Files
without ``checksum`` or ``random_ops`` (written before they existed) load as before.
"""

from graphc.serialize.codec import (
    FORMAT,
    SUPPORTED_VERSIONS,
    VERSION,
    LoadedGraph,
    SerializationError,
)
from graphc.serialize.load import load_graph
from graphc.serialize.save import save_graph

__all__ = [
    "FORMAT",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "LoadedGraph",
    "SerializationError",
    "load_graph",
    "save_graph",
]
