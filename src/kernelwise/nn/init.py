"""Weight initialisation, with PyTorch's names, fan and gain rules.

Every function fills its tensor in place (without recording the graph) and
returns it. Every random draw takes ``generator``: an int seed, a
``numpy.random.Generator`` or None for the default generator
(:func:`kernelwise.random.generator`), so the same seed gives bit-identical
weights. Values are drawn in float64 and rounded once to the tensor's dtype.

The fans of a weight of shape ``(out, in, *kernel)`` are
``fan_in = in · prod(kernel)`` and ``fan_out = out · prod(kernel)``: the number
of inputs and outputs each weight connects.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise.nn import init
    >>> w = kw.zeros(4, 3, 5, 5)
    >>> bound = init.calculate_gain("relu") * (3 / (3 * 5 * 5)) ** 0.5
    >>> _ = init.kaiming_uniform_(w, nonlinearity="relu", generator=0)
    >>> bool(w.abs().max().item() <= bound)
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import random
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance steady through ``nonlinearity``.

    ============  =====================================
    nonlinearity  gain
    ============  =====================================
    linear, conv  1
    sigmoid       1
    tanh          5/3
    relu          √2
    leaky_relu    √(2 / (1 + negative_slope²))
    selu          3/4
    ============  =====================================

    Args:
        nonlinearity: the name of the function that follows the layer.
        param: ``negative_slope`` for ``leaky_relu`` (default 0.01).

    Example:
        >>> from kernelwise.nn import init
        >>> init.calculate_gain("tanh"), round(init.calculate_gain("leaky_relu", 5 ** 0.5), 6)
        (1.6666666666666667, 0.57735)
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, int | float | np.integer | np.floating):
            raise UsageError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        else:
            negative_slope = float(param)
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise UsageError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r} "
        f"(use one of {', '.join(_LINEAR_FNS)}, sigmoid, tanh, relu, leaky_relu, selu)"
    )


def _check(tensor: Any, fn: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise UsageTypeError(f"{fn}: tensor should be a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise UsageTypeError(f"{fn}: tensor should have a floating-point dtype, got {tensor.dtype}")
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise UsageError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape {tensor.shape})"
        )
    receptive_field = math.prod(tensor.shape[2:])  # kh · kw for a conv weight, 1 for a linear one
    fan_in = tensor.shape[1] * receptive_field
    fan_out = tensor.shape[0] * receptive_field
    return fan_in, fan_out


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise UsageError(f"mode={mode!r} is not supported, use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    tensor._array[...] = values  # in place: rounds to the tensor's dtype, keeps the tensor object
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.uniform_(kw.zeros(1000), -2.0, 2.0, generator=0)
        >>> bool((w.numpy() >= -2).all() and (w.numpy() < 2).all())
        True
    """
    _check(tensor, "uniform_")
    if a > b:
        raise UsageError(f"uniform_: a={a} must not be greater than b={b}")
    return _fill(tensor, random.generator(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std²)."""
    _check(tensor, "normal_")
    if std < 0:
        raise UsageError(f"normal_: std={std} must be non-negative")
    return _fill(tensor, random.generator(generator).normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    return _fill(_check(tensor, "constant_"), val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0."""
    return _fill(_check(tensor, "zeros_"), 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1."""
    return _fill(_check(tensor, "ones_"), 1.0)


def _xavier_std(tensor: Tensor, gain: float) -> float:
    """Glorot & Bengio's std = gain · √(2 / (fan_in + fan_out)), which keeps the variance both ways."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    """He et al.'s std = gain / √fan_mode, which keeps the variance through the nonlinearity."""
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain · √(6 / (fan_in + fan_out)).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.xavier_uniform_(kw.zeros(20, 30), generator=0)
        >>> bool(w.abs().max().item() <= (6 / 50) ** 0.5)
        True
    """
    _check(tensor, "xavier_uniform_")
    a = math.sqrt(3.0) * _xavier_std(tensor, gain)  # U(-a, a) has standard deviation a / √3
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He et al. (2015): U(-bound, bound) with bound = gain · √(3 / fan_mode).

    Args:
        tensor: the weight, shape (out, in, *kernel).
        a: negative slope of the leaky ReLU that follows (for the gain).
        mode: ``'fan_in'`` keeps the forward variance, ``'fan_out'`` the backward one.
        nonlinearity: see :func:`calculate_gain`.
        generator: seed, Generator or None.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.kaiming_uniform_(kw.zeros(6, 1, 5, 5), a=5 ** 0.5, generator=0)
        >>> bool(w.abs().max().item() <= 1 / 25 ** 0.5)  # a=√5 gives bound 1/√fan_in
        True
    """
    _check(tensor, "kaiming_uniform_")
    if 0 in tensor.shape:
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)  # U(-b, b) has standard deviation b / √3
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He et al. (2015): N(0, std²) with std = gain / √fan_mode (arguments as :func:`kaiming_uniform_`)."""
    _check(tensor, "kaiming_normal_")
    if 0 in tensor.shape:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator: Any = None
) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std²) truncated to [a, b], by inverting the CDF (as PyTorch).

    u is uniform on [Φ(α), Φ(β)], α = (a − mean)/std, β = (b − mean)/std, Φ the standard normal CDF; then
    x = mean + std·Φ⁻¹(u) = mean + std·√2·erfinv(2u − 1) is in [a, b] with the truncated density.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.trunc_normal_(kw.zeros(1000), std=0.02, a=-0.04, b=0.04, generator=0)
        >>> bool(w.abs().max().item() <= 0.04)
        True
    """
    from scipy.special import erfinv

    _check(tensor, "trunc_normal_")
    if not std > 0:
        raise UsageError(f"trunc_normal_: std={std} must be positive")
    if not a < b:
        raise UsageError(f"trunc_normal_: the range [a, b] = [{a}, {b}] is empty (a must be smaller than b)")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    cdf_a = 0.5 * (1 + math.erf((a - mean) / std / math.sqrt(2)))  # Φ(α)
    cdf_b = 0.5 * (1 + math.erf((b - mean) / std / math.sqrt(2)))  # Φ(β)
    u = random.generator(generator).uniform(cdf_a, cdf_b, size=tensor.shape)
    x = mean + std * math.sqrt(2) * erfinv(2 * u - 1)  # x = mean + std·Φ⁻¹(u)
    return _fill(tensor, np.clip(x, a, b))  # the clip only catches rounding at the ends


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d ``tensor`` with the identity matrix (ones on the diagonal; a Linear layer that passes inputs through).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.init.eye_(kw.zeros(2, 3)).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise UsageError(f"eye_: only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-d convolution weight with the Dirac delta: the convolution passes its input through.

    In each of the ``groups`` groups, output channel d gets a single 1 at input channel d and the centre of
    the kernel, for d < min(C_out / groups, C_in); everything else is 0.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.dirac_(kw.zeros(2, 2, 3))
        >>> w.tolist()
        [[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]
    """
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise UsageError(
            f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape {tuple(tensor.shape)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise UsageError(f"dirac_: groups={groups!r} must be a positive int")
    out_channels, in_channels, *kernel = tensor.shape
    if out_channels % groups != 0:
        raise UsageError(f"dirac_: dim 0 (size {out_channels}) must be divisible by groups={groups}")
    per_group = out_channels // groups
    centre = tuple(k // 2 for k in kernel)
    delta = np.zeros(tensor.shape)
    for g in range(groups):
        for d in range(min(per_group, in_channels)):
            delta[(g * per_group + d, d, *centre)] = 1  # output channel d of group g sees input channel d
    return _fill(tensor, delta)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix, times ``gain``, from the QR decomposition of a Gaussian one.

    The tensor is seen as a (rows, cols) matrix, rows = shape[0]. A standard normal matrix (transposed when
    rows < cols) is factored A = QR; Q times the signs of R's diagonal is uniformly distributed (Haar), with
    orthonormal columns, and becomes the weight (transposed back): WᵀW = gain²·I, or WWᵀ = gain²·I when
    rows < cols.

    Example:
        >>> import numpy as np
        >>> import kernelwise as kw
        >>> w = kw.nn.init.orthogonal_(kw.zeros(4, 3), generator=0).numpy()
        >>> bool(np.allclose(w.T @ w, np.eye(3), atol=1e-6))
        True
    """
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise UsageError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape {tuple(tensor.shape)}"
        )
    if tensor._array.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor._array.size // rows
    a = random.generator(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        a = a.T  # (cols, rows): QR wants at least as many rows as columns
    q, r = np.linalg.qr(a)  # A = QR, Q with orthonormal columns
    q = q * np.sign(np.diag(r))  # the signs make Q's distribution uniform
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Martens (2010): a 2-d ``tensor`` from N(0, std²), with ceil(sparsity · rows) zeros in every column.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.init.sparse_(kw.zeros(10, 4), sparsity=0.3, generator=0)
        >>> [int((w.numpy()[:, j] == 0).sum()) for j in range(4)]
        [3, 3, 3, 3]
    """
    _check(tensor, "sparse_")
    if tensor.ndim != 2:
        raise UsageError(f"sparse_: only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    if not 0 <= sparsity <= 1:
        raise UsageError(f"sparse_: sparsity={sparsity} must be in [0, 1]")
    rows, cols = tensor.shape
    rng = random.generator(generator)
    values = rng.normal(0.0, std, size=(rows, cols))
    num_zeros = math.ceil(sparsity * rows)
    for col in range(cols):
        values[rng.permutation(rows)[:num_zeros], col] = 0  # num_zeros rows picked at random in each column
    return _fill(tensor, values)
