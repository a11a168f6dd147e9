"""The protocol every fast path follows, the shapes it is asked about, and the GEMM helpers they share.

A fast path is a :class:`FastPath`: ``supports(case)`` says why it cannot compute a convolution (None
when it can), ``forward(x, w, b, geometry)`` returns O and a context (a dataclass per path, whose fields
say what they hold) and ``backward(ctx, grad_out, needs)`` the three gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..geometry import ConvGeometry, Pairs

__all__ = ["ConvCase", "FastPath", "PathContext", "WeightContext"]

Grads = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]  # (dL/dX, dL/dW, dL/db)


@dataclass(frozen=True)
class ConvCase:
    """One convolution as the dispatcher sees it: the shapes of X and W, the groups and the window geometry.

    Example:
        >>> case = ConvCase.make((8, 3, 32, 32), (16, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
        >>> case.batch, case.in_channels, case.out_channels, case.nd, case.geometry.out
        (8, 3, 16, 2, (32, 32))
    """

    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    groups: int
    geometry: ConvGeometry

    @classmethod
    def make(
        cls,
        x_shape: tuple[int, ...],
        w_shape: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
        groups: int = 1,
    ) -> ConvCase:
        """From the shapes and the already normalised options (padding as (before, after) pairs)."""
        geometry = ConvGeometry(tuple(x_shape[2:]), tuple(w_shape[2:]), tuple(stride), tuple(padding), tuple(dilation))
        return cls(tuple(x_shape), tuple(w_shape), groups, geometry)

    @property
    def batch(self) -> int:
        return self.x_shape[0]

    @property
    def in_channels(self) -> int:
        return self.x_shape[1]

    @property
    def out_channels(self) -> int:
        return self.w_shape[0]

    @property
    def nd(self) -> int:
        return len(self.w_shape) - 2

    def describe(self) -> str:
        """The shapes and padding, for an error message."""
        return f"input shape {self.x_shape}, weight shape {self.w_shape}, padding {self.geometry.padding}"


@dataclass
class PathContext:
    """What a fast path's forward keeps for its backward; ``input_field`` names what only dL/dW reads."""

    input_field: ClassVar[str]
    method: str = field(default="", init=False)  # the path's name, set by conv_forward

    def drop_input(self) -> None:
        """Forget what only dL/dW reads (when no weight gradient is wanted): its memory is freed sooner."""
        setattr(self, self.input_field, None)


@dataclass
class WeightContext(PathContext):
    """The context of a path whose backward reads W itself: ``w``, X's shape and the geometry.

    A subclass adds its ``input_field`` after these (``shifted``'s grid, ``winograd``'s tiles).
    """

    w: np.ndarray
    x_shape: tuple[int, ...]
    geometry: ConvGeometry


class FastPath:
    """One convolution algorithm for groups = 1: what it computes, and what it needs.

    ``reads_nchw``: X and dL/dO are made contiguous (N, C, *spatial) before the path reads them (the
    batch-last path reads any layout).

    Where a NaN or inf must not go (a zero that is not in the data times inf is NaN, see
    :func:`~kernelwise.ops.fastconv.exact_if_non_finite`): ``zeros_times_w``, the path multiplies W by
    zeros that are not in X (padding, inserted zeros, a grid's margins); ``zeros_times_x``, it multiplies X
    by such zeros of its own (a grid's margins of dL/dO in dL/dW), or mixes X's values (Winograd's tiles);
    ``mixes_grad_out``, its backward mixes dL/dO's values beyond the products of the sum (Winograd's
    tiles). Every path's dL/dW multiplies dL/dO by the padding's zeros.
    """

    name: ClassVar[str]
    reads_nchw: ClassVar[bool] = True
    zeros_times_w: ClassVar[bool] = True
    zeros_times_x: ClassVar[bool] = False
    mixes_grad_out: ClassVar[bool] = False

    def supports(self, case: ConvCase) -> str | None:
        """None when this path computes ``case``, else what it needs (the end of an error message)."""
        if case.groups != 1:
            return f"needs groups=1, got groups={case.groups}"
        return self._supports(case)

    def _supports(self, case: ConvCase) -> str | None:
        return None

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
    ) -> tuple[np.ndarray, Any]:
        """O = X ⋆ W + b: (N, C, *spatial), (O, C, *k), (O,) or None -> (N, O, *out), and the context."""
        raise NotImplementedError

    def backward(self, ctx: Any, grad_out: np.ndarray, needs: tuple[bool, bool, bool]) -> Grads:
        """(dL/dX, dL/dW, dL/db) from the context; None where ``needs`` says no, dL/db may be None (summed later)."""
        raise NotImplementedError


# --------------------------------------------------------------------------- GEMM helpers
def add_bias(y_view: np.ndarray, b: np.ndarray | None, out_shape: tuple[int, ...], nd: int) -> np.ndarray:
    """A new contiguous (N, O, *out) array holding ``y_view`` + b[o] (one pass, also the layout change)."""
    y = np.empty(out_shape, dtype=y_view.dtype)
    if b is None:
        np.copyto(y, y_view)
    else:
        np.add(y_view, b.reshape(-1, *[1] * nd), out=y)  # + b[o] at every position
    return y


def with_bias(w_mat: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """[W_mat | b]: the bias as the weight of a constant input 1 (a row of ones under the GEMM's other operand).

    Shape: W_mat (O, K), b (O,) or None -> (O, K + 1), or W_mat itself without a bias.

    Example:
        >>> with_bias(np.ones((2, 3)), np.array([5.0, 6.0])).tolist()
        [[1.0, 1.0, 1.0, 5.0], [1.0, 1.0, 1.0, 6.0]]
    """
    return w_mat if b is None else np.concatenate([w_mat, b[:, None]], axis=1)


def gemm_rows(rows: int) -> int:
    """How many rows to give a GEMM's left operand that has ``rows``: 8 for 3-7, else ``rows``.

    Measured with OpenBLAS 0.3.31 on 2 threads, (M, 25) @ (25, 50176): M = 6 takes 0.54 ms, M = 8
    0.31 ms (and (6, 50176) @ (50176, 25) 0.99 ms against 0.60 ms with 8 rows): the 2-thread split
    of 3-7 rows runs slow kernels. Zero rows padding M to 8 cost nothing to compute and are dropped.

    Example:
        >>> gemm_rows(6), gemm_rows(2), gemm_rows(16)
        (8, 2, 16)
    """
    return 8 if 3 <= rows < 8 else rows


def rows_of(y_view: np.ndarray, rows: int) -> np.ndarray:
    """``y_view`` (O, *rest) copied into a (gemm_rows(O), prod(rest)) matrix, zero rows below: a GEMM's operand."""
    out = np.empty((gemm_rows(rows), math.prod(y_view.shape[1:])), dtype=y_view.dtype)
    out[:rows].reshape(y_view.shape)[...] = y_view
    out[rows:] = 0
    return out
