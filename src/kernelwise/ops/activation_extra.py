"""More activations, as ``torch.nn.functional``: elu, silu, softplus, hardtanh and relu6.

Each is elementwise, with its derivative on the line that computes it. Where PyTorch picks a
derivative at a kink, the same one is picked here: ELU's at 0 is α (the left side), hardtanh's
and ReLU6's at ``min_val`` and ``max_val`` are 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor
from .activation import sigmoid


def _number(value: Any, fn: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{fn}(): {name} must be a number, got {value!r}")
    return float(value)


def _float_input(input: Any) -> Tensor:
    input = check_tensor(input, "input")
    check_float(input, "input")
    return input


class ELU(Function):
    """y = x for x > 0, α(eˣ − 1) otherwise; dy/dx = 1 for x > 0, αeˣ otherwise."""

    def forward(self, x: np.ndarray, alpha: float) -> np.ndarray:
        positive = x > 0
        negative_part = np.minimum(x, 0)  # eˣ only where x <= 0: never overflows
        if self.requires_grad:
            self.positive, self.negative_part, self.alpha = positive, negative_part, alpha
        return np.where(positive, x, x.dtype.type(alpha) * np.expm1(negative_part))  # α(eˣ − 1) = α·expm1(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        alpha = grad_out.dtype.type(self.alpha)
        return np.where(self.positive, grad_out, grad_out * alpha * np.exp(self.negative_part))  # dL/dy · (1 or αeˣ)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: y = x for x > 0, α(eˣ − 1) otherwise, elementwise.

    Args:
        input: float tensor.
        alpha: the value the negative side tends to is −α.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation_extra import elu
        >>> [round(v, 4) for v in elu(kw.tensor([-1.0, 0.0, 2.0])).tolist()]
        [-0.6321, 0.0, 2.0]
    """
    return ELU.apply(_float_input(input), alpha=_number(alpha, "elu", "alpha"))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish): y = x·σ(x), elementwise; dy/dx = σ(x) + x·σ(x)(1 − σ(x)) by the product rule.

    Args:
        input: float tensor.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation_extra import silu
        >>> [round(v, 4) for v in silu(kw.tensor([-1.0, 0.0, 2.0])).tolist()]
        [-0.2689, 0.0, 1.7616]
    """
    input = _float_input(input)
    return input * sigmoid(input)  # SiLU(x) = x·σ(x)


class Softplus(Function):
    """y = log(1 + e^(βx)) / β, or x where βx > threshold; dy/dx = σ(βx), or 1 where βx > threshold."""

    def forward(self, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        z = x * x.dtype.type(beta)  # z = βx
        linear = z > threshold  # far right: log(1 + e^z)/β = x to within rounding
        soft = np.logaddexp(x.dtype.type(0), z)  # log(1 + e^z), never overflows
        if self.requires_grad:
            self.z, self.soft, self.linear = z, soft, linear
        return np.where(linear, x, soft / x.dtype.type(beta))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        sigma = np.exp(self.z - self.soft)  # σ(z) = e^z / (1 + e^z) = exp(z − log(1 + e^z))
        return np.where(self.linear, grad_out, grad_out * sigma)  # dL/dx = dL/dy · σ(βx) (or 1)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """A smooth ReLU: y = log(1 + e^(βx)) / β, and y = x where βx > threshold, elementwise.

    Args:
        input: float tensor.
        beta: the sharpness β (larger: closer to ReLU).
        threshold: above this βx the function is taken as linear.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation_extra import softplus
        >>> [round(v, 4) for v in softplus(kw.tensor([-1.0, 0.0, 30.0])).tolist()]
        [0.3133, 0.6931, 30.0]
    """
    input = _float_input(input)
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    if beta == 0:
        raise UsageError("softplus(): beta must not be 0 (the function divides by it)")
    return Softplus.apply(input, beta=beta, threshold=threshold)


class Hardtanh(Function):
    """y = min(max(x, min_val), max_val); dy/dx = 1 strictly between the two, 0 elsewhere (at them too)."""

    def forward(self, x: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        if self.requires_grad:
            self.inside = (x > min_val) & (x < max_val)
        return np.clip(x, x.dtype.type(min_val), x.dtype.type(max_val))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.inside  # dL/dx = dL/dy where min_val < x < max_val, else 0


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val], elementwise.

    Args:
        input: float tensor.
        min_val, max_val: the range (min_val <= max_val).
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation_extra import hardtanh
        >>> hardtanh(kw.tensor([-3.0, 0.5, 3.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    input = _float_input(input)
    min_val = _number(min_val, "hardtanh", "min_val")
    max_val = _number(max_val, "hardtanh", "max_val")
    if min_val > max_val:
        raise UsageError(f"hardtanh(): min_val={min_val} cannot be greater than max_val={max_val}")
    return Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """y = min(max(x, 0), 6), elementwise: hardtanh with the range [0, 6].

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation_extra import relu6
        >>> relu6(kw.tensor([-1.0, 3.0, 8.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0)
