"""Argument parsing and checks shared by the convolution and pooling operations."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor


def ntuple(value: Any, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int or a sequence of n ints) as an n-tuple of ints.

    Raises TypeError for non-integers and ValueError for the wrong length or a value
    below ``minimum``, naming the argument.
    """
    items = tuple(value) if isinstance(value, tuple | list) else (value,) * n
    if len(items) != n:
        raise UsageError(f"{name}={value!r}: expected an int or {n} ints")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise UsageTypeError(f"{name}={value!r}: expected an int or {n} ints")
        if minimum is not None and v < minimum:
            rule = "positive" if minimum == 1 else f">= {minimum}"
            raise UsageError(f"{name}={value!r}: must be {rule}")
    return tuple(int(v) for v in items)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one dimension.

    floor((W_in - d·(k - 1) - 1 + 2P) / S) + 1, which for d = 1 is the recitation's
    floor((W_in - W_k + 2P) / S) + 1. May be <= 0: callers turn that into an error.

    Example:
        >>> conv_output_size(4, 2), conv_output_size(28, 5, padding=2), conv_output_size(7, 3, stride=2)
        (3, 28, 3)
    """
    return (size - dilation * (kernel_size - 1) - 1 + 2 * padding) // stride + 1


def check_tensor(x: Any, name: str) -> Tensor:
    """``x`` as a Tensor with a numeric dtype, or a TypeError naming the argument."""
    if not isinstance(x, Tensor):
        if isinstance(x, np.ndarray):
            x = Tensor(x)
        else:
            raise UsageTypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind not in "fiub":
        raise UsageTypeError(f"{name}: dtype {x.dtype} is not supported")
    return x


def check_float(x: Tensor, name: str) -> None:
    if x.dtype.kind != "f":
        raise UsageTypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
