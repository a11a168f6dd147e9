"""Down/upsampling by an integer factor, and padding.

Legend: N batch, C channels, spatial (H, W) or (L,), f factor.

The recitation reads stride > 1 as downsampling: a stride-2 output is the
stride-1 output with every other sample dropped. ``downsample`` keeps every f-th
sample; ``upsample_zeros`` puts f - 1 zeros between samples. Each is the other's
adjoint, ⟨down(x), y⟩ = ⟨x, up(y)⟩, so each one's backward is the other.

``pad`` is PyTorch's ``F.pad``. Every output position of a pad copies one input
position (or is a constant), so its backward adds each output gradient onto the
position it copied: pad an array of input indices the same way and scatter-add.

Example:
    >>> import kernelwise as kw
    >>> x = kw.tensor([[[1.0, 2, 3, 4, 5]]])
    >>> downsample(x, 2).tolist(), upsample_zeros(downsample(x, 2), 2).tolist()
    ([[[1.0, 3.0, 5.0]]], [[[1.0, 0.0, 3.0, 0.0, 5.0]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_tensor
from .geometry import ntuple


def _every(factor: tuple[int, ...], lengths: tuple[int, ...] | None = None) -> tuple[Any, ...]:
    """Index of every f-th sample along the last len(factor) dims (of the first ``lengths`` samples)."""
    stops = lengths if lengths is not None else (None,) * len(factor)
    return (Ellipsis, *(slice(0, n, f) for f, n in zip(factor, stops, strict=True)))


class Downsample(Function):
    """y[i] = x[i·f] along the last len(factor) dims; backward: zero insertion."""

    def forward(self, x: np.ndarray, factor: tuple[int, ...]) -> np.ndarray:
        if self.requires_grad:
            self.x_shape, self.factor = x.shape, factor
        return x[_every(factor)].copy()

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_x = np.zeros(self.x_shape, dtype=grad_out.dtype)
        grad_x[_every(self.factor)] = grad_out  # dL/dx[i·f] = dL/dy[i], 0 for the dropped samples
        return grad_x


class UpsampleZeros(Function):
    """y[i·f] = x[i], zeros elsewhere, along the last len(factor) dims; backward: downsampling."""

    def forward(self, x: np.ndarray, factor: tuple[int, ...], output_size: tuple[int, ...]) -> np.ndarray:
        nd = len(factor)
        y = np.zeros(x.shape[:-nd] + output_size, dtype=x.dtype)  # (N, C, *out)
        y[_every(factor, self._used(x.shape[-nd:], factor))] = x
        if self.requires_grad:
            self.lengths, self.factor = self._used(x.shape[-nd:], factor), factor
        return y

    @staticmethod
    def _used(lengths: tuple[int, ...], factor: tuple[int, ...]) -> tuple[int, ...]:
        """How many output samples the input spans: (L - 1)·f + 1 (trailing zeros come after)."""
        return tuple(max((n - 1) * f + 1, 0) for n, f in zip(lengths, factor, strict=True))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out[_every(self.factor, self.lengths)].copy()  # dL/dx[i] = dL/dy[i·f]


def _factor(x: Tensor, factor: Any, fname: str) -> tuple[int, ...]:
    """An int factor covers every dim after (N, C); a tuple covers the last len(factor) dims."""
    if isinstance(factor, tuple | list):
        f = ntuple(factor, len(factor), "factor", minimum=1)
        if not f or len(f) > x.ndim:
            raise UsageError(f"{fname}: factor={factor!r} needs 1 to {x.ndim} entries for input of shape {x.shape}")
        return f
    if x.ndim < 3:
        raise UsageError(
            f"{fname}: an int factor applies to the dims after (N, C), so input must have at least 3 dims, "
            f"got shape {x.shape}; pass a tuple factor to resample the last dims of any input"
        )
    return ntuple(factor, x.ndim - 2, "factor", minimum=1)


def downsample(x: Tensor, factor: int | tuple[int, ...]) -> Tensor:
    """Keep every ``factor``-th sample: the recitation's "stride 1 output, drop intermediates, stride 2 output".

    Args:
        x: (N, C, *spatial) for an int factor; any tensor for a tuple factor.
        factor: int (every dim after (N, C)) or tuple (the last len(factor) dims).

    Shape:
        (..., L) -> (..., ceil(L / f)) along each resampled dim.

    Example:
        >>> import kernelwise as kw
        >>> z = kw.tensor([[9.0, 9, 7], [2, 5, 6], [-7, 9, -10]])  # a stride-1 output
        >>> downsample(z, (2, 2)).tolist()  # its stride-2 output
        [[9.0, 7.0], [-7.0, -10.0]]
    """
    x = check_tensor(x, "downsample: x")
    return Downsample.apply(x, factor=_factor(x, factor, "downsample"))


def upsample_zeros(x: Tensor, factor: int | tuple[int, ...], output_size: Any = None) -> Tensor:
    """Zero insertion: ``factor - 1`` zeros between samples (not PyTorch's interpolating ``upsample``).

    Args:
        x: (N, C, *spatial) for an int factor; any tensor for a tuple factor.
        factor: int (every dim after (N, C)) or tuple (the last len(factor) dims).
        output_size: length(s) of the resampled dims, at least (L - 1)·f + 1; the rest is trailing zeros.

    Shape:
        (..., L) -> (..., (L - 1)·f + 1) along each resampled dim, or output_size.

    Example:
        >>> import kernelwise as kw
        >>> upsample_zeros(kw.tensor([[[1.0, 2, 3]]]), 2).tolist()
        [[[1.0, 0.0, 2.0, 0.0, 3.0]]]
        >>> upsample_zeros(kw.tensor([[[1.0, 2, 3]]]), 2, output_size=6).tolist()
        [[[1.0, 0.0, 2.0, 0.0, 3.0, 0.0]]]
    """
    x = check_tensor(x, "upsample_zeros: x")
    f = _factor(x, factor, "upsample_zeros")
    nd = len(f)
    least = UpsampleZeros._used(x.shape[-nd:], f)
    if output_size is None:
        size = least
    else:
        size = ntuple(output_size, nd, "output_size", minimum=0)
        if any(s < m for s, m in zip(size, least, strict=True)):
            raise UsageError(
                f"upsample_zeros: output_size={size} is smaller than (L - 1)·factor + 1 = {least} "
                f"for input of shape {x.shape} and factor={f}"
            )
    return UpsampleZeros.apply(x, factor=f, output_size=size)


# --------------------------------------------------------------------------- pad
PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # -> np.pad


def _crop(a: np.ndarray, widths: list[tuple[int, int]]) -> np.ndarray:
    """Remove -lo entries before and -hi after along each dim where a width is negative (a view)."""
    return a[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, a.shape, strict=True))]


def _pad_array(a: np.ndarray, widths: list[tuple[int, int]], mode: str, value: Any) -> np.ndarray:
    """np.pad with PyTorch's modes; negative widths crop, in PyTorch's order.

    Constant and circular crop first (circular then wraps around what is left); reflect and replicate pad
    first and crop the result, so that a crop may reach into the other side's padding.
    """
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(_crop(a, widths), grow, mode="constant", constant_values=value)
    if mode == "circular":
        return np.pad(_crop(a, widths), grow, mode="wrap")
    return _crop(np.pad(a, grow, mode=PAD_MODES[mode]), widths)


class Pad(Function):
    """y = x with its borders padded (constant, reflect, replicate or circular).

    Backward: dL/dx[j] = Σ dL/dy[i] over the output positions i that copied x[j].
    """

    def forward(self, x: np.ndarray, widths: list[tuple[int, int]], mode: str, value: Any) -> np.ndarray:
        if self.requires_grad:
            self.x_shape, self.widths, self.mode = x.shape, widths, mode
        return _pad_array(x, widths, mode, value)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        size = int(np.prod(self.x_shape))
        index = np.arange(size).reshape(self.x_shape)  # each input position's flat index
        source = _pad_array(index, self.widths, self.mode, size)  # the input position each output copied; size: none
        grad_x = np.bincount(source.ravel(), weights=grad_out.ravel(), minlength=size + 1)[:size]  # scatter-add
        return grad_x.reshape(self.x_shape).astype(grad_out.dtype)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims of ``input``, as PyTorch's ``F.pad``.

    Args:
        input: any tensor.
        pad: (left, right) for the last dim, then (top, bottom) for the one before, and so on;
            negative entries crop, as PyTorch: constant and circular crop the input (at most its size
            in all), reflect and replicate crop their padded result (at least one entry must remain).
        mode: 'constant' (``value``), 'reflect' (mirror without repeating the edge; pad < size),
            'replicate' (repeat the edge) or 'circular' (wrap around; pad <= size after cropping).
        value: fill value of constant mode (None means 0); other modes take none.

    Shape:
        (..., H, W) -> (..., H + top + bottom, W + left + right).

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[1.0, 2, 3]]])
        >>> for mode in ("constant", "reflect", "replicate", "circular"):
        ...     print(mode, pad(x, (2, 1), mode).tolist()[0][0])
        constant [0.0, 0.0, 1.0, 2.0, 3.0, 0.0]
        reflect [3.0, 2.0, 1.0, 2.0, 3.0, 2.0]
        replicate [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
        circular [2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
        >>> pad(x, (-1, 2)).tolist(), pad(x, (2, -3), "reflect").tolist()
        ([[[2.0, 3.0, 0.0, 0.0]]], [[[3.0, 2.0]]])
    """
    x = check_tensor(input, "pad: input")
    if not isinstance(pad, tuple | list) or any(
        isinstance(p, bool) or not isinstance(p, int | np.integer) for p in pad
    ):
        raise UsageTypeError(f"pad: pad={pad!r} must be a tuple of ints")
    if len(pad) % 2:
        raise UsageError(f"pad: pad={tuple(pad)} has odd length {len(pad)}; give (left, right) pairs, last dim first")
    if len(pad) // 2 > x.ndim:
        raise UsageError(f"pad: pad={tuple(pad)} pads {len(pad) // 2} dims, but input of shape {x.shape} has {x.ndim}")
    if mode not in PAD_MODES:
        raise UsageError(f"pad: mode={mode!r} is not one of {tuple(PAD_MODES)}")
    if mode != "constant" and value not in (None, 0):
        raise UsageError(f"pad: mode={mode!r} takes no value (got value={value!r})")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    for dim, ((lo, hi), n) in enumerate(zip(widths, x.shape, strict=True)):
        if lo == hi == 0:
            continue
        crop = max(-lo, 0) + max(-hi, 0)  # what the negative widths remove
        where = f"pad ({lo}, {hi}) for dim {dim} of size {n} (pad={tuple(pad)}, input shape {x.shape})"
        if mode in ("constant", "circular") and crop > n:  # these crop the input itself
            raise UsageError(f"pad: negative padding would crop {crop} entries, more than the dim holds: {where}")
        if mode == "reflect" and max(lo, hi) >= n:
            raise UsageError(f"pad: reflect padding must be < the size of its dim: {where}")
        if mode == "circular" and max(lo, hi) > n - crop:
            raise UsageError(
                f"pad: circular padding must be <= the size of its dim after cropping ({n - crop}): {where}"
            )
        if mode in ("reflect", "replicate") and n + lo + hi <= 0:  # these pad first, then crop: something must remain
            raise UsageError(f"pad: {mode} padding would leave {n + lo + hi} entries (at least 1 needed): {where}")
        if mode == "replicate" and n == 0:
            raise UsageError(f"pad: replicate cannot pad a dim of size 0: {where}")
    return Pad.apply(x, widths=widths, mode=mode, value=0 if value is None else value)
