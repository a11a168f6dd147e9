"""``matmul(a, b)``: NumPy's ``a @ b``, or with ``kernelwise.backends.cpu.steady_threads`` cut into chunks fixed
by the shapes and spread over kernelwise's workers.

Every GEMM of the ops runs here. By default it is one call of NumPy's ``a @ b`` (BLAS with its own
threads). With the switch on, C = A @ B, A (M, K) and B (K, N), is cut along one axis:

* the longer of M and N: C[rows] = A[rows] @ B, or C[:, cols] = A @ B[:, cols]; each element of C
  is the same sum as without the cut;
* K, when it is the longest by far (a dL/dW product: K = batch × positions): C = Σ_i A[:, K_i] @ B[K_i],
  the partial products added in the order of i;
* stacked matrices (3-d and up, NumPy's broadcasting): along the first stacked axis when it alone gives
  the chunks the work wants, else along the rows or columns of every matrix of the stack.

The number of chunks is the work over :data:`CHUNK_FLOPS` (at most :data:`MAX_CHUNKS`, each at least
:data:`MIN_SIDE` wide): it depends on the shapes only, never on the thread count, so the result is
bit for bit the same at any thread count (see :mod:`kernelwise.workers`).

Example:
    >>> import numpy as np
    >>> import kernelwise as kw
    >>> from kernelwise.ops.gemm import matmul, plan
    >>> a, b = np.ones((6, 3000), np.float32), np.ones((3000, 5), np.float32)
    >>> plan(a.shape, b.shape)
    ('k', 1)
    >>> bool((matmul(a, b) == 3000).all())
    True
    >>> plan((512, 1152), (1152, 3136))
    ('n', 8)
    >>> kw.backends.cpu.steady_threads = True
    >>> bool((matmul(a, b) == 3000).all())  # 1 chunk (0.18 MFLOP) on the calling thread, BLAS single-threaded
    True
    >>> kw.backends.cpu.steady_threads = False
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .. import workers
from ..backends import cpu

CHUNK_FLOPS = 4_000_000  # about 0.1 ms of one core's GEMM: the pool's hand-over (~10 µs) stays small beside it
MAX_CHUNKS = 8  # enough for a worker that loses its core to leave most of the work to the others
MIN_SIDE = 16  # rows or columns of a chunk at least (a BLAS kernel's block)
K_BY_FAR = 8  # K is cut when it is this many times the longer of M and N


def plan(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> tuple[str, int]:
    """How ``matmul`` cuts (M, K) @ (K, N) (stacked: (..., M, K) @ (..., K, N)): the axis ("m", "n", "k",
    "batch") and the number of chunks, a power of two (even shares for 2, 4 or 8 workers), from the shapes alone."""
    *batch_a, m, k = a_shape
    *batch_b, _, n = b_shape
    lead = np.broadcast_shapes(tuple(batch_a), tuple(batch_b)) if batch_a or batch_b else ()
    work = 2 * math.prod(lead) * m * n * k // CHUNK_FLOPS  # in chunks of CHUNK_FLOPS
    if lead and lead[0] >= min(MAX_CHUNKS, work):  # the stack alone gives the chunks the work wants
        axis, most = "batch", lead[0]
    elif not lead and k >= K_BY_FAR * max(m, n):
        axis, most = "k", k // (MIN_SIDE * 16)
    else:
        axis, most = ("m" if m >= n else "n"), max(m, n) // MIN_SIDE
    chunks = min(MAX_CHUNKS, work, most)
    return axis, 1 << (chunks.bit_length() - 1) if chunks > 1 else 1


def _bounds(size: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` near-equal, consecutive ranges covering 0..size."""
    return [(i * size // chunks, (i + 1) * size // chunks) for i in range(chunks)]


def _stacked(x: np.ndarray, lead_ndim: int, lo: int, hi: int) -> np.ndarray:
    """``x``'s share of the first stacked axis (of ``lead_ndim``, broadcast from the right): x itself when it
    does not have that axis or broadcasts it from size 1."""
    if x.ndim - 2 < lead_ndim or x.shape[0] == 1:
        return x
    return x[lo:hi]


def _whole(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``a @ b`` as one chunk (single-threaded BLAS, as every chunk)."""
    result: list[np.ndarray] = []
    workers.run([lambda: result.append(np.matmul(a, b) if out is None else np.matmul(a, b, out=out))])
    return result[0]


@dataclass
class GemmClock:
    """What :func:`gemm_clock` counted: the wall time of the GEMM calls (``seconds``) and their number (``calls``)."""

    seconds: float = 0.0
    calls: int = 0


_CLOCKS: list[GemmClock] = []  # the clocks of the gemm_clock blocks now open


@contextlib.contextmanager
def gemm_clock() -> Iterator[GemmClock]:
    """Count the time spent in the ops' GEMMs (every :func:`matmul` call) while the block runs.

    What the rest of the work costs (copies, element-wise passes, Python) is the block's time minus
    ``clock.seconds``. Blocks may nest; each counts the calls made inside it.

    Example:
        >>> import numpy as np
        >>> from kernelwise.ops.gemm import gemm_clock, matmul
        >>> with gemm_clock() as clock:
        ...     _ = matmul(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))
        >>> clock.calls, clock.seconds > 0
        (1, True)
    """
    clock = GemmClock()
    _CLOCKS.append(clock)
    try:
        yield clock
    finally:
        _CLOCKS.remove(clock)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` by NumPy's rules for 2-d and stacked matrices (1-d operands: NumPy's ``a @ b`` as one chunk),
    computed in the chunks :func:`plan` gives on kernelwise's workers; written into ``out`` when given."""
    if not _CLOCKS:
        return _matmul(a, b, out)
    start = time.perf_counter()
    try:
        return _matmul(a, b, out)
    finally:
        seconds = time.perf_counter() - start
        for clock in _CLOCKS:
            clock.seconds += seconds
            clock.calls += 1


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """:func:`matmul`'s work."""
    if not cpu.steady_threads:  # one call of NumPy's BLAS with its own threads
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    if a.ndim < 2 or b.ndim < 2:  # NumPy's vector rules, one chunk
        return _whole(a, b, out)
    axis, chunks = plan(a.shape, b.shape)
    if chunks == 1:
        return _whole(a, b, out)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if out is None:
        out = np.empty((*lead, a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))
    tasks: list[Callable[[], None]]
    if axis == "batch":
        tasks = [
            lambda lo=lo, hi=hi: np.matmul(
                _stacked(a, len(lead), lo, hi), _stacked(b, len(lead), lo, hi), out=out[lo:hi]
            )
            for lo, hi in _bounds(lead[0], chunks)
        ]
    elif axis == "m":  # rows of every matrix of the stack
        tasks = [
            lambda lo=lo, hi=hi: np.matmul(a[..., lo:hi, :], b, out=out[..., lo:hi, :])
            for lo, hi in _bounds(a.shape[-2], chunks)
        ]
    elif axis == "n":  # columns likewise
        tasks = [
            lambda lo=lo, hi=hi: np.matmul(a, b[..., lo:hi], out=out[..., lo:hi])
            for lo, hi in _bounds(b.shape[-1], chunks)
        ]
    else:  # "k": partial products, added in order after all have ended
        parts = np.empty((chunks, *out.shape), dtype=out.dtype)
        tasks = [
            lambda i=i, lo=lo, hi=hi: np.matmul(a[:, lo:hi], b[lo:hi], out=parts[i])
            for i, (lo, hi) in enumerate(_bounds(a.shape[1], chunks))
        ]
    workers.run(tasks)
    if axis == "k" and chunks > 1:
        np.copyto(out, parts[0])
        for part in parts[1:]:
            out += part  # C = Σ_i A[:, K_i] @ B[K_i], in the order of i
    return out
