"""kernelwise: a convolutional-network framework on NumPy that shows its work.

PyTorch's names, so that a PyTorch CNN program runs with its imports changed
(``import kernelwise as torch``, ``import kernelwise.nn as nn``, ...).

Example:
    >>> import kernelwise as kw
    >>> x = kw.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * 3).sum().backward()
    >>> x.grad.tolist()
    [[3.0, 3.0]]
"""

from . import (
    accelerator,
    backends,
    creation,
    cuda,
    data,
    distributed,
    errors,
    functions,
    jit,
    nn,
    onnx,
    optim,
    random,
    return_types,
    utils,
)
from .amp import autocast
from .creation import *  # noqa: F403 (creation.__all__)
from .devices import device
from .functions import *  # noqa: F403 (functions.__all__)
from .gradcheck import GradcheckError, gradcheck
from .ops.shape import cat, stack, where
from .random import manual_seed
from .serialization import load, save
from .tensor import (
    Function,
    Size,
    Tensor,
    bool_,
    enable_grad,
    float16,
    float32,
    float64,
    get_default_dtype,
    inference_mode,
    int8,
    int16,
    int32,
    int64,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    tensor,
    uint8,
)
from .unsupported import compile
from .workers import get_num_threads, set_num_threads

# PyTorch's short dtype names (they shadow Python's float, int and bool in this namespace only, as in torch)
half = float16
float = float32
double = float64
short = int16
int = int32
long = int64
bool = bool_

__version__ = "0.1.0"

__all__ = [
    *creation.__all__,
    *functions.__all__,
    "Function",
    "GradcheckError",
    "Size",
    "Tensor",
    "accelerator",
    "autocast",
    "backends",
    "bool",
    "bool_",
    "cat",
    "compile",
    "cuda",
    "data",
    "device",
    "distributed",
    "double",
    "enable_grad",
    "errors",
    "float",
    "float16",
    "float32",
    "float64",
    "get_default_dtype",
    "get_num_threads",
    "gradcheck",
    "half",
    "inference_mode",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_grad_enabled",
    "jit",
    "load",
    "long",
    "manual_seed",
    "nn",
    "no_grad",
    "onnx",
    "optim",
    "random",
    "return_types",
    "save",
    "set_grad_enabled",
    "set_num_threads",
    "short",
    "stack",
    "tensor",
    "uint8",
    "utils",
    "where",
]
