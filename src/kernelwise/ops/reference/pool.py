"""Pooling written as plain loops over windows: the specification of ``ops/pool.py``.

Legend: N batch, C channels, spatial (H, W) or (L,), kernel (kh, kw), out (oh, ow), P padding, S stride, d dilation.

Slow on purpose; the tests check the vectorised ``WindowPool`` against these loops.
For each output position o and each tap i of the kernel (in row-major order), the
tap reads input position o·S - P + i·d. Taps that fall outside the input read the
padding, which never wins a max/min and adds 0 to a mean.

Routing rule of backward:
    max / min:  the whole dL/dy[o] goes to the input position of the window's winner, found as
                PyTorch's CPU kernel finds it: starting from the window's first real tap at -inf
                (+inf), a tap in row-major order replaces the winner when it is strictly larger
                (smaller) or NaN. So the first of ties wins, the padding never does (a window of
                -inf sends its gradient to its first real tap), and the last NaN wins.
    mean:       every tap of the window that reads the input gets dL/dy[o] / divisor, where
                divisor = divisor_override, or (count_include_pad) the number of taps on [-P, size + P),
                or the number of taps on [0, size).

Example:
    >>> import numpy as np
    >>> x = np.array([[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]])
    >>> pool_reference(x, (2, 2), (2, 2), (0, 0), (1, 1), False, "max").tolist()
    [[[16.0, 9.0], [67.0, 13.0]]]
"""

from __future__ import annotations

import itertools

import numpy as np


def _output_length(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """floor (ceil) ((size + 2P - d(k-1) - 1) / S) + 1; in ceil_mode the last window must start before size + P."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _windows_of(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """Yield (o, taps): each output position and, per tap in row-major order, the input position it reads."""
    out = [_output_length(*a, ceil_mode) for a in zip(spatial, kernel_size, stride, padding, dilation, strict=True)]
    for o in itertools.product(*(range(n) for n in out)):
        taps = []
        for i in itertools.product(*(range(k) for k in kernel_size)):
            taps.append(tuple(oj * s - p + ij * d for oj, ij, s, p, d in zip(o, i, stride, padding, dilation)))
        yield o, taps


def _inside(position, low, high) -> bool:
    return all(lo <= j < hi for j, lo, hi in zip(position, low, high, strict=True))


def _window_result(x, lead, taps, spatial, padding, reducer, count_include_pad, divisor_override):
    """(value, winner position or None, divisor or None) of one window of x[lead]."""
    real = [t for t in taps if _inside(t, [0] * len(t), spatial)]
    if reducer == "mean":
        if divisor_override is not None:
            divisor = divisor_override
        elif count_include_pad:
            divisor = sum(_inside(t, [-p for p in padding], [n + p for n, p in zip(spatial, padding)]) for t in taps)
        else:
            divisor = len(real)
        return sum(x[lead + t] for t in real) / divisor, None, divisor
    best, winner = (-np.inf if reducer == "max" else np.inf), real[0] if real else None
    for t in real:  # row-major order; a strictly better value or a NaN replaces the best: the first of ties wins
        v = x[lead + t]
        if ((v > best) if reducer == "max" else (v < best)) or (x.dtype.kind == "f" and np.isnan(v)):
            best, winner = v, t
    return best, winner, None


def pool_reference(
    x: np.ndarray,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
    reducer: str,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """y[n, c, o] = max / min / mean of the window of o, one window at a time.

    Shape: (N, C, *spatial) -> (N, C, *out) (any number of leading dims).
    """
    nd = len(kernel_size)
    spatial = x.shape[-nd:]
    results = {}
    for lead in np.ndindex(*x.shape[:-nd]):
        for o, taps in _windows_of(spatial, kernel_size, stride, padding, dilation, ceil_mode):
            value, _, _ = _window_result(x, lead, taps, spatial, padding, reducer, count_include_pad, divisor_override)
            results[lead + o] = value
    out = [_output_length(*a, ceil_mode) for a in zip(spatial, kernel_size, stride, padding, dilation, strict=True)]
    y = np.zeros(x.shape[:-nd] + tuple(out), dtype=x.dtype)
    for index, value in results.items():
        y[index] = value
    return y


def pool_backward_reference(
    x: np.ndarray,
    grad_out: np.ndarray,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
    reducer: str,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """dL/dx from dL/dy by the routing rule of the module docstring, one window at a time.

    Shape: grad_out (N, C, *out) -> (N, C, *spatial).
    """
    nd = len(kernel_size)
    spatial = x.shape[-nd:]
    grad_x = np.zeros(x.shape, dtype=grad_out.dtype)
    for lead in np.ndindex(*x.shape[:-nd]):
        for o, taps in _windows_of(spatial, kernel_size, stride, padding, dilation, ceil_mode):
            _, winner, divisor = _window_result(
                x, lead, taps, spatial, padding, reducer, count_include_pad, divisor_override
            )
            if reducer == "mean":
                for t in taps:
                    if _inside(t, [0] * nd, spatial):
                        grad_x[lead + t] += grad_out[lead + o] / divisor  # dL/dx_t += dL/dy / divisor
            elif winner is not None:
                grad_x[lead + winner] += grad_out[lead + o]  # dL/dx_winner += dL/dy
    return grad_x
