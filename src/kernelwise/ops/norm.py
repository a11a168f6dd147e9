"""Batch normalisation over the batch and spatial dimensions, per channel.

Legend: N: batch, C: channels, L / H, W: spatial sizes, m: values per channel (N·L or N·H·W),
μ, σ² = mean and biased variance of a channel, σ = √(σ² + eps), x̂ = (x - μ)/σ, γ, β: weight, bias.

    Forward:  y = γ·x̂ + β
    Backward (training, μ and σ depend on x):
              dX = (1/m)·γ/σ·(m·dY − Σ dY − x̂·Σ dY·x̂)
              dγ = Σ dY·x̂,   dβ = Σ dY            (sums over N and the spatial dimensions)
    Backward (eval, running statistics are constants):  dX = γ/σ·dY
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor
from .layout import axis_order, empty_in_order

_RUN = 512  # shortest run of values one dot product adds (when the layout has one): see _channel_rows


def _channel_rows(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``a`` as an (A, C, R, B) array: its axes taken in the memory ``order`` (see ``layout.axis_order``),
    those before the channel axis merged into A, those after it into R and B, B the trailing ones up
    to at least ``_RUN`` values: (N, C, 1, H·W) in C order, (1, C, H, W·N) batch-last for W·N ≥ 512.

    A BLAS dot product adds its run in a few SIMD lanes one value after the other, so its rounding
    grows with the run's length: runs of 512-2048 values keep it within 2× of np.sum's pairwise
    rounding (measured in float32).
    A view when ``a``'s memory runs in ``order``, else a copy (same values either way).
    """
    memory = a.transpose(order)
    split = order.index(1)
    after = memory.shape[split + 1 :]
    start, run = len(after), 1
    while start > 0 and run < _RUN:
        start -= 1
        run *= after[start]
    outer, middle = math.prod(memory.shape[:split]), math.prod(after[:start])
    return memory.reshape(outer, a.shape[1], middle, run)


def _channel_sums(rows: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Σ over A, R and B of rows·other (of rows when ``other`` is None), per channel C of (A, C, R, B) arrays.

    The B runs are contiguous: one BLAS dot product each (``np.vecdot``), 2-4× faster than ``np.sum``
    over the same axes (measured); then the runs' sums are added.
    """
    if other is None:
        other = np.ones(rows.shape[3], dtype=rows.dtype)  # Σ a = Σ a·1
    return np.vecdot(rows, other).sum(axis=(0, 2))  # Σ_A Σ_R Σ_B a·b   (C,)


class BatchNorm(Function):
    """y = γ·(x - μ)/√(σ² + eps) + β per channel; μ, σ² from the batch (training) or the running statistics.

    In training, the running statistics (arrays, or None) are updated in place:
    r ← (1 - momentum)·r + momentum·batch statistic, with the unbiased variance m/(m-1)·σ².

    ``batch_statistics`` and ``total_sums`` say which values the statistics are over: this batch here;
    every rank's batch in ``nn.SyncBatchNorm``'s subclass, whose dγ and dβ stay this rank's sums (as
    PyTorch's: DistributedDataParallel then averages them).

    The output, x̂ and dX are allocated in x's axis order (``layout.empty_in_order``), and each pass
    writes into its buffer (``out=``): forward is μ, x − μ, Σ (x − μ)², x̂ = (x − μ)·(1/σ) in place,
    y = x̂·γ, + β; backward is Σ dY, Σ dY·x̂ (dot products, no temporary) and dX in four in-place passes.
    """

    centred: np.ndarray | None = None  # x − μ, left by batch_statistics for forward to normalise in place

    def forward(
        self,
        x: np.ndarray,
        weight: np.ndarray | None,
        bias: np.ndarray | None,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
        training: bool,
        momentum: float,
        eps: float,
    ) -> np.ndarray:
        axes = (0, *range(2, x.ndim))  # every dimension but the channels
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (1, C, 1, ...): broadcasts over N and space
        centred = None
        if training:
            mean, var, m = self.batch_statistics(x, axes)  # μ, σ² (biased) per channel, over m values each
            centred, self.centred = self.centred, None  # x − μ, when batch_statistics computed it
            if running_mean is not None:
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean  # r ← (1-m)·r + m·μ
            if running_var is not None:
                unbiased = var * (m / (m - 1))  # running variance is unbiased: m/(m-1)·σ²
                running_var[...] = (1 - momentum) * running_var + momentum * unbiased  # r ← (1-m)·r + m·σ²_u
        else:
            mean, var = running_mean, running_var
        if (
            not self.requires_grad
        ):  # no backward to keep x̂ for: y = x·α + β', α = γ/σ, β' = β - μ·α (as PyTorch's CPU kernel)
            alpha = 1 / np.sqrt(var + eps) * (weight if weight is not None else 1)  # α = γ/σ   (C,)
            shift = (bias if bias is not None else 0) - mean * alpha  # β' = β - μ·α   (C,)
            out = x * alpha.astype(x.dtype, copy=False).reshape(shape)
            out += shift.astype(x.dtype, copy=False).reshape(shape)
            return out
        order = axis_order(x)
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)  # 1/σ   (1, C, 1, ...)
        if centred is None:
            centred = np.subtract(
                x, mean.astype(x.dtype, copy=False).reshape(shape), out=empty_in_order(x.shape, order, x.dtype)
            )  # x − μ
        x_hat = np.multiply(centred, inv_std, out=centred)  # x̂ = (x - μ)·(1/σ), in x − μ's buffer
        gamma = weight.reshape(shape) if weight is not None else None
        if gamma is None and bias is None:
            out = x_hat  # y = x̂
        else:
            out = empty_in_order(x.shape, order, x.dtype)
            if gamma is not None:
                np.multiply(x_hat, gamma, out=out)  # γ·x̂
            if bias is not None:
                np.add(out if gamma is not None else x_hat, bias.reshape(shape), out=out)  # y = γ·x̂ + β
        self.x_hat, self.inv_std, self.gamma, self.order, self.training = x_hat, inv_std, gamma, order, training
        self.m = m if training else None
        return out

    def batch_statistics(self, x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
        """μ and the biased σ² of each channel, and m, the number of values each is over (this batch's).

        Two passes, as ``np.var``: μ first, then σ² from x − μ, which stays in ``self.centred`` for
        ``forward`` to normalise in place (a subclass's statistics need not leave it).
        """
        order = axis_order(x)
        m = x.size // x.shape[1]
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (1, C, 1, ...)
        mean = (_channel_sums(_channel_rows(x, order)) / m).astype(x.dtype, copy=False)  # μ = Σ x / m   (C,)
        centred = np.subtract(x, mean.reshape(shape), out=empty_in_order(x.shape, order, x.dtype))  # x − μ
        rows = _channel_rows(centred, order)
        var = _channel_sums(rows, rows) / m  # σ² = Σ (x − μ)² / m, biased: the batch's own spread   (C,)
        self.centred = centred
        return mean, var, m

    def total_sums(self, sum_dy: np.ndarray, sum_dy_xhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ dY and Σ dY·x̂ over all the values the statistics were taken over: here, this batch's."""
        return sum_dy, sum_dy_xhat

    def backward(self, grad_out: np.ndarray) -> tuple:
        x_hat, inv_std, order = self.x_hat, self.inv_std, self.order
        shape = inv_std.shape  # (1, C, 1, ...)
        dy_rows = _channel_rows(grad_out, order)  # in x̂'s memory order, as x̂'s rows are
        sum_dy = _channel_sums(dy_rows).reshape(shape)  # Σ dY   (1, C, 1, ...)
        sum_dy_xhat = _channel_sums(dy_rows, _channel_rows(x_hat, order)).reshape(shape)  # Σ dY·x̂   (1, C, 1, ...)
        grad_x = grad_w = grad_b = None
        if self.needs_input_grad[0]:
            scale = inv_std if self.gamma is None else self.gamma * inv_std  # γ/σ   (1, C, 1, ...)
            if self.training:
                m = self.m
                all_dy, all_dy_xhat = self.total_sums(sum_dy, sum_dy_xhat)  # over the m values (all ranks')
                # dX = (1/m)·γ/σ·(m·dY − ΣdY − x̂·ΣdY·x̂) = γ/σ·(dY − ΣdY/m − x̂·ΣdY·x̂/m), pass by pass:
                grad_x = np.multiply(
                    x_hat, all_dy_xhat / m, out=empty_in_order(x_hat.shape, order, x_hat.dtype)
                )  # x̂·ΣdY·x̂/m
                np.subtract(grad_out, grad_x, out=grad_x)  # dY − x̂·ΣdY·x̂/m
                np.subtract(grad_x, all_dy / m, out=grad_x)  # dY − x̂·ΣdY·x̂/m − ΣdY/m
                np.multiply(grad_x, scale, out=grad_x)  # ·γ/σ
            else:
                grad_x = scale * grad_out  # μ, σ are constants: dX = γ/σ·dY
        if len(self.needs_input_grad) > 1 and self.needs_input_grad[1]:
            grad_w = sum_dy_xhat.reshape(-1)  # dγ = Σ dY·x̂
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_b = sum_dy.reshape(-1)  # dβ = Σ dY
        return grad_x, grad_w, grad_b


def check_writable_statistics(*statistics: Tensor | None) -> None:
    """A UsageError if training would update a read-only running statistic (a frozen module's)."""
    if any(t is not None and not t._array.flags.writeable for t in statistics):
        raise UsageError(
            "batch_norm(): training updates running_mean and running_var, which are read-only here "
            "(a frozen module, kernelwise.jit.freeze): call .eval(), or train the module it was frozen from"
        )


def _channel_vector(t: Any, name: str, input: Tensor) -> Tensor | None:
    """``t`` checked to be None or a (C,) float tensor of input's dtype."""
    if t is None:
        return None
    t = check_tensor(t, name)
    check_float(t, name)
    channels = input.shape[1]
    if t.shape != (channels,):
        raise UsageError(
            f"batch_norm(): {name} has shape {t.shape} but input of shape {input.shape} has {channels} channels; "
            f"expected shape ({channels},)"
        )
    if t.dtype != input.dtype:
        raise UsageTypeError(f"batch_norm(): {name} has dtype {t.dtype} but input has dtype {input.dtype}; cast one")
    return t


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel to zero mean and unit variance, then scale by γ and shift by β.

    In training the batch statistics normalise (biased variance) and ``running_mean`` and
    ``running_var`` are updated in place (their arrays), the variance unbiased:
    ``r = (1 - momentum)·r + momentum·batch_stat``. In evaluation the running statistics normalise.

    Args:
        input: float tensor (N, C, *).
        running_mean, running_var: (C,) tensors of running statistics; may be None in training.
        weight, bias: optional (C,) γ and β.
        training: use (and record) batch statistics.
        momentum: weight of the new batch statistic in the running average.
        eps: added to the variance before the square root.

    Shape:
        input (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)) -> output of the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.norm import batch_norm
        >>> x = kw.tensor([[1.0], [3.0]])
        >>> rm, rv = kw.zeros(1), kw.ones(1)
        >>> [round(v, 3) for v in batch_norm(x, rm, rv, training=True).numpy().ravel().tolist()]
        [-1.0, 1.0]
        >>> round(rm.item(), 4), round(rv.item(), 4)
        (0.2, 1.1)
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    if input.ndim < 2:
        raise UsageError(f"batch_norm(): input must be (N, C) or (N, C, *), got shape {input.shape}")
    running_mean = _channel_vector(running_mean, "running_mean", input)
    running_var = _channel_vector(running_var, "running_var", input)
    weight = _channel_vector(weight, "weight", input)
    bias = _channel_vector(bias, "bias", input)
    if training:
        values_per_channel = input.numel() // input.shape[1] if input.shape[1] else 0
        if values_per_channel <= 1:
            raise UsageError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        check_writable_statistics(running_mean, running_var)
    elif running_mean is None or running_var is None:
        raise UsageError("batch_norm(): running_mean and running_var must be given when training=False")
    if not eps >= 0:
        raise UsageError(f"batch_norm(): eps={eps} must be non-negative")
    return BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean=running_mean._array if running_mean is not None else None,
        running_var=running_var._array if running_var is not None else None,
        training=bool(training),
        momentum=float(momentum),
        eps=float(eps),
    )
