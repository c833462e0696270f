"""The command line: ``python -m graphc viz|info GRAPH_FILE``.

``viz`` draws a saved graph (``graphc.save_graph``) as DOT, SVG, PNG or HTML; ``--optimized`` compiles its
saved fetches first and draws the optimized program (HTML shows it beside the original, with the
per-pass statistics). ``info`` prints nodes, parameters and a FLOPs estimate per op.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m graphc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    viz = sub.add_parser("viz", help="draw a saved graph")
    viz.add_argument("graph_file", help="a graph saved with graphc.save_graph (.json)")
    viz.add_argument("-o", "--output", required=True, help="out.html, out.svg, out.png or out.dot")
    viz.add_argument("--depth", type=int, default=None, help="collapse name scopes nested deeper than this")
    viz.add_argument(
        "--optimized", action="store_true", help="draw the optimized program of the saved fetches"
    )
    info = sub.add_parser("info", help="nodes, parameters and FLOPs of a saved graph")
    info.add_argument("graph_file")
    info.add_argument("--batch", type=int, default=1, help="size taken for unknown (None) dimensions")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    import graphc as gc

    try:
        loaded = gc.load_graph(args.graph_file)
    except gc.GraphcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "info":
        print(gc.viz.graph_info(loaded.graph, batch=args.batch))
        return 0
    target = loaded.graph
    if args.optimized:
        if not loaded.fetches:
            print(
                "error: --optimized needs a graph saved from its fetches (save_graph(fetches, path))",
                file=sys.stderr,
            )
            return 2
        feeds = [n.outputs[0] for n in loaded.graph.nodes if n.op.type_name == "Placeholder"]
        target = gc.compile(loaded.fetches, feeds=feeds)
    out = args.output
    if out.endswith(".html"):
        gc.viz.to_html(target, out, depth=args.depth)
    elif out.endswith(".dot"):
        _write_atomically(out, gc.viz.to_dot(target, depth=args.depth))
    elif out.endswith((".svg", ".png")):
        try:
            gc.viz.render(target, out, depth=args.depth)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    else:
        print("error: the output must end in .html, .svg, .png or .dot", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
