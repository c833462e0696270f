"""Pictures of graphs: Graphviz DOT, SVG/PNG through ``dot``, one self-contained HTML page, networkx,
and ``graph_info`` (nodes, parameters, FLOPs)."""

from graphc.viz.dot import to_dot
from graphc.viz.html import to_html
from graphc.viz.info import GraphInfo, graph_info
from graphc.viz.model import GraphView, graph_view
from graphc.viz.networkx_export import to_networkx
from graphc.viz.render import GraphvizNotFound, render

__all__ = [
    "GraphInfo",
    "GraphView",
    "GraphvizNotFound",
    "graph_info",
    "graph_view",
    "render",
    "to_dot",
    "to_html",
    "to_networkx",
]
