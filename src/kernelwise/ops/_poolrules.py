"""PyTorch's winner rules for max and min pooling, shared by the plain path (pool.py) and the fast one (fastpool.py).

Legend: N batch, C channels, K taps per window, P padding, S stride, d dilation.

PyTorch's CPU kernel starts each window at -inf (+inf for min) with its first tap inside the input as
the winner, and replaces the winner by a strictly larger (smaller) value or by any NaN. Both paths take
the first winning tap in row-major window order, then fix the two cases where that differs:

    NaN:      the window's value is NaN, and the last NaN tap wins          (``last_nan``)
    padding:  never wins, even where every real tap equals the padding's value: the first real tap does
              (``padding_never_wins``)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layout import array_like_layout

Window = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]
"""A pooling's (kernel_size, stride, padding, dilation), one int per spatial dim each."""


def pad_value(reducer: str, dtype: np.dtype) -> Any:
    """The value padding takes: one that never wins (-inf for max, +inf for min) or adds nothing (mean).

    Example:
        >>> pad_value("max", np.dtype(np.float32)), pad_value("min", np.dtype(np.int8)), pad_value("mean", None)
        (-inf, 127, 0)
    """
    if reducer == "mean":
        return 0
    if dtype.kind == "f":
        return -np.inf if reducer == "max" else np.inf
    info = np.iinfo(dtype)
    return info.min if reducer == "max" else info.max


def padded_input(x: np.ndarray, padding: tuple[int, ...], padded: tuple[int, ...], fill: Any) -> np.ndarray:
    """x (*lead, *spatial) inside a (*lead, *padded) array of ``fill``, ``padding`` positions in along each dim.

    Laid out in memory as x is (a batch-last x gives a batch-last padded array); one fill and one
    assignment: np.pad costs more.

    Example:
        >>> padded_input(np.array([[1.0, 2.0]]), (1,), (4,), -np.inf).tolist()
        [[-inf, 1.0, 2.0, -inf]]
    """
    nd = len(padding)
    lead, spatial = x.shape[:-nd], x.shape[-nd:]
    xp = array_like_layout(x, (*lead, *padded), fill=fill)
    xp[(Ellipsis, *(slice(p, p + n) for p, n in zip(padding, spatial)))] = x
    return xp


def last_nan(window_values: np.ndarray) -> np.ndarray:
    """The last NaN tap along the last axis (K taps): PyTorch's winner, which every NaN replaces.

    Example:
        >>> last_nan(np.array([[np.nan, 1.0, np.nan, 2.0]])).tolist()
        [2]
    """
    return window_values.shape[-1] - 1 - np.isnan(window_values[..., ::-1]).argmax(axis=-1)


def first_inside(positions: tuple[int, ...], window: Window) -> np.ndarray:
    """The first tap (row-major) of each window that reads the input, not the padding: PyTorch's starting winner.

    Along each dim, tap i of window o reads o·S - P + i·d, first inside at i = max(0, ceil((P - o·S) / d)).
    Shape: (*positions), an index into the flattened window.

    Example:
        >>> first_inside((3,), ((3,), (2,), (1,), (1,))).tolist()  # window 0 starts in the padding
        [1, 0, 0]
    """
    nd = len(positions)
    first = np.zeros((1,) * nd, dtype=np.intp)
    for a, (o, k, s, p, d) in enumerate(zip(positions, *window, strict=True)):
        i = np.maximum(0, -((np.arange(o) * s - p) // d))  # ceil((P - o·S) / d), at least 0
        first = first * k + i.reshape((o,) + (1,) * (nd - a - 1))  # row-major: ((i_0·k_1 + i_1)·k_2 + i_2)...
    return first


def padding_never_wins(y: np.ndarray, arg: np.ndarray, pad: Any, window: Window) -> None:
    """Where a window's extremum is the padding's value, every real tap equals it: its first real tap wins.

    ``y`` and ``arg`` (*lead, *positions). In place.

    Example:
        >>> y, arg = np.array([[-np.inf, 2.0]]), np.array([[0, 1]])  # window 0 = (padding, -inf): tap 0 won
        >>> padding_never_wins(y, arg, -np.inf, ((2,), (2,), (1,), (1,)))
        >>> arg.tolist()
        [[1, 1]]
    """
    tie = y == pad
    if tie.any():
        first = first_inside(y.shape[-len(window[0]) :], window)
        np.copyto(arg, first.astype(arg.dtype), where=tie)
