"""Frozen arrays: weights whose values can no longer change, and what the ops compute once from them.

:func:`kernelwise.jit.freeze` gives a module's parameters and buffers read-only arrays of their own and
registers them here. A value derived from a frozen array alone (a convolution's Winograd-transformed
kernel, its weight matrix laid out for a GEMM, whether it holds a NaN or inf) is then computed on the first
call and kept for the next ones: inference then pays for it once instead of on every forward. Any other
array (a trained weight, a user's array, even a read-only one) gets the value computed anew every time,
so nothing here can go stale: a frozen array cannot be written (NumPy refuses), and an entry goes when its
array does.

Example:
    >>> import numpy as np
    >>> w = freeze_array(np.array([1.0, 2.0]))
    >>> is_frozen(w), w.flags.writeable, is_frozen(np.array([1.0, 2.0]))
    (True, False, False)
    >>> calls = []
    >>> def total() -> float:
    ...     calls.append(1)
    ...     return float(w.sum())
    >>> derived(w, "sum", total), derived(w, "sum", total), len(calls)  # computed once
    (3.0, 3.0, 1)
    >>> derived(np.array([1.0, 2.0]), "sum", total), len(calls)  # not frozen: computed every time
    (3.0, 2)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

__all__ = ["derived", "freeze_array", "is_frozen"]

T = TypeVar("T")

#: id(array) -> (a weak reference to the frozen array, what has been derived from it so far)
_FROZEN: dict[int, tuple[weakref.ref, dict[Hashable, Any]]] = {}


def _forget(ref: weakref.ref, key: int) -> None:
    """The frozen array behind ``ref`` is gone: drop its entry (unless its id already names a newer one)."""
    entry = _FROZEN.get(key)
    if entry is not None and entry[0] is ref:
        del _FROZEN[key]


def freeze_array(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array`` that owns its memory, registered as frozen."""
    frozen = np.array(array, copy=True)
    frozen.flags.writeable = False
    key = id(frozen)
    _FROZEN[key] = (weakref.ref(frozen, lambda ref, key=key: _forget(ref, key)), {})
    return frozen


def is_frozen(array: Any) -> bool:
    """Whether ``array`` is one that :func:`freeze_array` made (its values can no longer change)."""
    entry = _FROZEN.get(id(array))
    return entry is not None and entry[0]() is array and not array.flags.writeable


def derived(array: np.ndarray, key: Hashable, compute: Callable[[], T], *also: np.ndarray | None) -> T:
    """``compute()``, a value derived from ``array`` (and the arrays ``also``): kept under ``key`` when all are frozen.

    Callers must make ``compute`` read nothing but these arrays (and constants). An array result is made
    read-only: it is shared by every later call.
    """
    others = [a for a in also if a is not None]
    if not is_frozen(array) or not all(is_frozen(a) for a in others):
        return compute()
    kept = _FROZEN[id(array)][1]
    entry = kept.get(key)
    if entry is None or any(ref() is not a for ref, a in zip(entry[0], others, strict=True)):
        value = compute()
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        entry = kept[key] = ([weakref.ref(a) for a in others], value)
    return entry[1]
