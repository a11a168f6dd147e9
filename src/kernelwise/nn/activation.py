"""Elementwise layers without weights: activations, softmax and dropout.

Each holds its hyperparameters and calls one function of
``kernelwise.nn.functional``; ``inplace`` is accepted for PyTorch
compatibility and always gives a new tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..random import generator as _generator
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["GELU", "Dropout", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh"]


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.ReLU()(kw.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope · x otherwise.

    Args:
        negative_slope: the slope for negative inputs.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.LeakyReLU(0.5)(kw.tensor([-2.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, int | float | np.integer | np.floating):
            raise TypeError(f"negative_slope={negative_slope!r}: expected a real number")
        self.negative_slope = negative_slope
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + e^(-x)); dy/dx = y(1 - y).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Sigmoid()(kw.tensor([0.0])).tolist()
        [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """y = tanh(x); dy/dx = 1 - y².

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Tanh()(kw.tensor([0.0])).tolist()
        [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class GELU(Module):
    """y = x · Φ(x), Φ the standard normal CDF (``approximate='tanh'``: its tanh approximation).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.GELU()
        GELU(approximate='none')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate={approximate!r}: should be 'none' or 'tanh'")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _check_dim(dim: Any) -> None:
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int | np.integer)):
        raise TypeError(f"dim={dim!r}: expected an int")


class Softmax(Module):
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along ``dim``.

    Args:
        dim: the dimension that sums to 1 (None: PyTorch's deprecated implicit choice, with a warning).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Softmax(dim=1)(kw.tensor([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        _check_dim(dim)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax(x)_i = x_i - log Σ_j e^(x_j) along ``dim``.

    Args:
        dim: the dimension to normalise over (None: PyTorch's deprecated implicit choice).

    Example:
        >>> import kernelwise as kw
        >>> round(kw.nn.LogSoftmax(dim=1)(kw.tensor([[0.0, 0.0]])).tolist()[0][0], 4)
        -0.6931
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        _check_dim(dim)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Dropout(Module):
    """Inverted dropout: in training zero each element with probability p and scale the rest by 1/(1-p).

    In evaluation mode (``eval()``) it is the identity. The masks come from the
    layer's own generator, so a seed gives the same masks on every run.

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: accepted for PyTorch compatibility.
        generator: an int seed (the layer makes its own ``numpy.random.Generator`` from it),
            a Generator, or None (the default generator at each call, see ``kw.manual_seed``).

    Example:
        >>> import kernelwise as kw
        >>> drop = kw.nn.Dropout(0.5, generator=0)
        >>> sorted(set(drop(kw.ones(100)).tolist()))
        [0.0, 2.0]
        >>> drop.eval()(kw.ones(3)).tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: Any = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got p={p!r}")
        self.p = p
        self.inplace = bool(inplace)
        self.generator = None if generator is None else _generator(generator)

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
