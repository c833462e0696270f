"""``fuse``: connected elementwise nodes, optionally ended by one reduction, become one ``FusedOp`` node.

requires: nothing (types are re-inferred by the body ops). ensures: no two connected fusible
elementwise nodes stay separate unless a rule below forbids joining them; values never change (the
fused body runs the same op references in the same order, so results are bit-identical).

Groups are grown greedily in graph order. Rules (each has a test in ``tests/passes/test_fuse.py``):

- "fusible": a node is fusible when its op is ``Elementwise`` (or a ``Reduce``, see below), pure, and
  the node has no control inputs. Stateful nodes (assignments, random draws) and everything else
  (matmul, reshape, placeholders, constants) are never fused; constants are ordinary inputs.
- "join": a fusible elementwise node joins the open groups of its inputs' producers (merging them),
  one after another in input order, each only where the "no cycle" rule allows.
- "no cycle": a set may become a group only if none of its inputs from outside the set depends on the
  set, counting data edges, control edges, the execution order of stateful nodes, and the groups
  already formed (a group depends on whatever any of its members depends on). So the fused graph stays
  acyclic: a path through a matmul from one elementwise group to another keeps them apart.
- "trailing reduction": a ``Reduce`` (Sum, Mean, Max, Min, Prod, LogSumExp) whose input comes from an
  open group joins it and closes it: nothing joins a closed group, so the reduction is the body's last
  op. A reduction never starts a group.
- "one loop domain": every elementwise member has the same output shape (smaller inputs broadcast into
  it), so a backend runs the body as one loop nest; a scalar chain (e.g. Adam's bias correction) is
  its own group instead of joining a matrix group through a broadcast. Equal static shapes with
  unknown dimensions may still differ at run time (a batch fed as 1 broadcasting against another):
  a backend checks the body's shapes per input-shape signature (``FusedOp.infer`` with the concrete
  shapes) and runs the body op by op where they are not all one loop.
- "tens of ops": a body holds at most MAX_BODY_OPS ops, because compile time grows superlinearly with
  the size of one generated function (NUMBA_NOTES.md).
- "at least two ops": a group of one op stays an ordinary node.
- "no duplicated work": every value is computed once. A group value used outside the group (by another
  node or by the program's outputs) is an output of the ``FusedOp``; nothing is recomputed. Control
  edges and program targets on a member move to the ``FusedOp`` node.
- "order": the new graph is a stable topological sort by original position (a group sits at its last
  member's position, or later if an input forces it), with edges between consecutive stateful nodes,
  so stateful nodes keep their relative order. A ``FusedOp`` node takes its last member's location and
  that node's name with a ``_fused`` suffix (made unique against every name of the input graph, so the
  other nodes keep their names, which random streams depend on); its ``origins`` keep every member's
  own context, so that an error in the body names the member that failed.

Dependencies are tracked as ancestor bit sets per group. A merge updates the groups that depend on
the merged ones, found along the dependency edges (``_merge``): milliseconds for training graphs of a
few hundred nodes, 0.7 s for 18000 nodes in 3000 independent branches and 1 s for a 15000-node
training graph (600 blocks of tanh/matmul/exp and their gradients).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from graphc.ir.graph import Graph, Node, Tensor
from graphc.ops.elementwise import Elementwise
from graphc.ops.fused import FusedOp
from graphc.ops.reduce import Reduce
from graphc.passes.builder import GraphBuilder

MAX_BODY_OPS = 48


def fuse(graph: Graph) -> Graph:
    """Fuse groups of connected elementwise nodes (and a trailing reduction) into ``FusedOp`` nodes."""
    deps = _dependencies(graph)
    groups = [g for g in _plan_groups(graph, deps) if len(g) >= 2]
    if not groups:
        return graph
    return _rebuild(graph, groups, deps)


def _fusible(node: Node, kind: type) -> bool:
    op = node.op
    return isinstance(op, kind) and op.pure and not op.stateful and not node.control_inputs


def _dependencies(graph: Graph) -> dict[Node, list[Node]]:
    """Each node's predecessors: input producers, control inputs, and the previous stateful node (the
    edge that keeps stateful nodes in order)."""
    deps: dict[Node, list[Node]] = {}
    last_stateful = None
    for node in graph.nodes:
        before = [t.node for t in node.inputs] + list(node.control_inputs)
        if node.op.stateful:
            if last_stateful is not None:
                before.append(last_stateful)
            last_stateful = node
        deps[node] = list(dict.fromkeys(before))
    return deps


class _Unit:
    """A node or a group of nodes, as one vertex of the contracted dependency graph."""

    __slots__ = ("members", "mask", "ancestors", "open", "tracked", "domain", "dependents")

    def __init__(self, node: Node, bit: int, open_group: bool):
        self.members = [node]
        self.domain = node.outputs[0].shape if node.outputs else None  # the loop shape of the group
        self.mask = bit  # the members' bits
        # for every group this unit depends on (through any unit), at least one of its members' bits:
        # the question asked is only ever "does it depend on these groups", and a member's bit stays
        # a member's. Nodes that never join a group (matmuls, constants, a lone reduction) leave their
        # own bit out: no mask asked about holds it
        self.ancestors = 0
        self.open = open_group  # elementwise group that may still grow
        self.tracked = open_group  # its bits may be asked about: a group, or a node that may join one
        # units with an edge from this one (a unit merged away since stands for the unit its members
        # are in now: ``unit_of[u.members[0]]``)
        self.dependents: set[_Unit] = set()


def _plan_groups(graph: Graph, deps: dict[Node, list[Node]]) -> list[list[Node]]:
    """The groups, each a list of nodes in graph order (singletons included)."""
    unit_of: dict[Node, _Unit] = {}
    units: dict[_Unit, None] = {}  # in creation order
    for node in graph.nodes:
        elementwise = _fusible(node, Elementwise)
        unit = _Unit(node, 1 << node.index, elementwise)
        for d in deps[node]:
            before = unit_of[d]
            unit.ancestors |= before.ancestors | (before.mask if before.tracked else 0)
            before.dependents.add(unit)
        unit_of[node] = unit
        units[unit] = None
        if elementwise:
            producers = [unit_of[t.node] for t in node.inputs]
        elif _fusible(node, Reduce):
            producers = [unit_of[node.inputs[0].node]]
        else:
            continue
        for other in dict.fromkeys(producers):
            joinable = (
                other.open
                and other is not unit
                and (other.domain == unit.domain or not elementwise)
                and len(unit.members) + len(other.members) <= MAX_BODY_OPS
            )
            if joinable and _acyclic(unit, other, deps, unit_of):
                unit = _merge(unit, other, unit_of, units)
        # a reduction closes the group it joined, and alone it is no group
        unit.open = elementwise
    return [u.members for u in units]


def _acyclic(a: _Unit, b: _Unit, deps: dict[Node, list[Node]], unit_of: dict[Node, _Unit]) -> bool:
    """True when no input from outside ``a`` and ``b`` together depends on either of them."""
    mask = a.mask | b.mask
    for member in (*a.members, *b.members):
        for d in deps[member]:
            outside = unit_of[d]
            if outside is not a and outside is not b and outside.ancestors & mask:
                return False
    return True


def _merge(a: _Unit, b: _Unit, unit_of: dict[Node, _Unit], units: dict[_Unit, None]) -> _Unit:
    """``b`` absorbed into ``a``; units that depended on either now depend on all ``a`` depends on.

    Those units are found by walking the edges out of ``a`` and ``b``, not by testing every unit: a
    merge in a graph of thousands of independent branches touches a few units, where a scan of all
    of them made the pass cubic (3000 branches of three ops, 18000 nodes: 12.8 s). A unit that already
    depends on everything ``a`` does ends the walk there: whatever depends on it does too. The merged
    members' own bits are not spread: the units below hold one of them already, which answers for the
    group (a gradient op joining a forward group had made every later forward unit change, 8.3 s for
    the 15000-node graph)."""
    mask = a.mask | b.mask
    a.members = sorted((*a.members, *b.members), key=lambda n: n.index)
    a.ancestors = (a.ancestors | b.ancestors) & ~mask
    a.mask = mask
    a.tracked = True
    for member in b.members:
        unit_of[member] = a
    del units[b]
    a.dependents |= b.dependents
    added = a.ancestors  # (the merged members' own bits they hold already: one of them, enough)
    seen = {a}
    stack = list(a.dependents)
    while stack:
        u = unit_of[stack.pop().members[0]]
        if u in seen:
            continue
        seen.add(u)
        if u.ancestors | added != u.ancestors:
            u.ancestors |= added
            stack.extend(u.dependents)
    return a


def _rebuild(graph: Graph, groups: list[list[Node]], deps: dict[Node, list[Node]]) -> Graph:
    group_of = {member: i for i, g in enumerate(groups) for member in g}
    order = _schedule(graph, groups, group_of, deps)
    used_outside = _used_outside(graph, group_of)
    taken = {n.name for n in graph.nodes}
    builder = GraphBuilder(graph)
    for item in order:
        if isinstance(item, Node):
            builder.copy(item)
            continue
        group = groups[item]
        _add_fused(builder, group, [m for m in group if m.outputs[0] in used_outside], taken)
    return builder.finish()


def _schedule(graph, groups, group_of, deps) -> list:
    """A stable topological order of units (nodes, and group indices), keyed by original position."""
    key = {}  # unit -> position: a node's own, a group's last member's
    for node in graph.nodes:
        unit = group_of.get(node, node)
        key[unit] = node.index if unit is node else max(key.get(unit, -1), node.index)
    preds: dict = {u: set() for u in key}
    succs: dict = {u: set() for u in key}
    for node in graph.nodes:
        unit = group_of.get(node, node)
        for d in deps[node]:
            du = group_of.get(d, d)
            if du != unit:
                preds[unit].add(du)
                succs[du].add(unit)
    waiting = {u: len(p) for u, p in preds.items()}
    ready = [(key[u], i, u) for i, u in enumerate(key) if not waiting[u]]
    heapq.heapify(ready)
    tiebreak = {u: i for i, u in enumerate(key)}
    order = []
    while ready:
        _, _, unit = heapq.heappop(ready)
        order.append(unit)
        for s in succs[unit]:
            waiting[s] -= 1
            if not waiting[s]:
                heapq.heappush(ready, (key[s], tiebreak[s], s))
    if len(order) != len(key):
        raise AssertionError("fuse: the fused graph has a cycle (a bug in the no-cycle rule)")
    return order


def _used_outside(graph: Graph, group_of: dict[Node, int]) -> set[Tensor]:
    """Group values that a node outside their group, or the program's outputs, use."""
    used = set(graph.outputs)
    for node in graph.nodes:
        for t in node.inputs:
            if t.node in group_of and group_of.get(node) != group_of[t.node]:
                used.add(t)
    return used


def _add_fused(builder: GraphBuilder, group: list[Node], exported: Sequence[Node], taken: set[str]) -> None:
    """Add one ``FusedOp`` node for ``group`` and map the group's nodes and exported values to it."""
    last = group[-1]
    exported = list(exported) or [last]  # a node needs an output; a dead group still computes its last
    index: dict[Tensor, int] = {}
    inputs: list[Tensor] = []
    for member in group:
        for t in member.inputs:
            if t.node not in group and t not in index:
                index[t] = len(inputs)
                inputs.append(t)
    body = []
    for k, member in enumerate(group):
        body.append((member.op, tuple(index[t] for t in member.inputs)))
        index[member.outputs[0]] = len(inputs) + k
    outputs = tuple(index[m.outputs[0]] for m in exported)
    op = FusedOp(tuple(body), len(inputs), outputs, origins=tuple(member.where for member in group))
    name = _free_name(f"{last.name}_fused", taken)
    new = builder.graph.add_node(op, [builder.tensors[t] for t in inputs], name, last.location)
    for member, t in zip(exported, new.outputs, strict=True):
        if t.type != member.outputs[0].type:
            raise AssertionError(
                f"fuse changed the type of {member.name}: {member.outputs[0].type} -> {t.type}"
            )
        builder.tensors[member.outputs[0]] = t
    for member in group:
        builder.nodes[member] = new  # control edges and program targets on a member follow the fused node


def _free_name(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name
