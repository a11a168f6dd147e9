"""Max and min pooling one window tap at a time: the fast path of ``WindowPool`` (ops/pool.py).

Legend: N batch, C channels, spatial (H, W) or (L,), kernel (kh, kw), out (oh, ow),
K = kh·kw taps per window, P padding, S stride, d dilation; lead = the leading (N, C) axes.

The plain path copies every window (K values per output) and reduces it. This one makes one pass
per tap t instead: it updates the running extremum, y = max(y, x_t), and the winner, arg = t where
x_t beat every earlier tap; backward writes every dL/dy onto its window's winner, one tap at a time.
Where windows lie apart (S ≥ d·(k - 1) + 1, e.g. 2×2 with stride 2) each tap is a strided view of x
and each share one masked write, in x's own memory order (batch-last after a batch-last convolution
stays batch-last); where they overlap (3×3 with stride 2) the input is first split by the phase of
the stride, so that each tap is one contiguous run and each share one contiguous add (see
:class:`PhaseGrid`), the phases laid out in x's memory order too, so that y and dL/dx come back in
it. Values, winners and gradients are the plain path's: the tests hold this path to it.

``WindowPool`` calls it through four functions:

    supports(reducer, method)           whether this path computes the pooling
    forward(x, ...)                     -> (y, TapsSaved): the output and what backward needs
    can_backward(grad_out)              whether backward can take this dL/dy (else the plain scatter,
                                        with TapsSaved.winners())
    backward(grad_out, saved)           -> dL/dx

and, where no backward runs and no indices are asked for, through ``extremum_separable(x, ...)`` -> y:
one spatial axis at a time, without winners and without the phase split.

Example:
    >>> import numpy as np
    >>> x = np.array([[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]])
    >>> supports("max", "taps"), supports("mean", "taps")
    (True, False)
    >>> y, saved = forward(x, ((2, 2), (2, 2), (0, 0), (1, 1)), (2, 2), (4, 4), "max")
    >>> y.tolist(), saved.winners().tolist()  # 16 is tap (1, 0) = 2 of its window, 9 tap (0, 1) = 1, ...
    ([[[16.0, 9.0], [67.0, 13.0]]], [[[2, 1], [2, 0]]])
    >>> backward(np.ones((1, 2, 2)), saved)[0].tolist()
    [[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._poolrules import Window, last_nan, pad_value, padded_input, padding_never_wins
from .layout import axis_order, empty_in_order
from .windows import tap_regions

METHOD = "taps"  # the name WindowPool's ``method`` gives this path


class PhaseGrid:
    """Where every window tap of a strided pooling lies, as one contiguous run each: the "taps" layout.

    Window o's tap t reads padded position o·S + t·d. Position p = q·S + r along each axis is moved
    to phase r at q (r = p mod S, q < ceil(padded / S)); each phase, a (*lead, *q) plane laid out
    in memory in ``order`` (x's axis order: C order, or batch-last after a batch-last convolution),
    is one row of M = Πlead·Πq values. On it, tap t of every window is the run starting at
    Σ ((t·d) // S)·step of phase (t·d) mod S, step being the distance between q-neighbours in that
    memory: one contiguous slice, where the strided tap views of the plain layout make one short run
    per output row (NumPy pays ~20 ns per run). A run also reads past the end of a q-row (into the
    next one, or the tail): only at positions o ≥ out of the q-grid, computed too and cropped at the end.

    Example (1-d, 3 taps, stride 2: taps 0 and 2 read phase 0, tap 1 reads phase 1):
        >>> grid = PhaseGrid((1,), (7,), (3,), (2,), (1,), (3,))
        >>> grid.q, grid.taps  # 4 positions per phase; (phase row, offset) of each tap
        ((4,), [(0, 0), (1, 0), (0, 1)])
        >>> grid.split(np.arange(7.0)[None], (0,), -np.inf).tolist()  # even, then odd positions
        [[0.0, 2.0, 4.0, 6.0, -inf], [1.0, 3.0, 5.0, -inf, -inf]]
        >>> PhaseGrid((2,), (7,), (3,), (2,), (1,), (3,), order=(1, 0)).taps  # batch last: q-neighbours 2 apart
        [(0, 0), (1, 0), (0, 2)]
    """

    def __init__(
        self,
        lead: tuple[int, ...],
        padded: tuple[int, ...],
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        dilation: tuple[int, ...],
        out_size: tuple[int, ...],
        order: tuple[int, ...] | None = None,
    ) -> None:
        nd = len(padded)
        self.stride, self.out_size, self.lead = stride, out_size, tuple(lead)
        self.q = tuple(-(-n // s) for n, s in zip(padded, stride))  # the windows' grid: positions per phase
        plane = (*self.lead, *self.q)
        self.order = tuple(range(len(plane))) if order is None else tuple(order)  # the planes' memory order
        self.memory_shape = tuple(plane[a] for a in self.order)
        self.axes = tuple(sorted(range(len(plane)), key=self.order.__getitem__))  # memory -> (*lead, *q)
        self.M = math.prod(plane)
        distance = {a: math.prod(self.memory_shape[i + 1 :]) for i, a in enumerate(self.order)}
        step = [distance[len(self.lead) + a] for a in range(nd)]  # neighbours' distance on the q-grid
        phases = {phase: i for i, phase in enumerate(np.ndindex(*stride))}  # the row of each phase
        self.taps = [  # (row, offset) of each tap, in row-major window order
            (
                phases[tuple(t * d % s for t, d, s in zip(tap, dilation, stride))],
                sum((t * d // s) * st for t, d, s, st in zip(tap, dilation, stride, step)),
            )
            for tap in np.ndindex(*kernel_size)
        ]
        self.tail = max(offset for _, offset in self.taps)  # how far the last run reaches past M

    def _phase_slices(self, padding: tuple[int, ...], spatial: tuple[int, ...]) -> list[tuple[tuple, tuple]]:
        """For each phase r, in row order: (its slice of x, where those positions sit in the phase's plane)."""
        pairs = []
        for phase in np.ndindex(*self.stride):
            # phase r holds padded positions q·S + r, i.e. x positions q·S + r - P, the first at q = ceil((P - r) / S)
            first = [-(-(p - r) // s) if p > r else 0 for p, r, s in zip(padding, phase, self.stride)]
            start = [f * s + r - p for f, r, s, p in zip(first, phase, self.stride, padding)]
            count = [len(range(a, n, s)) for a, n, s in zip(start, spatial, self.stride)]
            source = (Ellipsis, *(slice(a, None, s) for a, s in zip(start, self.stride)))
            pairs.append((source, (Ellipsis, *(slice(f, f + c) for f, c in zip(first, count)))))
        return pairs

    def plane(self, row: np.ndarray) -> np.ndarray:
        """The first M values of a phase row (or of the flat q-grid) as a (*lead, *q) view, in the grid's order."""
        return row[: self.M].reshape(self.memory_shape).transpose(self.axes)

    def split(self, x: np.ndarray, padding: tuple[int, ...], fill: Any) -> np.ndarray:
        """x (*lead, *spatial), padded with ``fill`` before by ``padding``: the phase rows (ΠS, M + tail)."""
        spatial = x.shape[len(self.lead) :]
        covered = all(p == 0 and n == q * s for p, n, q, s in zip(padding, spatial, self.q, self.stride))
        rows = np.empty((math.prod(self.stride), self.M + self.tail), dtype=x.dtype)
        rows[:, 0 if not covered else self.M :] = fill  # the padding, and what the last runs read past the grid
        for row, (source, target) in zip(rows, self._phase_slices(padding, spatial)):
            self.plane(row)[target] = x[source]  # one strided copy per phase, in x's memory order
        return rows

    def merge(self, rows: np.ndarray, padding: tuple[int, ...], spatial: tuple[int, ...]) -> np.ndarray:
        """The adjoint of ``split`` without the padding: phase rows back to x positions (*lead, *spatial), in order."""
        x = empty_in_order((*self.lead, *spatial), self.order, rows.dtype)
        for row, (source, target) in zip(rows, self._phase_slices(padding, spatial)):
            x[source] = self.plane(row)[target]  # every x position belongs to exactly one phase
        return x

    def crop(self, grid_values: np.ndarray) -> np.ndarray:
        """Values on the q-grid (M,) -> (*lead, *out), the windows that exist, laid out in the grid's order."""
        out = empty_in_order((*self.lead, *self.out_size), self.order, grid_values.dtype)
        np.copyto(out, self.plane(grid_values)[(Ellipsis, *(slice(o) for o in self.out_size))])
        return out


def extremum_by_taps(taps: list[np.ndarray], reducer: str) -> tuple[np.ndarray, np.ndarray]:
    """y = max (min) over the window taps, one tap at a time, and arg = the index of the first tap reaching it.

    ``taps[t]`` holds tap t of every window (any layout, the same for all taps). Same values and
    tie rule as np.argmax over each window (the plain path); a NaN wins its window (the last NaN,
    as PyTorch).

    Example:
        >>> y, arg = extremum_by_taps([np.array([1.0, 5.0, 2.0]), np.array([3.0, 5.0, np.nan])], "max")
        >>> y.tolist(), arg.tolist()  # a tie keeps tap 0; the NaN wins
        ([3.0, 5.0, nan], [1, 0, 1])
    """
    pick, beats = (np.maximum, np.greater) if reducer == "max" else (np.minimum, np.less)
    y = np.array(taps[0], copy=True)  # running extremum (in the taps' axis order, as every array here)
    spare = np.empty_like(y)
    arg = np.zeros_like(y, dtype=np.min_scalar_type(len(taps) - 1))  # running winner: tap 0 so far
    for t in range(1, len(taps)):
        pick(y, taps[t], out=spare)  # y_t = max(y_{t-1}, x_t)
        won = beats(spare, y)  # x_t beat every earlier tap (a tie keeps the earlier one)
        np.maximum(arg, won * arg.dtype.type(t), out=arg)  # arg = t where x_t won (t exceeds every earlier arg)
        y, spare = spare, y
    if y.dtype.kind == "f":
        nan = np.isnan(y)  # a NaN propagated into y but never "won" a comparison: point at the last NaN tap
        if nan.any():
            arg[nan] = last_nan(np.stack([tap[nan] for tap in taps], axis=-1))
    return y, arg


def _scatter_to_phases(grad_out: np.ndarray, arg: np.ndarray, grid: PhaseGrid) -> np.ndarray:
    """dL/dx_pad[o·S + t·d] += dL/dy[o] for the tap t that won window o, on the phase rows of overlapping windows.

    Each tap's share is one add of a contiguous run (see ``PhaseGrid``). Shape: dL/dy (*lead, *out) ->
    the phase rows of dL/dx_pad.
    """
    grad_grid = np.zeros(grid.M, dtype=grad_out.dtype)  # dL/dy on the q-grid, 0 where no window is
    grid.plane(grad_grid)[(Ellipsis, *(slice(o) for o in grid.out_size))] = grad_out
    rows = np.zeros((math.prod(grid.stride), grid.M + grid.tail), dtype=grad_grid.dtype)
    for t, (phase, offset) in enumerate(grid.taps):
        rows[phase, offset : offset + grid.M] += grad_grid * (arg == t)  # dL/dx_pad[o·S + t·d] += dL/dy[o] if t won
    return rows


@dataclass
class TapsSaved:
    """What the taps path's forward keeps for backward and for the indices.

    ``winning_tap`` is the winner of each window as an index into its row-major window, in the layout
    of the taps: (*lead, *out) where windows lie apart, the flat q-grid (M,) of ``grid`` where they overlap.
    """

    winning_tap: np.ndarray
    grid: PhaseGrid | None  # the phase grid where windows overlap, None where they lie apart
    input_shape: tuple[int, ...]  # x: (*lead, *spatial)
    padded_shape: tuple[int, ...]  # x padded: (*lead, *padded)
    output_shape: tuple[int, ...]  # y: (*lead, *out)
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]

    def winners(self) -> np.ndarray:
        """The winning tap of each window, (*lead, *out), whichever layout forward used."""
        if self.grid is None:
            return self.winning_tap
        return self.grid.crop(self.winning_tap)


def supports(reducer: str, method: str) -> bool:
    """Whether this path computes a pooling: max or min, with ``method="taps"`` (WindowPool's default)."""
    return reducer != "mean" and method == METHOD


def forward(
    x: np.ndarray, window: Window, out_size: tuple[int, ...], padded: tuple[int, ...], reducer: str
) -> tuple[np.ndarray, TapsSaved]:
    """y = max (min) over each window, tap by tap; ``padded``: the spatial size with padding (and ceil_mode's).

    ``window`` = (kernel_size, stride, padding, dilation). Shape: x (*lead, *spatial) -> y (*lead, *out).
    """
    kernel_size, stride, padding, dilation = window
    nd = len(kernel_size)
    lead, spatial = x.shape[:-nd], x.shape[-nd:]
    overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
    pad = pad_value(reducer, x.dtype)
    is_padded = padding != (0,) * nd or padded != spatial
    grid = None
    if overlap:  # taps on the phase grid, laid out in x's memory order: one run each
        grid = PhaseGrid(lead, padded, kernel_size, stride, dilation, out_size, axis_order(x))
        rows = grid.split(x, padding, pad)
        y, arg = extremum_by_taps([rows[r, t : t + grid.M] for r, t in grid.taps], reducer)  # y = max over taps
        if is_padded:
            padding_never_wins(grid.plane(y), grid.plane(arg), pad, window)
        y = grid.crop(y)
    else:  # windows apart: the taps are strided views of x
        xp = padded_input(x, padding, padded, pad) if is_padded else x
        taps = [xp[(Ellipsis, *region)] for region in tap_regions(kernel_size, stride, dilation, out_size)]
        y, arg = extremum_by_taps(taps, reducer)  # y = max over taps
        if is_padded:
            padding_never_wins(y, arg, pad, window)
    saved = TapsSaved(arg, grid, x.shape, (*lead, *padded), (*lead, *out_size), *window)
    return y, saved


def can_backward(grad_out: np.ndarray) -> bool:
    """Whether :func:`backward` takes this dL/dy: a finite one.

    The masked writes multiply dL/dy by 0 at the taps that lost, and inf·0 = NaN: a non-finite
    dL/dy takes the plain path's scatter, which only adds.
    """
    return bool(np.isfinite(grad_out).all())


def backward(grad_out: np.ndarray, saved: TapsSaved) -> np.ndarray:
    """dL/dx: every dL/dy[o] onto the input position of window o's winner. Shape: (*lead, *out) -> (*lead, *spatial)."""
    nd = len(saved.kernel_size)
    spatial = saved.input_shape[-nd:]
    arg, grid = saved.winning_tap, saved.grid
    if grid is not None:  # overlapping windows: adds on the phase rows, dL/dx in x's memory order
        rows = _scatter_to_phases(grad_out, arg, grid)
        return grid.merge(rows, saved.padding, spatial)
    # windows apart: each tap's share is one masked write
    out = grad_out.shape[-nd:]
    regions = tap_regions(saved.kernel_size, saved.stride, saved.dilation, out)
    tiled = (
        saved.kernel_size == saved.stride
        and all(  # every position in one window: each written once
            d == 1 and o * s == n for d, o, s, n in zip(saved.dilation, out, saved.stride, saved.padded_shape[-nd:])
        )
    )
    order = axis_order(arg)  # x's axis order (batch-last after a batch-last convolution): keep it
    grad_xp = empty_in_order(saved.padded_shape, order, grad_out.dtype)
    if not tiled:
        grad_xp[...] = 0
    for t, region in enumerate(regions):
        np.multiply(grad_out, arg == t, out=grad_xp[(Ellipsis, *region)])  # dL/dy where tap t won
    crop = (Ellipsis, *(slice(p, p + n) for p, n in zip(saved.padding, spatial, strict=True)))
    return grad_xp[crop]  # dL/dx = dL/dy at each window's winner, the padding's share dropped


def _axis_windows(n: int, k: int, s: int, p: int, d: int, o: int) -> tuple[int, int, dict[int, list[int]]]:
    """Along one axis of length n: the outputs [lo, hi) whose k taps all read x, and the x positions the taps of
    every other output read (tap t of output j reads j·s - p + t·d; those in the padding left out).

    Example (3 taps, stride 2, padding 1, 7 positions: output 0 reads -1, 0, 1; output 3 reads 5, 6, 7):
        >>> _axis_windows(7, 3, 2, 1, 1, 4)
        (1, 3, {0: [0, 1], 3: [5, 6]})
    """
    lo = min(o, -(-p // s))  # tap 0 reads x from j = ceil(p / s)
    hi = max(lo, min(o, (n - 1 + p - (k - 1) * d) // s + 1))  # tap k-1 reads x up to j = floor((n-1 + p - (k-1)·d) / s)
    edges = {j: [i for t in range(k) if 0 <= (i := j * s - p + t * d) < n] for j in (*range(lo), *range(hi, o))}
    return lo, hi, edges


def extremum_separable(
    x: np.ndarray, window: Window, out_size: tuple[int, ...], padded: tuple[int, ...], reducer: str
) -> np.ndarray:
    """y = max (min) over each window, one spatial axis at a time: :func:`forward`'s y, without its winners.

    max over a k_h×k_w window = max over its k_h rows of (max over each row's k_w taps), and so on for
    any number of axes; max and min are exact, so y equals :func:`forward`'s bit for bit (a NaN
    propagates through np.maximum as it does there). Along each axis, for output j:

        z[j] = max_t x[j·S - P + t·d]     k - 1 np.maximum calls on strided views of x, in place

    The taps that read the padding (-inf for max, +inf for min: they never change the extremum) are
    left out, at the few outputs next to an edge; x is never copied padded, nor split into phases.
    The axis that shrinks the data most goes first (among equals the outer one: measured faster). y is
    laid out in memory as x is (batch-last stays batch-last). ``window``, ``out_size`` and ``padded`` as
    for :func:`forward` (``padded`` only checks that ceil_mode's last windows fit). For a forward without
    backward and without indices.

    Example (2×2 windows, stride 1, padding 1 on a 2×3 input):
        >>> x = np.array([[1.0, 5, 2], [4, 0, np.nan]])
        >>> y = extremum_separable(x, ((2, 2), (1, 1), (1, 1), (1, 1)), (3, 4), (4, 5), "max")
        >>> y.tolist()
        [[1.0, 5.0, 5.0, 2.0], [4.0, 5.0, nan, nan], [4.0, 4.0, nan, nan]]
        >>> np.array_equal(y, forward(x, ((2, 2), (1, 1), (1, 1), (1, 1)), (3, 4), (4, 5), "max")[0], equal_nan=True)
        True
    """
    kernel_size, stride, padding, dilation = window
    nd = len(kernel_size)
    lead = x.ndim - nd
    pick: Callable[..., np.ndarray] = np.maximum if reducer == "max" else np.minimum
    fill = pad_value(reducer, x.dtype)
    order = axis_order(x)  # y's memory order: x's
    reach = [(o - 1) * s + d * (k - 1) + 1 for k, s, d, o in zip(kernel_size, stride, dilation, out_size)]
    assert all(r <= n for r, n in zip(reach, padded)), "the windows reach past the padded input"
    z, fresh = x, False  # z: x reduced along the axes done so far; fresh: z is a new array, not x or a view of it
    for a in sorted(range(nd), key=lambda a: out_size[a] / max(1, x.shape[lead + a])):  # the largest shrink first
        k, s, p, d, o = kernel_size[a], stride[a], padding[a], dilation[a], out_size[a]
        n = z.shape[lead + a]

        def along(index: slice, a: int = a) -> tuple[Any, ...]:
            return (*(slice(None),) * (lead + a), index)

        lo, hi, edges = _axis_windows(n, k, s, p, d, o)
        if k == 1 and (lo, hi) == (0, o):  # one tap, no padding: a strided view, z[j] = z[j·S]
            z = z[along(slice(0, (o - 1) * s + 1, s))]
            continue
        out = empty_in_order((*z.shape[: lead + a], o, *z.shape[lead + a + 1 :]), order, x.dtype)
        if hi > lo:  # the windows inside: tap t of outputs lo..hi-1 is one strided view of z
            first = [lo * s - p + t * d for t in range(k)]
            taps = [z[along(slice(f, f + (hi - lo - 1) * s + 1, s))] for f in first]
            core = out[along(slice(lo, hi))]
            if k == 1:
                np.copyto(core, taps[0])
            else:
                pick(taps[0], taps[1], out=core)  # z'[j] = max(z[j·S - P], z[j·S - P + d])
                for tap in taps[2:]:
                    pick(core, tap, out=core)  # z'[j] = max(z'[j], z[j·S - P + t·d])
        for j, positions in edges.items():  # the windows at the edges: their taps inside x only
            edge = out[along(slice(j, j + 1))]
            if not positions:
                edge[...] = fill  # padding only: the padding's value, as the padded path gives
                continue
            np.copyto(edge, z[along(slice(positions[0], positions[0] + 1))])
            for i in positions[1:]:
                pick(edge, z[along(slice(i, i + 1))], out=edge)
        z, fresh = out, True
    if not fresh:  # every kernel 1 wide: a copy of the strided view, in x's order
        y = empty_in_order(z.shape, order, x.dtype)
        np.copyto(y, z)
        return y
    return z
