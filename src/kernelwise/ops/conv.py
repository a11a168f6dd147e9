"""Convolutions, transposed convolutions, unfold and fold: one N-d implementation.

Legend: N batch, C input channels, O output channels (filters), G groups, Cg = C/G and
Og = O/G channels per group, k kernel size (kh, kw), s stride, d dilation, P padding,
L number of output positions (oh·ow), K = Cg·kh·kw values in one window.

Like PyTorch, "convolution" here is cross-correlation (the recitation's convolution):

    O[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, c, y·s + i·d, x·s + j·d] · W[o, c, i, j]

computed as a window view of the padded input and one batched matmul over the groups,
``[N·L, K] [K, Og] -> [N·L, Og]``. Its backward is the recitation's two results:

    dL/dW = X ⋆ dL/dO                        (correlation of the input with the output gradient)
    dL/dX = full convolution of rot180(W) with dL/dO
            (dL/dO zero-inserted for stride s, W dilated for dilation d)
    dL/db = Σ dL/dO over batch and positions

The transposed convolution is the adjoint: its forward is that dL/dX computation and its
backward the forward convolution. ``unfold`` (im2col) and ``fold`` are each other's backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor
from .fastconv import (
    ConvCase,
    check_method,
    choose_method,
    conv_backward,
    conv_forward,
    exact_if_non_finite,
    grad_needs_exact,
)
from .gemm import matmul
from .geometry import (
    ConvGeometry,
    Pairs,
    check_output_padding,
    conv_output_size,
    crop,
    ntuple,
    pad,
    padding_pairs,
    transposed_output_size,
)
from .windows import col2im, tap_boxes, windows

__all__ = [
    "ConvNd",
    "ConvTransposeNd",
    "Fold",
    "Unfold",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "fold",
    "unfold",
]


# --------------------------------------------------------------------------- the math, on arrays
def _reached(x_pad: np.ndarray, out: tuple[int, ...], geometry: ConvGeometry) -> np.ndarray:
    """The part of a padded input that ``out`` windows reach: (out - 1)·s + d(k - 1) + 1 rows (a view)."""
    reach = tuple((o - 1) * s + sp for o, s, sp in zip(out, geometry.stride, geometry.spans))
    return x_pad[(Ellipsis, *(slice(0, r) for r in reach))]


def _im2col(
    x_pad: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], groups: int
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every window of the padded input as the rows of one matrix per group.

    Shape: (N, C, *spatial) -> (G, N·L, K), and the output positions ``out`` (oh, ow).
    """
    nd = len(kernel)
    N, C = x_pad.shape[:2]
    cols = windows(x_pad, kernel, stride, dilation)  # (N, C, *out, *k): a view, no copy
    out = cols.shape[2 : 2 + nd]
    cols = cols.reshape(N, groups, C // groups, *out, *kernel)  # (N, G, Cg, *out, *k)
    axes_out, axes_k = range(3, 3 + nd), range(3 + nd, 3 + 2 * nd)
    cols = cols.transpose(1, 0, *axes_out, 2, *axes_k)  # (G, N, *out, Cg, *k)
    L, K = math.prod(out), C // groups * math.prod(kernel)
    return cols.reshape(groups, N * L, K), out  # (G, N·L, K): the one copy (im2col)


def _correlate(
    x_pad: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int
) -> np.ndarray:
    """O[n, o, y] = Σ_c Σ_i X[n, c, y·s + i·d] · W[o, c, i] on an already padded X (no bias).

    Shape: X (N, C, *spatial), W (O, Cg, *k) -> (N, O, *out).
    """
    N, O, nd = x_pad.shape[0], w.shape[0], w.ndim - 2
    cols, out = _im2col(x_pad, w.shape[2:], stride, dilation, groups)  # (G, N·L, K)
    w_mat = w.reshape(groups, O // groups, -1).transpose(0, 2, 1)  # (G, K, Og)
    y = matmul(cols, w_mat)  # (G, N·L, K) @ (G, K, Og) -> (G, N·L, Og): one matmul per group, batched
    y = y.reshape(groups, N, *out, O // groups)  # (G, N, *out, Og)
    y = y.transpose(1, 0, 1 + nd + 1, *range(2, 2 + nd))  # (N, G, Og, *out)
    return np.ascontiguousarray(y.reshape(N, O, *out))  # (N, O, *out)


def _conv_grad_weight(x_pad: np.ndarray, grad_out: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dW[o, c, i] = Σ_n Σ_y dL/dO[n, o, y] · X[n, c, y·s + i·d]: X ⋆ dL/dO as a matmul over the windows.

    Shape: X (N, C, *spatial) padded, dL/dO (N, O, *out) -> (O, Cg, *k).
    """
    N, O, nd, kernel = grad_out.shape[0], grad_out.shape[1], geometry.nd, geometry.kernel
    out = grad_out.shape[2:]
    x_used = _reached(x_pad, out, geometry)  # without trailing rows no window reached
    cols, _ = _im2col(x_used, kernel, geometry.stride, geometry.dilation, groups)  # (G, N·L, K)
    grad_mat = grad_out.reshape(N, groups, O // groups, *out)  # (N, G, Og, *out)
    grad_mat = grad_mat.transpose(1, 2, 0, *range(3, 3 + nd)).reshape(groups, O // groups, -1)  # (G, Og, N·L)
    grad_w = matmul(grad_mat, cols)  # dL/dW = X ⋆ dL/dO: (G, Og, N·L) @ (G, N·L, K) -> (G, Og, K)
    return grad_w.reshape(O, -1, *kernel)  # (O, Cg, *k)


def _zero_insert(grad_out: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """Upsample by the stride: put s - 1 zeros between neighbouring values of each spatial dimension.

    Shape: (N, C, *out) -> (N, C, *((out - 1)·s + 1)).
    """
    if all(s == 1 for s in stride):
        return grad_out
    size = tuple((n - 1) * s + 1 for n, s in zip(grad_out.shape[2:], stride))
    up = np.zeros(grad_out.shape[:2] + size, dtype=grad_out.dtype)
    up[(Ellipsis, *(slice(None, None, s) for s in stride))] = grad_out
    return up


def _conv_grad_input(grad_out: np.ndarray, w: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dX = full convolution of the 180°-rotated W with dL/dO, cropped to the unpadded X.

    The forward correlation routine, reused: dL/dO is zero-inserted for the stride, padded by
    d(k-1) on each side (a full convolution), and correlated with rot180(W), whose in and out
    channels are swapped, at dilation d. Rows of X the floor of the output size dropped were
    in no window: they get zero gradient.

    Shape: dL/dO (N, O, *out), W (O, Cg, *k) -> (N, C, *geometry.size).
    """
    O, Cg, kernel, nd = w.shape[0], w.shape[1], geometry.kernel, geometry.nd
    up = _zero_insert(grad_out, geometry.stride)  # stride s: s - 1 zeros between the rows of dL/dO
    full = padding_pairs("full", kernel, geometry.stride, geometry.dilation)  # d(k-1) on each side
    w_rot = w[(Ellipsis, *[slice(None, None, -1)] * nd)]  # rot180(W): every spatial axis reversed
    w_rot = w_rot.reshape(groups, O // groups, Cg, *kernel).swapaxes(1, 2)  # (G, Cg, Og, *k): in <-> out
    w_rot = w_rot.reshape(groups * Cg, O // groups, *kernel)  # (C, Og, *k)
    grad_x_pad = _correlate(pad(up, full), w_rot, (1,) * nd, geometry.dilation, groups)  # full conv of rot180(W)
    dropped = tuple((0, p - n) for p, n in zip(geometry.padded, grad_x_pad.shape[2:]))
    grad_x_pad = pad(grad_x_pad, dropped)  # trailing rows the floor dropped: zero gradient
    return crop(grad_x_pad, geometry.padding)  # (N, C, *spatial)


def _unfold(x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """im2col: every window as a column. Shape: (N, C, *geometry.size) -> (N, C·kh·kw, L)."""
    N, C, nd, kernel = x.shape[0], x.shape[1], geometry.nd, geometry.kernel
    cols = windows(pad(x, geometry.padding), kernel, geometry.stride, geometry.dilation)  # (N, C, *out, *k)
    cols = cols.transpose(0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (N, C, *k, *out)
    return cols.reshape(N, C * math.prod(kernel), math.prod(cols.shape[-nd:]))  # (N, C·kh·kw, L)


def _fold(cols: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """col2im, the adjoint of :func:`_unfold`: every column added back onto its window.

    Shape: (N, C·kh·kw, L) -> (N, C, *geometry.size); overlapping values add.
    """
    N, nd, kernel = cols.shape[0], geometry.nd, geometry.kernel
    cols = cols.reshape(N, cols.shape[1] // math.prod(kernel), *kernel, *geometry.out)  # (N, C, *k, *out)
    cols = cols.transpose(0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (N, C, *out, *k)
    x_pad = col2im(cols, (N, cols.shape[1], *geometry.padded), kernel, geometry.stride, geometry.dilation)
    return crop(x_pad, geometry.padding)  # (N, C, *size)


# --------------------------------------------------------------------------- the exact sums, tap by tap
# The paths above multiply zeros that are not in the data: the padding, the zeros inserted for a stride,
# the full convolution's border. With finite values that adds 0; with a NaN or inf, 0·inf = NaN lands in
# sums that have no such term. These three compute each sum over its real terms only, one kernel tap t
# at a time: output o's tap t reads input o·s - P + t·d, and the outputs that read inside the input form
# one box per tap (windows.tap_boxes). ``geometry.size`` is the convolution input's size; only the
# "before" of its padding matters.
def _exact_taps(geometry: ConvGeometry, out: tuple[int, ...]) -> tuple:
    """(tap, slices of the output, slices of the input) for each tap that reads inside the input."""
    before = tuple(lo for lo, _ in geometry.padding)
    return tap_boxes(geometry.size, out, geometry.kernel, geometry.stride, before, geometry.dilation)


def _by_group(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, *rest) -> (N, G, C/G, *rest): a view with the channels split by group."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _correlate_exact(
    x: np.ndarray, w: np.ndarray, geometry: ConvGeometry, out: tuple[int, ...], groups: int
) -> np.ndarray:
    """O[n, o, y] = Σ_c Σ_i X[n, c, y·s - P + i·d] · W[o, c, i] over the taps inside X (no bias).

    Shape: X (N, C, *spatial) unpadded, W (O, Cg, *k) -> (N, O, *out).
    """
    N, O = x.shape[0], w.shape[0]
    x_groups, w_groups = (
        _by_group(x, groups),
        w.reshape(groups, O // groups, *w.shape[1:]),
    )  # (N, G, Cg, ..), (G, Og, ..)
    y = np.zeros((N, groups, O // groups, *out), dtype=x.dtype)  # (N, G, Og, *out)
    for tap, at_out, at_in in _exact_taps(geometry, out):
        x_t = x_groups[(Ellipsis, *at_in)]  # X[o·s - P + t·d] for the outputs o of the box: (N, G, Cg, *box)
        y_t = matmul(w_groups[(Ellipsis, *tap)], x_t.reshape(*x_t.shape[:3], -1))  # (G, Og, Cg) @ (N, G, Cg, B)
        y[(Ellipsis, *at_out)] += y_t.reshape(*y_t.shape[:3], *x_t.shape[3:])  # O[o] += W_t · X[o·s - P + t·d]
    return y.reshape(N, O, *out)


def _conv_grad_input_exact(grad_out: np.ndarray, w: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dX[n, c, y·s - P + i·d] += Σ_o dL/dO[n, o, y] · W[o, c, i] over the taps inside X.

    Each dL/dO value scattered back through the weights it met: the full convolution of rot180(W) with
    the zero-inserted dL/dO, without its zeros. Shape: dL/dO (N, O, *out), W (O, Cg, *k) -> (N, C, *size).
    """
    N, O, Cg = grad_out.shape[0], grad_out.shape[1], w.shape[1]
    grad_groups, w_groups = _by_group(grad_out, groups), w.reshape(groups, O // groups, *w.shape[1:])
    grad_x = np.zeros((N, groups, Cg, *geometry.size), dtype=grad_out.dtype)  # (N, G, Cg, *spatial)
    for tap, at_out, at_in in _exact_taps(geometry, grad_out.shape[2:]):
        grad_t = grad_groups[(Ellipsis, *at_out)]  # (N, G, Og, *box)
        x_t = matmul(w_groups[(Ellipsis, *tap)].swapaxes(-1, -2), grad_t.reshape(*grad_t.shape[:3], -1))  # W_tᵀ @ dL/dO
        grad_x[(Ellipsis, *at_in)] += x_t.reshape(*x_t.shape[:3], *grad_t.shape[3:])  # dL/dX[o·s - P + t·d] += ...
    return grad_x.reshape(N, groups * Cg, *geometry.size)


def _conv_grad_weight_exact(x: np.ndarray, grad_out: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dW[o, c, i] = Σ_n Σ_y dL/dO[n, o, y] · X[n, c, y·s - P + i·d] over the y whose tap i is inside X.

    X ⋆ dL/dO without the padding. Shape: X (N, C, *spatial) unpadded, dL/dO (N, O, *out) -> (O, Cg, *k).
    """
    N, C, O = x.shape[0], x.shape[1], grad_out.shape[1]
    x_groups, grad_groups = _by_group(x, groups), _by_group(grad_out, groups)  # (N, G, Cg, ...), (N, G, Og, ...)
    grad_w = np.zeros((groups, O // groups, C // groups, *geometry.kernel), dtype=grad_out.dtype)  # (G, Og, Cg, *k)
    for tap, at_out, at_in in _exact_taps(geometry, grad_out.shape[2:]):
        grad_t = grad_groups[(Ellipsis, *at_out)].reshape(N, groups, O // groups, -1)  # (N, G, Og, B)
        x_t = x_groups[(Ellipsis, *at_in)].reshape(N, groups, C // groups, -1)  # (N, G, Cg, B)
        grad_w[(Ellipsis, *tap)] = matmul(grad_t, x_t.swapaxes(-1, -2)).sum(axis=0)  # Σ_n dL/dO_t @ X_tᵀ: (G, Og, Cg)
    return grad_w.reshape(O, C // groups, *geometry.kernel)


def _bias_grad(grad_out: np.ndarray) -> np.ndarray:
    """dL/db[o] = Σ_n Σ_y dL/dO[n, o, y]."""
    return grad_out.sum(axis=(0, *range(2, grad_out.ndim)))


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """y + b[o] at every position, in place."""
    if b is not None:
        y += b.reshape(-1, *[1] * (y.ndim - 2))
    return y


# --------------------------------------------------------------------------- Functions
class ConvNd(Function):
    """O = X ⋆ W + b for any number of spatial dimensions (conv1d and conv2d both use it).

    Inputs: X (N, C, *spatial), W (O, Cg, *k), b (O,) or None. ``padding`` holds one
    (before, after) pair per spatial dimension. ``method`` picks the algorithm: "windows" is
    the plain path below (the readable one); "matmul", "im2col", "chwn", "im2col_bands", "shifted",
    "winograd" and "winograd2" are the fast paths of :mod:`kernelwise.ops.fastconv`; None lets
    ``choose_method`` pick by shape.
    "exact" sums tap by tap over the real terms only: it takes over wherever a NaN or inf would meet
    a zero the chosen path multiplies (``exact_if_non_finite`` in the forward, ``grad_needs_exact``
    for dL/dO in the backward), whichever method was asked for.
    """

    @np.errstate(invalid="ignore")  # inf - inf or 0·inf among the real terms: NaN, as PyTorch, without a warning
    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
        groups: int,
        method: str | None = None,
    ) -> np.ndarray:
        if method is None:  # the fastest algorithm for these shapes (the reasons are in choose_method)
            method = choose_method(x.shape, w.shape, stride, padding, dilation, groups, x.dtype, self.requires_grad)
        else:
            check_method(method, ConvCase.make(x.shape, w.shape, stride, padding, dilation, groups))
        method = exact_if_non_finite(method, x, w)  # a NaN or inf must not meet a zero the path multiplies
        self.method = method
        geometry = ConvGeometry(x.shape[2:], w.shape[2:], stride, padding, dilation)
        if self.requires_grad:  # what the exact backward reads (references: the inputs hold these arrays anyway)
            self.x = x if self.needs_input_grad[1] else None
            self.w = w if self.needs_input_grad[0] else None
            self.geometry, self.groups = geometry, groups
        if method == "exact":
            return _add_bias(_correlate_exact(x, w, geometry, geometry.out, groups), b)  # X ⋆ W + b, real terms
        if method != "windows":  # a fast path of fastconv: the same sums, fewer copies
            y, ctx = conv_forward(method, x, w, b, stride, padding, dilation)
            if self.requires_grad:
                if not self.needs_input_grad[1]:
                    ctx.drop_input()  # only dL/dW reads the input
                self.ctx = ctx
            return y
        x_pad = pad(x, padding)  # (N, C, *(spatial + 2P))
        y = _add_bias(_correlate(x_pad, w, stride, dilation, groups), b)  # (N, O, *out)
        if self.requires_grad:
            self.x_pad = x_pad if self.needs_input_grad[1] else None
        return y

    @np.errstate(invalid="ignore")  # inf - inf or 0·inf among the real terms: NaN, as PyTorch, without a warning
    def backward(self, grad_out: np.ndarray) -> tuple:
        geometry, groups, needs = self.geometry, self.groups, self.needs_input_grad
        exact = self.method == "exact" or grad_needs_exact(self.method, grad_out, geometry.padding)
        if not exact and self.method != "windows":  # a NaN or inf in dL/dO: no zero of the path may meet it
            return conv_backward(self.ctx, grad_out, needs)
        grad_x = grad_w = grad_b = None
        if needs[0]:  # dL/dX: each dL/dO value scattered back through the weights it met, i.e. the
            # full convolution of rot180(W) with (zero-inserted) dL/dO
            grad_x = (_conv_grad_input_exact if exact else _conv_grad_input)(grad_out, self.w, geometry, groups)
        if needs[1]:  # dL/dW = X ⋆ dL/dO
            x = self.x if exact else self.x_pad
            grad_w = (_conv_grad_weight_exact if exact else _conv_grad_weight)(x, grad_out, geometry, groups)
        if needs[2]:
            grad_b = _bias_grad(grad_out)
        return grad_x, grad_w, grad_b


class ConvTransposeNd(Function):
    """Y = the transposed convolution of X with W (+ b): the adjoint of :class:`ConvNd`.

    Its forward is the convolution's dL/dX computation, with X in the place of dL/dO and W
    (C_in, C_out/G, *k) read as a convolution weight from C_out to C_in channels; its backward
    is the forward convolution. ``padding`` holds one int per spatial dimension.

    A NaN or inf in W would meet the inserted zeros and the full convolution's border, one in X the
    padding of dL/dY in dL/dW: then both directions sum tap by tap over the real terms only.
    """

    @np.errstate(invalid="ignore")  # inf - inf or 0·inf among the real terms: NaN, as PyTorch, without a warning
    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        stride: tuple[int, ...],
        padding: tuple[int, ...],
        output_padding: tuple[int, ...],
        dilation: tuple[int, ...],
        groups: int,
    ) -> np.ndarray:
        kernel = w.shape[2:]
        # the geometry of the convolution this is the dL/dX of: its input is Y's size
        out = transposed_output_size(x.shape[2:], kernel, stride, padding, dilation, output_padding)
        geometry = ConvGeometry(out, kernel, stride, tuple((p, p) for p in padding), dilation)
        self.exact = not np.isfinite(w).all() or (any(padding) and not np.isfinite(x).all())
        grad_input = _conv_grad_input_exact if self.exact else _conv_grad_input  # the exact one: real terms only
        y = _add_bias(grad_input(x, w, geometry, groups), b)  # (N, C_out, *out)
        if self.requires_grad:
            self.x = x if self.needs_input_grad[1] else None
            self.w = w if self.needs_input_grad[0] else None
            self.input_spatial = x.shape[2:]
            self.geometry, self.groups = geometry, groups
        return y

    @np.errstate(invalid="ignore")  # inf - inf or 0·inf among the real terms: NaN, as PyTorch, without a warning
    def backward(self, grad_out: np.ndarray) -> tuple:
        geometry, groups, needs = self.geometry, self.groups, self.needs_input_grad
        grad_x = grad_w = grad_b = None
        if self.exact:
            if needs[0]:  # dL/dX = dL/dY ⋆ W
                grad_x = _correlate_exact(grad_out, self.w, geometry, self.input_spatial, groups)
            if needs[1]:  # dL/dW = dL/dY ⋆ X
                grad_w = _conv_grad_weight_exact(grad_out, self.x, geometry, groups)
        else:
            grad_pad = pad(grad_out, geometry.padding)  # (N, C_out, *padded)
            if needs[0]:
                grad_used = _reached(grad_pad, self.input_spatial, geometry)  # one window per input value
                grad_x = _correlate(grad_used, self.w, geometry.stride, geometry.dilation, groups)  # dL/dY ⋆ W
            if needs[1]:
                grad_w = _conv_grad_weight(grad_pad, self.x, geometry, groups)  # dL/dW = dL/dY ⋆ X
        if needs[2]:
            grad_b = _bias_grad(grad_out)  # dL/db[o] = Σ_n Σ_y dL/dY[n, o, y]
        return grad_x, grad_w, grad_b


class Unfold(Function):
    """im2col: (N, C, *spatial) -> (N, C·kh·kw, L), every window a column; backward is fold."""

    def forward(self, x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
        self.geometry = geometry
        return _unfold(x, geometry)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return _fold(grad_out, self.geometry)  # the adjoint of taking windows: add them back


class Fold(Function):
    """col2im: (N, C·kh·kw, L) -> (N, C, *output_size), overlapping values add; backward is unfold.

    ``geometry.size`` is the output size.
    """

    def forward(self, cols: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
        self.geometry = geometry
        return _fold(cols, geometry)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return _unfold(grad_out, self.geometry)  # each column reads back the window it was added onto


# --------------------------------------------------------------------------- argument checks
def _float_tensor(x: Any, name: str) -> Tensor:
    """``x`` as a floating-point Tensor, or a TypeError naming the argument."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiub":
        raise UsageTypeError(f"{name}: dtype {x.dtype} is not supported (expected float32 or float64)")
    x = check_tensor(x, name)
    check_float(x, name)
    return x


def _inputs(input: Any, weight: Any, nd: int, fn: str, weight_layout: str) -> tuple[Tensor, Tensor, bool]:
    """X and W as checked float Tensors, X with a batch dimension (N, C, *spatial), and whether it had one."""
    x, w = _float_tensor(input, "input"), _float_tensor(weight, "weight")
    spatial = ("L",) if nd == 1 else ("H", "W")
    if x.ndim not in (nd + 1, nd + 2):
        raise UsageError(
            f"{fn}: input must be {nd + 1}-D (C, {', '.join(spatial)}) or {nd + 2}-D (N, C, {', '.join(spatial)}), "
            f"got shape {x.shape}"
        )
    if w.ndim != nd + 2:
        raise UsageError(f"{fn}: weight must be {nd + 2}-D {weight_layout}, got shape {w.shape}")
    if x.dtype != w.dtype:
        raise UsageTypeError(
            f"{fn}: input ({x.dtype}, shape {x.shape}) and weight ({w.dtype}, shape {w.shape}) must have "
            "the same dtype; cast one with .float() or .double()"
        )
    batched = x.ndim == nd + 2
    return (x if batched else x.reshape(1, *x.shape)), w, batched  # (C, *spatial) -> (1, C, *spatial)


def _check_bias(bias: Any, channels: int, x: Tensor, fn: str) -> Tensor | None:
    if bias is None:
        return None
    bias = _float_tensor(bias, "bias")
    if bias.shape != (channels,):
        raise UsageError(f"{fn}: bias must have shape ({channels},), one value per output channel, got {bias.shape}")
    if bias.dtype != x.dtype:
        raise UsageTypeError(f"{fn}: bias is {bias.dtype} but input is {x.dtype}")
    return bias


def _typed(value: Any) -> Any:
    """``value`` with the type of each part beside it: 1, 1.0 and True are equal dict keys but not equally valid."""
    if type(value) in (int, str) or (type(value) is tuple and all(type(v) is int for v in value)):
        return value  # the usual arguments, as they are: no other value equals them with another type
    if isinstance(value, list | tuple):
        return type(value), tuple(_typed(v) for v in value)
    return type(value), value


_CHECKED: dict[tuple, tuple] = {}  # _conv_arguments' results, by their typed arguments


def _conv_arguments(
    fn: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
) -> tuple[tuple[int, ...], Pairs, tuple[int, ...], int]:
    """conv{nd}d's stride, padding pairs, dilation and groups, checked against X's and W's shapes (or a UsageError).

    A layer calls with the same shapes and arguments every time: each combination is checked once.
    """
    try:
        key = (fn, x_shape, w_shape, *map(_typed, (stride, padding, dilation, groups)))
        return _CHECKED[key]
    except TypeError:  # an unhashable argument (an array): checked every time
        key = None
    except KeyError:
        pass
    nd = len(w_shape) - 2
    O, kernel = w_shape[0], w_shape[2:]
    groups = _check_groups(groups, x_shape[1], O, x_shape, w_shape, fn)
    if x_shape[1] != w_shape[1] * groups:
        raise UsageError(
            f"{fn}: input has {x_shape[1]} channels (shape {x_shape}) but weight of shape {w_shape} "
            f"with groups={groups} expects {w_shape[1] * groups} (= weight.shape[1] · groups)"
        )
    stride = ntuple(stride, nd, "stride", minimum=1)
    dilation = ntuple(dilation, nd, "dilation", minimum=1)
    pairs = padding_pairs(padding, kernel, stride, dilation, fn)
    ConvGeometry(x_shape[2:], kernel, stride, pairs, dilation).check_fits(fn, x_shape)
    if key is not None:
        if len(_CHECKED) >= 1024:
            _CHECKED.clear()
        _CHECKED[key] = stride, pairs, dilation, groups
    return stride, pairs, dilation, groups


def _check_groups(
    groups: Any, in_channels: int, out_channels: int, x_shape: tuple[int, ...], w_shape: tuple[int, ...], fn: str
) -> int:
    (groups,) = ntuple(groups, 1, "groups", minimum=1)
    if out_channels % groups:
        raise UsageError(f"{fn}: groups={groups} must divide out_channels={out_channels} (weight shape {w_shape})")
    if in_channels % groups:
        raise UsageError(f"{fn}: groups={groups} must divide in_channels={in_channels} (input shape {x_shape})")
    return groups


# --------------------------------------------------------------------------- public API
def _named(op: Callable[..., Tensor], name: str, doc: str, nd: int) -> Callable[..., Tensor]:
    """``op`` as the public function ``name`` with the docstring ``doc`` (whose examples run as that function's).

    Its ``tuple[int, ...]`` annotations are spelled for ``nd`` dimensions, so that ``inspect.signature``
    and ``help()`` show ``tuple[int]`` for a 1-d function and ``tuple[int, int]`` for a 2-d one.
    """
    ints = f"tuple[{', '.join(['int'] * nd)}]"
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    op.__annotations__ = {key: hint.replace("tuple[int, ...]", ints) for key, hint in op.__annotations__.items()}
    return op


def _conv_op(nd: int, doc: str) -> Callable[..., Tensor]:
    """The public ``conv{nd}d``: arguments as PyTorch's conv1d/conv2d."""
    fn = f"conv{nd}d"

    def conv(
        input: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
    ) -> Tensor:
        x, w, batched = _inputs(input, weight, nd, fn, "(out_channels, in_channels/groups, *kernel_size)")
        bias = _check_bias(bias, w._array.shape[0], x, fn)
        stride, pairs, dilation, groups = _conv_arguments(
            fn, x._array.shape, w._array.shape, stride, padding, dilation, groups
        )
        y = ConvNd.apply(x, w, bias, stride=stride, padding=pairs, dilation=dilation, groups=groups)
        return y if batched else y.reshape(y.shape[1:])

    return _named(conv, fn, doc, nd)


conv1d = _conv_op(
    1,
    """1-D convolution (cross-correlation, as in PyTorch) over a signal of C channels.

    Args:
        input: (N, C, L) or unbatched (C, L).
        weight: (O, C/groups, k), one filter per output channel.
        bias: (O,) or None.
        stride, dilation: int or 1-tuple, positive.
        padding: int or 1-tuple (zeros on both sides), or 'valid' (0), 'same' (output length = input
            length, stride 1 only) or 'full' (d(k-1) on both sides: every partial overlap).
        groups: split the channels into groups that are convolved separately (C = groups: depthwise).

    Shape:
        (N, C, L) -> (N, O, floor((L + 2P - d(k-1) - 1) / s) + 1).

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[1.0, 2.0, 3.0, 4.0]]])
        >>> conv1d(x, kw.tensor([[[1.0, -1.0]]])).tolist()
        [[[-1.0, -1.0, -1.0]]]
        >>> conv1d(x, kw.tensor([[[1.0, 1.0]]]), padding="full").tolist()
        [[[1.0, 3.0, 5.0, 7.0, 4.0]]]
    """,
)

conv2d = _conv_op(
    2,
    """2-D convolution (cross-correlation, as in PyTorch): every filter slides over the image.

    O[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, c, y·s + i·d, x·s + j·d] · W[o, c, i, j]: kernel channels =
    input channels / groups, output channels = number of filters.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        weight: (O, C/groups, kh, kw).
        bias: (O,) or None.
        stride, dilation: int or (sh, sw) / (dh, dw), positive.
        padding: int or (ph, pw), or 'valid', 'same' (stride 1 only; an odd d(k-1) puts the extra
            row/column at the bottom/right, as PyTorch) or 'full' (d(k-1) on each side).
        groups: number of channel groups (groups = C: depthwise).

    Shape:
        (N, C, H, W) -> (N, O, oh, ow) with oh = floor((H + 2P - d(kh-1) - 1) / s) + 1, the recitation's
        floor((W_in - W_k + 2P) / S) + 1 for d = 1.

    Example:
        The recitation's vertical-edge detector on a step image:

        >>> import kernelwise as kw, numpy as np
        >>> image = np.zeros((1, 1, 8, 8), dtype=np.float32); image[..., 4:] = 1
        >>> edge = kw.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])
        >>> out = conv2d(kw.tensor(image), edge)
        >>> out.shape, out[0, 0, 0].tolist()
        ((1, 1, 6, 6), [0.0, 0.0, 4.0, 4.0, 0.0, 0.0])
    """,
)


def _conv_transpose_op(nd: int, doc: str) -> Callable[..., Tensor]:
    """The public ``conv_transpose{nd}d``: arguments as PyTorch's conv_transpose1d/conv_transpose2d."""
    fn = f"conv_transpose{nd}d"

    def conv_transpose(
        input: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        dilation: int | tuple[int, ...] = 1,
    ) -> Tensor:
        x, w, batched = _inputs(input, weight, nd, fn, "(in_channels, out_channels/groups, *kernel_size)")
        kernel = w.shape[2:]
        (groups,) = ntuple(groups, 1, "groups", minimum=1)
        if w.shape[0] % groups:
            raise UsageError(f"{fn}: groups={groups} must divide in_channels={w.shape[0]} (weight shape {w.shape})")
        if x.shape[1] != w.shape[0]:
            raise UsageError(
                f"{fn}: input has {x.shape[1]} channels (shape {x.shape}) but weight of shape {w.shape} expects "
                f"{w.shape[0]} (= weight.shape[0])"
            )
        O = w.shape[1] * groups
        bias = _check_bias(bias, O, x, fn)
        stride = ntuple(stride, nd, "stride", minimum=1)
        dilation = ntuple(dilation, nd, "dilation", minimum=1)
        if isinstance(padding, str):
            raise UsageError(f"{fn}: padding={padding!r}: expected an int or a tuple of {nd} ints")
        padding = ntuple(padding, nd, "padding", minimum=0)
        output_padding = ntuple(output_padding, nd, "output_padding", minimum=0)
        check_output_padding(output_padding, stride, dilation, fn)
        out = transposed_output_size(x.shape[2:], kernel, stride, padding, dilation, output_padding)
        if any(n <= 0 for n in out):
            raise UsageError(
                f"{fn}: the output size {out} is not positive (input shape {x.shape}, weight shape {w.shape}, "
                f"stride {stride}, padding {padding}, dilation {dilation})"
            )
        y = ConvTransposeNd.apply(
            x, w, bias, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups
        )
        return y if batched else y.reshape(y.shape[1:])

    return _named(conv_transpose, fn, doc, nd)


conv_transpose1d = _conv_transpose_op(
    1,
    """1-D transposed convolution: the gradient of conv1d with respect to its input, as a layer.

    Every input value scatters a copy of the kernel, scaled by it, onto the output (upsampling
    by the stride); ``padding`` removes P positions from each end, ``output_padding`` adds some at
    the end (to pick one of the input lengths a strided conv1d maps to the same output length).

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out/groups, k).
        bias: (C_out,) or None.

    Shape:
        (N, C_in, L) -> (N, C_out, (L - 1)·s - 2P + d(k-1) + output_padding + 1).

    Example:
        >>> import kernelwise as kw
        >>> conv_transpose1d(kw.tensor([[[1.0, 2.0]]]), kw.tensor([[[1.0, 10.0]]]), stride=2).tolist()
        [[[1.0, 10.0, 2.0, 20.0]]]
    """,
)

conv_transpose2d = _conv_transpose_op(
    2,
    """2-D transposed convolution: the gradient of conv2d with respect to its input, as a layer.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out/groups, kh, kw).
        bias: (C_out,) or None.
        output_padding: extra rows/columns at the bottom/right, smaller than stride or dilation.

    Shape:
        (N, C_in, H, W) -> (N, C_out, (H - 1)·s - 2P + d(kh-1) + output_padding + 1, ... for W).

    Example:
        >>> import kernelwise as kw
        >>> x, w = kw.ones(1, 2, 3, 3), kw.ones(2, 4, 3, 3)
        >>> conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
        (1, 4, 6, 6)
    """,
)


def unfold(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> Tensor:
    """im2col: every kh×kw window of the (padded) image as one column.

    Row c·kh·kw + i·kw + j of column l holds X[c, y·s + i·d, x·s + j·d] for the l-th window (y, x),
    row-major. Its backward is :func:`fold`.

    Shape:
        (N, C, H, W) -> (N, C·kh·kw, L), or unbatched (C, H, W) -> (C·kh·kw, L), L = oh·ow.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.arange(9.0).reshape(1, 1, 3, 3)
        >>> unfold(x, 2).tolist()
        [[[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]]
    """
    x = _float_tensor(input, "input")
    if x.ndim not in (3, 4):
        raise UsageError(f"unfold: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {x.shape}")
    batched = x.ndim == 4
    if not batched:
        x = x.reshape(1, *x.shape)  # (1, C, H, W)
    kernel = ntuple(kernel_size, 2, "kernel_size", minimum=1)
    dilation = ntuple(dilation, 2, "dilation", minimum=1)
    pairs = tuple((p, p) for p in ntuple(padding, 2, "padding", minimum=0))
    stride = ntuple(stride, 2, "stride", minimum=1)
    geometry = ConvGeometry(x.shape[2:], kernel, stride, pairs, dilation)
    geometry.check_fits("unfold", x.shape)
    y = Unfold.apply(x, geometry=geometry)
    return y if batched else y.reshape(y.shape[1:])


def fold(
    input: Tensor,
    output_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> Tensor:
    """col2im, the adjoint of :func:`unfold`: add every column back onto its window.

    Overlapping windows add, so ``fold(unfold(x))`` multiplies each pixel by the number of windows
    that cover it. Its backward is :func:`unfold`.

    Shape:
        (N, C·kh·kw, L) -> (N, C, *output_size), or unbatched (C·kh·kw, L) -> (C, *output_size).

    Example:
        >>> import kernelwise as kw
        >>> fold(unfold(kw.ones(1, 1, 3, 3), 2), (3, 3), 2)[0, 0].tolist()
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    cols = _float_tensor(input, "input")
    if cols.ndim not in (2, 3):
        raise UsageError(f"fold: input must be 2-D (C·kh·kw, L) or 3-D (N, C·kh·kw, L), got shape {cols.shape}")
    batched = cols.ndim == 3
    if not batched:
        cols = cols.reshape(1, *cols.shape)  # (1, C·kh·kw, L)
    size = ntuple(output_size, 2, "output_size", minimum=1)
    kernel = ntuple(kernel_size, 2, "kernel_size", minimum=1)
    dilation = ntuple(dilation, 2, "dilation", minimum=1)
    padding = ntuple(padding, 2, "padding", minimum=0)
    stride = ntuple(stride, 2, "stride", minimum=1)
    if cols.shape[1] % math.prod(kernel):
        raise UsageError(
            f"fold: input.shape[1]={cols.shape[1]} (input shape {cols.shape}) is not divisible by "
            f"kh·kw={math.prod(kernel)} (kernel_size {kernel})"
        )
    geometry = ConvGeometry(size, kernel, stride, tuple((p, p) for p in padding), dilation)
    out = geometry.out
    if any(n <= 0 for n in out):
        raise UsageError(
            f"fold: output size {out} of the sliding windows is not positive (output_size {size}, "
            f"kernel_size {kernel}, padding {padding}, dilation {dilation})"
        )
    if cols.shape[2] != math.prod(out):
        raise UsageError(
            f"fold: input has {cols.shape[2]} columns (shape {cols.shape}) but output_size {size} with "
            f"kernel_size {kernel} has {out[0]}×{out[1]} = {math.prod(out)} windows"
        )
    y = Fold.apply(cols, geometry=geometry)
    return y if batched else y.reshape(y.shape[1:])
