"""Shape operations: reshape, permute, indexing, cat and stack.

They move values without changing them, so backward moves the gradient back
the same way (reshape back, inverse permutation, scatter, split).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor, _axis_tuple, _operand
from .layout import array_like_layout, axis_order, dense_order


def resolve_shape(old: tuple[int, ...], new: tuple[Any, ...]) -> tuple[int, ...]:
    """Fill one ``-1`` in ``new`` and check that the sizes agree, with a clear error."""
    new = tuple(int(n) for n in new)
    size = int(np.prod(old))
    if new.count(-1) > 1 or any(n < -1 for n in new):
        raise UsageError(f"reshape: invalid shape {new}")
    if -1 in new:
        rest = int(np.prod([n for n in new if n != -1]))
        if rest == 0 or size % rest:
            raise UsageError(f"reshape: cannot reshape a tensor of shape {old} ({size} values) into {new}")
        new = tuple(size // rest if n == -1 else n for n in new)
    if int(np.prod(new)) != size:
        raise UsageError(f"reshape: cannot reshape a tensor of shape {old} ({size} values) into {new}")
    return new


class Clone(Function):
    """y = a copy of x: in x's memory layout when x is a dense block (PyTorch's ``preserve_format``), else
    (or with ``contiguous=True``) in C order."""

    def forward(self, x: np.ndarray, contiguous: bool = False) -> np.ndarray:
        return x.copy(order="C" if contiguous or dense_order(x) is None else "K")

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
        self.index, self.shape, self.order = index, x.shape, axis_order(x)
        return np.asarray(out)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = array_like_layout(self.order, self.shape, grad_out.dtype, fill=0)  # in x's layout
        if _is_basic(self.index):
            grad[self.index] = grad_out  # each element picked at most once
        else:
            np.add.at(grad, self.index, grad_out)  # advanced indices may repeat
        return grad


class TakeAlong(Function):
    """y = x at ``indices`` along ``axis`` (np.take_along_axis); the gradient goes back to those positions.

    The indices are distinct along ``axis`` (a sort, a top-k or an arg-max picks each element at most
    once), so scattering the gradient back is an assignment, not a sum.
    """

    def forward(self, x: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
        self.indices, self.axis, self.shape, self.order = indices, axis, x.shape, axis_order(x)
        return np.take_along_axis(x, indices, axis)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = array_like_layout(self.order, self.shape, grad_out.dtype, fill=0)  # in x's layout
        np.put_along_axis(grad, self.indices, grad_out, self.axis)
        return grad


class Expand(Function):
    """y = x broadcast to ``shape`` (a read-only view, as PyTorch's expand); the gradient is summed back."""

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        from .elementwise import unbroadcast

        return unbroadcast(grad_out, self.in_shape)


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """``input`` repeated along its size-1 dimensions (and new leading ones) to ``sizes``, without copying.

    -1 keeps a dimension's size, as in PyTorch.

    Example:
        >>> import kernelwise as kw
        >>> kw.tensor([[1.0], [2.0]]).expand(2, 3).tolist()
        [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    if len(sizes) == 1 and isinstance(sizes[0], tuple | list):
        sizes = tuple(sizes[0])
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise UsageError(f"expand(): sizes {tuple(sizes)} have fewer dimensions than the tensor's shape {input.shape}")
    shape = []
    for i, n in enumerate(sizes):
        old = input.shape[i - lead] if i >= lead else None
        if n == -1 and old is None:
            raise UsageError(f"expand(): -1 is not allowed for a new leading dimension (sizes {tuple(sizes)})")
        n = old if n == -1 else int(n)
        if n < 0 or (old is not None and old != 1 and old != n):
            raise UsageError(
                f"expand(): cannot expand shape {tuple(input.shape)} to {tuple(sizes)} "
                f"(dimension {i}: size {old} can only become itself or be expanded from 1)"
            )
        shape.append(n)
    return Expand.apply(input, shape=tuple(shape))


def _sort_indices(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable order of ``x`` along ``axis``: NaN counts as the largest value, ties keep their order."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # stable descending: sort the reversed axis ascending, read the result backwards, undo the reversal
    n = x.shape[axis]
    reversed_order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return n - 1 - np.flip(reversed_order, axis)


def _sort_axis(name: str, input: Tensor, dim: int) -> int:
    if not isinstance(input, Tensor):
        raise UsageTypeError(f"{name}(): input must be a Tensor, got {type(input).__name__}")
    (axis,) = _axis_tuple(dim, input.ndim, "dim")
    return axis


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)``: ``input`` sorted along ``dim``; the gradient goes back to where each value came from.

    The sort is always stable (``stable`` is accepted for PyTorch's signature); NaN sorts as the largest value.

    Example:
        >>> import kernelwise as kw
        >>> values, indices = kw.sort(kw.tensor([3.0, 1.0, 2.0]), descending=True)
        >>> values.tolist(), indices.tolist()
        ([3.0, 2.0, 1.0], [0, 2, 1])
    """
    from .. import return_types

    axis = _sort_axis("sort", input, dim)
    if input.ndim == 0:
        return return_types.sort(input.clone(), Tensor._make(np.zeros((), np.int64)))
    indices = _sort_indices(input._array, axis, descending)
    return return_types.sort(TakeAlong.apply(input, indices=indices, axis=axis), Tensor._make(indices))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (``sort(...).indices``).

    Example:
        >>> import kernelwise as kw
        >>> kw.argsort(kw.tensor([3.0, 1.0, 2.0])).tolist()
        [1, 2, 0]
    """
    axis = _sort_axis("argsort", input, dim)
    if input.ndim == 0:
        return Tensor._make(np.zeros((), np.int64))
    return Tensor._make(_sort_indices(input._array, axis, descending))


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) values along ``dim``.

    The values come in sorted order (ties in index order); the gradient goes back to where each came from.

    Example:
        >>> import kernelwise as kw
        >>> values, indices = kw.topk(kw.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]]), 2)
        >>> values.tolist(), indices.tolist()
        ([[5.0, 3.0], [6.0, 4.0]], [[1, 2], [2, 0]])
    """
    from .. import return_types

    axis = _sort_axis("topk", input, dim)
    size = input.shape[axis] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= size:
        raise UsageError(f"topk(): k={k!r} must be an int from 0 to {size} (dimension {dim} of shape {input.shape})")
    if input.ndim == 0:
        return return_types.topk(input.clone(), Tensor._make(np.zeros((), np.int64)))
    indices = np.take(_sort_indices(input._array, axis, descending=largest), np.arange(k), axis=axis)
    return return_types.topk(TakeAlong.apply(input, indices=indices, axis=axis), Tensor._make(indices))


class Cat(Function):
    """y = the inputs joined along ``axis``; the gradient is split at the same places."""

    def forward(self, *xs: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.splits = list(itertools.accumulate(x.shape[axis] for x in xs))[:-1]  # where the gradient is cut
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
        raise UsageError(f"{name}(): expects a non-empty sequence of tensors")
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if all(t._array.dtype == ts[0]._array.dtype for t in ts):  # the common case: nothing to promote
        return ts
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
    first = ts[0]._array.shape
    for t in ts:
        shape = t._array.shape
        if len(shape) != len(first) or shape[:axis] + shape[axis + 1 :] != first[:axis] + first[axis + 1 :]:
            raise UsageError(f"cat(): shapes {[x.shape for x in ts]} differ outside dimension {dim}")
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
        raise UsageError(f"stack(): all tensors need the same shape, got {[t.shape for t in ts]}")
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

    cond = condition._array if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise UsageTypeError(f"where(): condition must be a bool tensor, got {cond.dtype}")
    if isinstance(input, Tensor):
        a, b = _operand(input, other)
    elif isinstance(other, Tensor):
        b, a = _operand(other, input)
    else:
        a, b = _operand(Tensor(input), other)
    return Where.apply(cond, a, b)
