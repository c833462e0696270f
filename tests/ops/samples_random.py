"""Samples for graphc/ops/random.py: random_uniform and random_normal.

Random values cannot be compared one by one, so each sample fetches something checkable on its own:
bounds tests (all true, of the expected shape, which checks run-time dims) or statistics of 20000 draws
(mean, min, max, standard deviation) against the distribution's parameters, within several standard
errors. Seeds are fixed, so the samples are deterministic.
"""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"
D = "float64"
N = 20000
ROWS = Arg((), "int64", value=5)


def _in_bounds(r, low, high):
    return (r >= low) & (r < high)


def _stats(r):
    """(mean, min, max, standard deviation) of all elements of ``r``."""
    mean = gc.reduce_mean(r)
    std = gc.sqrt(gc.reduce_mean(gc.square(r - mean)))
    return mean, gc.reduce_min(r), gc.reduce_max(r), std


def _uniform_stats(low, high, dtype):
    width = high - low
    return tuple(np.asarray(v, dtype) for v in (low + width / 2, low, high, width / np.sqrt(12)))


SAMPLES = [
    Sample(
        "RandomUniform",
        lambda n: _in_bounds(gc.random_uniform((n, 3), minval=-2.0, maxval=5.0, seed=3), -2.0, 5.0),
        lambda n: np.ones((int(n), 3), bool),
        (ROWS,),
        name="bounds_runtime_dim",
    ),
    Sample(
        "RandomUniform",
        lambda n: _in_bounds(gc.random_uniform((2, n), seed=4), 0.0, 1.0),
        lambda n: np.ones((2, int(n)), bool),
        (Arg((), "int32", value=4),),
        name="int32_runtime_dim",
    ),
    Sample(
        "RandomUniform",
        lambda s: _in_bounds(gc.random_uniform(s, dtype=D, seed=5), 0.0, 1.0),
        lambda s: np.ones(tuple(s), bool),
        (Arg((3,), "int64", value=[2, 3, 4]),),
        name="shape_vector",
    ),
    Sample(
        "RandomUniform",
        lambda n: gc.random_uniform((n, 3), seed=6),
        lambda n: np.zeros((0, 3), F),
        (Arg((), "int64", value=0),),
        name="empty",
    ),
    Sample(
        "RandomUniform",
        lambda: _stats(gc.random_uniform((N,), minval=-1.0, maxval=3.0, seed=1)),
        lambda: _uniform_stats(-1.0, 3.0, F),
        name="stats",
        rtol=0,
        atol=0.04,
    ),
    Sample(
        "RandomUniform",
        lambda: _stats(gc.random_uniform((100, 200), minval=10.0, maxval=10.5, dtype=D, seed=2)),
        lambda: _uniform_stats(10.0, 10.5, D),
        name="stats_f64",
        rtol=0,
        atol=0.005,
    ),
    Sample(
        "RandomNormal",
        lambda n: _stats(gc.random_normal((n, 2), seed=1))[0::3],
        lambda n: (np.float32(0.0), np.float32(1.0)),
        (Arg((), "int64", value=N // 2),),
        name="stats_runtime_dim",
        rtol=0,
        atol=0.04,
    ),
    Sample(
        "RandomNormal",
        lambda: _stats(gc.random_normal((N,), mean=2.0, stddev=0.5, dtype=D, seed=9))[0::3],
        lambda: (np.float64(2.0), np.float64(0.5)),
        name="stats_f64",
        rtol=0,
        atol=0.02,
    ),
    Sample(
        "RandomNormal",
        lambda n: gc.random_normal((n, 2, 3), stddev=0.0, mean=-1.5),
        lambda n: np.full((int(n), 2, 3), -1.5, F),
        (ROWS,),
        name="zero_stddev",
    ),
]
