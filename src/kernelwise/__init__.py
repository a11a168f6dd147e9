"""kernelwise: a convolutional-network framework on NumPy that shows its work.

Example:
    >>> import kernelwise as kw
    >>> x = kw.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * 3).sum().backward()
    >>> x.grad.tolist()
    [[3.0, 3.0]]
"""

from . import data, nn, optim, random, utils
from .gradcheck import GradcheckError, gradcheck
from .ops.shape import cat, stack, where
from .random import manual_seed
from .tensor import (
    Function,
    Tensor,
    arange,
    bool_,
    enable_grad,
    float16,
    float32,
    float64,
    full,
    int32,
    int64,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "arange",
    "bool_",
    "cat",
    "data",
    "enable_grad",
    "float16",
    "float32",
    "float64",
    "full",
    "gradcheck",
    "int32",
    "int64",
    "is_grad_enabled",
    "manual_seed",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "random",
    "stack",
    "tensor",
    "utils",
    "where",
    "zeros",
    "zeros_like",
]
