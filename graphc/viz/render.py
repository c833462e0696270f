"""``render``: a graph picture as an SVG or PNG file, laid out by Graphviz's ``dot`` program.

``dot`` is an external program, not a Python package: when it is missing, ``render`` raises
``GraphvizNotFound`` saying how to install it (``to_dot`` and ``to_html`` need no Graphviz). The file
is written whole or not at all: ``dot`` writes a temporary file next to ``path``, which then replaces
``path`` in one step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from graphc.viz.dot import to_dot
from graphc.viz.model import check_depth

FORMATS = ("svg", "png")
INSTALL_HINT = (
    "install Graphviz: apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS); "
    "to_dot(x) (DOT text) and to_html(x) (one HTML page) work without it"
)


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program is not on ``PATH``."""


def render(x, path: str | os.PathLike, depth: int | None = None, format: str | None = None) -> str:
    """Draw ``x`` with Graphviz and write the picture to ``path``.

    Args:
        x: what to draw: a Graph, tensors/ops, or a compiled executable (see ``graph_view``).
        path: the file to write; its suffix (``.svg``, ``.png``) picks the format unless ``format``
            is given.
        depth: name scopes nested deeper than this many levels collapse into one box each.
        format: ``"svg"`` or ``"png"``.

    Returns:
        ``path``, as a string.

    Raises:
        GraphvizNotFound: ``dot`` is not on ``PATH``.
        TypeError: ``depth`` is not a whole number.
        ValueError: the format is neither given nor implied by the suffix, or is not supported; or
            ``depth`` is negative.
        RuntimeError: ``dot`` failed (its message is included); ``path`` is left as it was.

    Example:
        >>> import os, tempfile
        >>> import graphc as gc
        >>> from graphc.viz import render, GraphvizNotFound
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.exp(gc.placeholder("float32", (None, 2), name="x"))
        >>> path = os.path.join(tempfile.mkdtemp(), "graph.svg")
        >>> try:
        ...     written = render(y, path)
        ... except GraphvizNotFound:  # no Graphviz on this machine: nothing is written
        ...     written = None
        >>> written in (path, None)
        True
    """
    check_depth(depth)  # before looking for Graphviz: a wrong argument is wrong on every machine
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(
            f"cannot tell the picture format of {path!r} (format={format!r}); "
            f"use a path ending in .svg or .png, or format='svg'/'png'"
        )
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFound(f"Graphviz's `dot` program is not on PATH; {INSTALL_HINT}")
    text = to_dot(x, depth=depth)
    directory = os.path.dirname(os.path.abspath(path))
    # the temporary file sits next to ``path`` so that os.replace is a rename on one file system
    fd, tmp = tempfile.mkstemp(prefix=".graphc-", suffix=f".{fmt}", dir=directory)
    os.close(fd)
    try:
        result = subprocess.run([dot, f"-T{fmt}", "-o", tmp], input=text.encode(), capture_output=True)
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"dot -T{fmt} failed (exit {result.returncode}): {message}")
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a picture is for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
