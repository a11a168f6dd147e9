"""Elementwise layers without weights: activations, softmax and dropout.

Each holds its hyperparameters and calls one function of
``kernelwise.nn.functional``; ``inplace`` is accepted for PyTorch
compatibility and always gives a new tensor.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _real(value: Any, name: str) -> float | int:
    """A hyperparameter that must be a real number, or a TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{name}={value!r}: expected a real number")
    return value


class _Elementwise(Module):
    """A layer without weights: ``forward(input)`` is ``_function(input, **hyperparameters)``.

    A subclass names its functional (``_function``) and the attributes passed to it
    (``_hyperparameters``, in its order); ``extra_repr`` shows them as ``name=value``,
    ``inplace`` only when it is True.
    """

    _function: Callable[..., Tensor]
    _hyperparameters: tuple[str, ...] = ()

    def _arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._hyperparameters}

    def forward(self, input: Tensor) -> Tensor:
        return self._function(input, **self._arguments())

    def extra_repr(self) -> str:
        shown = [(name, value) for name, value in self._arguments().items() if name != "inplace" or value]
        return ", ".join(f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}" for name, value in shown)


class ReLU(_Elementwise):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.ReLU()(kw.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    _function = staticmethod(F.relu)
    _hyperparameters = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)


class LeakyReLU(_Elementwise):
    """y = x for x > 0, negative_slope · x otherwise.

    Args:
        negative_slope: the slope for negative inputs.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.LeakyReLU(0.5)(kw.tensor([-2.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    _function = staticmethod(F.leaky_relu)
    _hyperparameters = ("negative_slope", "inplace")

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _real(negative_slope, "negative_slope")
        self.inplace = bool(inplace)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + e^(-x)); dy/dx = y(1 - y).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Sigmoid()(kw.tensor([0.0])).tolist()
        [0.5]
    """

    _function = staticmethod(F.sigmoid)


class Tanh(_Elementwise):
    """y = tanh(x); dy/dx = 1 - y².

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Tanh()(kw.tensor([0.0])).tolist()
        [0.0]
    """

    _function = staticmethod(F.tanh)


class GELU(_Elementwise):
    """y = x · Φ(x), Φ the standard normal CDF (``approximate='tanh'``: its tanh approximation).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.GELU()
        GELU(approximate='none')
    """

    _function = staticmethod(F.gelu)
    _hyperparameters = ("approximate",)

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise UsageError(f"approximate={approximate!r}: should be 'none' or 'tanh'")
        self.approximate = approximate


class ELU(_Elementwise):
    """y = x for x > 0, α(eˣ − 1) otherwise; dy/dx = 1 for x > 0, αeˣ otherwise.

    Args:
        alpha: α, the negative side tends to −α.
        inplace: accepted for PyTorch compatibility.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.ELU(alpha=2.0)(kw.tensor([1.0, 0.0])).tolist(), kw.nn.ELU()
        ([1.0, 0.0], ELU(alpha=1.0))
    """

    _function = staticmethod(F.elu)
    _hyperparameters = ("alpha", "inplace")

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _real(alpha, "alpha")
        self.inplace = bool(inplace)


class SiLU(_Elementwise):
    """y = x·σ(x) (swish); dy/dx = σ(x)(1 + x(1 − σ(x))).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.SiLU()(kw.tensor([0.0])).tolist(), kw.nn.SiLU(inplace=True)
        ([0.0], SiLU(inplace=True))
    """

    _function = staticmethod(F.silu)
    _hyperparameters = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)


class Hardtanh(_Elementwise):
    """y = x clipped to [min_val, max_val]; dy/dx = 1 strictly inside, 0 elsewhere.

    Args:
        min_val, max_val: the range (min_val <= max_val).
        inplace: accepted for PyTorch compatibility.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Hardtanh()(kw.tensor([-2.0, 0.5, 2.0])).tolist(), kw.nn.Hardtanh(-2, 2)
        ([-1.0, 0.5, 1.0], Hardtanh(min_val=-2, max_val=2))
    """

    _function = staticmethod(F.hardtanh)
    _hyperparameters = ("min_val", "max_val", "inplace")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val = _real(min_val, "min_val")
        self.max_val = _real(max_val, "max_val")
        if self.min_val > self.max_val:
            raise UsageError(f"Hardtanh: min_val={min_val} cannot be greater than max_val={max_val}")
        self.inplace = bool(inplace)


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
        return "inplace=True" if self.inplace else ""  # the range is in the name


class Softplus(_Elementwise):
    """y = log(1 + e^(βx)) / β (y = x where βx > threshold); dy/dx = σ(βx).

    Args:
        beta: β, the sharpness.
        threshold: above this βx the function is taken as linear.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Softplus()
        Softplus(beta=1.0, threshold=20.0)
    """

    _function = staticmethod(F.softplus)
    _hyperparameters = ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _real(beta, "beta")
        self.threshold = _real(threshold, "threshold")


class _AlongDim(_Elementwise):
    """A layer that normalises along ``dim`` (None: PyTorch's deprecated implicit choice, with a warning)."""

    _hyperparameters = ("dim",)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int | np.integer)):
            raise UsageTypeError(f"dim={dim!r}: expected an int")
        self.dim = dim


class Softmax(_AlongDim):
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along ``dim``, the dimension that sums to 1.

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Softmax(dim=1)(kw.tensor([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
    """

    _function = staticmethod(F.softmax)


class LogSoftmax(_AlongDim):
    """log softmax(x)_i = x_i - log Σ_j e^(x_j) along ``dim``.

    Example:
        >>> import kernelwise as kw
        >>> round(kw.nn.LogSoftmax(dim=1)(kw.tensor([[0.0, 0.0]])).tolist()[0][0], 4)
        -0.6931
    """

    _function = staticmethod(F.log_softmax)


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
