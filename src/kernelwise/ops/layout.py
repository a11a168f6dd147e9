"""Memory layout: the order in which an array's axes run through memory, kept from layer to layer.

Every op accepts arrays of any strides. One layout is worth keeping, though: the batch-last
convolution (``fastconv``'s "chwn" path) computes O in a (O, *out, N) array and returns it as an
(N, O, *out) view of that memory, the way PyTorch's ``channels_last`` tensors are NCHW-shaped
views of NHWC memory. ReLU and max/min pooling allocate their results in their input's axis
order, and the next batch-last convolution reads that memory in long contiguous runs, so no
transposing copy runs between the layers of a small CNN. An op that allocates a result or a
gradient allocates it with :func:`array_like_layout` (not ``np.zeros(shape)``, which is C order).

Where two layouts meet, one operand is copied into the other's (:func:`in_layout_of`): the autograd
engine hands every Function its dL/dy in the layout of its output y, and +, -, ·, / and dropout
bring their second operand to the first one's layout. NumPy would otherwise run such a pass
without SIMD, in short inner loops (up to 14× slower).

Example:
    >>> import numpy as np
    >>> memory = np.zeros((6, 28, 28, 64), np.float32)  # (C, H, W, N): the batch last
    >>> x = memory.transpose(3, 0, 1, 2)  # an (N, C, H, W) view of it
    >>> axis_order(x), axis_order(np.zeros((2, 3)))
    ((1, 2, 3, 0), (0, 1))
    >>> y = empty_in_order((64, 6, 14, 14), axis_order(x), np.float32)
    >>> y.shape, y.transpose(1, 2, 3, 0).flags.c_contiguous
    ((64, 6, 14, 14), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageTypeError

_ZEROS: dict[np.dtype, np.ndarray] = {}  # per dtype: one read-only buffer of zeros, grown as needed


def axis_order(x: np.ndarray) -> tuple[int, ...]:
    """The axes of ``x`` from the one with the largest stride to the smallest: (0, 1, ...) in C order."""
    if x.flags.c_contiguous:
        return tuple(range(x.ndim))
    return tuple(sorted(range(x.ndim), key=lambda a: -abs(x.strides[a])))  # stable: equal strides keep C order


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes ``order``: memory.transpose(_inverse(order)) has the axes back in place."""
    return tuple(sorted(range(len(order)), key=order.__getitem__))


def empty_in_order(shape: tuple[int, ...], order: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array of ``shape`` whose axes run through memory in ``order`` (see :func:`axis_order`)."""
    if order == tuple(range(len(shape))):
        return np.empty(shape, dtype=dtype)
    memory = np.empty([shape[a] for a in order], dtype=dtype)
    return memory.transpose(_inverse(order))


def array_like_layout(
    like: np.ndarray | tuple[int, ...], shape: tuple[int, ...] | None = None, dtype: Any = None, fill: Any = None
) -> np.ndarray:
    """A new writable array whose axes run through memory as ``like``'s do: the ops' one allocation helper.

    ``like`` is an array or its :func:`axis_order` (a Function saves the order in ``forward`` and
    allocates the input's gradient in ``backward`` without keeping the input alive). ``shape`` (default
    ``like``'s; same number of dimensions) and ``dtype`` (default ``like``'s) are those of the new
    array; ``fill`` is its value (default: uninitialised, as ``np.empty``). Unlike ``np.empty_like``,
    it keeps the axis order for another shape, and from a saved order.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((3, 4, 2), np.float32).transpose(2, 0, 1)  # (2, 3, 4), axis 0 last in memory
        >>> g = array_like_layout(axis_order(x), (2, 3, 5), np.float64, fill=0)
        >>> g.shape, g.dtype, axis_order(g), float(g.sum())
        ((2, 3, 5), dtype('float64'), (1, 2, 0), 0.0)
    """
    if isinstance(like, np.ndarray):
        order = axis_order(like)
        shape = like.shape if shape is None else tuple(shape)
        dtype = like.dtype if dtype is None else dtype
    else:
        order = tuple(like)
        if shape is None or dtype is None:
            raise UsageTypeError("array_like_layout: an axis order needs shape and dtype")
    if len(shape) != len(order):
        order = tuple(range(len(shape)))  # another rank: no layout to keep
    out = empty_in_order(tuple(shape), order, dtype)
    if fill is not None:
        out.fill(fill)
    return out


def dense_order(x: np.ndarray) -> tuple[int, ...] | None:
    """The axis order of ``x`` when its values fill one contiguous block of memory, else None.

    None for views with gaps or repeats (a slice, ``np.broadcast_to``): those have no layout to keep.
    """
    if x.flags.c_contiguous:
        return tuple(range(x.ndim))
    order = axis_order(x)
    return order if x.transpose(order).flags.c_contiguous else None


def in_layout_of(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``a`` laid out in memory as ``ref`` is: one transposing copy when both are dense blocks of one
    shape whose axes run in different orders, else ``a`` itself.

    NumPy runs an elementwise operation on operands of different axis orders without SIMD and in
    short inner loops: 0.36 ms for a (64, 16, 32, 32) float32 product in one layout, 5.0 ms across
    two, 1.8 ms with one operand copied first. Axes of length 1 do not count.

    Example:
        >>> import numpy as np
        >>> ref = np.zeros((4, 3, 2), np.float32).transpose(2, 0, 1)  # (2, 4, 3), axis 0 last in memory
        >>> a = np.ones((2, 4, 3), np.float32)
        >>> in_layout_of(a, ref).strides == ref.strides, in_layout_of(a, a) is a
        (True, True)
    """
    if (
        a.shape != ref.shape
        or a.ndim < 2
        or a.strides == ref.strides
        or (a.flags.c_contiguous and ref.flags.c_contiguous)
    ):
        return a
    want, have = dense_order(ref), dense_order(a)
    if want is None or have is None or want == have:
        return a
    if [d for d in want if a.shape[d] > 1] == [d for d in have if a.shape[d] > 1]:
        return a
    return in_order(a, want)


def in_order(x: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``x`` itself if its axes run in ``order``, else a copy of it that does (one transposing copy)."""
    if axis_order(x) == order:
        return x
    out = empty_in_order(x.shape, order, x.dtype)
    np.copyto(out, x)
    return out


def zeros_like_view(x: np.ndarray) -> np.ndarray:
    """A read-only array of zeros shaped like ``x``, in x's axis order, a view of one cached buffer.

    ``np.maximum(x, 0)`` against a scalar misses NumPy's SIMD loop: on NumPy 2.4 it is 3-4× slower
    than against an array of zeros (195 µs against 55 µs for 301,056 float32). The zeros follow
    x's axis order so that both operands run through memory the same way.
    """
    buffer = _ZEROS.get(x.dtype)
    if buffer is None or buffer.size < x.size:
        buffer = np.zeros(x.size, dtype=x.dtype)
        buffer.flags.writeable = False
        _ZEROS[x.dtype] = buffer
    order = axis_order(x)
    zeros = buffer[: x.size].reshape([x.shape[a] for a in order])
    return zeros if order == tuple(range(x.ndim)) else zeros.transpose(_inverse(order))
