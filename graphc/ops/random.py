"""Random-number ops: ``random_uniform`` and ``random_normal``, seeded as in TF1.

Random ops are stateful: each run of a session draws new numbers, and two sessions with the same
seeds draw the same sequence. The op holds the seed pair; the session's state (``runtime/state.py``,
``RunState.rng``) turns (seed pair, node, draw count) into a numpy generator, and commits the advanced
count only when the whole run succeeds.

A draw's numbers depend on the op's seed pair and on how many times its stream drew before in the
session. The stream is named by the node the user made (``stream``, set once the node exists): a
copy of the op (``givens`` re-applies the ops downstream of what it replaces) draws from the same
stream and advances the same count, rather than replaying the numbers the original drew.

Seeds follow TF1's rules. With ``graph.seed`` set by ``graphc.set_random_seed`` and no op seed, each
op takes the next op seed of the graph in creation order; an op seed alone pairs with graph seed 0;
with neither, the op has no seed and each session draws from its own entropy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Graph, Tensor, making
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType
from graphc.ops.core import apply, graph_of
from graphc.ops.sources import Constant

Seed = tuple[int, int] | None


class _Random(Op):
    """Base of random ops: a static ``shape`` whose ``None`` entries are filled, in order, from the
    int64 run-time inputs (scalars, or 1-D vectors of known length contributing one dim per element).
    Subclasses end with ``seed`` and ``stream`` (the name of the node whose draws they continue)."""

    abstract = True
    stateful = True

    # for gradients w.r.t. a distribution's parameters, draw standard noise z and write mean + stddev * z
    vjp = not_differentiable("random draws; the only inputs are int dimensions")

    def check_params(self, dtype: np.dtype) -> None:
        """Raise ``ShapeError`` for distribution parameters the user function refuses (subclasses)."""
        raise NotImplementedError

    def _check_attributes(self) -> None:
        """The attributes as the user functions make them. ``apply`` and loaded files make the op from
        whatever it holds: minval > maxval drew from [maxval, minval), NaN or infinite bounds and a
        NaN or negative stddev drew NaN, inf or reflected numbers, silently; an int32 dtype, a
        dimension of 2.5 or a seed that is not a pair failed only at run time, with numpy's errors."""
        dtypes.check_attribute(self.dtype, self.type_name)
        d = _float_dtype(self.dtype)
        if not isinstance(self.shape, tuple) or any(
            n is not None and not (_is_int(n) and n >= 0) for n in self.shape
        ):
            raise ShapeError(
                f"invalid shape {self.shape!r}: use a tuple of ints >= 0 and None (run-time dimensions)"
            )
        if self.seed is not None and not (
            isinstance(self.seed, tuple) and len(self.seed) == 2 and all(_is_int(n) for n in self.seed)
        ):
            raise ShapeError(f"{self.type_name} seed must be None or a pair of ints, got {self.seed!r}")
        self.check_params(d)

    def infer(self, *dims: TensorType) -> tuple[TensorType]:
        self._check_attributes()
        for t in dims:
            if t.dtype != dtypes.int64:
                raise DTypeError(f"run-time dimensions must be int64 tensors, got {t}")
            if t.ndim > 1 or (t.ndim == 1 and t.shape[0] is None):
                raise ShapeError(f"run-time dimensions must be scalars or 1-D of known length, got {t}")
        given = sum(1 if t.ndim == 0 else t.shape[0] for t in dims)
        wanted = self.shape.count(None)
        if given != wanted:
            raise ShapeError(f"shape {self.shape} has {wanted} run-time dimensions but {given} were given")
        return (TensorType(self.shape, self.dtype),)

    def dims(self, arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
        """The concrete shape: ``self.shape`` with its ``None`` entries taken from ``arrays``."""
        given = iter(int(v) for a in arrays for v in np.ravel(a))
        dims = tuple(next(given) if d is None else d for d in self.shape)
        if any(d < 0 for d in dims):
            # plain ValueError: the interpreter reports it as a RunError naming the node
            raise ValueError(f"negative dimension in the run-time shape {dims}")
        return dims

    def sample(self, rng: np.random.Generator, dims: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """One draw as an array. numpy's arithmetic on the 0-d draw of shape () gives a numpy scalar,
        which the CPU device's kernels cannot take: relu of a float64 random_uniform(()) failed there
        with Numba's "No implementation of function flat_view(float64)"."""
        return np.asarray(self.sample(rng, self.dims(arrays)))

    def execute(self, node, state, arrays) -> tuple[np.ndarray]:
        return (self.draw(state.rng(node), arrays),)

    def reference(self, *arrays, rng: np.random.Generator | None = None) -> np.ndarray:
        """One draw with ``rng`` (a fixed generator when None): for checks that do not run a session."""
        return self.draw(rng if rng is not None else np.random.default_rng(0), arrays)


@dataclass(frozen=True)
class RandomUniform(_Random):
    """Uniform samples in [minval, maxval) of ``shape`` and float ``dtype``."""

    shape: tuple
    dtype: np.dtype
    minval: float = 0.0
    maxval: float = 1.0
    seed: Seed = None
    stream: str | None = None

    def check_params(self, dtype):
        _check_finite(self.default_name, dtype, minval=self.minval, maxval=self.maxval)
        if not self.maxval >= self.minval:
            raise ShapeError(f"random_uniform needs minval <= maxval, got {self.minval} and {self.maxval}")

    def sample(self, rng, dims):
        lo, hi = self.dtype.type(self.minval), self.dtype.type(self.maxval)
        u = rng.random(dims, dtype=self.dtype)
        with np.errstate(over="ignore"):
            span = hi - lo
        # a span beyond the dtype's range (-3e38 to 3e38 in float32) is inf: weigh the bounds instead
        x = lo + span * u if np.isfinite(span) else lo * (1 - u) + hi * u
        # rounding lo + (hi - lo) * u can reach hi itself; keep the interval half-open
        return np.minimum(x, np.nextafter(hi, lo)) if hi > lo else x


@dataclass(frozen=True)
class RandomNormal(_Random):
    """Normal samples of ``mean`` and ``stddev``, of ``shape`` and float ``dtype``."""

    shape: tuple
    dtype: np.dtype
    mean: float = 0.0
    stddev: float = 1.0
    seed: Seed = None
    stream: str | None = None

    def check_params(self, dtype):
        _check_finite(self.default_name, dtype, mean=self.mean, stddev=self.stddev)
        if not self.stddev >= 0:
            raise ShapeError(f"random_normal needs stddev >= 0, got {self.stddev}")

    def sample(self, rng, dims):
        z = rng.standard_normal(dims, dtype=self.dtype)
        return z * self.dtype.type(self.stddev) + self.dtype.type(self.mean)


# --- user functions ------------------------------------------------------------------------------


def _check_static(op: str, **params) -> None:
    """Distribution parameters are Python or numpy numbers fixed in the op; a tensor given for one
    failed in the range check with 'the truth value of symbolic tensor greater_equal:0 is not known',
    which told the user to use graphc.where for an ``if`` they never wrote."""
    for name, value in params.items():
        if isinstance(value, Tensor):
            raise TypeError(
                f"{op}: {name} must be a number, got the tensor {value.name}; scale and shift the "
                f"result instead (e.g. low + (high - low) * random_uniform(shape))"
            )


def _check_finite(op: str, dtype: np.dtype, **params) -> None:
    """Parameters that are numbers the dtype represents as finite numbers (1e39 is inf in float32)."""
    for name, value in params.items():
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise ShapeError(f"{op}: {name} must be a number, got {value!r}")
        with np.errstate(over="ignore"):
            finite = np.isfinite(dtype.type(value))
        if not finite:
            raise ShapeError(f"{op}: {name}={value} is not a finite {dtype} number")


def _is_int(d) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, bool)


def _constant_value(t: Tensor):
    """The value of a constant int tensor (so its dims are static), else None."""
    op = t.node.op
    return op.value if isinstance(op, Constant) and dtypes.is_int(op.value.dtype) else None


def _split_shape(shape) -> tuple[tuple, list]:
    """(static shape with None for run-time dims, run-time dim tensors) from a user ``shape``."""
    if isinstance(shape, Tensor):
        value = _constant_value(shape)
        if value is not None and value.ndim <= 1:
            return _split_shape(tuple(value.reshape(-1).tolist()))
        # a constant of rank 2 or more is no shape: left to ``infer``, which refuses it naming the node
        length = shape.shape[0] if shape.ndim == 1 else 1
        return (None,) * (length or 0), [shape]
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()  # numpy ints (a 0-d array is one: iterating it is a TypeError)
    if _is_int(shape):
        shape = (shape,)
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        # iterating None or a float failed with Python's "'NoneType' object is not iterable"
        raise ShapeError(
            f"invalid shape {shape!r}: use a tuple of ints >= 0 and int scalar tensors, or a 1-D int tensor"
        )
    static, runtime = [], []
    for d in shape:
        if isinstance(d, Tensor):
            value = _constant_value(d)
            if value is None or value.ndim:
                static.append(None)
                runtime.append(d)
                continue
            d = int(value)
        if not _is_int(d) or d < 0:
            raise ShapeError(
                f"invalid dimension {d!r} in shape {tuple(shape)!r}: use ints >= 0 or int tensors"
            )
        static.append(int(d))
    return tuple(static), runtime


def _as_int64(t: Tensor) -> Tensor:
    if t.dtype == dtypes.int32:
        from graphc.ops.elementwise import cast

        return cast(t, "int64")
    return t  # other dtypes are rejected by infer, with the node's name


def _seed(graph: Graph, seed: int | None) -> Seed:
    if seed is not None and not _is_int(seed):
        # int(1.7) would be seed 1, the same numbers as seed=1.2
        raise TypeError(f"a random op's seed must be an int or None, got {type(seed).__name__} {seed!r}")
    if seed is not None:
        # TF1 pairs a lone op seed with a fixed graph seed, so op seeds alone are reproducible
        return (graph.seed if graph.seed is not None else 0, int(seed))
    if graph.seed is not None:
        return (graph.seed, graph.next_random_seed())
    return None


def _float_dtype(dtype) -> np.dtype:
    d = dtypes.as_dtype(dtype)
    if not dtypes.is_float(d):
        raise DTypeError(f"random ops make float32 or float64 tensors, got {d}")
    return d


def _random(cls, shape, dtype, params: tuple, seed, name):
    static, runtime = _split_shape(shape)
    graph = graph_of(shape)
    op = cls(static, _float_dtype(dtype), *params, _seed(graph, seed))
    inputs = [_as_int64(t) for t in runtime]
    out = graph.apply(op, (), name).outputs[0] if not inputs else apply(op, inputs, name)
    # the stream is named by this node; the unique node name is known only once the node exists
    out.node.op = replace(op, stream=out.node.name)
    return out


def random_uniform(
    shape, minval: float = 0.0, maxval: float = 1.0, dtype="float32", seed: int | None = None, name=None
) -> Tensor:
    """Uniform random numbers in [minval, maxval); new numbers on every run.

    Args:
        shape: a tuple of ints and int scalar tensors (dims known at run time, e.g. a batch size),
            or a 1-D int tensor of known length.
        minval: the lower bound (included).
        maxval: the upper bound (excluded).
        dtype: float32 or float64.
        seed: the op seed; with the graph seed (``graphc.set_random_seed``) it fixes the sequence.
        name: the node name.

    Returns:
        A tensor of ``shape`` and ``dtype``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     n = gc.placeholder("int64", (), name="n")
        ...     r = gc.random_uniform((n, 2), seed=1)
        ...     with gc.Session() as sess:
        ...         sess.run(r, {n: 3}).shape
        (3, 2)
    """
    _check_static("random_uniform", minval=minval, maxval=maxval)
    # the bounds are checked by RandomUniform.infer, which names the node
    with making("RandomUniform", name):  # a dtype or shape refused before the node exists
        return _random(RandomUniform, shape, dtype, (float(minval), float(maxval)), seed, name)


def random_normal(
    shape, mean: float = 0.0, stddev: float = 1.0, dtype="float32", seed: int | None = None, name=None
) -> Tensor:
    """Normally distributed random numbers; new numbers on every run.

    Args:
        shape: a tuple of ints and int scalar tensors (dims known at run time, e.g. a batch size),
            or a 1-D int tensor of known length.
        mean: the mean.
        stddev: the standard deviation (>= 0).
        dtype: float32 or float64.
        seed: the op seed; with the graph seed (``graphc.set_random_seed``) it fixes the sequence.
        name: the node name.

    Returns:
        A tensor of ``shape`` and ``dtype``.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     z = gc.random_normal((2, 3), mean=1.0, dtype="float64", seed=7)
        ...     with gc.Session() as sess:
        ...         a, b = sess.run(z), sess.run(z)
        >>> a.dtype, a.shape, bool((a != b).all())
        (dtype('float64'), (2, 3), True)
    """
    _check_static("random_normal", mean=mean, stddev=stddev)
    # the parameters are checked by RandomNormal.infer, which names the node
    with making("RandomNormal", name):  # a dtype or shape refused before the node exists
        return _random(RandomNormal, shape, dtype, (float(mean), float(stddev)), seed, name)


__all__ = ["random_normal", "random_uniform"]
