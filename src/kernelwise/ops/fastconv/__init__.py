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
* ``im2col_bands``: im2col without a backward, a band of output rows (or a few whole samples) at a time:
  each band's windows are still in cache for its GEMM, which writes O's rows in place.
* ``shifted``: stride 1 in 2-d without an im2col buffer. On the channels-last padded input,
  flattened over (n, y, x), the window tap (i, j) of output position m is row m + i·Wp + j, so
  one kernel row's kw taps are kw consecutive rows: a plain reshape turns them into a matrix of
  kw·C columns (one matrix per residue m mod kw). ``O = Σ_i shift_i(X_rows @ W_i)`` needs kh·kw
  GEMMs with K = kw·C and kh - 1 contiguous adds; the garbage at the Wp - ow right-hand columns
  and the Hp - oh bottom rows of the grid is cropped.
* ``winograd``: 3×3, stride 1, by Winograd's F(4×4, 3×3): 4× fewer multiplications, the input
  tiles and weights transformed by small GEMMs (see ``winograd.py``); only when
  ``kernelwise.backends.conv.allow_winograd`` is set (its float32 error is 6-37× PyTorch's).
* ``winograd2``: the same with F(2×2, 3×3): 2.25× fewer multiplications, as exact as the direct sum.

Each path is a :class:`~kernelwise.ops.fastconv.common.FastPath` in its own module (``matmul.py``,
``im2col.py`` for "im2col" and "chwn", ``shifted.py``, ``winograd.py``): ``supports(case)`` says what it
needs, ``forward`` returns O and a context dataclass, ``backward(ctx, grad_out, needs)`` the gradients.

Training also asks glibc to keep freed memory (:func:`kernelwise.memory.reuse_freed_memory`):
otherwise the large temporaries every step frees cost a page fault per 4 KiB on the next step.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ...backends import conv as backend_flags
from ...errors import UsageError
from ..frozen import derived
from ..geometry import ConvGeometry, Pairs
from .common import ConvCase, FastPath, PathContext
from .im2col import BandedIm2col, BatchLastIm2col, Im2col
from .matmul import Matmul
from .shifted import Shifted
from .winograd import Winograd, Winograd2

__all__ = [
    "METHODS",
    "PATHS",
    "ConvCase",
    "FastPath",
    "check_method",
    "choose_method",
    "conv_backward",
    "conv_forward",
    "exact_if_non_finite",
    "grad_needs_exact",
]

#: The largest im2col buffer a 3×3 stride-1 convolution may take instead of running "shifted".
IM2COL_3X3_BYTES = 256 << 20
#: Without a backward, a convolution whose whole im2col buffer would exceed this runs "im2col_bands".
BANDS_FROM_BYTES = 32 << 20
#: ... and one of 128 channels or more does too (instead of "winograd2") from outputs of this many positions.
BANDS_OVER_WINOGRAD2 = 112 * 112

METHODS = ("windows", "exact", "matmul", "im2col", "chwn", "im2col_bands", "shifted", "winograd", "winograd2")
PATHS: dict[str, FastPath] = {
    path.name: path
    for path in (Matmul(), Im2col(), BatchLastIm2col(), BandedIm2col(), Shifted(), Winograd(), Winograd2())
}


# --------------------------------------------------------------------------- choosing a method
def choose_method(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
    dtype: np.dtype | type = np.float32,
    needs_grad: bool = True,
) -> str:
    """The convolution algorithm for these shapes: one of :data:`METHODS`; ``needs_grad`` False: no backward will run.

    Measured on a 2-core x86 machine with OpenBLAS (see docs/performance.md):

    * groups > 1 keep the plain "windows" path, whose batched matmul already runs per group.
    * float64 keeps it too: float64 is for checking (gradcheck, tests), where the readable path is
      the one worth checking; the fast paths are tuned for float32 (and tested in float64 by name).
    * 1×1, stride 1, no padding: "matmul", no copy at all.
    * 3×3, stride 1, no dilation, padding ≤ 2, at least 16 input and output channels, and only when
      ``kernelwise.backends.conv.allow_winograd`` is set: "winograd". F(4×4, 3×3) does 4× fewer
      multiplications; its transforms are memory passes, which a GEMM with K = C ≥ 16 outweighs (1.4×
      faster than "shifted" on 64 channels, 1.5× on 256), but its float32 error is 6–37× PyTorch's
      (see :mod:`kernelwise.backends.conv`), so it is not the default.
    * otherwise, the same with at least 128 input and output channels: "winograd2", F(2×2, 3×3) (without a
      backward only below 112×112 outputs: see "im2col_bands" below).
      2.25× fewer multiplications and a float32 error near the direct sum's (transforms of ±1 and
      ½ only). Its transforms pass over 4× the input, which the GEMMs outweigh from about 128
      channels on: 8, 256→256, 14×14 forward and backward in 34 ms against "shifted"'s 53 ms, 8,
      512→512, 7×7 in 46 against 91; with 64 channels it is slower (85 against 70 ms on 56×56).
    * 3×3, stride 1, without a backward (inference), where im2col's whole buffer would exceed
      :data:`BANDS_FROM_BYTES` (32 MB) and the channels are fewer than 128 or the outputs 112×112 or more:
      "im2col_bands". A buffer that size is copied and read at memory speed; in bands of 4 MB each band's
      windows are still in cache for its GEMM. Forward, 2 threads: 8, 64→64, 224×224 in 279-292 ms
      against 506 by "shifted" and 489-740 by "im2col"; 8, 128→128, 112×112 in 226-320 against "winograd2"'s
      388-424; 1, 64→64, 224×224 in 40 against 53 ms by "im2col"; 8, 64→64, 56×56 in 17.4 against 21.9.
      With 128 channels and more on smaller outputs F(2×2) stays ahead (8, 256→256, 28×28: 46.5 against
      68.5 ms), and on small buffers one whole GEMM (1, 64→64, 56×56: 3.2 against 3.4-3.9 ms). Likewise
      any other layer that would take "im2col" without a backward, and such a layer on a batch with 4,096
      outputs or more per sample, where im2col's (O, N·L) result needs a transposing copy and the bands'
      per-sample GEMMs are wide: ResNet's stem, 8, 3→64, 224×224, 7×7 stride 2 (56 MB of columns), in 43.8
      against 50.6 ms; SqueezeNet's, 8, 3→64, 224×224, 3×3 stride 2 (10 MB), in 12.9-13.0 against 18.2-18.5.
    * other 2-d, stride 1, no dilation, at least 16 input channels: "shifted". The GEMM's K = kw·C
      is long enough to run near peak and it writes no K-times-larger buffer; with few channels
      (LeNet's 1 and 6) its GEMMs are too thin and one im2col GEMM (K = C·k²) wins. That is for forward
      and backward together, where im2col's col2im adds cost the most. Without a backward (inference) a 3×3
      layer takes "im2col": its one GEMM with K = 9·C beats nine GEMMs with K = 3·C, their strided
      output rows and the grid's transposing copies, forward only: 0.75 against 1.34 ms on SqueezeNet's
      1, 16→64, 55×55, 4.3 against 6.6 ms on 8, 64→256, 13×13 (2 threads); 37 against 47 ms on 8, 64→64,
      56×56 and 67 against 85 ms on VGG's 1, 64→64, 224×224 (1 thread), as long as its buffer of 9× the input stays
      under :data:`IM2COL_3X3_BYTES` (VGG's first layers at batch 8 would need 925 MB: "shifted").
      With a backward too, im2col wins from 64 channels on outputs of 32×32 or more: forward and backward
      0.79-0.91× the shifted path's time on 32, 64→64, 32×32 and 0.84-0.85× on 8, 64→64, 56×56 (1 and 2
      threads), but 1.03-1.17× on 32, 64→64, 16×16 and 1.33-1.38× with 16 channels.
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
        >>> choose_method((8, 32, 56, 56), (32, 32, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        'shifted'
        >>> choose_method((8, 32, 56, 56), (32, 32, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, needs_grad=False)
        'im2col'
        >>> choose_method((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        'im2col'
        >>> choose_method((8, 64, 56, 56), (64, 64, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'shifted'
        >>> choose_method((64, 1, 28, 28), (6, 1, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'chwn'
        >>> choose_method((8, 1, 28, 28), (6, 1, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
        'im2col'
        >>> choose_method((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
        'chwn'
    """
    if groups != 1 or np.dtype(dtype) != np.float32:
        return "windows"
    winograd = bool(backend_flags.allow_winograd)
    backward = bool(needs_grad)
    try:  # a layer asks about the same shapes every step
        return _choose_fast_path(x_shape, w_shape, stride, padding, dilation, winograd, backward)
    except TypeError:  # unhashable arguments (lists): decided without the cache
        return _choose_fast_path.__wrapped__(x_shape, w_shape, stride, padding, dilation, winograd, backward)


@functools.lru_cache(maxsize=256)
def _choose_fast_path(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    winograd: bool = False,
    backward: bool = True,
) -> str:
    """choose_method's rule for groups = 1 and float32 (the measurements are in its docstring)."""
    C, O = x_shape[1], w_shape[0]
    case = ConvCase.make(x_shape, w_shape, stride, padding, dilation)
    if PATHS["matmul"].supports(case) is None:
        return "matmul"
    im2col_bytes = 4 * 9 * C * case.batch * math.prod(case.geometry.out)  # the (K, N·L) buffer of a 3×3 im2col
    if PATHS["winograd"].supports(case) is None:  # 3×3, stride 1
        if winograd and min(C, O) >= 16:
            return "winograd"
        large = math.prod(case.geometry.out) >= BANDS_OVER_WINOGRAD2
        if min(C, O) >= 128 and (backward or not large):
            return "winograd2"
        if not backward and im2col_bytes > BANDS_FROM_BYTES and (min(C, O) < 128 or large):
            return "im2col_bands"
    wide = min(C, O) >= 64 and math.prod(case.geometry.out) >= 1024  # 64-127 channels on 32×32 or more
    prefer_im2col = case.geometry.kernel == (3, 3) and im2col_bytes <= IM2COL_3X3_BYTES and (not backward or wide)
    if PATHS["shifted"].supports(case) is None and C >= 16 and not prefer_im2col:
        return "shifted"
    if case.batch >= 16 and (case.geometry.out[-1] < 16 or (C < 16 and O < 16)):
        return "chwn"
    positions = math.prod(case.geometry.out)
    cols_bytes = 4 * C * math.prod(case.geometry.kernel) * case.batch * positions
    if not backward and (cols_bytes > BANDS_FROM_BYTES or (case.batch > 1 and positions >= 4096)):
        return "im2col_bands"  # e.g. ResNet's 7×7 stride-2 stem at batch 8: a big buffer, an output to transpose
    return "im2col"


def check_method(method: str, case: ConvCase) -> None:
    """A ValueError if ``method`` cannot compute this convolution (a method asked for by name): its ``supports``.

    Example:
        >>> case = ConvCase.make((1, 2, 6, 6), (2, 2, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1))
        >>> check_method("winograd", case)
        Traceback (most recent call last):
        kernelwise.errors.UsageError: method='winograd' needs a 3×3 kernel, stride 1, dilation 1 and ...
    """
    if method not in METHODS:
        raise UsageError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if method in ("windows", "exact"):  # both generic: any shape, any groups
        return
    reason = PATHS[method].supports(case)
    if reason is not None:
        raise UsageError(f"method={method!r} {reason} ({case.describe()})")


def exact_if_non_finite(method: str, x: np.ndarray, w: np.ndarray) -> str:
    """``method``, or "exact" where a NaN or inf in W or X would meet a zero ``method`` multiplies (see choose_method).

    Example:
        >>> x, w = np.ones((1, 16, 6, 6), np.float32), np.ones((16, 16, 3, 3), np.float32)
        >>> exact_if_non_finite("winograd", x, w), exact_if_non_finite("im2col", x, w * np.inf)
        ('winograd', 'exact')
    """
    if method == "exact":
        return method
    path = PATHS.get(method)  # None: the plain windows path, which multiplies W by the padding's zeros
    if (path is None or path.zeros_times_w) and not derived(w, "finite", lambda: bool(np.isfinite(w).all())):
        return "exact"
    if path is not None and path.zeros_times_x and not np.isfinite(x).all():
        return "exact"
    return method


def grad_needs_exact(method: str, grad_out: np.ndarray, padding: Pairs) -> bool:
    """Whether a NaN or inf in dL/dO would meet a zero ``method``'s backward multiplies (see choose_method).

    dL/dW multiplies dL/dO by the padding's zeros of X; Winograd's transforms mix dL/dO within a tile.
    """
    if method == "exact":
        return False
    path = PATHS.get(method)  # None: the plain windows path
    mixes = path is not None and path.mixes_grad_out
    if not mixes and not any(lo or hi for lo, hi in padding):  # dL/dW meets no zero of X's padding
        return False
    return not np.isfinite(grad_out).all()


# --------------------------------------------------------------------------- dispatch
def conv_forward(
    method: str,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[np.ndarray, PathContext]:
    """O = X ⋆ W + b by the fast path ``method``; returns O and the context :func:`conv_backward` reads.

    Shape: X (N, C, *spatial), W (O, C, *k), b (O,) or None -> (N, O, *out). groups = 1.
    """
    path = PATHS.get(method)
    if path is None:
        raise UsageError(f"method={method!r}: expected one of {tuple(PATHS)}")
    if path.reads_nchw:  # the other paths read X in NCHW order: a batch-last X is transposed once here
        x = np.ascontiguousarray(x)
    y, ctx = path.forward(x, w, b, ConvGeometry(x.shape[2:], w.shape[2:], stride, padding, dilation))
    ctx.method = method
    return y, ctx


def conv_backward(ctx: PathContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> tuple:
    """(dL/dX, dL/dW, dL/db) of :func:`conv_forward`, None where ``needs`` says no gradient is wanted.

    What only dL/dW reads may have been dropped (``ctx.drop_input()``) when dL/dW is not needed.
    """
    path = PATHS[ctx.method]
    if path.reads_nchw:  # as in conv_forward: the other paths read dL/dO in NCHW order
        grad_out = np.ascontiguousarray(grad_out)
    grad_x, grad_w, grad_b = (  # the im2col paths' dL/dW GEMM gives dL/db too; the others return None for it
        path.backward(ctx, grad_out, needs) if needs[0] or needs[1] else (None, None, None)
    )
    if needs[2] and grad_b is None:
        grad_b = grad_out.sum(axis=(0, *range(2, grad_out.ndim)))  # dL/db[o] = Σ_n Σ_y dL/dO[n, o, y]
    return grad_x, grad_w, grad_b if needs[2] else None
