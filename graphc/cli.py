"""The command line: ``python -m graphc viz|info GRAPH_FILE``.

``viz`` draws a saved graph (``graphc.save_graph``) as DOT, SVG, PNG or HTML; ``--optimized`` compiles its
saved fetches first and draws the optimized program (HTML shows it beside the original, with the
per-pass statistics). ``info`` prints nodes, parameters and a FLOPs estimate per op.

User errors (a file that cannot be read or written, a bad argument) end in ``error: ...`` on stderr and
exit status 2, never in a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

OUTPUT_SUFFIXES = (".html", ".svg", ".png", ".dot")


def _non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0 (argparse turns the error into a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m graphc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    viz = sub.add_parser("viz", help="draw a saved graph")
    viz.add_argument("graph_file", help="a graph saved with graphc.save_graph (.json)")
    viz.add_argument("-o", "--output", required=True, help="out.html, out.svg, out.png or out.dot")
    viz.add_argument(
        "--depth", type=_non_negative_int, default=None, help="collapse name scopes nested deeper than this"
    )
    viz.add_argument(
        "--optimized", action="store_true", help="draw the optimized program of the saved fetches"
    )
    info = sub.add_parser("info", help="nodes, parameters and FLOPs of a saved graph")
    info.add_argument("graph_file")
    info.add_argument(
        "--batch", type=_non_negative_int, default=1, help="size taken for unknown (None) dimensions"
    )
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _about(path: str, e: Exception, doing: str) -> str:
    """``e``'s message, led by ``path`` where it does not start with it (an OSError names a temporary
    file, or no file at all)."""
    if isinstance(e, OSError):
        return f"cannot {doing} {path}: {e.strerror or e}"
    text = str(e)
    return text if text.startswith((path, str(Path(path)))) else f"cannot {doing} {path}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a user error)."""
    args = _parser().parse_args(argv)
    import graphc as gc
    from graphc.serialize.codec import write_atomically

    suffix = ""
    if args.command == "viz":
        suffix = os.path.splitext(args.output)[1].lower()
        if suffix not in OUTPUT_SUFFIXES:  # refused before the (maybe slow) load
            return _error("the output must end in .html, .svg, .png or .dot")
    try:
        loaded = gc.load_graph(args.graph_file)
    except (gc.GraphcError, OSError, ValueError) as e:
        return _error(_about(args.graph_file, e, "load"))
    if args.command == "info":
        print(gc.viz.graph_info(loaded.graph, batch=args.batch))
        return 0
    target = loaded.graph
    if args.optimized:
        if not loaded.fetches:
            return _error("--optimized needs a graph saved from its fetches (save_graph(fetches, path))")
        feeds = [n.outputs[0] for n in loaded.graph.nodes if n.op.type_name == "Placeholder"]
        try:
            target = gc.compile(loaded.fetches, feeds=feeds)
        except (gc.GraphcError, OSError, ValueError) as e:
            # compiling reads GRAPHC_OPTIMIZE and GRAPHC_DUMP: a bad setting, or a dump folder that
            # cannot be made, ended in a traceback (exit status 1) instead of the user-error line
            text = (e.strerror or e) if isinstance(e, OSError) else e
            return _error(f"cannot compile {args.graph_file}: {text}")
    out = args.output
    try:
        if suffix == ".html":
            gc.viz.to_html(target, out, depth=args.depth)
        elif suffix == ".dot":
            # backslashreplace: a name Python decoded with surrogates still writes (its \udcxx escape)
            text = gc.viz.to_dot(target, depth=args.depth).encode("utf-8", "backslashreplace")
            write_atomically(Path(out), text)  # the library's: a failure leaves no temporary file
        else:
            gc.viz.render(target, out, depth=args.depth)
    except (gc.GraphcError, OSError, ValueError) as e:
        return _error(_about(out, e, "write"))
    except RuntimeError as e:  # no Graphviz, or dot failed: render's message says which
        return _error(str(e))
    print(f"wrote {out}")
    return 0
