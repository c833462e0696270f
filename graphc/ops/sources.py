"""Ops with no data inputs that bring values into a graph: placeholders (fed at run time), constants
(values baked into the graph) and variables (state owned by the session)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Graph, Node, Tensor, get_default_graph, making
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, make_shape


@dataclass(frozen=True)
class Placeholder(Op):
    """A value fed at run time through ``feed_dict``; ``None`` dimensions take any size."""

    dtype: np.dtype
    shape: tuple | None  # None: any rank (not supported yet), tuple with None dims: any size there
    pure = False  # its value comes from the feed, not from its (absent) inputs

    def infer(self):
        # what placeholder() makes; a loaded file's placeholder of shape (-1,) refused every feed
        dtypes.check_attribute(self.dtype, self.type_name)
        if make_shape(self.shape) != self.shape:
            raise ShapeError(f"invalid placeholder shape {self.shape!r}: use a tuple of ints >= 0 and None")
        return (TensorType(self.shape, self.dtype),)

    vjp = not_differentiable("a source: no inputs")


@dataclass(frozen=True, eq=False)
class Constant(Op):
    """A value baked into the graph. Equal when dtype, shape and bytes are equal."""

    value: np.ndarray

    def __post_init__(self):
        if isinstance(self.value, np.ndarray) and (self.value.flags.writeable or self.value.base is not None):
            # constant() makes read-only arrays; one given to the op directly (apply, a pass) stays the
            # caller's: writing to it later would change the graph's value under its hash and kernels.
            # A read-only view (np.broadcast_to's) is no safer: its base may be the caller's writable array
            value = self.value.copy()
            value.setflags(write=False)
            object.__setattr__(self, "value", value)

    def __eq__(self, other):
        return (
            type(other) is Constant
            and self.value.dtype == other.value.dtype
            and self.value.shape == other.value.shape
            and self.value.tobytes() == other.value.tobytes()
        )

    def __hash__(self):
        return hash((self.value.dtype.str, self.value.shape, self.value.tobytes()[:256]))

    def infer(self):
        if not isinstance(self.value, np.ndarray):  # constant() makes arrays; a list failed deep inside
            raise DTypeError(f"a Constant's value must be a numpy array, got {type(self.value).__name__}")
        dtypes.check_attribute(self.value.dtype, self.type_name)  # a string array ran on both devices
        return (TensorType(self.value.shape, self.value.dtype),)

    vjp = not_differentiable("a source: no inputs")

    def reference(self):
        return self.value


@dataclass(frozen=True)
class ReadVariable(Op):
    """The value of variable ``var_name`` when the node runs (its value at the start of the run unless
    an assignment ordered before it by control dependencies changed it)."""

    var_name: str
    dtype: np.dtype
    shape: tuple
    stateful = True

    def infer(self):
        return (TensorType(self.shape, self.dtype),)

    def execute(self, node, state, arrays):
        return (state.read(self.var_name),)

    def check_variable(self, node: Node, var_type: TensorType) -> None:
        """The variable read has this op's type, as ``Variable`` makes its reads; one made by ``apply``
        or from an edited file may claim another (``compile`` checks each read against its variable:
        the CPU handed an int32[4] variable on as the f64[4] it claimed, and an add with float64
        zeros returned [0 1 2 3] as int32, where the reference device refused it)."""
        claimed = TensorType(self.shape, self.dtype)
        if claimed != var_type:
            error = DTypeError if claimed.dtype != var_type.dtype else ShapeError
            raise error(f"reads variable {self.var_name!r} as {claimed}, but the variable is {var_type}")

    vjp = not_differentiable("a source: no inputs")


def placeholder(dtype="float32", shape=None, name: str | None = None) -> Tensor:
    """A tensor whose value is fed at run time (``feed_dict`` or a ``graphc.function`` argument).

    Args:
        dtype: float32, float64, int32, int64 or bool.
        shape: a tuple with ``None`` for dimensions known only at run time; ``None`` is not allowed
            (graphc needs every rank at build time).
        name: the node name (made unique in its scope).

    Example:
        >>> import graphc as gc
        >>> x = gc.placeholder("float32", (None, 784), name="images")
        >>> x.shape
        (None, 784)
    """
    with making("Placeholder", name or "placeholder"):
        if shape is None:
            raise ShapeError("placeholder needs a shape (use None for dimensions known at run time)")
        op = Placeholder(dtypes.as_dtype(dtype), make_shape(shape))
    return get_default_graph().apply(op, (), name or "placeholder").outputs[0]


def exact_array(value, dtype=None) -> np.ndarray:
    """``value`` as a read-only array of ``dtype`` (default: its natural dtype, Python floats float32)
    holding every value exactly where the dtype is an integer; DTypeError for what numpy would turn
    into something else silently (None into NaN, 1.5 into 1, 2**40 into 0, 1e300 into a float32 inf,
    ragged lists)."""
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise DTypeError(f"cannot make an array from {type(value).__name__} {value!r:.60}: {e}") from None
    if arr.dtype == object and arr.size and all(type(v) is int for v in arr.flat):
        arr = _big_ints(arr, dtype)
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"cannot make a tensor from {type(value).__name__} {value!r:.60}")
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.as_dtype(dtypes.array_dtype(value))
    if arr.dtype.kind == "f" and d.kind in "iub" and not np.all(np.isfinite(arr)):
        raise DTypeError(f"cannot make a {d} constant from non-finite values")
    _check_exact(arr, d)
    with np.errstate(over="ignore"):
        converted = np.array(arr, dtype=d, copy=True)
    bad = dtypes.made_infinite(arr, converted)
    if bad is not None:
        big = float(np.finfo(d).max)
        raise DTypeError(f"cannot make a {d} value from {bad!r}: outside its range (largest {big:.7g})")
    converted.setflags(write=False)
    return converted


def _big_ints(arr: np.ndarray, dtype) -> np.ndarray:
    """Python ints beyond int64, which numpy holds as objects: their float64 values for a float
    ``dtype`` (``x_f32 * 2**100`` is a float32 1.27e30, as numpy's weak scalars give it; a float32
    beyond its range is refused as such afterwards), else a DTypeError naming the range they leave."""
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.DEFAULT_INT
    values, shown = dtypes.big_ints(arr)
    if d.kind == "f":
        if values is None:
            raise DTypeError(f"cannot make a {d} value from {shown}: outside its range")
        return values
    if d.kind == "b":
        raise DTypeError(f"cannot make a bool value from {shown}: only 0 and 1 are bools (compare instead)")
    info = np.iinfo(d)
    raise DTypeError(f"cannot make an {d} value from {shown}: outside [{info.min}, {info.max}]")


def _check_exact(arr: np.ndarray, d: np.dtype) -> None:
    """Integer constants hold their values exactly: no fraction dropped, no integer wrapped around;
    bool constants are made only from 0 and 1 (numpy's ``astype(bool)`` turns 0.5 and 2 into True)."""
    if d.kind == "b" and arr.size and arr.dtype.kind in "fiu" and not np.all((arr == 0) | (arr == 1)):
        bad = arr.reshape(-1)[np.flatnonzero((arr != 0) & (arr != 1))[0]].item()
        raise DTypeError(f"cannot make a bool value from {bad!r}: only 0 and 1 are bools (compare instead)")
    if d.kind not in "iu" or arr.size == 0 or arr.dtype.kind not in "fiu":
        return
    if arr.dtype.kind == "f" and not np.all(arr == np.trunc(arr)):
        bad = arr.reshape(-1)[np.flatnonzero(arr != np.trunc(arr))[0]].item()
        raise DTypeError(f"cannot make an {d} value from {bad!r}, which is not an integer: cast it")
    info = np.iinfo(d)
    low, high = arr.min().item(), arr.max().item()  # Python numbers compare exactly with the bounds
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        bounds = f"[{info.min}, {info.max}]"
        raise DTypeError(f"cannot make an {d} value from {bad!r}: outside {bounds}")


def constant(value, dtype=None, name: str | None = None, graph: Graph | None = None) -> Tensor:
    """A tensor holding ``value`` (an array, list or scalar). Python floats give float32.

    Example:
        >>> import graphc as gc
        >>> c = gc.constant([[1.0, 2.0]])
        >>> c.type.shape, str(c.dtype)
        ((1, 2), 'float32')
    """
    if isinstance(value, Tensor):
        raise TypeError(f"constant() got a tensor ({value.name}); use it directly or graphc.cast")
    with making("Constant", name or "const"):
        arr = exact_array(value, dtype)
    graph = graph or get_default_graph()
    return graph.apply(Constant(arr), (), name or "const").outputs[0]
