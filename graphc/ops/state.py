"""Variables and the ops that change session state: ``Variable``, ``assign``/``assign_add``/
``assign_sub``, ``group`` and ``global_variables_initializer``.

State semantics of one run: a variable's own tensor reads the value at the start of the run (as if
snapshotted), an assignment produces the new value and records it, and ops execute in creation order
restricted to what the fetches need. A run's writes replace the session state only when the whole run
succeeded, so a failing run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from graphc import init as initializers
from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, GraphcError, GraphMismatchError, ShapeError
from graphc.ir.graph import Graph, Node, Tensor, get_default_graph, making, where_to_be
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, broadcasts_to
from graphc.ops.core import apply, apply_node, as_tensor, graph_of
from graphc.ops.sources import ReadVariable, exact_array


class Variable(Tensor):
    """A tensor whose value is state owned by each ``Session``, initialized on first use.

    Args:
        initial_value: an array, a scalar or an initializer (``graphc.init.glorot_uniform(...)``).
        dtype: defaults to the initializer's dtype, float32 for Python floats.
        name: the variable's unique name (also its key in checkpoints).
        trainable: whether optimizers and ``trainable_variables()`` include it.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     w = gc.Variable(gc.init.zeros((3, 2)), name="w")
        ...     with gc.Session() as sess:
        ...         sess.run(w).shape
        (3, 2)
    """

    __slots__ = ("initial_value", "trainable", "var_name", "init_seed")

    def __init__(self, initial_value, dtype=None, name: str | None = None, trainable: bool = True):
        if not isinstance(trainable, (bool, np.bool_)):
            # trainable="no" is truthy: the variable would be trained against the user's wish
            raise TypeError(f"Variable trainable must be True or False, got {trainable!r}")
        if isinstance(initial_value, Tensor):
            raise TypeError(
                "Variable initial_value must be an array, a scalar or a graphc.init initializer, "
                f"not a tensor ({initial_value.name})"
            )
        if isinstance(initial_value, initializers.Initializer):
            if dtype is not None and dtypes.as_dtype(dtype) != initial_value.dtype:
                raise DTypeError(
                    f"Variable dtype {np.dtype(dtype)} differs from its initializer's {initial_value.dtype}",
                    where_to_be("ReadVariable", name or "variable"),
                )
            d, shape = initial_value.dtype, initial_value.shape
        else:
            with making("ReadVariable", name or "variable"):
                initial_value = exact_array(initial_value, dtype)
            d, shape = initial_value.dtype, initial_value.shape
        graph = get_default_graph()
        # without the enclosing control dependencies (TF1 makes variables in an init_scope): every
        # read of the variable's own tensor would otherwise run them, an assignment included
        with graph.control_dependencies(None):
            node = graph.apply(ReadVariable("?", d, tuple(shape)), (), name or "variable")
        # the op names the node's state; the unique node name is known only once the node exists
        node.op = ReadVariable(node.name, d, tuple(shape))
        Tensor.__init__(self, node, 0, node.outputs[0].type)
        node.outputs = (self,)
        self.initial_value = initial_value
        self.trainable = bool(trainable)
        self.var_name = node.name
        # an initializer's seed is fixed when the variable is made, as a random op's is (TF1): a graph
        # seed set later must not change the values of a re-initialization or of another session
        self.init_seed = initializers.derived_seed(graph.seed, node.name)
        graph.variables[node.name] = self

    def initial_array(self) -> np.ndarray:
        """The variable's initial value (deterministic: the same every call). An initializer's error
        names the variable's node: run by ``global_variables_initializer`` it would name only that."""
        if isinstance(self.initial_value, initializers.Initializer):
            try:
                return self.initial_value(self.init_seed)
            except GraphcError as e:
                raise e.with_context(self.node.where) from None
        return self.initial_value.copy()

    def __repr__(self) -> str:
        return f"<Variable {self.var_name} {self.type}>"

    def assign(self, value, name=None) -> Tensor:
        return assign(self, value, name)

    def assign_add(self, value, name=None) -> Tensor:
        return assign_add(self, value, name)

    def assign_sub(self, value, name=None) -> Tensor:
        return assign_sub(self, value, name)

    def read_value(self) -> Tensor:
        """A new read of the variable, ordered after the enclosing ``control_dependencies``.

        ``grad(cost, variable)`` adds up the gradient through every read, this one included (TF1's rule);
        ``grad(cost, read)`` gives only the path through ``read``.
        """
        # in the variable's graph, not the default one: a read has no input to take the graph from
        node = apply_node(self.node.op, (), f"{self.var_name}_read", graph=self.graph)
        return node.outputs[0]

    def value(self) -> Tensor:
        return self


@dataclass(frozen=True)
class _AssignBase(Op):
    """``var <- f(var, value)``; the output is the variable's new value."""

    var_name: str
    abstract = True
    stateful = True
    #: whether the update is arithmetic, which bool variables do not take (as Add/Subtract do not)
    arithmetic: ClassVar[bool] = True
    vjp = not_differentiable("an assignment is a side effect (TF1 gives it no gradient either)")

    def infer(self, var, value):
        if value.dtype != var.dtype:
            raise DTypeError(f"cannot assign a {value.dtype} value to a {var.dtype} variable")
        if self.arithmetic and dtypes.is_bool(var.dtype):
            # numpy's bool + is a logical or, and its bool - raises only when the run reaches it
            raise DTypeError(
                f"{type(self).__name__} does not take bool variables (got {var}): "
                "assign a logical op's value instead (e.g. graphc.logical_or)"
            )
        # numpy broadcasting of the value to the variable's (known) shape; an unknown dimension is
        # checked at run time, also against a 1 (a value of [?, 3] may be fed one row for a [1, 3])
        if not broadcasts_to(value.shape, var.shape):
            raise ShapeError(f"cannot assign a value of type {value} to a variable of type {var}")
        return (var,)

    def update(self, current: np.ndarray, value: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference(self, current, value):
        # numpy's numbers (inf on overflow) without its warnings, as every other op gives them: the CPU
        # device runs this outside the interpreter's errstate, so an overflowing assign_add warned there
        with np.errstate(all="ignore"):
            new = self.update(current, value)
        return np.array(np.broadcast_to(new, current.shape), copy=True)

    def check_variable(self, node: Node, var_type: TensorType) -> None:
        """The variable written (of ``var_type``) has the type of ``node``'s variable input.
        ``assign()`` names the variable it is given; one made by ``apply`` or from an edited file may
        name another (the CPU returned variable b's int32[5] value as the input a's f32[2]).
        ``compile`` checks each assignment it compiles, so a run pays nothing for it."""
        var_input = node.inputs[0]
        if var_type.dtype != var_input.dtype or not var_input.type.is_compatible(var_type.shape):
            error = DTypeError if var_type.dtype != var_input.dtype else ShapeError
            raise error(
                f"{self.type_name} writes variable {self.var_name!r} of {var_type}, but its variable "
                f"input {var_input.name} is {var_input.type}"
            )

    def execute(self, node, state, arrays):
        current = state.read(self.var_name)
        new = self.reference(current, arrays[1])
        if new.dtype != current.dtype:
            new = new.astype(current.dtype)
        state.write(self.var_name, new)
        return (new,)


@dataclass(frozen=True)
class Assign(_AssignBase):
    """var <- value."""

    arithmetic: ClassVar[bool] = False

    def update(self, current, value):
        return value


@dataclass(frozen=True)
class AssignAdd(_AssignBase):
    """var <- var + value."""

    def update(self, current, value):
        return current + value


@dataclass(frozen=True)
class AssignSub(_AssignBase):
    """var <- var - value."""

    def update(self, current, value):
        return current - value


@dataclass(frozen=True)
class Group(Op):
    """No computation: running it runs its control inputs (``graphc.group``)."""

    def infer(self):
        return ()

    def reference(self):
        return ()

    vjp = not_differentiable("no outputs")


@dataclass(frozen=True)
class InitVariables(Op):
    """Reset the listed variables to their initial values (``global_variables_initializer``)."""

    var_names: tuple
    stateful = True
    vjp = not_differentiable("no outputs")

    def infer(self):
        if not isinstance(self.var_names, tuple) or not all(isinstance(n, str) for n in self.var_names):
            # global_variables_initializer makes a tuple of names; a string (from apply or an edited
            # file) was iterated letter by letter: InitVariables('ab') reset variables a and b
            raise ShapeError(f"InitVariables takes a tuple of variable names, got {self.var_names!r}")
        return ()

    def execute(self, node, state, arrays):
        for name in self.var_names:
            state.write(name, state.initial_value(name))
        return ()


def _assign(op_cls, var, value, name):
    if not isinstance(var, Variable):
        raise TypeError(f"{op_cls.__name__.lower()} needs a graphc.Variable, got {var!r}")
    graph = var.graph
    value = as_tensor(value, dtype=var.dtype if not isinstance(value, Tensor) else None, graph=graph)
    return apply(op_cls(var.var_name), (var, value), name)


def assign(var: Variable, value, name: str | None = None) -> Tensor:
    """Set ``var`` to ``value`` when run; returns the new value.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.Variable(1.0)
        ...     step = gc.assign(v, 5.0)
        ...     with gc.Session() as sess:
        ...         float(sess.run(step)), float(sess.run(v))
        (5.0, 5.0)
    """
    return _assign(Assign, var, value, name)


def assign_add(var: Variable, value, name: str | None = None) -> Tensor:
    """``var += value`` when run (reading the variable's current value in the run).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.Variable(1.0)
        ...     step = gc.assign_add(v, 2.5)
        ...     with gc.Session() as sess:  # each run adds to the value the previous run left
        ...         [float(sess.run(step)) for _ in range(3)], float(sess.run(v))
        ([3.5, 6.0, 8.5], 8.5)
    """
    return _assign(AssignAdd, var, value, name)


def assign_sub(var: Variable, value, name: str | None = None) -> Tensor:
    """``var -= value`` when run.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.Variable([10.0, 20.0])
        ...     step = gc.assign_sub(v, 1)  # the value takes v's dtype and broadcasts to its shape
        ...     with gc.Session() as sess:
        ...         sess.run(step)
        array([ 9., 19.], dtype=float32)
    """
    return _assign(AssignSub, var, value, name)


def group(*ops, name: str | None = None) -> Node:
    """An op that runs all of ``ops`` (tensors or ops) and produces nothing.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     a, b = gc.Variable(0.0), gc.Variable(0.0)
        ...     both = gc.group(gc.assign_add(a, 1.0), gc.assign_add(b, 2.0))
        ...     with gc.Session() as sess:
        ...         _ = sess.run(both)
        ...         float(sess.run(a)), float(sess.run(b))
        (1.0, 2.0)
    """
    flat = []
    for o in ops:
        flat.extend(o if isinstance(o, (list, tuple)) else [o])
    graph = graph_of(*flat)
    with graph.control_dependencies(flat):
        return apply_node(Group(), (), name or "group", graph=graph)


def _graph_arg(graph, fname: str) -> Graph:
    """``graph``, or the default graph for None. Anything else is a TypeError: TF1's
    ``trainable_variables("D")`` takes a name scope there, which failed here with "'str' object has no
    attribute 'variables'"."""
    if graph is None:
        return get_default_graph()
    if not isinstance(graph, Graph):
        hint = (
            f"; to keep one name scope's variables, filter them: [v for v in gc.{fname}() if "
            f"v.var_name.startswith({graph + '/'!r})]"
            if isinstance(graph, str) and fname != "global_variables_initializer"
            else ""
        )
        raise TypeError(
            f"{fname} takes a graphc.Graph or None, got {type(graph).__name__} {graph!r:.60}{hint}"
        )
    return graph


def global_variables_initializer(graph=None) -> Node:
    """An op that (re)sets every variable of the graph that exists now to its initial value.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     v = gc.Variable(1.0)
        ...     init = gc.global_variables_initializer()
        ...     with gc.Session() as sess:
        ...         _ = sess.run(v.assign(5.0))
        ...         sess.run(init)  # an op: fetching it returns None
        ...         float(sess.run(v))
        1.0
    """
    graph = _graph_arg(graph, "global_variables_initializer")
    return apply_node(InitVariables(tuple(graph.variables)), (), "init", graph=graph)


def variables_initializer(var_list, name: str = "init") -> Node:
    """An op that (re)sets the variables of ``var_list`` to their initial values (TF1's
    ``variables_initializer``): a subset, such as the variables made after the others were trained.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     a, b = gc.Variable(1.0, name="a"), gc.Variable(2.0, name="b")
        ...     with gc.Session() as sess:
        ...         _ = sess.run([a.assign(5.0), b.assign(6.0)])
        ...         sess.run(gc.variables_initializer([b]))
        ...         float(sess.run(a)), float(sess.run(b))
        (5.0, 2.0)
    """
    if isinstance(var_list, Variable) or not isinstance(var_list, (list, tuple)):
        raise TypeError(
            f"variables_initializer takes a list of graphc.Variables (write [v] for one), "
            f"got {type(var_list).__name__}"
        )
    for v in var_list:
        if not isinstance(v, Variable):
            raise TypeError(f"variables_initializer takes graphc.Variables, got {type(v).__name__} {v!r:.60}")
    graphs = {id(v.graph) for v in var_list}
    if len(graphs) > 1:
        raise GraphMismatchError("variables_initializer's variables belong to different graphs")
    graph = var_list[0].graph if var_list else get_default_graph()
    names = tuple(dict.fromkeys(v.var_name for v in var_list))
    return apply_node(InitVariables(names), (), name, graph=graph)


def global_variables(graph=None) -> list[Variable]:
    """The graph's variables in creation order.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     w = gc.Variable(gc.init.zeros((2, 2)), name="w")
        ...     step = gc.Variable(0, name="step", trainable=False)
        ...     gc.global_variables()
        [<Variable w f32[2,2]>, <Variable step i64[]>]
    """
    return list(_graph_arg(graph, "global_variables").variables.values())


def trainable_variables(graph=None) -> list[Variable]:
    """The graph's trainable variables in creation order.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     w = gc.Variable(gc.init.zeros((2, 2)), name="w")
        ...     step = gc.Variable(0, name="step", trainable=False)
        >>> gc.trainable_variables(g)
        [<Variable w f32[2,2]>]
    """
    return [v for v in global_variables(_graph_arg(graph, "trainable_variables")) if v.trainable]
