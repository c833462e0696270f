"""Initializers: deterministic recipes for a variable's initial value.

An initializer knows its shape and dtype and makes an array from a seed. ``seed=None`` means "derive the
seed from the graph seed (as it is when the variable is made, as for random ops) and the variable's name",
so a graph builds the same initial values every time.

Example:
    >>> import graphc as gc
    >>> w = gc.init.glorot_uniform((784, 128), seed=0)
    >>> w().shape, str(w().dtype)
    ((784, 128), 'float32')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.types import broadcasts_to, format_shape, make_shape
from graphc.ops.sources import exact_array


@dataclass(frozen=True)
class Initializer:
    """Base: ``init(seed=None) -> np.ndarray`` of ``shape`` and ``dtype``."""

    shape: tuple
    dtype: np.dtype = dtypes.float32
    seed: int | None = None

    def __call__(self, seed: int | None = None) -> np.ndarray:
        s = self.seed if self.seed is not None else (seed if seed is not None else 0)
        rng = np.random.default_rng(s)
        # a copy, always: a subclass's sample may hand back an array its caller keeps (a slice of a
        # table), which would become the variable's value, read-only, and change it with the table
        value = np.array(self.sample(rng), dtype=self.dtype)
        if value.shape != tuple(self.shape):  # a subclass's sample: compiled kernels trust a variable's shape
            raise ShapeError(
                f"initializer {type(self).__name__} made an array of shape {format_shape(value.shape)}, "
                f"expected {format_shape(tuple(self.shape))}"
            )
        return value

    def __post_init__(self):
        if None in self.shape:
            raise ShapeError(f"an initializer needs a fully known shape, got {format_shape(self.shape)}")
        if self.dtype.kind != "f" and not isinstance(self, _Constant):
            kind = type(self).__name__.strip("_")
            raise DTypeError(f"the {kind} initializer draws floats: dtype {self.dtype} cannot hold them")
        # numpy's generator takes ints >= 0 only; checked here, not at the variable's first read
        if self.seed is not None and (not isinstance(self.seed, (int, np.integer)) or self.seed < 0):
            raise ValueError(f"an initializer's seed must be an int >= 0, got {self.seed!r}")

    def _check_finite(self, **params: float) -> None:
        """Parameters the dtype holds as finite numbers: NaN or inf (1e39 in float32) would give
        NaN or inf values, or numpy's OverflowError when the variable is first read."""
        for name, value in params.items():
            with np.errstate(over="ignore"):
                finite = np.isfinite(self.dtype.type(value))
            if not finite:
                kind = type(self).__name__.strip("_")
                raise ValueError(f"the {kind} initializer's {name} {value} is not finite in {self.dtype}")

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def fans(self) -> tuple[int, int]:
        """(fan_in, fan_out) as Keras/PyTorch count them: conv kernels (out, in, kh, kw) scale by kh*kw."""
        shape = self.shape
        if len(shape) == 0:
            return 1, 1
        if len(shape) == 1:
            return shape[0], shape[0]
        if len(shape) == 2:
            return shape[0], shape[1]
        receptive = int(np.prod(shape[2:]))
        return shape[1] * receptive, shape[0] * receptive


def _init(cls, shape, dtype, seed, **kw):
    return cls(make_shape(shape), dtypes.as_dtype(dtype), seed, **kw)


@dataclass(frozen=True)
class _Constant(Initializer):
    value: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        value = exact_array(self.value, self.dtype)  # an integer dtype holds it exactly, or this raises
        # an array value fills the shape as ``np.full`` broadcasts it (leading 1s dropped): checked
        # here, not at the variable's first read
        lead = max(value.ndim - len(self.shape), 0)
        fits = all(d == 1 for d in value.shape[:lead])
        if not (fits and broadcasts_to(value.shape[lead:], tuple(self.shape))):
            raise ShapeError(
                f"the constant initializer's value of shape {format_shape(value.shape)} does not "
                f"broadcast to its shape {format_shape(tuple(self.shape))}"
            )
        if value.ndim:
            # the checked, read-only copy, not the caller's list or array: the variable is initialized
            # at its first read in each session, and a row changed after the Variable was made was
            # read then (its initial value, and every re-initialization, followed the caller's edits)
            object.__setattr__(self, "value", value)

    def sample(self, rng):
        return np.full(self.shape, self.value)

    # the value may be an array, whose == is elementwise: compared and hashed by its values instead
    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        same = (self.shape, self.dtype, self.seed) == (other.shape, other.dtype, other.seed)
        return same and np.array_equal(self.value, other.value)

    def __hash__(self):
        value = np.asarray(self.value)
        return hash((tuple(self.shape), self.dtype, self.seed, value.shape, value.tobytes()))


@dataclass(frozen=True)
class _Uniform(Initializer):
    low: float = -1.0
    high: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not self.low <= self.high:
            raise ValueError(f"uniform initializer: low {self.low} is above high {self.high}")
        self._check_finite(low=self.low, high=self.high)

    def sample(self, rng):
        out = rng.uniform(self.low, self.high, self.shape).astype(self.dtype)
        # float64 draws below high can round up to it in float32: [low, high) as documented
        below = np.nextafter(self.dtype.type(self.high), self.dtype.type(self.low))
        return np.minimum(out, below) if self.high > self.low else out


@dataclass(frozen=True)
class _Normal(Initializer):
    mean: float = 0.0
    stddev: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.stddev < np.inf:
            kind = type(self).__name__.strip("_")
            raise ValueError(f"the {kind} initializer's stddev {self.stddev} is not a finite number >= 0")
        self._check_finite(mean=self.mean, stddev=self.stddev)

    def sample(self, rng):
        return rng.normal(self.mean, self.stddev, self.shape)


@dataclass(frozen=True)
class _TruncatedNormal(_Normal):
    def sample(self, rng):
        out = rng.normal(self.mean, self.stddev, self.shape)
        bad = np.abs(out - self.mean) > 2 * self.stddev
        while bad.any():  # redraw outside two standard deviations, as TF's truncated_normal
            out[bad] = rng.normal(self.mean, self.stddev, int(bad.sum()))
            bad = np.abs(out - self.mean) > 2 * self.stddev
        return out


@dataclass(frozen=True)
class _VarianceScaling(Initializer):
    scale: float = 1.0
    mode: str = "fan_avg"
    distribution: str = "uniform"

    def sample(self, rng):
        fan_in, fan_out = self.fans()
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, self.shape)
        return rng.normal(0.0, np.sqrt(var), self.shape)


def zeros(shape, dtype="float32") -> Initializer:
    """All zeros."""
    return _init(_Constant, shape, dtype, None, value=0.0)


def ones(shape, dtype="float32") -> Initializer:
    """All ones."""
    return _init(_Constant, shape, dtype, None, value=1.0)


def constant(shape, value, dtype="float32") -> Initializer:
    """Every element ``value`` (a scalar, or an array broadcast to ``shape``, copied when the
    initializer is made)."""
    return _init(_Constant, shape, dtype, None, value=value)


def uniform(shape, low=-0.05, high=0.05, dtype="float32", seed=None) -> Initializer:
    """Uniform in ``[low, high)``."""
    return _init(_Uniform, shape, dtype, seed, low=low, high=high)


def normal(shape, mean=0.0, stddev=0.05, dtype="float32", seed=None) -> Initializer:
    """Normal with ``mean`` and ``stddev``."""
    return _init(_Normal, shape, dtype, seed, mean=mean, stddev=stddev)


def truncated_normal(shape, mean=0.0, stddev=0.05, dtype="float32", seed=None) -> Initializer:
    """Normal, redrawn when more than two standard deviations from the mean."""
    return _init(_TruncatedNormal, shape, dtype, seed, mean=mean, stddev=stddev)


def glorot_uniform(shape, dtype="float32", seed=None) -> Initializer:
    """Glorot/Xavier uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    return _init(_VarianceScaling, shape, dtype, seed, scale=1.0, mode="fan_avg")


def glorot_normal(shape, dtype="float32", seed=None) -> Initializer:
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out))."""
    return _init(_VarianceScaling, shape, dtype, seed, mode="fan_avg", distribution="normal")


def he_uniform(shape, dtype="float32", seed=None) -> Initializer:
    """He/Kaiming uniform for ReLU layers: U(-l, l) with l = sqrt(6 / fan_in)."""
    return _init(_VarianceScaling, shape, dtype, seed, scale=2.0, mode="fan_in")


def he_normal(shape, dtype="float32", seed=None) -> Initializer:
    """He/Kaiming normal for ReLU layers: N(0, 2 / fan_in)."""
    return _init(_VarianceScaling, shape, dtype, seed, scale=2.0, mode="fan_in", distribution="normal")


def derived_seed(graph_seed: int | None, name: str) -> int:
    """The seed of an initializer given none: a stable function of the graph seed and variable name."""
    return zlib.crc32(f"{graph_seed or 0}/{name}".encode())
