"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d.

# N: batch, C_in/C_out: channels, L/H/W: lengths, k: kernel size, g: groups

One generic :class:`_ConvNd` holds the hyperparameters, the weight and bias
and their initialisation for any number of spatial dimensions; the 1-d and
2-d classes only fix that number and name the functional op they call.
Weights are (C_out, C_in/g, *k) for a convolution and (C_in, C_out/g, *k) for
a transposed convolution, as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..devices import as_device
from ..errors import UsageError, UsageTypeError
from ..ops.geometry import PADDING_STRINGS, check_output_padding, ntuple, padding_pairs
from ..random import generator as _generator
from ..tensor import Tensor, _dtype
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

# The Args sections of the four layers' docstrings, written once and formatted into each
# (as PyTorch's ``convolution_notes``): the slots in braces are what the 1-d and 2-d texts differ by.
_PARAMETER_ARGS = """padding_mode: ``'zeros'`` only.
        device: ``'cpu'`` or None (kernelwise computes on the CPU only).
        dtype: dtype of the parameters (None: float32).
        generator: seed, ``numpy.random.Generator`` or None (default generator) for the initial weights."""

_CONV_ARGS = (
    """in_channels, out_channels: channels C_in and C_out.
        kernel_size: {kernel_size}.
        stride: S (default 1).
        padding: P, zeros added to {sides}, or ``'valid'``, ``'same'``, ``'full'``.
        dilation: d, spacing between kernel taps.
        groups: g, channel groups (C_in and C_out divisible by g).
        bias: add a learned bias.
        """
    + _PARAMETER_ARGS
)

_TRANSPOSE_ARGS = (
    """in_channels, out_channels: channels C_in and C_out.
        kernel_size: {kernel_size}.
        stride: S.
        padding: P, removed from {sides} of the output (the padding of the matching {conv}).
        output_padding: {output_padding}
        groups: g.
        bias: add a learned bias.
        dilation: d.
        """
    + _PARAMETER_ARGS
)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise UsageError(f"{name}={value!r}: must be a positive int")
    return int(value)


class _ConvNd(Module):
    """Convolution over ``_nd`` spatial dimensions (a transposed one when ``transposed``)."""

    _nd: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...],
        padding: int | tuple[int, ...] | str,
        dilation: int | tuple[int, ...],
        transposed: bool,
        output_padding: int | tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any,
        dtype: Any,
        generator: Any,
    ) -> None:
        super().__init__()
        nd, name = self._nd, type(self).__name__
        out_channels = _positive_int(out_channels, "out_channels")
        self.groups = _positive_int(groups, "groups")
        if in_channels is None:  # a lazy convolution: in_channels comes with the first input
            self.in_channels = 0
        else:
            self._set_in_channels(in_channels)
        if out_channels % groups != 0:
            raise UsageError(f"out_channels={out_channels} must be divisible by groups={groups}")
        self.out_channels = out_channels
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = ntuple(stride, nd, "stride", minimum=1)
        self.dilation = ntuple(dilation, nd, "dilation", minimum=1)
        if isinstance(padding, str):
            if transposed:
                raise UsageError(f"{name}: padding={padding!r}: a transposed convolution takes int padding only")
            if padding not in PADDING_STRINGS:
                raise UsageError(f"padding={padding!r}: should be one of {PADDING_STRINGS} (or an int or tuple)")
            padding_pairs(padding, self.kernel_size, self.stride, self.dilation, name)  # 'same' needs stride 1
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = ntuple(padding, nd, "padding", minimum=0)
        self.output_padding = ntuple(output_padding, nd, "output_padding", minimum=0)
        check_output_padding(self.output_padding, self.stride, self.dilation)
        if padding_mode != "zeros":
            raise UsageError(f"padding_mode={padding_mode!r} is not supported: only 'zeros'")
        self.transposed = transposed
        self.padding_mode = padding_mode
        as_device(device)  # the CPU (or None): anything else is an error
        dt = _dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise UsageTypeError(f"dtype={dtype!r}: parameters need a floating-point dtype")
        shapes = self._shapes()
        self.weight = Parameter(np.empty(shapes["weight"], dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(shapes["bias"], dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def _set_in_channels(self, in_channels: Any) -> None:
        in_channels = _positive_int(in_channels, "in_channels")
        if in_channels % self.groups != 0:
            raise UsageError(f"in_channels={in_channels} must be divisible by groups={self.groups}")
        self.in_channels = in_channels

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes of the weight and of the bias, (C_out,)."""
        c_in, c_out, groups, k = self.in_channels, self.out_channels, self.groups, self.kernel_size
        transposed, plain = (
            (c_in, c_out // groups, *k),
            (c_out, c_in // groups, *k),
        )  # (C_in, C_out/g, *k), (C_out, C_in/g, *k)
        return {"weight": transposed if self.transposed else plain, "bias": (c_out,)}

    def reset_parameters(self, generator: Any = None) -> None:
        """PyTorch's default: weight and bias from U(-1/√fan_in, 1/√fan_in).

        ``kaiming_uniform_(a=√5)`` has gain √(2 / (1 + 5)) = 1/√3, so its bound
        √3 · gain / √fan_in is 1/√fan_in; fan_in = weight.shape[1] · prod(kernel_size).
        The weight is drawn first, then the bias, from the same generator.
        """
        rng = _generator(generator)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Conv(_ConvNd):
    """A convolution: the arguments of Conv1d and Conv2d, and the functional op of its ``_nd``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        device: Any = None,
        dtype: Any = np.float32,
        generator: Any = None,
    ) -> None:
        args = (in_channels, out_channels, kernel_size, stride, padding, dilation)
        super().__init__(*args, False, 0, groups, bias, padding_mode, device, dtype, generator)

    def forward(self, input: Tensor) -> Tensor:
        conv = F.conv1d if self._nd == 1 else F.conv2d
        return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    """A transposed convolution: the arguments of ConvTranspose1d and ConvTranspose2d (PyTorch's order)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, ...] = 1,
        padding_mode: str = "zeros",
        *,
        device: Any = None,
        dtype: Any = np.float32,
        generator: Any = None,
    ) -> None:
        args = (in_channels, out_channels, kernel_size, stride, padding, dilation)
        super().__init__(*args, True, output_padding, groups, bias, padding_mode, device, dtype, generator)

    def forward(self, input: Tensor) -> Tensor:
        conv = F.conv_transpose1d if self._nd == 1 else F.conv_transpose2d
        return conv(
            input, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )


class Conv1d(_Conv):
    __doc__ = """1-d convolution (cross-correlation, as in PyTorch) over an input of C_in channels.

    out[n, o, l] = bias[o] + Σ_c Σ_k weight[o, c, k] · x_padded[n, c, S·l + d·k] (within o's group).

    Args:
        {args}

    Shape:
        (N, C_in, L) or (C_in, L) -> (N, C_out, L_out), L_out = floor((L + 2P - d·(k - 1) - 1) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> conv = kw.nn.Conv1d(2, 4, 3, padding=1, generator=0)
        >>> conv, conv(kw.zeros(5, 2, 10)).shape
        (Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(1,)), (5, 4, 10))
    """.format(args=_CONV_ARGS.format(kernel_size="k", sides="both sides"))

    _nd = 1


class Conv2d(_Conv):
    __doc__ = """2-d convolution (cross-correlation, as in PyTorch): the recitation's convolution layer.

    out[n, o, i, j] = bias[o] + Σ_c Σ_p Σ_q weight[o, c, p, q] · x_padded[n, c, S·i + d·p, S·j + d·q].

    Args:
        {args}

    Shape:
        (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = floor((H + 2P - d·(kh - 1) - 1) / S) + 1, likewise W_out.

    Example:
        >>> import kernelwise as kw
        >>> conv = kw.nn.Conv2d(1, 6, 5, padding=2, generator=0)
        >>> conv
        Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
        >>> conv.weight.shape, conv(kw.zeros(2, 1, 28, 28)).shape
        ((6, 1, 5, 5), (2, 6, 28, 28))
    """.format(args=_CONV_ARGS.format(kernel_size="(kh, kw) or an int for both", sides="each side"))

    _nd = 2


class ConvTranspose1d(_ConvTranspose):
    __doc__ = """1-d transposed convolution: the adjoint (gradient with respect to the input) of :class:`Conv1d`.

    Each input sample scatters ``weight`` times its value into the output, S apart.

    Args:
        {args}

    Shape:
        (N, C_in, L) or (C_in, L) -> (N, C_out, L_out), L_out = (L - 1)·S - 2P + d·(k - 1) + output_padding + 1.

    Example:
        >>> import kernelwise as kw
        >>> up = kw.nn.ConvTranspose1d(4, 2, 3, stride=2, generator=0)
        >>> up.weight.shape, up(kw.zeros(1, 4, 5)).shape
        ((4, 2, 3), (1, 2, 11))
    """.format(
        args=_TRANSPOSE_ARGS.format(
            kernel_size="k",
            sides="both ends",
            conv="Conv1d",
            output_padding="extra length added at the end (< S or < d), to pick among the input\n"
            "            lengths that a strided Conv1d maps to the same output length.",
        )
    )

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    __doc__ = """2-d transposed convolution: the adjoint (gradient with respect to the input) of :class:`Conv2d`.

    Args:
        {args}

    Shape:
        (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H - 1)·S - 2P + d·(kh - 1) + output_padding + 1, likewise W_out.

    Example:
        >>> import kernelwise as kw
        >>> up = kw.nn.ConvTranspose2d(3, 1, 2, stride=2, generator=0)
        >>> up, up(kw.zeros(1, 3, 4, 4)).shape
        (ConvTranspose2d(3, 1, kernel_size=(2, 2), stride=(2, 2)), (1, 1, 8, 8))
    """.format(
        args=_TRANSPOSE_ARGS.format(
            kernel_size="(kh, kw) or an int for both",
            sides="each side",
            conv="Conv2d",
            output_padding="extra rows/columns added at the end (< S or < d).",
        )
    )

    _nd = 2
