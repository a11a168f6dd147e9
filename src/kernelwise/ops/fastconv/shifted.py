"""``shifted``: stride 1 in 2-d without an im2col buffer, on the channels-last padded grid.

On the channels-last padded input, flattened over (n, y, x), the window tap (i, j) of output
position m is row m + i·Wp + j, so one kernel row's kw taps are kw consecutive rows: a plain
reshape turns them into a matrix of kw·C columns (one matrix per residue m mod kw).
``O = Σ_i shift_i(X_rows @ W_i)`` needs kh·kw GEMMs with K = kw·C and kh - 1 contiguous adds; the
garbage at the Wp - ow right-hand columns and the Hp - oh bottom rows of the grid is cropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..frozen import derived
from ..gemm import matmul
from ..geometry import ConvGeometry, Pairs
from .common import ConvCase, FastPath, Grads, WeightContext, add_bias


@dataclass
class ShiftedContext(WeightContext):
    """``grid``: X as the rows of its channels-last padded grid (rows, C), what dL/dW reads; W, X's shape, geometry."""

    input_field: ClassVar[str] = "grid"
    grid: np.ndarray | None


def to_grid(x: np.ndarray, padding: Pairs, front: int, rows: int) -> np.ndarray:
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
            matmul(taps, w_rows[i], out=Z[i].reshape(q, kw, O)[:, r])  # rows m ≡ r (mod kw) of Z[i]
    y = Z[0, :M]
    for i in range(1, kh):
        y += Z[i, i * Wp : i * Wp + M]  # Y[m] += Z_i[m + i·Wp]: kernel row i reads the row i below
    return y


def _grid_rows(M: int, kh: int, kw: int, Wp: int) -> int:
    """Rows of a grid buffer: the grid, what the last window reaches, and the residue matrices' overhang."""
    return (-(-(M + (kh - 1) * Wp) // kw) + 2) * kw + (kh - 1) * Wp


class Shifted(FastPath):
    """O = X ⋆ W + b for a 2-d convolution with stride 1 and dilation 1, on the padded grid (see the module).

    Example:
        >>> x, w = np.ones((2, 3, 5, 5), np.float32), np.ones((4, 3, 3, 3), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
        >>> y, ctx = Shifted().forward(x, w, None, case.geometry)
        >>> y.shape, float(y[0, 0, 0, 0]), float(y[0, 0, 2, 2])
        ((2, 4, 5, 5), 12.0, 27.0)
        >>> Shifted().supports(ConvCase.make(x.shape, w.shape, (2, 2), ((1, 1), (1, 1)), (1, 1)))
        'needs a 2-d convolution with stride 1 and dilation 1'
    """

    name = "shifted"
    zeros_times_x = True  # dL/dW: the grid's margin columns of dL/dO times X

    def _supports(self, case: ConvCase) -> str | None:
        if case.nd == 2 and case.geometry.unit_steps:
            return None
        return "needs a 2-d convolution with stride 1 and dilation 1"

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, ShiftedContext]:
        N, C = x.shape[:2]
        O, _, kh, kw = w.shape
        (Hp, Wp), (oh, ow) = geometry.padded, geometry.out
        M = N * Hp * Wp
        grid = to_grid(x, geometry.padding, 0, _grid_rows(M, kh, kw, Wp))  # (rows, C)
        w_rows = derived(  # kernel row i as (kw·C, O) (computed once for a frozen W)
            w,
            "shifted",
            lambda: [np.ascontiguousarray(w[:, :, i].transpose(2, 1, 0)).reshape(kw * C, O) for i in range(kh)],
        )
        y = _shifted_correlate(grid, w_rows, Wp, M)  # O = X ⋆ W on the grid: (M, O)
        y = y.reshape(N, Hp, Wp, O)[:, :oh, :ow].transpose(0, 3, 1, 2)  # (N, O, oh, ow): crop the garbage, a view
        y = add_bias(y, b, (N, O, oh, ow), 2)
        return y, ShiftedContext(w, x.shape, geometry, grid=grid)

    def backward(self, ctx: ShiftedContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:
        w, geometry = ctx.w, ctx.geometry
        N, C, H, W = ctx.x_shape
        O, _, kh, kw = w.shape
        (top, _), (left, _) = geometry.padding
        (Hp, Wp), (oh, ow) = geometry.padded, geometry.out
        M = N * Hp * Wp
        # dL/dO on the same grid: row m = (n·Hp + y)·Wp + x, zero at the cropped positions, after
        # `front` zero rows so that the full convolution can reach (kh - 1, kw - 1) positions back
        front = (kh - 1) * Wp + kw - 1
        rows = front + _grid_rows(M, kh, kw, Wp)
        grad_grid = to_grid(grad_out, ((0, Hp - oh), (0, Wp - ow)), front, rows)  # (rows, O)
        grad_x = grad_w = None
        if needs[0]:
            w_rot = w[:, :, ::-1, ::-1]  # rot180(W)
            w_rows = [np.ascontiguousarray(w_rot[:, :, i].transpose(2, 0, 1)).reshape(kw * O, C) for i in range(kh)]
            grad_x = _shifted_correlate(grad_grid, w_rows, Wp, M)  # dL/dX = full correlation of dL/dO with rot180(W)
            grad_x = grad_x.reshape(N, Hp, Wp, C)[:, top : top + H, left : left + W].transpose(0, 3, 1, 2)
            grad_x = np.ascontiguousarray(grad_x)  # (N, C, H, W): the padding's gradient dropped
        if needs[1]:
            # dL/dW[o, c, i, j] = Σ_m dL/dO[m, o] · X[m + i·Wp + j, c], per kernel row i and residue r = m mod kw
            q = -(-M // kw)
            x_flat, grad_rows = ctx.grid.reshape(-1), grad_grid[front : front + q * kw]  # grad_rows: (q·kw, O)
            grad_w = np.zeros((kh, kw * C, O), dtype=grad_out.dtype)  # [i, j·C + c, o]
            for r in range(kw):
                grad_r = grad_rows[r::kw]  # (q, O): dL/dO at m = t·kw + r
                for i in range(kh):
                    start = (r + i * Wp) * C
                    taps = x_flat[start : start + q * kw * C].reshape(q, kw * C)  # row t: X[t·kw + r + i·Wp + j]
                    grad_w[i] += matmul(taps.T, grad_r)  # dL/dW = X ⋆ dL/dO: (kw·C, q) @ (q, O)
            grad_w = grad_w.reshape(kh, kw, C, O).transpose(3, 2, 0, 1)  # (O, C, kh, kw)
        return grad_x, grad_w, None
