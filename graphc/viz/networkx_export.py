"""``to_networkx``: a graph as a ``networkx.MultiDiGraph``, for analysis rather than pictures.

Unlike ``to_dot`` it never collapses scopes or merges edges: one networkx node per graph node (keyed
by node name) and one edge per data input (keyed by input position), plus one edge per control input
(``control=True``). Node kinds are the same as in every picture (``graph_view``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphc.viz.model import _kind, _short, resolve

if TYPE_CHECKING:
    import networkx as nx


def to_networkx(x) -> nx.MultiDiGraph:
    """``x`` as a networkx multigraph: the nodes of a Graph, of what tensors/ops depend on, or of a
    compiled executable's optimized program.

    Node attributes: ``op`` (type name), ``kind`` (placeholder, variable, constant, update, gradient,
    fused or op), ``shapes`` and ``dtypes`` (one per output), ``types`` (e.g. ``["f32[?,2]"]``),
    ``location`` (``file:line``), ``scope`` (the name scope, ``""`` at top level), ``attrs`` (op
    attributes as text), ``grad_of`` (forward node name for gradient nodes, else ``None``), ``index``.
    Data edge ``(producer, consumer, key=input position)``: ``shape``, ``dtype``, ``tensor`` (name),
    ``output`` (producer output index), ``control=False``. Control edge: key ``"control"``,
    ``control=True``.

    Example:
        >>> import graphc as gc
        >>> import networkx as nx
        >>> from graphc.viz import to_networkx
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     y = x * x
        >>> G = to_networkx(g)
        >>> sorted(G.edges(keys=True))
        [('x', 'multiply', 0), ('x', 'multiply', 1)]
        >>> G.nodes["multiply"]["op"], G.nodes["x"]["kind"], G.edges["x", "multiply", 1]["shape"]
        ('Multiply', 'placeholder', (None, 2))
        >>> nx.is_directed_acyclic_graph(G)
        True
    """
    import networkx as nx  # noqa: PLC0415 - on first use: networkx takes ~0.12 s to import

    graph, nodes, update_nodes, title = resolve(x)
    g = nx.MultiDiGraph(title=title)
    for node in nodes:
        attrs = node.op.attrs()
        g.add_node(
            node.name,
            op=node.op.type_name,
            kind=_kind(node, update_nodes),
            shapes=[t.shape for t in node.outputs],
            dtypes=[str(t.dtype) for t in node.outputs],
            types=[str(t.type) for t in node.outputs],
            location=node.location_str,
            scope=node.name.rpartition("/")[0],
            # text, as in pictures; strings (a fused body) stay whole, arrays are summarized
            attrs={k: v if isinstance(v, str) else _short(v) for k, v in attrs.items()},
            grad_of=node.grad_of.name if node.grad_of is not None else None,
            index=node.index,
        )
    for node in nodes:
        for position, t in enumerate(node.inputs):
            g.add_edge(
                t.node.name,
                node.name,
                key=position,
                shape=t.shape,
                dtype=str(t.dtype),
                tensor=t.name,
                output=t.index,
                control=False,
            )
        for c in node.control_inputs:
            g.add_edge(c.name, node.name, key="control", control=True)
    if graph.inputs or graph.outputs:  # a program graph names its interface
        g.graph["inputs"] = [t.name for t in graph.inputs]
        g.graph["outputs"] = [t.name for t in graph.outputs]
    return g
