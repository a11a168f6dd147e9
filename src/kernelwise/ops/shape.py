"""Shape operations: reshape, permute, indexing, cat and stack.

They move values without changing them, so backward moves the gradient back
the same way (reshape back, inverse permutation, scatter, split).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Function, Tensor, _axis_tuple, _operand


def resolve_shape(old: tuple[int, ...], new: tuple[Any, ...]) -> tuple[int, ...]:
    """Fill one ``-1`` in ``new`` and check that the sizes agree, with a clear error."""
    new = tuple(int(n) for n in new)
    size = int(np.prod(old))
    if new.count(-1) > 1 or any(n < -1 for n in new):
        raise ValueError(f"reshape: invalid shape {new}")
    if -1 in new:
        rest = int(np.prod([n for n in new if n != -1]))
        if rest == 0 or size % rest:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {old} ({size} values) into {new}")
        new = tuple(size // rest if n == -1 else n for n in new)
    if int(np.prod(new)) != size:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old} ({size} values) into {new}")
    return new


class Clone(Function):
    """y = a copy of x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


class Reshape(Function):
    """y = x with a new shape; the gradient is reshaped back."""

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.reshape(self.in_shape)


class Permute(Function):
    """y = x with its axes reordered; the gradient takes the inverse order."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return x.transpose(axes)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.transpose(np.argsort(self.axes))


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, int | np.integer | slice) for i in items)


class GetItem(Function):
    """y = x[index]; the gradient is scattered back (added where an index repeats)."""

    def forward(self, x: np.ndarray, index: Any) -> np.ndarray:
        try:
            out = x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None
        self.index, self.shape, self.dtype = index, x.shape, x.dtype
        return np.asarray(out)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        if _is_basic(self.index):
            grad[self.index] = grad_out  # each element picked at most once
        else:
            np.add.at(grad, self.index, grad_out)  # advanced indices may repeat
        return grad


class Cat(Function):
    """y = the inputs joined along ``axis``; the gradient is split at the same places."""

    def forward(self, *xs: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return tuple(np.split(grad_out, self.splits, axis=self.axis))


class Stack(Function):
    """y = the inputs stacked along a new ``axis``; input i gets the gradient slice i."""

    def forward(self, *xs: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.stack(xs, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return tuple(np.moveaxis(grad_out, self.axis, 0))


def _same_dtype(tensors: list[Any], name: str) -> list[Tensor]:
    if not tensors:
        raise ValueError(f"{name}(): expects a non-empty sequence of tensors")
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    probe = Tensor._make(np.empty(0, ts[0].dtype))  # PyTorch's type promotion, one pair at a time
    for t in ts[1:]:
        probe, _ = _operand(probe, Tensor._make(np.empty(0, t.dtype)))
    return [t.to(probe.dtype) for t in ts]


def cat(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension ``dim``.

    Example:
        >>> import kernelwise as kw
        >>> kw.cat([kw.ones(2, 1), kw.zeros(2, 2)], dim=1).shape
        (2, 3)
    """
    ts = _same_dtype(list(tensors), "cat")
    (axis,) = _axis_tuple(dim, ts[0].ndim, "dim")
    for t in ts:
        if t.ndim != ts[0].ndim or t.shape[:axis] + t.shape[axis + 1 :] != ts[0].shape[:axis] + ts[0].shape[axis + 1 :]:
            raise ValueError(f"cat(): shapes {[x.shape for x in ts]} differ outside dimension {dim}")
    return Cat.apply(*ts, axis=axis)


def stack(tensors: list[Tensor], dim: int = 0) -> Tensor:
    """Stack equally shaped tensors along a new dimension ``dim``.

    Example:
        >>> import kernelwise as kw
        >>> kw.stack([kw.ones(2, 3), kw.zeros(2, 3)]).shape
        (2, 2, 3)
    """
    ts = _same_dtype(list(tensors), "stack")
    if len({t.shape for t in ts}) != 1:
        raise ValueError(f"stack(): all tensors need the same shape, got {[t.shape for t in ts]}")
    (axis,) = _axis_tuple(dim, ts[0].ndim + 1, "dim")
    return Stack.apply(*ts, axis=axis)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """Pick ``input`` where ``condition`` is true, else ``other`` (differentiable in both).

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([-1.0, 2.0])
        >>> kw.where(x > 0, x, 0.0).tolist()
        [0.0, 2.0]
    """
    from .elementwise import Where

    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where(): condition must be a bool tensor, got {cond.dtype}")
    if isinstance(input, Tensor):
        a, b = _operand(input, other)
    elif isinstance(other, Tensor):
        b, a = _operand(other, input)
    else:
        a, b = _operand(Tensor(input), other)
    return Where.apply(cond, a, b)
