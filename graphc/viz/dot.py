"""Graphviz DOT text for a graph: ``to_dot(x)`` draws ``graph_view(x)`` as a ``digraph``.

Boxes are styled by kind (placeholder, variable, constant, update, gradient, fused, op, collapsed
scope) and explained by a legend; the gradient part of a graph is drawn in an orange colour family,
the forward part in blues and greens. Name scopes become nested ``cluster_`` subgraphs. A ``FusedOp``
becomes a cluster holding its body instructions, chained by their arguments; edges from and to the
fused node end at the cluster's border (``compound=true`` with ``lhead``/``ltail``).

DOT node ids are generated (``n0``, ``n1``, ...), so node names never need escaping as ids; labels,
tooltips and titles are escaped by ``_quote``.
"""

from __future__ import annotations

import html
import re

from graphc.viz.model import KINDS, GraphView, ViewNode, graph_view, printable

# Kind -> node attributes. Each kind differs in shape or fill; the legend shows the same colours.
STYLES: dict[str, dict[str, str]] = {
    "placeholder": {"shape": "invhouse", "style": "filled", "fillcolor": "#cfe2ff", "color": "#0b5ed7"},
    "variable": {"shape": "cylinder", "style": "filled", "fillcolor": "#d1e7dd", "color": "#146c43"},
    "constant": {
        "shape": "box",
        "style": "filled",
        "fillcolor": "#f1f3f5",
        "color": "#868e96",
        "fontsize": "8",
    },
    "update": {
        "shape": "box",
        "style": "filled,bold",
        "peripheries": "2",
        "fillcolor": "#e0cffc",
        "color": "#6f42c1",
    },
    "gradient": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fdd0a2", "color": "#d94801"},
    "fused": {"shape": "box", "style": "filled,bold", "fillcolor": "#fff3bf", "color": "#f08c00"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff", "color": "#495057"},
    "scope": {"shape": "box3d", "style": "filled", "fillcolor": "#e9ecef", "color": "#495057"},
}
LEGEND = {
    "placeholder": "placeholder (fed)",
    "variable": "variable (read)",
    "constant": "constant",
    "update": "update (new variable value)",
    "gradient": "gradient op",
    "fused": "fused op (body inside)",
    "op": "op",
    "scope": "collapsed scope",
}
GRADIENT_COLOR = "#d94801"  # border of everything in the gradient part, and of its clusters
GRADIENT_CLUSTER_FILL = "#fff5eb"
FORWARD_CLUSTER_FILL = "#f8f9fa"
FUSED_CLUSTER_FILL = "#fff9db"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")  # what XML 1.0 forbids but tab and line breaks
_PIECE = 2000  # characters per quoted piece of a long string (see _quote)
_INSTRUCTION = re.compile(r"^%(\d+)\s*=\s*(.*)\(([^()]*)\)\s*$")  # "%5 = Mean[axes=(0, 1)](%4)"


def to_dot(x, depth: int | None = None, title: str | None = None) -> str:
    """Graphviz DOT text of ``x`` (a Graph, tensors/ops, or a compiled executable's optimized program).

    Args:
        x: what to draw; see ``graph_view``.
        depth: name scopes nested deeper than this many levels collapse into one box each.
        title: the picture's title (default: what ``x`` is).

    Returns:
        A ``digraph`` that ``dot -Tsvg`` lays out; ``render`` does that for you.

    Raises:
        TypeError: ``depth`` is not a whole number.
        ValueError: ``depth`` is negative.

    Example:
        >>> import graphc as gc
        >>> from graphc.viz import to_dot
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 2), name="x")
        ...     with gc.name_scope("layer"):
        ...         y = gc.exp(x)
        >>> text = to_dot(y)
        >>> text.splitlines()[0]
        'digraph graphc {'
        >>> "subgraph cluster_s0" in text and 'label="f32[?,2]"' in text
        True
    """
    view = graph_view(x, depth, title)
    return _Writer(view).text()


def _quote(text: str) -> str:
    """``text`` as a DOT double-quoted string that displays literally.

    Backslashes and quotes are escaped for DOT; ``& < >`` become HTML entities because Graphviz decodes
    entities in every string; line breaks become DOT's centred ``\\n``; a lone surrogate (from an
    undecodable file name) becomes its ``\\udcxx`` escape, so the text encodes as UTF-8; another control
    character becomes its ``\\xNN`` escape (``dot`` stops at a NUL, and writes the others into SVG, where
    XML forbids them: no viewer opens the file). Long text is written as pieces joined by DOT's ``+``:
    Graphviz's scanner refuses a quoted string longer than 16384 bytes (the tooltip of a 2500-way split
    lists 2500 output types).
    """
    text = printable(text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    # every escape below maps one character to at most 5 bytes, so no piece reaches Graphviz's limit
    pieces = [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]
    return " + ".join(f'"{_escape(piece)}"' for piece in pieces)


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", "\\n")


def _attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def _in_gradient_part(node: ViewNode) -> bool:
    """True for boxes that belong to the gradient computation (by kind, ``grad_of`` or scope)."""
    return node.kind == "gradient" or node.grad_of is not None or "gradients" in node.id.split("/")


class _Writer:
    """Builds the DOT lines of one view: clusters first (recursively), then edges, then the legend."""

    def __init__(self, view: GraphView):
        self.view = view
        self.dot_id = {id(n): f"n{i}" for i, n in enumerate(view.nodes)}
        self.by_name = {n.id: n for n in view.nodes}
        self.lines: list[str] = []
        self.children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}  # scope -> its child scopes
        self.clusters = 0
        self.fused_cluster: dict[str, str] = {}  # view id -> its cluster's name
        self.fused_exit: dict[str, str] = {}  # view id -> DOT id its outgoing edges leave from

    def text(self) -> str:
        self.lines = [
            "digraph graphc {",
            f"  graph [{_attrs(self._graph_attrs())}];",
            '  node [fontname="Helvetica", fontsize="10"];',
            '  edge [fontname="Helvetica", fontsize="8", color="#495057", fontcolor="#495057"];',
        ]
        nodes_in: dict[tuple[str, ...], list[ViewNode]] = {(): []}
        for n in self.view.nodes:
            for k in range(len(n.scope) + 1):  # every enclosing scope exists, even if empty of boxes
                nodes_in.setdefault(n.scope[:k], [])
            nodes_in[n.scope].append(n)
        # each scope's child scopes, in order of first appearance (looking through every scope for the
        # children of each one was quadratic in the number of scopes)
        self.children = {}
        for s in nodes_in:
            if s:
                self.children.setdefault(s[:-1], []).append(s)
        self._scope((), nodes_in, 1)
        for e in self.view.edges:
            self._edge(e.src, e.dst, e.label, e.control)
        self._legend()
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"

    def _graph_attrs(self) -> dict[str, str]:
        return {
            "compound": "true",  # lets edges end at a fused op's cluster border
            # dot's default ranking of clusters failed on such edges ("Error: trouble in init_rank",
            # an abort at times) for training steps with several fused groups: an LSTM unrolled over
            # two steps drew no picture; the newer ranking lays out the same clusters
            "newrank": "true",
            "rankdir": "TB",
            "fontname": "Helvetica",
            "label": self.view.title,
            "labelloc": "t",
            "fontsize": "14",
        }

    def _scope(self, scope: tuple[str, ...], nodes_in: dict, level: int) -> None:
        pad = "  " * level
        for child in self.children.get(scope, []):
            gradient = "gradients" in child
            style = {
                "label": child[-1],
                "tooltip": "/".join(child),
                "style": "rounded,filled",
                "fillcolor": GRADIENT_CLUSTER_FILL if gradient else FORWARD_CLUSTER_FILL,
                "color": GRADIENT_COLOR if gradient else "#adb5bd",
                "fontcolor": GRADIENT_COLOR if gradient else "#495057",
            }
            self.lines.append(f"{pad}subgraph cluster_s{self._next_cluster()} {{")
            self.lines.append(f"{pad}  graph [{_attrs(style)}];")
            self._scope(child, nodes_in, level + 1)
            self.lines.append(f"{pad}}}")
        for n in nodes_in[scope]:
            if n.body:
                self._fused(n, pad)
            else:
                self.lines.append(f"{pad}{self.dot_id[id(n)]} [{_attrs(self._node_attrs(n))}];")

    def _next_cluster(self) -> int:
        self.clusters += 1
        return self.clusters - 1

    def _node_attrs(self, n: ViewNode) -> dict[str, str]:
        attrs = dict(STYLES.get(n.kind, STYLES["op"]))
        if _in_gradient_part(n) and n.kind != "gradient":
            attrs.update(color=GRADIENT_COLOR, penwidth="1.6")
        details = [n.id, n.op, ", ".join(n.types), n.location]
        if n.grad_of:
            details.append(f"gradient of {n.grad_of}")
        attrs.update(label=n.label, tooltip="\n".join(d for d in details if d))
        return attrs

    def _fused(self, n: ViewNode, pad: str) -> None:
        """The fused node as a cluster: a header box (where inputs arrive), one small box per body
        instruction, and a ``return`` box (where outputs leave)."""
        head = self.dot_id[id(n)]
        cluster = f"cluster_f{self._next_cluster()}"
        self.fused_cluster[n.id] = cluster
        style = {
            "label": n.id.rsplit("/", 1)[-1],
            "tooltip": n.id,
            "style": "rounded,filled",
            "fillcolor": FUSED_CLUSTER_FILL,
            "color": GRADIENT_COLOR if _in_gradient_part(n) else STYLES["fused"]["color"],
        }
        inner = pad + "  "
        lines = [f"{pad}subgraph {cluster} {{", f"{inner}graph [{_attrs(style)}];"]
        lines.append(f"{inner}{head} [{_attrs(self._node_attrs(n))}];")
        small = {"shape": "box", "style": "filled", "fillcolor": "#ffffff", "color": "#f08c00"}
        small.update(fontsize="8", height="0.2", margin="0.05,0.02")
        value_box: dict[int, str] = {}  # body value index -> DOT id of the instruction making it
        edges: list[str] = []
        for k, line in enumerate(n.body):
            box = f"{head}_{k}"
            lines.append(f"{inner}{box} [{_attrs({**small, 'label': line})}];")
            args = []
            match = _INSTRUCTION.match(line)
            if match:
                value_box[int(match.group(1))] = box
                args = re.findall(r"%(\d+)", match.group(3))
            elif line.startswith("return"):
                self.fused_exit[n.id] = box
                args = re.findall(r"%(\d+)", line)
            # chained in argument order; a value not made by the body is an input: it comes from the head
            sources = dict.fromkeys(value_box.get(int(a), head) for a in args)
            edges += [f'{inner}{src} -> {box} [arrowsize="0.5"];' for src in sources]
        self.lines += lines + edges + [f"{pad}}}"]

    def _edge(self, src: str, dst: str, label: str, control: bool) -> None:
        attrs: dict[str, str] = {"style": "dashed", "arrowhead": "empty"} if control else {"label": label}
        if control:
            attrs["color"] = "#868e96"
        if src in self.fused_cluster:
            attrs["ltail"] = self.fused_cluster[src]
        if dst in self.fused_cluster:
            attrs["lhead"] = self.fused_cluster[dst]
        if _in_gradient_part(self.by_name[dst]) and not control:
            attrs.update(color=GRADIENT_COLOR, fontcolor=GRADIENT_COLOR)
        tail = self.fused_exit.get(src, self.dot_id[id(self.by_name[src])])
        head = self.dot_id[id(self.by_name[dst])]
        self.lines.append(f"  {tail} -> {head} [{_attrs(attrs)}];")

    def _legend(self) -> None:
        """One HTML-table node listing the kinds present, the gradient colours and control edges."""
        present = {n.kind for n in self.view.nodes}
        rows = []
        for kind in KINDS:
            if kind in present:
                s = STYLES[kind]
                rows.append(
                    f'<td bgcolor="{s["fillcolor"]}" color="{s["color"]}">{html.escape(LEGEND[kind])}</td>'
                )
        if any(_in_gradient_part(n) for n in self.view.nodes):
            rows.append(
                f'<td bgcolor="{GRADIENT_CLUSTER_FILL}" color="{GRADIENT_COLOR}">'
                "gradient part (orange borders)</td>"
            )
        if any(e.control for e in self.view.edges):
            rows.append('<td color="#868e96">control dependency (dashed)</td>')
        table = "".join(f"<tr>{r}</tr>" for r in rows)
        self.lines.append(
            '  legend [shape="plaintext", fontsize="9", label=<<table border="0" cellborder="1" '
            f'cellspacing="2" cellpadding="3"><tr><td border="0">legend</td></tr>{table}</table>>];'
        )
