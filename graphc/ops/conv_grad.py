"""The gradients of conv.py's ops: conv2d's two transposes (w.r.t. the input and the weights) and the
pooling gradients, each an op with a numpy reference and its own ``vjp``.

Every op here is linear in the incoming gradient (the conv transposes are bilinear), so each ``vjp`` is
written with the op it is the adjoint of, and gradients of any order stay graphs. An input passed "for
its shape" (``like``) has its values never read: it gives the run-time H and W of the result (and the
"same" pads), which the forward output alone cannot, since the output size rounds down. The references
scatter-add each kernel tap's contribution into a zero-padded array and crop the padding, so rows and
columns that the forward op never read get 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from graphc.ir import dtypes
from graphc.ir.errors import ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, format_shape
from graphc.ops.conv import (
    AvgPool2D,
    Conv2D,
    MaxPool2D,
    Pair,
    _check_images,
    _conv_padding,
    _out_size,
    _pair,
    _Pool2D,
    _windows,
)
from graphc.ops.core import apply, as_tensor, graph_of
from graphc.ops.like import zeros_like


def apply_as(cls: type[Op], op: Op, *inputs, name: str | None = None) -> Tensor:
    """Apply op class ``cls`` with ``op``'s attributes: the conv ops share (stride, padding, dilation),
    the pooling ops (kernel, stride, padding)."""
    return apply(cls(**op.attrs()), inputs, name)


def _check_matches(op: Op, got: TensorType, want: TensorType, what: str) -> None:
    """Raise a ShapeError unless ``got`` can have ``want``'s shape (unknown dims match any size)."""
    same = got.ndim == want.ndim and all(
        a is None or b is None or a == b for a, b in zip(got.shape, want.shape, strict=True)
    )
    if not same:
        raise ShapeError(
            f"{op.type_name}: {got} does not match the shape {format_shape(want.shape)} of {what}"
        )


def _merge(*shapes: tuple) -> tuple:
    """Dimension by dimension, the first known size among ``shapes``."""
    return tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes, strict=True))


def _check_run(op: Op, what: str, g_shape: tuple, want: tuple) -> None:
    """At run time: raise ValueError (a RunError naming the node) unless ``g_shape`` is ``want``."""
    if min(want[2:]) < 1 or tuple(g_shape) != tuple(want):
        raise ValueError(f"{op.type_name}: gradient of shape {g_shape} does not fit {what}: expected {want}")


def _scatter_taps(shape: tuple, pads: tuple, kernel: Pair, stride: Pair, dilation: Pair, tap, dtype):
    """The adjoint of reading kernel windows: zeros of ``shape`` padded by (top, bottom, left, right)
    ``pads``; for each kernel tap (a, b), ``tap(a, b)`` (N, C, OH, OW) is added at the pixels that tap
    read, (i*sh + a*dh, j*sw + b*dw); the padding is then cropped."""
    n, c, h, w = shape
    top, bottom, left, right = pads
    out = np.zeros((n, c, h + top + bottom, w + left + right), dtype)
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            values = tap(a, b)
            oh, ow = values.shape[2:]
            rows = slice(a * dilation[0], a * dilation[0] + stride[0] * (oh - 1) + 1, stride[0])
            cols = slice(b * dilation[1], b * dilation[1] + stride[1] * (ow - 1) + 1, stride[1])
            out[:, :, rows, cols] += values
    return np.ascontiguousarray(out[:, :, top : top + h, left : left + w])


# --- conv2d's transposes -------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConvGrad(Op):
    """Base of conv2d's gradients: the attributes of the ``Conv2D`` they differentiate."""

    abstract = True
    stride: Pair = (1, 1)
    padding: tuple[int, int, int, int] | str = (0, 0, 0, 0)
    dilation: Pair = (1, 1)

    @property
    def conv(self) -> Conv2D:
        return Conv2D(self.stride, self.padding, self.dilation)

    def check_types(self, x: TensorType, w: TensorType, gy: TensorType) -> None:
        _check_images(self, x, w, gy)
        (y,) = self.conv.infer(x, w)
        _check_matches(self, gy, y, f"conv2d({format_shape(x.shape)}, {format_shape(w.shape)})")

    def check_run(self, x_shape: tuple, w_shape: tuple, gy_shape: tuple) -> tuple:
        """The resolved pads, after checking that ``gy_shape`` is conv2d's output shape."""
        if x_shape[1] != w_shape[1]:
            raise ValueError(
                f"input {x_shape} has {x_shape[1]} channels, weights {w_shape} expect {w_shape[1]}"
            )
        if 0 in tuple(w_shape[2:]):
            # the output-size rule below holds only for kh, kw >= 1: an empty kernel gives a gy one
            # pixel wider than the image, which the input gradient turned into zeros without a word
            raise ValueError(
                f"the kernel {tuple(w_shape[2:])} of weights {w_shape} is empty: kh and kw must be >= 1"
            )
        pads = self.conv.pads(x_shape, w_shape)
        hw = (
            _out_size(
                x_shape[2 + i], w_shape[2 + i], self.stride[i], self.dilation[i], pads[2 * i : 2 * i + 2]
            )
            for i in (0, 1)
        )
        _check_run(
            self, f"conv2d of {x_shape} and weights {w_shape}", gy_shape, (x_shape[0], w_shape[0], *hw)
        )
        return pads


@dataclass(frozen=True)
class Conv2DBackpropInput(_ConvGrad):
    """gx[n,c,r,s] = sum of gy[n,o,i,j] * w[o,c,a,b] over (o, i, j, a, b) with r = i*sh + a*dh - top and
    s = j*sw + b*dw - left: the transposed convolution, conv2d's gradient w.r.t. its input.

    Inputs (gy, w, like): ``like`` is conv2d's input x, read only for its shape, so that gx has x's exact
    H and W even where the stride skipped the last rows (they get 0).
    """

    default_name: ClassVar[str] = "conv2d_backprop_input"

    def infer(self, gy: TensorType, w: TensorType, like: TensorType) -> tuple[TensorType]:
        self.check_types(like, w, gy)
        return (TensorType(_merge(like.shape, (gy.shape[0], w.shape[1], None, None)), gy.dtype),)

    def reference(self, gy, w, like):
        pads = self.check_run(like.shape, w.shape, gy.shape)

        def tap(a, b):  # output (i, j) read input channel c at tap (a, b) with weight w[o, c, a, b]
            return np.einsum("noij,oc->ncij", gy, w[:, :, a, b])

        shape = (gy.shape[0], w.shape[1], *like.shape[2:])
        return _scatter_taps(shape, pads, w.shape[2:], self.stride, self.dilation, tap, gy.dtype)

    def vjp(self, node, c):
        gy, w, _ = node.inputs
        # bilinear in (gy, w): <c, gx(gy, w)> = <conv2d(c, w), gy> = <backprop_filter(c, gy), w>
        return (
            apply_as(Conv2D, self, c, w, name="conv2d"),
            apply_as(Conv2DBackpropFilter, self, c, gy, w),
            None,
        )


@dataclass(frozen=True)
class Conv2DBackpropFilter(_ConvGrad):
    """gw[o,c,a,b] = sum of gy[n,o,i,j] * xp[n, c, i*sh + a*dh, j*sw + b*dw] over (n, i, j), xp = x
    zero-padded: conv2d's gradient w.r.t. its weights.

    Inputs (x, gy, like): ``like`` is conv2d's weights w, read only for its shape (kh, kw).
    """

    default_name: ClassVar[str] = "conv2d_backprop_filter"

    def infer(self, x: TensorType, gy: TensorType, like: TensorType) -> tuple[TensorType]:
        self.check_types(x, like, gy)
        return (TensorType(_merge(like.shape, (gy.shape[1], x.shape[1], None, None)), gy.dtype),)

    def reference(self, x, gy, like):
        pads = self.check_run(x.shape, like.shape, gy.shape)
        win = _windows(x, pads, 0, like.shape[2:], self.stride, self.dilation)  # (N, C, OH, OW, kh, kw)
        return np.ascontiguousarray(np.tensordot(gy, win, axes=([0, 2, 3], [0, 2, 3])))

    def vjp(self, node, c):
        x, gy, w = node.inputs
        # bilinear in (x, gy): <c, gw(x, gy)> = <backprop_input(gy, c), x> = <conv2d(x, c), gy>
        return (
            apply_as(Conv2DBackpropInput, self, gy, c, x),
            apply_as(Conv2D, self, x, c, name="conv2d"),
            None,
        )


# --- pooling gradients ---------------------------------------------------------------------------


def _pool_pads(op: _Pool2D) -> tuple:
    ph, pw = op.padding
    return ph, ph, pw, pw


def _pool_out(op: _Pool2D, x_shape: tuple) -> tuple:
    """The pooling output shape for a concrete input shape (sizes <= 0 when the kernel does not fit)."""
    hw = (_out_size(x_shape[2 + i], op.kernel[i], op.stride[i], 1, (op.padding[i],) * 2) for i in (0, 1))
    return (*x_shape[:2], *hw)


def _argmax_taps(op: _Pool2D, x: np.ndarray) -> np.ndarray:
    """(N, C, OH, OW) int: the tap a*kw + b of each window's max, the first in row-major order among
    the window's in-bounds taps (PyTorch's choice on ties); in a window with NaNs, its last NaN
    (PyTorch's loop ``if (val > max || isnan(val))`` keeps moving to the next NaN)."""
    k = op.kernel[0] * op.kernel[1]
    win = op.windows(x, -np.inf)
    inside = op.windows(np.ones(x.shape, bool), False)  # an all -inf window still picks a real pixel
    hit = (win == win.max(axis=(-2, -1), keepdims=True)) & inside
    first_max = hit.reshape(*hit.shape[:4], k).argmax(axis=-1)
    nan = np.isnan(win).reshape(*win.shape[:4], k)
    return np.where(nan.any(axis=-1), k - 1 - nan[..., ::-1].argmax(axis=-1), first_max)


@dataclass(frozen=True)
class AvgPool2DGrad(_Pool2D):
    """gx[n,c,r,s] = sum of gy[n,c,i,j] / (kh*kw) over the windows (i, j) that hold pixel (r, s).

    The adjoint of AvgPool2D (padded taps count: count_include_pad=True). Inputs (gy, like): ``like``
    is avg_pool2d's input x, read only for its shape.
    """

    default_name: ClassVar[str] = "avg_pool2d_grad"

    def infer(self, gy: TensorType, like: TensorType) -> tuple[TensorType]:
        _check_images(self, gy, like)
        (y,) = AvgPool2D(**self.attrs()).infer(like)
        _check_matches(self, gy, y, f"avg_pool2d({format_shape(like.shape)})")
        return (TensorType(_merge(gy.shape[:2] + (None, None), like.shape), gy.dtype),)

    def reference(self, gy, like):
        _check_run(self, f"avg_pool2d of {like.shape}", gy.shape, _pool_out(self, like.shape))
        share = gy / gy.dtype.type(self.kernel[0] * self.kernel[1])
        shape = (*gy.shape[:2], *like.shape[2:])
        # float32 shares add up in float64 (dtypes.sum_dtype), as the forward's window sums: a pixel
        # under 4096 overlapping windows (64x64, stride 1) was 3.9e-5 off in a running float32 sum
        acc = dtypes.sum_dtype(gy.dtype, gy.dtype)
        pads = _pool_pads(self)
        out = _scatter_taps(shape, pads, self.kernel, self.stride, (1, 1), lambda a, b: share, acc)
        return out.astype(gy.dtype, copy=False)

    def vjp(self, node, c):
        return apply_as(AvgPool2D, self, c, name="avg_pool2d"), None


@dataclass(frozen=True)
class MaxPool2DGrad(_Pool2D):
    """gx[n,c,r,s] = sum of gy[n,c,i,j] over the windows (i, j) whose max is pixel (r, s).

    Each window's gradient goes to ONE pixel, its first max in row-major window order (as PyTorch: on
    ties the others get 0); overlapping windows add up. Inputs (x, gy).
    """

    default_name: ClassVar[str] = "max_pool2d_grad"

    def infer(self, x: TensorType, gy: TensorType) -> tuple[TensorType]:
        _check_images(self, x, gy)
        (y,) = MaxPool2D(**self.attrs()).infer(x)
        _check_matches(self, gy, y, f"max_pool2d({format_shape(x.shape)})")
        return (TensorType(_merge(x.shape, gy.shape[:2] + (None, None)), gy.dtype),)

    def reference(self, x, gy):
        _check_run(self, f"max_pool2d of {x.shape}", gy.shape, _pool_out(self, x.shape))
        best, kw, zero = _argmax_taps(self, x), self.kernel[1], gy.dtype.type(0)

        def tap(a, b):
            return np.where(best == a * kw + b, gy, zero)

        return _scatter_taps(x.shape, _pool_pads(self), self.kernel, self.stride, (1, 1), tap, gy.dtype)

    def vjp(self, node, c):
        x, _ = node.inputs
        # linear in gy; in x piecewise constant (the argmax only moves at ties): zero almost everywhere
        return zeros_like(x), apply_as(MaxPool2DGather, self, x, c)


@dataclass(frozen=True)
class MaxPool2DGather(_Pool2D):
    """y[n,c,i,j] = g[n,c,r,s], (r, s) the max of window (i, j) of x (chosen as MaxPool2DGrad does).

    The adjoint of MaxPool2DGrad in its gradient input. Inputs (x, g), g of x's shape.
    """

    default_name: ClassVar[str] = "max_pool2d_gather"

    def infer(self, x: TensorType, g: TensorType) -> tuple[TensorType]:
        _check_images(self, x, g)
        _check_matches(self, g, x, "the pooled input")
        (y,) = MaxPool2D(**self.attrs()).infer(x)
        return (TensorType(_merge(y.shape, g.shape[:2] + (None, None)), g.dtype),)

    def reference(self, x, g):
        _check_run(self, "the pooled input", g.shape, x.shape)
        win = self.windows(g, 0)
        flat = win.reshape(*win.shape[:4], self.kernel[0] * self.kernel[1])
        return np.take_along_axis(flat, _argmax_taps(self, x)[..., None], axis=-1)[..., 0]

    def vjp(self, node, c):
        x, _ = node.inputs
        return zeros_like(x), apply_as(MaxPool2DGrad, self, x, c)  # zero in x, as MaxPool2DGrad


# --- user functions ------------------------------------------------------------------------------


def _conv_grad(cls, inputs: list, x: Tensor, w: Tensor, stride, padding, dilation, name):
    stride = _pair(stride, f"{cls.default_name} stride", 1)
    dilation = _pair(dilation, f"{cls.default_name} dilation", 1)
    padding = _conv_padding(padding, x, w, stride, dilation)
    return apply(cls(stride, padding, dilation), inputs, name)


def conv2d_backprop_input(gy, w, x, stride=1, padding=0, dilation=1, name: str | None = None) -> Tensor:
    """The gradient of ``conv2d(x, w, stride, padding, dilation)`` w.r.t. ``x`` for the output gradient
    ``gy``: a transposed convolution. ``x`` is read only for its shape (the result is x's shape).

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> from graphc.ops.conv_grad import conv2d_backprop_input
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gy, w, x = np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), np.zeros((1, 1, 4, 5))
        ...     gx = conv2d_backprop_input(gy, w, x, stride=2)  # x's last column is never read
        ...     with gc.Session() as sess:
        ...         sess.run(gx)[0, 0]
        array([[1., 1., 1., 1., 0.],
               [1., 1., 1., 1., 0.],
               [1., 1., 1., 1., 0.],
               [1., 1., 1., 1., 0.]])
    """
    graph = graph_of(gy, w, x)
    gy, w, x = (as_tensor(t, graph=graph) for t in (gy, w, x))
    return _conv_grad(Conv2DBackpropInput, [gy, w, x], x, w, stride, padding, dilation, name)


def conv2d_backprop_filter(x, gy, w, stride=1, padding=0, dilation=1, name: str | None = None) -> Tensor:
    """The gradient of ``conv2d(x, w, stride, padding, dilation)`` w.r.t. ``w`` for the output gradient
    ``gy``. ``w`` is read only for its shape (the result is w's shape).

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x, gy, w = np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))
        ...     gw = gc.conv2d_backprop_filter(x, gy, w)  # w's values are not read
        ...     with gc.Session() as sess:
        ...         sess.run(gw)[0, 0]  # each tap: the sum of the 2x2 pixels it read
        array([[ 8., 12.],
               [20., 24.]])
    """
    graph = graph_of(x, gy, w)
    x, gy, w = (as_tensor(t, graph=graph) for t in (x, gy, w))
    return _conv_grad(Conv2DBackpropFilter, [x, gy, w], x, w, stride, padding, dilation, name)


def _pool_grad(cls, inputs: list, kernel, stride, padding, name):
    kernel = _pair(kernel, f"{cls.default_name} kernel", 1)
    stride = kernel if stride is None else _pair(stride, f"{cls.default_name} stride", 1)
    padding = _pair(padding, f"{cls.default_name} padding", 0)
    graph = graph_of(*inputs)
    return apply(cls(kernel, stride, padding), [as_tensor(t, graph=graph) for t in inputs], name)


def avg_pool2d_grad(gy, x, kernel, stride=None, padding=0, name: str | None = None) -> Tensor:
    """The gradient of ``avg_pool2d(x, kernel, stride, padding)`` w.r.t. ``x`` for the output gradient
    ``gy``: each window's gradient spread evenly over its kh*kw taps. ``x`` is read only for its shape.

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     gx = gc.avg_pool2d_grad(np.full((1, 1, 1, 1), 4.0), np.zeros((1, 1, 3, 3)), 2)
        ...     with gc.Session() as sess:
        ...         sess.run(gx)[0, 0]  # the last row and column are in no window: 0
        array([[1., 1., 0.],
               [1., 1., 0.],
               [0., 0., 0.]])
    """
    return _pool_grad(AvgPool2DGrad, [gy, x], kernel, stride, padding, name)


def max_pool2d_grad(x, gy, kernel, stride=None, padding=0, name: str | None = None) -> Tensor:
    """The gradient of ``max_pool2d(x, kernel, stride, padding)`` w.r.t. ``x`` for the output gradient
    ``gy``: each window's gradient goes to its first max in row-major order (PyTorch's choice on ties).

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
        ...     gx = gc.max_pool2d_grad(x, np.array([[[[10.0, 20.0]]]]), 2)
        ...     with gc.Session() as sess:
        ...         sess.run(gx)[0, 0]  # ties: the first max of each window takes it all
        array([[ 0., 10., 20.,  0.],
               [ 0.,  0.,  0.,  0.]])
    """
    return _pool_grad(MaxPool2DGrad, [x, gy], kernel, stride, padding, name)


def max_pool2d_gather(x, g, kernel, stride=None, padding=0, name: str | None = None) -> Tensor:
    """``g`` (shaped like ``x``) read at the max of each ``max_pool2d`` window of ``x``: the adjoint of
    ``max_pool2d_grad`` in its gradient input.

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
        ...     picked = gc.max_pool2d_gather(x, np.arange(8.0).reshape(1, 1, 2, 4), 2)
        ...     with gc.Session() as sess:
        ...         sess.run(picked)[0, 0]  # g at (0, 1) and (0, 2): each window's first max
        array([[1., 2.]])
    """
    return _pool_grad(MaxPool2DGather, [x, g], kernel, stride, padding, name)


__all__ = [
    "avg_pool2d_grad",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "max_pool2d_gather",
    "max_pool2d_grad",
]
