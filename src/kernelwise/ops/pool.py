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

Ties: the winner is the first tap in row-major window order (np.argmax/argmin),
the rule of PyTorch's CPU kernel, which only replaces its running best on a
strictly larger value. Pooling keeps the number of channels.

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


def _extremum_by_taps(taps: list[np.ndarray], reducer: str) -> tuple[np.ndarray, np.ndarray]:
    """y = max (min) over the window taps, one tap at a time, and arg = the index of the first tap reaching it.

    ``taps[t]`` holds tap t of every window (any layout, the same for all taps). Same values and
    tie rule as np.argmax over each window (the plain path); a NaN wins its window (the first NaN,
    as np.argmax).
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
        nan = np.isnan(y)  # a NaN propagated into y but never "won" a comparison: point at the first NaN tap
        if nan.any():
            arg[nan] = np.isnan(np.stack([tap[nan] for tap in taps])).argmax(axis=0)
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
    ) -> np.ndarray:
        if method not in ("taps", "windows"):
            raise ValueError(f"method={method!r}: expected 'taps' or 'windows'")
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
        if reducer != "mean" and method == "taps" and overlap:  # taps on the phase grid: one run each
            self.grid = grid = _PhaseGrid(math.prod(lead), padded, kernel_size, stride, dilation, out_size)
            rows = grid.split(x.reshape(grid.lead, *spatial), padding, _pad_value(reducer, x.dtype))
            y, arg = _extremum_by_taps([rows[r, t : t + grid.M] for r, t in grid.taps], reducer)  # y = max over taps
            y = grid.crop(y).reshape(*lead, *out_size)
        else:
            if padding != (0,) * nd or padded != spatial:  # np.full and one assignment: np.pad costs more
                xp = np.full((*lead, *padded), _pad_value(reducer, x.dtype), x.dtype)
                xp[(Ellipsis, *(slice(p, p + n) for p, n in zip(padding, spatial)))] = x
            else:
                xp = x
            if reducer != "mean" and method == "taps":  # windows apart: the taps are strided views of x
                taps = [xp[(Ellipsis, *region)] for region in tap_regions(kernel_size, stride, dilation, out_size)]
                y, arg = _extremum_by_taps(taps, reducer)  # y = max over taps
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
                    arg = _ARG[reducer](flat, axis=-1)  # (N, C, *out): index of the winning tap
                    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]  # y = max (min) over the window
        if self.requires_grad:
            self.arg, self.divisor = arg, divisor
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        nd = len(self.kernel_size)
        lead, spatial = grad_out.shape[:-nd], self.x_shape[-nd:]
        crop = (Ellipsis, *(slice(p, p + n) for p, n in zip(self.padding, spatial, strict=True)))
        if self.grid is not None:  # overlapping windows: adds on the phase rows
            rows = _scatter_to_phases(grad_out.reshape(self.grid.lead, *grad_out.shape[-nd:]), self.arg, self.grid)
            return self.grid.merge(rows, self.padding, spatial).reshape(*lead, *spatial)
        if self.method == "taps" and self.arg is not None:  # windows apart: each tap's share is one masked write
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
            np.put_along_axis(flat, self.arg[..., None], grad_out[..., None], axis=-1)  # dL/dy to the winner only
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
    """y[o] = reduce over the adaptive window of o of x (max, min or mean), N-d, one output cell at a time."""

    def forward(self, x: np.ndarray, output_size: tuple[int, ...], reducer: str) -> np.ndarray:
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
                arg = _ARG[reducer](flat, axis=-1)  # (N, C): index of the winning tap
                y[(Ellipsis, *cell)] = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
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


# --------------------------------------------------------------------------- argument checks
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_input(x: Any, nd: int, fname: str, reducer: str) -> Tensor:
    """``x`` as a Tensor of shape (N, C, *spatial) or (C, *spatial) with a dtype the reducer supports."""
    x = check_tensor(x, f"{fname}: input")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{fname}: input must be {nd + 1}-D (C, {_SPATIAL[nd]}) or {nd + 2}-D (N, C, {_SPATIAL[nd]}), "
            f"got shape {x.shape}"
        )
    if 0 in x.shape[-nd - 1 :]:
        raise ValueError(f"{fname}: input of shape {x.shape} is empty in a channel or spatial dimension")
    if reducer == "mean":
        check_float(x, f"{fname}: input")
    elif x.dtype.kind == "b":
        raise TypeError(f"{fname}: input: bool tensors cannot be pooled, got dtype {x.dtype}")
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
) -> Tensor:
    """Check the arguments as PyTorch does, then apply :class:`WindowPool`."""
    x = _check_input(input, nd, fname, reducer)
    k = ntuple(kernel_size, nd, "kernel_size", minimum=1)
    s = k if stride is None or (isinstance(stride, tuple | list) and not stride) else ntuple(stride, nd, "stride", 1)
    p = ntuple(padding, nd, "padding", minimum=0)
    d = ntuple(dilation, nd, "dilation", minimum=1)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise ValueError(f"{fname}: padding={p} should be at most half of kernel_size={k}")
    if divisor_override is not None and (
        isinstance(divisor_override, bool)
        or not isinstance(divisor_override, int | np.integer)
        or divisor_override == 0
    ):
        raise ValueError(f"{fname}: divisor_override={divisor_override!r} must be a non-zero int")
    spatial = x.shape[-nd:]
    out = tuple(pool_output_size(*a, ceil_mode) for a in zip(spatial, k, s, p, d, strict=True))
    if min(out) <= 0:
        formula = "ceil" if ceil_mode else "floor"
        raise ValueError(
            f"{fname}: output size {out} is too small for input of shape {x.shape}: "
            f"{formula}((size + 2·padding - dilation·(kernel_size - 1) - 1) / stride) + 1 with size={spatial}, "
            f"kernel_size={k}, stride={s}, padding={p}, dilation={d}"
        )
    return WindowPool.apply(
        x,
        kernel_size=k,
        stride=s,
        padding=p,
        dilation=d,
        out_size=out,
        reducer=reducer,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
    )


def _adaptive(fname: str, nd: int, reducer: str, input: Any, output_size: Any) -> Tensor:
    """Check the arguments, resolve ``None`` entries of ``output_size`` to the input's size, apply AdaptivePool."""
    x = _check_input(input, nd, fname, reducer)
    items = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * nd
    if len(items) != nd:
        raise ValueError(f"{fname}: output_size={output_size!r}: expected an int or {nd} ints (None keeps a size)")
    spatial = x.shape[-nd:]
    sizes = []
    for o, n in zip(items, spatial, strict=True):
        if o is None:
            sizes.append(n)
        elif isinstance(o, bool) or not isinstance(o, int | np.integer):
            raise TypeError(f"{fname}: output_size={output_size!r}: expected ints or None")
        elif o < 0:
            raise ValueError(f"{fname}: output_size={output_size!r} must be >= 0 (input of shape {x.shape})")
        else:
            sizes.append(int(o))
    return AdaptivePool.apply(x, output_size=tuple(sizes), reducer=reducer)


# --------------------------------------------------------------------------- public API
def max_pool1d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> Tensor:
    """1-D max pooling: the largest value of each window (padding is -inf, it never wins).

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2), dilation: ints or 1-tuples.
        ceil_mode: round the output length up (the last window must still start inside the input or left padding).

    Shape:
        (N, C, L) -> (N, C, L_out), L_out = floor((L + 2P - d·(k - 1) - 1) / S) + 1.

    Example:
        >>> import kernelwise as kw
        >>> max_pool1d(kw.tensor([[[1.0, 5, 2, 0, 3]]]), 2).tolist()
        [[[5.0, 2.0]]]
    """
    return _pool("max_pool1d", 1, "max", input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> Tensor:
    """2-D max pooling: the largest value of each window; backward routes dL/dy to that position only.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2), dilation: int or pair.
        ceil_mode: round the output size up (the last window must still start inside the input or top/left padding).

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2P - d·(kh - 1) - 1) / S) + 1, same for W.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]], requires_grad=True)
        >>> y = max_pool2d(x, 2)
        >>> y.sum().backward()
        >>> x.grad.tolist()[0][0]
        [[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    """
    return _pool("max_pool2d", 2, "max", input, kernel_size, stride, padding, dilation, ceil_mode)


def min_pool1d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> Tensor:
    """1-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool1d(-x).

    Arguments and shapes as :func:`max_pool1d`.

    Example:
        >>> import kernelwise as kw
        >>> min_pool1d(kw.tensor([[[1.0, 5, 2, 0, 3]]]), 2).tolist()
        [[[1.0, 0.0]]]
    """
    return _pool("min_pool1d", 1, "min", input, kernel_size, stride, padding, dilation, ceil_mode)


def min_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> Tensor:
    """2-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool2d(-x).

    Arguments and shapes as :func:`max_pool2d`.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> min_pool2d(x, 2).tolist()
        [[[[4.0, 0.0], [6.0, 3.0]]]]
    """
    return _pool("min_pool2d", 2, "min", input, kernel_size, stride, padding, dilation, ceil_mode)


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


def adaptive_max_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Max pooling to a given output length; window i is [floor(i·L/out), ceil((i+1)·L/out)).

    Args:
        input: (N, C, L) or (C, L).
        output_size: int (or 1-tuple; None keeps L).

    Example:
        >>> import kernelwise as kw
        >>> adaptive_max_pool1d(kw.tensor([[[1.0, 7, 3, 4, 5, 2, 0]]]), 3).tolist()
        [[[7.0, 5.0, 5.0]]]
    """
    return _adaptive("adaptive_max_pool1d", 1, "max", input, output_size)


def adaptive_max_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Max pooling to a given output size; windows as :func:`adaptive_windows` along each dimension.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: int or (H_out, W_out); a None entry keeps that size.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> adaptive_max_pool2d(x, 2).tolist()
        [[[[16.0, 9.0], [67.0, 13.0]]]]
    """
    return _adaptive("adaptive_max_pool2d", 2, "max", input, output_size)
