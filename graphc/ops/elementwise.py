"""Elementwise ops: arithmetic, math functions, comparisons, logic, ``where``, ``clip`` and ``cast``.

Each op is one small class: its numpy function (the reference) and its scalar expression (``scalar``, a
format string over the operands from which compiled backends generate fused loops). Shapes broadcast as
in numpy; dtypes follow ``graphc.ir.dtypes`` (numpy promotion, weak Python scalars, float32 for float
ops on integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Tensor, making
from graphc.ir.op import Op, not_differentiable
from graphc.ir.types import TensorType, broadcast_shapes
from graphc.ops.core import apply, as_tensor, as_tensors_like, graph_of


class Elementwise(Op):
    """Base of elementwise ops: broadcast the inputs, compute ``fn`` in ``compute dtype``, cast out.

    ``scalar`` may call ``math.*``, ``np.*`` scalar functions and the helpers every backend provides
    under the same names (``sigmoid``, ``softplus``, ``relu``, ``maximum``, ``minimum``, ``sign``: see
    ``runtime/cpu/scalar.py``)."""

    abstract = True
    arity: ClassVar[int] = 1
    #: scalar expression over ``{0}``, ``{1}``... for code generation
    scalar: ClassVar[str] = ""
    #: numpy implementation on inputs already cast to the compute dtype
    fn: ClassVar = None
    #: "same": output dtype = promoted input dtype; "float": floats, ints -> float32; "bool": bool
    result: ClassVar[str] = "same"
    allow_bool: ClassVar[bool] = False

    def compute_dtype(self, *in_dtypes: np.dtype) -> np.dtype:
        d = dtypes.result_type(*in_dtypes)
        return dtypes.float_result(d) if self.result == "float" else d

    def out_dtype(self, *in_dtypes: np.dtype) -> np.dtype:
        return dtypes.bool_ if self.result == "bool" else self.compute_dtype(*in_dtypes)

    def operand_dtypes(self, *in_dtypes: np.dtype) -> tuple[np.dtype, ...]:
        """The dtype each operand is converted to before ``scalar`` is evaluated (code generation)."""
        cd = self.compute_dtype(*in_dtypes)
        return (cd,) * len(in_dtypes)

    def infer(self, *types: TensorType):
        if len(types) != self.arity:
            # the user functions pass ``arity`` inputs, but ``apply`` and loaded files may not: the
            # reference hands the inputs to a numpy ufunc, which took a surplus one as its ``out``
            # (exp(x, y) wrote exp(x) over y, a caller's fed array) while the CPU loops ignored it
            takes = f"{self.arity} input{'s' if self.arity != 1 else ''}"
            raise ShapeError(f"{self.type_name} takes {takes}, got {len(types)}")
        if not self.allow_bool and any(dtypes.is_bool(t.dtype) for t in types):
            raise DTypeError(
                f"{self.type_name} does not take bool inputs "
                f"(got {', '.join(str(t) for t in types)}); cast them first"
            )
        shape = broadcast_shapes(*(t.shape for t in types))
        return (TensorType(shape, self.out_dtype(*(t.dtype for t in types))),)

    def reference(self, *xs):
        cd = self.compute_dtype(*(x.dtype for x in xs))
        out = type(self).fn(*(np.asarray(x, dtype=cd) for x in xs))
        return np.asarray(out, dtype=self.out_dtype(*(x.dtype for x in xs)))


class Unary(Elementwise):
    abstract = True
    arity = 1


class UnaryFloat(Unary):
    abstract = True
    result = "float"


class Binary(Elementwise):
    abstract = True
    arity = 2


class Compare(Binary):
    abstract = True
    result = "bool"
    allow_bool = True
    vjp = not_differentiable("comparisons have bool outputs")


class Logical(Elementwise):
    abstract = True
    result = "bool"
    allow_bool = True
    vjp = not_differentiable("logical ops have bool outputs")

    def compute_dtype(self, *in_dtypes):
        return dtypes.bool_


def _sigmoid(x):
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _mod(a, b):
    return np.mod(a, b)


def _power(x, y):
    out = np.power(x, y)
    if out.dtype.kind == "f":
        # numpy takes sqrt(x) for a power of one broadcast exponent 0.5 (its scalar fast path), which
        # differs from pow at x = -inf (NaN, not inf) and x = -0.0 (-0.0, not 0.0); the same exponent
        # given elementwise, C's pow (the CPU loops) and TF1 give pow's values. Here too, whatever the
        # exponent's layout (``simplify`` turns a constant of repeated 0.5s into one scalar)
        fix = (y == 0.5) & ((x == 0) | (x == -np.inf))
        if fix.any():
            out = np.where(fix, np.abs(x), out)
    return out


# --- unary -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Negative(Unary):
    """-x.

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([1, -2, 0])
        >>> with gc.Session() as sess:
        ...     sess.run(gc.negative(x)).tolist(), sess.run(-x).tolist()  # the unary - operator
        ([-1, 2, 0], [-1, 2, 0])
    """

    scalar = "-({0})"
    fn = np.negative

    def vjp(self, node, gy):
        return (negative(gy),)


@dataclass(frozen=True)
class Abs(Unary):
    """|x|.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.abs(gc.constant([-3, 0, 2])))  # integers stay integers
        array([3, 0, 2])
    """

    scalar = "abs({0})"
    fn = np.abs

    def vjp(self, node, gy):
        # sign(0) = 0: the subgradient at the kink is 0, as PyTorch
        return (gy * sign(node.inputs[0]),)


@dataclass(frozen=True)
class Sign(Unary):
    """sign(x): -1, 0 or 1 (0 for 0; NaN for NaN).

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.sign(gc.constant([-2.5, 0.0, 3.0, float("nan")]))).tolist()
        [-1.0, 0.0, 1.0, nan]
    """

    scalar = "sign({0})"
    fn = np.sign

    def vjp(self, node, gy):
        return (gy * 0.0,)  # piecewise constant: zero (NaN stays NaN)


@dataclass(frozen=True)
class Square(Unary):
    """x * x.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.square(gc.constant([-3, 4]))).tolist()
        [9, 16]
    """

    scalar = "({0}) * ({0})"
    fn = np.square

    def vjp(self, node, gy):
        return (gy * (node.inputs[0] * 2.0),)


@dataclass(frozen=True)
class Relu(Unary):
    """max(x, 0); NaN stays NaN.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.relu(gc.constant([-1.0, 0.0, 2.0, float("nan")]))).tolist()
        [0.0, 0.0, 2.0, nan]
    """

    scalar = "relu({0})"
    fn = staticmethod(lambda x: np.maximum(x, np.zeros((), x.dtype)))

    def vjp(self, node, gy):
        # 0 at x = 0, as PyTorch and TF
        return (where(node.inputs[0] > 0, gy, 0.0),)


@dataclass(frozen=True)
class Exp(UnaryFloat):
    """e**x.

    Example:
        >>> import graphc as gc
        >>> gc.exp(gc.constant([0, 1])).dtype  # integers give float32
        dtype('float32')
        >>> with gc.Session() as sess:
        ...     sess.run(gc.exp(gc.constant([0.0, 1.0], "float64"))).tolist()
        [1.0, 2.718281828459045]
    """

    scalar = "math.exp({0})"
    fn = np.exp

    def vjp(self, node, gy):
        return (gy * node.outputs[0],)


@dataclass(frozen=True)
class Log(UnaryFloat):
    """Natural log; log(0) = -inf, log(x<0) = NaN.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.log(gc.constant([1.0, 0.0, -1.0]))).tolist()
        [0.0, -inf, nan]
    """

    scalar = "math.log({0})"
    fn = np.log

    def vjp(self, node, gy):
        return (gy / node.inputs[0],)


@dataclass(frozen=True)
class Log1p(UnaryFloat):
    """log(1 + x), accurate for small x.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # log(1 + 1e-20) would round to log(1.0) = 0.0
        ...     float(sess.run(gc.log1p(gc.constant(1e-20, "float64"))))
        1e-20
    """

    scalar = "math.log1p({0})"
    fn = np.log1p

    def vjp(self, node, gy):
        return (gy / (node.inputs[0] + 1.0),)


@dataclass(frozen=True)
class Expm1(UnaryFloat):
    """exp(x) - 1, accurate for small x.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # exp(1e-20) - 1 would round to 1.0 - 1 = 0.0
        ...     float(sess.run(gc.expm1(gc.constant(1e-20, "float64"))))
        1e-20
    """

    scalar = "math.expm1({0})"
    fn = np.expm1

    def vjp(self, node, gy):
        return (gy * (node.outputs[0] + 1.0),)


@dataclass(frozen=True)
class Sqrt(UnaryFloat):
    """sqrt(x); NaN for x < 0.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.sqrt(gc.constant([4.0, 0.25, -1.0]))).tolist()
        [2.0, 0.5, nan]
    """

    scalar = "math.sqrt({0})"
    fn = np.sqrt

    def vjp(self, node, gy):
        return (gy / (node.outputs[0] * 2.0),)


@dataclass(frozen=True)
class Tanh(UnaryFloat):
    """tanh(x).

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.tanh(gc.constant([-100.0, 0.0, 100.0]))).tolist()
        [-1.0, 0.0, 1.0]
    """

    scalar = "math.tanh({0})"
    fn = np.tanh

    def vjp(self, node, gy):
        y = node.outputs[0]
        return (gy * (1.0 - y * y),)


@dataclass(frozen=True)
class Sigmoid(UnaryFloat):
    """1 / (1 + exp(-x)), computed without overflow for large |x|.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # no overflow warning or NaN at +-1000
        ...     sess.run(gc.sigmoid(gc.constant([-1000.0, 0.0, 1000.0]))).tolist()
        [0.0, 0.5, 1.0]
    """

    scalar = "sigmoid({0})"
    fn = staticmethod(_sigmoid)

    def vjp(self, node, gy):
        y = node.outputs[0]
        return (gy * (y * (1.0 - y)),)


@dataclass(frozen=True)
class Softplus(UnaryFloat):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for large |x|.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # exp(1000) would overflow to inf
        ...     sess.run(gc.softplus(gc.constant([-1000.0, 0.0, 1000.0], "float64"))).tolist()
        [0.0, 0.6931471805599453, 1000.0]
    """

    scalar = "softplus({0})"
    fn = staticmethod(_softplus)

    def vjp(self, node, gy):
        return (gy * sigmoid(node.inputs[0]),)


# --- binary ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Add(Binary):
    """x + y.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     y = gc.add(x, [[10.0], [20.0]])  # broadcasts as numpy: shape (2, None)
        ...     with gc.Session() as sess:
        ...         sess.run(y, {x: [1.0, 2.0]})
        array([[11., 12.],
               [21., 22.]], dtype=float32)
    """

    scalar = "({0}) + ({1})"
    fn = np.add

    def vjp(self, node, gy):
        return gy, gy


@dataclass(frozen=True)
class Subtract(Binary):
    """x - y.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     i = gc.placeholder("int32", (None,), name="i")
        ...     with gc.Session() as sess:  # a Python int takes i's dtype
        ...         sess.run(gc.subtract(1, i), {i: [1, 5]})
        array([ 0, -4], dtype=int32)
    """

    scalar = "({0}) - ({1})"
    fn = np.subtract

    def vjp(self, node, gy):
        return gy, negative(gy)


@dataclass(frozen=True)
class Multiply(Binary):
    """x * y.

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     i = gc.placeholder("int32", (None,), name="i")
        ...     (x * 2).dtype, (i * 2).dtype, gc.multiply(i, x).dtype  # numpy promotion; scalars are weak
        (dtype('float32'), dtype('int32'), dtype('float64'))
    """

    scalar = "({0}) * ({1})"
    fn = np.multiply

    def vjp(self, node, gy):
        x, y = node.inputs
        return gy * y, gy * x


@dataclass(frozen=True)
class Divide(Binary):
    """x / y (true division; integer inputs give float32).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     i = gc.placeholder("int32", (None,), name="i")
        ...     x = gc.placeholder("float32", (None,), name="x")
        ...     with gc.Session() as sess:
        ...         sess.run(gc.divide(i, 2), {i: [1, 4]}), sess.run(x / 0.0, {x: [1.0, 0.0]}).tolist()
        (array([0.5, 2. ], dtype=float32), [inf, nan])
    """

    scalar = "({0}) / ({1})"
    fn = np.true_divide
    result = "float"

    def vjp(self, node, gy):
        x, y = node.inputs
        return gy / y, negative(gy * node.outputs[0]) / y


@dataclass(frozen=True)
class FloorDivide(Binary):
    """floor(x / y) as numpy's ``//`` (integer division by zero gives 0).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     i = gc.placeholder("int32", (None,), name="i")
        ...     with gc.Session() as sess:  # rounds toward -inf, not toward zero; integer // 0 gives 0
        ...         sess.run([gc.floor_divide(i, 2), i // 0], {i: [7, -7]})
        [array([ 3, -4], dtype=int32), array([0, 0], dtype=int32)]
    """

    scalar = "({0}) // ({1})"
    fn = np.floor_divide

    vjp = not_differentiable("piecewise constant: no useful derivative (as TF's FloorDiv)")


@dataclass(frozen=True)
class Mod(Binary):
    """x mod y with the sign of y, as numpy's ``%`` and Python's (integer mod 0 gives 0).

    Example:
        >>> import graphc as gc
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     i = gc.placeholder("int32", (None,), name="i")
        ...     with gc.Session() as sess:
        ...         sess.run(gc.mod(i, 3), {i: [7, -7]}).tolist(), sess.run(i % -3, {i: [7, -7]}).tolist()
        ([1, 2], [-2, -1])
    """

    scalar = "({0}) % ({1})"
    fn = staticmethod(_mod)

    def vjp(self, node, gy):
        x, y = node.inputs  # x mod y = x - y * floor(x / y)
        return gy, negative(gy * floor_divide(x, y))


@dataclass(frozen=True)
class Power(Binary):
    """x ** y. Integer tensors raised to negative integer powers are an error in numpy; avoid them.
    Floats follow C's ``pow`` (and TF1): ``(-inf) ** 0.5`` is inf and ``(-0.0) ** 0.5`` is 0.0, not the
    NaN and -0.0 of the ``sqrt`` numpy takes for a scalar exponent of 0.5.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.power(gc.constant([2, 3]), 2)), sess.run(gc.constant([4.0, -1.0]) ** 0.5).tolist()
        (array([4, 9]), [2.0, nan])
    """

    scalar = "({0}) ** ({1})"
    fn = staticmethod(_power)

    def vjp(self, node, gy):
        x, y = node.inputs
        out = node.outputs[0]
        # the masks keep 0 * inf out at x = 0, as PyTorch: d/dx is 0 where y == 0, d/dy 0 where x == 0.
        # log(x) in the output's dtype: log of an integer or float32 x is float32, which made the float64
        # gradient of 3 ** y (x an int64) off by 2e-8
        gx = where(equal(y, 0.0), 0.0, y * power(x, y - 1.0))
        gp = where(logical_and(equal(x, 0.0), greater_equal(y, 0.0)), 0.0, out * log(cast(x, out.dtype)))
        return gy * gx, gy * gp


@dataclass(frozen=True)
class Maximum(Binary):
    """max(x, y) elementwise; NaN if either is NaN.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # NaN propagates, as np.maximum (not np.fmax)
        ...     sess.run(gc.maximum(gc.constant([-1.0, float("nan"), 2.0]), 0.0)).tolist()
        [0.0, nan, 2.0]
    """

    scalar = "maximum({0}, {1})"
    fn = np.maximum

    def vjp(self, node, gy):
        x, y = node.inputs  # ties split the gradient in half, as PyTorch
        half = gy * 0.5
        return where(equal(x, y), half, where(x > y, gy, 0.0)), where(
            equal(x, y), half, where(y > x, gy, 0.0)
        )


@dataclass(frozen=True)
class Minimum(Binary):
    """min(x, y) elementwise; NaN if either is NaN.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # (2, 1) and (3,) broadcast to (2, 3)
        ...     sess.run(gc.minimum(gc.constant([[1.0], [5.0]]), [2.0, 3.0, float("nan")])).tolist()
        [[1.0, 1.0, nan], [2.0, 3.0, nan]]
    """

    scalar = "minimum({0}, {1})"
    fn = np.minimum

    def vjp(self, node, gy):
        x, y = node.inputs  # ties split the gradient in half, as PyTorch
        half = gy * 0.5
        return where(equal(x, y), half, where(x < y, gy, 0.0)), where(
            equal(x, y), half, where(y < x, gy, 0.0)
        )


# --- comparisons and logic -----------------------------------------------------------------------


@dataclass(frozen=True)
class Equal(Compare):
    """x == y.

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([1.0, float("nan")])
        >>> with gc.Session() as sess:  # NaN equals nothing; ``==`` on tensors is identity, as TF1
        ...     sess.run(gc.equal(x, x)).tolist(), x == x
        ([True, False], True)
    """

    scalar = "({0}) == ({1})"
    fn = np.equal


@dataclass(frozen=True)
class NotEqual(Compare):
    """x != y.

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([1.0, float("nan")])
        >>> with gc.Session() as sess:  # ``!=`` on tensors compares identity, as TF1
        ...     sess.run(gc.not_equal(x, 1.0)).tolist(), sess.run(gc.not_equal(x, x)).tolist()
        ([False, True], [False, True])
    """

    scalar = "({0}) != ({1})"
    fn = np.not_equal


@dataclass(frozen=True)
class Less(Compare):
    """x < y.

    Example:
        >>> import graphc as gc
        >>> i = gc.constant([1, 2, 3])
        >>> with gc.Session() as sess:  # integers compare with a float as numpy does
        ...     sess.run(gc.less(i, 2.5)).tolist(), sess.run(i < 2).tolist()
        ([True, True, False], [True, False, False])
    """

    scalar = "({0}) < ({1})"
    fn = np.less


@dataclass(frozen=True)
class LessEqual(Compare):
    """x <= y.

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:  # (2,) against (2, 1): a (2, 2) bool result
        ...     sess.run(gc.less_equal(gc.constant([0.0, 1.0]), [[0.0], [1.0]])).tolist()
        [[True, False], [True, True]]
    """

    scalar = "({0}) <= ({1})"
    fn = np.less_equal


@dataclass(frozen=True)
class Greater(Compare):
    """x > y.

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([-1.0, float("nan"), 2.0])
        >>> with gc.Session() as sess:  # every comparison with NaN is false
        ...     sess.run(gc.greater(x, 0.0)).tolist(), sess.run(x > -5.0).tolist()
        ([False, False, True], [True, False, True])
    """

    scalar = "({0}) > ({1})"
    fn = np.greater


@dataclass(frozen=True)
class GreaterEqual(Compare):
    """x >= y.

    Example:
        >>> import graphc as gc
        >>> i = gc.constant([2, 2, 2])
        >>> with gc.Session() as sess:
        ...     sess.run(gc.greater_equal(i, [1, 2, 3])).tolist(), sess.run(i >= 2).tolist()
        ([True, True, False], [True, True, True])
    """

    scalar = "({0}) >= ({1})"
    fn = np.greater_equal


@dataclass(frozen=True)
class LogicalAnd(Logical):
    """x and y (inputs are taken as truth values).

    Example:
        >>> import graphc as gc
        >>> b = gc.constant([True, True, False])
        >>> with gc.Session() as sess:  # numbers count as true when nonzero
        ...     sess.run([gc.logical_and(b, [True, False, True]), b & [0.0, 2.0, 1.0]])
        [array([ True, False, False]), array([False,  True, False])]
    """

    arity = 2
    scalar = "({0}) and ({1})"
    fn = np.logical_and


@dataclass(frozen=True)
class LogicalOr(Logical):
    """x or y.

    Example:
        >>> import graphc as gc
        >>> b = gc.constant([True, False, False])
        >>> with gc.Session() as sess:
        ...     sess.run(gc.logical_or(b, [False, False, True])).tolist(), sess.run(b | True).tolist()
        ([True, False, True], [True, True, True])
    """

    arity = 2
    scalar = "({0}) or ({1})"
    fn = np.logical_or


@dataclass(frozen=True)
class LogicalNot(Logical):
    """not x.

    Example:
        >>> import graphc as gc
        >>> b = gc.constant([True, False])
        >>> with gc.Session() as sess:  # ``~b`` is the same op
        ...     sess.run(gc.logical_not(b)).tolist(), sess.run(~b).tolist()
        ([False, True], [False, True])
    """

    arity = 1
    scalar = "not ({0})"
    fn = np.logical_not


# --- ternary and cast ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where(Elementwise):
    """cond ? x : y, with cond a bool tensor; output dtype promotes x and y."""

    arity = 3
    scalar = "({1}) if ({0}) else ({2})"
    allow_bool = True

    def compute_dtype(self, cond, x, y):
        return dtypes.result_type(x, y)

    def operand_dtypes(self, cond, x, y):
        cd = self.compute_dtype(cond, x, y)
        return (dtypes.bool_, cd, cd)

    def infer(self, *types: TensorType):
        if len(types) == self.arity and not dtypes.is_bool(types[0].dtype):
            raise DTypeError(f"where condition must be bool, got {types[0]}")
        return super().infer(*types)

    def reference(self, cond, x, y):
        d = self.compute_dtype(cond.dtype, x.dtype, y.dtype)
        return np.asarray(np.where(cond, x, y), dtype=d)

    def vjp(self, node, gy):
        cond = node.inputs[0]
        return None, where(cond, gy, 0.0), where(cond, 0.0, gy)


@dataclass(frozen=True)
class Clip(Elementwise):
    """min(max(x, low), high); output dtype is x's. Tensor bounds of another dtype are compared in the
    promoted dtype, as numpy's ``np.clip``, and only the result is cast to x's dtype."""

    arity = 3
    scalar = "minimum(maximum({0}, {1}), {2})"

    def compute_dtype(self, x, low, high):
        # the bounds converted to x's dtype first wrapped or overflowed: an int32 x clipped to float32
        # bounds [0, inf] gave -2**31 everywhere on the CPU (inf as an int32), and int64 bounds
        # [-2**40, 2**40] gave 0s, where the reference, comparing in the promoted dtype, gave x
        return dtypes.result_type(x, low, high)

    def out_dtype(self, x, low, high):
        return x

    def reference(self, x, low, high):
        return np.asarray(np.minimum(np.maximum(x, low), high), dtype=x.dtype)

    def vjp(self, node, gy):
        x, low, high = node.inputs
        # min(max(x, low), high): x passes inside [low, high] (bounds included, as PyTorch's clamp);
        # a bound gets the gradient where it is the output
        inside = logical_and(x >= low, x <= high)
        at_low = logical_and(x < low, low <= high)
        at_high = maximum(x, low) > high
        return where(inside, gy, 0.0), where(at_low, gy, 0.0), where(at_high, gy, 0.0)


@dataclass(frozen=True)
class Cast(Unary):
    """x converted to ``dtype`` (float -> int truncates toward zero, as numpy's astype)."""

    dtype: np.dtype
    allow_bool = True

    @property
    def scalar(self):
        return {"f": "np.{d}({{0}})", "i": "np.{d}({{0}})", "b": "bool({{0}})"}[self.dtype.kind].format(
            d=self.dtype.name
        )

    def infer(self, *types: TensorType):
        dtypes.check_attribute(self.dtype, self.type_name)
        return super().infer(*types)

    def compute_dtype(self, *in_dtypes):
        return in_dtypes[0]

    def out_dtype(self, *in_dtypes):
        return self.dtype

    def reference(self, x):
        return x.astype(self.dtype)

    def vjp(self, node, gy):
        return (gy,)  # the driver casts it back to the input's dtype


# --- user functions ------------------------------------------------------------------------------


def _named(f, cls, fname: str):
    f.__name__ = f.__qualname__ = fname
    f.__doc__ = f"{cls.__doc__}\n\nElementwise op ``{cls.__name__}``; see ``graphc.ops.elementwise``."
    return f


def _unary(cls, fname: str):
    def f(x, name: str | None = None):
        return apply(cls(), [as_tensor(x)], name)

    return _named(f, cls, fname)


def _binary(cls, fname: str):
    def f(x, y, name: str | None = None):
        return apply(cls(), as_tensors_like(x, y), name)

    return _named(f, cls, fname)


negative = _unary(Negative, "negative")
abs = _unary(Abs, "abs")  # noqa: A001 - numpy's name, shadowing only inside graphc.ops
sign = _unary(Sign, "sign")
square = _unary(Square, "square")
relu = _unary(Relu, "relu")
exp = _unary(Exp, "exp")
log = _unary(Log, "log")
log1p = _unary(Log1p, "log1p")
expm1 = _unary(Expm1, "expm1")
sqrt = _unary(Sqrt, "sqrt")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
softplus = _unary(Softplus, "softplus")
add = _binary(Add, "add")
subtract = _binary(Subtract, "subtract")
multiply = _binary(Multiply, "multiply")
divide = _binary(Divide, "divide")
floor_divide = _binary(FloorDivide, "floor_divide")
mod = _binary(Mod, "mod")
power = _binary(Power, "power")
maximum = _binary(Maximum, "maximum")
minimum = _binary(Minimum, "minimum")
equal = _binary(Equal, "equal")
not_equal = _binary(NotEqual, "not_equal")
less = _binary(Less, "less")
less_equal = _binary(LessEqual, "less_equal")
greater = _binary(Greater, "greater")
greater_equal = _binary(GreaterEqual, "greater_equal")
logical_and = _binary(LogicalAnd, "logical_and")
logical_or = _binary(LogicalOr, "logical_or")
logical_not = _unary(LogicalNot, "logical_not")


def where(cond, x, y, name: str | None = None):
    """``x`` where ``cond`` is true, else ``y`` (broadcast together).

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([-1.0, 2.0])
        >>> y = gc.where(x > 0, x, 0.0)
    """
    graph = graph_of(cond, x, y)  # where(x > 0, 1.0, 0.0): the constants go to the condition's graph
    cond = as_tensor(cond, graph=graph)
    x, y = as_tensors_like(x, y, graph=graph)
    return apply(Where(), [cond, x, y], name)


def clip(x, low, high, name: str | None = None):
    """``x`` limited to ``[low, high]``, in x's dtype; scalar bounds take x's dtype (tensor bounds are
    compared in the promoted dtype, as ``Clip``) and broadcast. A bound of None is no bound, as in
    ``np.clip`` (``clip(x, None, 3.0)`` is ``minimum(x, 3.0)``).

    Example:
        >>> import graphc as gc
        >>> with gc.Session() as sess:
        ...     sess.run(gc.clip(gc.constant([-2.0, 0.5, 7.0]), None, 1.0)).tolist()
        [-2.0, 0.5, 1.0]
    """
    x = as_tensor(x)
    if low is None and high is None:
        raise ValueError("clip needs at least one bound (low or high), as np.clip does")
    if low is None or high is None:
        # one bound: taken and compared as Clip takes it, the result in x's dtype. ``minimum(x, 3.5)``
        # of an int32 x was a float64 3.5 where clip(x, 0, 3.5) refuses the 3.5, and a float64 tensor
        # bound made a float32 x's clip float64 only where the other bound was None
        bound = _clip_bound(high if low is None else low, x)
        fn = minimum if low is None else maximum
        if dtypes.result_type(x.dtype, bound.dtype) == x.dtype:
            return fn(x, bound, name=name)
        return cast(fn(x, bound), x.dtype, name=name)
    return apply(Clip(), [x, _clip_bound(low, x), _clip_bound(high, x)], name)


def _clip_bound(bound, x: Tensor):
    """A bound of ``clip``: a tensor as it is (compared in the promoted dtype), else a constant of
    x's dtype, which must hold it exactly."""
    return bound if hasattr(bound, "node") else as_tensor(bound, dtype=x.dtype, graph=x.graph)


def cast(x, dtype, name: str | None = None):
    """``x`` converted to ``dtype``; returns ``x`` itself when it already has that dtype.

    Example:
        >>> import graphc as gc
        >>> x = gc.constant([-1.7, 2.9, 0.0])
        >>> with gc.Session() as sess:  # float -> int truncates toward zero, as numpy's astype
        ...     sess.run(gc.cast(x, "int32")), sess.run(gc.cast(x, "bool")).tolist()
        (array([-1,  2,  0], dtype=int32), [True, True, False])
        >>> gc.cast(x, "float32") is x
        True
    """
    x = as_tensor(x)
    with making("Cast", name):
        d = dtypes.as_dtype(dtype)
    if x.dtype == d:
        return x
    return apply(Cast(d), [x], name)


__all__ = [
    "abs",
    "add",
    "cast",
    "clip",
    "divide",
    "equal",
    "exp",
    "expm1",
    "floor_divide",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "power",
    "relu",
    "sigmoid",
    "sign",
    "softplus",
    "sqrt",
    "square",
    "subtract",
    "tanh",
    "where",
]
