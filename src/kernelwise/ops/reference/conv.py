"""Plain loop convolution: the specification that the fast path in ``ops/conv.py`` is tested against.

Loops over every output position and every kernel tap, exactly as the recitation writes the
sums. For small sizes only. Arrays in, arrays out; 1-D and 2-D (any number of spatial dims).
A tap that falls on the padding adds no term (its zero is never multiplied), so a NaN or inf in
W or dL/dO reaches only the sums it is a term of.
Legend: N batch, C input channels, O filters, G groups, Cg = C/G, Og = O/G, s stride, d dilation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _per_dim(value: Any, nd: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * nd


def _pad_pairs(padding: Any, nd: int) -> list[tuple[int, int]]:
    """An int, one int per dimension, or one (before, after) pair per dimension."""
    return [p if isinstance(p, tuple | list) else (p, p) for p in _per_dim(padding, nd)]


def conv_reference(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> np.ndarray:
    """O[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, g·Cg + c, y·s + i·d, x·s + j·d] · W[o, c, i, j], g = o // Og.

    Args:
        x: (N, C, *spatial); w: (O, Cg, *k); b: (O,) or None.
        padding: int, one int per dimension, or one (before, after) pair per dimension (in 1-D: ((lo, hi),)).

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> conv_reference(x, np.ones((1, 1, 2, 2))).shape, conv_reference(x, np.ones((1, 1, 2, 2)), padding=1).shape
        ((1, 1, 3, 3), (1, 1, 5, 5))
    """
    nd = w.ndim - 2
    s, d, pads = _per_dim(stride, nd), _per_dim(dilation, nd), _pad_pairs(padding, nd)
    N, O, Cg, k, spatial = x.shape[0], w.shape[0], w.shape[1], w.shape[2:], x.shape[2:]
    Og = O // groups
    out = tuple((spatial[a] + sum(pads[a]) - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(nd))
    y = np.zeros((N, O, *out), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            g = o // Og  # the group of filter o sees input channels g·Cg ... g·Cg + Cg - 1
            for pos in np.ndindex(*out):
                total = 0.0 if b is None else b[o]
                for c in range(Cg):
                    for tap in np.ndindex(*k):
                        where = tuple(p * s[a] - pads[a][0] + t * d[a] for a, (p, t) in enumerate(zip(pos, tap)))
                        if all(0 <= i < n_a for i, n_a in zip(where, spatial)):  # the padding adds no term
                            total += x[(n, g * Cg + c, *where)] * w[(o, c, *tap)]
                y[(n, o, *pos)] = total
    return y


def conv_backward_reference(
    x: np.ndarray,
    w: np.ndarray,
    grad_out: np.ndarray,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dX, dL/dW, dL/db) of :func:`conv_reference`, as the recitation's sums of products.

    dL/dW[o, c, i, j] = Σ_n Σ_y Σ_x dL/dO[n, o, y, x] · X[n, g·Cg + c, y·s + i·d, x·s + j·d]
        (the correlation of X with dL/dO);
    dL/dX[n, g·Cg + c, y·s + i·d, x·s + j·d] += dL/dO[n, o, y, x] · W[o, c, i, j] for every output
        position and tap: each dL/dO value scattered back through the weights it met, which summed
        up is the full convolution of the 180°-rotated W with dL/dO;
    dL/db[o] = Σ_n Σ_y Σ_x dL/dO[n, o, y, x].

    Example:
        >>> x, w, grad_out = np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))
        >>> grad_x, grad_w, grad_b = conv_backward_reference(x, w, grad_out)
        >>> grad_x[0, 0].tolist(), grad_w[0, 0].tolist(), grad_b.tolist()
        ([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], [[8.0, 12.0], [20.0, 24.0]], [4.0])
    """
    nd = w.ndim - 2
    s, d, pads = _per_dim(stride, nd), _per_dim(dilation, nd), _pad_pairs(padding, nd)
    N, O, Cg, k, spatial = x.shape[0], w.shape[0], w.shape[1], w.shape[2:], x.shape[2:]
    Og = O // groups
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(w)
    for n in range(N):
        for o in range(O):
            g = o // Og
            for pos in np.ndindex(*grad_out.shape[2:]):
                dO = grad_out[(n, o, *pos)]
                for c in range(Cg):
                    for tap in np.ndindex(*k):
                        at = tuple(p * s[a] - pads[a][0] + t * d[a] for a, (p, t) in enumerate(zip(pos, tap)))
                        if not all(0 <= i < n_a for i, n_a in zip(at, spatial)):
                            continue  # the padding: not part of X, no term
                        where = (n, g * Cg + c, *at)
                        grad_w[(o, c, *tap)] += dO * x[where]  # dL/dW[o,c,i,j] += dL/dO[o,y,x]·X[c, ys+id, xs+jd]
                        grad_x[where] += dO * w[(o, c, *tap)]  # dL/dX[c, ys+id, xs+jd] += dL/dO[o,y,x]·W[o,c,i,j]
    grad_b = grad_out.sum(axis=(0, *range(2, 2 + nd)))  # dL/db[o] = Σ dL/dO[n, o, ...]
    return grad_x, grad_w, grad_b
