"""Loss layers: CrossEntropyLoss, NLLLoss and MSELoss.

A class weight, when given, is a buffer (as in PyTorch): it moves with
``to(dtype)`` and is saved in ``state_dict``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "MSELoss", "NLLLoss"]

_REDUCTIONS = ("none", "mean", "sum")


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise UsageError(f"reduction={reduction!r}: should be one of {_REDUCTIONS}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if weight is not None:
            if not isinstance(weight, Tensor):
                raise UsageTypeError(f"weight: expected a Tensor of one weight per class, got {type(weight).__name__}")
            if weight.ndim != 1 or weight.dtype.kind != "f":
                raise UsageError(f"weight: expected a 1-D float tensor (C,), got shape {weight.shape} {weight.dtype}")
        self.register_buffer("weight", weight)


def _check_ignore_index(ignore_index: int) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
        raise UsageTypeError(f"ignore_index={ignore_index!r}: expected an int")
    return int(ignore_index)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits and targets: ℓ_n = -w[t_n] · log softmax(x_n)[t_n].

    Args:
        weight: optional (C,) weight per class.
        ignore_index: target value that contributes neither loss nor gradient.
        reduction: ``'none'`` | ``'mean'`` (divided by Σ w[t_n]) | ``'sum'``.
        label_smoothing: ε in [0, 1], the share of the target spread evenly over the C classes.

    Shape:
        input (N, C) logits, target (N,) class indices (or (N, C) probabilities) -> a scalar
        (``'none'``: (N,)); also (N, C, d1, ...) with target (N, d1, ...).

    Example:
        >>> import kernelwise as kw
        >>> loss = kw.nn.CrossEntropyLoss()
        >>> round(loss(kw.tensor([[0.0, 0.0]]), kw.tensor([1])).item(), 4)  # log 2
        0.6931
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, reduction)
        self.ignore_index = _check_ignore_index(ignore_index)
        if (
            isinstance(label_smoothing, bool)
            or not isinstance(label_smoothing, int | float | np.integer | np.floating)
            or not 0 <= label_smoothing <= 1
        ):
            raise UsageError(f"label_smoothing={label_smoothing!r}: must be a number in [0, 1]")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: ℓ_n = -w[t_n] · input[n, t_n].

    Args:
        weight: optional (C,) weight per class.
        ignore_index: target value that contributes neither loss nor gradient.
        reduction: ``'none'`` | ``'mean'`` (divided by Σ w[t_n]) | ``'sum'``.

    Shape:
        input (N, C) log-probabilities, target (N,) class indices -> a scalar (``'none'``: (N,)).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.NLLLoss()(kw.tensor([[-0.5, -1.0], [-2.0, -0.25]]), kw.tensor([0, 1])).item()
        0.375
    """

    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = _check_ignore_index(ignore_index)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error: ℓ_i = (input_i - target_i)², reduced.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.MSELoss()(kw.tensor([1.0, 2.0]), kw.tensor([0.0, 0.0])).item()
        2.5
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)
