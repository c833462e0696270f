"""``to_dot``: one DOT node per view box, one edge per view edge, nested scope clusters, kind styles,
the gradient colours, fused bodies as clusters, escaping; and ``dot`` accepts the text (when installed)."""

import re
import shutil
import subprocess
from xml.etree import ElementTree

import pytest

import graphc as gc
from graphc.viz import graph_view, to_dot
from graphc.viz.dot import GRADIENT_COLOR, STYLES
from graphc.viz.model import KINDS

_NODE = re.compile(r"^\s*(\w+) \[(.*)\];$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\];$")
_ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """(nodes, edges, clusters) of DOT written by ``to_dot``: nodes map id -> attrs plus ``clusters``
    (the enclosing cluster names, outermost first); clusters map name -> graph attrs plus ``parent``."""
    stack, nodes, edges, clusters = [], {}, [], {}
    for line in text.splitlines():
        if m := re.match(r"^\s*subgraph (cluster_\w+) \{$", line):
            clusters[m[1]] = {"parent": stack[-1] if stack else None}
            stack.append(m[1])
        elif line.strip() == "}":
            if stack:
                stack.pop()
        elif m := _EDGE.match(line):
            edges.append((m[1], m[2], dict(_ATTR.findall(m[3]))))
        elif m := _NODE.match(line):
            if m[1] == "graph" and stack:
                clusters[stack[-1]].update(_ATTR.findall(m[2]))
            elif m[1] not in ("graph", "node", "edge"):
                nodes[m[1]] = {**dict(_ATTR.findall(m[2])), "clusters": tuple(stack)}
    return nodes, edges, clusters


def _mlp():
    x = gc.placeholder("float32", (None, 4), name="x")
    with gc.name_scope("model"), gc.name_scope("dense"):
        w = gc.Variable(gc.init.zeros((4, 2)), name="w")
        h = gc.relu(gc.matmul(x, w) + 1.0)
    with gc.name_scope("loss"):
        loss = gc.reduce_mean(gc.exp(h) * h)
    return x, w, loss


def _training_executable():
    x, w, loss = _mlp()
    (gw,) = gc.grad(loss, [w])
    return gc.compile([loss], feeds=[x], updates=[(w, w - 0.1 * gw)])


def _with_control():
    v = gc.Variable([1.0, 2.0], name="v")
    bump = gc.assign_add(v, gc.constant([1.0, 1.0]))
    with gc.control_dependencies([bump]):
        return gc.exp(v)


def _odd_names():
    x = gc.placeholder("float32", (2,), name='say "hi"\\ <b>&\nnext')
    with gc.name_scope('sc"o<pe>'):
        return gc.exp(x, name='e"\\')


def test_every_view_box_is_one_dot_node_and_the_legend_one_more(graph):
    _, _, loss = _mlp()
    nodes, _, _ = parse(to_dot(loss))
    assert set(nodes) == {f"n{i}" for i in range(len(graph_view(loss).nodes))} | {"legend"}


def test_every_view_edge_is_one_dot_edge_labelled_with_its_type(graph):
    _, _, loss = _mlp()
    _, edges, _ = parse(to_dot(loss))
    assert sorted(a["label"] for _, _, a in edges) == sorted(e.label for e in graph_view(loss).edges)


def test_name_scopes_become_nested_clusters(graph):
    _, _, loss = _mlp()
    view = graph_view(loss)
    nodes, _, clusters = parse(to_dot(loss))
    matmul = nodes[f"n{[n.id for n in view.nodes].index('model/dense/matmul')}"]
    assert [clusters[c]["label"] for c in matmul["clusters"]] == ["model", "dense"]
    assert clusters[matmul["clusters"][1]]["parent"] == matmul["clusters"][0]


def test_depth_collapses_deep_scopes_into_one_box_each(graph):
    _, _, loss = _mlp()
    nodes, edges, _ = parse(to_dot(loss, depth=0))
    labels = {a["label"] for a in nodes.values() if a.get("shape") == STYLES["scope"]["shape"]}
    assert labels == {"model (5 nodes)", "loss (3 nodes)"}
    assert len(edges) == len(graph_view(loss, depth=0).edges)


def test_a_collapsed_scope_and_a_node_of_its_name_stay_two_boxes_joined_by_an_edge(graph):
    x = gc.placeholder("float32", (None, 3), name="dense")
    with gc.name_scope("dense"):
        gc.relu(gc.exp(x))
    nodes, edges, _ = parse(to_dot(graph, depth=0))
    by_label = {a.get("label"): dot_id for dot_id, a in nodes.items()}
    placeholder, scope = by_label["dense\\nPlaceholder"], by_label["dense (2 nodes)"]
    assert [(src, dst) for src, dst, _ in edges] == [(placeholder, scope)]  # not a self loop


def test_each_kind_has_its_own_shape_and_fill_pair():
    assert len({(s["shape"], s["fillcolor"]) for s in STYLES.values()}) == len(KINDS)


def test_nodes_are_filled_with_the_colour_of_their_kind(graph):
    exe = _training_executable()
    nodes, _, _ = parse(to_dot(exe))
    for i, box in enumerate(graph_view(exe).nodes):
        assert nodes[f"n{i}"]["fillcolor"] == STYLES[box.kind]["fillcolor"], box.id


def test_gradient_part_is_drawn_in_the_orange_family(graph):
    x, w, loss = _mlp()
    (gw,) = gc.grad(loss, [w])
    view = graph_view(gw)
    nodes, _, clusters = parse(to_dot(gw))
    for i, box in enumerate(view.nodes):
        in_gradients = box.id.startswith("gradients/")
        assert (nodes[f"n{i}"]["color"] == GRADIENT_COLOR) == in_gradients, box.id
    gradient_clusters = [c for c in clusters.values() if c["tooltip"].startswith("gradients")]
    assert gradient_clusters and all(c["color"] == GRADIENT_COLOR for c in gradient_clusters)


def test_control_edges_are_dashed_and_unlabelled(graph):
    y = _with_control()
    _, edges, _ = parse(to_dot(y))
    dashed = [a for _, _, a in edges if a.get("style") == "dashed"]
    assert len(dashed) == sum(e.control for e in graph_view(y).edges) == 1
    assert "label" not in dashed[0]


def test_fused_op_is_a_cluster_holding_its_body_chained_by_arguments(graph):
    exe = _training_executable()
    view = graph_view(exe)
    nodes, edges, _ = parse(to_dot(exe))
    fused = [(i, box) for i, box in enumerate(view.nodes) if box.body]
    assert fused
    for i, box in fused:
        head = f"n{i}"
        cluster = nodes[head]["clusters"][-1]
        body = [nid for nid, a in nodes.items() if a["clusters"][-1:] == (cluster,) and nid != head]
        assert len(body) == len(box.body)  # one small box per instruction, and the return box
        inside = {(s, d) for s, d, _ in edges if s.startswith(head + "_") or d.startswith(head + "_")}
        # "%5 = Multiply(%4, %3)": an edge from each argument's instruction (or the head, for inputs)
        made = {}
        for k, line in enumerate(box.body):
            if m := re.match(r"%(\d+) =", line):
                made[m[1]] = f"{head}_{k}"
            args = re.findall(r"%(\d+)", line.split("=", 1)[-1] if "=" in line else line)
            for a in args:
                assert (made.get(a, head), f"{head}_{k}") in inside, line


def test_edges_to_and_from_a_fused_op_end_at_its_cluster_border(graph):
    exe = _training_executable()
    view = graph_view(exe)
    nodes, edges, _ = parse(to_dot(exe))
    heads = {f"n{i}": nodes[f"n{i}"]["clusters"][-1] for i, box in enumerate(view.nodes) if box.body}
    into = [(d, a) for s, d, a in edges if d in heads]
    out_of = [(s, a) for s, d, a in edges if "ltail" in a]
    assert into and all(a["lhead"] == heads[d] for d, a in into)
    assert out_of and all(nodes[s]["label"].startswith("return") for s, _ in out_of)
    assert all(nodes[s]["clusters"][-1] == a["ltail"] for s, a in out_of)


def test_a_long_fused_body_is_drawn_whole(graph):
    x = gc.placeholder("float32", (None, 3), name="x")
    y = x
    for _ in range(10):  # 40 elementwise ops: one fused body, over 400 characters of text
        y = gc.exp(gc.tanh(y) * 0.5 + 0.25)
    exe = gc.compile([y], feeds=[x])
    (fused,) = [n for n in exe.program.nodes if n.op.type_name == "FusedOp"]
    assert len(fused.op.attrs()["body"]) > 400
    (box,) = [b for b in graph_view(exe).nodes if b.body]
    assert len(box.body) == len(fused.op.body) + 1  # the return line too


def test_labels_escape_quotes_backslashes_newlines_and_angle_brackets(graph):
    text = to_dot(_odd_names())
    assert 'label="say \\"hi\\"\\\\ &lt;b&gt;&amp;\\nnext\\nPlaceholder"' in text
    assert 'label="sc\\"o&lt;pe&gt;"' in text
    assert "\r" not in text and all(line.count('"') % 2 == 0 for line in text.splitlines())


def test_a_lone_surrogate_in_a_name_or_file_name_becomes_its_escape(graph):
    # Python decodes an undecodable byte of a file name as a lone surrogate, which UTF-8 cannot encode
    with graph.located_at(("/home/u/tr\udce9in.py", 3)):
        gc.placeholder("float32", (None,), name="x\udce9")
    text = to_dot(graph)
    text.encode("utf-8")  # no UnicodeEncodeError: the text can be written and piped to dot
    nodes, _, _ = parse(text)
    (box,) = [a for a in nodes.values() if a.get("shape") == STYLES["placeholder"]["shape"]]
    assert box["label"] == "x\\\\udce9\\nPlaceholder"  # a DOT-escaped backslash, then udce9
    assert "tr\\\\udce9in.py:3" in box["tooltip"]


def _control_characters():
    return gc.exp(gc.placeholder("float32", (2,), name="a\x00b\x01c\x1fd\te"), name="e\x0b")


def test_control_characters_in_names_become_their_escapes(graph):
    # dot stops at a NUL and writes the others into SVG, which XML forbids (no viewer opens the file)
    text = to_dot(_control_characters())
    assert not re.search("[\x00-\x08\x0b-\x1f]", text)
    assert 'label="a\\\\x00b\\\\x01c\\\\x1fd\te\\nPlaceholder"' in text


def _many_outputs():
    # the split's tooltip lists 2500 output types: over 20000 characters
    parts = gc.split(gc.placeholder("float32", (2500, 3), name="x"), 2500, axis=0)
    return gc.add(parts[0], parts[-1])


def test_a_string_longer_than_graphviz_scans_is_written_in_pieces_joined_by_plus(graph):
    text = to_dot(_many_outputs())
    quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    assert max(len(q.encode()) for q in quoted) <= 16384  # Graphviz refuses longer quoted strings
    (line,) = [line for line in text.splitlines() if "Split" in line]
    tooltip = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("tooltip=", 1)[1]))
    assert tooltip.count("f32[1,3]") == 2500  # the pieces hold the whole text


def test_legend_lists_the_kinds_present_and_control_edges(graph):
    y = _with_control()
    legend = next(line for line in to_dot(y).splitlines() if line.strip().startswith("legend"))
    for entry in ("variable (read)", "update (new variable value)", "constant", "control dependency"):
        assert entry in legend
    assert "gradient" not in legend and "fused" not in legend


def test_title_is_the_picture_label(graph):
    _, _, loss = _mlp()
    assert 'label="my model"' in to_dot(loss, title="my model").splitlines()[1]


def _whole_graph():
    _mlp()
    return gc.get_default_graph()


def _gradient():
    _, w, loss = _mlp()
    return gc.grad(loss, [w])


CASES = {
    "plain": (lambda: _mlp()[2], None),
    "scopes": (_whole_graph, None),
    "depth": (_whole_graph, 1),
    "gradients": (_gradient, None),
    "executable": (_training_executable, None),
    "control": (_with_control, None),
    "odd names": (_odd_names, None),
    "many outputs": (_many_outputs, None),
    "control characters": (_control_characters, None),
}


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
@pytest.mark.parametrize("case", list(CASES))
def test_dot_lays_out_the_text(graph, case):
    build, depth = CASES[case]
    x = build()
    result = subprocess.run(["dot", "-Tsvg"], input=to_dot(x, depth=depth).encode(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert b"<svg" in result.stdout
    ElementTree.fromstring(result.stdout)  # well-formed XML: any SVG viewer opens it
    assert not result.stderr, result.stderr.decode()  # no warnings either (e.g. about lhead)
