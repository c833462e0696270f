"""2-D convolution and pooling over NCHW images: ``conv2d``, ``max_pool2d`` and ``avg_pool2d``.

Layouts follow PyTorch: images are (N, C, H, W) and convolution weights (C_out, C_in, kh, kw); the
convolution is a cross-correlation (the kernel is not flipped), as in PyTorch and TF. Only float
tensors are accepted. The references are numpy "im2col": a strided window view of the padded input
contracted with the weights by ``tensordot``, readable and fast enough for an oracle. This module is
the define layer; devices register their own kernels per op type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc.ir import dtypes
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.graph import Tensor
from graphc.ir.op import Op
from graphc.ir.types import TensorType, format_shape
from graphc.ops.core import apply, as_tensor, graph_of

Pair = tuple[int, int]


def _check_images(op: Op, *types: TensorType) -> None:
    for t in types:
        if t.ndim != 4:
            raise ShapeError(f"{op.type_name} expects rank-4 (N, C, H, W) tensors, got {t}")
        if not dtypes.is_float(t.dtype):
            raise DTypeError(f"{op.type_name} takes float tensors, got {t}; cast it first")
    if len({t.dtype for t in types}) > 1:
        raise DTypeError(
            f"{op.type_name} inputs must have the same dtype, got {' and '.join(map(str, types))}"
        )


def _check_ints(op: Op, what: str, values, count: int, low: int) -> None:
    """``count`` ints >= ``low``. The user functions check their arguments (``_pair``), but an op made
    from a loaded file is built from its attributes alone, and a zero stride divided by zero here,
    while a negative pad, a zero dilation or an empty pooling kernel gave shapes that the reference
    refused at run time and the CPU kernels computed anyway."""
    ok = isinstance(values, tuple) and len(values) == count
    if not (
        ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in values)
    ):
        raise ShapeError(f"{op.type_name} {what} must be {count} ints >= {low}, got {values!r}")


def _out_size(size: int | None, k: int | None, stride: int, dilation: int, pads: Pair) -> int | None:
    """floor((size + pads - dilation*(k-1) - 1) / stride) + 1, or None when size or k is unknown."""
    if size is None or k is None:
        return None
    return (size + pads[0] + pads[1] - dilation * (k - 1) - 1) // stride + 1


def _same_pads(size: int, k: int, stride: int, dilation: int) -> Pair:
    """TF's "same" padding: output ceil(size / stride); an odd total puts the extra pixel at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _resolve_same(x_shape: tuple, w_shape: tuple, stride: Pair, dilation: Pair) -> tuple:
    """The (top, bottom, left, right) pads of "same" padding for NCHW ``x_shape`` and OIHW ``w_shape``."""
    top, bottom = _same_pads(x_shape[2], w_shape[2], stride[0], dilation[0])
    left, right = _same_pads(x_shape[3], w_shape[3], stride[1], dilation[1])
    return top, bottom, left, right


def _windows(x: np.ndarray, pads: tuple, fill: float, kernel: Pair, stride: Pair, dilation: Pair):
    """(N, C, OH, OW, kh, kw) view: the dilated kernel windows of the padded ``x`` at each output."""
    top, bottom, left, right = pads
    if 0 in tuple(kernel):
        # an empty window would slide one step past the image (an output of W + 1 zeros at dilation 1)
        raise ValueError(f"the kernel {tuple(kernel)} is empty: kh and kw must be >= 1")
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if x.shape[2] < span[0] or x.shape[3] < span[1]:
        # plain ValueError: the interpreter reports it as a RunError naming the node
        raise ValueError(f"padded input {x.shape[2:]} is smaller than the (dilated) kernel {span}")
    win = sliding_window_view(x, span, axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]


@dataclass(frozen=True)
class Conv2D(Op):
    """y[n,o,i,j] = sum_{c,a,b} xp[n, c, i*sh + a*dh, j*sw + b*dw] * w[o, c, a, b], xp = x zero-padded.

    NCHW input, (C_out, C_in, kh, kw) weights, same float dtype. ``padding`` is (top, bottom, left,
    right) or ``"same"`` when the spatial sizes are not known at build time: the pads are then resolved
    from the run-time size (output ceil(H / sh), extra pixel at the bottom/right, as TF).
    Output (N, C_out, OH, OW), OH = floor((H + top + bottom - dh*(kh-1) - 1) / sh) + 1.
    """

    stride: Pair = (1, 1)
    padding: tuple[int, int, int, int] | str = (0, 0, 0, 0)
    dilation: Pair = (1, 1)

    def infer(self, x: TensorType, w: TensorType) -> tuple[TensorType]:
        _check_ints(self, "stride", self.stride, 2, 1)
        _check_ints(self, "dilation", self.dilation, 2, 1)
        if self.padding != "same":
            _check_ints(self, "padding", self.padding, 4, 0)
        _check_images(self, x, w)
        n, c, h, wd = x.shape
        c_out, c_in, kh, kw = w.shape
        if c is not None and c_in is not None and c != c_in:
            raise ShapeError(
                f"input has {c} channels but the weights expect {c_in}: input {format_shape(x.shape)} "
                f"(N, C, H, W), weights {format_shape(w.shape)} (C_out, C_in, kh, kw)"
            )
        out = []
        for i, (size, k) in enumerate(((h, kh), (wd, kw))):
            if k == 0:
                raise ShapeError(
                    f"the weights {format_shape(w.shape)} (C_out, C_in, kh, kw) have an empty kernel: "
                    f"size 0 along {'HW'[i]}, where kh and kw must be >= 1"
                )
            if self.padding == "same":
                o = None if size is None else -(-size // self.stride[i])
            else:
                pads = self.padding[2 * i : 2 * i + 2]
                o = _out_size(size, k, self.stride[i], self.dilation[i], pads)
            if o is not None and o <= 0:
                raise ShapeError(
                    f"output size {o} along {'HW'[i]} for input {format_shape(x.shape)}, weights "
                    f"{format_shape(w.shape)}, stride {self.stride}, padding {self.padding!r}, "
                    f"dilation {self.dilation}"
                )
            out.append(o)
        return (TensorType((n, c_out, *out), x.dtype),)

    def reference(self, x, w):
        if x.shape[1] != w.shape[1]:
            raise ValueError(
                f"input {x.shape} has {x.shape[1]} channels, weights {w.shape} expect {w.shape[1]}"
            )
        win = _windows(x, self.pads(x.shape, w.shape), 0, w.shape[2:], self.stride, self.dilation)
        y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, C_out)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))

    def pads(self, x_shape: tuple, w_shape: tuple) -> tuple:
        """The (top, bottom, left, right) pads for concrete input and weight shapes ("same" resolved)."""
        if self.padding == "same":
            return _resolve_same(x_shape, w_shape, self.stride, self.dilation)
        return self.padding

    def vjp(self, node, gy):
        from graphc.ops.conv_grad import Conv2DBackpropFilter, Conv2DBackpropInput, apply_as

        x, w = node.inputs
        # x and w are passed on for their run-time shapes ("same" pads, the exact H and W of dx)
        return apply_as(Conv2DBackpropInput, self, gy, w, x), apply_as(Conv2DBackpropFilter, self, x, gy, w)


@dataclass(frozen=True)
class _Pool2D(Op):
    """Base of 2-D pooling: a kernel window slid with ``stride`` over the input padded by ``padding``."""

    abstract = True
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)

    def infer(self, x: TensorType) -> tuple[TensorType]:
        _check_ints(self, "kernel", self.kernel, 2, 1)
        _check_ints(self, "stride", self.stride, 2, 1)
        _check_ints(self, "padding", self.padding, 2, 0)
        _check_images(self, x)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel, strict=True)):
            raise ShapeError(f"padding {self.padding} is more than half of the kernel {self.kernel}")
        n, c, h, w = x.shape
        out = []
        for i, size in enumerate((h, w)):
            p = self.padding[i]
            o = _out_size(size, self.kernel[i], self.stride[i], 1, (p, p))
            if o is not None and o <= 0:
                raise ShapeError(
                    f"output size {o} along {'HW'[i]} for input {format_shape(x.shape)}, kernel "
                    f"{self.kernel}, stride {self.stride}, padding {self.padding}"
                )
            out.append(o)
        return (TensorType((n, c, *out), x.dtype),)

    def windows(self, x: np.ndarray, fill: float) -> np.ndarray:
        ph, pw = self.padding
        return _windows(x, (ph, ph, pw, pw), fill, self.kernel, self.stride, (1, 1))


@dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """y[n,c,i,j] = max_{a<kh, b<kw} xp[n, c, i*sh + a, j*sw + b], xp = x padded with -inf.

    Output floor((H + 2*ph - kh) / sh) + 1 rows (PyTorch, ceil_mode=False); NaN propagates.
    """

    def reference(self, x):
        return self.windows(x, -np.inf).max(axis=(-2, -1))

    def vjp(self, node, gy):
        from graphc.ops.conv_grad import MaxPool2DGrad, apply_as

        # each window's gradient goes to one element: its first max in row-major order (PyTorch)
        return (apply_as(MaxPool2DGrad, self, node.inputs[0], gy),)


@dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """y[n,c,i,j] = sum_{a<kh, b<kw} xp[n, c, i*sh + a, j*sw + b] / (kh*kw), xp = x zero-padded.

    Padded zeros count in the average (PyTorch's count_include_pad=True). Output size as MaxPool2D.
    """

    def reference(self, x):
        # float32 windows add in float64 (dtypes.sum_dtype), as the CPU loops add windows of more than
        # 64 taps: numpy's float32 mean adds the window's rows in a running float32 sum, 3.9e-5 off for
        # a 4096 x 1 window of 0.1 (8e-5 at 9000 x 1)
        acc = dtypes.sum_dtype(x.dtype, x.dtype)
        return self.windows(x, 0).mean(axis=(-2, -1), dtype=acc).astype(x.dtype, copy=False)

    def vjp(self, node, gy):
        from graphc.ops.conv_grad import AvgPool2DGrad, apply_as

        return (apply_as(AvgPool2DGrad, self, gy, node.inputs[0]),)


# --- user functions ------------------------------------------------------------------------------


def _pair(value, what: str, low: int) -> Pair:
    """An int or a pair of ints, each >= ``low``, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2
    ok = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in pair)
    if not ok:
        raise ValueError(f"{what} must be an int >= {low} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _conv_padding(padding, x: Tensor, w: Tensor, stride: Pair, dilation: Pair):
    """The Conv2D padding attribute: (top, bottom, left, right), or "same" while H or W is unknown."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode != "same":
            raise ValueError(f"conv2d padding must be 'same', 'valid', an int or a pair, got {padding!r}")
        if x.ndim != 4 or w.ndim != 4 or None in (*x.shape[2:], *w.shape[2:]):
            return "same"  # resolved from the run-time shapes (Conv2D.reference)
        return _resolve_same(x.shape, w.shape, stride, dilation)
    ph, pw = _pair(padding, "conv2d padding", 0)
    return (ph, ph, pw, pw)


def conv2d(x, w, stride=1, padding=0, dilation=1, name: str | None = None) -> Tensor:
    """2-D convolution (cross-correlation) of NCHW images ``x`` with (C_out, C_in, kh, kw) weights ``w``.

    Args:
        x: a float tensor (N, C_in, H, W); N, H and W may be unknown (None).
        w: weights (C_out, C_in, kh, kw) of ``x``'s dtype.
        stride: an int or (sh, sw).
        padding: an int or (ph, pw) of zeros on both sides, ``"valid"`` (no padding) or ``"same"``
            (output size ceil(H / sh); an odd total pad puts the extra pixel at the bottom/right, as TF).
            "same" pads are resolved when the node is built if H, W, kh and kw are known; otherwise the
            op keeps ``padding="same"`` and resolves them from each run's shapes.
        dilation: an int or (dh, dw): the spacing between kernel taps.
        name: the node name.

    Returns:
        A tensor (N, C_out, OH, OW), OH = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1.

    Raises:
        ShapeError: ranks are not 4, the channel counts differ, or an output size would be <= 0.
        DTypeError: ``x`` and ``w`` are not floats of the same dtype.

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     x = gc.placeholder("float32", (None, 1, 3, 3), name="x")
        ...     y = gc.conv2d(x, np.ones((1, 1, 2, 2), np.float32), padding="same")
        ...     with gc.Session() as sess:
        ...         sess.run(y, {x: np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)})[0, 0]
        array([[ 8., 12.,  7.],
               [20., 24., 13.],
               [13., 15.,  8.]], dtype=float32)
    """
    graph = graph_of(x, w)
    x, w = as_tensor(x, graph=graph), as_tensor(w, graph=graph)
    stride = _pair(stride, "conv2d stride", 1)
    dilation = _pair(dilation, "conv2d dilation", 1)
    padding = _conv_padding(padding, x, w, stride, dilation)
    return apply(Conv2D(stride, padding, dilation), [x, w], name or "conv2d")


def _pool(cls, fname: str, x, kernel, stride, padding, name):
    kernel = _pair(kernel, f"{fname} kernel", 1)
    stride = kernel if stride is None else _pair(stride, f"{fname} stride", 1)
    padding = _pair(padding, f"{fname} padding", 0)
    return apply(cls(kernel, stride, padding), [as_tensor(x)], name or fname)


def max_pool2d(x, kernel, stride=None, padding=0, name: str | None = None) -> Tensor:
    """The maximum over each (kh, kw) window of NCHW images ``x``, as PyTorch's ``max_pool2d``.

    Args:
        x: a float tensor (N, C, H, W); N, C, H and W may be unknown (None).
        kernel: an int or (kh, kw).
        stride: an int or (sh, sw); defaults to ``kernel`` (non-overlapping windows).
        padding: an int or (ph, pw) of -inf on both sides; at most half the kernel.
        name: the node name.

    Returns:
        A tensor (N, C, OH, OW), OH = floor((H + 2*ph - kh) / sh) + 1.

    Raises:
        ShapeError: the rank is not 4, padding exceeds half the kernel, or an output size is <= 0.

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.max_pool2d(gc.constant(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
        ...     with gc.Session() as sess:
        ...         sess.run(y)[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """
    return _pool(MaxPool2D, "max_pool2d", x, kernel, stride, padding, name)


def avg_pool2d(x, kernel, stride=None, padding=0, name: str | None = None) -> Tensor:
    """The mean over each (kh, kw) window of NCHW images ``x``, as PyTorch's ``avg_pool2d``.

    Padded zeros count in the mean (PyTorch's default ``count_include_pad=True``).

    Args:
        x: a float tensor (N, C, H, W); N, C, H and W may be unknown (None).
        kernel: an int or (kh, kw).
        stride: an int or (sh, sw); defaults to ``kernel`` (non-overlapping windows).
        padding: an int or (ph, pw) of zeros on both sides; at most half the kernel.
        name: the node name.

    Returns:
        A tensor (N, C, OH, OW), OH = floor((H + 2*ph - kh) / sh) + 1.

    Raises:
        ShapeError: the rank is not 4, padding exceeds half the kernel, or an output size is <= 0.

    Example:
        >>> import graphc as gc
        >>> import numpy as np
        >>> g = gc.Graph()
        >>> with g.as_default():
        ...     y = gc.avg_pool2d(gc.constant(np.ones((1, 1, 2, 2), np.float32)), 2, padding=1)
        ...     with gc.Session() as sess:
        ...         sess.run(y)[0, 0]
        array([[0.25, 0.25],
               [0.25, 0.25]], dtype=float32)
    """
    return _pool(AvgPool2D, "avg_pool2d", x, kernel, stride, padding, name)


__all__ = ["avg_pool2d", "conv2d", "max_pool2d"]
