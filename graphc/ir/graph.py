"""The graph IR: ``Graph`` (append-only nodes), ``Node`` (an op applied to tensors) and ``Tensor``.

Nodes are kept in creation order, which is a topological order (inputs and control inputs exist before
the node that uses them). Each node records the user's ``file:line`` where it was created, so errors
raised at build time or at run time point at the user's code. Graphs are the define layer: nothing is
computed here.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import os
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from graphc.ir.errors import DTypeError, GraphcError, GraphMismatchError, ShapeError
from graphc.ir.op import Op, _snake
from graphc.ir.types import TensorType

_INTERNAL_PREFIXES = ("graphc.", "contextlib", "importlib")
#: every graph alive, for ``_new_locks_in_child``
_graphs: weakref.WeakSet = weakref.WeakSet()


def _new_locks_in_child() -> None:
    """In a forked child: a thread adding a node in the parent (holding its graph's lock) does not
    exist there, and the child's first node in that graph waited for it for good."""
    for graph in list(_graphs):
        graph._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_in_child)


def _user_location() -> tuple[str, int]:
    """The first frame outside graphc: where the user's code created a node."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        internal = module == "graphc" or module.startswith(_INTERNAL_PREFIXES)
        if not internal or frame.f_code.co_filename.startswith("<"):  # "<doctest ...>", "<stdin>"
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


def where_to_be(op_name: str, name: str | None) -> str:
    """The node context of a node the user's code is making but that is not made yet (its error came
    first): ``node 'name' (Op) created at file:line``."""
    file, line = _user_location()
    return f"node {name or _snake(op_name)!r} ({op_name}) created at {file}:{line}"


def _infer_arity(op: Op, count: int) -> str | None:
    """How many inputs ``op.infer`` takes ("2 inputs", "1 to 3 inputs"), or None if it takes ``count``."""
    try:
        inspect.signature(op.infer).bind(*range(count))
        return None
    except TypeError:
        params = inspect.signature(op.infer).parameters.values()
        low = sum(p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        high = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        n = f"{low} to {high}" if high != low else f"{low}"
        return f"{n} input{'s' if high != 1 else ''}"


@contextlib.contextmanager
def making(op_name: str, name: str | None) -> Iterator[None]:
    """Checks made before a node exists: a GraphcError raised inside names the node being made
    (``where_to_be``), unless it names a node already.

    Example:
        >>> import graphc as gc
        >>> from graphc.ir.errors import ShapeError
        >>> try:
        ...     with making("Split", "pieces"):
        ...         raise ShapeError("needs a known size")
        ... except ShapeError as e:
        ...     print(str(e).split(" created at")[0])
        node 'pieces' (Split)
    """
    try:
        yield
    except GraphcError as e:
        raise e.with_context(where_to_be(op_name, name)) from None


class Tensor:
    """A symbolic value: output ``index`` of ``node``, with a static ``type`` (shape and dtype).

    Operators build nodes: ``+ - * / // % ** @``, unary ``-``, ``abs()``, ``< <= > >=`` (bool tensors)
    and numpy-style indexing ``x[1:3, :, None, -1]``. ``==`` and ``!=`` compare identity, as in TF1, so
    tensors can be dict keys and list members; use ``graphc.equal`` for elementwise equality.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3), name="x")
        ...     y = (x * 2.0)[:, 0]
        >>> x.shape, x.dtype, y.shape, y.name
        ((None, 3), dtype('float32'), (None,), 'get_item:0')
        >>> x == x, x == y, len({x: "a", y: "b"})  # identity, as TF1: tensors can be dict keys
        (True, False, 2)
    """

    __slots__ = ("node", "index", "type", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our operators: ``np_array + tensor`` builds a node

    def __init__(self, node: Node, index: int, type: TensorType):
        self.node = node
        self.index = index
        self.type = type

    @property
    def producer(self) -> Node:
        """The node this tensor is an output of (same as ``node``)."""
        return self.node

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    @property
    def graph(self) -> Graph:
        return self.node.graph

    @property
    def op(self) -> Op:
        return self.node.op

    @property
    def name(self) -> str:
        return f"{self.node.name}:{self.index}"

    def __repr__(self) -> str:
        return f"<Tensor {self.name} {self.type}>"

    # __eq__ and __hash__ stay object's: identity, as TF1 (see the class docstring)

    def __bool__(self):
        raise TypeError(
            f"the truth value of symbolic tensor {self.name} is not known while the graph is built; "
            "use graphc.where / graphc.logical_and instead of Python's if/and/or"
        )

    def __len__(self):
        if self.ndim == 0 or self.shape[0] is None:
            raise TypeError(f"len() of {self.name} with shape {self.type} is not known statically")
        return self.shape[0]

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"symbolic tensor {self.name} has no value while the graph is built; "
            "fetch it with Session.run or graphc.function"
        )

    def __iter__(self):
        raise TypeError(f"tensor {self.name} is not iterable; index it or use graphc.split/unstack")

    # Operators: the functions live in graphc.ops (imported lazily; ops build on this module).
    def __add__(self, o):
        return _ops().add(self, o)

    def __radd__(self, o):
        return _ops().add(o, self)

    def __sub__(self, o):
        return _ops().subtract(self, o)

    def __rsub__(self, o):
        return _ops().subtract(o, self)

    def __mul__(self, o):
        return _ops().multiply(self, o)

    def __rmul__(self, o):
        return _ops().multiply(o, self)

    def __truediv__(self, o):
        return _ops().divide(self, o)

    def __rtruediv__(self, o):
        return _ops().divide(o, self)

    def __floordiv__(self, o):
        return _ops().floor_divide(self, o)

    def __rfloordiv__(self, o):
        return _ops().floor_divide(o, self)

    def __mod__(self, o):
        return _ops().mod(self, o)

    def __rmod__(self, o):
        return _ops().mod(o, self)

    def __pow__(self, o):
        return _ops().power(self, o)

    def __rpow__(self, o):
        return _ops().power(o, self)

    def __matmul__(self, o):
        return _ops().matmul(self, o)

    def __rmatmul__(self, o):
        return _ops().matmul(o, self)

    def __neg__(self):
        return _ops().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    # ``~ & |`` are logical, as in TF1 (numbers count as true when nonzero), but not on integers:
    # numpy's are bitwise there (``~np.int64(1) == -2``, ``2 & 1 == 0``), and a logical result would
    # be a silent wrong answer.
    def __invert__(self):
        _check_logical_operands("~", "LogicalNot", self)
        return _ops().logical_not(self)

    def __and__(self, o):
        _check_logical_operands("&", "LogicalAnd", self, o)
        return _ops().logical_and(self, o)

    def __rand__(self, o):
        _check_logical_operands("&", "LogicalAnd", o, self)
        return _ops().logical_and(o, self)

    def __or__(self, o):
        _check_logical_operands("|", "LogicalOr", self, o)
        return _ops().logical_or(self, o)

    def __ror__(self, o):
        _check_logical_operands("|", "LogicalOr", o, self)
        return _ops().logical_or(o, self)

    def __lt__(self, o):
        return _ops().less(self, o)

    def __le__(self, o):
        return _ops().less_equal(self, o)

    def __gt__(self, o):
        return _ops().greater(self, o)

    def __ge__(self, o):
        return _ops().greater_equal(self, o)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    @property
    def T(self) -> Tensor:
        return _ops().transpose(self)

    def reshape(self, *shape) -> Tensor:
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return _ops().reshape(self, shape)

    def astype(self, dtype) -> Tensor:
        return _ops().cast(self, dtype)


def _check_logical_operands(symbol: str, op_name: str, *operands) -> None:
    """``~ & |`` on tensors refuse integer operands (DTypeError naming the node)."""
    for o in operands:
        try:
            dtype = o.dtype if isinstance(o, Tensor) else np.asarray(o).dtype
        except ValueError:  # a ragged list: the op's own conversion says what is wrong
            continue
        if dtype.kind in "iu":
            raise DTypeError(
                f"operator {symbol} is logical (as in TF1), not bitwise as numpy's on integers, and an "
                f"{dtype} operand is ambiguous: use graphc.{_snake(op_name)} for truth values "
                "(graphc has no bitwise ops)",
                where_to_be(op_name, None),
            )


_ops_module = None


def _ops():
    global _ops_module
    if _ops_module is None:
        import graphc.ops as ops_module  # noqa: PLC0415 - the ops layer builds on this module

        _ops_module = ops_module
    return _ops_module


class Node:
    """One application of ``op`` to ``inputs``, producing ``outputs``; created by ``Graph.apply``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     y = gc.add(x, 1.0, name="y")
        >>> node = y.node
        >>> node.name, node.op.type_name, [t.name for t in node.inputs], node.outputs == (y,)
        ('y', 'Add', ['x:0', 'const:0'], True)
        >>> node.where  # the context of every error about this node
        "node 'y' (Add) created at <doctest ...>:3"
    """

    __slots__ = (
        "graph",
        "op",
        "inputs",
        "outputs",
        "name",
        "location",
        "control_inputs",
        "index",
        "grad_of",
    )

    def __init__(self, graph, op, inputs, name, location, control_inputs, index):
        self.graph = graph
        self.op = op
        self.inputs: tuple[Tensor, ...] = inputs
        self.outputs: tuple[Tensor, ...] = ()
        self.name: str = name
        self.location: tuple[str, int] = location
        self.control_inputs: tuple[Node, ...] = control_inputs
        self.index: int = index
        #: for gradient nodes, the forward node whose gradient they compute (see passes/autodiff.py)
        self.grad_of: Node | None = None

    @property
    def where(self) -> str:
        """``node 'name' (Op) created at file:line``: the context every error message carries."""
        return f"node '{self.name}' ({self.op.type_name}) created at {self.location_str}"

    @property
    def location_str(self) -> str:
        return f"{self.location[0]}:{self.location[1]}"

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.op}>"


class Graph:
    """An append-only list of nodes in creation order, with name scopes and graph-level settings.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 3), name="x")
        ...     y = gc.reduce_sum(x * 2.0, axis=1)
        >>> y.shape
        (None,)
    """

    def __init__(self):
        self.nodes: list[Node] = []
        self.variables: dict[str, object] = {}  # name -> graphc.Variable, in creation order
        self.seed: int | None = None
        self._names: set[str] = set()
        # name scopes, control dependencies and ``located_at`` locations are per thread, as TF1's
        # name and control stacks: a ``with`` block in one thread must not rename or reorder the nodes
        # another thread builds in the same graph meanwhile
        self._local = threading.local()
        # names kept for nodes still to be added under them (see reserve_names)
        self._reserved: set[str] = set()
        # base name -> the suffix ``_unique_name`` last returned for it: every lower one was taken then,
        # and names are never freed, so the search starts there (counting from 1 each time made
        # building 3000 ``tanh`` nodes take 3.6 s, quadratic in the nodes of one base name)
        self._next_suffix: dict[str, int] = {}
        self._lock = threading.Lock()
        _graphs.add(self)
        self.random_ops = 0  # op seeds handed out by next_random_seed (saved with the graph)
        # A program graph (what the compiler optimizes) names its interface: the fed tensors in feed
        # order, the tensors it computes, and the nodes it runs for their effects. User graphs leave
        # them empty.
        self.inputs: tuple[Tensor, ...] = ()
        self.outputs: tuple[Tensor, ...] = ()
        self.targets: tuple[Node, ...] = ()

    def _stack(self, name: str) -> list:
        stack = getattr(self._local, name, None)
        if stack is None:
            stack = []
            setattr(self._local, name, stack)
        return stack

    @property
    def _scopes(self) -> list[str]:
        """This thread's open name scopes, outermost first."""
        return self._stack("scopes")

    @property
    def _control(self) -> list[tuple[Node, ...]]:
        """This thread's open ``control_dependencies`` blocks, outermost first."""
        return self._stack("control")

    @property
    def _locations(self) -> list[tuple[str, int]]:
        """This thread's open ``located_at`` blocks."""
        return self._stack("locations")

    # -- building ---------------------------------------------------------------------------------
    def apply(self, op: Op, inputs: Sequence[Tensor] = (), name: str | None = None) -> Node:
        """Add a node applying ``op`` to ``inputs``; types are inferred now, errors name the node."""
        if name:  # None or "": the op's default name
            _check_node_name(name, op.type_name)
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{op.type_name} expects Tensor inputs, got {type(t).__name__}")
            if t.graph is not self:
                raise GraphMismatchError(
                    f"{op.type_name} input {t.name} belongs to another graph; build all tensors of "
                    "one computation in the same graph",
                    where_to_be(op.type_name, name),
                )
        location = self._locations[-1] if self._locations else _user_location()
        control = tuple(dict.fromkeys(n for deps in self._control for n in deps))
        with self._lock:
            return self._add(op, inputs, self._unique_name(name or op.default_name), location, control)

    def add_node(
        self,
        op: Op,
        inputs: Sequence[Tensor],
        name: str,
        location: tuple[str, int],
        control_inputs: Sequence[Node] = (),
        grad_of: Node | None = None,
    ) -> Node:
        """Add a node with an explicit name (kept when free, else made unique, ignoring scopes) and
        source location: how passes copy nodes into the graphs they build."""
        for t in inputs:
            if t.graph is not self:
                raise GraphMismatchError(f"{op.type_name} input {t.name} belongs to another graph")
        with self._lock:
            unique = name if name not in self._names else self._unique_name(name, scopes=())
            node = self._add(op, inputs, unique, location, tuple(control_inputs))
        node.grad_of = grad_of
        return node

    def _add(self, op: Op, inputs, full_name: str, location, control) -> Node:
        node = Node(self, op, tuple(inputs), full_name, location, control, len(self.nodes))
        try:
            types = op.infer(*(t.type for t in inputs))
        except GraphcError as e:
            raise e.with_context(node.where) from None
        except TypeError as e:
            # ``apply`` and loaded files may give an op another number of inputs than its ``infer``
            # takes: a bare "infer() takes 2 positional arguments but 3 were given" named nothing
            takes = _infer_arity(op, len(inputs))
            if takes is None:
                raise
            raise ShapeError(f"{op.type_name} takes {takes}, got {len(inputs)}", node.where) from e
        node.outputs = tuple(Tensor(node, i, t) for i, t in enumerate(types))
        self._names.add(full_name)
        self.nodes.append(node)
        return node

    def reserve_names(self, names: Iterable[str]) -> None:
        """Keep ``names`` for nodes that ``add_node`` will add under them: a name made up here (by
        ``apply``, ``fresh_name``, or a taken explicit name made unique) is never one of them. How a
        pass keeps the nodes it copies under their own names, which random streams are keyed by."""
        self._reserved.update(names)

    def fresh_name(self, base: str) -> str:
        """``base``, or else ``base_1``, ``base_2``...: the first name neither taken nor reserved
        (ignoring scopes)."""
        with self._lock:
            return self._unique_name(base, scopes=())

    @contextlib.contextmanager
    def located_at(self, location: tuple[str, int]) -> Iterator[None]:
        """Nodes created inside record ``location`` (passes use it: a rewrite's nodes point at the
        user's line of the node they replace)."""
        self._locations.append(location)
        try:
            yield
        finally:
            self._locations.pop()

    def _unique_name(self, base: str, scopes: Sequence[str] | None = None) -> str:
        scopes = self._scopes if scopes is None else scopes
        base = "/".join([*scopes, base]) if scopes else base
        if base not in self._names and base not in self._reserved:
            return base
        for i in itertools.count(self._next_suffix.get(base, 1)):
            candidate = f"{base}_{i}"
            if candidate not in self._names and candidate not in self._reserved:
                self._next_suffix[base] = i
                return candidate
        raise AssertionError("unreachable")

    def next_random_seed(self) -> int:
        """The next op seed for random ops given none of their own: counts such ops in creation order."""
        seed = self.random_ops
        self.random_ops += 1
        return seed

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[str]:
        """Prefix the names of nodes created inside with ``name/``."""
        if not name or "/" in name or ":" in name:
            raise ValueError(f"invalid name scope {name!r}: use a non-empty name without '/' or ':'")
        self._scopes.append(name)
        try:
            yield "/".join(self._scopes)
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def control_dependencies(self, deps) -> Iterator[None]:
        """Nodes created inside run after ``deps`` (tensors or nodes) whenever they run; ``None``
        clears the enclosing control dependencies inside (as TF1's ``control_dependencies(None)``)."""
        if deps is None:
            stack = self._control  # this thread's list: cleared inside, restored after
            saved = stack[:]
            stack.clear()
            try:
                yield
            finally:
                stack[:] = saved
            return
        if isinstance(deps, (Tensor, Node)) or not hasattr(deps, "__iter__"):
            raise TypeError(
                f"control_dependencies takes a list of tensors or ops (or None), got {type(deps).__name__}"
            )
        nodes = []
        for d in deps:
            n = d.node if isinstance(d, Tensor) else d
            if not isinstance(n, Node):
                raise TypeError(f"control dependency must be a Tensor or an op, got {type(d).__name__}")
            if n.graph is not self:
                raise GraphMismatchError(f"control dependency {n.name} belongs to another graph")
            nodes.append(n)
        self._control.append(tuple(nodes))
        try:
            yield
        finally:
            self._control.pop()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Make this graph the default graph inside the ``with`` block."""
        _default_stack().append(self)
        try:
            yield self
        finally:
            _default_stack().pop()

    # -- lookup -----------------------------------------------------------------------------------
    def get_node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in this graph")

    def get_tensor(self, name: str) -> Tensor:
        """The tensor named ``node_name:index`` (``:0`` may be left out)."""
        if not isinstance(name, str):
            raise TypeError(f"a tensor name is a string 'node_name:index', got {type(name).__name__}")
        node_name, _, index = name.rpartition(":") if ":" in name else (name, "", "0")
        node = self.get_node(node_name)
        # only decimal digits: int() would also take "-1" (the last output), "+0" and " 0"
        if not (index.isascii() and index.isdigit()) or int(index) >= len(node.outputs):
            raise KeyError(f"node {node_name!r} has no output {index!r}")
        return node.outputs[int(index)]

    def __len__(self) -> int:
        return len(self.nodes)

    def __bool__(self) -> bool:
        # a graph is a graph even while empty: ``graph or get_default_graph()`` (constant(graph=g),
        # global_variables(g)) must not take a new, empty graph for "no graph given"
        return True

    def __str__(self) -> str:
        from graphc.ir.printing import format_graph

        return format_graph(self)


def _check_node_name(name: str, op_name: str) -> None:
    """A node name given by the user: a string without ``:``, which separates a tensor's output index
    (``x:0``): a node ``'a:b'`` could never be looked up, fed or fetched by its name again; and ``/``
    only between scope names, which are not empty: ``grad`` makes its nodes under the forward node's
    scopes, and ``'a//b'`` has an empty one."""
    if not isinstance(name, str) or ":" in name or "" in name.split("/"):
        raise ValueError(
            f"{where_to_be(op_name, None)}: invalid node name {name!r}: use a string without ':' whose "
            "'/'-separated scope names are not empty"
        )


_local = threading.local()
_global_default = [Graph()]


def _default_stack() -> list[Graph]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def get_default_graph() -> Graph:
    """The graph new nodes go to: the innermost ``with g.as_default():`` graph, else the global one.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gc.get_default_graph() is g, gc.constant(1.0).graph is g
        (True, True)
        >>> gc.get_default_graph() is g  # outside the block: the global default graph
        False
    """
    stack = _default_stack()
    return stack[-1] if stack else _global_default[0]


def reset_default_graph() -> Graph:
    """Replace the global default graph with a new empty one (not allowed inside ``as_default``).

    Example:
        >>> import graphc as gc
        >>> x = gc.constant(1.0)  # a node of the global default graph
        >>> g = gc.reset_default_graph()
        >>> g is gc.get_default_graph(), len(g), x.graph is g
        (True, 0, False)
    """
    if _default_stack():
        raise RuntimeError("reset_default_graph() inside a `with graph.as_default():` block")
    _global_default[0] = Graph()
    return _global_default[0]


def name_scope(name: str):
    """``with graphc.name_scope("dense"):`` prefixes node names made inside with ``dense/``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     with gc.name_scope("dense") as scope:
        ...         w = gc.Variable(1.0, name="w")
        ...         with gc.name_scope("out"):
        ...             y = gc.multiply(w, 2.0, name="y")
        >>> scope, w.name, y.name
        ('dense', 'dense/w:0', 'dense/out/y:0')
    """
    return get_default_graph().name_scope(name)


def control_dependencies(deps):
    """``with graphc.control_dependencies([a, b]):`` makes nodes created inside run after a and b;
    ``control_dependencies(None)`` clears the enclosing ones inside.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.Variable(0.0, name="v")
        ...     inc = gc.assign_add(v, 1.0)
        ...     with gc.control_dependencies([inc]):
        ...         after = v.read_value()  # a new read, made to run after inc
        ...     with gc.Session() as sess:
        ...         [float(sess.run(after)) for _ in range(3)]
        [1.0, 2.0, 3.0]
    """
    return get_default_graph().control_dependencies(deps)
