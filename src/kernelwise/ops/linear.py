"""The fully connected (linear) layer: y = x·Wᵀ + b over any leading dimensions.

It is the MLP's "vector to vector" map of the recitation. Leading dimensions are
flattened into one batch dimension for the backward matmuls:

    Forward:  [M, in] @ [in, out] -> [M, out]         Y  = X · Wᵀ + b
    Backward: [M, out] @ [out, in] -> [M, in]         dX = dY · W
              [out, M] @ [M, in]  -> [out, in]        dW = dYᵀ · X
              Σ over M of [M, out] -> [out]           db = Σ dY

Legend: M: all leading dimensions flattened (batch), in: in_features, out: out_features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor
from .gemm import matmul


class Linear(Function):
    """Y = X · Wᵀ + b; dX = dY · W, dW = dYᵀ · X, db = Σ dY."""

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if self.requires_grad:
            self.x, self.w = x, w
        out = matmul(x, w.T)  # (*, in) @ (in, out) -> (*, out)
        return out + b if b is not None else out

    def backward(self, grad_out: np.ndarray) -> tuple:
        x, w = self.x, self.w
        grad_x = grad_w = grad_b = None
        if self.needs_input_grad[0]:
            grad_x = matmul(grad_out, w)  # dL/dX = dL/dY · W        (*, out) @ (out, in) -> (*, in)
        grad_out_2d = grad_out.reshape(-1, w.shape[0])  # (M, out)
        if self.needs_input_grad[1]:
            x2 = x.reshape(-1, w.shape[1])  # (M, in)
            grad_w = matmul(grad_out_2d.T, x2)  # dL/dW = dL/dYᵀ · X       (out, M) @ (M, in) -> (out, in)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_b = grad_out_2d.sum(axis=0)  # dL/db = Σ over the batch of dL/dY   (out,)
        return grad_x, grad_w, grad_b


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Apply y = x·Wᵀ + b to the last dimension of ``input``.

    Args:
        input: float tensor whose last dimension holds the ``in_features`` values.
        weight: (out_features, in_features) weight matrix W, same dtype as ``input``.
        bias: optional (out_features,) bias b.

    Shape:
        input (*, in_features), weight (out_features, in_features), bias (out_features,)
        -> output (*, out_features); ``*`` is any number of leading dimensions (none included).

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.linear import linear
        >>> x = kw.tensor([[1.0, 2.0]])
        >>> w = kw.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
        >>> linear(x, w, kw.tensor([0.5, 0.0, 0.0])).tolist()
        [[1.5, 3.0, -2.0]]
    """
    input = check_tensor(input, "input")
    weight = check_tensor(weight, "weight")
    check_float(input, "input")
    check_float(weight, "weight")
    if input.ndim == 0:
        raise UsageError("linear(): input must have at least 1 dimension (the features), got a 0-d tensor")
    if weight.ndim != 2:
        raise UsageError(f"linear(): weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.shape[-1] != weight.shape[1]:
        raise UsageError(
            f"linear(): input of shape {input.shape} has in_features={input.shape[-1]} but weight of shape "
            f"{weight.shape} expects in_features={weight.shape[1]}"
        )
    _check_same_dtype(input, weight, "weight")
    args: list[Any] = [input, weight]
    if bias is not None:
        bias = check_tensor(bias, "bias")
        check_float(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise UsageError(
                f"linear(): bias must have shape ({weight.shape[0]},) to match weight of shape {weight.shape}, "
                f"got {bias.shape}"
            )
        _check_same_dtype(input, bias, "bias")
        args.append(bias)
    return Linear.apply(*args)


def _check_same_dtype(input: Tensor, other: Tensor, name: str) -> None:
    if other.dtype != input.dtype:
        raise UsageTypeError(
            f"linear(): {name} has dtype {other.dtype} but input has dtype {input.dtype}; "
            "cast one with .float() or .double()"
        )
