"""Reductions: sum, mean, max and min over some axes.

Backward puts the gradient of each reduced value back on the elements it came
from: all of them for sum (mean: divided by their count), the extreme ones for
max/min (shared equally among ties).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..tensor import Function


def _expand(grad_out: np.ndarray, axes: tuple[int, ...], keepdims: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduced gradient back to the input's shape (a read-only view)."""
    g = grad_out if keepdims else np.expand_dims(grad_out, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    """y = Σ x over ``axes``; dy/dx = 1 for every summed element."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        self.axes, self.keepdims, self.shape = axes, keepdims, x.shape
        return np.asarray(x.sum(axis=axes, keepdims=keepdims))

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
            raise ValueError(f"{op.__name__}(): the tensor of shape {x.shape} is empty")
        out = op(x, axis=axes, keepdims=True)
        if self.requires_grad:
            self.axes, self.keepdims, self.shape = axes, keepdims, x.shape
            self.mask = x == out
        return np.asarray(out if keepdims else np.squeeze(out, axis=axes))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        share = self.mask / self.mask.sum(axis=self.axes, keepdims=True)
        return _expand(grad_out, self.axes, self.keepdims, self.shape) * share.astype(grad_out.dtype)
