"""Sliding windows (im2col as a view) and their adjoint, col2im.

Legend: N batch, C channels, spatial sizes (H, W) or (L,), kernel (kh, kw), out (oh, ow).
A window view costs no copy; ``col2im`` adds each kernel tap's slab back with one
strided add per tap (k² adds for a k×k kernel), the adjoint of taking windows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import conv_output_size


def windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """A read-only view of every window of an already padded ``x``.

    Shape: (N, C, *spatial) -> (N, C, *out, *kernel) with out = floor((size - d(k-1) - 1)/s) + 1.
    Element [n, c, o..., i...] is x[n, c, o·s + i·d ...].
    """
    nd = len(kernel)
    spatial = x.shape[-nd:]
    out = tuple(conv_output_size(n, k, s, 0, d) for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True))
    st = x.strides[-nd:]
    shape = x.shape[:-nd] + out + tuple(kernel)
    strides = (
        x.strides[:-nd]
        + tuple(a * s for a, s in zip(st, stride, strict=True))
        + tuple(a * d for a, d in zip(st, dilation, strict=True))
    )
    return as_strided(x, shape=shape, strides=strides, writeable=False)


@lru_cache(maxsize=256)
def tap_regions(
    kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], out: tuple[int, ...]
) -> tuple[tuple[slice, ...], ...]:
    """Where tap t of every window lies in the padded input, for each tap in row-major order.

    x_t[o] = x_pad[o·s + t·d]: one slice per spatial dimension (cached: a layer asks for the same
    slices every step).

    Example:
        >>> tap_regions((2,), (2,), (1,), (3,))  # 2-wide windows, stride 2, 3 outputs
        ((slice(0, 5, 2),), (slice(1, 6, 2),))
    """
    return tuple(
        tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out, stride, strict=True))
        for tap in np.ndindex(*kernel)
    )


@lru_cache(maxsize=256)
def tap_boxes(
    spatial: tuple[int, ...],
    out: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    before: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]], ...]:
    """For each tap t: the outputs whose tap t reads the input rather than the padding, and what they read there.

    Output o's tap t reads input o·s - P + t·d (P = ``before``, the padding before the input). Along each
    dimension the outputs whose read lies in [0, size) form one range, ceil((P - t·d)/s) <= o <=
    floor((size - 1 + P - t·d)/s) (clipped to [0, out)), so for each tap they form one box. Taps that
    read only padding are left out. Returns (tap, slices of the output, slices of the input) per tap.

    Example:
        >>> for tap, at_out, at_in in tap_boxes((4,), (4,), (3,), (1,), (1,), (1,)):  # padding 1 on both sides
        ...     print(tap, at_out, at_in)
        (0,) (slice(1, 4, None),) (slice(0, 3, 1),)
        (1,) (slice(0, 4, None),) (slice(0, 4, 1),)
        (2,) (slice(0, 3, None),) (slice(1, 4, 1),)
    """
    boxes = []
    for tap in np.ndindex(*kernel):
        at_out, at_in = [], []
        for n, o, t, s, p, d in zip(spatial, out, tap, stride, before, dilation, strict=True):
            first, last = max(0, -((t * d - p) // s)), min(o - 1, (n - 1 + p - t * d) // s)  # the range of o
            at_out.append(slice(first, last + 1))
            at_in.append(slice(first * s - p + t * d, last * s - p + t * d + 1, s))  # input o·s - P + t·d
        if all(box.stop > box.start for box in at_out):
            boxes.append((tap, tuple(at_out), tuple(at_in)))
    return tuple(boxes)


def col2im(
    cols: np.ndarray,
    padded_shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """Adjoint of :func:`windows`: sum every window element back onto its position.

    Shape: (N, C, *out, *kernel) -> padded_shape (N, C, *spatial). Overlapping windows add.
    """
    nd = len(kernel)
    out = cols.shape[-2 * nd : -nd]
    x = np.zeros(padded_shape, dtype=cols.dtype)
    for tap, region in zip(np.ndindex(*kernel), tap_regions(kernel, stride, dilation, out)):
        x[(Ellipsis, *region)] += cols[(Ellipsis, *([slice(None)] * nd), *tap)]  # x[i·d + o·s] += cols[o, i]
    return x
