"""Activations, softmax and dropout: the non-linearities between layers.

Every elementwise activation is one ``_Activation`` Function
(:mod:`kernelwise.ops.activation_function`): a forward formula and a derivative
formula, each on its own line. ReLU, sigmoid and tanh are in
:mod:`kernelwise.ops.elementwise` (Tensor's ``relu``/``sigmoid``/``tanh`` use them
too); this module adds leaky ReLU, GELU, ELU, SiLU, softplus, hardtanh and ReLU6,
then softmax, log-softmax and dropout. Where PyTorch picks a derivative at a kink,
the same one is picked here: ReLU's and leaky ReLU's at 0 are those of the left
side, ELU's at 0 is α (the left side), hardtanh's and ReLU6's at ``min_val`` and
``max_val`` are 0. Softmax and log-softmax subtract the maximum first, so logits
of ±1000 give finite values and gradients. Every function here keeps its input's
shape, and takes a float tensor (``relu`` any tensor); ``inplace`` is accepted for
PyTorch compatibility, and the result is always a new tensor.
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
from .activation_function import _Activation
from .elementwise import ReLU, Sigmoid, Tanh
from .layout import in_layout_of

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def _number(value: Any, fn: str, name: str) -> float:
    """An activation's parameter as a Python float, or a TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{fn}(): {name} must be a number, got {value!r}")
    return float(value)


def _float_input(input: Any) -> Tensor:
    """``input`` checked to be a float Tensor."""
    input = check_tensor(input, "input")
    check_float(input, "input")
    return input


# --------------------------------------------------------------------------- elementwise activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """y = max(x, 0), elementwise; dy/dx = 1 where x > 0, else 0.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import relu
        >>> relu(kw.tensor([-1.0, 0.0, 2.0])).tolist()
        [0.0, 0.0, 2.0]
    """
    return ReLU.apply(check_tensor(input, "input"))


def sigmoid(input: Tensor) -> Tensor:
    """y = 1 / (1 + e⁻ˣ), elementwise; dy/dx = y(1 - y).

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import sigmoid
        >>> sigmoid(kw.tensor([0.0])).tolist()
        [0.5]
    """
    return Sigmoid.apply(_float_input(input))


def tanh(input: Tensor) -> Tensor:
    """y = tanh x, elementwise; dy/dx = 1 - y².

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import tanh
        >>> tanh(kw.tensor([0.0])).tolist()
        [0.0]
    """
    return Tanh.apply(_float_input(input))


class LeakyReLU(_Activation):
    """y = x where x > 0, else slope·x; dy/dx = 1 where x > 0, else slope (PyTorch's choice at 0)."""

    @staticmethod
    def formula(x: np.ndarray, negative_slope: float) -> np.ndarray:
        return np.where(x > 0, x, x * negative_slope)

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, negative_slope: float) -> np.ndarray:
        return np.where(x > 0, 1.0, negative_slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """y = x for x > 0, else negative_slope·x, elementwise.

    Args:
        input: float tensor.
        negative_slope: slope for negative inputs.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import leaky_relu
        >>> leaky_relu(kw.tensor([-2.0, 3.0]), negative_slope=0.5).tolist()
        [-1.0, 3.0]
    """
    input = _float_input(input)
    return LeakyReLU.apply(input, negative_slope=_number(negative_slope, "leaky_relu", "negative_slope"))


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, in x's dtype: SciPy's when installed, else math.erf per element."""
    try:
        from scipy.special import erf
    except ImportError:
        erf = np.vectorize(math.erf, otypes=[np.float64])
    return np.asarray(erf(x)).astype(x.dtype, copy=False)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF."""
    return 0.5 * (1 + _erf(x / _SQRT_2))


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    """φ(x) = e^(-x²/2) / √(2π), the standard normal density."""
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _gelu_tanh_inner(x: np.ndarray) -> np.ndarray:
    """u = √(2/π)(x + 0.044715x³), the argument of tanh in GELU's approximation."""
    return _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)


class GELU(_Activation):
    """y = x·Φ(x), Φ the standard normal CDF; dy/dx = Φ(x) + x·φ(x).

    ``approximate='tanh'`` uses Φ(x) ≈ ½(1 + tanh u), u = √(2/π)(x + 0.044715x³).
    """

    @staticmethod
    def formula(x: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(_gelu_tanh_inner(x)))  # y = ½x(1 + tanh u)
        return x * _normal_cdf(x)  # y = x·Φ(x)

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "tanh":
            t = np.tanh(_gelu_tanh_inner(x))
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)  # du/dx = √(2/π)(1 + 3·0.044715x²)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx  # dy/dx = ½(1 + t) + ½x(1 - t²)·du/dx
        return _normal_cdf(x) + x * _normal_pdf(x)  # dy/dx = Φ(x) + x·φ(x)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, y = x·Φ(x), elementwise.

    Args:
        input: float tensor.
        approximate: ``'none'`` for the exact erf form, ``'tanh'`` for the tanh approximation.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import gelu
        >>> [round(v, 4) for v in gelu(kw.tensor([-1.0, 0.0, 1.0])).tolist()]
        [-0.1587, 0.0, 0.8413]
    """
    input = _float_input(input)
    if approximate not in ("none", "tanh"):
        raise UsageError(f"gelu(): approximate={approximate!r} is not one of 'none', 'tanh'")
    return GELU.apply(input, approximate=approximate)


class ELU(_Activation):
    """y = x for x > 0, α(eˣ − 1) otherwise; dy/dx = 1 for x > 0, αeˣ = y + α otherwise."""

    @staticmethod
    def formula(x: np.ndarray, alpha: float) -> np.ndarray:
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # α(eˣ − 1), eˣ only where x <= 0

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
        return np.where(x > 0, 1.0, y + alpha)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: y = x for x > 0, α(eˣ − 1) otherwise, elementwise.

    Args:
        input: float tensor.
        alpha: the value the negative side tends to is −α.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import elu
        >>> [round(v, 4) for v in elu(kw.tensor([-1.0, 0.0, 2.0])).tolist()]
        [-0.6321, 0.0, 2.0]
    """
    return ELU.apply(_float_input(input), alpha=_number(alpha, "elu", "alpha"))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish): y = x·σ(x), elementwise; dy/dx = σ(x) + x·σ(x)(1 − σ(x)) by the product rule.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import silu
        >>> [round(v, 4) for v in silu(kw.tensor([-1.0, 0.0, 2.0])).tolist()]
        [-0.2689, 0.0, 1.7616]
    """
    input = _float_input(input)
    return input * sigmoid(input)  # SiLU(x) = x·σ(x)


class Softplus(_Activation):
    """y = log(1 + e^(βx)) / β, or x where βx > threshold; dy/dx = σ(βx), or 1 where βx > threshold."""

    @staticmethod
    def formula(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        return np.where(x * beta > threshold, x, np.logaddexp(0, x * beta) / beta)  # log(1 + e^z) never overflows

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        return np.where(x * beta > threshold, 1.0, Sigmoid.formula(x * beta))  # σ(βx)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """A smooth ReLU: y = log(1 + e^(βx)) / β, and y = x where βx > threshold, elementwise.

    Args:
        input: float tensor.
        beta: the sharpness β (larger: closer to ReLU).
        threshold: above this βx the function is taken as linear.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import softplus
        >>> [round(v, 4) for v in softplus(kw.tensor([-1.0, 0.0, 30.0])).tolist()]
        [0.3133, 0.6931, 30.0]
    """
    input = _float_input(input)
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    if beta == 0:
        raise UsageError("softplus(): beta must not be 0 (the function divides by it)")
    return Softplus.apply(input, beta=beta, threshold=threshold)


class Hardtanh(_Activation):
    """y = min(max(x, min_val), max_val); dy/dx = 1 strictly between the two, 0 elsewhere (at them too)."""

    @staticmethod
    def formula(x: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        return np.clip(x, min_val, max_val)

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        return (x > min_val) & (x < max_val)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val], elementwise.

    Args:
        input: float tensor.
        min_val, max_val: the range (min_val <= max_val).

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import hardtanh
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
        >>> from kernelwise.ops.activation import relu6
        >>> relu6(kw.tensor([-1.0, 3.0, 8.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0)


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
            stacklevel=4,  # the caller of softmax or log_softmax
        )
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise UsageTypeError(f"{name}(): dim must be an int, got {dim!r}")
    (axis,) = _axis_tuple(dim, input.ndim, "dim")
    return axis


def _along_dim(fn: type[Softmax | LogSoftmax], name: str, input: Any, dim: int | None, dtype: Any) -> Tensor:
    """Softmax or LogSoftmax of ``input`` (cast to ``dtype`` if given) along ``dim``; a 0-d input as one element."""
    input = check_tensor(input, "input")
    if dtype is not None:
        input = input.to(dtype)
    check_float(input, "input")
    axis = _softmax_axis(name, input, dim)
    if input.ndim == 0:
        return fn.apply(input.reshape(1), axis=0).reshape(())
    return fn.apply(input, axis=axis)


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``: exponentials normalised to sum to 1.

    Numerically stable: the maximum along ``dim`` is subtracted before ``exp``.

    Args:
        input: float tensor of logits.
        dim: the dimension to normalise. ``None`` follows PyTorch's deprecated implicit
            choice (dim 0 for 0-, 1- and 3-d input, else dim 1) and warns, as PyTorch does.
        dtype: if given, ``input`` is cast to it first.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import softmax
        >>> softmax(kw.tensor([[0.0, 0.0], [1000.0, 0.0]]), dim=1).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    return _along_dim(Softmax, "softmax", input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as (x - max) - log Σ e^(x - max).

    Args:
        input: float tensor of logits.
        dim: the dimension to normalise; ``None`` as in :func:`softmax`.
        dtype: if given, ``input`` is cast to it first.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import log_softmax
        >>> log_softmax(kw.tensor([1000.0, 0.0]), dim=0).tolist()
        [0.0, -1000.0]
    """
    return _along_dim(LogSoftmax, "log_softmax", input, dim, dtype)


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
        generator: seed or ``numpy.random.Generator`` for the mask (None: the default generator).

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.ops.activation import dropout
        >>> y = dropout(kw.ones(2, 4), p=0.5, generator=0)
        >>> sorted(set(y.numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
    """
    input = _float_input(input)
    if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0 <= p <= 1:
        raise UsageError(f"dropout(): dropout probability has to be between 0 and 1, but got p={p!r}")
    if not training or p == 0:
        return input
    return Dropout.apply(input, p=float(p), rng=_generator(generator))
