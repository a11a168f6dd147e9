"""Pooling: max, mean and min over sliding windows, and adaptive pooling.

Legend: N batch, C channels, spatial (H, W) or (L,), kernel (kh, kw), out (oh, ow),
K = kh·kw taps per window, P padding, S stride, d dilation.

Every kind of pooling is one windowed reduction with a different reducer (the
recitation's "Max, Mean, Min"): pad the input with the reducer's neutral value
(-inf for max, +inf for min, 0 for mean), view every window with ``windows`` and
reduce the window axes. Backward builds the gradient of each window and adds the
windows back onto the input with ``col2im`` (the adjoint of taking windows), then
crops the padding:

    max / min:  dL/dx[arg] += dL/dy   only the tap that won gets the gradient
    mean:       dL/dx[i]   += dL/dy / divisor   for every tap i of the window

Ties and non-finite values follow PyTorch's CPU kernel, which starts each window at
-inf with its first tap inside the input as the winner, and replaces the winner by a
strictly larger value or by any NaN:

    ties:     the first tap in row-major window order (np.argmax/argmin) wins
    padding:  never wins, even where every real tap is -inf (+inf for min): the first real tap does
    NaN:      the window's value is NaN, and the last NaN tap wins

``return_indices`` reports each winner as PyTorch does, as its position in the flattened
spatial input of its channel (``max_unpool`` puts the values back there). Pooling keeps
the number of channels.

Max and min pooling run a faster path by default (``method="taps"``): instead of
copying every window (K values per output) and reducing it, one pass per tap t
updates the running extremum, y = max(y, x_t), and the winner, arg = t where x_t
beat every earlier tap; backward writes every dL/dy onto its window's winner, one
tap at a time. Where windows lie apart (S ≥ d·(k - 1) + 1, e.g. 2×2 with stride 2)
each tap is a strided view of x and each share one masked write; where they overlap
(3×3 with stride 2) the input is first split by the phase of the stride, so that each
tap is one contiguous run and each share one contiguous add (see ``_PhaseGrid``).
``method="windows"`` is the plain path above, the specification the tests hold the
fast one to.

Example (the recitation's 2×2 pooling with stride 2):
    >>> import kernelwise as kw
    >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
    >>> max_pool2d(x, 2).tolist(), min_pool2d(x, 2).tolist()
    ([[[[16.0, 9.0], [67.0, 13.0]]]], [[[[4.0, 0.0], [6.0, 3.0]]]])
    >>> avg_pool2d(x, 2).tolist()
    [[[[9.5, 4.75], [25.75, 7.75]]]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from ._args import check_float, check_tensor, conv_output_size, ntuple
from .layout import axis_order, empty_in_order
from .windows import col2im, tap_regions, windows

_ARG = {"max": np.argmax, "min": np.argmin}  # the winning tap of a window (first one among ties)


def _pad_value(reducer: str, dtype: np.dtype) -> Any:
    """The value padding takes: one that never wins (-inf for max, +inf for min) or adds nothing (mean)."""
    if reducer == "mean":
        return 0
    if dtype.kind == "f":
        return -np.inf if reducer == "max" else np.inf
    info = np.iinfo(dtype)
    return info.min if reducer == "max" else info.max


def pool_output_size(
    size: int, kernel_size: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a pooling along one dimension, with PyTorch's ceil_mode rule.

    floor((W_in + 2P - d·(k - 1) - 1) / S) + 1, with ceil instead of floor when
    ``ceil_mode``; then the last window must start inside the input or the left
    padding, i.e. (out - 1)·S < W_in + P, else it is dropped.

    Example:
        >>> pool_output_size(5, 2, 2), pool_output_size(5, 2, 2, ceil_mode=True)
        (2, 3)
        >>> pool_output_size(5, 2, 2, padding=1, ceil_mode=True)  # a 4th window would start at 3·2 - 1 = W_in
        3
    """
    out = conv_output_size(size, kernel_size, stride, padding, dilation)
    if ceil_mode:
        span = size + 2 * padding - dilation * (kernel_size - 1) - 1
        out = -(-span // stride) + 1  # ceil(span / S) + 1
        if (out - 1) * stride >= size + padding:  # the last window would start in the right padding
            out -= 1
    return out


def _window_counts(
    spatial: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    out_size: tuple[int, ...],
    count_include_pad: bool,
    dtype: np.dtype,
) -> np.ndarray:
    """Average pooling's divisor for each window, PyTorch's rule (shape: out).

    The number of taps on [-P, W_in + P) when ``count_include_pad`` (the padding counts,
    ceil_mode's overhang past it does not), else on [0, W_in) (real inputs only).
    """
    nd = len(spatial)
    padded = [(o - 1) * s + k for o, s, k in zip(out_size, stride, kernel_size, strict=True)]
    padded = [max(m, n + 2 * p) for m, n, p in zip(padded, spatial, padding, strict=True)]
    counted = np.zeros(padded, dtype=dtype)  # 1 where a tap counts, on the padded grid
    counted[tuple(slice(0, n + 2 * p) if count_include_pad else slice(p, n + p) for n, p in zip(spatial, padding))] = 1
    cols = windows(counted, kernel_size, stride, (1,) * nd)[tuple(slice(o) for o in out_size)]  # (*out, *kernel)
    return cols.sum(axis=tuple(range(-nd, 0)))


class _PhaseGrid:
    """Where every window tap of a strided pooling lies, as one contiguous run each: the "taps" layout.

    Window o's tap t reads padded position o·S + t·d. Position p = q·S + r along each axis is moved
    to phase r at q (r = p mod S, q < ceil(padded / S)); each phase, flattened with the leading
    (batch, channel) axes, is one row of M = lead·Πq values. On it, tap t of every window is the run
    starting at Σ ((t·d) // S)·step of phase (t·d) mod S: one contiguous slice, where the strided
    tap views of the plain layout make one short run per output row (NumPy pays ~20 ns per run).
    Positions o ≥ out of the q-grid are computed too and cropped at the end.
    """

    def __init__(
        self,
        lead: int,
        padded: tuple[int, ...],
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        dilation: tuple[int, ...],
        out_size: tuple[int, ...],
    ) -> None:
        nd = len(padded)
        self.stride, self.out_size, self.lead = stride, out_size, lead
        self.q = tuple(-(-n // s) for n, s in zip(padded, stride))  # the windows' grid: positions per phase
        self.M = lead * math.prod(self.q)
        step = [math.prod(self.q[a + 1 :]) for a in range(nd)]  # neighbours' distance on the q-grid
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
            source = (slice(None), *(slice(a, None, s) for a, s in zip(start, self.stride)))
            pairs.append((source, (slice(None), *(slice(f, f + c) for f, c in zip(first, count)))))
        return pairs

    def split(self, x: np.ndarray, padding: tuple[int, ...], fill: Any) -> np.ndarray:
        """x (lead, *spatial), padded with ``fill`` before by ``padding``: the phase rows (ΠS, M + tail)."""
        spatial = x.shape[1:]
        covered = all(p == 0 and n == q * s for p, n, q, s in zip(padding, spatial, self.q, self.stride))
        rows = np.empty((math.prod(self.stride), self.M + self.tail), dtype=x.dtype)
        rows[:, 0 if not covered else self.M :] = fill  # the padding, and what the last runs read past the grid
        planes = rows[:, : self.M].reshape(len(rows), self.lead, *self.q)
        for plane, (source, target) in zip(planes, self._phase_slices(padding, spatial)):
            plane[target] = x[source]  # one strided copy per phase
        return rows

    def merge(self, rows: np.ndarray, padding: tuple[int, ...], spatial: tuple[int, ...]) -> np.ndarray:
        """The adjoint of ``split`` without the padding: phase rows back to x positions (lead, *spatial)."""
        x = np.empty((self.lead, *spatial), dtype=rows.dtype)
        planes = rows[:, : self.M].reshape(len(rows), self.lead, *self.q)
        for plane, (source, target) in zip(planes, self._phase_slices(padding, spatial)):
            x[source] = plane[target]  # every x position belongs to exactly one phase
        return x

    def crop(self, grid_values: np.ndarray) -> np.ndarray:
        """Values on the q-grid (M,) -> (lead, *out): the windows that exist."""
        grid = grid_values.reshape(self.lead, *self.q)
        return np.ascontiguousarray(grid[(slice(None), *(slice(o) for o in self.out_size))])


def _last_nan(window_values: np.ndarray) -> np.ndarray:
    """The last NaN tap along the last axis (K taps): PyTorch's winner, which every NaN replaces."""
    return window_values.shape[-1] - 1 - np.isnan(window_values[..., ::-1]).argmax(axis=-1)


def _first_inside(
    positions: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """The first tap (row-major) of each window that reads the input, not the padding: PyTorch's starting winner.

    Along each dim, tap i of window o reads o·S - P + i·d, first inside at i = max(0, ceil((P - o·S) / d)).
    Shape: (*positions), an index into the flattened window.
    """
    nd = len(positions)
    first = np.zeros((1,) * nd, dtype=np.intp)
    for a, (o, k, s, p, d) in enumerate(zip(positions, kernel_size, stride, padding, dilation, strict=True)):
        i = np.maximum(0, -((np.arange(o) * s - p) // d))  # ceil((P - o·S) / d), at least 0
        first = first * k + i.reshape((o,) + (1,) * (nd - a - 1))  # row-major: ((i_0·k_1 + i_1)·k_2 + i_2)...
    return first


def _padding_never_wins(y: np.ndarray, arg: np.ndarray, pad: Any, *window: tuple[int, ...]) -> None:
    """Where a window's extremum is the padding's value, every real tap equals it: its first real tap wins.

    ``y`` and ``arg`` (*lead, *positions); ``window`` = (kernel_size, stride, padding, dilation). In place.
    """
    tie = y == pad
    if tie.any():
        first = _first_inside(y.shape[-len(window[0]) :], *window)
        np.copyto(arg, first.astype(arg.dtype), where=tie)


def _input_index(
    arg: np.ndarray,
    spatial: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """PyTorch's pooling indices: where each window's winner lies in the flattened spatial input of its channel.

    Tap t of window o reads o·S - P + t·d along each dim; the flat index is row-major over ``spatial``.
    Shape: arg (*lead, *out) -> int64 (*lead, *out).
    """
    nd = len(kernel_size)
    out, taps = arg.shape[-nd:], np.unravel_index(arg, kernel_size)  # the winner's tap along each dim
    index = np.zeros(arg.shape, dtype=np.int64)
    for a, (n, s, p, d) in enumerate(zip(spatial, stride, padding, dilation, strict=True)):
        o = np.arange(out[a]).reshape((out[a],) + (1,) * (nd - a - 1))
        index = index * n + (o * s - p + taps[a] * d)  # position o·S - P + t·d, row-major
    return index


def _extremum_by_taps(taps: list[np.ndarray], reducer: str) -> tuple[np.ndarray, np.ndarray]:
    """y = max (min) over the window taps, one tap at a time, and arg = the index of the first tap reaching it.

    ``taps[t]`` holds tap t of every window (any layout, the same for all taps). Same values and
    tie rule as np.argmax over each window (the plain path); a NaN wins its window (the last NaN,
    as PyTorch).
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
            arg[nan] = _last_nan(np.stack([tap[nan] for tap in taps], axis=-1))
    return y, arg


def _scatter_to_phases(grad_out: np.ndarray, arg: np.ndarray, grid: _PhaseGrid) -> np.ndarray:
    """dL/dx_pad[o·S + t·d] += dL/dy[o] for the tap t that won window o, on the phase rows of overlapping windows.

    Each tap's share is one add of a contiguous run (see ``_PhaseGrid``). Shape: dL/dy (lead, *out) ->
    the phase rows of dL/dx_pad.
    """
    g = np.zeros((grid.lead, *grid.q), dtype=grad_out.dtype)  # dL/dy on the q-grid, 0 where no window is
    g[(slice(None), *(slice(o) for o in grid.out_size))] = grad_out
    g = g.reshape(grid.M)
    rows = np.zeros((math.prod(grid.stride), grid.M + grid.tail), dtype=g.dtype)
    for t, (phase, offset) in enumerate(grid.taps):
        rows[phase, offset : offset + grid.M] += g * (arg == t)  # dL/dx_pad[o·S + t·d] += dL/dy[o] where t won
    return rows


class WindowPool(Function):
    """y[o] = reduce over the window of o of x (max, min or mean), N-d; see the module docstring.

    ``method``: "taps" (max and min: one pass per window tap, the default) or "windows" (the plain
    path: copy the windows, reduce with argmax/argmin); mean pooling always sums the window view.
    """

    def forward(
        self,
        x: np.ndarray,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: tuple[int, ...],
        dilation: tuple[int, ...],
        out_size: tuple[int, ...],
        reducer: str,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        method: str = "taps",
        indices: np.ndarray | None = None,
    ) -> np.ndarray:
        """``indices``, when given (an int64 array of the output's shape), receives each winner's input index."""
        if method not in ("taps", "windows"):
            raise UsageError(f"method={method!r}: expected 'taps' or 'windows'")
        nd = len(kernel_size)
        lead, spatial = x.shape[:-nd], x.shape[-nd:]
        # pad P on the left; on the right P, or more where ceil_mode's last window needs it:
        # the windows span (out - 1)·S + d·(k - 1) + 1 padded positions
        right = [
            max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
            for n, k, s, p, d, o in zip(spatial, kernel_size, stride, padding, dilation, out_size, strict=True)
        ]
        padded = tuple(n + p + r for n, p, r in zip(spatial, padding, right, strict=True))
        overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
        self.kernel_size, self.stride, self.dilation, self.method = kernel_size, stride, dilation, method
        self.padded_shape, self.x_shape, self.padding, self.grid = (*lead, *padded), x.shape, padding, None
        arg = divisor = None
        pad, window = _pad_value(reducer, x.dtype), (kernel_size, stride, padding, dilation)
        is_padded = padding != (0,) * nd or padded != spatial
        if reducer != "mean" and method == "taps" and overlap:  # taps on the phase grid: one run each
            self.grid = grid = _PhaseGrid(math.prod(lead), padded, kernel_size, stride, dilation, out_size)
            rows = grid.split(x.reshape(grid.lead, *spatial), padding, pad)
            y, arg = _extremum_by_taps([rows[r, t : t + grid.M] for r, t in grid.taps], reducer)  # y = max over taps
            if is_padded:
                _padding_never_wins(y.reshape(grid.lead, *grid.q), arg.reshape(grid.lead, *grid.q), pad, *window)
            y = grid.crop(y).reshape(*lead, *out_size)
        else:
            if is_padded:  # np.full and one assignment: np.pad costs more
                xp = np.full((*lead, *padded), pad, x.dtype)
                xp[(Ellipsis, *(slice(p, p + n) for p, n in zip(padding, spatial)))] = x
            else:
                xp = x
            if reducer != "mean" and method == "taps":  # windows apart: the taps are strided views of x
                taps = [xp[(Ellipsis, *region)] for region in tap_regions(kernel_size, stride, dilation, out_size)]
                y, arg = _extremum_by_taps(taps, reducer)  # y = max over taps
                if is_padded:
                    _padding_never_wins(y, arg, pad, *window)
            else:
                keep = (Ellipsis, *(slice(o) for o in out_size), *(slice(None),) * nd)
                cols = windows(xp, kernel_size, stride, dilation)[keep]  # (N, C, *out, *kernel), a view
                if reducer == "mean":
                    if divisor_override is not None:
                        divisor = np.asarray(divisor_override, dtype=x.dtype)
                    else:
                        divisor = _window_counts(
                            spatial, kernel_size, stride, padding, out_size, count_include_pad, x.dtype
                        )
                    y = cols.sum(axis=tuple(range(-nd, 0))) / divisor  # y = Σ_window x / divisor
                else:
                    flat = cols.reshape((*cols.shape[:-nd], math.prod(kernel_size)))  # (N, C, *out, K)
                    arg = _ARG[reducer](flat, axis=-1)  # (N, C, *out): index of the winning tap (the first NaN)
                    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]  # y = max (min) over the window
                    if y.dtype.kind == "f" and np.isnan(y).any():
                        nan = np.isnan(y)
                        arg[nan] = _last_nan(flat[nan])  # PyTorch's NaN winner: the last NaN tap
                    if is_padded:
                        _padding_never_wins(y, arg, pad, *window)
        if indices is not None:
            arg_out = arg if self.grid is None else self.grid.crop(arg).reshape(*lead, *out_size)
            indices[...] = _input_index(arg_out, spatial, *window)
        if self.requires_grad:
            self.arg, self.divisor = arg, divisor
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        nd = len(self.kernel_size)
        lead, spatial = grad_out.shape[:-nd], self.x_shape[-nd:]
        crop = (Ellipsis, *(slice(p, p + n) for p, n in zip(self.padding, spatial, strict=True)))
        arg, masked = self.arg, self.method == "taps" and self.arg is not None
        if masked and not np.isfinite(grad_out).all():
            # the masked writes below multiply dL/dy by 0 at the taps that lost, and inf·0 = NaN:
            # a non-finite dL/dy takes the plain path's scatter, which only adds
            masked = False
            arg = arg if self.grid is None else self.grid.crop(arg).reshape(grad_out.shape)
        if masked and self.grid is not None:  # overlapping windows: adds on the phase rows
            rows = _scatter_to_phases(grad_out.reshape(self.grid.lead, *grad_out.shape[-nd:]), arg, self.grid)
            return self.grid.merge(rows, self.padding, spatial).reshape(*lead, *spatial)
        if masked:  # windows apart: each tap's share is one masked write
            out = grad_out.shape[-nd:]
            regions = tap_regions(self.kernel_size, self.stride, self.dilation, out)
            tiled = (
                self.kernel_size == self.stride
                and all(  # every position in one window: each written once
                    d == 1 and o * s == n
                    for d, o, s, n in zip(self.dilation, out, self.stride, self.padded_shape[-nd:])
                )
            )
            order = axis_order(self.arg)  # x's axis order (batch-last after a batch-last convolution): keep it
            grad_xp = empty_in_order(self.padded_shape, order, grad_out.dtype)
            if not tiled:
                grad_xp[...] = 0
            for t, region in enumerate(regions):
                np.multiply(grad_out, self.arg == t, out=grad_xp[(Ellipsis, *region)])  # dL/dy where tap t won
            return grad_xp[crop]  # dL/dx = dL/dy at each window's winner, the padding's share dropped
        if self.arg is None:
            g = grad_out / self.divisor  # dL/dx_i = dL/dy / divisor, the same for every tap i of the window
            cols = np.broadcast_to(g[(Ellipsis, *(None,) * nd)], g.shape + self.kernel_size)  # (N, C, *out, *kernel)
        else:
            flat = np.zeros((*grad_out.shape, math.prod(self.kernel_size)), dtype=grad_out.dtype)  # (N, C, *out, K)
            np.put_along_axis(flat, arg[..., None], grad_out[..., None], axis=-1)  # dL/dy to the winner only
            cols = flat.reshape(grad_out.shape + self.kernel_size)  # (N, C, *out, *kernel)
        grad_xp = col2im(cols, self.padded_shape, self.kernel_size, self.stride, self.dilation)  # windows added back
        return grad_xp[crop]  # drop the padding's gradient


def adaptive_windows(size: int, output_size: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along one dimension: [floor(i·L/out), ceil((i+1)·L/out)) for each i.

    Example:
        >>> adaptive_windows(7, 3)
        [(0, 3), (2, 5), (4, 7)]
    """
    return [((i * size) // output_size, -(-((i + 1) * size) // output_size)) for i in range(output_size)]


class AdaptivePool(Function):
    """y[o] = reduce over the adaptive window of o of x (max, min or mean), N-d, one output cell at a time.

    Max and min follow the winner rule of the module docstring (first of ties, last NaN); ``indices``, when
    given (an int64 array of the output's shape), receives each winner's index in the flattened spatial input.
    """

    def forward(
        self, x: np.ndarray, output_size: tuple[int, ...], reducer: str, indices: np.ndarray | None = None
    ) -> np.ndarray:
        nd = len(output_size)
        bounds = [adaptive_windows(n, o) for n, o in zip(x.shape[-nd:], output_size, strict=True)]
        cells = [
            (cell, tuple(slice(*bounds[dim][i]) for dim, i in enumerate(cell))) for cell in np.ndindex(*output_size)
        ]
        y = np.empty(x.shape[:-nd] + output_size, dtype=x.dtype)  # (N, C, *out)
        args = []
        for cell, region in cells:
            block = x[(Ellipsis, *region)]  # (N, C, *window)
            if reducer == "mean":
                y[(Ellipsis, *cell)] = block.mean(axis=tuple(range(-nd, 0)))  # y = Σ_window x / |window|
            else:
                flat = block.reshape((*block.shape[:-nd], math.prod(block.shape[-nd:])))  # (N, C, K)
                arg = _ARG[reducer](flat, axis=-1)  # (N, C): index of the winning tap (the first NaN)
                value = y[(Ellipsis, *cell)] = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
                if value.dtype.kind == "f" and np.isnan(value).any():
                    nan = np.isnan(value)
                    arg[nan] = _last_nan(flat[nan])  # PyTorch's NaN winner: the last NaN tap
                if indices is not None:  # the winner's position: the window's start + its tap, row-major
                    taps = np.unravel_index(arg, block.shape[-nd:])
                    index = np.zeros(arg.shape, dtype=np.int64)
                    for n, r, t in zip(x.shape[-nd:], region, taps, strict=True):
                        index = index * n + (r.start + t)
                    indices[(Ellipsis, *cell)] = index
                args.append(arg)
        if self.requires_grad:
            self.x_shape, self.cells, self.args, self.reducer = x.shape, cells, args, reducer
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_x = np.zeros(self.x_shape, dtype=grad_out.dtype)
        for j, (cell, region) in enumerate(self.cells):
            g = grad_out[(Ellipsis, *cell)]  # (N, C)
            window = grad_x[(Ellipsis, *region)]  # a view: (N, C, *window); adjacent windows may overlap
            taps = math.prod(window.shape[-len(cell) :])  # K
            if self.reducer == "mean":
                window += (g / taps)[(Ellipsis, *(None,) * len(cell))]  # dL/dx_i += dL/dy / |window|
            else:
                flat = np.zeros((*g.shape, taps), dtype=g.dtype)  # (N, C, K)
                np.put_along_axis(flat, self.args[j][..., None], g[..., None], axis=-1)  # dL/dy to the winner only
                window += flat.reshape(window.shape)
        return grad_x


class MaxUnpool(Function):
    """The partial inverse of max pooling: y[r, indices[r, i]] = x[r, i] in each channel r's flattened plane.

    Zeros elsewhere; where two values share an index, the later one stays (as PyTorch's CPU loop).
    Backward gathers: dL/dx[r, i] = dL/dy[r, indices[r, i]].
    """

    def forward(self, x: np.ndarray, indices: np.ndarray, output_size: tuple[int, ...]) -> np.ndarray:
        nd = len(output_size)
        lead = x.shape[:-nd]
        where = indices.reshape(math.prod(lead), -1)  # (N·C, L_in): one row per channel
        y = np.zeros((where.shape[0], math.prod(output_size)), dtype=x.dtype)  # (N·C, L)
        np.put_along_axis(y, where, x.reshape(where.shape), axis=1)  # y[r, indices[r, i]] = x[r, i]
        if self.requires_grad:
            self.where, self.x_shape = where, x.shape
        return y.reshape(*lead, *output_size)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = grad_out.reshape(self.where.shape[0], -1)  # (N·C, L)
        return np.take_along_axis(g, self.where, axis=1).reshape(self.x_shape)  # dL/dx[r, i] = dL/dy[r, indices]


# --------------------------------------------------------------------------- argument checks
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_input(x: Any, nd: int, fname: str, reducer: str) -> Tensor:
    """``x`` as a Tensor of shape (N, C, *spatial) or (C, *spatial) with a dtype the reducer supports."""
    x = check_tensor(x, f"{fname}: input")
    if x.ndim not in (nd + 1, nd + 2):
        raise UsageError(
            f"{fname}: input must be {nd + 1}-D (C, {_SPATIAL[nd]}) or {nd + 2}-D (N, C, {_SPATIAL[nd]}), "
            f"got shape {x.shape}"
        )
    if 0 in x.shape[-nd - 1 :]:
        raise UsageError(f"{fname}: input of shape {x.shape} is empty in a channel or spatial dimension")
    if reducer == "mean":
        check_float(x, f"{fname}: input")
    elif x.dtype.kind == "b":
        raise UsageTypeError(f"{fname}: input: bool tensors cannot be pooled, got dtype {x.dtype}")
    return x


def _pool(
    fname: str,
    nd: int,
    reducer: str,
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Check the arguments as PyTorch does, then apply :class:`WindowPool` (and return the indices if asked)."""
    x = _check_input(input, nd, fname, reducer)
    k = ntuple(kernel_size, nd, "kernel_size", minimum=1)
    s = k if stride is None or (isinstance(stride, tuple | list) and not stride) else ntuple(stride, nd, "stride", 1)
    p = ntuple(padding, nd, "padding", minimum=0)
    d = ntuple(dilation, nd, "dilation", minimum=1)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise UsageError(f"{fname}: padding={p} should be at most half of kernel_size={k}")
    if divisor_override is not None and (
        isinstance(divisor_override, bool)
        or not isinstance(divisor_override, int | np.integer)
        or divisor_override == 0
    ):
        raise UsageError(f"{fname}: divisor_override={divisor_override!r} must be a non-zero int")
    spatial = x.shape[-nd:]
    out = tuple(pool_output_size(*a, ceil_mode) for a in zip(spatial, k, s, p, d, strict=True))
    if min(out) <= 0:
        formula = "ceil" if ceil_mode else "floor"
        raise UsageError(
            f"{fname}: output size {out} is too small for input of shape {x.shape}: "
            f"{formula}((size + 2·padding - dilation·(kernel_size - 1) - 1) / stride) + 1 with size={spatial}, "
            f"kernel_size={k}, stride={s}, padding={p}, dilation={d}"
        )
    indices = np.empty((*x.shape[:-nd], *out), dtype=np.int64) if return_indices else None
    y = WindowPool.apply(
        x,
        kernel_size=k,
        stride=s,
        padding=p,
        dilation=d,
        out_size=out,
        reducer=reducer,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
        indices=indices,
    )
    return (y, Tensor(indices)) if return_indices else y


def _adaptive(
    fname: str, nd: int, reducer: str, input: Any, output_size: Any, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Check the arguments, resolve ``None`` entries of ``output_size`` to the input's size, apply AdaptivePool."""
    x = _check_input(input, nd, fname, reducer)
    items = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * nd
    if len(items) != nd:
        raise UsageError(f"{fname}: output_size={output_size!r}: expected an int or {nd} ints (None keeps a size)")
    spatial = x.shape[-nd:]
    sizes = []
    for o, n in zip(items, spatial, strict=True):
        if o is None:
            sizes.append(n)
        elif isinstance(o, bool) or not isinstance(o, int | np.integer):
            raise UsageTypeError(f"{fname}: output_size={output_size!r}: expected ints or None")
        elif o < 0:
            raise UsageError(f"{fname}: output_size={output_size!r} must be >= 0 (input of shape {x.shape})")
        else:
            sizes.append(int(o))
    indices = np.empty((*x.shape[:-nd], *sizes), dtype=np.int64) if return_indices else None
    y = AdaptivePool.apply(x, output_size=tuple(sizes), reducer=reducer, indices=indices)
    return (y, Tensor(indices)) if return_indices else y


# --------------------------------------------------------------------------- public API
def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """1-D max pooling: the largest value of each window (padding is -inf, it never wins).

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2), dilation: ints or 1-tuples.
        ceil_mode: round the output length up (the last window must still start inside the input or left padding).
        return_indices: also return where each maximum lies in the input (int64, the shape of the output).

    Shape:
        (N, C, L) -> (N, C, L_out), L_out = floor((L + 2P - d·(k - 1) - 1) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> max_pool1d(kw.tensor([[[1.0, 5, 2, 0, 3]]]), 2).tolist()
        [[[5.0, 2.0]]]
        >>> y, indices = max_pool1d(kw.tensor([[[-float("inf"), 1.0, 2.0]]]), 2, padding=1, return_indices=True)
        >>> y.tolist(), indices.tolist()  # a window of padding and -inf: the -inf wins, never the padding
        ([[[-inf, 2.0]]], [[[0, 2]]])
    """
    return _pool(
        "max_pool1d", 1, "max", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices
    )


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling: the largest value of each window; backward routes dL/dy to that position only.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2), dilation: int or pair.
        ceil_mode: round the output size up (the last window must still start inside the input or top/left padding).
        return_indices: also return where each maximum lies, as an index into the flattened H·W input of its
            channel (int64, the shape of the output): PyTorch's convention, what :func:`max_unpool2d` reads.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2P - d·(kh - 1) - 1) / S) + 1, same for W.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]], requires_grad=True)
        >>> y, indices = max_pool2d(x, 2, return_indices=True)
        >>> indices.tolist()  # 16 is x[1, 0] = flat 1·4 + 0 = 4, 9 is x[0, 3] = 3, ...
        [[[[4, 3], [12, 10]]]]
        >>> y.sum().backward()
        >>> x.grad.tolist()[0][0]
        [[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    """
    return _pool(
        "max_pool2d", 2, "max", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices
    )


def min_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """1-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool1d(-x).

    Arguments and shapes as :func:`max_pool1d`.

    Example:
        >>> import kernelwise as kw
        >>> min_pool1d(kw.tensor([[[1.0, 5, 2, 0, 3]]]), 2).tolist()
        [[[1.0, 0.0]]]
    """
    return _pool(
        "min_pool1d", 1, "min", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices
    )


def min_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool2d(-x).

    Arguments and shapes as :func:`max_pool2d`.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> min_pool2d(x, 2).tolist()
        [[[[4.0, 0.0], [6.0, 3.0]]]]
    """
    return _pool(
        "min_pool2d", 2, "min", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices
    )


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling: the mean of each window; backward spreads dL/dy / divisor over the window.

    Args:
        input: (N, C, L) or (C, L), floating point.
        kernel_size, stride (default: kernel_size), padding (zeros, at most kernel_size // 2): ints or 1-tuples.
        ceil_mode: round the output length up (the last window must still start inside the input or left padding).
        count_include_pad: divide by the number of taps inside input + padding (True) or inside the input only.

    Shape:
        (N, C, L) -> (N, C, L_out), L_out = floor((L + 2P - k) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[1.0, 5, 2, 0]]])
        >>> avg_pool1d(x, 2).tolist(), avg_pool1d(x, 2, padding=1, count_include_pad=False).tolist()
        ([[[3.0, 1.0]]], [[[1.0, 3.5, 0.0]]])
    """
    return _pool("avg_pool1d", 1, "mean", input, kernel_size, stride, padding, 1, ceil_mode, count_include_pad)


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling: the mean of each window; backward spreads dL/dy / divisor over the window.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size, stride (default: kernel_size), padding (zeros, at most kernel_size // 2): int or pair.
        ceil_mode: round the output size up (the last window must still start inside the input or top/left padding).
        count_include_pad: divide by the number of taps inside input + padding (True) or inside the input only.
        divisor_override: divide every window sum by this instead.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2P - kh) / S) + 1, same for W.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]], requires_grad=True)
        >>> avg_pool2d(x, 2).sum().backward()
        >>> x.grad.tolist()[0][0][0]
        [0.25, 0.25, 0.25, 0.25]
    """
    return _pool(
        "avg_pool2d", 2, "mean", input, kernel_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override
    )


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a given output length; window i is [floor(i·L/out), ceil((i+1)·L/out)).

    Args:
        input: (N, C, L) or (C, L), floating point.
        output_size: int (or 1-tuple; None keeps L).

    Example:
        >>> import kernelwise as kw
        >>> adaptive_avg_pool1d(kw.tensor([[[1.0, 2, 3, 4, 5, 6, 7]]]), 3).tolist()
        [[[2.0, 4.0, 6.0]]]
    """
    return _adaptive("adaptive_avg_pool1d", 1, "mean", input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a given output size; windows as :func:`adaptive_windows` along each dimension.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        output_size: int or (H_out, W_out); a None entry keeps that size.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> adaptive_avg_pool2d(x, 1).tolist(), adaptive_avg_pool2d(x, (2, None)).shape
        ([[[[11.9375]]]], (1, 1, 2, 4))
    """
    return _adaptive("adaptive_avg_pool2d", 2, "mean", input, output_size)


def adaptive_max_pool1d(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a given output length; window i is [floor(i·L/out), ceil((i+1)·L/out)).

    Args:
        input: (N, C, L) or (C, L).
        output_size: int (or 1-tuple; None keeps L).
        return_indices: also return where each maximum lies in the input (int64, the shape of the output).

    Example:
        >>> import kernelwise as kw
        >>> adaptive_max_pool1d(kw.tensor([[[1.0, 7, 3, 4, 5, 2, 0]]]), 3).tolist()
        [[[7.0, 5.0, 5.0]]]
        >>> adaptive_max_pool1d(kw.tensor([[[1.0, 7, 3, 4, 5, 2, 0]]]), 3, return_indices=True)[1].tolist()
        [[[1, 4, 4]]]
    """
    return _adaptive("adaptive_max_pool1d", 1, "max", input, output_size, return_indices)


def adaptive_max_pool2d(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a given output size; windows as :func:`adaptive_windows` along each dimension.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: int or (H_out, W_out); a None entry keeps that size.
        return_indices: also return where each maximum lies, as an index into the flattened H·W input of its
            channel (int64, the shape of the output).

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> adaptive_max_pool2d(x, 2).tolist()
        [[[[16.0, 9.0], [67.0, 13.0]]]]
    """
    return _adaptive("adaptive_max_pool2d", 2, "max", input, output_size, return_indices)


def _max_unpool(
    fname: str, nd: int, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any, output_size: Any
) -> Tensor:
    """Check the arguments as PyTorch does (its output_size rule included), then apply :class:`MaxUnpool`."""
    x = check_tensor(input, f"{fname}: input")
    if x.ndim not in (nd + 1, nd + 2):
        raise UsageError(
            f"{fname}: input must be {nd + 1}-D (C, {_SPATIAL[nd]}) or {nd + 2}-D (N, C, {_SPATIAL[nd]}), "
            f"got shape {x.shape}"
        )
    where = check_tensor(indices, f"{fname}: indices")
    if where.dtype.kind not in "iu":
        raise UsageTypeError(
            f"{fname}: indices must have an integer dtype (int64, as max_pool returns), got {where.dtype}"
        )
    if where.shape != x.shape:
        raise UsageError(f"{fname}: indices of shape {where.shape} must have the shape of input {x.shape}")
    k = ntuple(kernel_size, nd, "kernel_size", minimum=1)
    s = k if stride is None else ntuple(stride, nd, "stride", minimum=1)
    p = ntuple(padding, nd, "padding", minimum=0)
    # the size whose max pooling gives the input's size: (L_in - 1)·S + k - 2P
    default = tuple((n - 1) * si + ki - 2 * pi for n, ki, si, pi in zip(x.shape[-nd:], k, s, p, strict=True))
    if output_size is None:
        size = default
    else:
        if not isinstance(output_size, tuple | list):
            raise UsageTypeError(f"{fname}: output_size={output_size!r}: expected a tuple of {nd} or {nd + 2} ints")
        items = tuple(output_size)[2:] if len(output_size) == nd + 2 else tuple(output_size)  # (N, C, *size)
        if len(items) != nd:
            raise UsageError(f"{fname}: output_size={output_size!r} should hold {nd} or {nd + 2} sizes")
        size = ntuple(items, nd, "output_size", minimum=0)
        for dim, (o, d, si) in enumerate(zip(size, default, s, strict=True)):
            if not d - si < o < d + si:  # the sizes a max pooling maps onto the input's size
                raise UsageError(
                    f"{fname}: invalid output_size {size}: dim {dim} must be between {d - si} and {d + si} "
                    f"(exclusive) for input of shape {x.shape}, kernel_size={k}, stride={s}, padding={p}"
                )
    if min(size) <= 0:
        raise UsageError(f"{fname}: output size {size} is not positive (input of shape {x.shape}, kernel_size={k})")
    plane = math.prod(size)
    if where.numel() and (where._array.min() < 0 or where._array.max() >= plane):
        bad = int(where._array[(where._array < 0) | (where._array >= plane)].flat[0])
        raise UsageError(
            f"{fname}: index {bad} in indices is out of range for output size {size} ({plane} positions per channel)"
        )
    return MaxUnpool.apply(x, where._array, output_size=size)


def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """A partial inverse of :func:`max_pool1d`: every value back at its index, zeros elsewhere.

    Args:
        input: (N, C, L_in) or (C, L_in), the pooled values.
        indices: their positions in the pooled input, as ``max_pool1d(..., return_indices=True)`` gives them.
        kernel_size, stride (default: kernel_size), padding: those of the pooling.
        output_size: the length to restore, (L,) or (N, C, L), less than stride away from the default
            (to restore a length the pooling's floor dropped).

    Shape:
        (N, C, L_in) -> (N, C, L), L = (L_in - 1)·S + k - 2P or output_size.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[1.0, 2, 3, 4, 5, 6, 7, 8, 9]]])
        >>> y, indices = max_pool1d(x, 2, return_indices=True)
        >>> max_unpool1d(y, indices, 2).tolist(), max_unpool1d(y, indices, 2, output_size=x.shape).shape
        ([[[0.0, 2.0, 0.0, 4.0, 0.0, 6.0, 0.0, 8.0]]], (1, 1, 9))
    """
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """A partial inverse of :func:`max_pool2d`: every value back at its index, zeros elsewhere.

    Args:
        input: (N, C, H_in, W_in) or (C, H_in, W_in), the pooled values.
        indices: their positions in the flattened H·W input, as ``max_pool2d(..., return_indices=True)`` gives them.
        kernel_size, stride (default: kernel_size), padding: those of the pooling.
        output_size: the size to restore, (H, W) or (N, C, H, W), each less than stride away from the default.

    Shape:
        (N, C, H_in, W_in) -> (N, C, H, W), H = (H_in - 1)·S + kh - 2P or output_size, the same for W.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> max_unpool2d(*max_pool2d(x, 2, return_indices=True), 2).tolist()
        [[[[0.0, 0.0, 0.0, 9.0], [16.0, 0.0, 0.0, 0.0], [0.0, 0.0, 13.0, 0.0], [67.0, 0.0, 0.0, 0.0]]]]
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)
