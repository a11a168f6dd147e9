"""The ``torch.*`` functions: each is the Tensor method of the same name, called on ``input``.

So ``kw.flatten(x, 1)`` is ``x.flatten(1)`` and ``kw.max(x, 1)`` is ``x.max(1)``; the math lives in
the methods (``tensor.py``) and the ops they apply. ``cat``, ``stack`` and ``where`` are in
``ops/shape.py``; ``softmax``, ``relu``, ... in ``ops/activation.py``.

Example:
    >>> import kernelwise as kw
    >>> outputs = kw.tensor([[0.1, 2.0, 0.3], [1.5, 0.2, 0.1]])
    >>> _, predicted = kw.max(outputs, 1)
    >>> predicted.tolist(), kw.flatten(kw.zeros(2, 3, 4), 1).shape, kw.max(outputs).item()
    ([1, 0], (2, 12), 2.0)
"""

from __future__ import annotations

from typing import Any

from .errors import UsageTypeError
from .ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from .ops.shape import argsort, sort, topk
from .tensor import Tensor


def _input(name: str, input: Any) -> Tensor:
    if not isinstance(input, Tensor):
        raise UsageTypeError(f"{name}(): input must be a Tensor, got {type(input).__name__}")
    return input


# --------------------------------------------------------------------------- elementwise
def exp(input: Tensor) -> Tensor:
    return _input("exp", input).exp()


def log(input: Tensor) -> Tensor:
    return _input("log", input).log()


def sqrt(input: Tensor) -> Tensor:
    return _input("sqrt", input).sqrt()


def abs(input: Tensor) -> Tensor:
    return _input("abs", input).abs()


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max] (numbers or tensors); see ``Tensor.clamp``."""
    return _input("clamp", input).clamp(min, max)


clip = clamp


def maximum(input: Tensor, other: Tensor) -> Tensor:
    return _input("maximum", input).maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    return _input("minimum", input).minimum(other)


def eq(input: Tensor, other: Any) -> Tensor:
    return _input("eq", input) == other


def ne(input: Tensor, other: Any) -> Tensor:
    return _input("ne", input) != other


def lt(input: Tensor, other: Any) -> Tensor:
    return _input("lt", input) < other


def le(input: Tensor, other: Any) -> Tensor:
    return _input("le", input) <= other


def gt(input: Tensor, other: Any) -> Tensor:
    return _input("gt", input) > other


def ge(input: Tensor, other: Any) -> Tensor:
    return _input("ge", input) >= other


def matmul(input: Tensor, other: Tensor) -> Tensor:
    return _input("matmul", input) @ other


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    return _input("mm", input).mm(mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    return _input("bmm", input).bmm(mat2)


# --------------------------------------------------------------------------- reductions
def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Tensor:
    return _input("sum", input).sum(dim=axis if dim is None else dim, keepdim=keepdim)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Tensor:
    return _input("mean", input).mean(dim=axis if dim is None else dim, keepdim=keepdim)


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Any:
    """The largest value; ``max(input, dim)``: ``(values, indices)``; ``max(input, other)``: elementwise."""
    return _input("max", input).max(dim, keepdim, axis=axis)


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Any:
    """The smallest value; ``min(input, dim)``: ``(values, indices)``; ``min(input, other)``: elementwise."""
    return _input("min", input).min(dim, keepdim, axis=axis)


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _input("amax", input).amax(dim, keepdim)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _input("amin", input).amin(dim, keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _input("argmax", input).argmax(dim=dim, keepdim=keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _input("argmin", input).argmin(dim=dim, keepdim=keepdim)


def numel(input: Tensor) -> int:
    return _input("numel", input).numel()


# --------------------------------------------------------------------------- shape
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _input("flatten", input).flatten(start_dim, end_dim)


def reshape(input: Tensor, shape: Any) -> Tensor:
    return _input("reshape", input).reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _input("transpose", input).transpose(dim0, dim1)


def permute(input: Tensor, dims: Any) -> Tensor:
    return _input("permute", input).permute(dims)


def squeeze(input: Tensor, dim: int | None = None) -> Tensor:
    return _input("squeeze", input).squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return _input("unsqueeze", input).unsqueeze(dim)


__all__ = [
    "abs",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "argsort",
    "bmm",
    "clamp",
    "clip",
    "eq",
    "exp",
    "flatten",
    "ge",
    "gt",
    "le",
    "log",
    "log_softmax",
    "lt",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "ne",
    "numel",
    "permute",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sort",
    "sqrt",
    "squeeze",
    "sum",
    "tanh",
    "topk",
    "transpose",
    "unsqueeze",
]
