"""``im2col`` and ``chwn``: every window a column of one matrix, then one GEMM each for O, dL/dW and dL/dcols.

Both copy each window of the padded X into ``cols`` (K, M), K = C·kh·kw, M = N·L, and differ only in
where the batch sits among the columns: (n, *out) for "im2col", read from X in NCHW order, and
(*out, n) for "chwn", read from a batch-last (C, *padded, N) copy of X, where a tap's values along an
output row are ow·N contiguous numbers instead of ow (NumPy pays ~20 ns per run). "chwn" returns O
and dL/dX as (N, C, ...) views of their batch-last memory (see ``layout.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...workers import run_slices
from ..frozen import derived
from ..gemm import matmul
from ..geometry import ConvGeometry, crop, pad
from ..windows import col2im, tap_regions, windows
from .common import FastPath, Grads, PathContext, rows_of, with_bias

COPY_CHUNKS = 4  # the im2col copy and col2im's adds, cut along their first axis for the workers
#: How much of the window matrix "im2col_bands" fills at a time: a band this size stays in cache for its GEMM.
BAND_BYTES = 4 << 20  # 2-6 MB measured alike (64 and 128 channels on 56×56 to 224×224), 16 MB slower


@dataclass
class Im2colContext(PathContext):
    """``cols``: the windows (K [+ 1 row of ones], M), what dL/dW reads; ``w_mat``: W as (O, K)."""

    input_field: ClassVar[str] = "cols"
    cols: np.ndarray | None
    w_mat: np.ndarray
    geometry: ConvGeometry


def _cols_with_ones(view: np.ndarray, K: int, b: np.ndarray | None) -> np.ndarray:
    """The im2col matrix (K, M) copied from ``view``, and a last row of ones when there is a bias.

    The bias is the weight of a constant input 1: with W_b = [W_mat | b] and a row of ones under
    ``cols``, one GEMM gives W_mat @ cols + b, and dL/dW_b = dL/dO @ colsᵀ gives dL/db = Σ dL/dO
    in its last column; no separate pass over the output for either.
    """
    M = view.size // K
    cols = np.empty((K + (b is not None), M), dtype=view.dtype)
    target = cols[:K].reshape(view.shape)
    axis = 0 if view.shape[0] > 1 or view.ndim < 2 else 1  # the channels, or for one channel the kernel's rows

    def copy(lo: int, hi: int) -> None:
        part = (slice(None),) * axis + (slice(lo, hi),)
        target[part] = view[part]  # the one copy, cut along `axis`

    run_slices(copy, view.shape[axis], COPY_CHUNKS)
    if b is not None:
        cols[K] = 1
    return cols


def _times_cols(w: np.ndarray, b: np.ndarray | None, cols: np.ndarray) -> np.ndarray:
    """O = W_mat @ cols + b in one GEMM: [W_mat | b] @ [cols; 1] (cols from ``_cols_with_ones``).

    Shape: W (O, C, *k), b (O,) or None, cols (K [+ 1], M) -> (O, M).
    """
    O = w.shape[0]

    def weights() -> np.ndarray:  # [W_mat | b] as a GEMM operand (computed once for a frozen W and b)
        w_mat = w.reshape(O, -1)  # (O, K)
        return rows_of(with_bias(w_mat, b), O)

    return matmul(derived(w, ("im2col", b is None), weights, b), cols)[:O]


def _grad_weight_bias(grad_rows: np.ndarray, w_mat: np.ndarray, cols: np.ndarray, kernel: tuple[int, ...]) -> tuple:
    """dL/dW = dL/dO @ colsᵀ (X ⋆ dL/dO), and dL/db = Σ dL/dO from the row of ones under ``cols`` if any.

    Shape: dL/dO as rows (≥ O, M) (zero rows beyond O), W (O, K), cols (K [+ 1], M) -> (O, C, *k), (O,) or None.
    """
    O, K = w_mat.shape
    grad = matmul(grad_rows, cols.T)[:O]  # (O, K [+ 1]): [dL/dW_mat | dL/db]
    grad_b = np.ascontiguousarray(grad[:, K]) if cols.shape[0] > K else None
    return np.ascontiguousarray(grad[:, :K]).reshape(O, -1, *kernel), grad_b


class Im2col(FastPath):
    """O = W_mat @ cols + b: every window of the padded X a column of ``cols`` (K, N·L), one GEMM; any shape.

    The columns are ordered (c, *taps) × (n, *out), so the copy reads rows of X contiguously
    (stride 1) and one GEMM serves the whole batch, the bias included (a row of ones under
    ``cols``); its (O, N, L) result is transposed to (N, O, L) in one copy. dL/dX adds dL/dcols
    back onto the windows (col2im, k² adds: for stride 1 on the padded grid, in long contiguous runs).

    Example:
        >>> from kernelwise.ops.fastconv.common import ConvCase
        >>> x, w = np.ones((2, 3, 5, 5), np.float32), np.ones((4, 3, 3, 3), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (2, 2), ((1, 1), (1, 1)), (1, 1))
        >>> y, ctx = Im2col().forward(x, w, None, case.geometry)
        >>> y.shape, ctx.cols.shape, float(y[0, 0, 1, 1])
        ((2, 4, 3, 3), (27, 18), 27.0)
        >>> [None if a is None else a.shape for a in Im2col().backward(ctx, np.ones_like(y), (True, True, True))]
        [(2, 3, 5, 5), (4, 3, 3, 3), None]
    """

    name = "im2col"

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, Im2colContext]:
        C, O, kernel = x.shape[1], w.shape[0], w.shape[2:]
        view = self._window_columns(x, geometry)  # (C, *k, then N and *out in the columns' order): a view
        cols = _cols_with_ones(view, C * math.prod(kernel), b)  # (K [+ 1], M)
        y = _times_cols(w, b, cols)  # O = X ⋆ W + b: (O, K + 1) @ (K + 1, M) -> (O, M)
        return self._output(y, x.shape[0], geometry.out), Im2colContext(cols, w.reshape(O, -1), geometry)

    def backward(self, ctx: Im2colContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:
        O = grad_out.shape[1]
        grad_rows = rows_of(self._in_column_order(grad_out), O)  # dL/dO as (O, M) (+ zero rows for the GEMM)
        grad_x = grad_w = grad_b = None
        if needs[1]:
            # dL/dW = X ⋆ dL/dO, and dL/db = Σ dL/dO from the row of ones
            grad_w, grad_b = _grad_weight_bias(grad_rows, ctx.w_mat, ctx.cols, ctx.geometry.kernel)
        if needs[0]:
            grad_x = self._grad_input(grad_out, grad_rows[:O], ctx)
        return grad_x, grad_w, grad_b

    # --- where the batch sits: (n, *out) in the columns
    def _window_columns(self, x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
        """The windows of the padded X as (C, *k, N, *out): a view."""
        nd = geometry.nd
        view = windows(
            pad(x, geometry.padding), geometry.kernel, geometry.stride, geometry.dilation
        )  # (N, C, *out, *k)
        return view.transpose(1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))  # (C, *k, N, *out)

    def _output(self, y: np.ndarray, N: int, out: tuple[int, ...]) -> np.ndarray:
        """(O, N·L) -> (N, O, *out), one contiguous copy (the layout change)."""
        nd = len(out)
        return np.ascontiguousarray(y.reshape(y.shape[0], N, *out).transpose(1, 0, *range(2, 2 + nd)))

    def _in_column_order(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.transpose(1, 0, *range(2, grad_out.ndim))  # (O, N, *out)

    def _grad_input(self, grad_out: np.ndarray, grad_mat: np.ndarray, ctx: Im2colContext) -> np.ndarray:
        geom, w_mat = ctx.geometry, ctx.w_mat
        if all(s == 1 for s in geom.stride):
            return _col2im_on_grid(grad_out, w_mat, geom)
        N, nd, kernel = grad_out.shape[0], geom.nd, geom.kernel
        C = w_mat.shape[1] // math.prod(kernel)
        grad_cols = matmul(w_mat.T, grad_mat)  # dL/dcols = Wᵀ @ dL/dO: (K, O) @ (O, N·L) -> (K, N·L)
        grad_cols = grad_cols.reshape(C, *kernel, N, *geom.out)  # (C, *k, N, *out)
        grad_cols = grad_cols.transpose(1 + nd, 0, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd))  # (N, C, *out, *k)
        grad_x_pad = col2im(grad_cols, (N, C, *geom.padded), kernel, geom.stride, geom.dilation)  # windows added back
        return crop(grad_x_pad, geom.padding)


class BatchLastIm2col(Im2col):
    """im2col with the columns ordered (*out, n), on a batch-last (C, *padded, N) copy of X.

    On that copy, tap t of the windows along an output row is one run of ow·N numbers (N for a
    stride > 1) where the NCHW layout has ow: the copy runs at memory speed when output rows are
    short (LeNet's 10-28, MNIST-1D's 5-19). The price: X moved batch-last (a contiguous copy when X
    is itself the batch-last output of such a layer); O is not moved back but returned as a view of
    its batch-last memory, and dL/dX likewise.

    Example:
        >>> from kernelwise.ops.fastconv.common import ConvCase
        >>> x, w = np.ones((3, 2, 7), np.float32), np.ones((4, 2, 3), np.float32)  # 1-d
        >>> geometry = ConvCase.make(x.shape, w.shape, (2,), ((1, 1),), (1,)).geometry
        >>> y, ctx = BatchLastIm2col().forward(x, w, np.zeros(4, np.float32), geometry)
        >>> y.shape, y.flags.c_contiguous, y[2, 3].tolist(), ctx.cols.shape  # a row of ones under cols: the bias
        ((3, 4, 4), False, [4.0, 6.0, 6.0, 4.0], (7, 12))
    """

    name = "chwn"
    reads_nchw = False

    def _window_columns(self, x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
        """The windows of the batch-last padded X as (C, *k, *out, N): a view."""
        xb = _batch_last(x, geometry.padding)  # (C, *padded, N)
        st = xb.strides[1:-1]
        taps, positions = (a * d for a, d in zip(st, geometry.dilation)), (a * s for a, s in zip(st, geometry.stride))
        return np.lib.stride_tricks.as_strided(  # view[c, *t, *o, n] = Xb[c, o·s + t·d, n]
            xb,
            shape=(x.shape[1], *geometry.kernel, *geometry.out, x.shape[0]),
            strides=(xb.strides[0], *taps, *positions, xb.itemsize),
            writeable=False,
        )

    def _output(self, y: np.ndarray, N: int, out: tuple[int, ...]) -> np.ndarray:
        """(O, L·N) -> (N, O, *out): a view, its memory stays batch-last."""
        nd = len(out)
        return y.reshape(y.shape[0], *out, N).transpose(nd + 1, 0, *range(1, nd + 1))

    def _in_column_order(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.transpose(1, *range(2, grad_out.ndim), 0)  # dL/dO batch last: (O, *out, N)

    def _grad_input(self, grad_out: np.ndarray, grad_mat: np.ndarray, ctx: Im2colContext) -> np.ndarray:
        geom, w_mat = ctx.geometry, ctx.w_mat
        N, nd, kernel, out = grad_out.shape[0], geom.nd, geom.kernel, geom.out
        C = w_mat.shape[1] // math.prod(kernel)
        grad_cols = matmul(w_mat.T, grad_mat).reshape(C, *kernel, *out, N)  # dL/dcols = Wᵀ @ dL/dO
        grad_xb = np.zeros((C, *geom.padded, N), dtype=grad_out.dtype)
        regions = list(zip(np.ndindex(*kernel), tap_regions(kernel, geom.stride, geom.dilation, out)))

        def add_back(lo: int, hi: int) -> None:  # the channels lo..hi: every tap in order, as without the cut
            for tap, region in regions:
                grad_xb[(slice(lo, hi), *region)] += grad_cols[
                    (slice(lo, hi), *tap)
                ]  # dL/dXb[c, o·s + t·d, n] += dL/dcols

        run_slices(add_back, C, COPY_CHUNKS)
        inside = tuple(slice(lo, n - hi) for (lo, hi), n in zip(geom.padding, geom.padded))
        return grad_xb[(slice(None), *inside)].transpose(nd + 1, 0, *range(1, nd + 1))  # (N, C, *spatial), a view


@dataclass
class BandsContext(PathContext):
    """``x``: the input, what dL/dW reads (the backward copies its windows again); W, whether there was a bias, and
    the geometry."""

    input_field: ClassVar[str] = "x"
    x: np.ndarray | None
    w: np.ndarray
    has_bias: bool
    geometry: ConvGeometry


class BandedIm2col(Im2col):
    """im2col a band of output rows at a time, for a forward without a backward (inference).

    The same columns and the same GEMM as "im2col", cut into bands of about :data:`BAND_BYTES`: a band's
    windows are copied while the previous band's are still in cache, and its GEMM writes O's rows in place
    (O[n, :, rows] = [W_mat | b] @ [cols; 1]), so the output needs no transposing copy and the buffer no more
    memory than a band, whatever the batch. Bands are a few output rows of one sample or, where a sample's
    windows fit in one band, whole samples (one GEMM per sample). Whole-image im2col runs at memory speed
    on large images: 8, 64→64, 224×224 forward took 489-740 ms by "im2col" (a 925 MB buffer), 506 ms by
    "shifted" and 279-292 ms in bands of 4 MB (2 threads; see ``choose_method``).

    Its backward (for a program that asks for the method by name) copies the windows again and runs
    "im2col"'s backward.

    Example:
        >>> from kernelwise.ops.fastconv.common import ConvCase
        >>> x, w = np.ones((2, 3, 5, 5), np.float32), np.ones((4, 3, 3, 3), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
        >>> y, ctx = BandedIm2col().forward(x, w, np.ones(4, np.float32), case.geometry)
        >>> y.shape, float(y[0, 0, 0, 0]), float(y[1, 3, 2, 2])
        ((2, 4, 5, 5), 13.0, 28.0)
    """

    name = "im2col_bands"

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, BandsContext]:
        N, C, O, kernel, out, nd = x.shape[0], x.shape[1], w.shape[0], geometry.kernel, geometry.out, geometry.nd
        K, L, row = C * math.prod(kernel), math.prod(out), math.prod(out[1:])  # row: positions per output row
        ones = int(b is not None)
        w_b = derived(  # [W_mat | b] (computed once for a frozen W and b)
            w,
            ("im2col_bands", b is None),
            lambda: with_bias(w.reshape(O, K), b),
            b,
        )
        columns = max(row, BAND_BYTES // (x.itemsize * (K + ones)))  # a band's columns, at least one output row
        samples = max(1, min(N, columns // L))  # whole samples a band, or one sample in bands of `rows` rows
        rows = out[0] if columns >= L else columns // row
        inside = (slice(None), slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], geometry.padding)))
        # the padded samples of one band, the padding a frame of zeros written once (None: no padding, X itself)
        staged = np.zeros((samples, C, *geometry.padded), dtype=x.dtype) if geometry.padded_any else None
        buf = np.empty(samples * (K + ones) * rows * row, dtype=x.dtype)
        y = np.empty((N, O, *out), dtype=x.dtype)
        for n0 in range(0, N, samples):
            s = min(samples, N - n0)
            x_pad = x[n0 : n0 + s] if staged is None else staged[:s]
            if staged is not None:
                x_pad[inside] = x[n0 : n0 + s]
            view = windows(x_pad, kernel, geometry.stride, geometry.dilation)  # (s, C, *out, *k)
            view = view.transpose(0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (s, C, *k, *out), a view
            for y0 in range(0, out[0], rows):
                r = min(rows, out[0] - y0)
                cols = buf[: s * (K + ones) * r * row].reshape(s, K + ones, r * row)  # contiguous for any band
                cols[:, K:] = 1
                band = view[(slice(None),) * (2 + nd) + (slice(y0, y0 + r),)]  # (s, C, *k, r, *out[1:])
                cols[:, :K].reshape(band.shape)[...] = band  # the windows of output rows y0 .. y0 + r: a view's copy
                o_band = y[n0 : n0 + s, :, y0 : y0 + r].reshape(s, O, r * row)  # O's rows, a view
                matmul(w_b, cols, out=o_band)  # O[n, :, rows] = [W_mat | b] @ [cols; 1], one GEMM per sample
        return y, BandsContext(x, w, b is not None, geometry)

    def backward(self, ctx: BandsContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:  # type: ignore[override]
        O, K = ctx.w.shape[0], math.prod(ctx.w.shape[1:])
        cols = None
        if ctx.x is not None:  # dL/dW reads the windows: copied again, the row of ones under them if there was a bias
            bias = np.zeros(O, ctx.x.dtype) if ctx.has_bias else None
            cols = _cols_with_ones(self._window_columns(ctx.x, ctx.geometry), K, bias)
        return super().backward(Im2colContext(cols, ctx.w.reshape(O, K), ctx.geometry), grad_out, needs)


def _batch_last(x: np.ndarray, padding: tuple[tuple[int, int], ...]) -> np.ndarray:
    """X (N, C, *spatial) as a zero-padded (C, *padded, N) array: batch last, the padding a frame of zeros."""
    N, C, spatial, nd = x.shape[0], x.shape[1], x.shape[2:], x.ndim - 2
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, padding))
    xb = np.empty((C, *padded, N), dtype=x.dtype)
    for a, (lo, hi) in enumerate(padding):  # zero the frame only: the inside is overwritten next
        before, after = [slice(None)] * (nd + 2), [slice(None)] * (nd + 2)
        before[1 + a], after[1 + a] = slice(0, lo), slice(padded[a] - hi, padded[a])
        xb[tuple(before)] = 0
        xb[tuple(after)] = 0
    xb[(slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(spatial, padding)))] = x.transpose(
        1, *range(2, 2 + nd), 0
    )
    return xb


def _col2im_on_grid(grad_out: np.ndarray, w_mat: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """dL/dX for stride 1: dL/dcols = Wᵀ @ dL/dO, added back onto the windows in long contiguous runs.

    With stride 1, output position y reads the padded input at y + t·d, so on the flattened padded
    plane tap t of position m sits at m + offset(t), offset(t) = Σ_a t_a·d_a·step_a. Computing dL/dcols
    for positions m over whole padded rows (dL/dO is zero at the extra columns) makes each tap's
    col2im one add of a contiguous run per plane, instead of oh short rows of ow values.

    Shape: dL/dO (N, O, *out), W (O, K) -> dL/dX (N, C, *spatial).
    """
    N, O, out, nd = grad_out.shape[0], grad_out.shape[1], grad_out.shape[2:], grad_out.ndim - 2
    kernel, padded = geometry.kernel, geometry.padded
    C = w_mat.shape[1] // math.prod(kernel)
    step = [math.prod(padded[a + 1 :]) for a in range(nd)]  # elements between neighbours along each axis
    P, L = math.prod(padded), out[0] * step[0]  # plane size; grid positions per sample (whole padded rows)
    grad_grid = np.zeros((O, N, out[0], *padded[1:]), dtype=grad_out.dtype)  # dL/dO on the grid, zero at extra columns
    grad_grid[(Ellipsis, *(slice(o) for o in out[1:]))] = grad_out.transpose(1, 0, *range(2, 2 + nd))
    grad_mat = grad_grid.reshape(O, N * L)
    grad_cols = matmul(w_mat.T, grad_mat).reshape(C, math.prod(kernel), N, L)  # dL/dcols = Wᵀ @ dL/dO
    grad_flat = np.zeros(N * C * P + step[0], dtype=grad_out.dtype)  # dL/dX_pad, flat, and room for the last run
    it = grad_flat.itemsize
    # plane (n, c) and what the last tap's run reaches beyond it (the next plane's start, given only zeros)
    planes = np.lib.stride_tricks.as_strided(grad_flat, shape=(C, N, P + step[0]), strides=(P * it, C * P * it, it))
    for t, tap in enumerate(np.ndindex(*kernel)):
        offset = sum(i * d * st for i, d, st in zip(tap, geometry.dilation, step))
        planes[:, :, offset : offset + L] += grad_cols[:, t]  # col2im: dL/dX_pad[n, c, m + offset(t)] += dL/dcols
    grad_x_pad = grad_flat[: N * C * P].reshape(N, C, *padded)
    return np.ascontiguousarray(crop(grad_x_pad, geometry.padding))  # (N, C, *spatial): the padding's share dropped
