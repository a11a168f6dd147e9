"""Elementwise layers without weights: activations, softmax and dropout.

Each holds its hyperparameters and calls one function of
``kernelwise.nn.functional``; ``inplace`` is accepted for PyTorch
compatibility and always gives a new tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..random import generator as _generator
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "ELU",
    "GELU",
    "Dropout",
    "Hardtanh",
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]


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
            raise UsageTypeError(f"negative_slope={negative_slope!r}: expected a real number")
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
            raise UsageError(f"approximate={approximate!r}: should be 'none' or 'tanh'")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _real(value: Any, name: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{name}={value!r}: expected a real number")
    return value


class ELU(Module):
    """y = x for x > 0, α(eˣ − 1) otherwise; dy/dx = 1 for x > 0, αeˣ otherwise.

    Args:
        alpha: α, the negative side tends to −α.
        inplace: accepted for PyTorch compatibility.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.ELU(alpha=2.0)(kw.tensor([1.0, 0.0])).tolist(), kw.nn.ELU()
        ([1.0, 0.0], ELU(alpha=1.0))
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _real(alpha, "alpha")
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SiLU(Module):
    """y = x·σ(x) (swish); dy/dx = σ(x)(1 + x(1 − σ(x))).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.SiLU()(kw.tensor([0.0])).tolist()
        [0.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Hardtanh(Module):
    """y = x clipped to [min_val, max_val]; dy/dx = 1 strictly inside, 0 elsewhere.

    Args:
        min_val, max_val: the range (min_val <= max_val).
        inplace: accepted for PyTorch compatibility.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Hardtanh()(kw.tensor([-2.0, 0.5, 2.0])).tolist(), kw.nn.Hardtanh(-2, 2)
        ([-1.0, 0.5, 1.0], Hardtanh(min_val=-2, max_val=2))
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val = _real(min_val, "min_val")
        self.max_val = _real(max_val, "max_val")
        if self.min_val > self.max_val:
            raise UsageError(f"Hardtanh: min_val={min_val} cannot be greater than max_val={max_val}")
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """y = min(max(x, 0), 6): :class:`Hardtanh` on [0, 6].

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.ReLU6()(kw.tensor([-1.0, 7.0])).tolist(), kw.nn.ReLU6()
        ([0.0, 6.0], ReLU6())
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Softplus(Module):
    """y = log(1 + e^(βx)) / β (y = x where βx > threshold); dy/dx = σ(βx).

    Args:
        beta: β, the sharpness.
        threshold: above this βx the function is taken as linear.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Softplus()
        Softplus(beta=1.0, threshold=20.0)
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _real(beta, "beta")
        self.threshold = _real(threshold, "threshold")

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _check_dim(dim: Any) -> None:
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int | np.integer)):
        raise UsageTypeError(f"dim={dim!r}: expected an int")


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
            raise UsageError(f"dropout probability has to be between 0 and 1, but got p={p!r}")
        self.p = p
        self.inplace = bool(inplace)
        self.generator = None if generator is None else _generator(generator)

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
