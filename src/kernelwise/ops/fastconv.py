"""Fast paths of the convolution: the same sums as the plain path of ``conv.py``, with fewer copies.

Legend: N batch, C input channels, O output channels, k kernel (kh, kw), s stride, d dilation,
P padding, L output positions per sample (oh·ow), K = C·kh·kw values in one window,
Hp, Wp the padded size, M = N·Hp·Wp positions of the padded grid.

Every path computes the recitation's three formulas, each written on the line that does it:

    O = X ⋆ W + b          O[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, c, y·s + i·d, x·s + j·d] · W[o, c, i, j]
    dL/dW = X ⋆ dL/dO      dL/db = Σ dL/dO over batch and positions
    dL/dX = full convolution of rot180(W) with dL/dO (the adjoint of taking windows)

``conv.py``'s plain "windows" path (a window view and one batched matmul, its backward the
forward routine again on the zero-inserted gradient) is the readable specification; each path
here is tested against it, against the loop reference and against PyTorch. No single method
wins on every shape, so :func:`choose_method` picks one per shape (the reasons are there):

* ``matmul``: a 1×1 convolution is a matrix product per sample, ``Y[n] = W @ X[n]``; no copy.
* ``im2col``: one copy of every window as a column of ``cols`` (K, N·L), then one GEMM each for
  O, dL/dW and dL/dcols; dL/dX adds dL/dcols back onto the windows (col2im, k² adds: for stride 1
  on the padded grid, in long contiguous runs).
* ``chwn``: im2col on a batch-last (C, *spatial, N) copy of X: a tap's values along an output
  row are then ow·N contiguous numbers instead of ow, so the copy and col2im run in long runs
  (NumPy pays ~20 ns per run). O is returned as an (N, O, *out) view of its batch-last memory
  and dL/dX likewise; ReLU and pooling keep that layout (see ``layout.py``), so between two such
  layers no transposing copy runs at all.
* ``shifted``: stride 1 in 2-d without an im2col buffer. On the channels-last padded input,
  flattened over (n, y, x), the window tap (i, j) of output position m is row m + i·Wp + j, so
  one kernel row's kw taps are kw consecutive rows: a plain reshape turns them into a matrix of
  kw·C columns (one matrix per residue m mod kw). ``O = Σ_i shift_i(X_rows @ W_i)`` needs kh·kw
  GEMMs with K = kw·C and kh - 1 contiguous adds; the garbage at the Wp - ow right-hand columns
  and the Hp - oh bottom rows of the grid is cropped.
* ``winograd``: 3×3, stride 1, by Winograd's F(4×4, 3×3): 4× fewer multiplications, the input
  tiles and weights transformed by small GEMMs (see the section below).

Training also asks glibc to keep freed memory (:func:`kernelwise.memory.reuse_freed_memory`):
otherwise the large temporaries every step frees cost a page fault per 4 KiB on the next step.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from .windows import col2im, tap_regions, windows

__all__ = [
    "METHODS",
    "check_method",
    "choose_method",
    "conv_backward",
    "conv_forward",
    "exact_if_non_finite",
    "grad_needs_exact",
]

Pairs = tuple[tuple[int, int], ...]  # (before, after) padding of each spatial dimension

METHODS = ("windows", "exact", "matmul", "im2col", "chwn", "shifted", "winograd")


# --------------------------------------------------------------------------- choosing a method
def choose_method(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
    dtype: np.dtype | type = np.float32,
) -> str:
    """The convolution algorithm for these shapes: one of :data:`METHODS`.

    Measured on a 2-core x86 machine with OpenBLAS (see docs/performance.md):

    * groups > 1 keep the plain "windows" path, whose batched matmul already runs per group.
    * float64 keeps it too: float64 is for checking (gradcheck, tests), where the readable path is
      the one worth checking; the fast paths are tuned for float32 (and tested in float64 by name).
    * 1×1, stride 1, no padding: "matmul", no copy at all.
    * 3×3, stride 1, no dilation, padding ≤ 2, at least 16 input and output channels: "winograd".
      F(4×4, 3×3) does 4× fewer multiplications; its transforms are memory passes, which a GEMM
      with K = C ≥ 16 outweighs (1.4× faster than "shifted" on 64 channels, 1.5× on 256).
    * other 2-d, stride 1, no dilation, at least 16 input channels: "shifted". The GEMM's K = kw·C
      is long enough to run near peak and it writes no K-times-larger buffer; with few channels
      (LeNet's 1 and 6) its GEMMs are too thin and one im2col GEMM (K = C·k²) wins.
    * a batch of at least 16 with output rows shorter than 16, or with fewer than 16 input and
      output channels (both LeNet convolutions, the MNIST-1D CNN): "chwn". The NCHW im2col copies
      runs of ow numbers, and NumPy's ~20 ns per run dominates when ow is 5-28; batch-last runs are
      N times longer (1.4-1.5× faster fwd+bwd on LeNet's 64, 6→16, 14×14). Its output stays
      batch-last, which the ReLU and pooling after it keep: a LeNet-5 training step 8.2 → 7.2 ms.
      With 16 or more output channels the next convolution will read NCHW ("shifted",
      "winograd"), and moving a (64, 16, 32, 32) activation there and its gradient back costs
      more than the short runs save: a 3→16 channel first layer stays on "im2col".
    * everything else (many channels with strides or dilation, small batches, 1-d and 3-d): "im2col".

    Non-finite values are not decided here, by shape, but by :func:`exact_if_non_finite` after it, on
    the values: a NaN or inf must never meet a zero that is not in the data (padding, zeros inserted for
    a stride, the garbage columns of a grid). Every path but "matmul" multiplies such zeros by W, so a
    non-finite weight sends the convolution to "exact" (conv.py's tap-by-tap sum over the real terms
    only, no structural zero multiplied); "shifted" multiplies its grid's garbage columns of dL/dO by X in dL/dW,
    and Winograd's transforms mix every input of a tile and every tap of the kernel (one NaN or inf
    spreads over the tile), so a non-finite X sends those two there as well. Likewise
    :func:`grad_needs_exact` sends the backward to "exact" when dL/dO holds a NaN or inf and would meet
    the padding's zeros (in dL/dW) or Winograd's transforms. "matmul" (1×1, no padding, stride 1) has no
    such zero and always keeps its path. The checks cost one np.isfinite pass over W (microseconds),
    over X for "shifted" and "winograd", and over dL/dO where there is padding or Winograd: measured at
    0.1-0.9% of a forward and backward (LeNet-5's two convolutions on a batch of 64; 64 channels 3×3 on
    8×64×56×56 and 32×64×16×16).

    Example:
        >>> choose_method((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        'winograd'
        >>> choose_method((8, 64, 56, 56), (64, 64, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'shifted'
        >>> choose_method((64, 1, 28, 28), (6, 1, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'chwn'
        >>> choose_method((8, 1, 28, 28), (6, 1, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'im2col'
        >>> choose_method((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
        'chwn'
    """
    nd = len(w_shape) - 2
    C, O, kernel = x_shape[1], w_shape[0], w_shape[2:]
    if groups != 1 or np.dtype(dtype) != np.float32:
        return "windows"
    plain = all(s == 1 for s in stride) and all(d == 1 for d in dilation)
    if plain and all(k == 1 for k in kernel) and not any(lo or hi for lo, hi in padding):
        return "matmul"
    if nd == 2 and plain and kernel == (3, 3) and min(C, O) >= 16 and all(p <= 2 for pair in padding for p in pair):
        return "winograd"
    if nd == 2 and plain and C >= 16:
        return "shifted"
    out_last = (x_shape[-1] + sum(padding[-1]) - dilation[-1] * (kernel[-1] - 1) - 1) // stride[-1] + 1
    if x_shape[0] >= 16 and (out_last < 16 or (C < 16 and O < 16)):
        return "chwn"
    return "im2col"


def check_method(
    method: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
) -> None:
    """A ValueError if ``method`` cannot compute this convolution (a method asked for by name)."""
    if method not in METHODS:
        raise UsageError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if method in ("windows", "exact"):  # both generic: any shape, any groups
        return
    shapes = f"input shape {x_shape}, weight shape {w_shape}"
    if groups != 1:
        raise UsageError(f"method={method!r} needs groups=1, got groups={groups} ({shapes})")
    plain = all(s == 1 for s in stride) and all(d == 1 for d in dilation)
    if method == "matmul" and not (
        plain and all(k == 1 for k in w_shape[2:]) and not any(lo or hi for lo, hi in padding)
    ):
        raise UsageError(f"method='matmul' needs a 1×1 kernel, stride 1, dilation 1 and no padding ({shapes})")
    if method == "shifted" and not (len(w_shape) == 4 and plain):
        raise UsageError(f"method='shifted' needs a 2-d convolution with stride 1 and dilation 1 ({shapes})")
    if method == "winograd" and not (
        len(w_shape) == 4 and plain and w_shape[2:] == (3, 3) and all(0 <= p <= 2 for pair in padding for p in pair)
    ):
        raise UsageError(
            f"method='winograd' needs a 3×3 kernel, stride 1, dilation 1 and padding of at most 2 ({shapes}, "
            f"padding {padding})"
        )


def exact_if_non_finite(method: str, x: np.ndarray, w: np.ndarray) -> str:
    """``method``, or "exact" where a NaN or inf in W or X would meet a zero ``method`` multiplies (see choose_method).

    Example:
        >>> x, w = np.ones((1, 16, 6, 6), np.float32), np.ones((16, 16, 3, 3), np.float32)
        >>> exact_if_non_finite("winograd", x, w), exact_if_non_finite("im2col", x, w * np.inf)
        ('winograd', 'exact')
    """
    if method in ("exact", "matmul"):  # no structural zero: every product is a term of the sum
        return method
    if not np.isfinite(w).all():  # the padding, inserted zeros or the full convolution's border times W
        return "exact"
    if method in ("shifted", "winograd") and not np.isfinite(x).all():  # a grid's garbage times X; tiles mixed
        return "exact"
    return method


def grad_needs_exact(method: str, grad_out: np.ndarray, padding: Pairs) -> bool:
    """Whether a NaN or inf in dL/dO would meet a zero ``method``'s backward multiplies (see choose_method).

    dL/dW multiplies dL/dO by the padding's zeros of X; Winograd's transforms mix dL/dO within a tile.
    """
    if method in ("exact", "matmul") or (method != "winograd" and not any(lo or hi for lo, hi in padding)):
        return False
    return not np.isfinite(grad_out).all()


# --------------------------------------------------------------------------- shared helpers
def _pad(x: np.ndarray, padding: Pairs) -> np.ndarray:
    """Zero-pad the spatial dimensions of (N, C, *spatial); no copy when there is nothing to pad.

    (np.zeros and one assignment: np.pad costs ~80 µs of Python per call, more than the copy on small inputs.)
    """
    if not any(lo or hi for lo, hi in padding):
        return x
    x_pad = np.zeros((*x.shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], padding))), dtype=x.dtype)
    x_pad[(Ellipsis, *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], padding)))] = x
    return x_pad


def _add_bias(y_view: np.ndarray, b: np.ndarray | None, out_shape: tuple[int, ...], nd: int) -> np.ndarray:
    """A new contiguous (N, O, *out) array holding ``y_view`` + b[o] (one pass, also the layout change)."""
    y = np.empty(out_shape, dtype=y_view.dtype)
    if b is None:
        np.copyto(y, y_view)
    else:
        np.add(y_view, b.reshape(-1, *[1] * nd), out=y)  # + b[o] at every position
    return y


def _cols_with_ones(view: np.ndarray, K: int, b: np.ndarray | None) -> np.ndarray:
    """The im2col matrix (K, M) copied from ``view``, and a last row of ones when there is a bias.

    The bias is the weight of a constant input 1: with W_b = [W_mat | b] and a row of ones under
    ``cols``, one GEMM gives W_mat @ cols + b, and dL/dW_b = dL/dO @ colsᵀ gives dL/db = Σ dL/dO
    in its last column; no separate pass over the output for either.
    """
    M = view.size // K
    cols = np.empty((K + (b is not None), M), dtype=view.dtype)
    cols[:K].reshape(view.shape)[...] = view  # the one copy
    if b is not None:
        cols[K] = 1
    return cols


def _gemm_rows(rows: int) -> int:
    """How many rows to give a GEMM's left operand that has ``rows``: 8 for 3-7, else ``rows``.

    Measured with OpenBLAS 0.3.31 on 2 threads, (M, 25) @ (25, 50176): M = 6 takes 0.54 ms, M = 8
    0.31 ms (and (6, 50176) @ (50176, 25) 0.99 ms against 0.60 ms with 8 rows): the 2-thread split
    of 3-7 rows runs slow kernels. Zero rows padding M to 8 cost nothing to compute and are dropped.
    """
    return 8 if 3 <= rows < 8 else rows


def _rows_of(y_view: np.ndarray, rows: int) -> np.ndarray:
    """``y_view`` (O, *rest) copied into a (_gemm_rows(O), prod(rest)) matrix, zero rows below: a GEMM's operand."""
    out = np.empty((_gemm_rows(rows), math.prod(y_view.shape[1:])), dtype=y_view.dtype)
    out[:rows].reshape(y_view.shape)[...] = y_view
    out[rows:] = 0
    return out


def _times_cols(w_mat: np.ndarray, b: np.ndarray | None, cols: np.ndarray) -> np.ndarray:
    """O = W_mat @ cols + b in one GEMM: [W_mat | b] @ [cols; 1] (cols from ``_cols_with_ones``).

    Shape: W (O, K), b (O,) or None, cols (K [+ 1], M) -> (O, M).
    """
    O = w_mat.shape[0]
    w_b = w_mat if b is None else np.concatenate([w_mat, b[:, None]], axis=1)  # [W_mat | b]
    return (_rows_of(w_b, O) @ cols)[:O]


def _grad_weight_bias(g_rows: np.ndarray, w_mat: np.ndarray, cols: np.ndarray, kernel: tuple[int, ...]) -> tuple:
    """dL/dW = dL/dO @ colsᵀ (X ⋆ dL/dO), and dL/db = Σ dL/dO from the row of ones under ``cols`` if any.

    Shape: dL/dO as rows (≥ O, M) (zero rows beyond O), W (O, K), cols (K [+ 1], M) -> (O, C, *k), (O,) or None.
    """
    O, K = w_mat.shape
    grad = (g_rows @ cols.T)[:O]  # (O, K [+ 1]): [dL/dW_mat | dL/db]
    grad_b = np.ascontiguousarray(grad[:, K]) if cols.shape[0] > K else None
    return np.ascontiguousarray(grad[:, :K]).reshape(O, -1, *kernel), grad_b


# --------------------------------------------------------------------------- matmul (1×1)
def _matmul_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """1×1 convolution: O[n] = W @ X[n] + b, per sample (O, C) @ (C, L) -> (O, L); no copy of X."""
    N, C, O, spatial = x.shape[0], x.shape[1], w.shape[0], x.shape[2:]
    w_mat = w.reshape(O, C)  # (O, C)
    x_mat = x.reshape(N, C, -1)  # (N, C, L)
    y = np.matmul(w_mat, x_mat)  # (O, C) @ (N, C, L) -> (N, O, L), one GEMM per sample
    if b is not None:
        y += b[:, None]  # + b[o] at every position
    return y.reshape(N, O, *spatial), {"x": x_mat, "w": w_mat, "w_shape": w.shape}  # "x": what dL/dW needs


def _matmul_backward(saved: dict, g: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    x, w = saved["x"], saved["w"]
    N, O = g.shape[:2]
    g_mat = g.reshape(N, O, -1)  # (N, O, L)
    grad_x = grad_w = None
    if needs[0]:
        grad_x = np.matmul(w.T, g_mat).reshape(N, w.shape[1], *g.shape[2:])  # dL/dX[n] = Wᵀ @ dL/dO[n]
    if needs[1]:
        grad_w = np.matmul(g_mat, x.transpose(0, 2, 1)).sum(axis=0)  # dL/dW = Σ_n dL/dO[n] @ X[n]ᵀ: X ⋆ dL/dO
        grad_w = grad_w.reshape(saved["w_shape"])  # (O, C, 1, ...)
    return grad_x, grad_w, None


# --------------------------------------------------------------------------- im2col
def _im2col_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[np.ndarray, dict]:
    """O = W_mat @ cols + b: every window of the padded X a column of ``cols`` (K, N·L), one GEMM.

    The columns are ordered (c, *taps) × (n, *out), so the copy reads rows of X contiguously
    (stride 1) and one GEMM serves the whole batch, the bias included (a row of ones under
    ``cols``); its (O, N, L) result is transposed to (N, O, L) in one copy.
    """
    nd = w.ndim - 2
    N, C, O, kernel = x.shape[0], x.shape[1], w.shape[0], w.shape[2:]
    x_pad = _pad(x, padding)  # (N, C, *padded)
    view = windows(x_pad, kernel, stride, dilation)  # (N, C, *out, *k): a view
    out = view.shape[2 : 2 + nd]
    view = view.transpose(1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))  # (C, *k, N, *out)
    cols = _cols_with_ones(view, C * math.prod(kernel), b)  # (K [+ 1], N·L)
    w_mat = w.reshape(O, -1)  # (O, K)
    y = _times_cols(w_mat, b, cols)  # O = X ⋆ W + b: (O, K + 1) @ (K + 1, N·L) -> (O, N·L)
    y = y.reshape(O, N, *out).transpose(1, 0, *range(2, 2 + nd))  # (N, O, *out), a view
    y = np.ascontiguousarray(y)  # the layout change
    return y, {"x": cols, "w": w_mat, "padded": x_pad.shape, "options": (kernel, stride, padding, dilation)}


def _im2col_backward(saved: dict, g: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    cols, w_mat = saved["x"], saved["w"]
    kernel, stride, padding, dilation = saved["options"]
    N, O, out = g.shape[0], g.shape[1], g.shape[2:]
    nd = len(out)
    g_rows = _rows_of(g.transpose(1, 0, *range(2, 2 + nd)), O)  # (O, N·L) (+ zero rows for the GEMM)
    g_mat = g_rows[:O]
    grad_x = grad_w = grad_b = None
    if needs[1]:
        grad_w, grad_b = _grad_weight_bias(g_rows, w_mat, cols, kernel)  # X ⋆ dL/dO, and Σ dL/dO
    if needs[0] and all(s == 1 for s in stride):
        grad_x = _col2im_on_grid(g, w_mat, saved["padded"], kernel, padding, dilation)
    elif needs[0]:
        C = w_mat.shape[1] // math.prod(kernel)
        grad_cols = w_mat.T @ g_mat  # dL/dcols = Wᵀ @ dL/dO: (K, O) @ (O, N·L) -> (K, N·L)
        grad_cols = grad_cols.reshape(C, *kernel, N, *out)  # (C, *k, N, *out)
        grad_cols = grad_cols.transpose(1 + nd, 0, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd))  # (N, C, *out, *k)
        grad_x_pad = col2im(grad_cols, (N, C, *saved["padded"][2:]), kernel, stride, dilation)  # windows added back
        grad_x = grad_x_pad[(Ellipsis, *(slice(lo, n - hi) for (lo, hi), n in zip(padding, saved["padded"][2:])))]
    return grad_x, grad_w, grad_b


def _col2im_on_grid(
    g: np.ndarray,
    w_mat: np.ndarray,
    padded_shape: tuple[int, ...],
    kernel: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> np.ndarray:
    """dL/dX for stride 1: dL/dcols = Wᵀ @ dL/dO, added back onto the windows in long contiguous runs.

    With stride 1, output position y reads the padded input at y + t·d, so on the flattened padded
    plane tap t of position m sits at m + offset(t), offset(t) = Σ_a t_a·d_a·step_a. Computing dL/dcols
    for positions m over whole padded rows (dL/dO is zero at the extra columns) makes each tap's
    col2im one add of a contiguous run per plane, instead of oh short rows of ow values.

    Shape: dL/dO (N, O, *out), W (O, K) -> dL/dX (N, C, *spatial).
    """
    N, O, out, nd = g.shape[0], g.shape[1], g.shape[2:], g.ndim - 2
    C, padded = padded_shape[1], padded_shape[2:]
    step = [math.prod(padded[a + 1 :]) for a in range(nd)]  # elements between neighbours along each axis
    P, L = math.prod(padded), out[0] * step[0]  # plane size; grid positions per sample (whole padded rows)
    g_grid = np.zeros((O, N, out[0], *padded[1:]), dtype=g.dtype)  # dL/dO on the grid, zero at the extra columns
    g_grid[(Ellipsis, *(slice(o) for o in out[1:]))] = g.transpose(1, 0, *range(2, 2 + nd))
    grad_cols = (w_mat.T @ g_grid.reshape(O, N * L)).reshape(C, math.prod(kernel), N, L)  # dL/dcols = Wᵀ @ dL/dO
    grad_flat = np.zeros(N * C * P + step[0], dtype=g.dtype)  # dL/dX_pad, flat, and room for the last run
    it = grad_flat.itemsize
    # plane (n, c) and what the last tap's run reaches beyond it (the next plane's start, given only zeros)
    planes = np.lib.stride_tricks.as_strided(grad_flat, shape=(C, N, P + step[0]), strides=(P * it, C * P * it, it))
    for t, tap in enumerate(np.ndindex(*kernel)):
        offset = sum(i * d * st for i, d, st in zip(tap, dilation, step))
        planes[:, :, offset : offset + L] += grad_cols[:, t]  # col2im: dL/dX_pad[n, c, m + offset(t)] += dL/dcols
    grad_x_pad = grad_flat[: N * C * P].reshape(N, C, *padded)
    inside = tuple(slice(lo, n - hi) for (lo, hi), n in zip(padding, padded))
    return np.ascontiguousarray(grad_x_pad[(Ellipsis, *inside)])  # (N, C, *spatial): the padding's share dropped


# --------------------------------------------------------------------------- im2col, batch last
def _batch_last(x: np.ndarray, padding: Pairs) -> np.ndarray:
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


def _chwn_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[np.ndarray, dict]:
    """O = W_mat @ cols + b with the columns ordered (*out, n): im2col on a batch-last copy of X.

    On the (C, *padded, N) copy, tap t of the windows along an output row is one run of ow·N
    numbers (N for a stride > 1) where the NCHW layout has ow: the copy runs at memory speed when
    output rows are short (LeNet's 10-28, MNIST-1D's 5-19). The price: X moved batch-last (a
    contiguous copy when X is itself the batch-last output of such a layer); O is not moved back
    but returned as a view of its batch-last memory.
    """
    nd = w.ndim - 2
    N, C, O, kernel = x.shape[0], x.shape[1], w.shape[0], w.shape[2:]
    xb = _batch_last(x, padding)  # (C, *padded, N)
    out = tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(xb.shape[1:-1], kernel, stride, dilation))
    st = xb.strides[1:-1]
    taps, positions = (a * d for a, d in zip(st, dilation)), (a * s for a, s in zip(st, stride))
    view = np.lib.stride_tricks.as_strided(  # view[c, *t, *o, n] = Xb[c, o·s + t·d, n]
        xb, shape=(C, *kernel, *out, N), strides=(xb.strides[0], *taps, *positions, xb.itemsize), writeable=False
    )
    cols = _cols_with_ones(view, C * math.prod(kernel), b)  # (K [+ 1], L·N)
    w_mat = w.reshape(O, -1)  # (O, K)
    y = _times_cols(w_mat, b, cols).reshape(O, *out, N)  # O = X ⋆ W + b: (O, K + 1) @ (K + 1, L·N), batch last
    y = y.transpose(nd + 1, 0, *range(1, nd + 1))  # (N, O, *out): a view, its memory stays batch-last
    return y, {"x": cols, "w": w_mat, "padded": xb.shape[1:-1], "options": (kernel, stride, padding, dilation)}


def _chwn_backward(saved: dict, g: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    cols, w_mat = saved["x"], saved["w"]
    kernel, stride, padding, dilation = saved["options"]
    N, O, out, nd = g.shape[0], g.shape[1], g.shape[2:], g.ndim - 2
    g_rows = _rows_of(g.transpose(1, *range(2, 2 + nd), 0), O)  # dL/dO batch last: (O, L·N) (+ zero rows)
    g_mat = g_rows[:O]
    grad_x = grad_w = grad_b = None
    if needs[1]:
        grad_w, grad_b = _grad_weight_bias(g_rows, w_mat, cols, kernel)  # X ⋆ dL/dO, and Σ dL/dO
    if needs[0]:
        C, padded = w_mat.shape[1] // math.prod(kernel), saved["padded"]
        grad_cols = (w_mat.T @ g_mat).reshape(C, *kernel, *out, N)  # dL/dcols = Wᵀ @ dL/dO
        grad_xb = np.zeros((C, *padded, N), dtype=g.dtype)
        for tap, region in zip(np.ndindex(*kernel), tap_regions(kernel, stride, dilation, out)):
            grad_xb[(slice(None), *region)] += grad_cols[(slice(None), *tap)]  # dL/dXb[c, o·s + t·d, n] += dL/dcols
        inside = tuple(slice(lo, n - hi) for (lo, hi), n in zip(padding, padded))
        grad_x = grad_xb[(slice(None), *inside)].transpose(nd + 1, 0, *range(1, nd + 1))  # (N, C, *spatial), a view
    return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------- shifted GEMM (2-d, stride 1)
def _to_grid(x: np.ndarray, padding: Pairs, front: int, rows: int) -> np.ndarray:
    """X (N, C, H, W) as the rows of its channels-last padded grid, ``front`` zero rows before it.

    Shape: -> (rows, C); rows front .. front + N·Hp·Wp hold X[n, :, y - P, x - P] at row
    front + (n·Hp + y)·Wp + x, every other row is zero.
    """
    N, C, H, W = x.shape
    (top, bottom), (left, right) = padding
    Hp, Wp = H + top + bottom, W + left + right
    buf = np.empty((rows, C), dtype=x.dtype)
    buf[:front] = 0
    buf[front + N * Hp * Wp :] = 0
    grid = buf[front : front + N * Hp * Wp].reshape(N, Hp, Wp, C)  # (N, Hp, Wp, C), a view
    grid[:, :top] = 0
    grid[:, Hp - bottom :] = 0
    grid[:, top : Hp - bottom, :left] = 0
    grid[:, top : Hp - bottom, Wp - right :] = 0
    if (H * W * x.itemsize) % 4096 == 0 and C > 1:
        # (C, H·W) -> (H·W, C) reads C values 4 KiB apart: all in one cache set. Copying X to rows of
        # an odd length first is one cheap contiguous copy and makes the transpose 3× faster.
        staged = np.empty((N, C, H * W + 16), dtype=x.dtype)
        staged[..., : H * W] = x.reshape(N, C, H * W)
        x = staged[..., : H * W].reshape(N, C, H, W)
    grid[:, top : Hp - bottom, left : Wp - right] = x.transpose(0, 2, 3, 1)  # the one transposing copy
    return buf


def _shifted_correlate(buf: np.ndarray, w_rows: list[np.ndarray], Wp: int, M: int) -> np.ndarray:
    """Y[m] = Σ_i Σ_j Xrows[m + i·Wp + j] @ W[:, :, i, j]ᵀ for m < M: stride-1 correlation on the padded grid.

    ``buf`` (rows, C) holds the grid (zero beyond it); ``w_rows[i]`` is kernel row i as (kw·C, O),
    row j·C + c holding W[o, c, i, j]. For each residue r of m mod kw, the rows r .. r + kw - 1 of
    ``buf`` read as one row of kw·C values: buf[r:] reshaped to (U/kw, kw·C) is that matrix, no copy.

    Shape: -> (M, O).
    """
    kh, C, O = len(w_rows), buf.shape[1], w_rows[0].shape[1]
    kw = w_rows[0].shape[0] // C
    q = -(-(M + (kh - 1) * Wp) // kw)  # rows of each residue's matrix: Z must reach m + (kh - 1)·Wp
    flat = buf.reshape(-1)
    Z = np.empty((kh, q * kw, O), dtype=buf.dtype)  # Z[i, m] = Σ_j X[m + j] @ W_ij: kernel row i, unshifted
    for r in range(kw):
        taps = flat[r * C : (r + q * kw) * C].reshape(q, kw * C)  # row t: X[t·kw + r + j], j = 0 .. kw - 1
        for i in range(kh):
            np.matmul(taps, w_rows[i], out=Z[i].reshape(q, kw, O)[:, r])  # rows m ≡ r (mod kw) of Z[i]
    y = Z[0, :M]
    for i in range(1, kh):
        y += Z[i, i * Wp : i * Wp + M]  # Y[m] += Z_i[m + i·Wp]: kernel row i reads the row i below
    return y


def _grid_rows(M: int, kh: int, kw: int, Wp: int) -> int:
    """Rows of a grid buffer: the grid, what the last window reaches, and the residue matrices' overhang."""
    return (-(-(M + (kh - 1) * Wp) // kw) + 2) * kw + (kh - 1) * Wp


def _shifted_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: Pairs) -> tuple[np.ndarray, dict]:
    """O = X ⋆ W + b for stride 1, computed on the channels-last padded grid (see the module docstring)."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (top, bottom), (left, right) = padding
    Hp, Wp = H + top + bottom, W + left + right
    oh, ow, M = Hp - kh + 1, Wp - kw + 1, N * Hp * Wp
    buf = _to_grid(x, padding, 0, _grid_rows(M, kh, kw, Wp))  # (rows, C)
    w_rows = [np.ascontiguousarray(w[:, :, i].transpose(2, 1, 0)).reshape(kw * C, O) for i in range(kh)]  # (kw·C, O)
    y = _shifted_correlate(buf, w_rows, Wp, M)  # O = X ⋆ W on the grid: (M, O)
    y = y.reshape(N, Hp, Wp, O)[:, :oh, :ow].transpose(0, 3, 1, 2)  # (N, O, oh, ow): crop the garbage, a view
    y = _add_bias(y, b, (N, O, oh, ow), 2)
    return y, {"x": buf, "w": w, "x_shape": x.shape, "padding": padding}


def _shifted_backward(saved: dict, g: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    w, padding = saved["w"], saved["padding"]
    N, C, H, W = saved["x_shape"]
    O, _, kh, kw = w.shape
    (top, bottom), (left, right) = padding
    Hp, Wp = H + top + bottom, W + left + right
    oh, ow, M = Hp - kh + 1, Wp - kw + 1, N * Hp * Wp
    # dL/dO on the same grid: row m = (n·Hp + y)·Wp + x, zero at the cropped positions, after
    # `front` zero rows so that the full convolution can reach (kh - 1, kw - 1) positions back
    front = (kh - 1) * Wp + kw - 1
    rows = front + _grid_rows(M, kh, kw, Wp)
    g_buf = _to_grid(g, ((0, Hp - oh), (0, Wp - ow)), front, rows)  # (rows, O)
    grad_x = grad_w = None
    if needs[0]:
        w_rot = w[:, :, ::-1, ::-1]  # rot180(W)
        w_rows = [np.ascontiguousarray(w_rot[:, :, i].transpose(2, 0, 1)).reshape(kw * O, C) for i in range(kh)]
        grad_x = _shifted_correlate(g_buf, w_rows, Wp, M)  # dL/dX = full correlation of dL/dO with rot180(W)
        grad_x = grad_x.reshape(N, Hp, Wp, C)[:, top : top + H, left : left + W].transpose(0, 3, 1, 2)
        grad_x = np.ascontiguousarray(grad_x)  # (N, C, H, W): the padding's gradient dropped
    if needs[1]:
        # dL/dW[o, c, i, j] = Σ_m dL/dO[m, o] · X[m + i·Wp + j, c], per kernel row i and residue r = m mod kw
        q = -(-M // kw)
        x_flat, g_rows = saved["x"].reshape(-1), g_buf[front : front + q * kw]  # g_rows: (q·kw, O)
        grad_w = np.zeros((kh, kw * C, O), dtype=g.dtype)  # [i, j·C + c, o]
        for r in range(kw):
            g_r = g_rows[r::kw]  # (q, O): dL/dO at m = t·kw + r
            for i in range(kh):
                start = (r + i * Wp) * C
                taps = x_flat[start : start + q * kw * C].reshape(q, kw * C)  # row t: X[t·kw + r + i·Wp + j]
                grad_w[i] += taps.T @ g_r  # dL/dW = X ⋆ dL/dO: (kw·C, q) @ (q, O)
        grad_w = grad_w.reshape(kh, kw, C, O).transpose(3, 2, 0, 1)  # (O, C, kh, kw)
    return grad_x, grad_w, None


# --------------------------------------------------------------------------- Winograd F(4×4, 3×3)
# Lavin & Gray (2016): a 4×4 output tile of a 3×3 correlation is Y = Aᵀ [ (G W Gᵀ) ⊙ (Bᵀ D B) ] A, D its
# 6×6 input tile: 36 multiplications instead of 16·9 = 144 (4×), at the price of the transforms.
# Interpolation points 0, ±1, ±2 and ∞. In float32 the error is about 20× that of the direct sum
# (tests/test_fastconv.py measures it against float64 and holds it to a bound).
_BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ]
)
_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
_AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])


def _transform_tiles(matrix: np.ndarray, tiles: np.ndarray, last: bool = False) -> np.ndarray:
    """out[p, q] = Σ_i Σ_j matrix[p, i] · matrix[q, j] · tiles[i, j]: M · tile · Mᵀ for every tile at once.

    Shape: (a, a, R) -> (b, b, R) for a (b, a) matrix, or (b, R, b) with ``last`` (the tile's second
    axis innermost, where the output is laid out next); two GEMMs, one per tile axis (separable).
    """
    a, R = tiles.shape[0], tiles.shape[2]
    rows = (matrix @ tiles.reshape(a, a * R)).reshape(-1, a, R)  # along the tile's rows: (b, a, R)
    if last:
        return np.matmul(rows.transpose(0, 2, 1), matrix.T)  # along its columns, the result innermost: (b, R, b)
    return np.matmul(matrix, rows)  # along its columns, for each transformed row: (b, b, R)


def _winograd_correlate(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, top: int, left: int, out: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Y[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, c, y + i - top, x + j - left] · W[o, c, i, j] (zero outside X), 3×3.

    ``top``, ``left`` (0-2) are the zero rows/columns before X; Y covers ``out`` = (oh, ow) positions.
    Returns Y (N, O, oh, ow) and the transformed input tiles V (36, T, C), T = N·th·tw, for dL/dW.
    The products M[ξ] are computed as (O, T) and Aᵀ M A leaves each tile's columns innermost, so
    that laying the tiles out as (N, O, y, x) copies runs of whole output rows (4·tw) instead of 4.
    """
    N, C, H, W = x.shape
    O, dt = w.shape[0], x.dtype
    th, tw = -(-out[0] // 4), -(-out[1] // 4)  # 4×4 output tiles, the last ones cropped
    Hg, Wg = 4 * th + 2, 4 * tw + 2  # the input the tiles read: 6×6 tiles, 4 apart
    grid = _to_grid(x, ((top, Hg - H - top), (left, Wg - W - left)), 0, N * Hg * Wg).reshape(N, Hg, Wg, C)
    it = grid.itemsize
    tiles = np.lib.stride_tricks.as_strided(  # tiles[i, j, n, ty, tx, c] = grid[n, 4·ty + i, 4·tx + j, c]
        grid,
        shape=(6, 6, N, th, tw, C),
        strides=(Wg * C * it, C * it, Hg * Wg * C * it, 4 * Wg * C * it, 4 * C * it, it),
        writeable=False,
    )
    D = np.ascontiguousarray(tiles).reshape(6, 6, -1)  # (6, 6, T·C): the one copy
    V = _transform_tiles(_BT.astype(dt), D).reshape(36, -1, C)  # V = Bᵀ D B for every tile and channel
    U_t = (np.kron(_G, _G).astype(dt) @ w.reshape(-1, 9).T).reshape(36, O, C)  # U = G W Gᵀ, as Uᵀ per ξ
    M = np.matmul(U_t, V.transpose(0, 2, 1))  # M[ξ]ᵀ = U[ξ]ᵀ @ V[ξ]ᵀ: 36 GEMMs (O, C) @ (C, T), the ⊙ summed over c
    Y = _transform_tiles(_AT.astype(dt), M.reshape(6, 6, -1), last=True)  # Y = Aᵀ M A: (4, O·T, 4)
    Y = Y.reshape(4, O, N, th, tw, 4).transpose(2, 1, 3, 0, 4, 5)  # (N, O, ty, a, tx, b): a view
    y = _add_bias(Y, b, (N, O, th, 4, tw, 4), 4).reshape(N, O, 4 * th, 4 * tw)  # one pass: tiles laid out, + b[o]
    if (4 * th, 4 * tw) != out:
        y = np.ascontiguousarray(y[:, :, : out[0], : out[1]])  # the last tiles reach past the output: crop
    return y, V


def _winograd_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: Pairs) -> tuple[np.ndarray, dict]:
    """O = X ⋆ W + b for a 3×3 kernel, stride 1, by Winograd F(4×4, 3×3) (padding at most 2 per side)."""
    (top, bottom), (left, right) = padding
    out = (x.shape[2] + top + bottom - 2, x.shape[3] + left + right - 2)
    y, V = _winograd_correlate(x, w, b, top, left, out)  # O = X ⋆ W + b
    return y, {"x": V, "w": w, "x_shape": x.shape, "padding": padding}


def _winograd_backward(saved: dict, g: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    w, V, (top, _), (left, _) = saved["w"], saved["x"], *saved["padding"]
    N, C, H, W = saved["x_shape"]
    O, dt = w.shape[0], g.dtype
    grad_x = grad_w = None
    if needs[0]:
        w_rot = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # rot180(W), in and out channels swapped: (C, O, 3, 3)
        grad_x, _ = _winograd_correlate(g, w_rot, None, 2 - top, 2 - left, (H, W))  # full conv of rot180(W), dL/dO
    if needs[1]:
        # the adjoint of the forward, tile by tile: dL/dM = A dL/dY Aᵀ, dL/dU[ξ] = V[ξ]ᵀ dL/dM[ξ], dL/dW = Gᵀ dL/dU G
        oh, ow = g.shape[2:]
        th, tw = -(-oh // 4), -(-ow // 4)
        g_pad = g
        if (4 * th, 4 * tw) != (oh, ow):
            g_pad = np.zeros((N, O, 4 * th, 4 * tw), dtype=dt)  # dL/dO, zero beyond the cropped tiles
            g_pad[:, :, :oh, :ow] = g
        g_tiles = g_pad.reshape(N, O, th, 4, tw, 4).transpose(3, 5, 1, 0, 2, 4)  # [a, b, o, n, ty, tx]
        g_tiles = np.ascontiguousarray(g_tiles).reshape(4, 4, -1)  # (4, 4, O·T)
        dM = _transform_tiles(_AT.T.astype(dt), g_tiles).reshape(36, O, -1)  # dL/dM = A dL/dY Aᵀ: (36, O, T)
        dU_t = np.matmul(dM, V)  # dL/dU[ξ]ᵀ = dL/dM[ξ] @ V[ξ]: (36, O, C), summed over tiles
        grad_w = (dU_t.reshape(36, -1).T @ np.kron(_G, _G).astype(dt)).reshape(O, C, 3, 3)  # dL/dW = X ⋆ dL/dO
    return grad_x, grad_w, None


# --------------------------------------------------------------------------- dispatch
def conv_forward(
    method: str,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[np.ndarray, dict]:
    """O = X ⋆ W + b by ``method`` (not "windows"); returns O and what :func:`conv_backward` needs.

    Shape: X (N, C, *spatial), W (O, C, *k), b (O,) or None -> (N, O, *out). groups = 1.
    """
    if method != "chwn":  # the other paths read X in NCHW order: a batch-last X is transposed once here
        x = np.ascontiguousarray(x)
    if method == "matmul":
        y, saved = _matmul_forward(x, w, b)
    elif method == "im2col":
        y, saved = _im2col_forward(x, w, b, stride, padding, dilation)
    elif method == "chwn":
        y, saved = _chwn_forward(x, w, b, stride, padding, dilation)
    elif method == "shifted":
        y, saved = _shifted_forward(x, w, b, padding)
    elif method == "winograd":
        y, saved = _winograd_forward(x, w, b, padding)
    else:
        raise UsageError(f"method={method!r}: expected one of {METHODS[1:]}")
    saved["method"] = method
    return y, saved


def conv_backward(saved: dict, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    """(dL/dX, dL/dW, dL/db) of :func:`conv_forward`, None where ``needs`` says no gradient is wanted.

    ``saved["x"]`` (what dL/dW is computed from) may have been dropped (None) when dL/dW is not needed.
    """
    backward = {
        "matmul": _matmul_backward,
        "im2col": _im2col_backward,
        "chwn": _chwn_backward,
        "shifted": _shifted_backward,
        "winograd": _winograd_backward,
    }
    if saved["method"] != "chwn":  # as in conv_forward: the other paths read dL/dO in NCHW order
        grad_out = np.ascontiguousarray(grad_out)
    grad_x, grad_w, grad_b = (  # the im2col paths' dL/dW GEMM gives dL/db too; the others return None for it
        backward[saved["method"]](saved, grad_out, needs) if needs[0] or needs[1] else (None, None, None)
    )
    if needs[2] and grad_b is None:
        grad_b = grad_out.sum(axis=(0, *range(2, 2 + grad_out.ndim - 2)))  # dL/db[o] = Σ_n Σ_y dL/dO[n, o, y]
    return grad_x, grad_w, grad_b if needs[2] else None
