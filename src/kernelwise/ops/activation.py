"""Activations, softmax and dropout: the non-linearities between layers.

ReLU, sigmoid and tanh are the Functions of :mod:`kernelwise.ops.elementwise`
(Tensor's ``relu``/``sigmoid``/``tanh`` use them too); this module adds leaky ReLU,
GELU, softmax, log-softmax and dropout, each with its derivative on the line that
computes it. Softmax and log-softmax subtract the maximum first, so logits of
±1000 give finite values and gradients.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..random import generator as _generator
from ..tensor import Function, Tensor, _axis_tuple
from ._args import check_float, check_tensor
from .elementwise import ReLU, Sigmoid, Tanh
from .layout import in_layout_of

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


# --------------------------------------------------------------------------- elementwise activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """y = max(x, 0), elementwise; dy/dx = 1 where x > 0, else 0.

    Args:
        input: any tensor.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import relu
        >>> relu(kw.tensor([-1.0, 0.0, 2.0])).tolist()
        [0.0, 0.0, 2.0]
    """
    return ReLU.apply(check_tensor(input, "input"))


def sigmoid(input: Tensor) -> Tensor:
    """y = 1 / (1 + e⁻ˣ), elementwise; dy/dx = y(1 - y).

    Args:
        input: float tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import sigmoid
        >>> sigmoid(kw.tensor([0.0])).tolist()
        [0.5]
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    return Sigmoid.apply(input)


def tanh(input: Tensor) -> Tensor:
    """y = tanh x, elementwise; dy/dx = 1 - y².

    Args:
        input: float tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import tanh
        >>> tanh(kw.tensor([0.0])).tolist()
        [0.0]
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    return Tanh.apply(input)


class LeakyReLU(Function):
    """y = x where x > 0, else slope·x; dy/dx = 1 where x > 0, else slope (PyTorch's choice at 0)."""

    def forward(self, x: np.ndarray, negative_slope: float) -> np.ndarray:
        positive = x > 0
        if self.requires_grad:
            self.positive, self.negative_slope = positive, negative_slope
        return np.where(positive, x, x * x.dtype.type(negative_slope))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        slope = grad_out.dtype.type(self.negative_slope)
        return np.where(self.positive, grad_out, grad_out * slope)  # dL/dx = dL/dy · (1 or slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """y = x for x > 0, else negative_slope·x, elementwise.

    Args:
        input: float tensor.
        negative_slope: slope for negative inputs.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import leaky_relu
        >>> leaky_relu(kw.tensor([-2.0, 3.0]), negative_slope=0.5).tolist()
        [-1.0, 3.0]
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, int | float | np.number):
        raise UsageTypeError(f"leaky_relu(): negative_slope must be a number, got {negative_slope!r}")
    return LeakyReLU.apply(input, negative_slope=float(negative_slope))


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, in x's dtype: SciPy's when installed, else math.erf per element."""
    try:
        from scipy.special import erf
    except ImportError:
        erf = np.vectorize(math.erf, otypes=[np.float64])
    return np.asarray(erf(x)).astype(x.dtype, copy=False)


class GELU(Function):
    """y = x·Φ(x), Φ the standard normal CDF; dy/dx = Φ(x) + x·φ(x).

    ``approximate='tanh'`` uses Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))).
    """

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)  # u = √(2/π)(x + 0.044715x³)
            t = np.tanh(inner)
            out = 0.5 * x * (1 + t)  # y = ½x(1 + tanh u)
            if self.requires_grad:
                self.x, self.t = x, t
        else:
            cdf = 0.5 * (1 + _erf(x / x.dtype.type(_SQRT_2)))  # Φ(x) = ½(1 + erf(x/√2))
            out = x * cdf  # y = x·Φ(x)
            if self.requires_grad:
                self.x, self.cdf = x, cdf
        self.approximate = approximate
        return out.astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)  # du/dx = √(2/π)(1 + 3·0.044715x²)
            dy_dx = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx  # dy/dx = ½(1 + t) + ½x(1 - t²)·du/dx
        else:
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)  # φ(x) = e^(-x²/2) / √(2π)
            dy_dx = self.cdf + x * pdf  # dy/dx = Φ(x) + x·φ(x)
        return (grad_out * dy_dx).astype(grad_out.dtype, copy=False)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, y = x·Φ(x), elementwise.

    Args:
        input: float tensor.
        approximate: ``'none'`` for the exact erf form, ``'tanh'`` for the tanh approximation.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import gelu
        >>> [round(v, 4) for v in gelu(kw.tensor([-1.0, 0.0, 1.0])).tolist()]
        [-0.1587, 0.0, 0.8413]
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    if approximate not in ("none", "tanh"):
        raise UsageError(f"gelu(): approximate={approximate!r} is not one of 'none', 'tanh'")
    return GELU.apply(input, approximate=approximate)


# --------------------------------------------------------------------------- softmax
class Softmax(Function):
    """y_i = e^(x_i - max x) / Σ_j e^(x_j - max x) along ``axis``; dX = Y ⊙ (dY − Σ dY⊙Y)."""

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        shifted = x - x.max(axis=axis, keepdims=True, initial=-np.inf)  # <= 0: exp never overflows
        e = np.exp(shifted)
        out = e / e.sum(axis=axis, keepdims=True)
        if self.requires_grad:
            self.out, self.axis = out, axis
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self.out
        return y * (grad_out - (grad_out * y).sum(axis=self.axis, keepdims=True))  # dX = Y ⊙ (dY − Σ dY⊙Y)


class LogSoftmax(Function):
    """y_i = (x_i - max x) - log Σ_j e^(x_j - max x) along ``axis``; dX = dY − softmax(X)·Σ dY."""

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        shifted = x - x.max(axis=axis, keepdims=True, initial=-np.inf)  # <= 0: exp never overflows
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        if self.requires_grad:
            self.out, self.axis = out, axis
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        softmax = np.exp(self.out)
        return grad_out - softmax * grad_out.sum(axis=self.axis, keepdims=True)  # dX = dY − softmax·Σ dY


def _softmax_axis(name: str, input: Tensor, dim: int | None) -> int:
    """The axis to normalise over; ``dim=None`` follows PyTorch's legacy rule (with its warning)."""
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            f"Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise UsageTypeError(f"{name}(): dim must be an int, got {dim!r}")
    (axis,) = _axis_tuple(dim, input.ndim, "dim")
    return axis


def _softmax_input(name: str, input: Any, dtype: Any) -> Tensor:
    input = check_tensor(input, "input")
    if dtype is not None:
        input = input.to(dtype)
    check_float(input, "input")
    return input


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``: exponentials normalised to sum to 1.

    Numerically stable: the maximum along ``dim`` is subtracted before ``exp``.

    Args:
        input: float tensor of logits.
        dim: the dimension to normalise. ``None`` follows PyTorch's deprecated implicit
            choice (dim 0 for 0-, 1- and 3-d input, else dim 1) and warns, as PyTorch does.
        dtype: if given, ``input`` is cast to it first.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import softmax
        >>> softmax(kw.tensor([[0.0, 0.0], [1000.0, 0.0]]), dim=1).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    input = _softmax_input("softmax", input, dtype)
    axis = _softmax_axis("softmax", input, dim)
    if input.ndim == 0:
        return Softmax.apply(input.reshape(1), axis=0).reshape(())
    return Softmax.apply(input, axis=axis)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as (x - max) - log Σ e^(x - max).

    Args:
        input: float tensor of logits.
        dim: the dimension to normalise; ``None`` as in :func:`softmax`.
        dtype: if given, ``input`` is cast to it first.

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import log_softmax
        >>> log_softmax(kw.tensor([1000.0, 0.0]), dim=0).tolist()
        [0.0, -1000.0]
    """
    input = _softmax_input("log_softmax", input, dtype)
    axis = _softmax_axis("log_softmax", input, dim)
    if input.ndim == 0:
        return LogSoftmax.apply(input.reshape(1), axis=0).reshape(())
    return LogSoftmax.apply(input, axis=axis)


# --------------------------------------------------------------------------- dropout
class Dropout(Function):
    """y = x ⊙ m, m = keep / (1 - p) with keep ~ Bernoulli(1 - p); dX = dY ⊙ m."""

    def forward(self, x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        keep = in_layout_of(rng.random(x.shape) >= p, x)  # each element kept with probability 1 - p
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)  # inverted dropout: E[y] = x
        mask = keep.astype(x.dtype) * x.dtype.type(scale)
        if self.requires_grad:
            self.mask = mask
        return x * mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.mask  # dL/dx = dL/dy · m


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: int | np.random.Generator | None = None,
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    Args:
        input: float tensor.
        p: probability of zeroing an element, in [0, 1]; ``p=1`` gives zeros.
        training: when False (or ``p=0``) ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.
        generator: seed or ``numpy.random.Generator`` for the mask (None: the default generator).

    Shape:
        any shape -> the same shape.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import dropout
        >>> y = dropout(kw.ones(2, 4), p=0.5, generator=0)
        >>> sorted(set(y.numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
    """
    input = check_tensor(input, "input")
    check_float(input, "input")
    if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0 <= p <= 1:
        raise UsageError(f"dropout(): dropout probability has to be between 0 and 1, but got p={p!r}")
    if not training or p == 0:
        return input
    return Dropout.apply(input, p=float(p), rng=_generator(generator))
