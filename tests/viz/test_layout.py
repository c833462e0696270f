"""Our layered layout: every node placed, edges point down the layers, no overlaps within a layer, routes
start and end on their boxes, cycles tolerated, and a few hundred nodes lay out well under a second."""

import random
from itertools import pairwise

import graphc as gc
from graphc.viz import graph_view
from graphc.viz.layout import NODE_GAP, Box, _Centres, label_size, layered_layout, layout_view


def _random_dag(n, seed=0, fan_in=3):
    rng = random.Random(seed)
    ids = [f"n{i}" for i in range(n)]
    edges = []
    for i in range(1, n):
        for _ in range(rng.randint(0 if i < 10 else 1, fan_in)):
            edges.append((ids[rng.randrange(max(0, i - 40), i)], ids[i]))
    sizes = {v: (rng.uniform(40, 160), rng.choice((28.0, 42.0))) for v in ids}
    return ids, edges, sizes


def _mlp_training_view():
    x = gc.placeholder("float32", (None, 16), name="x")
    labels = gc.placeholder("int64", (None,), name="labels")
    params, h = [], x
    for i in range(3):
        with gc.name_scope(f"dense{i}"):
            w = gc.Variable(gc.init.glorot_uniform((16, 16), seed=i), name="w")
            b = gc.Variable(gc.init.zeros((16,)), name="b")
            h = gc.relu(gc.matmul(h, w) + b)
        params += [w, b]
    loss = -gc.reduce_mean(gc.reduce_sum(gc.log_softmax(h) * gc.one_hot(labels, 16), axis=-1))
    grads = gc.grad(loss, params)
    exe = gc.compile([loss], [x, labels], [(p, p - 0.1 * g) for p, g in zip(params, grads, strict=True)])
    return graph_view(exe.source)


def test_every_node_gets_a_box_with_its_size():
    ids, edges, sizes = _random_dag(60)
    lay = layered_layout(ids, edges, sizes)
    assert set(lay.boxes) == set(ids)
    for v in ids:
        box = lay.boxes[v]
        assert (box.w, box.h) == sizes[v]
        assert box.x - box.w / 2 >= 0 and box.x + box.w / 2 <= lay.width
        assert box.y - box.h / 2 >= 0 and box.y + box.h / 2 <= lay.height


def test_edges_go_from_a_higher_layer_to_a_lower_one():
    ids, edges, sizes = _random_dag(120, seed=1)
    lay = layered_layout(ids, edges, sizes)
    for s, d in edges:
        assert lay.boxes[s].layer < lay.boxes[d].layer
        assert lay.boxes[s].y < lay.boxes[d].y


def test_no_two_boxes_of_a_layer_overlap():
    ids, edges, sizes = _random_dag(200, seed=2)
    lay = layered_layout(ids, edges, sizes)
    layers = {}
    for box in lay.boxes.values():
        layers.setdefault(box.layer, []).append(box)
    for boxes in layers.values():
        boxes.sort(key=lambda b: b.x)
        for a, b in pairwise(boxes):
            assert a.x + a.w / 2 + NODE_GAP <= b.x - b.w / 2 + 1e-6


def test_routes_start_at_the_source_bottom_and_end_at_the_target_top():
    ids, edges, sizes = _random_dag(80, seed=3)
    lay = layered_layout(ids, edges, sizes)
    assert len(lay.routes) == len(edges)
    for (s, d), points in zip(edges, lay.routes, strict=True):
        src, dst = lay.boxes[s], lay.boxes[d]
        (x0, y0), (x1, y1) = points[0], points[-1]
        assert y0 == src.y + src.h / 2 and abs(x0 - src.x) <= src.w / 2
        assert y1 == dst.y - dst.h / 2 and abs(x1 - dst.x) <= dst.w / 2
        assert 2 <= len(points) <= dst.layer - src.layer + 1  # at most one bend per layer crossed
        assert all(a[1] < b[1] for a, b in pairwise(points))  # straight down, layer by layer


def test_a_source_used_by_every_step_of_a_long_chain_costs_points_linear_in_the_chain():
    # "w" feeds every other node of a 600-node chain: one dummy per layer crossed and edge would be
    # quadratic; its edges share one trunk of dummies, and a route keeps only the points where it bends
    steps = 300
    ids = ["w"] + [f"c{i}" for i in range(2 * steps)]
    edges = [(a, b) for a, b in pairwise(ids[1:])] + [("w", f"c{2 * i}") for i in range(steps)]
    lay = layered_layout(ids, edges, {v: (60.0, 28.0) for v in ids})
    assert sum(len(route) for route in lay.routes) < 6 * len(edges)
    for (s, d), points in zip(edges, lay.routes, strict=True):  # every route still joins its boxes
        assert points[0][1] == lay.boxes[s].y + 14.0 and points[-1][1] == lay.boxes[d].y - 14.0


def test_cycles_are_laid_out_with_an_edge_pointing_up():
    sizes = {v: (40.0, 20.0) for v in "abc"}
    lay = layered_layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")], sizes)
    assert sorted(b.layer for b in lay.boxes.values()) == [0, 1, 2]
    assert all(len(route) >= 2 for route in lay.routes)


def test_self_loops_and_unknown_ends_get_empty_routes():
    sizes = {v: (40.0, 20.0) for v in "ab"}
    lay = layered_layout(["a", "b"], [("a", "a"), ("a", "zz"), ("a", "b")], sizes)
    assert lay.routes[0] == [] and lay.routes[1] == [] and len(lay.routes[2]) == 2


def test_sources_sit_just_above_their_first_consumer():
    # "late" feeds only the last node: longest-path layering alone would put it at the top
    ids = ["a", "b", "c", "late"]
    sizes = {v: (40.0, 20.0) for v in ids}
    lay = layered_layout(ids, [("a", "b"), ("b", "c"), ("late", "c")], sizes)
    assert lay.boxes["late"].layer == lay.boxes["c"].layer - 1


def test_barycenter_sweeps_untangle_a_crossed_pair():
    # creation order crosses the two chains; the sweeps put each child under its parent
    ids = ["p", "q", "cq", "cp"]
    sizes = {v: (40.0, 20.0) for v in ids}
    lay = layered_layout(ids, [("p", "cp"), ("q", "cq")], sizes)
    assert (lay.boxes["p"].x < lay.boxes["q"].x) == (lay.boxes["cp"].x < lay.boxes["cq"].x)


def test_label_size_grows_with_the_label():
    w1, h1 = label_size("Add")
    w2, h2 = label_size("MatMul\ntranspose_a=False, transpose_b=True")
    assert w2 > w1 and h2 > h1


def test_three_hundred_nodes_lay_out_with_every_box_placed_apart():
    # how long it takes is for a benchmark to say, not a test (the machine may be busy)
    ids, edges, sizes = _random_dag(300, seed=4)
    lay = layered_layout(ids, edges, sizes)
    assert set(lay.boxes) == set(ids)
    assert len({(round(b.x), round(b.y)) for b in lay.boxes.values()}) == len(ids)


def test_a_training_graph_view_lays_out_with_compact_scopes_only(graph):
    view = _mlp_training_view()
    assert len(view.nodes) > 50
    lay = layout_view(view)
    assert set(lay.boxes) == {v.id for v in view.nodes}
    names = {s[0] for s in lay.scopes}
    assert names and "gradients" not in names  # the backward pass is everywhere: no box for it
    for name, x, y, w, h in lay.scopes:  # a drawn scope encloses all of its nodes
        for v in view.nodes:
            if ("/".join(v.scope) + "/").startswith(name + "/"):
                box = lay.boxes[v.id]
                assert x <= box.x - box.w / 2 and box.x + box.w / 2 <= x + w
                assert y <= box.y - box.h / 2 and box.y + box.h / 2 <= y + h


def test_scope_box_counts_match_a_count_over_every_box():
    # the layout counts the boxes inside each scope's rectangle by bisecting rows of sorted centres
    # (looking at every box once per scope was quadratic: bench/NOTES.md, "Graph pictures at scale")
    rng = random.Random(3)
    grid = [(rng.randint(0, 40) * 10.0, rng.randint(0, 8) * 30.0) for _ in range(300)]
    boxes = [Box(x, y, 10, 10, 0) for x, y in grid]
    centres = _Centres(boxes)
    for _ in range(500):
        x0, x1 = sorted(rng.choice([rng.uniform(-10, 410), rng.randint(0, 40) * 10.0]) for _ in range(2))
        y0, y1 = sorted(rng.choice([rng.uniform(-10, 250), rng.randint(0, 8) * 30.0]) for _ in range(2))
        want = sum(1 for b in boxes if x0 < b.x < x1 and y0 < b.y < y1)
        assert centres.count(x0, y0, x1, y1) == want
