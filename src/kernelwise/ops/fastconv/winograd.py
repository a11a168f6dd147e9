"""``winograd``: a 3×3 convolution with stride 1 by Winograd's F(4×4, 3×3): 4× fewer multiplications.

Lavin & Gray (2016): a 4×4 output tile of a 3×3 correlation is Y = Aᵀ [ (G W Gᵀ) ⊙ (Bᵀ D B) ] A, D its
6×6 input tile: 36 multiplications instead of 16·9 = 144 (4×), at the price of the transforms.
Interpolation points 0, ±1, ±2 and ∞. In float32 the error is about 20× that of the direct sum
(tests/test_fastconv.py measures it against float64 and holds it to a bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..frozen import derived
from ..gemm import matmul
from ..geometry import ConvGeometry
from .common import ConvCase, FastPath, Grads, WeightContext, add_bias
from .shifted import to_grid


@dataclass
class WinogradContext(WeightContext):
    """``V``: the transformed input tiles Bᵀ D B (a², T, C), what dL/dW reads; W, X's shape and geometry."""

    input_field: ClassVar[str] = "V"
    V: np.ndarray | None


@dataclass(frozen=True)
class Tiles:
    """Winograd's F(m×m, 3×3): Bᵀ (a×a, a = m + 2) transforms an input tile, G (a×3) the kernel, Aᵀ (m×a)
    takes the a² products back to an m×m output tile."""

    m: int
    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray

    @property
    def a(self) -> int:
        return self.m + 2


#: F(4×4, 3×3), interpolation points 0, ±1, ±2 and ∞: 36 products for 16 outputs (4× fewer than 144).
F4 = Tiles(
    4,
    np.array(
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ]
    ),
    np.array(
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ]
    ),
    np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
)
#: F(2×2, 3×3), points 0, ±1 and ∞: 16 products for 4 outputs (2.25× fewer than 36); its transforms
#: add and subtract only (and halve the kernel), so its float32 error stays near the direct sum's.
F2 = Tiles(
    2,
    np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
    np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
    np.array([[1, 1, 1, 0], [0, 1, -1, -1]]),
)


def _transform_tiles(matrix: np.ndarray, tiles: np.ndarray, last: bool = False) -> np.ndarray:
    """out[p, q] = Σ_i Σ_j matrix[p, i] · matrix[q, j] · tiles[i, j]: M · tile · Mᵀ for every tile at once.

    Shape: (a, a, R) -> (b, b, R) for a (b, a) matrix, or (b, R, b) with ``last`` (the tile's second
    axis innermost, where the output is laid out next); two GEMMs, one per tile axis (separable).
    """
    a, R = tiles.shape[0], tiles.shape[2]
    rows = matmul(matrix, tiles.reshape(a, a * R)).reshape(-1, a, R)  # along the tile's rows: (b, a, R)
    if last:
        return matmul(rows.transpose(0, 2, 1), matrix.T)  # along its columns, the result innermost: (b, R, b)
    return matmul(matrix, rows)  # along its columns, for each transformed row: (b, b, R)


def _winograd_correlate(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, top: int, left: int, out: tuple[int, int], f: Tiles
) -> tuple[np.ndarray, np.ndarray]:
    """Y[n, o, y, x] = b[o] + Σ_c Σ_i Σ_j X[n, c, y + i - top, x + j - left] · W[o, c, i, j] (zero outside X), 3×3.

    ``top``, ``left`` (0-2) are the zero rows/columns before X; Y covers ``out`` = (oh, ow) positions.
    Returns Y (N, O, oh, ow) and the transformed input tiles V (a², T, C), T = N·th·tw, for dL/dW.
    The products M[ξ] are computed as (O, T) and Aᵀ M A leaves each tile's columns innermost, so
    that laying the tiles out as (N, O, y, x) copies runs of whole output rows (m·tw) instead of m.
    """
    N, C, H, W = x.shape
    O, dt, m, a = w.shape[0], x.dtype, f.m, f.a
    th, tw = -(-out[0] // m), -(-out[1] // m)  # m×m output tiles, the last ones cropped
    Hg, Wg = m * th + 2, m * tw + 2  # the input the tiles read: a×a tiles, m apart
    grid = to_grid(x, ((top, Hg - H - top), (left, Wg - W - left)), 0, N * Hg * Wg).reshape(N, Hg, Wg, C)
    it = grid.itemsize
    tiles = np.lib.stride_tricks.as_strided(  # tiles[i, j, n, ty, tx, c] = grid[n, m·ty + i, m·tx + j, c]
        grid,
        shape=(a, a, N, th, tw, C),
        strides=(Wg * C * it, C * it, Hg * Wg * C * it, m * Wg * C * it, m * C * it, it),
        writeable=False,
    )
    D = np.ascontiguousarray(tiles).reshape(a, a, -1)  # (a, a, T·C): the one copy
    V = _transform_tiles(f.BT.astype(dt), D).reshape(a * a, -1, C)  # V = Bᵀ D B for every tile and channel
    U_t = derived(  # U = G W Gᵀ, as Uᵀ per ξ (computed once for a frozen W)
        w, ("winograd", m), lambda: matmul(np.kron(f.G, f.G).astype(dt), w.reshape(-1, 9).T).reshape(a * a, O, C)
    )
    M = matmul(U_t, V.transpose(0, 2, 1))  # M[ξ]ᵀ = U[ξ]ᵀ @ V[ξ]ᵀ: a² GEMMs (O, C) @ (C, T), the ⊙ summed over c
    Y = _transform_tiles(f.AT.astype(dt), M.reshape(a, a, -1), last=True)  # Y = Aᵀ M A: (m, O·T, m)
    Y = Y.reshape(m, O, N, th, tw, m).transpose(2, 1, 3, 0, 4, 5)  # (N, O, ty, a, tx, b): a view
    y = add_bias(Y, b, (N, O, th, m, tw, m), 4).reshape(N, O, m * th, m * tw)  # one pass: tiles laid out, + b[o]
    if (m * th, m * tw) != out:
        y = np.ascontiguousarray(y[:, :, : out[0], : out[1]])  # the last tiles reach past the output: crop
    return y, V


class Winograd(FastPath):
    """O = X ⋆ W + b for a 3×3 kernel, stride 1, dilation 1, padding at most 2 per side, by F(4×4, 3×3)
    ("winograd"); :class:`Winograd2` is the same with F(2×2, 3×3).

    Example:
        >>> x, w = np.ones((1, 2, 6, 6), np.float32), np.ones((3, 2, 3, 3), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
        >>> y, ctx = Winograd().forward(x, w, None, case.geometry)
        >>> y.shape, round(float(y[0, 0, 0, 0]), 4), round(float(y[0, 0, 2, 2]), 4), ctx.V.shape
        ((1, 3, 6, 6), 8.0, 18.0, (36, 4, 2))
    """

    name = "winograd"
    tiles = F4
    zeros_times_x = mixes_grad_out = True  # the transforms mix every value of a tile

    def _supports(self, case: ConvCase) -> str | None:
        geometry = case.geometry
        if (
            case.nd == 2
            and geometry.unit_steps
            and geometry.kernel == (3, 3)
            and all(0 <= p <= 2 for pair in geometry.padding for p in pair)
        ):
            return None
        return "needs a 3×3 kernel, stride 1, dilation 1 and padding of at most 2"

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, WinogradContext]:
        (top, _), (left, _) = geometry.padding
        y, V = _winograd_correlate(x, w, b, top, left, geometry.out, self.tiles)  # O = X ⋆ W + b
        return y, WinogradContext(w, x.shape, geometry, V=V)

    def backward(self, ctx: WinogradContext, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:
        w, V, ((top, _), (left, _)) = ctx.w, ctx.V, ctx.geometry.padding
        N, C, H, W = ctx.x_shape
        O, dt, f = w.shape[0], grad_out.dtype, self.tiles
        m, a = f.m, f.a
        grad_x = grad_w = None
        if needs[0]:
            w_rot = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # rot180(W), in and out channels swapped: (C, O, 3, 3)
            grad_x, _ = _winograd_correlate(grad_out, w_rot, None, 2 - top, 2 - left, (H, W), f)  # full conv, rot180(W)
        if needs[1]:
            # the forward's adjoint per tile: dL/dM = A dL/dY Aᵀ, dL/dU[ξ] = V[ξ]ᵀ dL/dM[ξ], dL/dW = Gᵀ dL/dU G
            oh, ow = grad_out.shape[2:]
            th, tw = -(-oh // m), -(-ow // m)
            grad_pad = grad_out
            if (m * th, m * tw) != (oh, ow):
                grad_pad = np.zeros((N, O, m * th, m * tw), dtype=dt)  # dL/dO, zero beyond the cropped tiles
                grad_pad[:, :, :oh, :ow] = grad_out
            grad_tiles = grad_pad.reshape(N, O, th, m, tw, m).transpose(3, 5, 1, 0, 2, 4)  # [a, b, o, n, ty, tx]
            grad_tiles = np.ascontiguousarray(grad_tiles).reshape(m, m, -1)  # (m, m, O·T)
            dM = _transform_tiles(f.AT.T.astype(dt), grad_tiles).reshape(a * a, O, -1)  # dL/dM = A dL/dY Aᵀ
            dU_t = matmul(dM, V)  # dL/dU[ξ]ᵀ = dL/dM[ξ] @ V[ξ]: (a², O, C), summed over tiles
            G2 = np.kron(f.G, f.G).astype(dt)  # G ⊗ G: U = G W Gᵀ as one product
            grad_w = matmul(dU_t.reshape(a * a, -1).T, G2).reshape(O, C, 3, 3)  # dL/dW = X ⋆ dL/dO = Gᵀ dL/dU G
        return grad_x, grad_w, None


class Winograd2(Winograd):
    """O = X ⋆ W + b for a 3×3 kernel by F(2×2, 3×3): 2.25× fewer multiplications, float32 error near the direct sum's.

    Example:
        >>> x, w = np.ones((1, 2, 6, 6), np.float32), np.ones((3, 2, 3, 3), np.float32)
        >>> case = ConvCase.make(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))
        >>> y, ctx = Winograd2().forward(x, w, None, case.geometry)
        >>> y.shape, round(float(y[0, 0, 0, 0]), 4), round(float(y[0, 0, 2, 2]), 4), ctx.V.shape
        ((1, 3, 6, 6), 8.0, 18.0, (16, 9, 2))
    """

    name = "winograd2"
    tiles = F2
