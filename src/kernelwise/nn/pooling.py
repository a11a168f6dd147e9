"""Pooling and resampling layers: they change the spatial size and have no weights.

# N: batch, C: channels, L/H/W: lengths, k: kernel size, S: stride, P: padding, d: dilation

Max, min and average pooling are one windowed reduction in
``kernelwise.ops.pool`` with a different reducer; the layers here only keep
the hyperparameters (as PyTorch stores them, so ``repr`` matches) and call it.
``Downsample`` and ``UpsampleZeros`` are the recitation's reading of stride:
keeping every f-th sample, and its adjoint, inserting f - 1 zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..ops.geometry import ConvGeometry, ntuple
from ..ops.pool import adaptive_size_items, pool_geometry, valid_divisor_override
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "Downsample",
    "MaxPool1d",
    "MaxPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MinPool1d",
    "MinPool2d",
    "UpsampleZeros",
]


def _check_window(nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1) -> ConvGeometry:
    """The checks the functional ops make at call time, made when the layer is built: the window's geometry.

    No input yet: its size is a stand-in (1 along each dim), so only the arguments are read, never ``out``.
    """
    return pool_geometry((1,) * nd, kernel_size, stride, padding, dilation)


class _ExtremumPoolNd(Module):
    """Max or min pooling over ``_nd`` dimensions (padding never wins); with ``return_indices``, (values, indices)."""

    _nd: int
    _function: Callable[..., Tensor | tuple[Tensor, Tensor]]  # the functional op, e.g. F.max_pool2d

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _check_window(self._nd, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return self._function(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_ExtremumPoolNd):
    """1-d max pooling: y[n, c, l] = max over the window of x starting at S·l.

    Args:
        kernel_size: k.
        stride: S (default: kernel_size).
        padding: P, implicit -inf on both sides, at most k // 2.
        dilation: d, spacing between window taps.
        return_indices: also return where each maximum lies in the input (for :class:`MaxUnpool1d`).
        ceil_mode: round the output length up instead of down.

    Shape:
        (N, C, L) or (C, L) -> (N, C, L_out), L_out = floor((L + 2P - d·(k - 1) - 1) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.MaxPool1d(2)(kw.tensor([[[1.0, 5, 2, 0, 3]]])).tolist()
        [[[5.0, 2.0]]]
        >>> kw.nn.MaxPool1d(2, return_indices=True)(kw.tensor([[[1.0, 5, 2, 0, 3]]]))[1].tolist()
        [[[1, 2]]]
    """

    _nd = 1
    _function = staticmethod(F.max_pool1d)


class MaxPool2d(_ExtremumPoolNd):
    """2-d max pooling: the largest value of each (kh, kw) window; the gradient goes to that position.

    Args:
        kernel_size: (kh, kw) or an int for both.
        stride: S (default: kernel_size).
        padding: P, implicit -inf on each side, at most k // 2.
        dilation: d, spacing between window taps.
        return_indices: also return where each maximum lies, an index into the flattened H·W input of its
            channel (for :class:`MaxUnpool2d`).
        ceil_mode: round the output size up instead of down.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2P - d·(kh - 1) - 1) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> pool = kw.nn.MaxPool2d(2)
        >>> pool
        MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
        >>> pool(kw.tensor([[[[1.0, 2], [4, 3]]]])).tolist()
        [[[[4.0]]]]
    """

    _nd = 2
    _function = staticmethod(F.max_pool2d)


class MinPool1d(_ExtremumPoolNd):
    """1-d min pooling (not in PyTorch): ``-max_pool1d(-x)``; arguments as :class:`MaxPool1d`.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.MinPool1d(2)(kw.tensor([[[1.0, 5, 2, 0, 3]]])).tolist()
        [[[1.0, 0.0]]]
    """

    _nd = 1
    _function = staticmethod(F.min_pool1d)


class MinPool2d(_ExtremumPoolNd):
    """2-d min pooling (not in PyTorch): ``-max_pool2d(-x)``; arguments as :class:`MaxPool2d`.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.MinPool2d(2)(kw.tensor([[[[1.0, 2], [4, 3]]]])).tolist()
        [[[[1.0]]]]
    """

    _nd = 2
    _function = staticmethod(F.min_pool2d)


class AvgPool1d(Module):
    """1-d average pooling: the mean of each window of k samples.

    Args:
        kernel_size: k.
        stride: S (default: kernel_size).
        padding: P, implicit zeros on both sides, at most k // 2.
        ceil_mode: round the output length up instead of down.
        count_include_pad: divide by k (True) or by the number of taps inside the input.

    Shape:
        (N, C, L) or (C, L) -> (N, C, L_out), L_out = floor((L + 2P - k) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> pool = kw.nn.AvgPool1d(2)
        >>> pool, pool(kw.tensor([[[1.0, 5, 2, 0]]])).tolist()
        (AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,)), [[[3.0, 1.0]]])
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        geometry = _check_window(1, kernel_size, stride, padding)
        # PyTorch stores AvgPool1d's arguments as 1-tuples (and shows them so)
        self.kernel_size, self.stride, self.padding = geometry.kernel, geometry.stride, geometry.before
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """2-d average pooling: the mean of each (kh, kw) window; backward spreads dL/dy evenly over it.

    Args:
        kernel_size: (kh, kw) or an int for both.
        stride: S (default: kernel_size).
        padding: P, implicit zeros on each side, at most k // 2.
        ceil_mode: round the output size up instead of down.
        count_include_pad: divide by kh·kw (True) or by the number of taps inside the input.
        divisor_override: divide every window sum by this instead.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2P - kh) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.AvgPool2d(2)(kw.tensor([[[[1.0, 2], [4, 3]]]])).tolist()
        [[[[2.5]]]]
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        _check_window(2, kernel_size, stride, padding)
        if not valid_divisor_override(divisor_override):
            raise UsageError(f"divisor_override={divisor_override!r}: must be a non-zero int")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePoolNd(Module):
    """Pooling to a fixed output size: window i spans [floor(i·L/out), ceil((i+1)·L/out))."""

    _nd: int
    _function: Callable[..., Any]  # the functional op, e.g. F.adaptive_avg_pool2d

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        if any(o is not None and o < 0 for o in adaptive_size_items(output_size, self._nd)):
            raise UsageError(f"output_size={output_size!r}: must be >= 0")
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return self._function(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average pooling to ``output_size`` samples, whatever the input length.

    Shape:
        (N, C, L) or (C, L) -> (N, C, output_size).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.AdaptiveAvgPool1d(3)(kw.tensor([[[1.0, 2, 3, 4, 5, 6, 7]]])).tolist()
        [[[2.0, 4.0, 6.0]]]
    """

    _nd = 1
    _function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average pooling to ``output_size`` = (H_out, W_out) (an int for both; None keeps a size).

    ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.AdaptiveAvgPool2d(1)(kw.tensor([[[[1.0, 2], [4, 3]]]])).tolist()
        [[[[2.5]]]]
    """

    _nd = 2
    _function = staticmethod(F.adaptive_avg_pool2d)


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """Adaptive max pooling; with ``return_indices``, (values, indices into the flattened spatial input)."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return self._function(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to ``output_size`` samples, whatever the input length.

    Args:
        output_size: the output length (None keeps the input's).
        return_indices: also return where each maximum lies in the input (for :class:`MaxUnpool1d`).

    Shape:
        (N, C, L) or (C, L) -> (N, C, output_size).

    Example:
        >>> import kernelwise as kw
        >>> values, indices = kw.nn.AdaptiveMaxPool1d(2, return_indices=True)(kw.tensor([[[1.0, 5, 2, 0]]]))
        >>> values.tolist(), indices.tolist()
        ([[[5.0, 2.0]]], [[[1, 2]]])
    """

    _nd = 1
    _function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to ``output_size`` = (H_out, W_out) (an int for both; None keeps a size).

    With ``return_indices``, also where each maximum lies, as an index into the flattened H·W input of its
    channel (for :class:`MaxUnpool2d`).

    Example:
        >>> import kernelwise as kw
        >>> pool = kw.nn.AdaptiveMaxPool2d(1, return_indices=True)
        >>> [a.tolist() for a in pool(kw.tensor([[[[1.0, 2], [4, 3]]]]))]  # 4 is x[1, 0]: flat index 1·2 + 0
        [[[[[4.0]]]], [[[[2]]]]]
    """

    _nd = 2
    _function = staticmethod(F.adaptive_max_pool2d)


class _MaxUnpoolNd(Module):
    """The partial inverse of max pooling: each value back where its index says, zeros elsewhere."""

    _nd: int
    _function: Callable[..., Tensor]  # the functional op, e.g. F.max_unpool2d

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        # PyTorch stores these as tuples (and shows them so)
        self.kernel_size = ntuple(kernel_size, self._nd, "kernel_size", minimum=1)
        self.stride = ntuple(stride if stride is not None else kernel_size, self._nd, "stride", minimum=1)
        self.padding = ntuple(padding, self._nd, "padding", minimum=0)

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        return self._function(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Undo :class:`MaxPool1d` as far as it can be: the maxima back at their indices, zeros elsewhere.

    Args:
        kernel_size, stride (default: kernel_size), padding: those of the pooling.

    Shape:
        (N, C, L_in) or (C, L_in), with indices of that shape -> (N, C, L), L = (L_in - 1)·S + k - 2P, or
        ``output_size`` passed to forward ((L,) or (N, C, L), less than S away from that).

    Example:
        >>> import kernelwise as kw
        >>> pool, unpool = kw.nn.MaxPool1d(2, return_indices=True), kw.nn.MaxUnpool1d(2)
        >>> unpool
        MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))
        >>> unpool(*pool(kw.tensor([[[1.0, 5, 2, 0, 3]]]))).tolist()
        [[[0.0, 5.0, 2.0, 0.0]]]
    """

    _nd = 1
    _function = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Undo :class:`MaxPool2d` as far as it can be: the maxima back at their indices, zeros elsewhere.

    Args:
        kernel_size, stride (default: kernel_size), padding: those of the pooling.

    Shape:
        (N, C, H_in, W_in) or (C, H_in, W_in), with indices of that shape -> (N, C, H, W),
        H = (H_in - 1)·S + kh - 2P, or ``output_size`` passed to forward ((H, W) or (N, C, H, W)).

    Example:
        >>> import kernelwise as kw
        >>> pool, unpool = kw.nn.MaxPool2d(2, return_indices=True), kw.nn.MaxUnpool2d(2)
        >>> x = kw.tensor([[[[1.0, 2, 9], [4, 3, 8]]]])
        >>> unpool(*pool(x), output_size=x.shape).tolist()
        [[[[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]]]]
    """

    _nd = 2
    _function = staticmethod(F.max_unpool2d)


def _check_factor(factor: Any) -> int | tuple[int, ...]:
    if isinstance(factor, tuple | list):
        if not factor:
            raise UsageError("factor=(): expected an int or a non-empty tuple of ints")
        return ntuple(factor, len(factor), "factor", minimum=1)
    return ntuple(factor, 1, "factor", minimum=1)[0]


class Downsample(Module):
    """Keep every ``factor``-th sample: a stride-f output is the stride-1 output, downsampled.

    Args:
        factor: an int for every dimension after (N, C), or a tuple for the last len(factor) dimensions.

    Shape:
        (N, C, *spatial) -> (N, C, *ceil(spatial / factor)).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Downsample(2)(kw.tensor([[[1.0, 2, 3, 4, 5]]])).tolist()
        [[[1.0, 3.0, 5.0]]]
    """

    def __init__(self, factor: int | tuple[int, ...]) -> None:
        super().__init__()
        self.factor = _check_factor(factor)

    def forward(self, input: Tensor) -> Tensor:
        return F.downsample(input, self.factor)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class UpsampleZeros(Module):
    """Insert ``factor - 1`` zeros between samples: the adjoint of :class:`Downsample`.

    Not PyTorch's interpolating ``Upsample``: this is the zero insertion that makes a
    transposed convolution of stride f a stride-1 convolution of the upsampled input.

    Args:
        factor: an int for every dimension after (N, C), or a tuple for the last len(factor) dimensions.

    Shape:
        (N, C, *spatial) -> (N, C, *((spatial - 1)·factor + 1)), or ``output_size`` passed to forward
        (trailing zeros fill the rest).

    Example:
        >>> import kernelwise as kw
        >>> up = kw.nn.UpsampleZeros(2)
        >>> up(kw.tensor([[[1.0, 3, 5]]])).tolist(), up(kw.tensor([[[1.0, 3, 5]]]), output_size=6).shape
        ([[[1.0, 0.0, 3.0, 0.0, 5.0]]], (1, 1, 6))
    """

    def __init__(self, factor: int | tuple[int, ...]) -> None:
        super().__init__()
        self.factor = _check_factor(factor)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return F.upsample_zeros(input, self.factor, output_size)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"
