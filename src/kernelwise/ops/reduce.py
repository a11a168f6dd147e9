"""Reductions: sum, mean, max and min over some axes.

Backward puts the gradient of each reduced value back on the elements it came
from: all of them for sum (mean: divided by their count), the extreme ones for
amax/amin (shared equally among ties), the one whose index it returns for
max/min along a dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor, _axis_tuple


def _expand(grad_out: np.ndarray, axes: tuple[int, ...], keepdims: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduced gradient back to the input's shape (a read-only view)."""
    if not keepdims:
        grad_out = np.expand_dims(grad_out, axes)
    return np.broadcast_to(grad_out, shape)


class Sum(Function):
    """y = Σ x over ``axes``; dy/dx = 1 for every summed element."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        self.axes, self.keepdims, self.shape = axes, keepdims, x.shape
        integer = x.dtype.kind in "biu"  # bool and integer sums are int64, as in PyTorch
        return np.asarray(x.sum(axis=axes, keepdims=keepdims, dtype=np.int64 if integer else None))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return _expand(grad_out, self.axes, self.keepdims, self.shape)


class Mean(Function):
    """y = Σ x / n over ``axes``; dy/dx = 1/n."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        self.axes, self.keepdims, self.shape = axes, keepdims, x.shape
        self.count = int(np.prod([x.shape[a] for a in axes]))
        return np.asarray(x.mean(axis=axes, keepdims=keepdims))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return _expand(grad_out / max(self.count, 1), self.axes, self.keepdims, self.shape)


class Extremum(Function):
    """y = max (or min) of x over ``axes``; the gradient goes to the elements equal to y,
    shared equally when several are (PyTorch's amax/amin rule)."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool, op: Callable) -> np.ndarray:
        if x.size == 0:
            raise UsageError(f"{op.__name__}(): the tensor of shape {x.shape} is empty")
        out = op(x, axis=axes, keepdims=True)
        if self.requires_grad:
            self.axes, self.keepdims, self.shape = axes, keepdims, x.shape
            self.mask = x == out
        return np.asarray(out if keepdims else np.squeeze(out, axis=axes))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        share = self.mask / self.mask.sum(axis=self.axes, keepdims=True)
        return _expand(grad_out, self.axes, self.keepdims, self.shape) * share.astype(grad_out.dtype)


def extremum_with_indices(input: Tensor, dim: int, keepdim: bool, largest: bool) -> Any:
    """``(values, indices)`` of the largest (smallest) value along ``dim``, as ``torch.max(input, dim)``.

    The index is the first occurrence of the extreme value (NaN counts as extreme, as in PyTorch),
    and the whole gradient of each value goes to that one index (not shared among ties: that is
    ``amax``'s rule).
    """
    from .. import return_types
    from .shape import TakeAlong

    name = "max" if largest else "min"
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise UsageTypeError(f"{name}(): dim must be an int, got {dim!r} (for several dimensions use a{name})")
    (axis,) = _axis_tuple(dim, input.ndim, "dim")
    x = input if input.ndim else input.reshape(1)
    if x.shape[axis] == 0:
        raise UsageError(f"{name}(): dimension {dim} of the tensor of shape {input.shape} is empty")
    arg = np.argmax if largest else np.argmin
    indices = arg(x._array, axis=axis, keepdims=True)  # first extreme value (or first NaN) along the axis
    values = TakeAlong.apply(x, indices=indices, axis=axis)
    if not keepdim or input.ndim == 0:
        values, indices = values.squeeze(axis), np.squeeze(indices, axis)
    result = return_types.max if largest else return_types.min
    return result(values, Tensor._make(indices.astype(np.int64, copy=False)))
