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
beat every earlier tap; backward adds every dL/dy onto its window's winner, one
tap at a time (see ``_scatter_to_winners``). ``method="windows"`` is the plain
path above, the specification the tests hold the fast one to.

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
from .windows import col2im, windows

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


def _tap_regions(
    kernel_size: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], out_size: tuple[int, ...]
) -> list[tuple[slice, ...]]:
    """Where tap t of every window lies in the padded input: x_t[o] = x_pad[o·S + t·d], one slice per dimension."""
    return [
        tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out_size, stride, strict=True)
        )
        for tap in np.ndindex(*kernel_size)
    ]


def _extremum_by_taps(
    xp: np.ndarray,
    reducer: str,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    out_size: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """y = max (min) over the window taps, one tap at a time, and arg = the index of the first tap reaching it.

    Same values and tie rule as np.argmax over each window (the plain path); a NaN wins its window
    (the first NaN, as np.argmax). Shape: padded (N, C, *spatial) -> y, arg (N, C, *out).
    """
    pick, beats = (np.maximum, np.greater) if reducer == "max" else (np.minimum, np.less)
    taps = [xp[(Ellipsis, *region)] for region in _tap_regions(kernel_size, stride, dilation, out_size)]
    y = np.array(taps[0], copy=True)  # running extremum, (N, C, *out)
    spare = np.empty_like(y)
    arg = np.zeros(y.shape, dtype=np.min_scalar_type(len(taps) - 1))  # running winner: tap 0 so far
    for t in range(1, len(taps)):
        pick(y, taps[t], out=spare)  # y_t = max(y_{t-1}, x_t)
        won = beats(spare, y)  # x_t beat every earlier tap (a tie keeps the earlier one)
        np.maximum(arg, won * arg.dtype.type(t), out=arg)  # arg = t where x_t won (t exceeds every earlier arg)
        y, spare = spare, y
    if y.dtype.kind == "f":
        nan = np.isnan(y)  # a NaN propagated into y but never "won" a comparison: point at the first NaN tap
        if nan.any():
            cols = windows(xp, kernel_size, stride, dilation)[
                (Ellipsis, *(slice(o) for o in out_size), *(slice(None),) * len(out_size))
            ]
            arg[nan] = np.isnan(cols[nan].reshape(-1, len(taps))).argmax(axis=-1)
    return y, arg


def _scatter_to_winners(
    grad_out: np.ndarray,
    arg: np.ndarray,
    padded_shape: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """dL/dx_pad[o·S + t·d] += dL/dy[o] for the tap t that won window o: the adjoint of picking the winner.

    Windows that do not overlap (S ≥ the dilated kernel) need no adding: one masked write per tap. Where
    they overlap, position p = q·S + r is split by its phase r = p mod S: tap t of window o lands in phase
    (t·d) mod S at q = o + (t·d) // S, so each tap's share is one add into a contiguous block of its phase
    array, and each phase is written once into its strided grid of the padded input.
    """
    nd = len(kernel_size)
    out_size = grad_out.shape[-nd:]
    grad = np.zeros(padded_shape, dtype=grad_out.dtype)
    taps = list(np.ndindex(*kernel_size))
    if all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel_size)):
        for t, region in enumerate(_tap_regions(kernel_size, stride, dilation, out_size)):
            np.multiply(grad_out, arg == t, out=grad[(Ellipsis, *region)])  # dL/dy where tap t won, 0 elsewhere
        return grad
    phase_shape = (*padded_shape[:-nd], *(-(-n // s) for n, s in zip(padded_shape[-nd:], stride)))
    phases: dict[tuple[int, ...], np.ndarray] = {}
    for t, tap in enumerate(taps):
        phase = tuple(i * d % s for i, d, s in zip(tap, dilation, stride))
        block = tuple(slice(i * d // s, i * d // s + o) for i, d, s, o in zip(tap, dilation, stride, out_size))
        if phase not in phases:
            phases[phase] = np.zeros(phase_shape, dtype=grad_out.dtype)
        phases[phase][(Ellipsis, *block)] += grad_out * (arg == t)  # dL/dy where tap t won, at o + (t·d) // S
    for phase, values in phases.items():
        target = grad[(Ellipsis, *(slice(r, None, s) for r, s in zip(phase, stride)))]  # p = q·S + r
        target[...] = values[(Ellipsis, *(slice(n) for n in target.shape[-nd:]))]
    return grad


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
        spatial = x.shape[-nd:]
        # pad P on the left; on the right P, or more where ceil_mode's last window needs it:
        # the windows span (out - 1)·S + d·(k - 1) + 1 padded positions
        right = [
            max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
            for n, k, s, p, d, o in zip(spatial, kernel_size, stride, padding, dilation, out_size, strict=True)
        ]
        widths = [(0, 0)] * (x.ndim - nd) + list(zip(padding, right, strict=True))
        if any(map(any, widths)):  # np.full and one assignment: np.pad's Python overhead is larger than the copy
            xp = np.full([n + lo + hi for n, (lo, hi) in zip(x.shape, widths)], _pad_value(reducer, x.dtype), x.dtype)
            xp[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))] = x
        else:
            xp = x
        keep = (Ellipsis, *(slice(o) for o in out_size), *(slice(None),) * nd)
        cols = windows(xp, kernel_size, stride, dilation)[keep]  # (N, C, *out, *kernel), a view
        taps = tuple(range(-nd, 0))

        if reducer == "mean":
            if divisor_override is not None:
                divisor = np.asarray(divisor_override, dtype=x.dtype)
            else:
                divisor = _window_counts(spatial, kernel_size, stride, padding, out_size, count_include_pad, x.dtype)
            y = cols.sum(axis=taps) / divisor  # y = Σ_window x / divisor
            arg = None
        elif method == "taps":
            y, arg = _extremum_by_taps(xp, reducer, kernel_size, stride, dilation, out_size)  # y = max over taps
            divisor = None
        else:
            flat = cols.reshape((*cols.shape[:-nd], math.prod(kernel_size)))  # (N, C, *out, K)
            arg = _ARG[reducer](flat, axis=-1)  # (N, C, *out): index of the winning tap
            y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]  # y = max (min) over the window
            divisor = None
        if self.requires_grad:
            self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
            self.padded_shape, self.x_shape, self.padding = xp.shape, x.shape, padding
            self.arg, self.divisor, self.method = arg, divisor, method
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        nd = len(self.kernel_size)
        if self.arg is None:
            g = grad_out / self.divisor  # dL/dx_i = dL/dy / divisor, the same for every tap i of the window
            cols = np.broadcast_to(g[(Ellipsis, *(None,) * nd)], g.shape + self.kernel_size)  # (N, C, *out, *kernel)
        elif self.method == "taps":
            grad_xp = _scatter_to_winners(
                grad_out, self.arg, self.padded_shape, self.kernel_size, self.stride, self.dilation
            )
            crop = tuple(slice(p, p + n) for p, n in zip(self.padding, self.x_shape[-nd:], strict=True))
            return grad_xp[(Ellipsis, *crop)]  # dL/dx = dL/dy at each window's winner, the padding's share dropped
        else:
            flat = np.zeros((*grad_out.shape, math.prod(self.kernel_size)), dtype=grad_out.dtype)  # (N, C, *out, K)
            np.put_along_axis(flat, self.arg[..., None], grad_out[..., None], axis=-1)  # dL/dy to the winner only
            cols = flat.reshape(grad_out.shape + self.kernel_size)  # (N, C, *out, *kernel)
        grad_xp = col2im(cols, self.padded_shape, self.kernel_size, self.stride, self.dilation)  # windows added back
        crop = tuple(slice(p, p + n) for p, n in zip(self.padding, self.x_shape[-nd:], strict=True))
        return grad_xp[(Ellipsis, *crop)]  # drop the padding's gradient


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
