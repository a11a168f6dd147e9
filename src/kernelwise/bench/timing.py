"""Timing helpers of the benchmark suite: thread counts, the GEMM peak, interleaved best-of timing.

The machine the suite runs on may be shared, so a single timing says little. Every case is
timed as a pair: kernelwise and PyTorch alternate, run after run (the order flips each round,
so neither always runs on a warm cache), and each keeps its best run. The ratio of the two
bests is what the suite reports; both saw the same machine at the same moments.

Example:
    >>> import numpy as np
    >>> best = interleaved_best({"a": lambda: np.ones(10).sum()}, repeats=2)
    >>> sorted(best), best["a"] > 0
    (['a'], True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# The BLAS thread count is read and limited in kernelwise.threads (shared with the command line).
from ..threads import BlasInfo, blas_info, thread_limit  # noqa: F401


def load_torch() -> Any:
    """PyTorch if it can be imported, else None: the suite then times kernelwise alone.

    One small PyTorch matmul runs right after the import: until PyTorch has run a parallel
    region, NumPy's multi-threaded OpenBLAS GEMMs in the same process can be 100-1000× slower
    (measured with PyTorch 2.13 and NumPy 2.4's OpenBLAS 0.3.31; PyTorch issue #158005 is alike).
    """
    try:
        import torch
    except ImportError:
        return None
    a = torch.ones(256, 256)
    (a @ a).sum().item()
    return torch


# OpenBLAS's idle threads spin for about 2^28 cycles (~0.1 s) after a GEMM before they sleep, and
# they would take the core that PyTorch's second OpenMP thread needs (and PyTorch's spinning threads
# NumPy's): a pause before each framework's turn lets the other framework's threads go to sleep first.
# The first run after a pause pays for waking threads up, so each turn is a burst of runs.
SETTLE_SECONDS = 0.2


def interleaved_best(
    fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1, pause: float = 0.0, burst: int = 1
) -> dict[str, float]:
    """Best wall time (seconds) of each function, the functions taking turns.

    Each is first called ``warmup`` times (caches, lazy set-up); then ``repeats`` rounds give every
    function one turn, in an order that flips each round: sleep ``pause`` seconds (see
    ``SETTLE_SECONDS``), then run it ``burst`` times back to back, each run timed.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    best = dict.fromkeys(names, math.inf)
    for r in range(max(repeats, 1)):
        for name in names if r % 2 == 0 else reversed(names):
            if pause:
                time.sleep(pause)
            for _ in range(max(burst, 1)):
                start = time.perf_counter()
                fns[name]()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def gemm_peak(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul rate in GFLOP/s: NumPy ``a @ b`` on size×size matrices, best of ``repeats``.

    A GEMM of n×n by n×n is 2n³ floating-point operations (a multiply and an add per term).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    seconds = interleaved_best({"gemm": lambda: a @ b}, repeats=repeats)["gemm"]
    return 2 * size**3 / seconds / 1e9


def geometric_mean(values: Sequence[float]) -> float:
    """exp(mean(log v)): the mean of ratios that treats 2× slower and 2× faster symmetrically.

    Example:
        >>> round(geometric_mean([0.5, 2.0]), 6)
        1.0
    """
    values = [v for v in values if v > 0 and math.isfinite(v)]
    if not values:
        return math.nan
    return math.exp(sum(math.log(v) for v in values) / len(values))
