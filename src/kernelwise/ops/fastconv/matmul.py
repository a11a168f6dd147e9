"""``matmul``: a 1×1 convolution is a matrix product per sample, ``O[n] = W @ X[n] + b``; no copy of X."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..frozen import derived
from ..gemm import matmul
from ..geometry import ConvGeometry
from .common import ConvCase, FastPath, Grads, PathContext, with_bias


@dataclass
class MatmulContext(PathContext):
    """``x_mat``: X as (N, C [+ 1 row of ones], L), what dL/dW reads; ``w_mat``: W as (O, C); ``w_shape``: W's
    (O, C, 1, ...)."""

    input_field: ClassVar[str] = "x_mat"
    x_mat: np.ndarray | None
    w_mat: np.ndarray
    w_shape: tuple[int, ...]


class Matmul(FastPath):
    """1×1 kernel, stride 1, dilation 1, no padding: one GEMM per sample.

    Example:
        >>> x, w = np.ones((2, 3, 4, 4), np.float32), np.ones((5, 3, 1, 1), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (1, 1), ((0, 0), (0, 0)), (1, 1))
        >>> Matmul().supports(case) is None
        True
        >>> y, ctx = Matmul().forward(x, w, None, case.geometry)
        >>> y.shape, float(y[0, 0, 0, 0]), ctx.x_mat.shape
        ((2, 5, 4, 4), 3.0, (2, 3, 16))
    """

    name = "matmul"
    zeros_times_w = False  # 1×1, stride 1, no padding: every product is a term of the sum

    def _supports(self, case: ConvCase) -> str | None:
        geometry = case.geometry
        if geometry.unit_steps and all(k == 1 for k in geometry.kernel) and not geometry.padded_any:
            return None
        return "needs a 1×1 kernel, stride 1, dilation 1 and no padding"

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, MatmulContext]:
        N, C, O, spatial = x.shape[0], x.shape[1], w.shape[0], x.shape[2:]
        w_mat = w.reshape(O, C)  # (O, C)
        x_mat = x.reshape(N, C, -1)  # (N, C, L)
        if b is not None and C < O:
            # fewer inputs than outputs: copying X with a row of ones under it (as im2col's bias) costs less than a
            # pass over O; [W | b] @ [X[n]; 1] = W @ X[n] + b (8, 64→256, 56×56: 8.1 against 9.9 ms)
            x_ones = np.empty((N, C + 1, x_mat.shape[2]), dtype=x.dtype)
            x_ones[:, :C] = x_mat
            x_ones[:, C] = 1
            w_b = derived(w, "matmul+b", lambda: with_bias(w_mat, b), b)  # (O, C + 1)
            y = matmul(w_b, x_ones)  # (O, C + 1) @ (N, C + 1, L) -> (N, O, L): O = X ⋆ W + b
            return y.reshape(N, O, *spatial), MatmulContext(x_ones, w_mat, w.shape)
        y = matmul(w_mat, x_mat)  # (O, C) @ (N, C, L) -> (N, O, L), one GEMM per sample
        if b is not None:
            y += b[:, None]  # + b[o] at every position
        return y.reshape(N, O, *spatial), MatmulContext(x_mat, w_mat, w.shape)

    def backward(self, ctx: MatmulContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:
        N, O = grad_out.shape[:2]
        C = ctx.w_mat.shape[1]
        grad_mat = grad_out.reshape(N, O, -1)  # (N, O, L)
        grad_x = grad_w = grad_b = None
        if needs[0]:
            grad_x = matmul(ctx.w_mat.T, grad_mat)  # dL/dX[n] = Wᵀ @ dL/dO[n]
            grad_x = grad_x.reshape(N, C, *grad_out.shape[2:])
        if needs[1]:
            # Σ_n dL/dO[n] @ X[n]ᵀ: X ⋆ dL/dO, and Σ dL/dO = dL/db in a last column where X has the row of ones
            grad_wb = matmul(grad_mat, ctx.x_mat.transpose(0, 2, 1)).sum(axis=0)  # (O, C [+ 1])
            grad_w = np.ascontiguousarray(grad_wb[:, :C]).reshape(ctx.w_shape)  # (O, C, 1, ...)
            grad_b = np.ascontiguousarray(grad_wb[:, C]) if grad_wb.shape[1] > C else None
        return grad_x, grad_w, grad_b
