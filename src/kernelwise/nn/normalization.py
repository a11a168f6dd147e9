"""Batch normalisation layers: BatchNorm1d, BatchNorm2d and SyncBatchNorm.

# N: batch, C: channels (num_features), L/H/W: lengths

In training each channel is normalised with the statistics of the batch,
y = (x - mean_B) / √(var_B + eps) · γ + β, and the running statistics move
towards them, r ← (1 - momentum)·r + momentum·batch_stat (the variance
unbiased). In evaluation the running statistics normalise instead.

SyncBatchNorm takes the batch statistics over every rank's batch of a data-parallel job (see
:mod:`kernelwise.distributed`): rank r holds m_r values of a channel with mean μ_r and sum of squared
deviations S_r = m_r·σ²_r; the ranks exchange (m_r, μ_r, S_r) and each combines them in rank order,
    m = Σ m_r,   μ = Σ m_r·μ_r / m,   σ² = Σ (S_r + m_r·(μ_r − μ)²) / m
(Chan et al.'s pairwise update: no sum of squares of large values cancels). Backward needs Σ dY and
Σ dY·x̂ over every rank's values too (one all-reduce of both); dγ and dβ stay this rank's sums, which
DistributedDataParallel averages with the other gradients, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import distributed as dist
from ..errors import UsageError
from ..ops._args import check_float, check_tensor
from ..ops.norm import BatchNorm, check_writable_statistics
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, parameter_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"]


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
            check_writable_statistics(self.running_mean, self.running_var, self.num_batches_tracked)
            self.num_batches_tracked._array += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())  # cumulative average of all batches
        # batch statistics in training, and in evaluation when no running statistics are kept
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats  # pass the buffers only where they are used
        running_mean, running_var = (self.running_mean, self.running_var) if track else (None, None)
        return self._batch_norm(input, running_mean, running_var, use_batch_stats, momentum)

    def _batch_norm(
        self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, training: bool, momentum: float
    ) -> Tensor:
        """The normalisation itself: ``F.batch_norm`` with this layer's γ, β and eps."""
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, training, momentum, self.eps)

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


class _SyncBatchNorm(BatchNorm):
    """:class:`~kernelwise.ops.norm.BatchNorm` with its statistics and gradient sums over every rank's batch."""

    def batch_statistics(self, x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
        channels = x.shape[1]
        m_r = x.size // channels  # values per channel on this rank (may be 0)
        mean_r = x.mean(axis=axes, dtype=np.float64) if m_r else np.zeros(channels)  # μ_r
        squares_r = x.var(axis=axes, dtype=np.float64) * m_r if m_r else np.zeros(channels)  # S_r = m_r·σ²_r
        mine = Tensor._make(np.concatenate([[m_r], mean_r, squares_r]))  # (1 + 2C,)
        everyone = [Tensor._make(np.empty_like(mine._array)) for _ in range(dist.get_world_size())]
        dist.all_gather(everyone, mine)
        gathered = np.stack([t._array for t in everyone])  # (ranks, 1 + 2C), the same on every rank
        counts, means, squares = gathered[:, :1], gathered[:, 1 : 1 + channels], gathered[:, 1 + channels :]
        m = int(counts.sum())
        if m <= 1:
            raise UsageError(f"SyncBatchNorm: expected more than 1 value per channel when training, got {m} in all")
        mean = (counts * means).sum(axis=0) / m  # μ = Σ m_r·μ_r / m
        var = (squares + counts * (means - mean) ** 2).sum(axis=0) / m  # σ² = Σ (S_r + m_r·(μ_r − μ)²) / m
        return mean, var, m

    def total_sums(self, sum_dy: np.ndarray, sum_dy_xhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = dist.all_reduce_array(np.concatenate([sum_dy.ravel(), sum_dy_xhat.ravel()]), dist.ReduceOp.SUM)
        channels = sum_dy.size
        return both[:channels].reshape(sum_dy.shape), both[channels:].reshape(sum_dy_xhat.shape)


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics are those of the whole batch across all ranks.

    In a data-parallel job each rank normalises its share with the mean and variance of every rank's
    values together (the module docstring says how they are combined), so N ranks compute what one
    process computes on the whole batch, forward and backward, also when the shares differ in size; the
    running statistics move towards the same global statistics on every rank (the variance unbiased over
    the global count). In evaluation, in a world of one process and before ``init_process_group``, it is
    :class:`BatchNorm2d` (any (N, C, *) input). Make a model's BatchNorm layers synchronised with
    :meth:`convert_sync_batchnorm`.

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as :class:`BatchNorm1d`'s.
        process_group: PyTorch's; only None (the default group).

    Shape:
        (N, C, *) -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise import nn
        >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
        >>> model[1]
        SyncBatchNorm(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

    _input_dims = (2, 3, 4, 5)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        if process_group is not None:
            raise UsageError("SyncBatchNorm: process_group must be None (the default group)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)

    def _batch_norm(
        self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, training: bool, momentum: float
    ) -> Tensor:
        if not (training and dist.is_initialized() and dist.get_world_size() > 1):
            return super()._batch_norm(input, running_mean, running_var, training, momentum)  # BatchNorm
        check_float(check_tensor(input, "input"), "input")
        return _SyncBatchNorm.apply(
            input,
            self.weight,
            self.bias,
            running_mean=None if running_mean is None else running_mean._array,
            running_var=None if running_var is None else running_var._array,
            training=True,
            momentum=float(momentum),
            eps=float(self.eps),
        )

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same parameters and buffers.

        As PyTorch's: the new layers keep the very Parameter and buffer objects (an optimizer made before
        still updates them) and the training mode; a BatchNorm given itself is returned converted.
        """
        converted = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            for name in ("weight", "bias"):
                converted.register_parameter(name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                converted.register_buffer(name, getattr(module, name))
            converted.training = module.training
        for name, child in module.named_children():
            converted.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return converted
