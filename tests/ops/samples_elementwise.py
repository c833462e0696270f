"""Samples for graphc/ops/elementwise.py and constants."""

import numpy as np

import graphc as gc
from tests.ops.samples import Arg, Sample

F = "float32"
BCAST = (Arg((4, 3), F), Arg((3,), F))  # row broadcast
UNKNOWN = (Arg((5, 3), F, static=(None, 3)), Arg((1, 3), F))  # run-time batch dim
EMPTY = (Arg((0, 3), F, static=(None, 3)), Arg((1, 3), F))
POS = Arg((3, 4), F, low=0.1, high=3.0)


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) is inf for very negative x: the limit 0 is meant
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


def _softplus(x):
    return np.log(1.0 + np.exp(x.astype(np.float64))).astype(x.dtype)


MATRIX = Arg((3, 4), F)


def _unary(op, fn, expect, arg=MATRIX, name="", **kw):
    return Sample(op, fn, expect, (arg,), name=name, **kw)


SAMPLES = [
    Sample("Constant", lambda: gc.constant([[1.5, 2.0]]), lambda: np.array([[1.5, 2.0]], F)),
    Sample("Constant", lambda: gc.constant(3), lambda: np.array(3, np.int64), name="int"),
    _unary("Negative", gc.negative, np.negative),
    _unary("Negative", lambda x: -x, np.negative, Arg((4,), "int32"), name="int32"),
    _unary("Abs", gc.abs, np.abs),
    _unary("Abs", abs, np.abs, Arg((0, 2), F, static=(None, 2)), name="empty"),
    _unary("Sign", gc.sign, np.sign, Arg((5,), F, value=[-2.0, 0.0, 3.0, -0.0, 1e-30])),
    _unary("Sign", gc.sign, np.sign, Arg((3,), F, value=[np.inf, -np.inf, np.nan]), name="inf"),
    _unary("Square", gc.square, np.square),
    _unary("Relu", gc.relu, lambda x: np.maximum(x, 0)),
    _unary(
        "Relu",
        gc.relu,
        lambda x: np.array([0, 0, 2.0, np.nan], F),
        Arg((4,), F, value=[-1.0, 0.0, 2.0, np.nan]),
        name="nan",
    ),
    _unary(
        "Relu",
        gc.relu,
        lambda x: np.array([0.0, np.inf], F),
        Arg((2,), F, value=[-np.inf, np.inf]),
        name="inf",
    ),
    _unary("Exp", gc.exp, np.exp),
    _unary("Exp", gc.exp, lambda x: np.exp(x.astype(F)), Arg((3,), "int64", 0, 4), name="int"),
    _unary("Log", gc.log, np.log, POS),
    _unary("Log1p", gc.log1p, np.log1p, Arg((3, 4), F, low=-0.5, high=2.0)),
    _unary("Expm1", gc.expm1, np.expm1, Arg((3,), F, value=[1e-7, -1e-6, 1.0])),
    _unary("Sqrt", gc.sqrt, np.sqrt, POS),
    _unary("Tanh", gc.tanh, np.tanh),
    _unary("Sigmoid", gc.sigmoid, _sigmoid, rtol=1e-6),
    _unary(
        "Sigmoid",
        gc.sigmoid,
        _sigmoid,
        Arg((4,), "float64", value=[-800.0, -30.0, 30.0, 800.0]),
        name="extreme",
    ),
    _unary("Softplus", gc.softplus, _softplus, rtol=1e-5),
    _unary(
        "Softplus",
        gc.softplus,
        lambda x: np.array([0.0, 100.0], "float64"),
        Arg((2,), "float64", value=[-800.0, 100.0]),
        name="extreme",
        atol=1e-300,
    ),
    Sample("Add", gc.add, np.add, BCAST),
    Sample("Add", lambda x, y: x + y, np.add, UNKNOWN, name="unknown_dim"),
    Sample("Add", lambda x, y: x + y, np.add, EMPTY, name="empty"),
    Sample(
        "Add",
        lambda x: x + 1,
        lambda x: x + np.int32(1),
        (Arg((3,), "int32", 0, 9),),
        name="weak_int",
    ),
    Sample(
        "Add",
        lambda x, y: x + y,
        np.add,
        (Arg((2, 1, 3), F), Arg((4, 1), "float64")),
        name="promote_3d",
    ),
    Sample("Subtract", lambda x, y: x - y, np.subtract, BCAST),
    Sample(
        "Subtract",
        lambda x: 1.0 - x,
        lambda x: np.float32(1.0) - x,
        (Arg((3,), F),),
        name="rsub_scalar",
    ),
    Sample("Multiply", lambda x, y: x * y, np.multiply, UNKNOWN),
    Sample("Divide", lambda x, y: x / y, np.divide, (Arg((4, 3), F), Arg((3,), F, 0.5, 2.0))),
    Sample(
        "Divide",
        lambda x, y: x / y,
        lambda x, y: (x / y).astype(F),
        (Arg((4,), "int32", 1, 9), Arg((4,), "int32", 1, 9)),
        name="int",
    ),
    Sample(
        "FloorDivide",
        lambda x, y: x // y,
        np.floor_divide,
        (Arg((6,), F, value=[7, -7, 7, -7, 0.5, 3]), Arg((6,), F, value=[2, 2, -2, -2, 1, 7])),
    ),
    Sample(
        "FloorDivide",
        lambda x, y: x // y,
        np.floor_divide,
        (Arg((4,), "int64", value=[7, -7, 7, -7]), Arg((4,), "int64", value=[2, 2, -2, -2])),
        name="int",
    ),
    Sample(
        "Mod",
        lambda x, y: x % y,
        np.mod,
        (Arg((4,), F, value=[7, -7, 7, -7]), Arg((4,), F, value=[3, 3, -3, -3])),
    ),
    Sample(
        "Mod",
        lambda x: x % 3,
        lambda x: np.mod(x, np.int32(3)),
        (Arg((5,), "int32", -9, 9),),
        name="int_scalar",
    ),
    Sample("Power", lambda x, y: x**y, np.power, (Arg((3, 4), F, 0.5, 2.0), Arg((4,), F, -2, 2))),
    Sample(
        "Power",
        lambda x: x**2,
        lambda x: x ** np.int64(2),
        (Arg((3,), "int64", -5, 5),),
        name="int",
    ),
    Sample("Maximum", gc.maximum, np.maximum, BCAST),
    Sample("Minimum", gc.minimum, np.minimum, UNKNOWN),
    Sample("Equal", gc.equal, np.equal, (Arg((6,), "int32", 0, 3), Arg((6,), "int32", 0, 3))),
    Sample("NotEqual", gc.not_equal, np.not_equal, (Arg((6,), "int32", 0, 3), Arg((1,), "int32", 0, 3))),
    Sample("Less", lambda x, y: x < y, np.less, BCAST),
    Sample("LessEqual", lambda x, y: x <= y, np.less_equal, UNKNOWN),
    Sample("Greater", lambda x, y: x > y, np.greater, BCAST),
    Sample("GreaterEqual", lambda x: x >= 0.5, lambda x: x >= 0.5, (Arg((2, 3), F),)),
    Sample("LogicalAnd", gc.logical_and, np.logical_and, (Arg((4,), "bool"), Arg((4,), "bool"))),
    Sample("LogicalOr", lambda x, y: x | y, np.logical_or, (Arg((2, 4), "bool"), Arg((4,), "bool"))),
    Sample("LogicalNot", lambda x: ~x, np.logical_not, (Arg((4,), "bool"),)),
    Sample(
        "Where",
        lambda c, x, y: gc.where(c, x, y),
        np.where,
        (Arg((4, 3), "bool"), Arg((4, 3), F), Arg((3,), F)),
    ),
    Sample(
        "Where",
        lambda c, x: gc.where(c, x, 0.0),
        lambda c, x: np.where(c, x, np.float32(0)),
        (Arg((4, 3), "bool", static=(None, 3)), Arg((1, 3), F)),
        name="scalar",
    ),
    Sample(
        "Clip",
        lambda x: gc.clip(x, -0.5, 0.5),
        lambda x: np.clip(x, -0.5, 0.5).astype(F),
        (Arg((3, 4), F),),
    ),
    Sample(
        "Clip",
        gc.clip,
        lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
        (Arg((3, 4), F), Arg((4,), F, -1, 0), Arg((3, 1), F, 0, 1)),
        name="tensor_bounds",
    ),
    Sample(
        "Cast",
        lambda x: gc.cast(x, "int32"),
        lambda x: x.astype(np.int32),
        (Arg((5,), F, value=[-1.7, -0.2, 0.0, 0.9, 2.5]),),
    ),
    Sample(
        "Cast",
        lambda x: x.astype("float64"),
        lambda x: x.astype(np.float64),
        (Arg((3,), "bool"),),
        name="bool_to_f64",
    ),
    Sample(
        "Cast",
        lambda x: gc.cast(x, "float32"),
        lambda x: x.astype(np.float32),
        (Arg((2, 3), "float64"),),
        name="f64_to_f32",
        grad_tol=(1e-2, 1e-3, 1e-4),  # the path is float32: finite differences need a large step
    ),
]
