"""Pooling: max, mean and min over sliding windows, and adaptive pooling.

Legend: N batch, C channels, spatial (H, W) or (L,), kernel (kh, kw), out (oh, ow),
K = kh·kw taps per window, P padding, S stride, d dilation.

Every kind of pooling is one windowed reduction with a different reducer (the
recitation's "Max, Mean, Min"): pad the input with the reducer's neutral value
(-inf for max, +inf for min, 0 for mean), view every window with ``windows`` and
reduce the window axes. Backward builds the gradient of each window and adds the
windows back onto the input (col2im, the adjoint of taking windows, in the input's
memory order), then crops the padding:

    max / min:  dL/dx[arg] += dL/dy   only the tap that won gets the gradient
    mean:       dL/dx[i]   += dL/dy / divisor   for every tap i of the window

Ties and non-finite values follow PyTorch's CPU kernel, which starts each window at
-inf with its first tap inside the input as the winner, and replaces the winner by a
strictly larger value or by any NaN (see ``ops/_poolrules.py``):

    ties:     the first tap in row-major window order (np.argmax/argmin) wins
    padding:  never wins, even where every real tap is -inf (+inf for min): the first real tap does
    NaN:      the window's value is NaN, and the last NaN tap wins

``return_indices`` reports each winner as PyTorch does, as its position in the flattened
spatial input of its channel (``max_unpool`` puts the values back there). Pooling keeps
the number of channels.

``WindowPool`` is that plain path (``method="windows"``), the specification the tests hold
the fast one to. Max and min pooling run the faster path of ``ops/fastpool.py`` by default
(``method="taps"``: one pass per window tap instead of a copy of every window); ``WindowPool``
calls it through ``fastpool.supports`` / ``forward`` / ``can_backward`` / ``backward``.

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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..tensor import Function, Tensor
from . import fastpool
from ._args import check_float, check_tensor
from ._poolrules import Window, last_nan, pad_value, padded_input, padding_never_wins
from .geometry import ConvGeometry, ntuple, transposed_output_size
from .layout import array_like_layout, axis_order, in_order
from .windows import tap_regions, windows

_ARG = {"max": np.argmax, "min": np.argmin}  # the winning tap of a window (first one among ties)


def pool_output_size(
    size: int, kernel_size: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a pooling along one dimension, with PyTorch's ceil_mode rule: ``ConvGeometry.out``.

    floor((W_in + 2P - d·(k - 1) - 1) / S) + 1, with ceil instead of floor when
    ``ceil_mode``; then the last window must start inside the input or the left
    padding, i.e. (out - 1)·S < W_in + P, else it is dropped. Unchecked: may be <= 0.

    Example:
        >>> pool_output_size(5, 2, 2), pool_output_size(5, 2, 2, ceil_mode=True)
        (2, 3)
        >>> pool_output_size(5, 2, 2, padding=1, ceil_mode=True)  # a 4th window would start at 3·2 - 1 = W_in
        3
    """
    return ConvGeometry((size,), (kernel_size,), (stride,), ((padding, padding),), (dilation,), ceil_mode).out[0]


def _window_counts(
    spatial: tuple[int, ...],
    window: Window,
    out_size: tuple[int, ...],
    count_include_pad: bool,
    dtype: np.dtype,
) -> np.ndarray:
    """Average pooling's divisor for each window, PyTorch's rule (shape: out); ``window`` as in WindowPool.

    The number of taps on [-P, W_in + P) when ``count_include_pad`` (the padding counts,
    ceil_mode's overhang past it does not), else on [0, W_in) (real inputs only).
    """
    (kernel_size, stride, padding, _), nd = window, len(spatial)
    padded = [(o - 1) * s + k for o, s, k in zip(out_size, stride, kernel_size, strict=True)]
    padded = [max(m, n + 2 * p) for m, n, p in zip(padded, spatial, padding, strict=True)]
    counted = np.zeros(padded, dtype=dtype)  # 1 where a tap counts, on the padded grid
    counted[tuple(slice(0, n + 2 * p) if count_include_pad else slice(p, n + p) for n, p in zip(spatial, padding))] = 1
    cols = windows(counted, kernel_size, stride, (1,) * nd)[tuple(slice(o) for o in out_size)]  # (*out, *kernel)
    return cols.sum(axis=tuple(range(-nd, 0)))


def _flat_index(positions: Sequence[Any], spatial: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Row-major index into the flattened ``spatial`` plane of the position (positions[0], positions[1], ...).

    Each of ``positions`` broadcasts to ``shape``; the result is int64 of that shape.
    """
    index = np.zeros(shape, dtype=np.int64)
    for n, position in zip(spatial, positions, strict=True):
        index = index * n + position
    return index


def _input_index(arg: np.ndarray, spatial: tuple[int, ...], window: Window) -> np.ndarray:
    """PyTorch's pooling indices: where each window's winner lies in the flattened spatial input of its channel.

    Tap t of window o reads o·S - P + t·d along each dim. Shape: arg (*lead, *out) -> int64 (*lead, *out).
    """
    kernel_size, stride, padding, dilation = window
    nd = len(kernel_size)
    out, taps = arg.shape[-nd:], np.unravel_index(arg, kernel_size)  # the winner's tap along each dim
    positions = [
        np.arange(o).reshape((o,) + (1,) * (nd - a - 1)) * s - p + t * d  # o·S - P + t·d
        for a, (o, s, p, d, t) in enumerate(zip(out, stride, padding, dilation, taps, strict=True))
    ]
    return _flat_index(positions, spatial, arg.shape)


def _extremum(flat: np.ndarray, reducer: str) -> tuple[np.ndarray, np.ndarray]:
    """y = max (min) over the last axis of ``flat`` (K taps), arg = PyTorch's winner: the first of ties, the last NaN.

    Shape: (..., K) -> y (...), arg (...).
    """
    arg = _ARG[reducer](flat, axis=-1)  # index of the winning tap (the first NaN)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]  # y = max (min) over the window
    if y.dtype.kind == "f" and np.isnan(y).any():
        nan = np.isnan(y)
        arg[nan] = last_nan(flat[nan])  # PyTorch's NaN winner: the last NaN tap
    return y, arg


def _windows_added_back(
    cols: np.ndarray, padded_shape: tuple[int, ...], order: tuple[int, ...], window: Window
) -> np.ndarray:
    """col2im in the input's memory order: every window's dL/dx_pad added back onto its positions.

    One strided add per tap, into an array laid out in ``order`` (x's axis order); where the windows
    tile the padded input (kernel = stride, no dilation, no overhang) one assignment per tap, no zeros.
    Shape: (*lead, *out, *kernel) -> padded_shape (*lead, *padded).
    """
    kernel_size, stride, _, dilation = window
    nd = len(kernel_size)
    out = cols.shape[-2 * nd : -nd]
    tiled = kernel_size == stride and all(
        d == 1 and o * s == n for d, o, s, n in zip(dilation, out, stride, padded_shape[-nd:], strict=True)
    )
    if tiled:
        grad_xp = array_like_layout(order, padded_shape, cols.dtype)
    else:  # np.zeros (its pages come zeroed) costs less than an array_like_layout fill: its memory, then x's axes
        grad_xp = np.zeros([padded_shape[a] for a in order], cols.dtype).transpose(np.argsort(order))
    for tap, region in zip(np.ndindex(*kernel_size), tap_regions(kernel_size, stride, dilation, out)):
        share = cols[(Ellipsis, *(slice(None),) * nd, *tap)]  # tap t of every window: dL/dx_pad[o·S + t·d]
        if tiled:
            grad_xp[(Ellipsis, *region)] = share  # each position in one window
        else:
            grad_xp[(Ellipsis, *region)] += share
    return grad_xp


def _to_winners(grad_out: np.ndarray, arg: np.ndarray, taps: int) -> np.ndarray:
    """dL/dy onto the winning tap of each window, 0 on the others. Shape: (...) -> (..., K)."""
    flat = np.zeros((*grad_out.shape, taps), dtype=grad_out.dtype)
    np.put_along_axis(flat, arg[..., None], grad_out[..., None], axis=-1)  # dL/dy to the winner only
    return flat


class WindowPool(Function):
    """y[o] = reduce over the window of o of x (max, min or mean), N-d; see the module docstring.

    ``window`` below is (kernel_size, stride, padding, dilation), each a tuple of one int per spatial dim.

    ``method``: "taps" (max and min: the fast path of ``ops/fastpool.py``, the default) or "windows"
    (the plain path: copy the windows, reduce with argmax/argmin); mean pooling always sums the window view.
    With "taps", a forward that needs no winners (no backward: ``requires_grad`` False, and no ``indices``)
    reduces one spatial axis at a time (``fastpool.extremum_separable``): the same y.

    y and dL/dx are laid out in memory as x is (ops/layout.py): a batch-last x gives a batch-last y and
    dL/dx, a C-order one C-order arrays.
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
        method: str = fastpool.METHOD,
        indices: np.ndarray | None = None,
    ) -> np.ndarray:
        """``indices``, when given (an int64 array of the output's shape), receives each winner's input index."""
        if method not in (fastpool.METHOD, "windows"):
            raise UsageError(f"method={method!r}: expected {fastpool.METHOD!r} or 'windows'")
        nd = len(kernel_size)
        lead, spatial = x.shape[:-nd], x.shape[-nd:]
        window = (kernel_size, stride, padding, dilation)
        # pad P on the left; on the right P, or more where ceil_mode's last window needs it:
        # the windows span (out - 1)·S + d·(k - 1) + 1 padded positions
        right = [
            max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
            for n, k, s, p, d, o in zip(spatial, kernel_size, stride, padding, dilation, out_size, strict=True)
        ]
        padded = tuple(n + p + r for n, p, r in zip(spatial, padding, right, strict=True))
        self.window, self.padded_shape, self.x_shape, self.order = window, (*lead, *padded), x.shape, axis_order(x)
        self.fast = arg = divisor = None
        if fastpool.supports(reducer, method) and not self.requires_grad and indices is None:
            y = fastpool.extremum_separable(x, window, out_size, padded, reducer)  # y only: one axis at a time
        elif fastpool.supports(reducer, method):
            y, fast = fastpool.forward(x, window, out_size, padded, reducer)
            if indices is not None:
                arg = fast.winners()
            if self.requires_grad:
                self.fast = fast
        else:
            pad = pad_value(reducer, x.dtype)
            is_padded = padding != (0,) * nd or padded != spatial
            xp = padded_input(x, padding, padded, pad) if is_padded else x  # in x's memory order
            keep = (Ellipsis, *(slice(o) for o in out_size), *(slice(None),) * nd)
            cols = windows(xp, kernel_size, stride, dilation)[keep]  # (N, C, *out, *kernel), a view
            if reducer == "mean":
                if divisor_override is not None:
                    divisor = np.asarray(divisor_override, dtype=x.dtype)
                else:
                    divisor = _window_counts(spatial, window, out_size, count_include_pad, x.dtype)
                y = array_like_layout(self.order, (*lead, *out_size), np.result_type(x.dtype, divisor.dtype))
                np.sum(cols, axis=tuple(range(-nd, 0)), out=y)
                np.divide(y, divisor, out=y)  # y = Σ_window x / divisor
            else:
                flat = cols.reshape((*cols.shape[:-nd], math.prod(kernel_size)))  # (N, C, *out, K)
                y, arg = _extremum(flat, reducer)  # y = max (min) over the window, arg its winning tap
                if is_padded:
                    padding_never_wins(y, arg, pad, window)
                y = in_order(y, self.order)  # the windows' copy is C order: y in x's
        if indices is not None:
            indices[...] = _input_index(arg, spatial, window)
        if self.requires_grad and self.fast is None:
            self.arg, self.divisor = arg, divisor
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self.fast is not None:
            if fastpool.can_backward(grad_out):
                return fastpool.backward(grad_out, self.fast)
            arg = self.fast.winners()  # the plain scatter below takes what the fast path cannot
        else:
            arg = self.arg
        kernel_size, _, padding, _ = self.window
        nd = len(kernel_size)
        if arg is None:
            grad_tap = grad_out / self.divisor  # dL/dx_i = dL/dy / divisor, the same for every tap i of the window
            cols = np.broadcast_to(grad_tap[(Ellipsis, *(None,) * nd)], grad_tap.shape + kernel_size)
        else:
            flat = _to_winners(grad_out, arg, math.prod(kernel_size))  # (N, C, *out, K)
            cols = flat.reshape(grad_out.shape + kernel_size)  # (N, C, *out, *kernel)
        grad_xp = _windows_added_back(cols, self.padded_shape, self.order, self.window)  # in x's memory order
        crop = (Ellipsis, *(slice(p, p + n) for p, n in zip(padding, self.x_shape[-nd:], strict=True)))
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
                y[(Ellipsis, *cell)], arg = _extremum(flat, reducer)  # the window's extremum and its winning tap
                if indices is not None:  # the winner's position: the window's start + its tap, row-major
                    taps = np.unravel_index(arg, block.shape[-nd:])
                    positions = [r.start + t for r, t in zip(region, taps, strict=True)]
                    indices[(Ellipsis, *cell)] = _flat_index(positions, x.shape[-nd:], arg.shape)
                args.append(arg)
        if self.requires_grad:
            self.x_shape, self.cells, self.args, self.reducer = x.shape, cells, args, reducer
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_x = np.zeros(self.x_shape, dtype=grad_out.dtype)
        for j, (cell, region) in enumerate(self.cells):
            grad_cell = grad_out[(Ellipsis, *cell)]  # dL/dy of this output cell: (N, C)
            window = grad_x[(Ellipsis, *region)]  # a view: (N, C, *window); adjacent windows may overlap
            taps = math.prod(window.shape[-len(cell) :])  # K
            if self.reducer == "mean":
                window += (grad_cell / taps)[(Ellipsis, *(None,) * len(cell))]  # dL/dx_i += dL/dy / |window|
            else:
                window += _to_winners(grad_cell, self.args[j], taps).reshape(window.shape)  # dL/dy to the winner
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
        grad_rows = grad_out.reshape(self.where.shape[0], -1)  # dL/dy, one row per channel: (N·C, L)
        return np.take_along_axis(grad_rows, self.where, axis=1).reshape(self.x_shape)  # dL/dy[r, indices[r, i]]


# --------------------------------------------------------------------------- argument checks
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_dims(x: Any, nd: int, fname: str) -> Tensor:
    """``x`` as a Tensor of shape (N, C, *spatial) or (C, *spatial), ``nd`` spatial dims."""
    x = check_tensor(x, f"{fname}: input")
    if x.ndim not in (nd + 1, nd + 2):
        raise UsageError(
            f"{fname}: input must be {nd + 1}-D (C, {_SPATIAL[nd]}) or {nd + 2}-D (N, C, {_SPATIAL[nd]}), "
            f"got shape {x.shape}"
        )
    return x


def _check_input(x: Any, nd: int, fname: str, reducer: str) -> Tensor:
    """``x`` as a Tensor of shape (N, C, *spatial) or (C, *spatial) with a dtype the reducer supports."""
    x = _check_dims(x, nd, fname)
    if 0 in x.shape[-nd - 1 :]:
        raise UsageError(f"{fname}: input of shape {x.shape} is empty in a channel or spatial dimension")
    if reducer == "mean":
        check_float(x, f"{fname}: input")
    elif x.dtype.kind == "b":
        raise UsageTypeError(f"{fname}: input: bool tensors cannot be pooled, got dtype {x.dtype}")
    return x


def valid_divisor_override(value: Any) -> bool:
    """Whether ``value`` can be average pooling's ``divisor_override``: None or a non-zero int (not a bool).

    Example:
        >>> valid_divisor_override(None), valid_divisor_override(3), valid_divisor_override(0)
        (True, True, False)
    """
    return value is None or (not isinstance(value, bool) and isinstance(value, int | np.integer) and value != 0)


def adaptive_size_items(output_size: Any, nd: int, prefix: str = "") -> tuple[Any, ...]:
    """Adaptive pooling's ``output_size`` as ``nd`` entries, each an int or None (keep that size).

    Checks the count and the types (an int stands for every dim), not the signs; ``prefix`` starts
    every error message.

    Example:
        >>> adaptive_size_items(3, 2), adaptive_size_items((None, 4), 2)
        ((3, 3), (None, 4))
    """
    items = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * nd
    if len(items) != nd:
        raise UsageError(f"{prefix}output_size={output_size!r}: expected an int or {nd} ints (None keeps a size)")
    for o in items:
        if o is not None and (isinstance(o, bool) or not isinstance(o, int | np.integer)):
            raise UsageTypeError(f"{prefix}output_size={output_size!r}: expected ints or None")
    return items


_GEOMETRIES: dict[tuple, ConvGeometry] = {}  # pool_geometry's results by their arguments (plain ints only)
_GEOMETRIES_KEPT = 256


def _plain_ints(value: Any) -> bool:
    """An int or a tuple of ints, none a bool or a NumPy integer: what a cache key can hold unambiguously."""
    return type(value) is int or (type(value) is tuple and all(type(v) is int for v in value))


def pool_geometry(
    size: tuple[int, ...],
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
    fn: str = "",
    shape: tuple[int, ...] | None = None,
) -> ConvGeometry:
    """A pooling's window arguments, checked as PyTorch checks them, as the :class:`ConvGeometry` over ``size``.

    ``stride`` None (or ``()``) is ``kernel_size``; ``padding`` is an int or a tuple of ints (no strings, no
    pairs), at most kernel_size // 2. No fit check: ceil_mode keeps a last window that overhangs the padded
    input (as PyTorch), and ``_pool`` names an output size below 1 itself. ``fn`` (and ``shape``) name the
    function (and the input) in the errors; without ``fn`` (a layer, before any input) the padding error
    shows the arguments as given.

    The geometry is frozen: calls with the same plain-int arguments share one, its sizes computed once
    (checking the arguments and computing ``out`` cost ~25 µs a call, the look-up ~2 µs).

    Example:
        >>> geometry = pool_geometry((5, 5), 2, None, 1, ceil_mode=True)
        >>> geometry.stride, geometry.before, geometry.out
        ((2, 2), (1, 1), (3, 3))
    """
    key = (size, kernel_size, stride, padding, dilation, bool(ceil_mode), fn, shape)
    cacheable = all(_plain_ints(v) for v in (kernel_size, stride, padding, dilation) if v is not None)
    if cacheable and key in _GEOMETRIES:
        return _GEOMETRIES[key]
    if stride is None or (isinstance(stride, tuple | list) and not stride):
        stride = kernel_size  # PyTorch's default
    if isinstance(padding, str):  # convolution's 'valid', 'same', 'full' are no pooling arguments
        raise UsageTypeError(f"padding={padding!r}: expected an int or {len(size)} ints")
    geometry = ConvGeometry.make(
        size, kernel_size, stride, padding, dilation, ceil_mode, fn, shape, pairs=False, check=False
    )
    if any(p > k // 2 for p, k in zip(geometry.before, geometry.kernel, strict=True)):
        if fn:
            raise UsageError(f"{fn}: padding={geometry.before} should be at most half of kernel_size={geometry.kernel}")
        raise UsageError(f"padding={padding!r} should be at most half of kernel_size={kernel_size!r}")
    if cacheable:
        if len(_GEOMETRIES) >= _GEOMETRIES_KEPT:
            _GEOMETRIES.clear()
        _GEOMETRIES[key] = geometry
    return geometry


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
    spatial = x.shape[-nd:]
    geometry = pool_geometry(spatial, kernel_size, stride, padding, dilation, ceil_mode, fname, x.shape)
    if not valid_divisor_override(divisor_override):
        raise UsageError(f"{fname}: divisor_override={divisor_override!r} must be a non-zero int")
    out, k, s, p, d = geometry.out, geometry.kernel, geometry.stride, geometry.before, geometry.dilation
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
    items = adaptive_size_items(output_size, nd, f"{fname}: ")
    if any(o is not None and o < 0 for o in items):
        raise UsageError(f"{fname}: output_size={output_size!r} must be >= 0 (input of shape {x.shape})")
    sizes = tuple(n if o is None else int(o) for o, n in zip(items, x.shape[-nd:], strict=True))
    indices = np.empty((*x.shape[:-nd], *sizes), dtype=np.int64) if return_indices else None
    y = AdaptivePool.apply(x, output_size=sizes, reducer=reducer, indices=indices)
    return (y, Tensor(indices)) if return_indices else y


def _max_unpool(
    fname: str, nd: int, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any, output_size: Any
) -> Tensor:
    """Check the arguments as PyTorch does (its output_size rule included), then apply :class:`MaxUnpool`."""
    x = _check_dims(input, nd, fname)
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
    # the size whose max pooling gives the input's size: (L_in - 1)·S + k - 2P, a transposed convolution's
    default = transposed_output_size(x.shape[-nd:], k, s, p, (1,) * nd, (0,) * nd)
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


# --------------------------------------------------------------------------- public API
def _named(op: Callable[..., Any], name: str, doc: str) -> Callable[..., Any]:
    """``op`` as the public function ``name`` with the docstring ``doc`` (whose examples run as that function's)."""
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _extremum_pool(reducer: str, nd: int, doc: str) -> Callable[..., Tensor | tuple[Tensor, Tensor]]:
    """The public ``{reducer}_pool{nd}d``: arguments as PyTorch's max_pool1d/2d, one windowed reduction."""
    name = f"{reducer}_pool{nd}d"

    def pool(
        input: Tensor,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        return _pool(
            name, nd, reducer, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=return_indices
        )

    return _named(pool, name, doc)


def _max_unpool_op(nd: int, doc: str) -> Callable[..., Tensor]:
    """The public ``max_unpool{nd}d``: arguments as PyTorch's max_unpool1d/2d."""
    name = f"max_unpool{nd}d"

    def unpool(
        input: Tensor,
        indices: Tensor,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        output_size: Any = None,
    ) -> Tensor:
        return _max_unpool(name, nd, input, indices, kernel_size, stride, padding, output_size)

    return _named(unpool, name, doc)


max_pool1d = _extremum_pool(
    "max",
    1,
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
    """,
)

max_pool2d = _extremum_pool(
    "max",
    2,
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
    """,
)

min_pool1d = _extremum_pool(
    "min",
    1,
    """1-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool1d(-x).

    Arguments and shapes as :func:`max_pool1d`.

    Example:
        >>> import kernelwise as kw
        >>> min_pool1d(kw.tensor([[[1.0, 5, 2, 0, 3]]]), 2).tolist()
        [[[1.0, 0.0]]]
    """,
)

min_pool2d = _extremum_pool(
    "min",
    2,
    """2-D min pooling: the smallest value of each window (padding is +inf); equals -max_pool2d(-x).

    Arguments and shapes as :func:`max_pool2d`.

    Example:
        >>> import kernelwise as kw
        >>> x = kw.tensor([[[[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]]])
        >>> min_pool2d(x, 2).tolist()
        [[[[4.0, 0.0], [6.0, 3.0]]]]
    """,
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


max_unpool1d = _max_unpool_op(
    1,
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
    """,
)

max_unpool2d = _max_unpool_op(
    2,
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
    """,
)
