"""Losses: negative log-likelihood, cross-entropy and mean squared error.

Legend: N: batch, C: classes, d1, ...: extra dimensions (one prediction per position),
w: per-class weights, t: target class index, ε: label smoothing.

    nll_loss:       ℓ_n = -w[t_n] · logp[n, t_n]          (gather forward, scatter backward)
    cross_entropy:  ℓ_n = (1-ε)·nll_n + ε/C · (-Σ_c w_c · logp[n, c]),  logp = log_softmax(x, dim=1)
    mse_loss:       ℓ_i = (x_i - y_i)²

Reductions: ``'none'`` keeps ℓ, ``'sum'`` adds it up, ``'mean'`` divides the sum by
Σ w[t_n] over the non-ignored targets (by their count without weights) for class
indices, and by the number of elements otherwise, exactly as PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor
from .activation import log_softmax
from .shape import where

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise UsageError(f"reduction={reduction!r} is not one of 'none', 'mean', 'sum'")


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "sum":
        return np.asarray(loss.sum(), dtype=loss.dtype)
    if reduction == "mean":
        with np.errstate(invalid="ignore"):  # an empty batch gives NaN, as in PyTorch
            return np.asarray(loss.mean() if loss.size else np.nan, dtype=loss.dtype)
    return loss


def _expand_grad(grad_out: np.ndarray, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    """dL/dℓ for every element ℓ of an unreduced loss of ``shape``."""
    if reduction == "none":
        return grad_out
    n = int(np.prod(shape)) if reduction == "mean" else 1
    return np.broadcast_to(grad_out / max(n, 1), shape)  # 'mean': dL/dℓ_i = dL/dy / n


# --------------------------------------------------------------------------- nll_loss
class NLLLoss(Function):
    """ℓ_n = -w[t_n]·logp[n, t_n]; d ℓ_n / d logp[n, c] = -w[t_n] if c = t_n else 0.

    Forward gathers one value per position from the class axis (axis 1); backward
    scatters the gradient back to the same places and leaves zeros elsewhere. An ignored
    position is never read, as in PyTorch: its loss is 0 whatever its logp (-inf, NaN), and
    its gradient 0 even when every target is ignored and 'mean' is 0/0 = NaN.
    """

    def forward(
        self, logp: np.ndarray, target: np.ndarray, weight: np.ndarray, ignore_index: int, reduction: str
    ) -> np.ndarray:
        # logp (N, C, *d), target (N, *d), weight (C,)
        valid = target != ignore_index
        safe = np.where(valid, target, 0)  # ignored positions read class 0 with weight 0
        picked = np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]  # logp[n, t_n, ...]   (N, *d)
        w_t = weight[safe] * valid  # w[t_n], 0 where ignored   (N, *d)
        loss = np.zeros(picked.shape, dtype=logp.dtype)  # ignored: 0, never 0·logp (a -inf or NaN logit there)
        with np.errstate(invalid="ignore"):  # a class of weight 0 whose logp is -inf: 0·inf = NaN, as PyTorch
            np.multiply(-w_t, picked, out=loss, where=valid)  # ℓ_n = -w[t_n]·logp[n, t_n]
        total = w_t.sum()  # 'mean' divides by Σ w[t_n] over non-ignored targets
        if self.requires_grad:
            self.safe, self.valid, self.w_t, self.total = safe, valid, w_t, total
            self.shape, self.reduction = logp.shape, reduction
        if reduction == "none":
            return loss
        if reduction == "sum":
            return np.asarray(loss.sum(), dtype=logp.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # all targets ignored: NaN, as PyTorch
            return np.asarray(loss.sum() / total, dtype=logp.dtype)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # grad_out: dL/dℓ_n, per position for 'none', one value for 'sum'
        if self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                grad_out = grad_out / self.total  # dL/dℓ_n = dL/dy / Σ w[t_n]
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        values = np.zeros(self.w_t.shape, dtype=grad_out.dtype)  # ignored: 0, even where 'mean' divided by 0
        with np.errstate(invalid="ignore"):  # a target of weight 0 over Σ w = 0: 0·inf = NaN, as PyTorch
            np.multiply(-self.w_t, grad_out, out=values, where=self.valid)  # dL/dlogp[n, t_n] = -w[t_n]·dL/dℓ_n
        np.put_along_axis(grad, self.safe[:, None], values[:, None], axis=1)  # scatter back to the class axis
        return grad


def _check_weight(weight: Any, input: Tensor, num_classes: int) -> Tensor | None:
    if weight is None:
        return None
    weight = check_tensor(weight, "weight")
    check_float(weight, "weight")
    if weight.shape != (num_classes,):
        raise UsageError(
            f"weight: expected one weight per class, shape ({num_classes},) for input of shape {input.shape}, "
            f"got shape {weight.shape}"
        )
    if weight.dtype != input.dtype:
        raise UsageTypeError(f"weight: dtype {weight.dtype} differs from input's {input.dtype}; cast one")
    return weight


def _batched(input: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor, bool]:
    """Check index targets against ``input`` and give both a batch axis: (N, C, *d), (N, *d)."""
    if input.ndim == 0:
        raise UsageError(
            f"{name}(): input must have a class dimension, shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor"
        )
    if target.dtype.kind not in "iu":
        raise UsageTypeError(
            f"{name}(): target of class indices must have an integer dtype (int64), got {target.dtype}; "
            "class-probability targets must have the shape of input"
        )
    unbatched = input.ndim == 1
    if unbatched:
        if target.ndim != 0:
            raise UsageError(
                f"{name}(): for unbatched input of shape {input.shape} the target must be 0-d, got shape {target.shape}"
            )
        return input.reshape(1, input.shape[0]), target.reshape(1), True
    if target.ndim != input.ndim - 1:
        raise UsageError(
            f"{name}(): target of shape {target.shape} must have one dimension less than input of shape "
            f"{input.shape} (input (N, C, d1, ...) with target (N, d1, ...))"
        )
    if target.shape[0] != input.shape[0]:
        raise UsageError(
            f"{name}(): Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0]}): input shape {input.shape}, target shape {target.shape}"
        )
    if target.shape[1:] != input.shape[2:]:
        raise UsageError(
            f"{name}(): target shape {target.shape} does not match input shape {input.shape} "
            f"(expected target shape {(input.shape[0], *input.shape[2:])})"
        )
    return input, target, unbatched


def _tensors(input: Any, target: Any, reduction: str) -> tuple[Tensor, Tensor]:
    """``input`` (a float tensor) and ``target`` checked to be tensors, and ``reduction`` one of the three."""
    input = check_tensor(input, "input")
    target = check_tensor(target, "target")
    check_float(input, "input")
    _check_reduction(reduction)
    return input, target


def _class_targets(
    input: Tensor, target: Tensor, weight: Any, ignore_index: int, name: str
) -> tuple[Tensor, Tensor, Tensor | None, bool]:
    """Input and class-index target with a batch axis, (N, C, *d) and (N, *d), the checked weight, and unbatched."""
    x, t, unbatched = _batched(input, target, name)
    w = _check_weight(weight, input, x.shape[1])
    _check_targets(t._array, x.shape[1], ignore_index, name)
    return x, t, w, unbatched


def _check_targets(target: np.ndarray, num_classes: int, ignore_index: int, name: str) -> None:
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bad.any():
        value = int(target[bad].flat[0])
        raise UsageError(
            f"{name}(): target value {value} is out of range [0, {num_classes}) for C={num_classes} classes "
            f"(ignore_index={ignore_index})"
        )


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities.

    Args:
        input: log-probabilities (for example :func:`log_softmax`), float.
        target: class indices in [0, C) (or ``ignore_index``), integer dtype.
        weight: optional (C,) weight per class (not differentiated).
        ignore_index: target value that contributes neither loss nor gradient.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``; ``'mean'`` divides by Σ w[target] over non-ignored targets.

    Shape:
        input (N, C) or (N, C, d1, ...) or unbatched (C,); target (N,) or (N, d1, ...) or ();
        output: target's shape for ``'none'``, else a scalar.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.loss import nll_loss
        >>> logp = kw.tensor([[-0.5, -1.0], [-2.0, -0.25]])
        >>> nll_loss(logp, kw.tensor([0, 1])).item()
        0.375
    """
    input, target = _tensors(input, target, reduction)
    x, t, w, unbatched = _class_targets(input, target, weight, ignore_index, "nll_loss")
    w_data = w._array if w is not None else np.ones(x.shape[1], dtype=input.dtype)
    out = NLLLoss.apply(x, t._array, weight=w_data, ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


# --------------------------------------------------------------------------- cross_entropy
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities.

    ``logp = log_softmax(input, dim=1)``, then for class-index targets
    ``(1-ε)·nll_loss(logp, target) + ε/C · smooth`` with ``smooth_n = -Σ_c w_c·logp[n, c]``
    (0 at ignored targets, and for ``'mean'`` divided by the same Σ w[t_n] as nll_loss);
    for class-probability targets ``ℓ_n = -Σ_c w_c·q[n, c]·logp[n, c]`` with
    ``q = (1-ε)·target + ε/C``, and ``'mean'`` divides by the number of positions.

    Args:
        input: unnormalised logits, float.
        target: class indices (integer dtype, shape of input without the class dimension)
            or class probabilities (float, the shape of input).
        weight: optional (C,) weight per class.
        ignore_index: class-index target that contributes neither loss nor gradient.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: ε in [0, 1], the share of the target spread evenly over the C classes.

    Shape:
        input (N, C), (N, C, d1, ...) or unbatched (C,); target (N,), (N, d1, ...) or () for
        indices, input's shape for probabilities; output: target's shape without the class
        dimension for ``'none'``, else a scalar.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.loss import cross_entropy
        >>> logits = kw.tensor([[1000.0, 0.0], [0.0, 0.0]])
        >>> [round(v, 4) for v in cross_entropy(logits, kw.tensor([1, 1]), reduction="none").tolist()]
        [1000.0, 0.6931]
    """
    input, target = _tensors(input, target, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float | np.number):
        raise UsageTypeError(f"cross_entropy(): label_smoothing must be a number, got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise UsageError(f"cross_entropy(): label_smoothing={label_smoothing} must be in [0, 1]")
    eps = float(label_smoothing)
    if target.shape == input.shape and input.ndim > 0:
        return _cross_entropy_probabilities(input, target, weight, reduction, eps)

    x, t, w, unbatched = _class_targets(input, target, weight, ignore_index, "cross_entropy")
    num_classes = x.shape[1]
    logp = log_softmax(x, dim=1)  # (N, C, *d)
    nll = nll_loss(logp, t, w, ignore_index=ignore_index, reduction=reduction)
    if eps > 0:
        # smooth_n = -Σ_c w_c·logp[n, c], set to 0 where the target is ignored
        w_b = w.reshape((1, num_classes) + (1,) * (x.ndim - 2)) if w is not None else None  # (1, C, 1, ...)
        smooth = -((logp * w_b) if w_b is not None else logp).sum(dim=1)  # (N, *d)
        valid = t._array != ignore_index
        smooth = where(valid, smooth, 0.0)  # not smooth·0: an ignored row's -inf logit would make it NaN
        if reduction == "sum":
            smooth = smooth.sum()
        elif reduction == "mean":
            w_data = w._array if w is not None else np.ones(num_classes, dtype=input.dtype)
            total = w_data[np.where(valid, t._array, 0)][valid].sum()  # Σ w[t_n] over non-ignored (count without w)
            with np.errstate(invalid="ignore", divide="ignore"):
                smooth = smooth.sum() / input.dtype.type(total)
        nll = nll * (1.0 - eps) + smooth * (eps / num_classes)  # (1-ε)·nll + ε/C·smooth
    return nll.reshape(()) if unbatched and reduction == "none" else nll


def _cross_entropy_probabilities(input: Tensor, target: Tensor, weight: Any, reduction: str, eps: float) -> Tensor:
    """ℓ_n = -Σ_c w_c·q[n, c]·logp[n, c] for probability targets q (smoothed by ε)."""
    if target.dtype.kind != "f":
        raise UsageTypeError(
            f"cross_entropy(): target of the shape of input {input.shape} holds class probabilities and "
            f"must be floating point, got {target.dtype}"
        )
    if target.dtype != input.dtype:
        raise UsageTypeError(
            f"cross_entropy(): target dtype {target.dtype} differs from input's {input.dtype}; cast one"
        )
    class_dim = 0 if input.ndim == 1 else 1
    num_classes = input.shape[class_dim]
    w = _check_weight(weight, input, num_classes)
    logp = log_softmax(input, dim=class_dim)
    q = target * (1.0 - eps) + eps / num_classes if eps > 0 else target  # q = (1-ε)·target + ε/C
    terms = logp * q
    if w is not None:
        terms = terms * w.reshape((num_classes,) + (1,) * (input.ndim - class_dim - 1))  # w_c broadcast over d1, ...
    loss = -terms.sum(dim=class_dim)  # ℓ_n = -Σ_c w_c·q[n, c]·logp[n, c]
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        if loss.numel() == 0:
            return loss.sum() * np.nan
        return loss.mean()  # divided by the number of positions N·d1·..., as PyTorch
    return loss


# --------------------------------------------------------------------------- mse_loss
class MSELoss(Function):
    """ℓ_i = (x_i - y_i)²; dℓ_i/dx_i = 2(x_i - y_i) = -dℓ_i/dy_i."""

    def forward(self, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - y
        if self.requires_grad:
            self.diff, self.reduction = diff, reduction
        return _reduce(diff * diff, reduction)  # ℓ = (x - y)²

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad_out = _expand_grad(grad_out, self.diff.shape, self.reduction)  # dL/dℓ_i
        grad_x = 2 * self.diff * grad_out  # dL/dx = 2(x - y)·dL/dℓ
        grad_y = -grad_x if self.needs_input_grad[1] else None  # dL/dy = -2(x - y)·dL/dℓ
        return (grad_x if self.needs_input_grad[0] else None), grad_y


def mse_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared error, ℓ_i = (input_i - target_i)², reduced.

    Args:
        input: float tensor.
        target: float tensor of the same shape and dtype.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Shape:
        input and target of one shape (no broadcasting); output: that shape for ``'none'``, else a scalar.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.loss import mse_loss
        >>> mse_loss(kw.tensor([1.0, 2.0]), kw.tensor([0.0, 0.0])).item()
        2.5
    """
    input, target = _tensors(input, target, reduction)
    check_float(target, "target")
    if input.shape != target.shape:
        raise UsageError(
            f"mse_loss(): input shape {input.shape} and target shape {target.shape} differ "
            "(broadcasting is not done; reshape one)"
        )
    if input.dtype != target.dtype:
        raise UsageTypeError(f"mse_loss(): target dtype {target.dtype} differs from input's {input.dtype}; cast one")
    return MSELoss.apply(input, target, reduction=reduction)
