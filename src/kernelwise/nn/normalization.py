"""Batch normalisation layers: BatchNorm1d and BatchNorm2d.

# N: batch, C: channels (num_features), L/H/W: lengths

In training each channel is normalised with the statistics of the batch,
y = (x - mean_B) / √(var_B + eps) · γ + β, and the running statistics move
towards them, r ← (1 - momentum)·r + momentum·batch_stat (the variance
unbiased). In evaluation the running statistics normalise instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, parameter_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Batch normalisation over the channel dimension (dim 1) of an input with ``_input_dims`` dimensions."""

    _input_dims: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        device: Any = None,
        dtype: Any = np.float32,
        bias: bool = True,
    ) -> None:
        super().__init__()
        lazy = num_features is None  # a lazy layer: num_features comes with the first input
        if not lazy and (
            isinstance(num_features, bool) or not isinstance(num_features, int | np.integer) or num_features < 1
        ):
            raise UsageError(f"num_features={num_features!r}: must be a positive int")
        if isinstance(eps, bool) or not isinstance(eps, int | float | np.integer | np.floating) or not eps > 0:
            raise UsageError(f"eps={eps!r}: must be a positive number")
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, int | float | np.integer | np.floating)
            or not 0 <= momentum <= 1
        ):
            raise UsageError(f"momentum={momentum!r}: must be a number in [0, 1] or None (cumulative average)")
        dt = parameter_dtype(device, dtype)
        self.num_features = 0 if lazy else int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.empty(self.num_features, dtype=dt))  # γ
            if bias:
                self.bias = Parameter(np.empty(self.num_features, dtype=dt))  # β
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """γ, β and the running statistics: one value per channel, (C,)."""
        return {name: (self.num_features,) for name in ("weight", "bias", "running_mean", "running_var")}

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var._array[...] = 1
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """PyTorch's default: γ = 1 and β = 0, so the layer starts as plain standardisation."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dims(self, input: Tensor) -> None:
        if input.ndim not in self._input_dims:
            dims = " or ".join(f"{d}D" for d in self._input_dims)
            raise UsageError(f"{type(self).__name__}: expected {dims} input, got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        if isinstance(input, Tensor):
            self._check_input_dims(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._array += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())  # cumulative average of all batches
        # batch statistics in training, and in evaluation when no running statistics are kept
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats  # pass the buffers only where they are used
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C.

    Args:
        num_features: C.
        eps: added to the variance before the square root.
        momentum: weight of the new batch statistic in the running statistics
            (None: cumulative average over all batches).
        affine: learn a scale γ (weight) and shift β (bias).
        track_running_stats: keep running statistics for evaluation (else batch statistics are always used).
        device: ``'cpu'`` or None (kernelwise computes on the CPU only).
        dtype: dtype of the parameters and running statistics (None: float32).
        bias: learn β (when ``affine``).

    Shape:
        (N, C) or (N, C, L) -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> bn = kw.nn.BatchNorm1d(1)
        >>> y = bn(kw.tensor([[1.0], [3.0]]))  # batch mean 2, biased variance 1
        >>> [round(v, 4) for v in y.numpy().ravel().tolist()], round(bn.running_mean.item(), 4)
        ([-1.0, 1.0], 0.2)
        >>> bn.num_batches_tracked.item(), bn.eval()(kw.tensor([[0.2]])).tolist()  # eval: running statistics
        (1, [[0.0]])
    """

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C (statistics over N, H and W).

    Arguments as :class:`BatchNorm1d`.

    Shape:
        (N, C, H, W) -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.BatchNorm2d(6)
        BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
        >>> list(kw.nn.BatchNorm2d(6).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _input_dims = (4,)
